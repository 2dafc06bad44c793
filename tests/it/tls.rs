//! network(transport("tls")): real TLS clients (syslog-ng's loggen, OpenSSL's
//! s_client) against certificates made by the openssl tool for each test.

use crate::harness::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// A CA, and a server and a client certificate it signed; and an unrelated
/// "rogue" CA with a client certificate of its own. All PEM files.
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub rogue_ca: PathBuf,
    pub rogue_cert: PathBuf,
    pub rogue_key: PathBuf,
    /// A server certificate the CA signed for another host (`elsewhere.example`).
    pub elsewhere_cert: PathBuf,
    pub elsewhere_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const EC: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

fn make_ca(dir: &Path, name: &str) {
    let subj = format!("/CN=sluice test {name}");
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    let mut args = vec!["req", "-x509", "-days", "2", "-subj", &subj];
    args.extend(EC);
    args.extend(["-keyout", &key, "-out", &pem]);
    openssl(dir, &args);
}

/// `name.pem` and `name.key`, signed by CA `ca`, for `usage` (serverAuth or
/// clientAuth), naming 127.0.0.1 and localhost.
fn make_cert(dir: &Path, ca: &str, name: &str, usage: &str) {
    make_cert_for(dir, ca, name, usage, "IP:127.0.0.1,DNS:localhost")
}

/// As [`make_cert`], naming `san` (`DNS:host,IP:address`).
fn make_cert_for(dir: &Path, ca: &str, name: &str, usage: &str, san: &str) {
    let subj = format!("/CN=sluice test {name}");
    let (key, csr, pem, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    let mut req = vec!["req", "-subj", &subj];
    req.extend(EC);
    req.extend(["-keyout", &key, "-out", &csr]);
    openssl(dir, &req);
    std::fs::write(
        dir.join(&ext),
        format!("subjectAltName={san}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n"),
    )
    .unwrap();
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-extfile",
            &ext,
            "-out",
            &pem,
        ],
    );
}

pub fn make_pki(dir: &Path) -> Pki {
    make_ca(dir, "ca");
    make_cert(dir, "ca", "server", "serverAuth");
    make_cert(dir, "ca", "client", "clientAuth");
    make_ca(dir, "rogue-ca");
    make_cert(dir, "rogue-ca", "rogue", "clientAuth");
    make_cert_for(
        dir,
        "ca",
        "elsewhere",
        "serverAuth",
        "DNS:elsewhere.example",
    );
    Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        rogue_ca: dir.join("rogue-ca.pem"),
        rogue_cert: dir.join("rogue.pem"),
        rogue_key: dir.join("rogue.key"),
        elsewhere_cert: dir.join("elsewhere.pem"),
        elsewhere_key: dir.join("elsewhere.key"),
    }
}

/// Which certificate a test client presents.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Client {
    /// One the server's CA signed.
    Trusted,
    /// One an unrelated CA signed.
    Rogue,
    /// None at all.
    Anonymous,
}

fn tls_config(port: u16, pki: &Pki, verify: &str) -> String {
    format!(
        "source s {{ network(ip(\"127.0.0.1\") port({port}) transport(\"tls\") max-connections(20)\n\
             tls(key-file(\"{}\") cert-file(\"{}\") ca-file(\"{}\") peer-verify({verify}))); }};\n\
         destination d {{ file(\"out.log\" template(\"${{MESSAGE}}\\n\")); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n",
        pki.server_key.display(),
        pki.server_cert.display(),
        pki.ca.display()
    )
}

/// Sends `lines` with `openssl s_client` as `who`; returns whether s_client
/// reported success.
fn s_client(port: u16, pki: &Pki, who: Client, lines: &[String]) -> bool {
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr, "-quiet", "-no_ign_eof"])
        .args(["-verify_return_error", "-CAfile"])
        .arg(&pki.ca);
    let pair = match who {
        Client::Trusted => Some((&pki.client_cert, &pki.client_key)),
        Client::Rogue => Some((&pki.rogue_cert, &pki.rogue_key)),
        Client::Anonymous => None,
    };
    if let Some((cert, key)) = pair {
        cmd.arg("-cert").arg(cert).arg("-key").arg(key);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        // A refused client may close the pipe early; that is the point.
        let _ = writeln!(stdin, "{l}");
    }
    drop(stdin);
    child.wait().unwrap().success()
}

/// Each client in turn sends one message named after it; returns the names
/// that arrived, once the server has answered for all of them (delivered or
/// counted as a failed handshake).
fn admitted(d: &Daemon, port: u16, pki: &Pki, clients: &[Client]) -> Vec<String> {
    let before = d.stat("source.s#0.received") + d.stat("source.s#0.tls_failures");
    for c in clients {
        s_client(port, pki, *c, &[sl(&format!("{c:?}"))]);
    }
    let n = clients.len() as u64;
    assert!(
        wait_until(WAIT, || d.stat("source.s#0.received")
            + d.stat("source.s#0.tls_failures")
            >= before + n),
        "{}",
        d.log()
    );
    wait_until(Duration::from_secs(5), || {
        lines(&d.dir.join("out.log")).len() as u64 >= d.stat("source.s#0.received")
    });
    lines(&d.dir.join("out.log"))
}

/// Every peer-verify() mode against a trusted, a rogue and an anonymous client.
#[test]
fn peer_verify_modes_admit_exactly_whom_they_should() {
    if !require("openssl") {
        return;
    }
    use Client::*;
    for (mode, want) in [
        ("required-trusted", vec![Trusted]),
        ("optional-trusted", vec![Trusted, Anonymous]),
        ("required-untrusted", vec![Trusted, Rogue]),
        ("optional-untrusted", vec![Trusted, Rogue, Anonymous]),
        ("none", vec![Trusted, Rogue, Anonymous]),
    ] {
        let dir = TempDir::new("tls-modes");
        let pki = make_pki(dir.path());
        let port = free_port();
        let d = Daemon::start_in(dir, &tls_config(port, &pki, mode)).unwrap();
        let got = admitted(&d, port, &pki, &[Trusted, Rogue, Anonymous]);
        let want: Vec<String> = want.iter().map(|c| format!("{c:?}")).collect();
        assert_eq!(got, want, "peer-verify({mode})");
        assert_eq!(
            d.stat("source.s#0.tls_failures"),
            3 - want.len() as u64,
            "peer-verify({mode})"
        );
    }
}

/// ca-dir() trusts the CAs under OpenSSL's hashed names and nothing else in
/// the directory.
#[test]
fn ca_dir_trusts_hashed_names_only() {
    if !require("openssl") {
        return;
    }
    let dir = TempDir::new("tls-cadir");
    let pki = make_pki(dir.path());
    let cas = dir.join("cas");
    std::fs::create_dir(&cas).unwrap();
    let hash = openssl(dir.path(), &["x509", "-hash", "-noout", "-in", "ca.pem"]);
    std::fs::copy(&pki.ca, cas.join(format!("{}.0", hash.trim()))).unwrap();
    // A retired CA left behind under a plain name must not be trusted.
    std::fs::copy(&pki.rogue_ca, cas.join("retired-ca.pem")).unwrap();
    let port = free_port();
    let conf = tls_config(port, &pki, "required-trusted").replace(
        &format!("ca-file(\"{}\")", pki.ca.display()),
        &format!("ca-dir(\"{}\")", cas.display()),
    );
    assert!(conf.contains("ca-dir("));
    let d = Daemon::start_in(dir, &conf).unwrap();
    let got = admitted(&d, port, &pki, &[Client::Trusted, Client::Rogue]);
    assert_eq!(got, ["Trusted"]);
}

/// Mutual TLS: a client with a certificate the CA signed gets every message
/// through; one without a certificate is refused and counted, and delivers
/// nothing.
#[test]
fn mutual_tls_admits_trusted_clients_only() {
    if !require("openssl") {
        return;
    }
    let dir = TempDir::new("tls-mutual");
    let pki = make_pki(dir.path());
    let port = free_port();
    let d = Daemon::start_in(dir, &tls_config(port, &pki, "required-trusted")).unwrap();
    let lines: Vec<String> = (0..500).map(|n| sl(&format!("msg-0-{n}"))).collect();
    assert!(s_client(port, &pki, Client::Trusted, &lines));
    let got = wait_lines(&d.dir.join("out.log"), 500, WAIT);
    assert_eq!(got.len(), 500);
    for (n, l) in got.iter().enumerate() {
        assert_eq!(l, &format!("msg-0-{n}"));
    }
    s_client(port, &pki, Client::Anonymous, &[sl("anonymous")]);
    assert!(
        wait_until(WAIT, || d.stat("source.s#0.tls_failures") >= 1),
        "{}",
        d.log()
    );
    // Plain TCP on the TLS port: refused and counted, never parsed as syslog.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = plain.write_all(format!("{}\n", sl("plaintext")).as_bytes());
    drop(plain);
    assert!(
        wait_until(WAIT, || d.stat("source.s#0.tls_failures") >= 2),
        "{}",
        d.log()
    );
    let got = lines_of(&d);
    assert!(
        !got.iter()
            .any(|l| l == "anonymous" || l.contains("plaintext")),
        "{got:?}"
    );
    assert_eq!(d.stat("source.s#0.received"), 500);
}

fn lines_of(d: &Daemon) -> Vec<String> {
    lines(&d.dir.join("out.log"))
}

/// syslog-ng's loggen over TLS, as a syslog-ng client would send: server
/// authentication only.
#[test]
fn loggen_over_tls_arrives_whole() {
    if !require("openssl") || !require("loggen") {
        return;
    }
    let dir = TempDir::new("tls-loggen");
    let pki = make_pki(dir.path());
    let port = free_port();
    let d = Daemon::start_in(dir, &tls_config(port, &pki, "optional-untrusted")).unwrap();
    // -U alone: loggen's TLS plugin replaces its socket plugin.
    loggen(&["--use-ssl"], 10_000, port);
    let got = wait_lines(&d.dir.join("out.log"), 10_000, WAIT);
    assert_eq!(
        got.len(),
        10_000,
        "received {} malformed {} tls_failures {}\n{}",
        d.stat("source.s#0.received"),
        d.stat("source.s#0.malformed"),
        d.stat("source.s#0.tls_failures"),
        d.log()
    );
    assert_eq!(d.stat("source.s#0.tls_failures"), 0);
}

#[test]
fn tls_config_errors_are_clear() {
    let dir = TempDir::new("tls-errors");
    let conf = dir.write(
        "bad.conf",
        "source a { network(port(6514) transport(\"tls\")); };\n\
         source b { network(port(6515) transport(\"tls\") tls(key-file(\"k\") cert-file(\"c\"))); };\n\
         source c { network(port(6516) tls(key-file(\"k\") cert-file(\"c\") peer-verify(optional-untrusted))); };\n\
         source d { network(port(6517) transport(\"tls\") tls(key-file(\"k\") cert-file(\"c\") peer-verify(sometimes))); };\n",
    );
    let (code, err) = syntax_check(&conf);
    assert_eq!(code, Some(1));
    for want in [
        "bad.conf:1:31: error: transport(\"tls\") needs tls(key-file(\"...\") cert-file(\"...\"))",
        "bad.conf:2:48: error: peer-verify(required-trusted) and peer-verify(optional-trusted) verify client certificates",
        "bad.conf:3:31: error: tls() is for transport(\"tls\"), and this source is tcp",
        "bad.conf:4:93: error: peer-verify() takes one of required-trusted,",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
    // A key file that is not there fails the start and names the file.
    if !require("openssl") {
        return;
    }
    let dir = TempDir::new("tls-missing");
    let pki = make_pki(dir.path());
    std::fs::remove_file(&pki.server_key).unwrap();
    let port = free_port();
    let err = Daemon::start_in(dir, &tls_config(port, &pki, "required-trusted"))
        .err()
        .expect("the start must fail");
    assert!(err.contains("source s#0: tls()"), "{err}");
    assert!(
        err.contains("server.key: cannot read a PEM private key"),
        "{err}"
    );
}

/// A reload turns a plain TCP listener into a TLS one on the same socket (and,
/// the same way, picks up renewed certificates): no port juggling, no restart.
#[test]
fn reload_switches_a_listener_to_tls_in_place() {
    if !require("openssl") {
        return;
    }
    let dir = TempDir::new("tls-reload");
    let pki = make_pki(dir.path());
    let port = free_port();
    let plain = format!(
        "source s {{ network(ip(\"127.0.0.1\") port({port}) transport(\"tcp\")); }};\n\
         destination d {{ file(\"out.log\" template(\"${{MESSAGE}}\\n\")); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n"
    );
    let d = Daemon::start_in(dir, &plain).unwrap();
    send_tcp(port, [sl("before")]);
    assert_eq!(wait_lines(&d.dir.join("out.log"), 1, WAIT), ["before"]);
    // A plain connection open across the switch is closed: plain text is no
    // longer admitted on this port.
    let mut held = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(wait_until(WAIT, || d.stat("source.s#0.open") == 1));
    d.rewrite(&tls_config(port, &pki, "required-trusted"));
    d.signal(SIGHUP);
    assert!(
        wait_until(WAIT, || d.log().contains("config reloaded")),
        "{}",
        d.log()
    );
    held.set_read_timeout(Some(WAIT)).unwrap();
    let mut byte = [0u8; 1];
    assert!(
        matches!(held.read(&mut byte), Ok(0) | Err(_)),
        "the plain connection stayed open"
    );
    assert!(
        d.log()
            .contains("closing a connection the new config no longer admits")
    );
    assert!(s_client(port, &pki, Client::Trusted, &[sl("after")]));
    assert_eq!(
        wait_lines(&d.dir.join("out.log"), 2, WAIT),
        ["before", "after"]
    );
}

/// Clients that never finish a handshake hold handshake slots (capped per
/// address), not connections: max-connections() stays free for real clients,
/// and the slots come back when the stallers go.
#[test]
fn stalled_handshakes_cannot_take_the_connection_slots() {
    if !require("openssl") {
        return;
    }
    let dir = TempDir::new("tls-stall");
    let pki = make_pki(dir.path());
    let port = free_port();
    let d = Daemon::start_in(dir, &tls_config(port, &pki, "required-trusted")).unwrap();
    let stallers: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // 16 handshakes per address at most: the other 4 are turned away.
    assert!(
        wait_until(WAIT, || d.stat("source.s#0.rejected") >= 4),
        "{}",
        d.log()
    );
    assert_eq!(
        d.stat("source.s#0.open"),
        0,
        "handshakes are not connections"
    );
    drop(stallers);
    // Their handshakes fail at EOF (20 in all: 16 stalled, 4 turned away).
    assert!(
        wait_until(WAIT, || d.stat("source.s#0.tls_failures") >= 20),
        "{}",
        d.log()
    );
    assert!(s_client(port, &pki, Client::Trusted, &[sl("real client")]));
    assert_eq!(wait_lines(&d.dir.join("out.log"), 1, WAIT), ["real client"]);
}

/// A write-only client (loggen never reads) that finishes while Sluice is
/// still behind must not lose its tail: a TLS 1.3 session ticket left unread
/// in the client's socket would turn its close into a reset that discards what
/// it had not yet sent. Flow control into a FIFO read slowly keeps Sluice behind.
#[test]
fn a_write_only_client_keeps_its_tail_when_the_server_is_behind() {
    if !require("openssl") || !require("loggen") {
        return;
    }
    let dir = TempDir::new("tls-tail");
    let pki = make_pki(dir.path());
    let fifo = dir.fifo("pipe");
    let port = free_port();
    let conf = tls_config(port, &pki, "optional-untrusted")
        .replace("file(\"out.log\"", &format!("file(\"{}\"", fifo.display()));
    let conf = format!("options {{ log-fifo-size(500); }};\n{conf}");
    let d = Daemon::start_in(dir, &conf).unwrap();
    const N: usize = 30_000;
    let sender = std::thread::spawn(move || loggen(&["--use-ssl"], N, port));
    // Nobody reads yet: loggen fills the socket buffers and waits.
    std::thread::sleep(Duration::from_secs(1));
    // Read in small bites on a thread of its own, so the server stays behind
    // the sender and a short count fails the test instead of blocking it.
    let path = d.dir.join("pipe");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = std::fs::File::open(path).unwrap();
        let mut chunk = vec![0u8; 4096];
        while let Ok(n) = reader.read(&mut chunk) {
            if n == 0
                || tx
                    .send(chunk[..n].iter().filter(|&&b| b == b'\n').count())
                    .is_err()
            {
                break;
            }
        }
    });
    sender.join().unwrap();
    let mut seen = 0usize;
    while seen < N {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(n) => seen += n,
            Err(_) => break,
        }
    }
    assert_eq!(
        seen,
        N,
        "received {} tls_failures {}",
        d.stat("source.s#0.received"),
        d.stat("source.s#0.tls_failures")
    );
}
