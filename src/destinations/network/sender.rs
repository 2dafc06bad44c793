//! The connection of a forwarding destination: a task on the destination's
//! runtime that connects (TCP, TLS or UDP; the first server of the failover
//! list that answers), writes the frames the driver queued in the [`Outbox`],
//! and acknowledges each delivery once its bytes are written to the socket.
//!
//! What a dead connection may not have delivered is sent again on the next
//! one (at-least-once): the frames written last are kept in a window as large
//! as the socket's send buffer, and when the connection dies the kernel says
//! how many bytes the peer never acknowledged (`SIOCOUTQ`); every frame that
//! holds one of them is re-sent. Under TLS those are ciphertext bytes, never
//! fewer than the plaintext they carry, so the re-sent frames cover them too.
//!
//! The task does not render or decide formats; the driver does.

use super::tls;
use crate::destinations::retry::Backoff;
use crate::logpath::Ack;
use crate::net::socket;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::ClientConfig;

/// Rendered frames the connection has not yet written, as the driver hands
/// them over. Bounded by the driver (see [`Outbox::bytes`]).
pub struct Outbox {
    queue: Mutex<Queue>,
    /// Driver to task: frames were queued, or the destination is closing.
    work: Notify,
    /// Task to driver (the worker loop): room was freed.
    pub room: Arc<Notify>,
}

#[derive(Default)]
struct Queue {
    segments: VecDeque<Segment>,
    bytes: usize,
    closing: bool,
}

/// Frames of one delivery (or frames sent again), with the promise to
/// acknowledge them.
pub struct Segment {
    pub bytes: Vec<u8>,
    /// Where each frame ends in `bytes`.
    pub ends: Vec<u32>,
    /// `None` for frames sent again: their delivery was acknowledged before.
    pub ack: Option<Ack>,
}

impl Outbox {
    pub fn new() -> Arc<Outbox> {
        Arc::new(Outbox {
            queue: Mutex::new(Queue::default()),
            work: Notify::new(),
            room: Arc::new(Notify::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The lock guards plain data that every holder leaves consistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, segment: Segment) {
        let mut q = self.lock();
        q.bytes += segment.bytes.len();
        q.segments.push_back(segment);
        drop(q);
        self.work.notify_one();
    }

    /// Bytes waiting to be written.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// No more frames come: the task writes what is queued and ends.
    pub fn close(&self) {
        self.lock().closing = true;
        self.work.notify_one();
    }

    /// Takes segments from the front, at least one and up to about `limit` bytes.
    fn take(&self, limit: usize) -> Vec<Segment> {
        let mut q = self.lock();
        let mut out = Vec::new();
        let mut taken = 0;
        while let Some(s) = q.segments.front() {
            if !out.is_empty() && taken + s.bytes.len() > limit {
                break;
            }
            taken += s.bytes.len();
            out.extend(q.segments.pop_front());
        }
        q.bytes -= taken;
        out
    }

    /// Puts segments back at the front, in their order.
    fn put_back(&self, segments: Vec<Segment>) {
        let mut q = self.lock();
        for s in segments.into_iter().rev() {
            q.bytes += s.bytes.len();
            q.segments.push_front(s);
        }
    }

    fn finished(&self) -> bool {
        let q = self.lock();
        q.closing && q.segments.is_empty()
    }
}

/// How the destination reaches its peer.
#[derive(Clone, Debug)]
pub struct Target {
    /// The host, then the failover servers, in order.
    pub servers: Vec<String>,
    pub port: u16,
    pub transport: Transport,
    /// `ip-protocol()`: only addresses of this family (4 or 6) when set.
    pub ip_protocol: Option<u8>,
    /// `localip()` and `localport()`.
    pub local: Option<SocketAddr>,
    pub keepalive: Option<(Duration, Duration, u32)>,
    pub sndbuf: usize,
    /// `close-on-input()`: anything the peer sends, or its EOF, ends the
    /// connection.
    pub close_on_input: bool,
    /// `time-reopen()`: the longest wait between connection attempts.
    pub time_reopen: Duration,
    /// `failover(failback(tcp-probe-interval() successful-probes-required()))`.
    pub failback: Option<(Duration, u32)>,
}

#[derive(Clone, Debug)]
pub enum Transport {
    Tcp,
    Udp,
    Tls(Arc<ClientConfig>),
}

/// One connection.
enum Conn {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Udp(UdpSocket),
}

impl Conn {
    fn fd(&self) -> RawFd {
        match self {
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Tls(s) => s.get_ref().0.as_raw_fd(),
            Conn::Udp(s) => s.as_raw_fd(),
        }
    }

    /// Writes one segment: as it is on a stream, one datagram per frame on UDP.
    async fn write(&mut self, s: &Segment) -> io::Result<()> {
        match self {
            Conn::Tcp(c) => c.write_all(&s.bytes).await,
            Conn::Tls(c) => c.write_all(&s.bytes).await,
            Conn::Udp(c) => {
                let mut start = 0;
                for &end in &s.ends {
                    c.send(&s.bytes[start..end as usize]).await?;
                    start = end as usize;
                }
                Ok(())
            }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Tcp(c) => c.flush().await,
            Conn::Tls(c) => c.flush().await,
            Conn::Udp(_) => Ok(()),
        }
    }

    /// Waits for the peer to send something or to close; UDP never does.
    async fn input(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(c) => c.read(buf).await,
            Conn::Tls(c) => c.read(buf).await,
            Conn::Udp(_) => std::future::pending().await,
        }
    }

    /// Bytes the peer has not acknowledged; all of them unless it is known.
    fn unacked(&self, written: usize) -> usize {
        match self {
            Conn::Udp(_) => 0,
            _ => socket::unacked(self.fd()).unwrap_or(written),
        }
    }

    /// The send buffer's size: no more can be unacknowledged than it holds.
    fn sndbuf(&self) -> usize {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: an open socket; SO_SNDBUF writes one c_int.
        let rc = unsafe {
            libc::getsockopt(
                self.fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc == 0 && v > 0 {
            v as usize
        } else {
            4 << 20
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Conn::Tcp(c) => c.shutdown().await,
            Conn::Tls(c) => c.shutdown().await,
            Conn::Udp(_) => Ok(()),
        };
    }
}

/// Frames already written (and acknowledged to their sources), newest last,
/// kept to be sent again if the connection dies before the peer has them.
#[derive(Default)]
struct Window {
    segments: VecDeque<(Vec<u8>, Vec<u32>)>,
    bytes: usize,
    cap: usize,
}

impl Window {
    fn push(&mut self, bytes: Vec<u8>, ends: Vec<u32>) {
        self.bytes += bytes.len();
        self.segments.push_back((bytes, ends));
        while let Some((front, _)) = self.segments.front() {
            if self.bytes - front.len() < self.cap {
                break;
            }
            self.bytes -= front.len();
            self.segments.pop_front();
        }
    }

    /// The frames holding the last `n` bytes written, whole, oldest first; the
    /// window is emptied (the peer has everything before them).
    fn take_last(&mut self, n: usize) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut need = n;
        while need > 0 {
            let Some((bytes, ends)) = self.segments.pop_back() else {
                break;
            };
            if bytes.len() <= need {
                need -= bytes.len();
                out.push(Segment {
                    bytes,
                    ends,
                    ack: None,
                });
                continue;
            }
            // The frame holding the first byte the peer may lack, and after.
            let cut = bytes.len() - need;
            let first = ends.partition_point(|&e| (e as usize) <= cut);
            let from = if first == 0 {
                0
            } else {
                ends[first - 1] as usize
            };
            out.push(Segment {
                bytes: bytes[from..].to_vec(),
                ends: ends[first..].iter().map(|e| e - from as u32).collect(),
                ack: None,
            });
            need = 0;
        }
        self.segments.clear();
        self.bytes = 0;
        out.reverse();
        out
    }
}

/// Why a connection ended.
enum Ended {
    /// The destination is closing and everything was written.
    Done,
    /// Back to the primary server, which answered its probes.
    Failback,
    Failed {
        why: String,
        rejected: bool,
    },
}

/// Bytes written between flushes.
const BATCH: usize = 256 << 10;

/// Runs the connection until the outbox is closed and written out.
pub async fn run(outbox: Arc<Outbox>, target: Target, destination: String) {
    let base = target.time_reopen.min(Duration::from_secs(1));
    let mut backoff = Backoff::new(base, target.time_reopen);
    let mut server = 0;
    loop {
        if outbox.finished() {
            return;
        }
        let name = &target.servers[server];
        let conn = tokio::select! {
            c = connect(&target, name) => c,
            _ = closed_and_empty(&outbox) => return,
        };
        let why = match conn {
            Ok(mut conn) => {
                tracing::debug!(%destination, server = %name, port = target.port, "connected");
                let mut window = Window {
                    cap: conn.sndbuf() + (64 << 10),
                    ..Window::default()
                };
                let probe = target.failback.filter(|_| server != 0);
                let mut health = Health::new(&mut backoff, &destination);
                match serve(&mut conn, &outbox, &mut window, &target, probe, &mut health).await {
                    Ended::Done => {
                        conn.shutdown().await;
                        return;
                    }
                    Ended::Failback => {
                        tracing::info!(%destination, server = %target.servers[0], "the primary server is back; switching to it");
                        conn.shutdown().await;
                        server = 0;
                        continue;
                    }
                    Ended::Failed { why, rejected } => {
                        // A peer that refused the session (a TLS alert after
                        // the handshake: the client certificate) read nothing.
                        let unacked = if rejected {
                            window.bytes
                        } else {
                            conn.unacked(window.bytes)
                        };
                        drop(conn);
                        let again = window.take_last(unacked);
                        let frames: usize = again.iter().map(|s| s.ends.len()).sum();
                        outbox.put_back(again);
                        format!(
                            "connection lost ({unacked} bytes unacknowledged, {frames} messages to send again): {why}"
                        )
                    }
                }
            }
            Err(e) => format!("cannot connect: {e}"),
        };
        let delay = backoff.next_delay();
        let attempt = backoff.attempts();
        if attempt == 1 || attempt.is_power_of_two() {
            tracing::error!(%destination, server = %name, port = target.port, attempt, retry_in = ?delay, "{why}");
        }
        server = (server + 1) % target.servers.len();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = closed_and_empty(&outbox) => return,
        }
    }
}

/// A connection counts as working once it has carried messages for a while:
/// then the failure burst before it is over (one log line, the backoff starts
/// again from its shortest wait). A peer that accepts and then drops every
/// connection stays one burst.
struct Health<'a> {
    backoff: &'a mut Backoff,
    destination: &'a str,
    since: Instant,
}

const HEALTHY_AFTER: Duration = Duration::from_secs(2);

impl<'a> Health<'a> {
    fn new(backoff: &'a mut Backoff, destination: &'a str) -> Health<'a> {
        Health {
            backoff,
            destination,
            since: Instant::now(),
        }
    }

    fn wrote(&mut self) {
        if self.backoff.attempts() > 0 && self.since.elapsed() >= HEALTHY_AFTER {
            tracing::info!(destination = %self.destination, attempts = self.backoff.attempts(), "delivering again");
            self.backoff.reset();
        }
    }
}

/// Whether the peer ended the session with a TLS alert: it refused us.
fn rejected(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<tokio_rustls::rustls::Error>())
        .is_some_and(|r| matches!(r, tokio_rustls::rustls::Error::AlertReceived(_)))
}

/// Resolves when the destination is closing and nothing is left to write.
async fn closed_and_empty(outbox: &Outbox) {
    loop {
        let notified = outbox.work.notified();
        if outbox.finished() {
            return;
        }
        notified.await;
    }
}

/// Writes until the connection fails or the outbox is closed and empty.
async fn serve(
    conn: &mut Conn,
    outbox: &Outbox,
    window: &mut Window,
    target: &Target,
    probe: Option<(Duration, u32)>,
    health: &mut Health<'_>,
) -> Ended {
    let mut input = [0u8; 512];
    let mut probes_ok = 0;
    let mut next_probe = probe.map(|(every, _)| Instant::now() + every);
    loop {
        let batch = outbox.take(BATCH);
        if batch.is_empty() {
            if outbox.finished() {
                return Ended::Done;
            }
            tokio::select! {
                _ = outbox.work.notified() => {}
                r = conn.input(&mut input), if target.close_on_input => {
                    let rejected = r.as_ref().is_err_and(rejected);
                    let why = match r {
                        Ok(0) => "closed by the peer".into(),
                        Ok(_) => "the peer sent data (close-on-input)".into(),
                        Err(e) => e.to_string(),
                    };
                    return Ended::Failed { why, rejected };
                }
                _ = sleep_until(next_probe), if next_probe.is_some() => {
                    let (every, needed) = probe.expect("set with next_probe");
                    if probe_primary(target).await {
                        probes_ok += 1;
                        if probes_ok >= needed {
                            return Ended::Failback;
                        }
                    } else {
                        probes_ok = 0;
                    }
                    next_probe = Some(Instant::now() + every);
                }
            }
            continue;
        }
        let mut result = Ok(());
        for s in &batch {
            result = conn.write(s).await;
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = conn.flush().await;
        }
        if let Err(e) = result {
            outbox.put_back(batch);
            return Ended::Failed {
                why: e.to_string(),
                rejected: rejected(&e),
            };
        }
        health.wrote();
        for s in batch {
            if let Some(ack) = s.ack {
                ack.ack();
            }
            if !matches!(conn, Conn::Udp(_)) {
                window.push(s.bytes, s.ends);
            }
        }
        outbox.room.notify_one();
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// One failback probe: does the primary server accept a TCP connection?
async fn probe_primary(target: &Target) -> bool {
    let Ok(addrs) = resolve(target, &target.servers[0]).await else {
        return false;
    };
    for addr in addrs {
        let attempt = tokio::time::timeout(connect_timeout(target), TcpStream::connect(addr));
        if let Ok(Ok(_)) = attempt.await {
            return true;
        }
    }
    false
}

fn connect_timeout(target: &Target) -> Duration {
    target
        .time_reopen
        .clamp(Duration::from_secs(1), Duration::from_secs(30))
}

async fn resolve(target: &Target, host: &str) -> io::Result<Vec<SocketAddr>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, target.port))
        .await?
        .filter(|a| match target.ip_protocol {
            Some(4) => a.is_ipv4(),
            Some(6) => a.is_ipv6(),
            _ => true,
        })
        .collect();
    if addrs.is_empty() {
        let family = target
            .ip_protocol
            .map_or(String::new(), |v| format!(" IPv{v}"));
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} has no{family} address"),
        ));
    }
    Ok(addrs)
}

/// Connects to `host`: each of its addresses in turn, then TLS on top.
async fn connect(target: &Target, host: &str) -> io::Result<Conn> {
    let addrs = resolve(target, host).await?;
    let mut last = None;
    for addr in addrs {
        let attempt = tokio::time::timeout(connect_timeout(target), connect_to(target, host, addr));
        match attempt.await {
            Ok(Ok(c)) => return Ok(c),
            Ok(Err(e)) => last = Some(io::Error::new(e.kind(), format!("{addr}: {e}"))),
            Err(_) => {
                last = Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{addr}: no answer"),
                ))
            }
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no address")))
}

async fn connect_to(target: &Target, host: &str, addr: SocketAddr) -> io::Result<Conn> {
    if let Transport::Udp = target.transport {
        let local = target.local.unwrap_or_else(|| unspecified(addr));
        let s = UdpSocket::bind(local).await?;
        socket::set_sndbuf(s.as_raw_fd(), target.sndbuf);
        s.connect(addr).await?;
        return Ok(Conn::Udp(s));
    }
    let s = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(local) = target.local {
        s.bind(local)?;
    }
    socket::set_sndbuf(s.as_raw_fd(), target.sndbuf);
    let stream = s.connect(addr).await?;
    stream.set_nodelay(true)?;
    if let Some(k) = target.keepalive {
        socket::set_keepalive(stream.as_raw_fd(), k);
    }
    match &target.transport {
        Transport::Tls(config) => {
            let name = tls::server_name(host).map_err(io::Error::other)?;
            let tls = TlsConnector::from(config.clone())
                .connect(name, stream)
                .await?;
            Ok(Conn::Tls(Box::new(tls)))
        }
        _ => Ok(Conn::Tcp(stream)),
    }
}

fn unspecified(peer: SocketAddr) -> SocketAddr {
    if peer.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(texts: &[&str]) -> (Vec<u8>, Vec<u32>) {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for t in texts {
            bytes.extend_from_slice(t.as_bytes());
            ends.push(bytes.len() as u32);
        }
        (bytes, ends)
    }

    fn texts(segments: &[Segment]) -> Vec<String> {
        let mut out = Vec::new();
        for s in segments {
            let mut start = 0;
            for &e in &s.ends {
                out.push(String::from_utf8_lossy(&s.bytes[start..e as usize]).into_owned());
                start = e as usize;
            }
        }
        out
    }

    #[test]
    fn the_window_resends_every_frame_holding_an_unacknowledged_byte() {
        let mut w = Window {
            cap: 1 << 20,
            ..Window::default()
        };
        let (b, e) = frames(&["aaaa\n", "bbbb\n"]);
        w.push(b, e);
        let (b, e) = frames(&["cccc\n", "dddd\n", "eeee\n"]);
        w.push(b, e);
        // The last byte alone: its frame, whole.
        assert_eq!(texts(&w.clone_take(1)), ["eeee\n"]);
        // Six bytes reach into the frame before.
        assert_eq!(texts(&w.clone_take(6)), ["dddd\n", "eeee\n"]);
        // Across segments, oldest first.
        assert_eq!(
            texts(&w.clone_take(16)),
            ["bbbb\n", "cccc\n", "dddd\n", "eeee\n"]
        );
        // More than the window holds: all of it.
        assert_eq!(texts(&w.clone_take(1000)).len(), 5);
        assert!(w.clone_take(0).is_empty());
        // Taking empties it: the peer has the rest.
        assert_eq!(texts(&w.take_last(5)), ["eeee\n"]);
        assert_eq!(w.bytes, 0);
        assert!(w.take_last(100).is_empty());
    }

    #[test]
    fn the_window_keeps_the_newest_bytes_up_to_its_cap() {
        let mut w = Window {
            cap: 10,
            ..Window::default()
        };
        for t in ["aaaa\n", "bbbb\n", "cccc\n"] {
            let (b, e) = frames(&[t]);
            w.push(b, e);
        }
        assert_eq!(w.bytes, 10);
        assert_eq!(texts(&w.take_last(100)), ["bbbb\n", "cccc\n"]);
    }

    impl Window {
        fn clone_take(&self, n: usize) -> Vec<Segment> {
            let mut copy = Window {
                segments: self.segments.clone(),
                bytes: self.bytes,
                cap: self.cap,
            };
            copy.take_last(n)
        }
    }
}
