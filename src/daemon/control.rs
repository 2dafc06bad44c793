//! The control socket: one request line per connection (`stats`, `stats
//! prometheus`, `reload`, `stop`, `healthcheck`), answered with a status line
//! (`OK ...` or `ERROR ...`) and a body. `sluice-ctl` is its client.
//!
//! It must answer when everything else is in trouble: connections must send
//! their request within a timeout and are capped (a new one closes the oldest,
//! so leaked idle clients cannot lock out a real one), the socket is mode 0600
//! whatever the umask, and a spare descriptor is kept so `stats` still works
//! when the process has run out of them.

use super::Event;
use crate::telemetry::Registry;
use std::collections::VecDeque;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Control connections served at once; a new one beyond it closes the oldest.
const MAX_CONNECTIONS: usize = 64;
/// How long a client has to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The verbs the daemon answers; `sluice-ctl` sends them as written here.
pub const VERBS: &[&str] = &["stats", "uploads", "reload", "retry", "stop", "healthcheck"];

/// Removes the socket file when the daemon ends.
pub struct ControlSocket {
    path: PathBuf,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the control socket with mode 0600, or 0660 owned by `group`. A socket
/// file left by a dead daemon is replaced; one that still answers means another
/// daemon owns it; anything that is not a socket is refused, never deleted.
pub fn bind(path: &Path, group: Option<u32>) -> anyhow::Result<(UnixListener, ControlSocket)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                anyhow::bail!(
                    "another sluice is running with control socket {}",
                    path.display()
                );
            }
            let _ = std::fs::remove_file(path);
        }
        Ok(m) => anyhow::bail!(
            "refusing to use {} as the control socket: it exists and is {}, not a socket",
            path.display(),
            describe(m.file_type())
        ),
        Err(_) => {}
    }
    // Bound under a temporary name, restricted, then renamed into place: no
    // moment in which the socket has the umask's mode.
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map_or("ctl".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let bound = UnixListener::bind(&tmp)
        .and_then(|l| {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
            if let Some(gid) = group {
                std::os::unix::fs::chown(&tmp, None, Some(gid))?;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o660))?;
            }
            std::fs::rename(&tmp, path)?;
            Ok(l)
        })
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            anyhow::anyhow!("cannot bind control socket {}: {e}", path.display())
        })?;
    Ok((
        bound,
        ControlSocket {
            path: path.to_path_buf(),
        },
    ))
}

fn describe(t: std::fs::FileType) -> &'static str {
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a special file"
    }
}

/// A descriptor held in reserve: given up to accept a control connection when
/// the process has run out of descriptors, then taken back.
struct Reserve(Option<std::fs::File>);

impl Reserve {
    fn new() -> Reserve {
        Reserve(std::fs::File::open("/dev/null").ok())
    }

    fn release(&mut self) -> bool {
        self.0.take().is_some()
    }

    fn restore(&mut self) {
        if self.0.is_none() {
            self.0 = std::fs::File::open("/dev/null").ok();
        }
    }
}

/// Serves control connections until the listener is dropped.
pub async fn serve(
    listener: UnixListener,
    events: mpsc::UnboundedSender<Event>,
    stats: Arc<Registry>,
) {
    let started = Instant::now();
    let mut open: VecDeque<JoinHandle<()>> = VecDeque::new();
    let mut reserve = Reserve::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) && reserve.release() => {
                // Out of descriptors: answer this one client with the spare,
                // in place, so `sluice-ctl stats` shows what is going on.
                if let Ok((stream, _)) = listener.accept().await {
                    let reply = answer(stream, events.clone(), stats.clone(), started);
                    if let Err(e) = reply.await {
                        tracing::debug!("control connection failed: {e}");
                    }
                }
                reserve.restore();
                continue;
            }
            Err(e) => {
                tracing::debug!("control socket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                reserve.restore();
                continue;
            }
        };
        open.retain(|task| !task.is_finished());
        if open.len() >= MAX_CONNECTIONS
            && let Some(oldest) = open.pop_front()
        {
            oldest.abort();
        }
        let events = events.clone();
        let stats = stats.clone();
        open.push_back(tokio::spawn(async move {
            if let Err(e) = answer(stream, events, stats, started).await {
                tracing::debug!("control connection failed: {e}");
            }
        }));
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
    tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request in time"))??;
    let mut words = line.split_whitespace();
    let reply = match (words.next(), words.next()) {
        (Some("stats"), None) => format!("OK\n{}", stats.render_text()),
        (Some("stats"), Some("prometheus")) => format!("OK\n{}", stats.render_prometheus()),
        (Some("uploads"), None) => format!("OK\n{}", stats.render_uploads()),
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
        (Some("retry"), None) => {
            let _ = events.send(Event::Retry);
            "OK retrying\n".to_string()
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
