//! The control socket: one request line per connection (`stats`, `stats
//! prometheus`, `reload`, `stop`, `healthcheck`), answered with a status line
//! (`OK ...` or `ERROR ...`) and a body. `sluice-ctl` is its client.

use super::Event;
use crate::telemetry::Registry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// The verbs the daemon answers; `sluice-ctl` sends them as written here.
pub const VERBS: &[&str] = &["stats", "reload", "stop", "healthcheck"];

/// Removes the socket file when the daemon ends.
pub struct ControlSocket {
    path: PathBuf,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the control socket. A socket file left by a dead daemon is replaced; one
/// that still answers means another daemon owns it.
pub fn bind(path: &Path) -> anyhow::Result<(UnixListener, ControlSocket)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            anyhow::bail!(
                "another sluice is running with control socket {}",
                path.display()
            );
        }
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| anyhow::anyhow!("cannot bind control socket {}: {e}", path.display()))?;
    Ok((
        listener,
        ControlSocket {
            path: path.to_path_buf(),
        },
    ))
}

/// Serves control connections until the listener is dropped.
pub async fn serve(
    listener: UnixListener,
    events: mpsc::UnboundedSender<Event>,
    stats: Arc<Registry>,
) {
    let started = Instant::now();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let events = events.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, events, stats, started).await {
                tracing::debug!("control connection failed: {e}");
            }
        });
    }
}

async fn answer(
    stream: UnixStream,
    events: mpsc::UnboundedSender<Event>,
    stats: Arc<Registry>,
    started: Instant,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    // A client that sends an endless line gets cut off rather than growing memory.
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, 4096));
    reader.read_line(&mut line).await?;
    let mut words = line.split_whitespace();
    let reply = match (words.next(), words.next()) {
        (Some("stats"), None) => format!("OK\n{}", stats.render_text()),
        (Some("stats"), Some("prometheus")) => format!("OK\n{}", stats.render_prometheus()),
        (Some("healthcheck"), None) => format!(
            "OK healthy pid={} uptime={}s\n",
            std::process::id(),
            started.elapsed().as_secs()
        ),
        (Some("reload"), None) => {
            let (tx, rx) = oneshot::channel();
            let _ = events.send(Event::Reload(Some(tx)));
            match rx.await {
                Ok(Ok(())) => "OK reloaded\n".to_string(),
                Ok(Err(e)) => format!("ERROR reload failed, the old config keeps running\n{e}"),
                Err(_) => "ERROR the daemon is stopping\n".to_string(),
            }
        }
        (Some("stop"), None) => {
            let _ = events.send(Event::Stop);
            "OK stopping\n".to_string()
        }
        _ => format!(
            "ERROR unknown request `{}`; try one of: {}\n",
            line.trim(),
            VERBS.join(", ")
        ),
    };
    write.write_all(reply.as_bytes()).await?;
    write.shutdown().await
}
