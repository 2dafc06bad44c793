//! network(transport("tls")): real TLS clients (syslog-ng's loggen, OpenSSL's
//! s_client) against certificates made by the openssl tool for each test.

use crate::harness::*;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// A CA, and a server and a client certificate it signed, as PEM files.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
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
}

fn make_pki(dir: &Path) -> Pki {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=sluice test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &ca);
    for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
        let mut req = vec!["req", "-subj"];
        let subj = format!("/CN=sluice test {name}");
        req.push(&subj);
        req.extend(ec);
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        req.extend(["-keyout", &key, "-out", &csr]);
        openssl(dir, &req);
        std::fs::write(
            dir.join(&ext),
            format!(
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n"
            ),
        )
        .unwrap();
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
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ],
        );
    }
    Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    }
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

/// Sends `lines` with `openssl s_client`, with the client certificate or
/// without; returns whether s_client reported success.
fn s_client(port: u16, pki: &Pki, with_cert: bool, lines: &[String]) -> bool {
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr, "-quiet", "-no_ign_eof"])
        .args(["-verify_return_error", "-CAfile"])
        .arg(&pki.ca);
    if with_cert {
        cmd.arg("-cert")
            .arg(&pki.client_cert)
            .arg("-key")
            .arg(&pki.client_key);
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
    assert!(s_client(port, &pki, true, &lines));
    let got = wait_lines(&d.dir.join("out.log"), 500, WAIT);
    assert_eq!(got.len(), 500);
    for (n, l) in got.iter().enumerate() {
        assert_eq!(l, &format!("msg-0-{n}"));
    }
    s_client(port, &pki, false, &[sl("anonymous")]);
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
    let o = Command::new("loggen")
        // -U alone: loggen's TLS plugin replaces its socket plugin.
        .args(["--use-ssl", "--rate", "50000"])
        .args(["--interval", "100000", "--number", "10000", "--size", "200"])
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "loggen: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got = wait_lines(&d.dir.join("out.log"), 10_000, WAIT);
    assert_eq!(got.len(), 10_000);
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
    d.rewrite(&tls_config(port, &pki, "required-trusted"));
    d.signal(SIGHUP);
    assert!(
        wait_until(WAIT, || d.log().contains("config reloaded")),
        "{}",
        d.log()
    );
    assert!(s_client(port, &pki, true, &[sl("after")]));
    assert_eq!(
        wait_lines(&d.dir.join("out.log"), 2, WAIT),
        ["before", "after"]
    );
}
