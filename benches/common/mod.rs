//! What the benches share: a realistic RFC 5424 message, parsed by hand so
//! that a bench measures its own stage only.

use bytes::Bytes;
use sluice::message::{Field, Message, Slot, Timestamp};

const RAW: &str = "<165>1 2026-11-23T14:07:17.123456+01:00 web01.example.com checkout 4242 ORDER \
                   [meta sequenceId=\"7\"][req@32473 status=\"200\" path=\"/api/cart\"] \
                   order 81723 placed by user 1187, total 99.90 EUR";

#[allow(dead_code)]
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

/// A generated nginx access log, `n` messages (see [`AccessLog`]).
#[allow(dead_code)]
pub fn access_log(n: usize) -> Vec<Message> {
    AccessLog::default().take(n).collect()
}

/// An endless generated nginx access log: each line as MESSAGE (the input
/// size counted) and parsed into 12 name-value pairs, as a `kv-parser()` or
/// `csv-parser()` would leave it; values vary per line.
#[allow(dead_code)]
pub struct AccessLog {
    x: u64,
    i: usize,
}

impl Default for AccessLog {
    fn default() -> AccessLog {
        AccessLog {
            x: 0x2545_f491_4f6c_dd1d,
            i: 0,
        }
    }
}

impl AccessLog {
    fn next_random(&mut self) -> u64 {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        self.x
    }
}

impl Iterator for AccessLog {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        const PATHS: &[&str] = &[
            "/api/cart",
            "/api/orders/81723",
            "/static/app.9f3c1b.js",
            "/login?next=%2Faccount",
            "/search?q=red+shoes&page=2",
            "/healthz",
        ];
        const AGENTS: &[&str] = &[
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0 Safari/537.36",
            "curl/8.5.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
            "Go-http-client/1.1",
        ];
        const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
        let i = self.i;
        self.i += 1;
        let r = self.next_random();
        let client = format!("10.{}.{}.{}", r & 0xff, (r >> 8) & 0xff, (r >> 16) & 0xff);
        let method = METHODS[(r >> 24) as usize % METHODS.len()];
        let path = PATHS[(r >> 28) as usize % PATHS.len()];
        let status = [200, 200, 200, 304, 404, 500][(r >> 32) as usize % 6];
        let bytes = (r >> 36) % 90_000;
        let agent = AGENTS[(r >> 52) as usize % AGENTS.len()];
        let rt = format!("0.{:03}", (r >> 40) % 1000);
        let id = format!("{:016x}", self.next_random());
        let host = format!("web-{:02}", i % 16);
        let line = format!(
            "{client} - - [23/Nov/2026:14:07:{:02} +0000] \"{method} {path} HTTP/1.1\" {status} {bytes} \"-\" \"{agent}\" {rt} {id}",
            i % 60
        );
        let raw = format!("<190>Nov 23 14:07:{:02} {host} nginx: {line}", i % 60);
        let mut m = Message::new(
            Bytes::from(raw),
            Timestamp {
                secs: 1_795_442_820 + (i % 60) as i64,
                nanos: 0,
                offset: 0,
            },
        );
        m.stamp = m.recvd;
        m.pri = 190;
        m.set_owned(Field::Host, host.as_bytes());
        m.set_owned(Field::Program, b"nginx");
        m.set_owned(Field::Message, line.as_bytes());
        for (k, v) in [
            ("client", client.as_str()),
            ("method", method),
            ("path", path),
            ("protocol", "HTTP/1.1"),
            ("status", &status.to_string()),
            ("bytes", &bytes.to_string()),
            ("referer", "-"),
            ("agent", agent),
            ("request_time", &rt),
            ("request_id", &id),
            ("upstream", "10.0.0.7:8080"),
            ("vhost", "shop.example.com"),
        ] {
            m.push_owned_pair(format!(".nginx.{k}").as_bytes(), v.as_bytes());
        }
        m.peer = Some("192.0.2.10:514".parse().unwrap());
        Some(m)
    }
}
