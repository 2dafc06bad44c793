//! What the benches share: a realistic RFC 5424 message, parsed by hand so
//! that a bench measures its own stage only.

use bytes::Bytes;
use sluice::message::{Field, Message, Slot, Timestamp};

const RAW: &str = "<165>1 2026-11-23T14:07:17.123456+01:00 web01.example.com checkout 4242 ORDER \
                   [meta sequenceId=\"7\"][req@32473 status=\"200\" path=\"/api/cart\"] \
                   order 81723 placed by user 1187, total 99.90 EUR";

pub fn message() -> Message {
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
