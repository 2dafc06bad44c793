//! Encoder and compressor throughput: `cargo bench --bench encode`.
//!
//! Prints MB/s of output on one core for `format(json)` and `format(csv)`
//! over a realistic RFC 5424 message (PERF.md's target: >= 500 MB/s), and for
//! each codec the speed of `compress::Stream` on 256 KiB records beside the
//! library's own call on the same bytes (target: >= 90% of it).

mod common;

use common::message;
use sluice::compress::{Codec, Shared, Stream};
use sluice::encode::{CsvOptions, Encoder};
use sluice::template::RenderContext;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Runs `f` for about a second; MB/s of the bytes it reports.
fn rate(mut f: impl FnMut() -> usize) -> f64 {
    let (mut bytes, start) = (0usize, Instant::now());
    while start.elapsed() < Duration::from_secs(1) {
        bytes += f();
    }
    bytes as f64 / start.elapsed().as_secs_f64() / 1e6
}

fn encoder(label: &str, e: &Encoder) -> Vec<u8> {
    let (msg, ctx) = (message(), RenderContext::default());
    let mut out = Vec::with_capacity(1 << 20);
    let mbs = rate(|| {
        out.clear();
        for _ in 0..1000 {
            e.encode(black_box(&msg), &ctx, &mut out);
        }
        out.len()
    });
    println!(
        "{label:<28} {mbs:8.0} MB/s ({} B per message)",
        out.len() / 1000
    );
    out
}

fn codec(codec: Codec, data: &[u8]) {
    let record = &data[..256 << 10];
    let mut shared = Shared::new(6);
    let mut out = Vec::with_capacity(1 << 20);
    let ours = rate(|| {
        out.clear();
        let mut s = Stream::new(codec);
        s.encode(black_box(record), &mut out, &mut shared);
        record.len()
    });
    let theirs = rate(|| {
        let n = match codec {
            Codec::Gzip => {
                let mut c = flate2::Compress::new(flate2::Compression::new(6), false);
                let mut o = Vec::with_capacity(record.len());
                let _ = c.compress_vec(record, &mut o, flate2::FlushCompress::Sync);
                o.len()
            }
            Codec::Zstd => zstd::bulk::compress(record, 6).unwrap().len(),
            Codec::Snappy => snap::raw::Encoder::new()
                .compress_vec(record)
                .unwrap()
                .len(),
            Codec::None => 0,
        };
        black_box(n);
        record.len()
    });
    println!(
        "{:<28} {ours:8.0} MB/s in, the library alone {theirs:.0} MB/s: {:.0}%",
        format!("compression({})", codec.name()),
        ours / theirs * 100.0
    );
}

fn main() {
    let json = Encoder::json("--scope rfc5424 --scope nv-pairs", "shop").unwrap();
    let lines = encoder("format(json)", &json);
    let columns = [
        "__time__",
        "HOST",
        "PROGRAM",
        "PID",
        ".SDATA.req@32473.status",
        "MESSAGE",
    ];
    let csv = Encoder::csv(CsvOptions::new(columns.map(String::from).to_vec())).unwrap();
    encoder("format(csv)", &csv);
    let mut data = Vec::new();
    while data.len() < 256 << 10 {
        data.extend_from_slice(&lines);
    }
    for c in [Codec::Gzip, Codec::Zstd, Codec::Snappy] {
        codec(c, &data);
    }
}
