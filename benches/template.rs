//! Template render speed: `cargo bench --bench template` prints ns per render.
//!
//! Renders the file destination's default line template and a format-json template
//! over a realistic RFC 5424 message, reusing one output buffer as destinations do.

use bytes::Bytes;
use sluice::message::{Field, Message, Slot, Timestamp, Zone};
use sluice::template::{RenderContext, Template};
use std::hint::black_box;
use std::time::Instant;

const RAW: &str = "<165>1 2026-11-23T14:07:17.123456+01:00 web01.example.com checkout 4242 ORDER \
                   [meta sequenceId=\"7\"][req@32473 status=\"200\" path=\"/api/cart\"] \
                   order 81723 placed by user 1187, total 99.90 EUR";

fn message() -> Message {
    let recvd = Timestamp {
        secs: 1_795_439_238,
        nanos: 0,
        offset: 0,
    };
    let mut m = Message::new(Bytes::from_static(RAW.as_bytes()), recvd);
    m.stamp = Timestamp {
        secs: 1_795_439_237,
        nanos: 123_456_000,
        offset: 3600,
    };
    m.pri = 165;
    let span = |s: &str| {
        let at = RAW.find(s).unwrap();
        Slot::raw(at, at + s.len())
    };
    m.set(Field::Host, span("web01.example.com"));
    m.set(Field::Program, span("checkout"));
    m.set(Field::Pid, span("4242"));
    m.set(Field::MsgId, span("ORDER"));
    m.set(
        Field::Sdata,
        span("[meta sequenceId=\"7\"][req@32473 status=\"200\" path=\"/api/cart\"]"),
    );
    m.set(
        Field::Message,
        span("order 81723 placed by user 1187, total 99.90 EUR"),
    );
    m.push_pair(b".SDATA.meta.sequenceId", span("7"));
    m.push_pair(b".SDATA.req@32473.status", span("200"));
    m.push_pair(b".SDATA.req@32473.path", span("/api/cart"));
    m.peer = Some("192.0.2.10:514".parse().unwrap());
    m
}

fn bench(label: &str, text: &str, ctx: &RenderContext, iterations: u32) {
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
}
