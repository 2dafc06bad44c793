//! Parser and framer throughput: `cargo bench --bench parse`.
//!
//! Prints ns/message for loggen-style lines (the PERF.md workload: 200-byte
//! RFC 3164 lines) and an RFC 5424 line with structured data, and the cost of
//! newline framing per message. A plain `Instant` loop, no harness: the figures
//! go in closing notes, not in the test suite.

use bytes::Bytes;
use sluice::message::{Field, Timestamp, Zone};
use sluice::parse::{ParseOptions, parse};
use sluice::sources::network::framing::{Framer, Mode, Next, Oversize};
use std::hint::black_box;
use std::time::Instant;

fn line(head: &str, len: usize) -> Bytes {
    let mut s = head.as_bytes().to_vec();
    while s.len() < len - 1 {
        s.extend_from_slice(b"PADD");
    }
    s.truncate(len - 1);
    s.push(b'\n');
    Bytes::from(s)
}

fn bench_parse(name: &str, frame: Bytes, opts: &ParseOptions) {
    let recvd = Timestamp::now(&Zone::UTC);
    let m = parse(frame.clone(), recvd, None, opts);
    assert!(m.error.is_none(), "{name}: {:?}", m.error);
    assert!(m.get(Field::Message).is_some());
    let n = 2_000_000u32;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            let m = parse(black_box(frame.clone()), recvd, None, opts);
            black_box(&m);
        }
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    println!("parse {name:<44} {:>4} B  {best:>6.1} ns/msg", frame.len());
}

fn bench_framing(name: &str, mode: Mode, one: &[u8]) {
    let count = 10_000;
    let stream: Vec<u8> = one.repeat(count);
    let mut best = f64::MAX;
    for _ in 0..20 {
        let t = Instant::now();
        let mut framer = Framer::new(mode, 65536, Oversize::Truncate);
        let (mut pos, mut frames) = (0, 0);
        loop {
            match framer.next(black_box(&stream[pos..])) {
                Next::Frame(f, used) => {
                    black_box(f);
                    pos += used;
                    frames += 1;
                }
                Next::Skip(used) => pos += used,
                Next::NeedMore => break,
            }
        }
        assert_eq!(frames, count);
        best = best.min(t.elapsed().as_nanos() as f64 / count as f64);
    }
    println!("frame {name:<44} {:>4} B  {best:>6.1} ns/msg", one.len());
}

fn main() {
    let local = ParseOptions::default();
    let utc = ParseOptions {
        zone: Zone::UTC,
        ..ParseOptions::default()
    };
    let iso = line(
        "<38>2026-11-23T14:07:17 localhost prg00000[1234]: seq: 0000000000, thread: 0000, runid: 1700000000, stamp: 2026-11-23T14:07:17 ",
        200,
    );
    let bsd = line(
        "<38>Nov 23 14:07:17 localhost prg00000[1234]: seq: 0000000000, thread: 0000, runid: 1700000000, stamp: 2026-11-23T14:07:17 ",
        200,
    );
    let rfc5424 = line(
        r#"<38>1 2026-11-23T14:07:17.123456+01:00 localhost prg00000 1234 - [meta sequenceId="1" sysUpTime="37"][req@32473 status="200" path="/a\"b"] seq: 0000000000, thread: 0000, runid: 1700000000 "#,
        200,
    );
    let rfc5424_plain = line(
        r#"<38>1 2026-11-23T14:07:17.123456Z localhost prg00000 1234 ID47 - seq: 0000000000, thread: 0000, runid: 1700000000 "#,
        200,
    );
    bench_parse(
        "rfc3164 loggen ISO stamp (recv zone local)",
        iso.clone(),
        &local,
    );
    bench_parse(
        "rfc3164 loggen ISO stamp (recv zone UTC)",
        iso.clone(),
        &utc,
    );
    bench_parse("rfc3164 BSD stamp (recv zone local)", bsd.clone(), &local);
    bench_parse(
        "rfc5424 2 SD elements, 4 params, 1 escape",
        rfc5424.clone(),
        &local,
    );
    bench_parse("rfc5424 no SD", rfc5424_plain, &local);
    bench_parse(
        "no-parse",
        iso.clone(),
        &ParseOptions {
            no_parse: true,
            ..ParseOptions::default()
        },
    );
    bench_framing("newline", Mode::Newline, &iso);
    let mut counted = format!("{} ", iso.len() - 1).into_bytes();
    counted.extend_from_slice(&iso[..iso.len() - 1]);
    bench_framing("octet-counted", Mode::Auto, &counted);
}
