//! The TCP listener and its connections.
//!
//! One task accepts; one task per connection reads big buffers, frames and parses
//! every complete message in place (messages share the read buffer), and hands
//! the lot to the routes as one batch. While a flow-controlled destination is
//! full, `dispatch` waits, the task stops reading, and TCP pushes back on the
//! sender.

use super::framing::{Frame, Framer, Next, Oversize};
use super::hostname::HostOptions;
use super::{Listener, ListenerConfig};
use crate::message::{Field, Flags, Message, Slot, Timestamp, Zone};
use crate::net::socket::{set_keepalive, set_rcvbuf};
use crate::telemetry::{LogThrottle, SourceStats};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

/// How much one read asks for: large enough that a busy connection costs one
/// syscall per thousand messages.
const READ_BUF: usize = 256 * 1024;

/// How long a TLS client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// TLS handshakes in progress at once on one listener, and from one address.
const MAX_HANDSHAKES: usize = 256;
const MAX_HANDSHAKES_PER_PEER: usize = 16;

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
    Ok(Listener::new(local_addr, tx, task))
}

async fn accept_loop(
    listener: TcpListener,
    mut config: watch::Receiver<Arc<ListenerConfig>>,
    mut stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    let handshakes = Arc::new(Handshakes::default());
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
                // EMFILE and friends: back off briefly instead of spinning, and
                // say so once per interval, not ten times a second.
                static THROTTLE: LogThrottle = LogThrottle::new();
                if let Some(held_back) = THROTTLE.allow(std::time::Duration::from_secs(10)) {
                    tracing::warn!(held_back, "accept failed: {e}");
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let cfg = config.borrow().clone();
        let _ = stream.set_nodelay(true);
        if let Some(k) = cfg.options.keepalive {
            set_keepalive(stream.as_raw_fd(), k);
        }
        let (config, stop, alive) = (config.clone(), stop.clone(), alive.clone());
        let Some(tls) = cfg.tls.clone() else {
            if let Some(open) = admit(&cfg, peer) {
                tokio::spawn(serve(stream, peer, config, stop, alive, open));
            }
            continue;
        };
        // Until its handshake is done a client holds a handshake slot, not a
        // connection: unauthenticated clients cannot crowd out real ones, and
        // one address cannot take every slot.
        let Some(slot) = handshakes.claim(peer.ip()) else {
            cfg.stats.rejected.add(1);
            handshake_failed(&cfg.stats, peer, "too many TLS handshakes in progress");
            continue;
        };
        tokio::spawn(async move {
            let mut stop_wait = stop.clone();
            let handshake =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(tls).accept(stream));
            let session = tokio::select! {
                _ = stop_wait.changed() => return,
                done = handshake => done,
            };
            drop(slot);
            let cfg = config.borrow().clone();
            match session {
                Ok(Ok(session)) => {
                    if let Some(open) = admit(&cfg, peer) {
                        serve(session, peer, config, stop, alive, open).await;
                    }
                }
                Ok(Err(e)) => handshake_failed(&cfg.stats, peer, e),
                Err(_) => handshake_failed(&cfg.stats, peer, "the handshake timed out"),
            }
        });
    }
}

/// Counts a new connection against `max-connections()`, or refuses it.
fn admit(cfg: &ListenerConfig, peer: SocketAddr) -> Option<OpenGuard> {
    if cfg.stats.open.get() as usize >= cfg.options.max_connections {
        cfg.stats.rejected.add(1);
        tracing::warn!(source = %cfg.id, %peer, limit = cfg.options.max_connections,
            "max-connections() reached, closing new connection");
        return None;
    }
    cfg.stats.connections.add(1);
    cfg.stats.open.add(1);
    Some(OpenGuard(cfg.stats.clone()))
}

/// Counts a failed handshake. Logged as a warning at most every 10 s, so a
/// scanner or a misconfigured fleet cannot flood the log; the counter
/// `tls_failures` has the full count.
fn handshake_failed(stats: &SourceStats, peer: SocketAddr, why: impl std::fmt::Display) {
    static THROTTLE: LogThrottle = LogThrottle::new();
    stats.tls_failures.add(1);
    match THROTTLE.allow(std::time::Duration::from_secs(10)) {
        Some(held_back) => tracing::warn!(%peer, failures = stats.tls_failures.get(), held_back,
            "TLS handshake failed: {why}"),
        None => tracing::debug!(%peer, "TLS handshake failed: {why}"),
    }
}

/// TLS handshakes in progress on one listener, in all and per client address.
#[derive(Default)]
struct Handshakes {
    per_peer: Mutex<HashMap<IpAddr, usize>>,
}

/// A claimed handshake slot; dropping it frees the slot.
struct HandshakeSlot {
    owner: Arc<Handshakes>,
    ip: IpAddr,
}

impl Handshakes {
    fn claim(self: &Arc<Self>, ip: IpAddr) -> Option<HandshakeSlot> {
        let mut map = self.per_peer.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = map.values().sum();
        let mine = map.entry(ip).or_default();
        if total >= MAX_HANDSHAKES || *mine >= MAX_HANDSHAKES_PER_PEER {
            return None;
        }
        *mine += 1;
        Some(HandshakeSlot {
            owner: self.clone(),
            ip,
        })
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        let mut map = self
            .owner
            .per_peer
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
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
    let (mut framer, policy, idle) = {
        let first = config.borrow_and_update();
        tracing::debug!(source = %first.id, %peer, "connection opened");
        (
            framer_for(&first),
            first.options.tls.clone(),
            first.options.idle_timeout,
        )
    };
    let silent = || async move {
        match idle {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let mut buf = BytesMut::with_capacity(READ_BUF);
    let mut frames: Vec<Frame> = Vec::new();
    // The peer's name for use-dns(), looked up once per connection (again
    // only if a reload changes the hostname options).
    let mut host: Option<(HostOptions, Option<Arc<str>>)> = None;
    loop {
        if buf.capacity() - buf.len() < READ_BUF / 4 {
            buf.reserve(READ_BUF);
        }
        let read = tokio::select! {
            biased;
            _ = stop.changed() => break,
            changed = config.changed() => {
                // A reload: the listener is gone, or its TLS policy changed so
                // this connection would no longer be admitted (plain text on
                // what is now a TLS port, a new CA or peer-verify()).
                if changed.is_err() || config.borrow().options.tls != policy {
                    tracing::info!(%peer, "closing a connection the new config no longer admits");
                    break;
                }
                continue;
            }
            read = stream.read_buf(&mut buf) => read,
            () = silent() => {
                tracing::debug!(%peer, "closing a connection idle for idle-timeout()");
                Ok(0)
            }
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
            if host.as_ref().is_none_or(|(o, _)| *o != cfg.host) {
                host = Some((cfg.host.clone(), cfg.host.resolve(peer.ip()).await));
            }
            let name = host.as_ref().and_then(|(_, n)| n.as_ref());
            let recvd = Timestamp::now(&Zone::Local);
            let messages = to_messages(&chunk, &frames, recvd, peer, name, &cfg);
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
/// `name` is the peer's resolved name, when use-dns() found one.
pub(super) fn to_messages(
    chunk: &Bytes,
    frames: &[Frame],
    recvd: Timestamp,
    peer: SocketAddr,
    name: Option<&Arc<str>>,
    cfg: &ListenerConfig,
) -> Vec<Message> {
    let mut out = Vec::with_capacity(frames.len());
    let (mut malformed, mut oversize, mut empty) = (0u64, 0u64, 0u64);
    for frame in frames {
        let bytes = chunk.slice(frame.range.clone());
        // syslog-ng drops blank lines rather than logging empty messages.
        if !frame.continuation && crate::parse::is_blank(&bytes) {
            empty += 1;
            continue;
        }
        let mut msg = if frame.malformed {
            unframed(bytes, recvd, peer)
        } else {
            crate::parse::parse(bytes, recvd, Some(peer), &cfg.parse)
        };
        msg.origin = cfg.origin;
        cfg.host.apply(&mut msg, name);
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
    if cfg.rcptid {
        crate::sources::number(&mut out);
    }
    cfg.stats.received.add(out.len() as u64);
    cfg.stats.malformed.add(malformed);
    cfg.stats.oversize.add(oversize);
    cfg.stats.empty.add(empty);
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
