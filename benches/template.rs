//! Template render speed: `cargo bench --bench template` prints ns per render.
//!
//! Renders the file destination's default line template, a format-json template
//! and splunk-hec-event()'s body over a realistic RFC 5424 message, reusing one output buffer as destinations do.

mod common;

use common::message;
use sluice::message::Zone;
use sluice::template::{Memo, RenderContext, Template};
use std::hint::black_box;
use std::time::Instant;

fn bench(label: &str, text: &str, ctx: &RenderContext, iterations: u32) {
    // BENCH_ONLY=word: only the cases whose label holds it (for profiling).
    if std::env::var("BENCH_ONLY").is_ok_and(|only| !label.contains(&only)) {
        return;
    }
    let t = Template::compile(text).expect("template compiles");
    let msg = message();
    let mut out = Vec::with_capacity(1024);
    for _ in 0..iterations / 10 {
        out.clear();
        t.render(black_box(&msg), ctx, &mut out);
    }
    let start = Instant::now();
    for _ in 0..iterations {
        out.clear();
        t.render(black_box(&msg), ctx, &mut out);
        black_box(&out);
    }
    let ns = start.elapsed().as_nanos() as f64 / iterations as f64;
    println!("{label:<44} {ns:>8.1} ns/render  ({} bytes)", out.len());
}

/// What an object store checks per message before rendering its key again:
/// whether the key's inputs equal the last message's (they do).
fn memo(label: &str, text: &str, iterations: u32) {
    if std::env::var("BENCH_ONLY").is_ok_and(|only| !label.contains(&only)) {
        return;
    }
    let t = Template::compile(text).expect("template compiles");
    let mut memo = Memo::new(&[&t]).expect("the key can be memoized");
    let msg = message();
    let start = Instant::now();
    let mut same = 0;
    for _ in 0..iterations {
        same += usize::from(memo.unchanged(black_box(&msg)));
    }
    let ns = start.elapsed().as_nanos() as f64 / iterations as f64;
    assert_eq!(same + 1, iterations as usize);
    println!("{label:<44} {ns:>8.1} ns/check");
}

fn main() {
    let line = "${ISODATE} ${HOST} ${MSGHDR}${MESSAGE}\n";
    let json = "$(format-json --scope rfc5424 --exclude DATE --pair ts=${ISODATE})\n";
    let own = RenderContext {
        zone: None,
        hostname: "collector".into(),
        frac_digits: 0,
    };
    let named = RenderContext {
        zone: Zone::parse("Europe/Budapest"),
        ..own.clone()
    };
    let local = RenderContext {
        zone: Some(Zone::Local),
        ..own.clone()
    };
    bench("line, stamp's own offset", line, &own, 5_000_000);
    bench("line, time-zone(Europe/Budapest)", line, &named, 5_000_000);
    bench("line, time-zone(local)", line, &local, 5_000_000);
    bench("format-json rfc5424 + pair", json, &own, 1_000_000);
    // splunk-hec-event()'s body() with the block's defaults.
    let hec = "$(format-json --scope none --omit-empty-values index= source= sourcetype= \
               host=${HOST} time=float(${S_UNIXTIME}.${S_MSEC}) event=${MSG} \
               fields=literal($(format-flat-json --scope none )))";
    bench("splunk-hec-event body", hec, &own, 1_000_000);
    memo(
        "object key memo, unchanged",
        "app/${HOST}-${S_DAY}",
        10_000_000,
    );
}
