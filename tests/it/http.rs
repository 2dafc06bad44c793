//! `http()` and the Splunk HEC blocks against an HTTP receiver of the test's
//! own (syslog-ng 3.38 has no HTTP source): batch shapes, headers, gzip
//! bodies, retries on 503 with nothing lost or doubled, a 400 dropped and
//! counted rather than retried forever.

use crate::harness::*;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_rustls::rustls;

const WAIT: Duration = Duration::from_secs(30);
/// A scripted "status" for a request the receiver never answers.
const HANG: u16 = 0;

/// One request as the receiver saw it, and the status it answered.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    status: u16,
    /// The server name the client asked for (TLS SNI).
    sni: Option<String>,
    at: std::time::Instant,
}

/// A connection the receiver serves: plain TCP, or TLS (which knows the SNI).
trait Peer: Read + Write {
    fn sni(&self) -> Option<String> {
        None
    }
}

impl Peer for std::net::TcpStream {}

impl Peer for rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream> {
    fn sni(&self) -> Option<String> {
        self.conn.server_name().map(str::to_string)
    }
}

impl Seen {
    /// The body, gunzipped when it says it is gzip.
    fn text(&self) -> String {
        if self.headers.get("content-encoding").map(String::as_str) == Some("gzip") {
            let mut out = String::new();
            flate2::read::GzDecoder::new(&self.body[..])
                .read_to_string(&mut out)
                .expect("a gzip body");
            return out;
        }
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An HTTP/1.1 receiver on a loopback port: answers each request with the
/// next scripted status (200 once the script is used up) and keeps them all.
#[derive(Clone)]
struct Receiver {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    /// HEC indexer acknowledgement: the answers to /services/collector/ack
    /// (true once used up); event requests get ackIds 0, 1, ...
    acks: Arc<Mutex<VecDeque<bool>>>,
    next_ack: Arc<Mutex<u64>>,
    /// Answer each request this late, and the most requests in hand at once.
    delay: Arc<Mutex<Duration>>,
    busy: Arc<Mutex<(usize, usize)>>,
    /// Sent with every answer that is not 200.
    retry_after: Arc<Mutex<Option<u64>>>,
}

impl Receiver {
    fn with_port(port: u16, script: &[u16]) -> Receiver {
        Receiver {
            port,
            seen: Arc::default(),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            acks: Arc::default(),
            next_ack: Arc::default(),
            delay: Arc::default(),
            busy: Arc::default(),
            retry_after: Arc::default(),
        }
    }

    fn start(script: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let r = Receiver::with_port(listener.local_addr().unwrap().port(), script);
        let me = r.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let me = me.clone();
                std::thread::spawn(move || me.serve(conn));
            }
        });
        r
    }

    /// The same receiver behind TLS with this certificate and key.
    fn start_tls(script: &[u16], cert: &Path, key: &Path) -> Receiver {
        let certs = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let r = Receiver::with_port(listener.local_addr().unwrap().port(), script);
        let me = r.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let me = me.clone();
                let session = rustls::ServerConnection::new(config.clone()).unwrap();
                std::thread::spawn(move || me.serve(rustls::StreamOwned::new(session, conn)));
            }
        });
        r
    }

    fn serve<S: Peer>(&self, conn: S) {
        let mut r = BufReader::new(conn);
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let (method, target) = (
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            );
            let mut headers = HashMap::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let len: usize = headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_err() {
                return;
            }
            let delay = *self.delay.lock().unwrap();
            if !delay.is_zero() {
                {
                    let mut b = self.busy.lock().unwrap();
                    b.0 += 1;
                    b.1 = b.1.max(b.0);
                }
                std::thread::sleep(delay);
                self.busy.lock().unwrap().0 -= 1;
            }
            let ack_poll = target.starts_with("/services/collector/ack");
            let status = if ack_poll {
                200
            } else {
                self.script.lock().unwrap().pop_front().unwrap_or(200)
            };
            if status == HANG {
                // A server that takes the request and never answers.
                self.seen.lock().unwrap().push(Seen {
                    method,
                    target,
                    headers,
                    body,
                    status,
                    sni: None,
                    at: std::time::Instant::now(),
                });
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
            let text = if ack_poll {
                // {"acks":[0,1]} -> {"acks":{"0":false,"1":true}}, a state
                // from `acks` for each id asked about.
                let asked = String::from_utf8_lossy(&body)
                    .trim_start_matches("{\"acks\":[")
                    .trim_end_matches("]}")
                    .to_string();
                let states: Vec<String> = asked
                    .split(',')
                    .map(|id| {
                        let state = self.acks.lock().unwrap().pop_front().unwrap_or(true);
                        format!("\"{id}\":{state}")
                    })
                    .collect();
                format!("{{\"acks\":{{{}}}}}", states.join(","))
            } else if status == 200 {
                let mut n = self.next_ack.lock().unwrap();
                *n += 1;
                format!("{{\"text\":\"Success\",\"code\":0,\"ackId\":{}}}", *n - 1)
            } else {
                "{\"text\":\"No\",\"code\":9}".to_string()
            };
            self.seen.lock().unwrap().push(Seen {
                method,
                target,
                headers,
                body,
                status,
                sni: r.get_ref().sni(),
                at: std::time::Instant::now(),
            });
            let retry_after = match *self.retry_after.lock().unwrap() {
                Some(secs) if status != 200 => format!("Retry-After: {secs}\r\n"),
                _ => String::new(),
            };
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{retry_after}Content-Length: {}\r\n\r\n{text}",
                text.len()
            );
            let out = r.get_mut();
            if out.write_all(reply.as_bytes()).is_err() || out.flush().is_err() {
                return;
            }
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests answered 200.
    fn taken(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.status == 200)
            .collect()
    }

    /// The lines of the bodies answered 200, sorted.
    fn messages(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .taken()
            .iter()
            .flat_map(|s| s.text().lines().map(str::to_string).collect::<Vec<_>>())
            .collect();
        all.sort();
        all
    }
}

fn daemon(destination: &str) -> (Daemon, u16) {
    let input = free_port();
    let d = Daemon::start(&format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(127.0.0.1) port({input})); }};\n\
         destination d {{ {destination}; }};\n\
         log {{ source(s); destination(d); }};\n"
    ));
    (d, input)
}

/// Batches are batch-lines() long (the last one sent by batch-timeout()),
/// framed by body-prefix(), delimiter() and body-suffix(), with the method,
/// headers and Basic authentication asked for.
#[test]
fn batches_carry_the_body_headers_and_authentication_asked_for() {
    let rx = Receiver::start(&[]);
    let (d, input) = daemon(&format!(
        "http(url(\"http://127.0.0.1:{}/logs?x=1\") method(\"PUT\") headers(\"X-Test: yes please\")\n\
           user(\"u\") password(\"p\") body(\"$(format-json m=${{MSG}})\")\n\
           batch-lines(4) batch-timeout(1500) body-prefix(\"[\") delimiter(\",\") body-suffix(\"]\"))",
        rx.port
    ));
    send_tcp(input, (0..10).map(|i| sl(&format!("msg {i}"))));
    assert!(
        wait_until(WAIT, || rx.taken().len() == 3),
        "{:?}\n{}",
        rx.seen(),
        d.log()
    );
    let seen = rx.taken();
    let bodies: Vec<String> = seen.iter().map(Seen::text).collect();
    assert_eq!(
        bodies,
        [
            r#"[{"m":"msg 0"},{"m":"msg 1"},{"m":"msg 2"},{"m":"msg 3"}]"#,
            r#"[{"m":"msg 4"},{"m":"msg 5"},{"m":"msg 6"},{"m":"msg 7"}]"#,
            r#"[{"m":"msg 8"},{"m":"msg 9"}]"#,
        ]
    );
    for s in &seen {
        assert_eq!(s.method, "PUT");
        assert_eq!(s.target, "/logs?x=1");
        assert_eq!(s.headers["x-test"], "yes please");
        assert_eq!(s.headers["authorization"], "Basic dTpw");
    }
    d.await_stat("destination.d#0.written", 10, WAIT);
}

/// content-compression("gzip"): every body is one gzip stream, labelled.
#[test]
fn gzip_bodies_decompress_to_the_batch() {
    let rx = Receiver::start(&[]);
    let (d, input) = daemon(&format!(
        "http(url(\"http://127.0.0.1:{}/\") content-compression(\"gzip\") batch-lines(100) batch-timeout(500))",
        rx.port
    ));
    send_tcp(input, (0..50).map(|i| sl(&format!("zipped {i}"))));
    assert!(
        wait_until(WAIT, || rx
            .taken()
            .iter()
            .map(|s| s.text().lines().count())
            .sum::<usize>()
            == 50),
        "{}",
        d.log()
    );
    let all: Vec<String> = rx
        .taken()
        .iter()
        .flat_map(|s| s.text().lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let want: Vec<String> = (0..50).map(|i| format!("zipped {i}")).collect();
    assert_eq!(all, want);
    assert!(
        rx.taken()
            .iter()
            .all(|s| s.headers["content-encoding"] == "gzip")
    );
}

/// 503s are retried until the server takes the batch: everything arrives,
/// and nothing twice.
#[test]
fn a_server_answering_503_for_a_while_gets_everything_once() {
    let rx = Receiver::start(&[503, 503, 503, 503]);
    let (d, input) = daemon(&format!(
        "http(url(\"http://127.0.0.1:{}/\") batch-lines(25) batch-timeout(300) time-reopen(1))",
        rx.port
    ));
    send_tcp(input, (0..100).map(|i| sl(&format!("m{i}"))));
    let count = || -> usize { rx.taken().iter().map(|s| s.text().lines().count()).sum() };
    assert!(wait_until(WAIT, || count() >= 100), "{}", d.log());
    std::thread::sleep(Duration::from_millis(500));
    let got = rx.messages();
    let mut want: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    want.sort();
    assert_eq!(got, want, "every message once");
    assert!(rx.seen().iter().filter(|s| s.status == 503).count() == 4);
    d.await_stat("destination.d#0.written", 100, WAIT);
    assert!(d.log().contains("HTTP 503"), "{}", d.log());
}

/// A 400 is the client's fault: the batch is dropped with an error naming the
/// status, counted, and not sent again; response-action() can say otherwise.
#[test]
fn a_400_is_dropped_and_counted_not_retried() {
    let rx = Receiver::start(&[400, 404]);
    let (d, input) = daemon(&format!(
        "http(url(\"http://127.0.0.1:{}/\") batch-lines(3) batch-timeout(300) time-reopen(1)\n\
           response-action(404 => retry))",
        rx.port
    ));
    send_tcp(input, (0..3).map(|i| sl(&format!("bad {i}"))));
    d.await_stat("destination.d#0.dropped", 3, WAIT);
    send_tcp(input, (0..3).map(|i| sl(&format!("good {i}"))));
    // 404 => retry: sent again, and taken.
    d.await_stat("destination.d#0.written", 3, WAIT);
    std::thread::sleep(Duration::from_millis(1500));
    let seen = rx.seen();
    let statuses: Vec<u16> = seen.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [400, 404, 200], "{seen:?}");
    assert!(d.log().contains("HTTP 400"), "{}", d.log());
}

/// splunk-hec-event(): HEC JSON events, newline-separated, to the event
/// endpoint with the token; splunk-hec-raw(): lines on a channel.
#[test]
fn splunk_hec_blocks_send_what_splunk_reads() {
    let rx = Receiver::start(&[]);
    let input2 = free_port();
    let d = Daemon::start(&format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(127.0.0.1) port({input2})); }};\n\
         destination d {{ splunk-hec-event(url(\"http://127.0.0.1:{p}\") token(\"T0K3N\") index(\"idx\") fields(\"dc=eu pid=${{PID}}\")\n\
           batch-lines(2) batch-timeout(300)); }};\n\
         destination d2 {{ splunk-hec-raw(url(\"http://127.0.0.1:{p}\") token(\"T0K3N\")\n\
           channel(\"0F3C7C43-0B2E-4C5A-9B1A-4E6B3A1C2D3E\") batch-lines(2) batch-timeout(300)); }};\n\
         log {{ source(s); destination(d); destination(d2); }};\n",
        p = rx.port
    ));
    send_tcp(
        input2,
        (0..3).map(|i| format!("<13>1 2024-03-05T06:07:08.123Z web1 app 42 - - hello {i}")),
    );
    assert!(
        wait_until(WAIT, || rx.taken().len() == 4),
        "{:?}\n{}",
        rx.seen(),
        d.log()
    );
    let seen = rx.taken();
    let events: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.target.contains("/event"))
        .collect();
    let raw: Vec<&Seen> = seen.iter().filter(|s| s.target.contains("/raw")).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(raw.len(), 2);
    for s in seen.iter() {
        assert_eq!(s.headers["authorization"], "Splunk T0K3N");
    }
    assert_eq!(
        events[0].target,
        "/services/collector/event/1.0?index=main&source=sluice&sourcetype=nix:syslog"
    );
    let lines: Vec<String> = events
        .iter()
        .flat_map(|s| s.text().lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert_eq!(
        lines[0],
        r#"{"time":1709618828.123,"index":"idx","host":"web1","fields":{"pid":"42","dc":"eu"},"event":"hello 0"}"#
    );
    assert_eq!(lines.len(), 3);
    assert_eq!(
        raw[0].headers["x-splunk-request-channel"],
        "0F3C7C43-0B2E-4C5A-9B1A-4E6B3A1C2D3E"
    );
    assert!(raw[0].target.starts_with(
        "/services/collector/raw/1.0?channel=0F3C7C43-0B2E-4C5A-9B1A-4E6B3A1C2D3E&index=main"
    ));
    assert_eq!(
        raw[0].text(),
        "2024-03-05T06:07:08+00:00 web1 app[42]: hello 0\n2024-03-05T06:07:08+00:00 web1 app[42]: hello 1"
    );
}

/// splunk-hec-event(use-ack(yes)): a batch counts as delivered only once
/// Splunk confirms it indexed; one it does not confirm in time is sent again.
#[test]
fn splunk_indexer_acknowledgement_holds_and_resends_a_batch() {
    let rx = Receiver::start(&[]);
    // Unconfirmed for longer than hec-ack-timeout(), then confirmed.
    rx.acks.lock().unwrap().extend([false; 14]);
    let (d, input) = daemon(&format!(
        "splunk-hec-event(url(\"http://127.0.0.1:{}\") token(\"T\") use-ack(yes)\n\
           channel(\"11111111-2222-3333-4444-555555555555\") batch-lines(5) batch-timeout(200)\n\
           hec-ack-interval(100ms) hec-ack-timeout(1s))",
        rx.port
    ));
    send_tcp(input, (0..5).map(|i| sl(&format!("acked {i}"))));
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        d.stat("destination.d#0.written"),
        0,
        "not delivered before Splunk confirms it"
    );
    d.await_stat("destination.d#0.written", 5, WAIT);
    let seen = rx.seen();
    let events: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.target.contains("/event"))
        .collect();
    let polls: Vec<&Seen> = seen.iter().filter(|s| s.target.contains("/ack")).collect();
    assert_eq!(events.len(), 2, "sent again after the timeout: {seen:?}");
    assert_eq!(events[0].body, events[1].body);
    assert!(polls.len() >= 15, "{}", polls.len());
    assert_eq!(polls[0].target, "/services/collector/ack");
    assert_eq!(
        polls[0].headers["x-splunk-request-channel"],
        "11111111-2222-3333-4444-555555555555"
    );
    assert_eq!(String::from_utf8_lossy(&polls[0].body), r#"{"acks":[0]}"#);
    assert_eq!(
        String::from_utf8_lossy(&polls.last().unwrap().body),
        r#"{"acks":[1]}"#
    );
    assert!(d.log().contains("did not confirm"), "{}", d.log());
}

/// Several url()s: a batch the first cannot take goes to the next.
#[test]
fn a_batch_moves_to_the_next_url_when_one_is_down() {
    let rx = Receiver::start(&[]);
    let down = free_port();
    let (d, input) = daemon(&format!(
        "http(url(\"http://127.0.0.1:{down}/\" \"http://127.0.0.1:{}/\") batch-lines(5) batch-timeout(200) time-reopen(1))",
        rx.port
    ));
    send_tcp(input, (0..20).map(|i| sl(&format!("lb {i}"))));
    d.await_stat("destination.d#0.written", 20, WAIT);
    let got = rx.messages();
    let mut want: Vec<String> = (0..20).map(|i| format!("lb {i}")).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(
        d.log().contains(&format!("127.0.0.1:{down}")),
        "{}",
        d.log()
    );
}

/// https:// endpoints: the server's certificate must come from tls(ca-file())
/// and name the host; sni(yes) sends the host name.
#[test]
fn https_verifies_the_server_and_sends_sni_when_asked() {
    if !require("openssl") {
        return;
    }
    let pki_dir = TempDir::new("http-pki");
    let pki = crate::tls::make_pki(pki_dir.path());
    let rx = Receiver::start_tls(&[], &pki.server_cert, &pki.server_key);
    let input = free_port();
    let ca = pki.ca.display();
    let rogue = pki.rogue_ca.display();
    let p = rx.port;
    let d = Daemon::start(&format!(
        "source s {{ network(ip(127.0.0.1) port({input})); }};\n\
         destination d_ok {{ http(url(\"https://localhost:{p}/ok\") tls(ca-file(\"{ca}\") sni(yes))); }};\n\
         destination d_plain {{ http(url(\"https://127.0.0.1:{p}/plain\") tls(ca-file(\"{ca}\"))); }};\n\
         destination d_rogue {{ http(url(\"https://localhost:{p}/rogue\") time-reopen(1) tls(ca-file(\"{rogue}\"))); }};\n\
         log {{ source(s); destination(d_ok); destination(d_plain); destination(d_rogue); }};\n"
    ));
    send_tcp(input, [sl("over tls")]);
    d.await_stat("destination.d_ok#0.written", 1, WAIT);
    d.await_stat("destination.d_plain#0.written", 1, WAIT);
    std::thread::sleep(Duration::from_millis(1500));
    let seen = rx.seen();
    let ok: Vec<&Seen> = seen.iter().filter(|s| s.target == "/ok").collect();
    let plain: Vec<&Seen> = seen.iter().filter(|s| s.target == "/plain").collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].text(), "over tls");
    assert_eq!(ok[0].sni.as_deref(), Some("localhost"));
    assert_eq!(plain.len(), 1);
    assert_eq!(
        plain[0].sni, None,
        "no SNI without sni(yes), and none for an address"
    );
    assert!(seen.iter().all(|s| s.target != "/rogue"), "{seen:?}");
    assert_eq!(d.stat("destination.d_rogue#0.written"), 0);
    assert!(d.log().contains("certificate"), "{}", d.log());
}

/// A server that takes requests and never answers: each times out after
/// timeout() and is sent again; once the server answers, everything is there
/// once. workers() requests go at once.
#[test]
fn a_server_that_hangs_times_out_and_loses_nothing() {
    let rx = Receiver::start(&[HANG, HANG]);
    let (d, input) = daemon(&format!(
        "http(url(\"http://127.0.0.1:{}/\") batch-lines(10) batch-timeout(200) timeout(1) workers(2) time-reopen(1))",
        rx.port
    ));
    send_tcp(input, (0..40).map(|i| sl(&format!("h{i}"))));
    d.await_stat("destination.d#0.written", 40, WAIT);
    let got = rx.messages();
    let mut want: Vec<String> = (0..40).map(|i| format!("h{i}")).collect();
    want.sort();
    assert_eq!(got, want, "each message once among the answered requests");
    assert_eq!(rx.seen().iter().filter(|s| s.status == HANG).count(), 2);
    assert!(d.log().contains("no complete response"), "{}", d.log());
}

/// workers(): that many requests in flight at once, and no more.
#[test]
fn workers_send_that_many_requests_at_once() {
    for workers in [1, 3] {
        let rx = Receiver::start(&[]);
        *rx.delay.lock().unwrap() = Duration::from_millis(300);
        let (d, input) = daemon(&format!(
            "http(url(\"http://127.0.0.1:{}/\") batch-lines(10) batch-timeout(100) workers({workers}))",
            rx.port
        ));
        send_tcp(input, (0..80).map(|i| sl(&format!("w{i}"))));
        d.await_stat("destination.d#0.written", 80, WAIT);
        let most = rx.busy.lock().unwrap().1;
        assert_eq!(
            most, workers,
            "requests in flight at once with workers({workers})"
        );
    }
}

/// A batch waiting for Splunk's acknowledgement does not hold a worker: the
/// next batches go out meanwhile.
#[test]
fn batches_waiting_for_splunk_acknowledgement_leave_the_workers_free() {
    let rx = Receiver::start(&[]);
    rx.acks.lock().unwrap().extend([false; 40]);
    let (d, input) = daemon(&format!(
        "splunk-hec-event(url(\"http://127.0.0.1:{}\") token(\"T\") use-ack(yes) workers(1)\n\
           channel(\"11111111-2222-3333-4444-555555555555\") batch-lines(5) batch-timeout(200)\n\
           hec-ack-interval(100ms) hec-ack-timeout(30s))",
        rx.port
    ));
    send_tcp(input, (0..20).map(|i| sl(&format!("free {i}"))));
    let events = || {
        rx.seen()
            .iter()
            .filter(|s| s.target.contains("/event"))
            .count()
    };
    assert!(wait_until(WAIT, || events() == 4), "{}", d.log());
    assert!(
        !rx.acks.lock().unwrap().is_empty(),
        "all four batches went out before any was confirmed"
    );
    d.await_stat("destination.d#0.written", 20, WAIT);
    // Splunk is asked about the waiting batches together, one request a
    // round, not one request per batch.
    let polls: Vec<String> = rx
        .seen()
        .iter()
        .filter(|s| s.target.contains("/ack"))
        .map(|s| String::from_utf8_lossy(&s.body).into_owned())
        .collect();
    assert!(
        polls.iter().any(|p| p == r#"{"acks":[0,1,2,3]}"#),
        "{polls:?}"
    );
    // One request per batch would take 40 to use up the unconfirmed answers.
    assert!(polls.len() <= 20, "{} polls: {polls:?}", polls.len());
}

/// A 503 with Retry-After: the batch waits that long before it goes again.
#[test]
fn retry_after_is_honoured() {
    let rx = Receiver::start(&[503]);
    *rx.retry_after.lock().unwrap() = Some(2);
    let (d, input) = daemon(&format!(
        "http(url(\"http://127.0.0.1:{}/\") batch-lines(5) batch-timeout(100) time-reopen(10))",
        rx.port
    ));
    send_tcp(input, (0..5).map(|i| sl(&format!("later {i}"))));
    d.await_stat("destination.d#0.written", 5, WAIT);
    let seen = rx.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let waited = seen[1].at - seen[0].at;
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}"
    );
}
