//! Certificates and CAs as syslog-ng's `tls()` options name them, read for
//! either end of a TLS session: the TLS source verifies clients with them, the
//! forwarding destinations verify servers.

use anyhow::{Context, bail};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use tokio_rustls::rustls::RootCertStore;

/// The CAs of `ca-file()` and every PEM file of `ca-dir()`, for either end
/// of a TLS session.
pub fn roots(ca_file: Option<&Path>, ca_dir: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let mut files: Vec<PathBuf> = ca_file.iter().map(|f| f.to_path_buf()).collect();
    if let Some(dir) = ca_dir {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("ca-dir(): cannot read {}", dir.display()))?;
        // Only OpenSSL's hashed names, as syslog-ng reads a CA directory: a
        // retired CA whose link was removed, a backup or a bundle next to
        // them is not trusted.
        let mut in_dir: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(hashed_name)
            })
            .filter(|p| {
                p.metadata()
                    .is_ok_and(|m| m.is_file() && m.len() <= MAX_CA_FILE)
            })
            .collect();
        in_dir.sort();
        files.extend(in_dir);
    }
    for f in &files {
        // Files of a CA directory that hold no certificate (a README,
        // a CRL) are skipped; an unreadable ca-file() is an error.
        let certs = match read_certs(f) {
            Ok(c) => c,
            Err(e) if ca_file != Some(f.as_path()) => {
                tracing::debug!("skipping {}: {e:#}", f.display());
                continue;
            }
            Err(e) => return Err(e),
        };
        for c in certs {
            // A certificate rustls cannot use as a trust anchor is skipped,
            // as OpenSSL skips it.
            let _ = roots.add(c);
        }
    }
    if roots.is_empty() {
        bail!("no usable CA certificate in ca-file() or ca-dir()");
    }
    Ok(roots)
}

/// The largest CA file read from a ca-dir(); certificates are a few KiB.
const MAX_CA_FILE: u64 = 1 << 20;

/// `5d30f3c5.0`: eight hex digits, a dot, a sequence number (`.r0` would be a CRL).
fn hashed_name(name: &str) -> bool {
    let Some((hash, seq)) = name.split_once('.') else {
        return false;
    };
    hash.len() == 8
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && !seq.is_empty()
        && seq.bytes().all(|b| b.is_ascii_digit())
}

pub fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("{}: cannot read PEM certificates", path.display()))
}

#[cfg(test)]
mod tests {
    use super::hashed_name;

    #[test]
    fn ca_dir_reads_hashed_names_only() {
        for ok in ["5d30f3c5.0", "ABCDEF01.12"] {
            assert!(hashed_name(ok), "{ok}");
        }
        for no in [
            "5d30f3c5.r0",
            "5d30f3c5",
            "oldca.pem",
            "5d30f3c.0",
            "5d30f3c5.0.bak",
            "zzzzzzzz.0",
        ] {
            assert!(!hashed_name(no), "{no}");
        }
    }
}
