//! A standalone S3 server for benchmarks (`bench/tcp-s3.sh`): s3s-fs over a
//! directory, SigV4 checked, on 127.0.0.1 only. The same construction as the
//! in-process test server (`tests/it/s3_server.rs`); bucket `b` is the
//! directory `ROOT/b`, so create it before the first request.
//!
//! cargo build --release --example s3-server
//! s3-server --root DIR --port N --access-key AK --secret-key SK

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use lexopt::ValueExt;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (mut root, mut port, mut ak, mut sk) = (None, 0u16, None, None);
    let mut args = lexopt::Parser::from_env();
    while let Some(arg) = args.next()? {
        match arg {
            lexopt::Arg::Long("root") => root = Some(args.value()?.string()?),
            lexopt::Arg::Long("port") => port = args.value()?.parse()?,
            lexopt::Arg::Long("access-key") => ak = Some(args.value()?.string()?),
            lexopt::Arg::Long("secret-key") => sk = Some(args.value()?.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let (Some(root), Some(ak), Some(sk)) = (root, ak, sk) else {
        anyhow::bail!("usage: s3-server --root DIR --port N --access-key AK --secret-key SK");
    };
    let mut builder = s3s::service::S3ServiceBuilder::new(
        s3s_fs::FileSystem::new(root).map_err(|e| anyhow::anyhow!("{e:?}"))?,
    );
    builder.set_auth(s3s::auth::SimpleAuth::from_single(ak, sk));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("s3-server: listening on http://{}", listener.local_addr()?);
    let http = ConnBuilder::new(TokioExecutor::new());
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let conn = http
            .serve_connection(TokioIo::new(socket), service.clone())
            .into_owned();
        tokio::spawn(conn);
    }
}
