//! Encoder and compressor throughput: `cargo bench --bench encode`.
//!
//! On a generated nginx access log (200,000 lines, each parsed into 12
//! name-value pairs; see `common::access_log`), one core:
//! - each encoder (`format(json)`, `format(csv)`, `format(parquet)` with its
//!   row groups and footer) in MB/s of input (the log lines) and the ratio of
//!   output to input (targets: JSON and CSV >= 500 MB/s, Parquet >= 150);
//! - each compression over the JSON output in 256 KiB records, beside the
//!   library's own call on the same bytes (target: >= 90% of it), and its
//!   ratio.

mod common;

use sluice::compress::{Codec, Shared, Stream};
use sluice::encode::{CsvOptions, Encoder, Parquet};
use sluice::message::{Field, Message};
use sluice::template::RenderContext;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Runs `f` (one pass, returning its input bytes) in five rounds of about
/// half a second; MB/s of input in the best round (this machine's neighbours
/// make single rounds vary by up to 2x).
fn rate(mut f: impl FnMut() -> usize) -> f64 {
    // BENCH_PASSES=N: N passes and no clock, for `perf stat` to count.
    if let Some(n) = std::env::var("BENCH_PASSES")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        let start = Instant::now();
        let bytes: usize = (0..n).map(|_| f()).sum();
        return bytes as f64 / start.elapsed().as_secs_f64() / 1e6;
    }
    (0..5)
        .map(|_| {
            let (mut bytes, start) = (0usize, Instant::now());
            while start.elapsed() < Duration::from_millis(500) {
                bytes += f();
            }
            bytes as f64 / start.elapsed().as_secs_f64() / 1e6
        })
        .fold(0.0, f64::max)
}

fn input(corpus: &[Message]) -> usize {
    corpus
        .iter()
        .map(|m| m.get(Field::Message).map_or(0, <[u8]>::len))
        .sum()
}

fn encoder(label: &str, e: &Encoder, corpus: &[Message]) -> Vec<u8> {
    let ctx = RenderContext::default();
    let size = input(corpus);
    let mut out = Vec::with_capacity(size * 3);
    let mbs = rate(|| {
        out.clear();
        for m in corpus {
            e.encode(black_box(m), &ctx, &mut out);
        }
        size
    });
    println!(
        "{label:<28} {mbs:8.0} MB/s in, output {:.2}x the input",
        out.len() as f64 / size as f64
    );
    out
}

/// Rows, then a row group per 8 MiB of them, then the footer: what an
/// object's life costs in `format(parquet)`.
fn parquet(label: &str, p: &Parquet, corpus: &[Message]) {
    let ctx = RenderContext::default();
    let size = input(corpus);
    let mut file_len = 0;
    let mbs = rate(|| {
        let (mut rows, mut file, mut groups) = (Vec::new(), 0u64, Vec::new());
        for m in corpus {
            p.row(black_box(m), &ctx, &mut rows);
            if rows.len() >= 8 << 20 {
                let g = p.group(&mut rows, file).unwrap();
                file += g.bytes.len() as u64;
                groups.push(Parquet::group_meta(&g.record).unwrap());
                rows.clear();
            }
        }
        let g = p.group(&mut rows, file).unwrap();
        file += g.bytes.len() as u64;
        groups.push(Parquet::group_meta(&g.record).unwrap());
        file += p.footer(&groups, file).unwrap().len() as u64;
        file_len = file;
        size
    });
    println!(
        "{label:<28} {mbs:8.0} MB/s in, output {:.2}x the input",
        file_len as f64 / size as f64
    );
}

fn codec(codec: Codec, data: &[u8]) {
    const RECORD: usize = 256 << 10;
    let mut shared = Shared::new(6);
    let mut out = Vec::with_capacity(2 * RECORD);
    let mut compressed = 0;
    let ours = rate(|| {
        let mut s = Stream::new(codec);
        compressed = 0;
        for record in data.chunks(RECORD) {
            out.clear();
            s.encode(black_box(record), &mut out, &mut shared);
            compressed += out.len();
        }
        data.len()
    });
    let mut deflate = flate2::Compress::new(flate2::Compression::new(6), false);
    let mut zstd = zstd::bulk::Compressor::new(6).unwrap();
    let mut snappy = snap::raw::Encoder::new();
    let theirs = rate(|| {
        for record in data.chunks(RECORD) {
            out.clear();
            let n = match codec {
                Codec::Gzip => {
                    deflate.reset();
                    let _ = deflate.compress_vec(record, &mut out, flate2::FlushCompress::Sync);
                    out.len()
                }
                Codec::Zstd => {
                    out.resize(zstd::zstd_safe::compress_bound(record.len()), 0);
                    zstd.compress_to_buffer(record, &mut out).unwrap()
                }
                Codec::Snappy => {
                    out.resize(snap::raw::max_compress_len(record.len()), 0);
                    snappy.compress(record, &mut out).unwrap()
                }
                Codec::None => 0,
            };
            black_box(n);
        }
        data.len()
    });
    println!(
        "{:<28} {ours:8.0} MB/s in, the library alone {theirs:.0} MB/s: {:.0}%, output {:.2}x",
        format!("compression({})", codec.name()),
        ours / theirs * 100.0,
        compressed as f64 / data.len() as f64
    );
}

fn main() {
    let lines: usize = std::env::var("BENCH_CORPUS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let corpus = common::access_log(lines);
    println!(
        "corpus: {} lines, {:.0} MB of log lines, 12 pairs each",
        corpus.len(),
        input(&corpus) as f64 / 1e6
    );
    // BENCH_ONLY=json|csv|parquet|compression runs one part (for profiling).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only == part;
    let json = Encoder::json("--scope rfc5424 --scope nv-pairs", "shop").unwrap();
    let json_out = if run("json") || run("compression") {
        encoder("format(json)", &json, &corpus)
    } else {
        Vec::new()
    };
    let columns: Vec<String> = [
        "__time__",
        "HOST",
        "PROGRAM",
        ".nginx.client",
        ".nginx.method",
        ".nginx.path",
        ".nginx.status",
        ".nginx.bytes",
        ".nginx.agent",
        ".nginx.request_time",
        ".nginx.request_id",
        "MESSAGE",
    ]
    .map(String::from)
    .to_vec();
    let csv = Encoder::csv(CsvOptions::new(columns.clone())).unwrap();
    if run("csv") {
        encoder("format(csv)", &csv, &corpus);
    }
    let typed: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "__time__" | ".nginx.bytes" => format!("{c}:int64"),
            ".nginx.status" => format!("{c}:int32"),
            ".nginx.request_time" => format!("{c}:double"),
            _ => c.clone(),
        })
        .collect();
    for c in [Codec::None, Codec::Snappy, Codec::Zstd]
        .into_iter()
        .filter(|_| run("parquet"))
    {
        let p = Parquet::new(&typed, c, "shop").unwrap();
        parquet(&format!("format(parquet) {}", c.name()), &p, &corpus);
    }
    for c in [Codec::Gzip, Codec::Zstd, Codec::Snappy]
        .into_iter()
        .filter(|_| run("compression"))
    {
        codec(c, &json_out);
    }
}
