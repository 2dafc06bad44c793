//! TLS for `network(transport("tls") tls(...))`: syslog over TLS (RFC 5425) with
//! syslog-ng's option names. The same framing as TCP runs inside the session.
//!
//! Keys and certificates are read when a config is applied, at start and on
//! every reload, so a renewed certificate takes effect with a SIGHUP; a file that
//! cannot be read fails the start or the reload (the old config keeps serving).

use crate::config::schema::{DriverSpec, Kind, OptionSpec, Values};
use crate::net::pki;
use anyhow::{Context, bail};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_rustls::rustls::crypto::WebPkiSupportedAlgorithms;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::{
    DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
};

pub const SPEC: DriverSpec = DriverSpec {
    name: "tls",
    context: "network",
    doc: "TLS settings of a transport(\"tls\") source.",
    positional: None,
    options: &[
        OptionSpec {
            name: "key-file",
            kind: Kind::Str,
            default: "",
            doc: "The server's private key, PEM (PKCS#8, PKCS#1 or SEC1). Required.",
        },
        OptionSpec {
            name: "cert-file",
            kind: Kind::Str,
            default: "",
            doc: "The server's certificate chain, PEM, leaf first. Required.",
        },
        OptionSpec {
            name: "ca-file",
            kind: Kind::Str,
            default: "",
            doc: "CA certificates (PEM) that client certificates are verified against.",
        },
        OptionSpec {
            name: "ca-dir",
            kind: Kind::Str,
            default: "",
            doc: "A directory of CA certificates in OpenSSL's hashed layout (HASH.0, HASH.1, ... as `openssl rehash` makes them); other files in it are ignored. Prefer a directory of your own CAs: a system store would admit any publicly issued client certificate.",
        },
        OptionSpec {
            name: "peer-verify",
            kind: Kind::Enum(&[
                "required-trusted",
                "optional-trusted",
                "optional-untrusted",
                "required-untrusted",
                "none",
            ]),
            default: "required-trusted",
            doc: "Client certificates: required-trusted (must present one a CA signed), optional-trusted (if presented, it must verify), optional-untrusted or none (asked for, not checked), required-untrusted (must present one, not checked).",
        },
    ],
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerVerify {
    RequiredTrusted,
    OptionalTrusted,
    OptionalUntrusted,
    RequiredUntrusted,
}

/// `tls()`'s options, typed.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsOptions {
    pub key_file: PathBuf,
    pub cert_file: PathBuf,
    pub ca_file: Option<PathBuf>,
    pub ca_dir: Option<PathBuf>,
    pub peer_verify: PeerVerify,
}

impl TlsOptions {
    pub fn from_values(v: &Values) -> Result<TlsOptions, String> {
        let (Some(key), Some(cert)) = (v.str("key-file"), v.str("cert-file")) else {
            return Err("tls() needs key-file() and cert-file()".into());
        };
        let peer_verify = match v.str("peer-verify") {
            Some("optional-trusted") => PeerVerify::OptionalTrusted,
            Some("optional-untrusted" | "none") => PeerVerify::OptionalUntrusted,
            Some("required-untrusted") => PeerVerify::RequiredUntrusted,
            _ => PeerVerify::RequiredTrusted,
        };
        let ca_file = v.str("ca-file").map(PathBuf::from);
        let ca_dir = v.str("ca-dir").map(PathBuf::from);
        let trusted = matches!(
            peer_verify,
            PeerVerify::RequiredTrusted | PeerVerify::OptionalTrusted
        );
        if trusted && ca_file.is_none() && ca_dir.is_none() {
            return Err(
                "peer-verify(required-trusted) and peer-verify(optional-trusted) verify client certificates: give ca-file() or ca-dir(), or use peer-verify(optional-untrusted)"
                    .into(),
            );
        }
        Ok(TlsOptions {
            key_file: key.into(),
            cert_file: cert.into(),
            ca_file,
            ca_dir,
            peer_verify,
        })
    }

    /// Reads the key, the certificates and the CAs into a server config.
    pub fn server_config(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let certs = pki::read_certs(&self.cert_file)?;
        if certs.is_empty() {
            bail!("{}: no PEM certificate in it", self.cert_file.display());
        }
        let key = PrivateKeyDer::from_pem_file(&self.key_file).with_context(|| {
            format!("{}: cannot read a PEM private key", self.key_file.display())
        })?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("no TLS protocol version available")?;
        let builder = match self.peer_verify {
            PeerVerify::OptionalUntrusted | PeerVerify::RequiredUntrusted => builder
                .with_client_cert_verifier(Arc::new(AnyClientCert {
                    algorithms: provider.signature_verification_algorithms,
                    mandatory: self.peer_verify == PeerVerify::RequiredUntrusted,
                })),
            PeerVerify::RequiredTrusted | PeerVerify::OptionalTrusted => {
                let roots = pki::roots(self.ca_file.as_deref(), self.ca_dir.as_deref())?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                let verifier = if self.peer_verify == PeerVerify::OptionalTrusted {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(
                    verifier
                        .build()
                        .context("cannot verify client certificates with these CAs")?,
                )
            }
        };
        let mut config = builder.with_single_cert(certs, key).with_context(|| {
            format!(
                "{} does not go with {}",
                self.key_file.display(),
                self.cert_file.display()
            )
        })?;
        // Syslog clients only write. TLS 1.3 session tickets sent after the
        // handshake would sit unread in the client's socket, and closing a
        // socket with unread data sends a reset that discards what the client
        // had not yet transmitted: the tail of its stream. So send none.
        config.send_tls13_tickets = 0;
        Ok(Arc::new(config))
    }
}

/// `peer-verify(required-untrusted)` and `(optional-untrusted)`: a client is
/// asked for a certificate (must present one when `mandatory`) and must prove
/// it holds its key, but nothing checks who signed it.
#[derive(Debug)]
struct AnyClientCert {
    algorithms: WebPkiSupportedAlgorithms,
    mandatory: bool,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, tokio_rustls::rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<
        tokio_rustls::rustls::client::danger::HandshakeSignatureValid,
        tokio_rustls::rustls::Error,
    > {
        tokio_rustls::rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<
        tokio_rustls::rustls::client::danger::HandshakeSignatureValid,
        tokio_rustls::rustls::Error,
    > {
        tokio_rustls::rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
