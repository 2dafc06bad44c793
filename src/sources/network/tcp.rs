//! The TCP listener and its connections.
//!
//! One task accepts; one task per connection reads big buffers, frames and parses
//! every complete message in place (messages share the read buffer), and hands
//! the lot to the routes as one batch. While a flow-controlled destination is
//! full, `dispatch` waits, the task stops reading, and TCP pushes back on the
//! sender.

use super::framing::{Frame, Framer, Next, Oversize};
use super::{Listener, ListenerConfig, Transport, set_rcvbuf};
use crate::message::{Field, Flags, Message, Slot, Timestamp, Zone};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

/// How much one read asks for: large enough that a busy connection costs one
/// syscall per thousand messages.
const READ_BUF: usize = 256 * 1024;

/// How long a TLS client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Starts accepting on a bound socket. `alive` is held by every task so
/// shutdown can wait for all of them.
pub fn start(
    std_listener: std::net::TcpListener,
    config: Arc<ListenerConfig>,
    stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) -> std::io::Result<Listener> {
    std_listener.set_nonblocking(true)?;
    set_rcvbuf(std_listener.as_raw_fd(), config.options.so_rcvbuf);
    let listener = TcpListener::from_std(std_listener)?;
    let local_addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(config);
    let task = tokio::spawn(accept_loop(listener, rx, stop, alive));
    Ok(Listener::new(Transport::Tcp, local_addr, tx, task))
}

async fn accept_loop(
    listener: TcpListener,
    mut config: watch::Receiver<Arc<ListenerConfig>>,
    mut stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            changed = config.changed() => {
                if changed.is_err() {
                    return; // listener removed by a reload
                }
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let cfg = config.borrow().clone();
        if cfg.stats.open.get() as usize >= cfg.options.max_connections {
            cfg.stats.rejected.add(1);
            tracing::warn!(source = %cfg.id, %peer, limit = cfg.options.max_connections,
                "max-connections() reached, closing new connection");
            drop(stream);
            continue;
        }
        cfg.stats.connections.add(1);
        cfg.stats.open.add(1);
        let open = OpenGuard(cfg.stats.clone());
        let _ = stream.set_nodelay(true);
        let (config, stop, alive) = (config.clone(), stop.clone(), alive.clone());
        match cfg.tls.clone() {
            None => tokio::spawn(serve(stream, peer, config, stop, alive, open)),
            Some(tls) => tokio::spawn(async move {
                let stats = open.0.clone();
                // In the connection's own task, so a client that stalls the
                // handshake holds up nobody.
                let mut stop_wait = stop.clone();
                let handshake =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(tls).accept(stream));
                let session = tokio::select! {
                    _ = stop_wait.changed() => return,
                    done = handshake => done,
                };
                match session {
                    Ok(Ok(session)) => serve(session, peer, config, stop, alive, open).await,
                    Ok(Err(e)) => {
                        stats.tls_failures.add(1);
                        tracing::warn!(%peer, "TLS handshake failed: {e}");
                    }
                    Err(_) => {
                        stats.tls_failures.add(1);
                        tracing::warn!(%peer, "TLS handshake timed out after {HANDSHAKE_TIMEOUT:?}");
                    }
                }
            }),
        };
    }
}

/// Reads one connection (plain or TLS) until EOF, error, stop, or the removal
/// of its listener.
async fn serve<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    mut config: watch::Receiver<Arc<ListenerConfig>>,
    mut stop: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
    _open: OpenGuard,
) {
    // Keep only what the connection needs of its first config: holding the whole
    // config would keep a replaced destination's queue alive past a reload.
    let mut framer = {
        let first = config.borrow_and_update();
        tracing::debug!(source = %first.id, %peer, "connection opened");
        framer_for(&first)
    };
    let mut buf = BytesMut::with_capacity(READ_BUF);
    let mut frames: Vec<Frame> = Vec::new();
    loop {
        if buf.capacity() - buf.len() < READ_BUF / 4 {
            buf.reserve(READ_BUF);
        }
        let read = tokio::select! {
            biased;
            _ = stop.changed() => break,
            read = stream.read_buf(&mut buf) => read,
        };
        let eof = match read {
            Ok(n) => n == 0,
            Err(e) => {
                tracing::debug!(%peer, "connection read failed: {e}");
                true
            }
        };
        let removed = config.has_changed().is_err();
        let cfg = config.borrow_and_update().clone();
        frames.clear();
        let mut consumed = 0;
        loop {
            match framer.next(&buf[consumed..]) {
                Next::Frame(mut frame, n) => {
                    frame.range = frame.range.start + consumed..frame.range.end + consumed;
                    frames.push(frame);
                    consumed += n;
                }
                Next::Skip(n) => consumed += n,
                Next::NeedMore => break,
            }
        }
        if eof {
            if let Some(mut frame) = framer.finish(&buf[consumed..]) {
                frame.range = frame.range.start + consumed..frame.range.end + consumed;
                frames.push(frame);
            }
            consumed = buf.len();
        }
        let chunk = buf.split_to(consumed).freeze();
        if !frames.is_empty() {
            let recvd = Timestamp::now(&Zone::Local);
            let messages = to_messages(&chunk, &frames, recvd, peer, &cfg);
            cfg.routes.dispatch(messages, &cfg.stats).await;
        }
        if eof || removed {
            break;
        }
    }
    tracing::debug!(%peer, "connection closed");
}

fn framer_for(cfg: &ListenerConfig) -> Framer {
    let oversize = if cfg.options.trim_large_messages {
        Oversize::Truncate
    } else {
        Oversize::Split
    };
    Framer::new(cfg.options.framing, cfg.options.log_msg_size, oversize)
}

/// Parses the frames of one read into messages, counting what the source owns.
pub(super) fn to_messages(
    chunk: &Bytes,
    frames: &[Frame],
    recvd: Timestamp,
    peer: SocketAddr,
    cfg: &ListenerConfig,
) -> Vec<Message> {
    let mut out = Vec::with_capacity(frames.len());
    let (mut malformed, mut oversize) = (0u64, 0u64);
    for frame in frames {
        let bytes = chunk.slice(frame.range.clone());
        let mut msg = if frame.malformed {
            unframed(bytes, recvd, peer)
        } else {
            crate::parse::parse(bytes, recvd, Some(peer), &cfg.parse)
        };
        if frame.truncated {
            msg.flags.insert(Flags::TRUNCATED);
        }
        if frame.continuation {
            msg.flags.insert(Flags::CONTINUATION);
        }
        // One oversize message counts once, however many pieces it became.
        if frame.truncated || frame.split {
            oversize += 1;
        }
        if msg.flags.contains(Flags::PARSE_ERROR) {
            malformed += 1;
        }
        out.push(msg);
    }
    cfg.stats.received.add(out.len() as u64);
    cfg.stats.malformed.add(malformed);
    cfg.stats.oversize.add(oversize);
    out
}

/// A frame whose transport framing was broken (a bad octet count): kept whole
/// as MESSAGE and tagged, never dropped.
fn unframed(bytes: Bytes, recvd: Timestamp, peer: SocketAddr) -> Message {
    let len = bytes.len();
    let mut msg = Message::new(bytes, recvd);
    msg.set(Field::Message, Slot::raw(0, len));
    msg.peer = Some(peer);
    msg.flags.insert(Flags::PARSE_ERROR);
    msg.error = Some("malformed octet-counting frame");
    msg
}

/// Keeps the `open` gauge right however the connection ends.
struct OpenGuard(Arc<crate::telemetry::SourceStats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.sub(1);
    }
}
