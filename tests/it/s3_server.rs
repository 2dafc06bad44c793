//! An in-process S3 server for tests: s3s-fs (a real S3 implementation over a
//! directory, SigV4 checked) on a loopback port, on its own thread and
//! runtime, so sync daemon tests and async client tests can both use it.
//! Stops when dropped.

#![allow(dead_code)]

use crate::harness::TempDir;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio_rustls::{TlsAcceptor, rustls};

pub const ACCESS_KEY: &str = "AKIAS3TESTKEY";
pub const SECRET_KEY: &str = "s3-test-secret";

pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// s3s-fs's root: bucket `b` is the directory `root/b`, object `k` the
    /// file `root/b/k`.
    pub root: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl S3Server {
    /// A server with the given (empty) buckets, accepting [`ACCESS_KEY`] /
    /// [`SECRET_KEY`].
    pub fn start(buckets: &[&str]) -> S3Server {
        S3Server::start_with(buckets, None)
    }

    /// As [`S3Server::start`], over TLS with the PEM certificate chain and
    /// key given: the endpoint is `https://127.0.0.1:PORT`.
    pub fn start_tls(buckets: &[&str], cert: &Path, key: &Path) -> S3Server {
        let certs = CertificateDer::pem_file_iter(cert)
            .expect("server certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate");
        let key = PrivateKeyDer::from_pem_file(key).expect("server key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate and key");
        S3Server::start_with(buckets, Some(TlsAcceptor::from(Arc::new(config))))
    }

    fn start_with(buckets: &[&str], tls: Option<TlsAcceptor>) -> S3Server {
        let root = TempDir::new("s3");
        for b in buckets {
            std::fs::create_dir_all(root.join(b)).expect("create bucket dir");
        }
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs root");
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let endpoint = format!("{scheme}://{}", listener.local_addr().expect("addr"));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("s3s-fs".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    let http = ConnBuilder::new(TokioExecutor::new());
                    loop {
                        let socket = tokio::select! {
                            accepted = listener.accept() => match accepted {
                                Ok((socket, _)) => socket,
                                Err(_) => continue,
                            },
                            _ = &mut stopped => break,
                        };
                        let (http, service, tls) = (http.clone(), service.clone(), tls.clone());
                        tokio::spawn(async move {
                            match tls {
                                // A failed handshake (a client that does not
                                // trust us) just ends the connection.
                                Some(tls) => {
                                    if let Ok(stream) = tls.accept(socket).await {
                                        let conn =
                                            http.serve_connection(TokioIo::new(stream), service);
                                        let _ = conn.await;
                                    }
                                }
                                None => {
                                    let _ =
                                        http.serve_connection(TokioIo::new(socket), service).await;
                                }
                            }
                        });
                    }
                });
                // Dropping the runtime cancels the connection tasks.
            })
            .expect("spawn server thread");
        S3Server {
            endpoint,
            root,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
