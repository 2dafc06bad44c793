//! The connection of a forwarding destination: a task on the destination's
//! runtime that connects (TCP, TLS or UDP; the first server of the failover
//! list that answers), writes the frames the driver queued in the [`Outbox`],
//! and acknowledges each delivery once its bytes are written to the socket.
//!
//! What a dead connection may not have delivered is sent again on the next
//! one (at-least-once). The frames written last are kept in a window; when
//! the connection dies, the kernel says how many bytes the peer never
//! acknowledged (`SIOCOUTQ`), and every frame holding one of them is sent
//! again. Under TLS those are ciphertext bytes, never fewer than the plaintext
//! they carry, so the frames sent again cover them too. A peer's kernel
//! acknowledges what its application has not read yet, and a receiver that
//! stops or dies drops that: so the frames written in the last
//! [`HORIZON`] before the connection ended are sent again as well (a few
//! duplicates after a receiver restarts, rather than a gap).
//!
//! The task does not render or decide formats; the driver does.

use super::disk::{DiskQueue, Pos};
use crate::destinations::retry::Backoff;
use crate::logpath::Ack;
use crate::net::socket;
use crate::net::tls;
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
/// them over: in memory, or in the disk buffer. Bounded by the driver (see
/// [`Outbox::bytes`]).
pub struct Outbox {
    queue: Mutex<Queue>,
    pub disk: Option<DiskQueue>,
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
    /// `None` for frames sent again (their delivery was acknowledged before)
    /// and frames of the disk buffer (acknowledged once on disk).
    pub ack: Option<Ack>,
    /// Frames of the disk buffer: where the first starts, and where the
    /// record after them starts.
    pub from: Option<(Pos, Pos)>,
}

impl Outbox {
    pub fn new(disk: Option<DiskQueue>) -> Arc<Outbox> {
        Arc::new(Outbox {
            queue: Mutex::new(Queue::default()),
            disk,
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

    /// Wakes the sender: the driver appended to the disk buffer.
    pub fn notify(&self) {
        self.work.notify_one();
    }

    /// Takes segments from the front, at least one and up to about `limit` bytes.
    fn take(&self, limit: usize) -> Vec<Segment> {
        if let Some(disk) = &self.disk {
            return match disk.take(limit) {
                Ok(reads) => reads
                    .into_iter()
                    .map(|r| Segment {
                        bytes: r.bytes,
                        ends: r.ends,
                        ack: None,
                        from: Some((r.start, r.end)),
                    })
                    .collect(),
                Err(e) => {
                    tracing::error!("cannot read the disk buffer: {e}");
                    Vec::new()
                }
            };
        }
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

    /// Puts segments back at the front, in their order (the disk buffer's
    /// cursor goes back to the first).
    fn put_back(&self, segments: Vec<Segment>) {
        if let Some(disk) = &self.disk {
            if let Some((start, _)) = segments.first().and_then(|s| s.from) {
                disk.rewind(start);
            }
            return;
        }
        let mut q = self.lock();
        for s in segments.into_iter().rev() {
            q.bytes += s.bytes.len();
            q.segments.push_front(s);
        }
    }

    /// The peer has everything before `to` (disk buffer only).
    fn confirm(&self, to: Option<Pos>, save_now: bool) {
        if let Some(disk) = &self.disk {
            disk.confirm(to, save_now);
        }
    }

    /// Whether the disk buffer has a confirmed position to save.
    fn unsaved(&self) -> bool {
        self.disk.as_ref().is_some_and(|d| d.unsaved())
    }

    /// Everything handed out so far reached the peer (a clean close).
    fn confirm_all(&self) {
        if let Some(disk) = &self.disk {
            disk.confirm(Some(disk.read_pos()), true);
        }
    }

    pub fn finished(&self) -> bool {
        let q = self.lock();
        q.closing && q.segments.is_empty() && self.disk.as_ref().is_none_or(|d| d.drained())
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
    segments: VecDeque<Sent>,
    bytes: usize,
    cap: usize,
}

#[derive(Clone)]
struct Sent {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    from: Option<(Pos, Pos)>,
    at: Instant,
}

/// How long written frames stay in the window after the peer's kernel
/// acknowledged them: what a receiver may still hold unread.
const HORIZON: Duration = Duration::from_secs(1);
/// The window's bytes beyond the send buffer (what it keeps of the last
/// [`HORIZON`] at high rates).
const WINDOW_EXTRA: usize = 4 << 20;

impl Window {
    /// Keeps a written segment; returns where the disk buffer's confirmed
    /// part now ends when older ones had to go (a full window).
    fn push(&mut self, s: Segment, now: Instant) -> Option<Pos> {
        self.bytes += s.bytes.len();
        self.segments.push_back(Sent {
            bytes: s.bytes,
            ends: s.ends,
            from: s.from,
            at: now,
        });
        let mut confirmed = None;
        while let Some(front) = self.segments.front() {
            if self.bytes - front.bytes.len() < self.cap {
                break;
            }
            self.bytes -= front.bytes.len();
            confirmed = front.from.map(|f| f.1).or(confirmed);
            self.segments.pop_front();
        }
        confirmed
    }

    /// Lets go of the segments older than the last `unacked` bytes (the
    /// peer's kernel has them) and written before `now - HORIZON`. Returns
    /// where the disk buffer's confirmed part now ends.
    fn settle(&mut self, unacked: usize, now: Instant) -> Option<Pos> {
        let mut confirmed = None;
        while let Some(front) = self.segments.front() {
            if self.bytes - front.bytes.len() < unacked || now - front.at < HORIZON {
                break;
            }
            self.bytes -= front.bytes.len();
            confirmed = front.from.map(|f| f.1).or(confirmed);
            self.segments.pop_front();
        }
        confirmed
    }

    /// What a connection that ended at `now` may not have delivered: the
    /// last `unacked` bytes, and everything written within [`HORIZON`].
    fn at_risk(&self, unacked: usize, now: Instant) -> usize {
        let recent: usize = self
            .segments
            .iter()
            .rev()
            .take_while(|s| now - s.at < HORIZON)
            .map(|s| s.bytes.len())
            .sum();
        unacked.max(recent)
    }

    /// The frames holding the last `n` bytes written, whole, oldest first; the
    /// window is emptied (the peer has everything before them).
    fn take_last(&mut self, n: usize) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut need = n;
        while need > 0 {
            let Some(Sent {
                bytes, ends, from, ..
            }) = self.segments.pop_back()
            else {
                break;
            };
            if bytes.len() <= need {
                need -= bytes.len();
                out.push(Segment {
                    bytes,
                    ends,
                    ack: None,
                    from,
                });
                continue;
            }
            // The frame holding the first byte the peer may lack, and after.
            let cut = bytes.len() - need;
            let first = ends.partition_point(|&e| (e as usize) <= cut);
            let at = if first == 0 {
                0
            } else {
                ends[first - 1] as usize
            };
            out.push(Segment {
                bytes: bytes[at..].to_vec(),
                ends: ends[first..].iter().map(|e| e - at as u32).collect(),
                ack: None,
                from: from.map(|(start, end)| {
                    (
                        Pos {
                            frame: start.frame + first as u32,
                            ..start
                        },
                        end,
                    )
                }),
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
/// How often an idle connection asks the kernel what the peer acknowledged.
const SETTLE: Duration = Duration::from_millis(500);

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
                    cap: conn.sndbuf() + WINDOW_EXTRA,
                    ..Window::default()
                };
                let probe = target.failback.filter(|_| server != 0);
                let mut health = Health::new(&mut backoff, &destination);
                match serve(&mut conn, &outbox, &mut window, &target, probe, &mut health).await {
                    Ended::Done => {
                        conn.shutdown().await;
                        outbox.confirm_all();
                        return;
                    }
                    Ended::Failback => {
                        tracing::info!(%destination, server = %target.servers[0], "the primary server is back; switching to it");
                        conn.shutdown().await;
                        outbox.confirm_all();
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
                        let now = Instant::now();
                        let at_risk = window.at_risk(unacked, now);
                        // The rest is confirmed; what is at risk goes again.
                        outbox.confirm(window.settle(at_risk, now), true);
                        let again = window.take_last(at_risk);
                        let frames: usize = again.iter().map(|s| s.ends.len()).sum();
                        outbox.put_back(again);
                        format!(
                            "connection lost ({frames} messages to send again, {unacked} bytes unacknowledged): {why}"
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
                // The peer's acknowledgements move the disk buffer on while idle.
                _ = tokio::time::sleep(SETTLE), if !window.segments.is_empty() || outbox.unsaved() => {
                    let confirmed = window.settle(conn.unacked(window.bytes), Instant::now());
                    outbox.confirm(confirmed, false);
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
        let udp = matches!(conn, Conn::Udp(_));
        let now = Instant::now();
        let mut confirmed = None;
        for mut s in batch {
            if let Some(ack) = s.ack.take() {
                ack.ack();
            }
            if udp {
                // Nothing to send again: what left is gone either way.
                confirmed = s.from.map(|f| f.1).or(confirmed);
            } else {
                confirmed = window.push(s, now).or(confirmed);
            }
        }
        if !udp {
            confirmed = window.settle(conn.unacked(window.bytes), now).or(confirmed);
        }
        outbox.confirm(confirmed, false);
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

    fn frames(texts: &[&str]) -> Segment {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for t in texts {
            bytes.extend_from_slice(t.as_bytes());
            ends.push(bytes.len() as u32);
        }
        Segment {
            bytes,
            ends,
            ack: None,
            from: None,
        }
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
        w.push(frames(&["aaaa\n", "bbbb\n"]), Instant::now());
        w.push(frames(&["cccc\n", "dddd\n", "eeee\n"]), Instant::now());
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
            w.push(frames(&[t]), Instant::now());
        }
        assert_eq!(w.bytes, 10);
        assert_eq!(texts(&w.clone_take(100)), ["bbbb\n", "cccc\n"]);
        // What the peer's kernel acknowledged leaves the window once it is
        // older than the horizon: until then a receiver may hold it unread.
        let now = Instant::now();
        assert_eq!(w.at_risk(0, now), 10);
        w.settle(0, now);
        assert_eq!(w.bytes, 10);
        let later = now + HORIZON;
        assert_eq!(w.at_risk(3, later), 3);
        // Six unacknowledged bytes reach into "bbbb\n": it stays.
        w.settle(6, later);
        assert_eq!(texts(&w.clone_take(100)), ["bbbb\n", "cccc\n"]);
        w.settle(5, later);
        assert_eq!(texts(&w.clone_take(100)), ["cccc\n"]);
        w.settle(0, later);
        assert!(w.segments.is_empty() && w.bytes == 0);
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
