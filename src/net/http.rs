//! A small pooled HTTP/1.1 client for object stores, credential endpoints and
//! the http() destination.
//!
//! hyper-util's legacy client keeps connections alive per host; rustls (ring)
//! speaks TLS with the system's roots plus an optional extra CA file
//! (`tls(ca-file())`). A whole exchange (connect, request, response body) runs
//! under one deadline. Transport failures come back as [`Failure`]: resets,
//! refusals, timeouts and truncated bodies are `Retry`; a certificate the roots
//! do not trust is `Parked`, since retrying cannot fix it.

use crate::destinations::retry::Failure;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;

/// Why a client could not be built (only the extra CA file can be wrong).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("ca-file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
}

/// A response, body read whole (S3 answers are small XML or empty; uploads
/// are what is large, and they go the other way).
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Cheap to clone: clones share one connection pool.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// Idle pooled connections are dropped before S3's own idle cutoff (about 20 s),
/// so a request rarely lands on a connection the server is closing.
const POOL_IDLE: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl HttpClient {
    /// A client trusting the system roots and, when given, the certificates in
    /// the PEM file `ca_file`.
    pub fn new(ca_file: Option<&Path>) -> Result<HttpClient, BuildError> {
        let mut roots = system_roots();
        if let Some(path) = ca_file {
            let ca_err = |reason: String| BuildError::CaFile {
                path: path.to_path_buf(),
                reason,
            };
            let certs =
                super::pki::read_certs(path).map_err(|e| ca_err(e.root_cause().to_string()))?;
            if certs.is_empty() {
                return Err(ca_err("no PEM certificate in the file".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(HttpClient::with_tls(tls))
    }

    /// A client speaking TLS as `tls` says (its CAs, client certificate and
    /// verification).
    pub fn with_tls(tls: rustls::ClientConfig) -> HttpClient {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .build(connector);
        HttpClient { client }
    }

    /// A client trusting the system roots only.
    pub fn system() -> HttpClient {
        // Without a CA file the only error left is rustls refusing ring's own
        // default protocol versions, which it cannot.
        HttpClient::new(None).expect("ring supports the default TLS versions")
    }

    /// Sends `req` and reads the whole response, all within `timeout`.
    pub async fn send(&self, req: Request<Bytes>, timeout: Duration) -> Result<Response, Failure> {
        let what = format!("{} {}", req.method(), req.uri());
        let req = req.map(Full::new);
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| transport_failure(&what, &e))?;
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| {
                    Failure::retry(format!("{what}: response body cut short: {}", chain(&e)))
                })?
                .to_bytes();
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Retry {
                code: Some("Timeout".into()),
                message: format!("{what}: no complete response within {timeout:?}"),
                retry_after: None,
            }),
        }
    }
}

fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!("reading system CA certificates: {e}");
    }
    roots.add_parsable_certificates(found.certs);
    roots
}

/// Everything is worth retrying except TLS refusing the peer's certificate.
fn transport_failure(what: &str, e: &hyper_util::client::legacy::Error) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = source {
        if let Some(tls) = rustls_error(s)
            && matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        {
            return Failure::Parked {
                code: Some("TlsCertificate".into()),
                message: format!("{what}: {tls}"),
                hint: Some(
                    "the server's certificate is not trusted; check tls(ca-file()) or the url()"
                        .into(),
                ),
            };
        }
        source = s.source();
    }
    let code = if e.is_connect() {
        "ConnectFailed"
    } else {
        "ConnectionLost"
    };
    Failure::Retry {
        code: Some(code.into()),
        message: format!("{what}: {}", chain(e)),
        retry_after: None,
    }
}

/// An error and its causes on one line: hyper's top-level message alone
/// ("client error (Connect)") does not say what happened.
/// The rustls error inside `e`, through any nesting of `io::Error`s (the
/// connector wraps the handshake's io::Error in another, and an io::Error's
/// `source()` skips the error it wraps).
fn rustls_error<'a>(mut e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
        e = inner;
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("sluice-http-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let missing = dir.join("missing.pem");
        for (path, why) in [(&empty, "no PEM certificate"), (&missing, "No such file")] {
            match HttpClient::new(Some(path)) {
                Err(e @ BuildError::CaFile { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains(&path.display().to_string()), "{text}");
                    assert!(text.contains(why), "{text}");
                }
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
