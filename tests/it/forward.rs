//! Forwarding with `syslog()` and `network()`: the bytes Sluice puts on the
//! wire are syslog-ng 3.38's for the same input, syslog-ng as the receiving
//! SIEM parses every message once with its fields intact (TCP, UDP, TLS),
//! TLS verifies whom it should, and a receiver that restarts, or a primary
//! server that fails, loses nothing.

use crate::compat::SyslogNg;
use crate::harness::*;
use crate::tls::make_pki;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Everything received on a loopback port: the bytes of every TCP connection
/// in arrival order, or every UDP datagram.
#[derive(Clone, Default)]
struct Capture {
    bytes: Arc<Mutex<Vec<u8>>>,
    datagrams: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Where each TCP connection came from.
    peers: Arc<Mutex<Vec<std::net::SocketAddr>>>,
}

impl Capture {
    fn tcp(port: u16) -> Capture {
        Capture::tcp_on(("127.0.0.1", port))
    }

    fn tcp_on(addr: (&str, u16)) -> Capture {
        let c = Capture::default();
        let listener = TcpListener::bind(addr).expect("bind capture");
        let (bytes, peers) = (c.bytes.clone(), c.peers.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                if let Ok(peer) = conn.peer_addr() {
                    peers.lock().unwrap().push(peer);
                }
                let bytes = bytes.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        bytes.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        c
    }

    fn udp(port: u16) -> Capture {
        let c = Capture::default();
        let socket = UdpSocket::bind(("127.0.0.1", port)).expect("bind capture");
        let datagrams = c.datagrams.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = socket.recv(&mut buf) {
                datagrams.lock().unwrap().push(buf[..n].to_vec());
            }
        });
        c
    }

    fn stream(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }

    fn datagrams(&self) -> Vec<Vec<u8>> {
        self.datagrams.lock().unwrap().clone()
    }

    /// Everything received, as one text (datagrams one after another).
    fn text(&self) -> String {
        let mut all = self.stream();
        for d in self.datagrams() {
            all.extend_from_slice(&d);
        }
        String::from_utf8_lossy(&all).into_owned()
    }
}

/// Octet-counted frames (RFC 6587), as both daemons' syslog sources read them.
fn octet_counted(frames: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        out.extend_from_slice(format!("{} {f}", f.len()).as_bytes());
    }
    out
}

/// Messages whose every field reaches the wire: RFC 5424 with and without
/// structured data, escapes, nil fields and a BOM; RFC 3164 with and without
/// a PID; a value with a space where RFC 5424 allows none; line breaks.
const CORPUS: &[&str] = &[
    "<165>1 2024-03-05T06:07:08.123+01:00 myhost myapp 1234 ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"App\"] hello",
    "<13>1 2024-03-05T06:07:09Z h2 - - - - no bom, no pid",
    "<14>Mar  5 06:07:10 bsdhost prog[42]: bsd message",
    "<14>Mar  5 06:07:12 bsdhost just text no program",
    "<13>1 2026-11-23T14:07:17.123456+05:30 h app 12 ID1 [a b=\"c\\\"d\" e=\"f\\\\g\" h=\"i\\]j\"] escapes",
    "<13>1 2026-11-23T14:07:17Z h app 12 ID1 - \u{feff}bom message",
    "<13>1 2026-11-23T14:07:17Z h app 12 ID1 [x@1 a=\"1\"][y@2 b=\"2\"] two elements",
    "<0>1 2026-11-23T14:07:17Z h - - - - emerg kern",
    "<191>Nov 23 14:07:17 host app: local7.debug",
    "<13>1 2026-11-23T14:07:17Z h app 12 ID1 - line one\nline two\r\nthree\u{0}four",
    "<13>1 2026-11-23T14:07:17Z h app 12 ID1 -",
];

/// Destinations both daemons get, by the name of their capture; `PORT`
/// stands for the capture's port.
const FORWARDS: &[(&str, &str)] = &[
    ("legacy-tcp", "tcp(\"127.0.0.1\" port(PORT))"),
    (
        "syslog-tcp",
        "syslog(\"127.0.0.1\" transport(\"tcp\") port(PORT))",
    ),
    (
        "syslog-udp",
        "syslog(\"127.0.0.1\" transport(\"udp\") port(PORT))",
    ),
    (
        "network-tcp",
        "network(\"127.0.0.1\" transport(\"tcp\") port(PORT))",
    ),
    (
        "network-udp",
        "network(\"127.0.0.1\" transport(\"udp\") port(PORT))",
    ),
    (
        "network-5424",
        "network(\"127.0.0.1\" port(PORT) flags(syslog-protocol))",
    ),
    (
        "syslog-template",
        "syslog(\"127.0.0.1\" port(PORT) template(\"T:${MSG} ${PROGRAM}\") frac-digits(3) time-zone(\"+02:00\"))",
    ),
    (
        "network-template",
        "network(\"127.0.0.1\" port(PORT) template(\"${ISODATE} ${HOST} ${MSGHDR}${MSG}\\n\"))",
    ),
    (
        "network-one-line",
        "network(\"127.0.0.1\" port(PORT) flags(no-multi-line) truncate-size(60) frac-digits(2))",
    ),
];

/// The same input, forwarded by syslog-ng 3.38 and by Sluice with the same
/// destinations, gives the same bytes on every wire.
#[test]
fn forwarded_bytes_are_syslog_ngs_bytes() {
    if !require("syslog-ng") {
        return;
    }
    let sentinel = "<13>1 2026-11-23T14:07:17Z h app - - - SENTINEL";
    let mut frames: Vec<&str> = CORPUS.to_vec();
    frames.push(sentinel);
    let input = octet_counted(&frames);

    let mut captures: HashMap<(&str, &str), Capture> = HashMap::new();
    let mut configs = Vec::new();
    for who in ["syslog-ng", "sluice"] {
        let mut dests = String::new();
        let mut names = Vec::new();
        for (name, text) in FORWARDS {
            let port = free_port();
            let cap = if name.ends_with("udp") {
                Capture::udp(port)
            } else {
                Capture::tcp(port)
            };
            captures.insert((who, name), cap);
            let id = name.replace('-', "_");
            dests.push_str(&format!(
                "destination d_{id} {{ {}; }};\n",
                text.replace("PORT", &port.to_string())
            ));
            names.push(format!("destination(d_{id});"));
        }
        let port = free_port();
        configs.push((port, dests, names.join(" ")));
    }

    let (ng_port, ng_dests, ng_log) = &configs[0];
    let ng = SyslogNg::start(
        &format!(
            "@version: 3.38\n\
             options {{ keep-hostname(yes); use-dns(no); recv-time-zone(\"UTC\"); time-zone(\"UTC\"); }};\n\
             source s {{ syslog(ip(127.0.0.1) port({ng_port}) transport(\"tcp\")); }};\n\
             {ng_dests}\
             log {{ source(s); {ng_log} }};\n"
        ),
        *ng_port,
    );
    let (sl_port, sl_dests, sl_log) = &configs[1];
    let sluice = Daemon::start(&format!(
        "options {{ keep-hostname(yes); use-dns(no); recv-time-zone(\"UTC\"); time-zone(\"UTC\"); }};\n\
         source s {{ network(ip(127.0.0.1) port({sl_port}) transport(\"tcp\")); }};\n\
         {sl_dests}\
         log {{ source(s); {sl_log} }};\n"
    ));
    for port in [*ng_port, *sl_port] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&input).unwrap();
    }
    for (name, _) in FORWARDS {
        for who in ["syslog-ng", "sluice"] {
            let cap = &captures[&(who, *name)];
            let arrived = wait_until(WAIT, || cap.text().contains("SENTINEL"));
            assert!(
                arrived,
                "{who} {name}: the sentinel never arrived; got {:?}\nsyslog-ng: {}\nsluice: {}",
                cap.text(),
                ng.stderr(),
                sluice.log()
            );
        }
        let (ng_cap, sl_cap) = (
            &captures[&("syslog-ng", *name)],
            &captures[&("sluice", *name)],
        );
        if name.ends_with("udp") {
            let (a, b) = (ng_cap.datagrams(), sl_cap.datagrams());
            assert_eq!(a.len(), frames.len(), "{name}: syslog-ng's datagrams");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(
                    String::from_utf8_lossy(y),
                    String::from_utf8_lossy(x),
                    "{name}: a datagram differs"
                );
            }
            assert_eq!(a, b, "{name}");
        } else {
            let (a, b) = (ng_cap.stream(), sl_cap.stream());
            assert_eq!(
                String::from_utf8_lossy(&b),
                String::from_utf8_lossy(&a),
                "{name}: Sluice's bytes (left) differ from syslog-ng's (right)"
            );
        }
    }
}

/// A message per line, numbered, with fields that vary by number.
fn numbered(n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let pri = (i % 24) * 8 + (i % 8);
            format!(
                "<{pri}>1 2026-11-23T14:07:17.{:03}Z host{} app{} {} ID{} [seq@1 n=\"{i}\"] {tag} message {i} of {n}",
                i % 1000,
                i % 7,
                i % 5,
                1000 + i,
                i % 3
            )
        })
        .collect()
}

/// Sends `lines` to `port` in small paced bursts (so nothing overruns a UDP
/// receive buffer downstream).
fn send_paced(port: u16, lines: &[String]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    for chunk in lines.chunks(20) {
        let mut buf = String::new();
        for l in chunk {
            buf.push_str(l);
            buf.push('\n');
        }
        s.write_all(buf.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(4));
    }
}

/// The receiver's lines of `source`, each message number counted.
fn received(lines: &[String], source: &str) -> HashMap<usize, (usize, String)> {
    let mut seen: HashMap<usize, (usize, String)> = HashMap::new();
    for l in lines
        .iter()
        .filter(|l| l.starts_with(&format!("{source}|")))
    {
        let n = l
            .split(" message ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a numbered message: {l}"));
        let e = seen.entry(n).or_insert((0, l.clone()));
        e.0 += 1;
    }
    seen
}

/// What syslog-ng 3.38 should write for message `i` of `numbered`.
fn expected(source: &str, i: usize, n: usize) -> String {
    let pri = (i % 24) * 8 + (i % 8);
    format!(
        "{source}|{pri}|2026-11-23T14:07:17+00:00|host{}|app{}|{}|ID{}|[seq@1 n=\"{i}\"]|fwd message {i} of {n}",
        i % 7,
        i % 5,
        1000 + i,
        i % 3
    )
}

/// syslog-ng as the SIEM: whatever Sluice forwards over TCP, UDP and TLS,
/// syslog-ng's own parser reads with every field intact, each message once.
#[test]
fn syslog_ng_receives_every_message_once_with_its_fields() {
    if !require("syslog-ng") || !require("openssl") {
        return;
    }
    let pki_dir = TempDir::new("fwd-pki");
    let pki = make_pki(pki_dir.path());
    let (tcp, udp, tls) = (free_port(), free_port(), free_port());
    let ng = SyslogNg::start(
        &format!(
            "@version: 3.38\n\
             options {{ keep-hostname(yes); use-dns(no); }};\n\
             source s_tcp {{ syslog(transport(tcp) ip(127.0.0.1) port({tcp})); }};\n\
             source s_udp {{ syslog(transport(udp) ip(127.0.0.1) port({udp}) so-rcvbuf(4194304)); }};\n\
             source s_tls {{ syslog(transport(\"tls\") ip(127.0.0.1) port({tls})\n\
               tls(key-file(\"{}\") cert-file(\"{}\") ca-file(\"{}\") peer-verify(required-trusted))); }};\n\
             destination d {{ file(\"OUT\" template(\"${{SOURCE}}|$PRI|$ISODATE|$HOST|$PROGRAM|$PID|$MSGID|$SDATA|$MSG\\n\")); }};\n\
             log {{ source(s_tcp); source(s_udp); source(s_tls); destination(d); }};\n",
            pki.server_key.display(),
            pki.server_cert.display(),
            pki.ca.display()
        ),
        tcp,
    );
    let input = free_port();
    let sluice = Daemon::start(&format!(
        "source s {{ network(ip(127.0.0.1) port({input})); }};\n\
         destination d_tcp {{ syslog(\"127.0.0.1\" transport(\"tcp\") port({tcp}) time-reopen(1)); }};\n\
         destination d_udp {{ syslog(\"127.0.0.1\" transport(\"udp\") port({udp})); }};\n\
         destination d_tls {{ syslog(\"127.0.0.1\" transport(\"tls\") port({tls}) time-reopen(1)\n\
           tls(ca-file(\"{}\") cert-file(\"{}\") key-file(\"{}\"))); }};\n\
         log {{ source(s); destination(d_tcp); destination(d_udp); destination(d_tls); }};\n",
        pki.ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    ));
    let n = 1500;
    send_paced(input, &numbered(n, "fwd"));
    let out = ng.out();
    let lines = wait_lines(&out, 3 * n, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    let lines = if lines.len() >= 3 * n {
        lines
    } else {
        wait_lines(&out, 3 * n, Duration::ZERO)
    };
    for source in ["s_tcp", "s_udp", "s_tls"] {
        let seen = received(&lines, source);
        let missing: Vec<usize> = (0..n).filter(|i| !seen.contains_key(i)).collect();
        assert!(
            missing.is_empty(),
            "{source}: {} of {n} messages missing, first {:?}\nsluice: {}\nsyslog-ng: {}",
            missing.len(),
            &missing[..missing.len().min(10)],
            sluice.log(),
            ng.stderr()
        );
        for i in 0..n {
            let (count, line) = &seen[&i];
            assert_eq!(*count, 1, "{source}: message {i} arrived {count} times");
            assert_eq!(line, &expected(source, i, n), "{source}: message {i}");
        }
    }
}

/// TLS checks whom it should: a receiver that demands client certificates
/// takes the one its CA signed and no other (nor none), and a server whose
/// certificate names another host is refused unless verification is off.
#[test]
fn tls_verifies_the_server_and_presents_the_client_certificate() {
    if !require("syslog-ng") || !require("openssl") {
        return;
    }
    let pki_dir = TempDir::new("fwd-pki");
    let pki = make_pki(pki_dir.path());
    let (mutual, elsewhere) = (free_port(), free_port());
    let ng = SyslogNg::start(
        &format!(
            "@version: 3.38\n\
             options {{ keep-hostname(yes); use-dns(no); }};\n\
             source s_mutual {{ syslog(transport(\"tls\") ip(127.0.0.1) port({mutual})\n\
               tls(key-file(\"{}\") cert-file(\"{}\") ca-file(\"{}\") peer-verify(required-trusted))); }};\n\
             source s_elsewhere {{ syslog(transport(\"tls\") ip(127.0.0.1) port({elsewhere})\n\
               tls(key-file(\"{}\") cert-file(\"{}\") peer-verify(optional-untrusted))); }};\n\
             destination d {{ file(\"OUT\" template(\"${{SOURCE}} $MSG\\n\")); }};\n\
             log {{ source(s_mutual); source(s_elsewhere); destination(d); }};\n",
            pki.server_key.display(),
            pki.server_cert.display(),
            pki.ca.display(),
            pki.elsewhere_key.display(),
            pki.elsewhere_cert.display(),
        ),
        mutual,
    );
    let input = free_port();
    let ca = pki.ca.display();
    let dest = |name: &str, port: u16, tls: String| {
        format!(
            "destination {name} {{ syslog(\"127.0.0.1\" transport(\"tls\") port({port}) time-reopen(1) template(\"{name} ${{MSG}}\") tls({tls})); }};\n"
        )
    };
    let config = [
        format!("@include \"scl.conf\"\nsource s {{ network(ip(127.0.0.1) port({input})); }};\n"),
        // The SCL block, as a user would write it.
        format!(
            "destination d_trusted {{ syslog-tls(host(\"127.0.0.1\") port({mutual}) ca-file(\"{ca}\")\n\
               cert-file(\"{}\") key-file(\"{}\") time-reopen(1) template(\"d_trusted ${{MSG}}\")); }};\n",
            pki.client_cert.display(),
            pki.client_key.display()
        ),
        dest("d_anonymous", mutual, format!("ca-file(\"{ca}\")")),
        dest(
            "d_rogue",
            mutual,
            format!(
                "ca-file(\"{ca}\") cert-file(\"{}\") key-file(\"{}\")",
                pki.rogue_cert.display(),
                pki.rogue_key.display()
            ),
        ),
        dest("d_wrong_name", elsewhere, format!("ca-file(\"{ca}\")")),
        dest(
            "d_unverified",
            elsewhere,
            "peer-verify(optional-untrusted)".into(),
        ),
        "log { source(s); destination(d_trusted); destination(d_anonymous); destination(d_rogue); destination(d_wrong_name); destination(d_unverified); };\n".into(),
    ]
    .concat();
    let sluice = Daemon::start(&config);
    send_tcp(input, [sl("hello")]);
    let out = ng.out();
    wait_lines(&out, 2, WAIT);
    // Time for a wrongly admitted one to arrive too.
    std::thread::sleep(Duration::from_secs(2));
    let mut got = lines(&out);
    got.sort();
    assert_eq!(
        got,
        ["s_elsewhere d_unverified hello", "s_mutual d_trusted hello"],
        "first seen: {got:?}\nsluice: {}\nsyslog-ng: {}",
        sluice.log(),
        ng.stderr()
    );
    let log = sluice.log();
    assert!(
        log.contains("d_wrong_name") && log.contains("certificate not valid for name"),
        "the wrong host name is reported: {log}"
    );
}

/// A syslog-ng receiver on TCP `port` that writes each MSG to `out`.
fn receiver_config(port: u16, out: &std::path::Path) -> String {
    format!(
        "@version: 3.38\n\
         options {{ keep-hostname(yes); use-dns(no); }};\n\
         source s {{ syslog(transport(tcp) ip(127.0.0.1) port({port})); }};\n\
         destination d {{ file(\"{}\" template(\"$MSG\\n\")); }};\n\
         log {{ source(s); destination(d); }};\n",
        out.display()
    )
}

/// A receiver that dies in the middle of a stream and comes back loses
/// nothing: what was written after it died is sent again on the next
/// connection.
#[test]
fn a_receiver_restarted_mid_stream_loses_nothing() {
    if !require("syslog-ng") {
        return;
    }
    let dir = TempDir::new("fwd-restart");
    let out = dir.join("out.log");
    let port = free_port();
    let receiver = receiver_config(port, &out);
    let ng = SyslogNg::start(&receiver, port);
    let input = free_port();
    let sluice = Daemon::start(&format!(
        "source s {{ network(ip(127.0.0.1) port({input})); }};\n\
         destination d {{ syslog(\"127.0.0.1\" port({port}) time-reopen(1)); }};\n\
         log {{ source(s); destination(d); }};\n"
    ));
    let n = 3000;
    let msgs: Vec<String> = (0..n).map(|i| sl(&format!("m{i}"))).collect();
    let sender = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", input)).unwrap();
        for m in msgs {
            s.write_all(format!("{m}\n").as_bytes()).unwrap();
            std::thread::sleep(Duration::from_micros(400));
        }
    });
    // Three restarts: each is a chance for a write to meet a dead peer.
    // (Stopped as a service is, with SIGTERM: killed, syslog-ng loses what
    // it read and had not written, which no sender can help.)
    let mut ng = ng;
    for k in 1..=3 {
        wait_until(WAIT, || lines(&out).len() >= k * n / 5);
        ng.stop();
        std::thread::sleep(Duration::from_millis(300));
        ng = SyslogNg::start(&receiver, port);
    }
    sender.join().unwrap();
    // Duplicates are allowed (at-least-once): wait for every message.
    let missing = || {
        let got = lines(&out);
        let seen: std::collections::HashSet<&str> = got.iter().map(String::as_str).collect();
        (0..n)
            .filter(|i| !seen.contains(format!("m{i}").as_str()))
            .collect::<Vec<usize>>()
    };
    wait_until(WAIT, || missing().is_empty());
    let missing = missing();
    assert!(
        missing.is_empty(),
        "{} of {n} lost, first {:?}\nsluice: {}\nsyslog-ng: {}",
        missing.len(),
        &missing[..missing.len().min(10)],
        sluice.log(),
        ng.stderr()
    );
    assert!(
        sluice.log().contains("connection lost"),
        "the restart was noticed: {}",
        sluice.log()
    );
}

/// With the primary server down, messages go to the failover server; once the
/// primary answers its probes again, they go back to it. (Failover servers
/// share the destination's port, so the backup is the IPv6 loopback.)
#[test]
fn failover_and_failback() {
    let port = free_port();
    let backup = Capture::tcp_on(("::1", port));
    let input = free_port();
    let sluice = Daemon::start(&format!(
        "source s {{ network(ip(127.0.0.1) port({input})); }};\n\
         destination d {{ network(\"127.0.0.1\" port({port}) time-reopen(1) template(\"$MSG\\n\")\n\
           failover(servers(\"::1\") failback(tcp-probe-interval(1) successful-probes-required(2)))); }};\n\
         log {{ source(s); destination(d); }};\n"
    ));
    send_tcp(input, (0..10).map(|i| sl(&format!("first {i}"))));
    assert!(
        wait_until(WAIT, || backup.text().matches("first").count() == 10),
        "the backup got {:?}\n{}",
        backup.text(),
        sluice.log()
    );
    let primary = Capture::tcp_on(("127.0.0.1", port));
    assert!(
        wait_until(WAIT, || sluice.log().contains("primary server is back")),
        "{}",
        sluice.log()
    );
    send_tcp(input, (0..10).map(|i| sl(&format!("second {i}"))));
    assert!(
        wait_until(WAIT, || primary.text().matches("second").count() == 10),
        "the primary got {:?}\n{}",
        primary.text(),
        sluice.log()
    );
    assert!(!backup.text().contains("second"), "{}", backup.text());
    assert!(!primary.text().contains("first"), "{}", primary.text());
}

/// With `disk-buffer(reliable(yes))`, what Sluice acknowledged survives kill
/// -9: messages taken while the receiver was down arrive after a restart,
/// once, and what the receiver already had is not sent again.
#[test]
fn a_disk_buffer_survives_kill_9() {
    if !require("syslog-ng") {
        return;
    }
    let dir = TempDir::new("fwd-disk");
    let out = dir.join("out.log");
    let port = free_port();
    let receiver = receiver_config(port, &out);
    let ng = SyslogNg::start(&receiver, port);
    let input = free_port();
    let config = format!(
        "source s {{ network(ip(127.0.0.1) port({input})); }};\n\
         destination d {{ syslog(\"127.0.0.1\" port({port}) time-reopen(1)\n\
           disk-buffer(reliable(yes) disk-buf-size(10MiB))); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n"
    );
    let sluice = Daemon::start(&config);
    let n = 1000;
    send_tcp(input, (0..n).map(|i| sl(&format!("before {i}"))));
    wait_lines(&out, n, WAIT);
    // Past the horizon in which a receiver's unread data is sent again.
    std::thread::sleep(Duration::from_millis(1500));
    ng.stop();
    send_tcp(input, (0..n).map(|i| sl(&format!("after {i}"))));
    // Acknowledged: in the disk buffer, synced.
    sluice.await_stat("destination.d#0.written", 2 * n as u64, WAIT);
    std::thread::sleep(Duration::from_millis(600));
    let state = sluice.crash();
    let _ng = SyslogNg::start(&receiver, port);
    let sluice = Daemon::start_in(state, &config).unwrap_or_else(|e| panic!("{e}"));
    let got = wait_lines(&out, 2 * n, WAIT);
    std::thread::sleep(Duration::from_millis(500));
    let got = if got.len() >= 2 * n { lines(&out) } else { got };
    let mut count: HashMap<&str, usize> = HashMap::new();
    for l in &got {
        *count.entry(l.as_str()).or_default() += 1;
    }
    for phase in ["before", "after"] {
        for i in 0..n {
            let m = format!("{phase} {i}");
            assert_eq!(
                count.get(m.as_str()).copied().unwrap_or(0),
                1,
                "{m}: {} lines in all\n{}",
                got.len(),
                sluice.log()
            );
        }
    }
}

/// A server that accepts and never reads holds back its own destination
/// only: the file destination beside it gets everything, and a stop ends in
/// time, reporting what was not sent.
#[test]
fn a_server_that_never_reads_wedges_nothing_else() {
    let port = free_port();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let held = std::thread::spawn(move || {
        // Accepts, then sits on the connection without reading.
        let conn = listener.accept().map(|(c, _)| c);
        std::thread::sleep(Duration::from_secs(20));
        drop(conn);
    });
    let input = free_port();
    let dir = TempDir::new("fwd-stuck");
    let out = dir.join("out.log");
    let mut sluice = Daemon::start(&format!(
        "source s {{ network(ip(127.0.0.1) port({input})); }};\n\
         destination d_stuck {{ network(\"127.0.0.1\" port({port}) log-fifo-size(1000)); }};\n\
         destination d_file {{ file(\"{}\" template(\"$MSG\\n\")); }};\n\
         log {{ source(s); destination(d_stuck); destination(d_file); }};\n",
        out.display()
    ));
    // Far more than the socket buffers and the outbox hold.
    let n = 100_000;
    let pad = "x".repeat(150);
    send_tcp(input, (0..n).map(|i| sl(&format!("{i} {pad}"))));
    let got = wait_lines(&out, n, WAIT);
    assert_eq!(got.len(), n, "{}", sluice.log());
    let started = std::time::Instant::now();
    let status = sluice.terminate();
    assert!(status.success(), "{status:?}\n{}", sluice.log());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the stop took {:?}",
        started.elapsed()
    );
    assert!(
        sluice
            .log()
            .contains("stopping before the server took every message"),
        "{}",
        sluice.log()
    );
    drop(held);
}

/// ip-protocol() keeps a destination to one address family: an IPv6 address
/// is reached with ip-protocol(6) and refused, with a clear error, by
/// ip-protocol(4).
#[test]
fn ip_protocol_keeps_to_its_family() {
    let port = free_port();
    let cap = Capture::tcp_on(("::1", port));
    let input = free_port();
    let sluice = Daemon::start(&format!(
        "source s {{ network(ip(127.0.0.1) port({input})); }};\n\
         destination d6 {{ network(\"::1\" port({port}) ip-protocol(6) template(\"six $MSG\\n\")); }};\n\
         destination d4 {{ network(\"::1\" port({port}) ip-protocol(4) template(\"four $MSG\\n\")); }};\n\
         log {{ source(s); destination(d6); destination(d4); }};\n"
    ));
    send_tcp(input, [sl("family")]);
    assert!(
        wait_until(WAIT, || cap.text().contains("six family")),
        "{}",
        sluice.log()
    );
    assert!(
        wait_until(WAIT, || sluice.log().contains("::1 has no IPv4 address")),
        "{}",
        sluice.log()
    );
    assert!(!cap.text().contains("four"), "{}", cap.text());
}

/// localip() and localport(): the connection comes from that address and port.
#[test]
fn localip_and_localport_set_where_the_connection_comes_from() {
    let port = free_port();
    let cap = Capture::tcp(port);
    let (input, local) = (free_port(), free_port());
    let sluice = Daemon::start(&format!(
        "source s {{ network(ip(127.0.0.1) port({input})); }};\n\
         destination d {{ network(\"127.0.0.1\" port({port}) localip(\"127.0.0.1\") localport({local}) template(\"$MSG\\n\")); }};\n\
         log {{ source(s); destination(d); }};\n"
    ));
    send_tcp(input, [sl("from here")]);
    assert!(
        wait_until(WAIT, || cap.text().contains("from here")),
        "{}",
        sluice.log()
    );
    let peers = cap.peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 1, "{peers:?}");
    assert_eq!(
        peers[0],
        std::net::SocketAddr::from(([127, 0, 0, 1], local))
    );
}

/// so-keepalive() (on by default) with the tcp-keepalive-*() timings: the
/// kernel probes a server that vanished without closing.
#[test]
fn forwarding_connections_have_keepalive() {
    if !require("ss") {
        return;
    }
    for (opts, want) in [
        ("tcp-keepalive-time(30)", true),
        ("so-keepalive(no)", false),
    ] {
        let shown = connection_state(opts, "-tnoH");
        assert_eq!(shown.contains("timer:(keepalive"), want, "{opts}: {shown}");
    }
}

/// close-on-input(): a server that talks back is taken for a broken one and
/// the connection is made again (the default); with close-on-input(no) it is
/// kept.
#[test]
fn close_on_input_reconnects_to_a_server_that_talks() {
    for (opts, reconnects) in [("", true), ("close-on-input(no)", false)] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(Mutex::new(0usize));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                *count.lock().unwrap() += 1;
                let _ = conn.write_all(b"hello from the server\n");
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                });
            }
        });
        let input = free_port();
        let sluice = Daemon::start(&format!(
            "source s {{ network(ip(127.0.0.1) port({input})); }};\n\
             destination d {{ syslog(\"127.0.0.1\" port({port}) time-reopen(1) {opts}); }};\n\
             log {{ source(s); destination(d); }};\n"
        ));
        if reconnects {
            assert!(
                wait_until(WAIT, || *accepted.lock().unwrap() >= 2),
                "{}",
                sluice.log()
            );
            assert!(sluice.log().contains("close-on-input"), "{}", sluice.log());
        } else {
            std::thread::sleep(Duration::from_secs(2));
            assert_eq!(*accepted.lock().unwrap(), 1, "{}", sluice.log());
        }
    }
}

/// so-sndbuf(): the kernel's send buffer of the connection is set (Linux
/// doubles what was asked for, for its own bookkeeping).
#[test]
fn so_sndbuf_sets_the_send_buffer() {
    if !require("ss") {
        return;
    }
    let shown = connection_state("so-sndbuf(65536)", "-tmnH");
    assert!(shown.contains(",tb131072,"), "{shown}");
}

/// What `ss` (with `flags`) shows of the connection a syslog() destination
/// with `opts` makes to a server of the test's own.
fn connection_state(opts: &str, flags: &str) -> String {
    let port = free_port();
    let _cap = Capture::tcp(port);
    let input = free_port();
    let _d = Daemon::start(&format!(
        "source s {{ network(ip(127.0.0.1) port({input})); }};\n\
         destination d {{ syslog(\"127.0.0.1\" port({port}) {opts}); }};\n\
         log {{ source(s); destination(d); }};\n"
    ));
    let mut shown = String::new();
    let seen = wait_until(WAIT, || {
        let o = std::process::Command::new("ss")
            .args([flags, "state", "established"])
            .arg(format!("( dport = :{port} )"))
            .output()
            .unwrap();
        shown = String::from_utf8_lossy(&o.stdout).into_owned();
        !shown.trim().is_empty()
    });
    assert!(seen, "ss shows no connection to {port}");
    shown
}
