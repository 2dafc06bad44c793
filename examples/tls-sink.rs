//! A TLS sink for benchmarks (`bench/tcp-forward.sh`, mode syslog-tls): on
//! 127.0.0.1 only, it accepts TLS connections, decrypts, and appends what
//! it reads to a file in writes of up to 256 KiB, as the plain TCP sink
//! (`socat -b 262144`) does. socat's own TLS sink wrote each 16 KiB record
//! on its own, and on two cores those small file writes took more of the
//! sender's CPU than the decryption.
//!
//! cargo build --release --example tls-sink
//! tls-sink --port N --cert CERT.pem --key KEY.pem --out FILE

use anyhow::Context;
use lexopt::ValueExt;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls::{ServerConfig, ServerConnection, StreamOwned};

/// Plaintext gathered before a write.
const BUFFER: usize = 256 << 10;

fn main() -> anyhow::Result<()> {
    let (mut port, mut cert, mut key, mut out) = (0u16, None, None, None);
    let mut args = lexopt::Parser::from_env();
    while let Some(arg) = args.next()? {
        match arg {
            lexopt::Arg::Long("port") => port = args.value()?.parse()?,
            lexopt::Arg::Long("cert") => cert = Some(PathBuf::from(args.value()?)),
            lexopt::Arg::Long("key") => key = Some(PathBuf::from(args.value()?)),
            lexopt::Arg::Long("out") => out = Some(PathBuf::from(args.value()?.string()?)),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let (Some(cert), Some(key), Some(out)) = (cert, key, out) else {
        anyhow::bail!("usage: tls-sink --port N --cert CERT.pem --key KEY.pem --out FILE");
    };
    let certs = sluice::net::pki::read_certs(&cert)?;
    let key = PrivateKeyDer::from_pem_file(&key)
        .with_context(|| format!("{}: no PEM private key", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    let config = Arc::new(config);
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        let (config, out) = (config.clone(), out.clone());
        std::thread::spawn(move || {
            if let Err(e) = serve(tcp, config, &out) {
                eprintln!("tls-sink: {e:#}");
            }
        });
    }
    Ok(())
}

/// Appends one connection's plaintext to `out` until the peer closes it.
fn serve(tcp: TcpStream, config: Arc<ServerConfig>, out: &Path) -> anyhow::Result<()> {
    // A pause in the stream writes out what was gathered.
    tcp.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut file = OpenOptions::new().create(true).append(true).open(out)?;
    let mut tls = StreamOwned::new(ServerConnection::new(config)?, tcp);
    let mut buf = vec![0u8; BUFFER];
    let mut filled = 0;
    let end = loop {
        match tls.read(&mut buf[filled..]) {
            Ok(0) => break Ok(()),
            // Room for another record: read on.
            Ok(n) if filled + n + (17 << 10) <= BUFFER => {
                filled += n;
                continue;
            }
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // Closed without close_notify, as a killed sender does.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break Ok(()),
            Err(e) => break Err(e),
        }
        file.write_all(&buf[..filled])?;
        filled = 0;
    };
    file.write_all(&buf[..filled])?;
    Ok(end?)
}
