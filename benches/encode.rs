//! Encoder and compressor throughput: `cargo bench --bench encode`.
//!
//! On a generated nginx access log (see `common::AccessLog`: lines of about
//! 175 bytes, each parsed into 12 name-value pairs), one core:
//! - each encoder (`format(json)`, `format(csv)`, `format(parquet)` with its
//!   row groups and footer) in MB/s of input (the log lines) and the ratio of
//!   output to input (targets: JSON and CSV >= 500 MB/s, Parquet >= 150);
//! - `format(parquet)` with snappy or zstd inside beside its best: the
//!   encoder alone, then the library alone on the encoder's pages;
//! - each compression over the JSON output in 256 KiB records, beside the
//!   library's own call on the same bytes (target: >= 90% of it), and its
//!   ratio.
//!
//! The encoders take the log in batches of 1,000 messages made just before
//! they are timed, as a destination takes them from the parser: hundreds of
//! MB of distinct lines flow through a run, and no batch is seen twice.
//! `BENCH_RESIDENT=N` instead cycles through N messages made up front (N of
//! 200,000 is 200 MB of messages, far past the caches: every message is a
//! trip to memory, as for a destination working off a deep queue).

mod common;

use sluice::compress::{Codec, Shared, Stream};
use sluice::encode::{CsvOptions, Encoder, Parquet};
use sluice::message::{Field, Message};
use sluice::template::RenderContext;
use std::hint::black_box;
use std::time::{Duration, Instant};

const BATCH: usize = 1000;

/// Runs `f` (one timed step, returning its input bytes and the time it
/// took) in five rounds of about half a second of timed work; MB/s of input
/// in the best round (this machine's neighbours make single rounds vary by
/// up to 2x).
fn rate(mut f: impl FnMut() -> (usize, Duration)) -> f64 {
    // BENCH_PASSES=N: N rounds of steps, for `perf stat` to count.
    let rounds = std::env::var("BENCH_PASSES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    // BENCH_STEPS=N: rounds of N steps, a fixed amount of work for `perf
    // stat` to compare binaries by (cycles and instructions).
    let steps: Option<usize> = std::env::var("BENCH_STEPS")
        .ok()
        .and_then(|n| n.parse().ok());
    (0..rounds)
        .map(|_| {
            let (mut bytes, mut spent, mut n) = (0usize, Duration::ZERO, 0);
            while steps.map_or(spent < Duration::from_millis(500), |s| n < s) {
                n += 1;
                let (b, t) = f();
                bytes += b;
                spent += t;
            }
            bytes as f64 / spent.as_secs_f64() / 1e6
        })
        .fold(0.0, f64::max)
}

fn input(batch: &[Message]) -> usize {
    batch
        .iter()
        .map(|m| m.get(Field::Message).map_or(0, <[u8]>::len))
        .sum()
}

/// Where batches come from: fresh off the generator, or a resident corpus.
enum Batches {
    Fresh(common::AccessLog, Vec<Message>),
    Resident(Vec<Message>, usize),
}

impl Batches {
    fn new() -> Batches {
        match std::env::var("BENCH_RESIDENT")
            .ok()
            .and_then(|n| n.parse().ok())
        {
            Some(n) => Batches::Resident(common::access_log(n), 0),
            None => Batches::Fresh(common::AccessLog::default(), Vec::new()),
        }
    }

    fn next(&mut self) -> &[Message] {
        match self {
            Batches::Fresh(log, batch) => {
                batch.clear();
                batch.extend(log.by_ref().take(BATCH));
                batch
            }
            Batches::Resident(corpus, at) => {
                if *at >= corpus.len() {
                    *at = 0;
                }
                let end = (*at + BATCH).min(corpus.len());
                let batch = &corpus[*at..end];
                *at = end;
                batch
            }
        }
    }
}

fn encoder(label: &str, e: &Encoder) {
    let ctx = RenderContext::default();
    let mut batches = Batches::new();
    let mut out = Vec::with_capacity(BATCH * 1024);
    let (mut bytes_in, mut bytes_out) = (0, 0);
    let mbs = rate(|| {
        let batch = batches.next();
        out.clear();
        let start = Instant::now();
        for m in batch {
            e.encode(black_box(m), &ctx, &mut out);
        }
        let spent = start.elapsed();
        let size = input(batch);
        bytes_in += size;
        bytes_out += out.len();
        (size, spent)
    });
    println!(
        "{label:<28} {mbs:8.0} MB/s in, output {:.2}x the input",
        bytes_out as f64 / bytes_in as f64
    );
}

/// Rows, then a row group per 8 MiB of them, then a footer per 8 row
/// groups: what an object's life costs in `format(parquet)`.
fn parquet(label: &str, p: &Parquet) -> f64 {
    let ctx = RenderContext::default();
    let mut batches = Batches::new();
    let (mut rows, mut file, mut groups) = (Vec::new(), 0u64, Vec::new());
    let (mut bytes_in, mut bytes_out) = (0, 0);
    let (mut in_rows, mut in_all) = (Duration::ZERO, Duration::ZERO);
    let mbs = rate(|| {
        let batch = batches.next();
        let start = Instant::now();
        for m in batch {
            p.row(black_box(m), &ctx, &mut rows);
        }
        in_rows += start.elapsed();
        if rows.len() >= 8 << 20 {
            let g = p.group(&mut rows, file).unwrap();
            file += g.bytes.len() as u64;
            groups.push(Parquet::group_meta(&g.record).unwrap());
            rows.clear();
            if groups.len() == 8 {
                file += p.footer(&groups, file).unwrap().len() as u64;
                bytes_out += file;
                (file, groups) = (0, Vec::new());
            }
        }
        let spent = start.elapsed();
        let size = input(batch);
        bytes_in += size;
        in_all += spent;
        (size, spent)
    });
    println!(
        "{label:<28} {mbs:8.0} MB/s in, output {:.2}x the input, {:.0}% of the time in rows",
        (bytes_out + file) as f64 / bytes_in as f64,
        in_rows.as_secs_f64() / in_all.as_secs_f64() * 100.0
    );
    mbs
}

/// What `format(parquet)` with a codec could reach at best: the encoder
/// (`none`, measured) and then the codec's library alone on that encoder's
/// pages (a row group made with `none`, in 1 MiB pieces as pages are cut,
/// zstd at level 1 as pages are), per MB of input; beside it, the rate
/// measured with the codec, and how near it comes.
fn parquet_at_best(none: &Parquet, none_mbs: f64, measured: &[(Codec, f64)]) {
    let ctx = RenderContext::default();
    let (mut rows, mut input) = (Vec::new(), 0);
    for m in common::AccessLog::default() {
        none.row(&m, &ctx, &mut rows);
        input += m.get(Field::Message).map_or(0, <[u8]>::len);
        if rows.len() >= 8 << 20 {
            break;
        }
    }
    let pages = none.group(&mut rows, 0).unwrap().bytes;
    let mut out = Vec::new();
    let mut zstd = zstd::bulk::Compressor::new(1).unwrap();
    let mut snappy = snap::raw::Encoder::new();
    for &(c, mbs) in measured {
        let alone = rate(|| {
            let start = Instant::now();
            for page in pages.chunks(1 << 20) {
                let n = match c {
                    Codec::Snappy => {
                        out.resize(snap::raw::max_compress_len(page.len()), 0);
                        snappy.compress(page, &mut out).unwrap()
                    }
                    _ => {
                        out.resize(zstd::zstd_safe::compress_bound(page.len()), 0);
                        zstd.compress_to_buffer(page, &mut out).unwrap()
                    }
                };
                black_box(n);
            }
            (input, start.elapsed())
        });
        let best = 1.0 / (1.0 / none_mbs + 1.0 / alone);
        println!(
            "{:<28} {best:8.0} MB/s in at best ({} alone on the pages: {alone:.0} MB/s of input): {:.0}%",
            format!("format(parquet) {}", c.name()),
            c.name(),
            mbs / best * 100.0
        );
    }
}

fn codec(codec: Codec, data: &[u8]) {
    const RECORD: usize = 256 << 10;
    let mut shared = Shared::new(6);
    let mut out = Vec::with_capacity(2 * RECORD);
    let mut compressed = 0;
    let ours = rate(|| {
        let start = Instant::now();
        let mut s = Stream::new(codec);
        compressed = 0;
        for record in data.chunks(RECORD) {
            out.clear();
            s.encode(black_box(record), &mut out, &mut shared);
            compressed += out.len();
        }
        (data.len(), start.elapsed())
    });
    let mut deflate = flate2::Compress::new(flate2::Compression::new(6), false);
    let mut zstd = zstd::bulk::Compressor::new(6).unwrap();
    let mut snappy = snap::raw::Encoder::new();
    let theirs = rate(|| {
        let start = Instant::now();
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
        (data.len(), start.elapsed())
    });
    println!(
        "{:<28} {ours:8.0} MB/s in, the library alone {theirs:.0} MB/s: {:.0}%, output {:.2}x",
        format!("compression({})", codec.name()),
        ours / theirs * 100.0,
        compressed as f64 / data.len() as f64
    );
}

fn main() {
    // BENCH_ONLY=json|csv|parquet|compression runs one part (for profiling).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only == part;
    let json = Encoder::json("--scope rfc5424 --scope nv-pairs", "shop").unwrap();
    if run("json") {
        encoder("format(json)", &json);
    }
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
        encoder("format(csv)", &csv);
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
    if run("parquet") {
        let rates: Vec<(Codec, f64)> = [Codec::None, Codec::Snappy, Codec::Zstd]
            .into_iter()
            .map(|c| {
                let p = Parquet::new(&typed, c, "shop").unwrap();
                (c, parquet(&format!("format(parquet) {}", c.name()), &p))
            })
            .collect();
        let none = Parquet::new(&typed, Codec::None, "shop").unwrap();
        parquet_at_best(&none, rates[0].1, &rates[1..]);
    }
    if run("compression") {
        // The JSON of 200,000 lines (77 MB), compressed as objects are.
        let ctx = RenderContext::default();
        let mut json_out = Vec::new();
        for m in common::AccessLog::default().take(200_000) {
            json.encode(&m, &ctx, &mut json_out);
        }
        for c in [Codec::Gzip, Codec::Zstd, Codec::Snappy] {
            codec(c, &json_out);
        }
    }
}
