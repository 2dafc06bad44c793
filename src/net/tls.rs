//! `tls()` of the forwarding destinations (syslog(), network(), http()): the
//! client end of TLS, with syslog-ng's option names and defaults: the server's
//! certificate must verify and name the host it was asked for, a client
//! certificate is sent when one is configured (mutual TLS), and SNI only with
//! `sni(yes)`.

use crate::config::schema::{DriverSpec, Kind, OptionSpec, Values};
use crate::net::pki;
use anyhow::{Context, bail};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::WebPkiSupportedAlgorithms;
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

pub const SPEC: DriverSpec = DriverSpec {
    name: "tls",
    context: "destination",
    doc: "TLS settings of a destination that connects to a server.",
    positional: None,
    options: &[
        OptionSpec {
            name: "ca-file",
            kind: Kind::Str,
            default: "",
            doc: "CA certificates (PEM) the server's certificate is verified against. Without ca-file() and ca-dir(), the system's trusted CAs are used.",
        },
        OptionSpec {
            name: "ca-dir",
            kind: Kind::Str,
            default: "",
            doc: "A directory of CA certificates in OpenSSL's hashed layout (HASH.0, as `openssl rehash` makes them).",
        },
        OptionSpec {
            name: "cert-file",
            kind: Kind::Str,
            default: "",
            doc: "The certificate chain (PEM, leaf first) this end presents to the server, for mutual TLS; needs key-file().",
        },
        OptionSpec {
            name: "key-file",
            kind: Kind::Str,
            default: "",
            doc: "The private key (PEM) of cert-file().",
        },
        OptionSpec {
            name: "peer-verify",
            kind: Kind::Enum(&[
                "required-trusted",
                "optional-trusted",
                "optional-untrusted",
                "required-untrusted",
                "none",
                "yes",
                "no",
            ]),
            default: "required-trusted",
            doc: "The server's certificate: required-trusted (yes, optional-trusted) must be signed by a trusted CA and name the destination's host (a SAN DNS name or IP address); optional-untrusted (no, none, required-untrusted) is not checked, and anyone in the path can read the logs.",
        },
        OptionSpec {
            name: "sni",
            kind: Kind::Bool,
            default: "no",
            doc: "Send the destination's host name as SNI (Server Name Indication), for servers that serve several names.",
        },
    ],
};

/// `tls()`'s options, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsClientOptions {
    pub ca_file: Option<PathBuf>,
    pub ca_dir: Option<PathBuf>,
    /// The client certificate and its key, for mutual TLS.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// The server's certificate must verify (and name the host).
    pub verify: bool,
    pub sni: bool,
}

impl TlsClientOptions {
    pub fn from_values(v: &Values) -> Result<TlsClientOptions, (&'static str, String)> {
        // Empty is unset, so an SCL block can pass its defaults through.
        let path = |name| v.str(name).filter(|p| !p.is_empty());
        let identity = match (path("cert-file"), path("key-file")) {
            (Some(c), Some(k)) => Some((c.into(), k.into())),
            (None, None) => None,
            (Some(_), None) => return Err(("cert-file", "cert-file() needs key-file()".into())),
            (None, Some(_)) => return Err(("key-file", "key-file() needs cert-file()".into())),
        };
        Ok(TlsClientOptions {
            ca_file: path("ca-file").map(PathBuf::from),
            ca_dir: path("ca-dir").map(PathBuf::from),
            identity,
            verify: matches!(
                v.str("peer-verify"),
                None | Some("required-trusted" | "optional-trusted" | "yes")
            ),
            sni: v.bool("sni").unwrap_or(false),
        })
    }

    /// Reads the CAs and the client identity into a client config.
    pub fn client_config(&self) -> anyhow::Result<Arc<ClientConfig>> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("no TLS protocol version available")?;
        let builder = if self.verify {
            builder.with_root_certificates(self.roots()?)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCert(
                    provider.signature_verification_algorithms,
                )))
        };
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let certs = pki::read_certs(cert)?;
                if certs.is_empty() {
                    bail!("{}: no PEM certificate in it", cert.display());
                }
                let k = PrivateKeyDer::from_pem_file(key)
                    .with_context(|| format!("{}: cannot read a PEM private key", key.display()))?;
                builder.with_client_auth_cert(certs, k).with_context(|| {
                    format!("{} does not go with {}", key.display(), cert.display())
                })?
            }
        };
        config.enable_sni = self.sni;
        Ok(Arc::new(config))
    }

    fn roots(&self) -> anyhow::Result<RootCertStore> {
        if self.ca_file.is_some() || self.ca_dir.is_some() {
            return pki::roots(self.ca_file.as_deref(), self.ca_dir.as_deref());
        }
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for c in found.certs {
            let _ = roots.add(c);
        }
        if roots.is_empty() {
            bail!(
                "no CA to verify the server with: give tls(ca-file()) or tls(ca-dir()) (the system store is empty)"
            );
        }
        Ok(roots)
    }
}

/// The name the server's certificate must carry: the destination's host as
/// written, an address or a DNS name.
pub fn server_name(host: &str) -> anyhow::Result<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .with_context(|| format!("`{host}` is neither an address nor a host name"))
}

/// `peer-verify(optional-untrusted)`: any certificate is taken, but the
/// handshake must still be signed by its key.
#[derive(Debug)]
struct AnyServerCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        tokio_rustls::rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        tokio_rustls::rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
