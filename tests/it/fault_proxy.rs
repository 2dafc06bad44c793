//! A fault-injecting HTTP/1.1 proxy for the object-store tests. It listens on a
//! loopback port in front of an S3 server and, switched at run time through its
//! handle, forwards, refuses connections, resets them, hangs, delays or
//! throttles, or answers requests itself with S3 error documents. It counts every
//! request it sees, so a test can assert that retries happened.
//!
//! It forwards request and response bytes unchanged: a SigV4 signature covers the
//! Host header and the payload, so rewriting anything would break the upstream's
//! check. It parses only the framing (head, Content-Length, chunked), which is
//! what keeps a client's keep-alive connection usable across injected answers.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A running proxy; stops and cuts every connection when dropped.
pub struct FaultProxy {
    /// The proxy's listening address (127.0.0.1, a free port).
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, for a destination's `url()`.
    pub endpoint: String,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    upstream: String,
    state: Mutex<State>,
    stop: AtomicBool,
    /// Whether the listener is bound, so `refuse()` can wait until it is not.
    listening: AtomicBool,
    /// Every open socket, client and upstream side, to cut on drop.
    sockets: Mutex<HashMap<u64, TcpStream>>,
    next_socket: AtomicU64,
    /// When the throttled upload link is next free; shared by all connections,
    /// so the limit is the store's bandwidth, not each connection's.
    link: Mutex<Instant>,
}

#[derive(Default)]
struct State {
    mode: Mode,
    inject: Option<Inject>,
    delay: Duration,
    throttle: Option<u64>,
    seen: Vec<String>,
    connections: usize,
    /// Requests forwarded and not yet answered, and the most there were.
    in_flight: usize,
    max_in_flight: usize,
    /// Requests whose replies are lost: (method, text in the target, how many,
    /// reset or hold).
    lose: Vec<(String, String, usize, Mode)>,
}

#[derive(Clone, Copy, Default, PartialEq, Debug)]
enum Mode {
    #[default]
    Pass,
    Refuse,
    ResetRequest,
    ResetResponse,
    /// Forwards the request, then never answers.
    HoldResponse,
    Hang,
}

#[derive(Clone, Debug)]
struct Inject {
    status: u16,
    code: String,
    retry_after: Option<u32>,
    /// None: every request until the fault is changed.
    remaining: Option<usize>,
}

/// What one request meets, decided when its head arrives.
struct Plan {
    mode: Mode,
    inject: Option<Inject>,
    delay: Duration,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream`, as `host:port` or
    /// `http://host:port[/...]`.
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fault proxy");
        // Polled, so the accept loop can close and reopen the listener and notice stop.
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            listening: AtomicBool::new(true),
            sockets: Mutex::new(HashMap::new()),
            next_socket: AtomicU64::new(0),
            link: Mutex::new(Instant::now()),
        });
        let s = shared.clone();
        let accept = thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || accept_loop(s, listener, addr))
            .unwrap();
        FaultProxy {
            addr,
            endpoint: format!("http://{addr}"),
            shared,
            accept: Some(accept),
        }
    }

    /// Forwards everything: clears every fault, delay and throttle.
    pub fn pass(&self) {
        {
            let mut st = self.shared.state();
            st.mode = Mode::Pass;
            st.inject = None;
            st.delay = Duration::ZERO;
            st.throttle = None;
        }
        self.wait_listening(true);
    }

    /// Closes the listener, so connecting is refused (ECONNREFUSED); a request
    /// on a connection opened before is met by a close without an answer.
    pub fn refuse(&self) {
        self.set_mode(Mode::Refuse);
        self.wait_listening(false);
    }

    /// Reads each request's head, then resets the connection (RST) mid-request.
    pub fn reset(&self) {
        self.set_mode(Mode::ResetRequest);
    }

    /// Forwards each request, so the store has acted on it, then sends the
    /// client half the response and resets the connection.
    pub fn reset_response(&self) {
        self.set_mode(Mode::ResetResponse);
    }

    /// Forwards the next `n` requests with `method` whose target contains
    /// `needle`, so the store acts on them, and loses their replies (a reset
    /// instead): the client cannot know the write landed. Other requests pass.
    pub fn lose_reply(&self, method: &str, needle: &str, n: usize) {
        let mut st = self.shared.state();
        let l = (
            method.to_string(),
            needle.to_string(),
            n,
            Mode::ResetResponse,
        );
        st.lose.push(l);
    }

    /// As `lose_reply`, but the reply is held back for good: the client waits
    /// (until it gives up, or is killed) with the write landed.
    pub fn hold_reply(&self, method: &str, needle: &str, n: usize) {
        let mut st = self.shared.state();
        let l = (
            method.to_string(),
            needle.to_string(),
            n,
            Mode::HoldResponse,
        );
        st.lose.push(l);
    }

    /// Reads each request and never answers; the connection stays open until
    /// the client gives up or the proxy is dropped.
    pub fn hang(&self) {
        self.set_mode(Mode::Hang);
    }

    /// Holds every response (forwarded or injected) for `d`, on top of the fault.
    pub fn delay(&self, d: Duration) {
        self.shared.state().delay = d;
    }

    /// Limits request bytes sent upstream to `bytes_per_sec`, across all
    /// connections: a slow store. The client sees backpressure once the
    /// kernel's socket buffers fill.
    pub fn throttle(&self, bytes_per_sec: u64) {
        assert!(bytes_per_sec > 0, "throttle(0): use hang()");
        self.shared.state().throttle = Some(bytes_per_sec);
    }

    /// Answers the next `n` requests with S3's throttling reply: 503 SlowDown.
    pub fn slow_down(&self, n: usize) {
        self.inject(503, "SlowDown", None, Some(n));
    }

    /// As `slow_down`, with a `Retry-After: secs` header.
    pub fn slow_down_retry_after(&self, n: usize, secs: u32) {
        self.inject(503, "SlowDown", Some(secs), Some(n));
    }

    /// Answers every request with `status` and an S3 error document with
    /// `s3_code` (403 AccessDenied, 404 NoSuchBucket, 500 InternalError...),
    /// until the fault is changed.
    pub fn status(&self, status: u16, s3_code: &str) {
        self.inject(status, s3_code, None, None);
    }

    /// As `status`, for the next `n` requests only.
    pub fn status_n(&self, n: usize, status: u16, s3_code: &str) {
        self.inject(status, s3_code, None, Some(n));
    }

    /// Cuts every open connection, a hung one included, as a store that
    /// restarts does; the current fault stays.
    pub fn cut(&self) {
        for s in self.shared.sockets.lock().unwrap().values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Requests seen so far, whatever they met.
    pub fn requests(&self) -> usize {
        self.shared.state().seen.len()
    }

    /// Requests seen so far with `method` ("PUT", "POST", ...).
    pub fn count(&self, method: &str) -> usize {
        let prefix = format!("{method} ");
        self.shared
            .state()
            .seen
            .iter()
            .filter(|l| l.starts_with(&prefix))
            .count()
    }

    /// Every request seen, as "METHOD target" (`PUT /bucket/key?partNumber=1&uploadId=...`).
    pub fn seen(&self) -> Vec<String> {
        self.shared.state().seen.clone()
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.state().connections
    }

    /// The most requests the proxy had forwarded and not yet answered at
    /// once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.state().max_in_flight
    }

    /// Forgets the requests and connections counted so far.
    pub fn clear_counts(&self) {
        let mut st = self.shared.state();
        st.seen.clear();
        st.connections = 0;
    }

    fn set_mode(&self, mode: Mode) {
        let mut st = self.shared.state();
        st.mode = mode;
        st.inject = None;
        drop(st);
        if mode != Mode::Refuse {
            self.wait_listening(true);
        }
    }

    fn inject(&self, status: u16, code: &str, retry_after: Option<u32>, n: Option<usize>) {
        let mut st = self.shared.state();
        st.mode = Mode::Pass;
        st.inject = Some(Inject {
            status,
            code: code.to_string(),
            retry_after,
            remaining: n,
        });
        drop(st);
        self.wait_listening(true);
    }

    /// The accept loop applies refuse and its end asynchronously; wait, so a
    /// test's next connect meets the new state.
    fn wait_listening(&self, want: bool) {
        let end = Instant::now() + Duration::from_secs(5);
        while self.shared.listening.load(Ordering::SeqCst) != want {
            assert!(Instant::now() < end, "fault proxy listener stuck");
            thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        // Wakes connection threads blocked in a read (hang, an idle keep-alive).
        for s in self.shared.sockets.lock().unwrap().values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A test thread that panicked holding the lock must not hide its own
        // failure behind a poison error in another test's drop.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, s: &TcpStream) -> u64 {
        let id = self.next_socket.fetch_add(1, Ordering::Relaxed);
        if let Ok(c) = s.try_clone() {
            self.sockets.lock().unwrap().insert(id, c);
        }
        id
    }

    /// Drops the registered duplicate, so closing the caller's socket closes it.
    fn unregister(&self, id: u64) {
        self.sockets.lock().unwrap().remove(&id);
    }

    fn plan(&self, head: &Head) -> Plan {
        let mut st = self.state();
        st.seen.push(format!("{} {}", head.method(), head.target()));
        let inject = match &mut st.inject {
            Some(i) => {
                let now = i.clone();
                if let Some(n) = &mut i.remaining {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        st.inject = None;
                    }
                }
                Some(now)
            }
            None => None,
        };
        let mut mode = st.mode;
        if let Some(l) = st.lose.iter_mut().find(|(m, needle, n, _)| {
            *n > 0 && m == head.method() && head.target().contains(needle.as_str())
        }) {
            l.2 -= 1;
            mode = l.3;
        }
        Plan {
            mode,
            inject,
            delay: st.delay,
        }
    }

    /// Writes request bytes upstream at the throttled rate, if any.
    fn send_up(&self, up: &TcpStream, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let Some(bps) = self.state().throttle else {
                return (&*up).write_all(data);
            };
            // Small slices, so the rate holds over a fraction of a second.
            let n = data.len().min((bps / 20).clamp(1, 16 * 1024) as usize);
            let start = {
                let mut next = self.link.lock().unwrap();
                let start = (*next).max(Instant::now());
                *next = start + Duration::from_secs_f64(n as f64 / bps as f64);
                start
            };
            if let Some(wait) = start.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            (&*up).write_all(&data[..n])?;
            data = &data[n..];
        }
        Ok(())
    }
}

fn accept_loop(shared: Arc<Shared>, listener: TcpListener, addr: SocketAddr) {
    let mut listener = Some(listener);
    while !shared.stop.load(Ordering::SeqCst) {
        let refusing = shared.state().mode == Mode::Refuse;
        if refusing {
            // Dropping the listener makes the kernel refuse (and reset whatever
            // waited in the backlog), as a store that is down does.
            listener = None;
            shared.listening.store(false, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(2));
            continue;
        }
        let Some(l) = &listener else {
            // std sets SO_REUSEADDR, so the same port binds again at once.
            match TcpListener::bind(addr) {
                Ok(l) => {
                    l.set_nonblocking(true).unwrap();
                    listener = Some(l);
                    shared.listening.store(true, Ordering::SeqCst);
                }
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
            continue;
        };
        match l.accept() {
            Ok((s, _)) => {
                let _ = s.set_nonblocking(false);
                let _ = s.set_nodelay(true);
                shared.state().connections += 1;
                let sh = shared.clone();
                let _ = thread::Builder::new()
                    .name("fault-proxy-conn".into())
                    .spawn(move || connection(sh, s));
            }
            Err(_) => thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// How a client connection ends.
#[derive(PartialEq)]
enum End {
    Close,
    Reset,
}

fn connection(shared: Arc<Shared>, client: TcpStream) {
    let id = shared.register(&client);
    let end = serve(&shared, &client).unwrap_or(End::Close);
    shared.unregister(id);
    if end == End::Reset {
        reset_on_close(&client);
    }
}

/// SO_LINGER with a zero timeout: close() then sends RST instead of FIN.
fn reset_on_close(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn serve(shared: &Shared, client: &TcpStream) -> io::Result<End> {
    let mut rd = Reader::new(client);
    let mut out = client;
    loop {
        let Some(raw) = rd.read_head()? else {
            return Ok(End::Close);
        };
        let Some(req) = Head::parse(raw) else {
            return Ok(End::Close);
        };
        let plan = shared.plan(&req);
        let body = req.request_body();
        match plan.mode {
            Mode::Refuse => return Ok(End::Close),
            Mode::ResetRequest => return Ok(End::Reset),
            Mode::Hang => {
                rd.copy_body(body, &mut |_| Ok(()))?;
                while rd.fill()? > 0 {
                    rd.consume_all();
                }
                return Ok(End::Close);
            }
            Mode::Pass | Mode::ResetResponse | Mode::HoldResponse => {}
        }
        if let Some(inj) = plan.inject {
            // The client waits for 100 Continue before sending its body; a final
            // answer instead means it never sends it, which only a close makes
            // unambiguous (RFC 9110, 10.1.1).
            let expect = req.expects_continue();
            if !expect {
                rd.copy_body(body, &mut |_| Ok(()))?;
            }
            thread::sleep(plan.delay);
            let close = expect || req.wants_close();
            out.write_all(&error_response(&inj, req.method() == "HEAD", close))?;
            if close {
                return Ok(End::Close);
            }
            continue;
        }
        if req.expects_continue() {
            // Answered here and the body sent on without waiting for the
            // upstream's 100, which is skipped below; keeps one request in flight.
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let up = match TcpStream::connect(&shared.upstream) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("fault proxy: cannot reach {}: {e}", shared.upstream);
                return Ok(End::Close);
            }
        };
        let _ = up.set_nodelay(true);
        let up_id = shared.register(&up);
        {
            let mut st = shared.state();
            st.in_flight += 1;
            st.max_in_flight = st.max_in_flight.max(st.in_flight);
        }
        let result = exchange(shared, &mut rd, out, &up, &req, body, &plan);
        shared.state().in_flight -= 1;
        shared.unregister(up_id);
        match result? {
            Some(end) => return Ok(end),
            None if req.wants_close() => return Ok(End::Close),
            None => {}
        }
    }
}

/// Forwards one request on a fresh upstream connection and relays its answer.
/// A fresh connection per request spares the proxy from reusing an upstream
/// connection the store has closed meanwhile. Some(end) ends the client connection.
fn exchange(
    shared: &Shared,
    rd: &mut Reader<&TcpStream>,
    mut out: &TcpStream,
    up: &TcpStream,
    req: &Head,
    body: Body,
    plan: &Plan,
) -> io::Result<Option<End>> {
    shared.send_up(up, &req.raw)?;
    rd.copy_body(body, &mut |b| shared.send_up(up, b))?;
    let mut urd = Reader::new(up);
    let resp = loop {
        let Some(raw) = urd.read_head()? else {
            return Ok(Some(End::Close));
        };
        let Some(h) = Head::parse(raw) else {
            return Ok(Some(End::Close));
        };
        if !(100..200).contains(&h.status()) {
            break h;
        }
    };
    let rbody = resp.response_body(req.method(), resp.status());
    thread::sleep(plan.delay);
    if plan.mode == Mode::ResetResponse {
        let mut all = resp.raw.clone();
        urd.copy_body(rbody, &mut |b| {
            all.extend_from_slice(b);
            Ok(())
        })?;
        out.write_all(&all[..all.len() / 2])?;
        return Ok(Some(End::Reset));
    }
    if plan.mode == Mode::HoldResponse {
        urd.copy_body(rbody, &mut |_| Ok(()))?;
        while rd.fill()? > 0 {
            rd.consume_all();
        }
        return Ok(Some(End::Close));
    }
    out.write_all(&resp.raw)?;
    urd.copy_body(rbody, &mut |b| out.write_all(b))?;
    if rbody == Body::UntilClose || resp.wants_close() {
        return Ok(Some(End::Close));
    }
    Ok(None)
}

fn error_response(inj: &Inject, head: bool, close: bool) -> Vec<u8> {
    let message = match inj.code.as_str() {
        "SlowDown" => "Please reduce your request rate.",
        "InternalError" => "We encountered an internal error. Please try again.",
        "ServiceUnavailable" => "Service is unable to handle request.",
        "AccessDenied" => "Access Denied",
        "NoSuchBucket" => "The specified bucket does not exist",
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided."
        }
        _ => "Injected by the test fault proxy.",
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{message}</Message><RequestId>FAULTPROXY</RequestId></Error>",
        inj.code
    );
    let reason = match inj.status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        500 => "Internal Server Error",
        503 => "Slow Down",
        _ => "Error",
    };
    let mut r = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nx-amz-request-id: FAULTPROXY\r\n",
        inj.status,
        body.len()
    );
    if let Some(s) = inj.retry_after {
        r.push_str(&format!("Retry-After: {s}\r\n"));
    }
    if close {
        r.push_str("Connection: close\r\n");
    }
    r.push_str("\r\n");
    if !head {
        r.push_str(&body);
    }
    r.into_bytes()
}

/// How a message's body is delimited.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Body {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A request or response head, kept raw for forwarding.
pub struct Head {
    pub raw: Vec<u8>,
    first: Vec<String>,
    headers: Vec<(String, String)>,
}

impl Head {
    pub fn parse(raw: Vec<u8>) -> Option<Head> {
        let text = std::str::from_utf8(&raw).ok()?;
        let mut lines = text.split("\r\n");
        let first = lines
            .next()?
            .splitn(3, ' ')
            .map(str::to_string)
            .collect::<Vec<_>>();
        if first.len() < 2 {
            return None;
        }
        let headers = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
            })
            .collect();
        Some(Head {
            raw,
            first,
            headers,
        })
    }

    pub fn method(&self) -> &str {
        &self.first[0]
    }

    pub fn target(&self) -> &str {
        &self.first[1]
    }

    /// A response's status code, 0 when unparsable.
    pub fn status(&self) -> u16 {
        self.first[1].parse().unwrap_or(0)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.to_ascii_lowercase().contains(token))
    }

    pub fn wants_close(&self) -> bool {
        self.has_token("connection", "close")
    }

    pub fn expects_continue(&self) -> bool {
        self.has_token("expect", "100-continue")
    }

    pub fn request_body(&self) -> Body {
        if self.has_token("transfer-encoding", "chunked") {
            Body::Chunked
        } else {
            match self.header("content-length").and_then(|v| v.parse().ok()) {
                Some(0) | None => Body::None,
                Some(n) => Body::Length(n),
            }
        }
    }

    pub fn response_body(&self, method: &str, status: u16) -> Body {
        if method == "HEAD" || status == 204 || status == 304 || status < 200 {
            return Body::None;
        }
        if self.has_token("transfer-encoding", "chunked") {
            return Body::Chunked;
        }
        match self.header("content-length").and_then(|v| v.parse().ok()) {
            Some(0) => Body::None,
            Some(n) => Body::Length(n),
            None => Body::UntilClose,
        }
    }
}

/// A buffered reader that knows HTTP/1.1 framing: a head is complete only at
/// its blank line, and a body is copied exactly, so the next request's bytes
/// stay buffered for the next round.
pub struct Reader<R> {
    r: R,
    buf: Vec<u8>,
    pos: usize,
}

const MAX_HEAD: usize = 64 * 1024;

impl<R: Read> Reader<R> {
    pub fn new(r: R) -> Reader<R> {
        Reader {
            r,
            buf: Vec::new(),
            pos: 0,
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume_all(&mut self) {
        self.buf.clear();
        self.pos = 0;
    }

    /// Reads more bytes; 0 at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut tmp = [0u8; 64 * 1024];
        let n = self.r.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// The next head, blank line included; None at a clean end of stream.
    pub fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = memchr::memmem::find(self.buffered(), b"\r\n\r\n") {
                let head = self.buffered()[..i + 4].to_vec();
                self.pos += i + 4;
                return Ok(Some(head));
            }
            if self.buffered().len() > MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
            }
            if self.fill()? == 0 {
                if self.buffered().is_empty() {
                    return Ok(None);
                }
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = memchr::memmem::find(self.buffered(), b"\r\n") {
                let line = self.buffered()[..i + 2].to_vec();
                self.pos += i + 2;
                return Ok(line);
            }
            if self.buffered().len() > MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    fn copy_exact(
        &mut self,
        mut n: u64,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        while n > 0 {
            if self.buffered().is_empty() && self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let take = self.buffered().len().min(n as usize);
            sink(&self.buf[self.pos..self.pos + take])?;
            self.pos += take;
            n -= take as u64;
        }
        Ok(())
    }

    /// Copies a body, framing bytes (chunk sizes, trailers) included.
    pub fn copy_body(
        &mut self,
        body: Body,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        match body {
            Body::None => Ok(()),
            Body::Length(n) => self.copy_exact(n, sink),
            Body::Chunked => loop {
                let line = self.read_line()?;
                sink(&line)?;
                let size = std::str::from_utf8(&line)
                    .ok()
                    .and_then(|l| l.trim().split(';').next())
                    .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "chunk size"))?;
                if size == 0 {
                    loop {
                        let trailer = self.read_line()?;
                        sink(&trailer)?;
                        if trailer == b"\r\n" {
                            return Ok(());
                        }
                    }
                }
                self.copy_exact(size + 2, sink)?;
            },
            Body::UntilClose => loop {
                if !self.buffered().is_empty() {
                    sink(&self.buf[self.pos..])?;
                    self.consume_all();
                }
                if self.fill()? == 0 {
                    return Ok(());
                }
            },
        }
    }

    /// The whole body as bytes, framing removed only for Content-Length bodies.
    pub fn read_body(&mut self, body: Body) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.copy_body(body, &mut |b| {
            v.extend_from_slice(b);
            Ok(())
        })?;
        Ok(v)
    }
}

/// Each fault against a loopback echo server, through a raw keep-alive client.
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A loopback HTTP/1.1 server that answers each request with
    /// "METHOD target bytes=N" (N the body length as received), keeping
    /// connections alive.
    struct Echo {
        addr: String,
        connections: Arc<AtomicUsize>,
        requests: Arc<AtomicUsize>,
        bytes: Arc<AtomicU64>,
    }

    impl Echo {
        fn start() -> Echo {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap().to_string();
            let connections = Arc::new(AtomicUsize::new(0));
            let requests = Arc::new(AtomicUsize::new(0));
            let bytes = Arc::new(AtomicU64::new(0));
            let (c, r, b) = (connections.clone(), requests.clone(), bytes.clone());
            // Left running when the test ends: the test binary exits soon after.
            thread::spawn(move || {
                for s in l.incoming().flatten() {
                    c.fetch_add(1, Ordering::SeqCst);
                    let (r, b) = (r.clone(), b.clone());
                    thread::spawn(move || {
                        let mut rd = Reader::new(&s);
                        while let Ok(Some(raw)) = rd.read_head() {
                            let h = Head::parse(raw).unwrap();
                            let mut n = 0u64;
                            let framed = rd.copy_body(h.request_body(), &mut |x| {
                                n += x.len() as u64;
                                Ok(())
                            });
                            if framed.is_err() {
                                return;
                            }
                            r.fetch_add(1, Ordering::SeqCst);
                            b.fetch_add(n, Ordering::SeqCst);
                            let text = format!("{} {} bytes={n}", h.method(), h.target());
                            let mut resp = format!(
                                "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: {}\r\n\r\n",
                                text.len()
                            );
                            if h.method() != "HEAD" {
                                resp.push_str(&text);
                            }
                            if (&s).write_all(resp.as_bytes()).is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            Echo {
                addr,
                connections,
                requests,
                bytes,
            }
        }

        fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }
    }

    /// One keep-alive client connection.
    struct Client {
        s: TcpStream,
        rd: Reader<TcpStream>,
    }

    struct Response {
        status: u16,
        head: Head,
        body: String,
    }

    impl Client {
        fn connect(p: &FaultProxy) -> Client {
            let s = TcpStream::connect(p.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            Client {
                rd: Reader::new(s.try_clone().unwrap()),
                s,
            }
        }

        fn send(&mut self, method: &str, target: &str, body: &[u8]) -> io::Result<Response> {
            self.send_with(method, target, "", body)
        }

        fn send_with(
            &mut self,
            method: &str,
            target: &str,
            extra: &str,
            body: &[u8],
        ) -> io::Result<Response> {
            let head = format!(
                "{method} {target} HTTP/1.1\r\nHost: proxy\r\nContent-Length: {}\r\n{extra}\r\n",
                body.len()
            );
            self.s.write_all(head.as_bytes())?;
            self.s.write_all(body)?;
            self.response(method)
        }

        fn response(&mut self, method: &str) -> io::Result<Response> {
            let raw = self
                .rd
                .read_head()?
                .ok_or(io::Error::from(io::ErrorKind::UnexpectedEof))?;
            let head = Head::parse(raw).unwrap();
            let status = head.status();
            let body = self.rd.read_body(head.response_body(method, status))?;
            Ok(Response {
                status,
                head,
                body: String::from_utf8(body).unwrap(),
            })
        }
    }

    fn pair() -> (Echo, FaultProxy) {
        let echo = Echo::start();
        let proxy = FaultProxy::start(&echo.addr);
        (echo, proxy)
    }

    #[test]
    fn fault_proxy_passes_and_keeps_alive() {
        let (echo, p) = pair();
        let mut c = Client::connect(&p);
        let r = c.send("GET", "/b?list-type=2", b"").unwrap();
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, "GET /b?list-type=2 bytes=0")
        );
        let r = c.send("PUT", "/b/k", &[b'x'; 100_000]).unwrap();
        assert_eq!(r.body, "PUT /b/k bytes=100000");
        assert_eq!(r.head.header("etag"), Some("\"e\""));
        let r = c.send("HEAD", "/b/k", b"").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, ""));
        // A chunked upload is relayed with its framing.
        let chunked = "POST /b/k?uploads HTTP/1.1\r\nHost: proxy\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nx-trailer: t\r\n\r\n";
        c.s.write_all(chunked.as_bytes()).unwrap();
        let r = c.response("POST").unwrap();
        assert_eq!(r.body, "POST /b/k?uploads bytes=43");
        // Expect: 100-continue is answered by the proxy, then the body flows.
        let r = c
            .send_with("PUT", "/b/e", "Expect: 100-continue\r\n", b"12345")
            .unwrap();
        assert_eq!(r.status, 100);
        let r = c.response("PUT").unwrap();
        assert_eq!(r.body, "PUT /b/e bytes=5");

        assert_eq!(p.requests(), 5);
        assert_eq!(p.count("PUT"), 2);
        assert_eq!(p.count("POST"), 1);
        assert_eq!(p.connections(), 1);
        assert_eq!(p.seen()[0], "GET /b?list-type=2");
        assert_eq!(echo.requests(), 5);
    }

    #[test]
    fn fault_proxy_refuses_then_recovers() {
        let (_echo, p) = pair();
        let mut idle = Client::connect(&p);
        idle.send("GET", "/", b"").unwrap();
        p.refuse();
        let e = TcpStream::connect(p.addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        // A pooled connection is closed on its next request, unanswered.
        assert!(idle.send("GET", "/again", b"").is_err());
        p.pass();
        let mut c = Client::connect(&p);
        assert_eq!(c.send("GET", "/", b"").unwrap().status, 200);
    }

    #[test]
    fn fault_proxy_resets_mid_request() {
        let (echo, p) = pair();
        p.reset();
        let mut c = Client::connect(&p);
        let e = c.send("PUT", "/b/k", &[b'x'; 1000]).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
        assert_eq!(p.count("PUT"), 1);
        assert_eq!(echo.requests(), 0, "the store never saw it");
    }

    #[test]
    fn fault_proxy_resets_mid_response() {
        let (echo, p) = pair();
        p.reset_response();
        let mut c = Client::connect(&p);
        let e = c.send("PUT", "/b/k", b"abc").err().unwrap();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
            ),
            "{e}"
        );
        assert_eq!(echo.requests(), 1, "the store acted on it");
    }

    #[test]
    fn fault_proxy_hangs() {
        let (echo, p) = pair();
        p.hang();
        let mut c = Client::connect(&p);
        c.s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let e = c.send("PUT", "/b/k", b"abc").err().unwrap();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{e}"
        );
        assert_eq!(p.count("PUT"), 1);
        assert_eq!(echo.requests(), 0);
        // New connections are served once the fault is lifted.
        p.pass();
        assert_eq!(
            Client::connect(&p).send("GET", "/", b"").unwrap().status,
            200
        );
    }

    #[test]
    fn fault_proxy_delays_each_response() {
        let (_echo, p) = pair();
        p.delay(Duration::from_millis(300));
        let mut c = Client::connect(&p);
        for _ in 0..2 {
            let t = Instant::now();
            assert_eq!(c.send("GET", "/", b"").unwrap().status, 200);
            assert!(t.elapsed() >= Duration::from_millis(300));
        }
        p.pass();
        let t = Instant::now();
        c.send("GET", "/", b"").unwrap();
        assert!(t.elapsed() < Duration::from_millis(250));
    }

    #[test]
    fn fault_proxy_slow_down_answers_n_then_passes() {
        let (echo, p) = pair();
        p.slow_down_retry_after(2, 1);
        let mut c = Client::connect(&p);
        for _ in 0..2 {
            let r = c.send("PUT", "/b/k?partNumber=1", &[b'x'; 5000]).unwrap();
            assert_eq!(r.status, 503);
            assert!(
                r.body.contains(
                    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
                ),
                "{}",
                r.body
            );
            assert_eq!(r.head.header("retry-after"), Some("1"));
        }
        // The same connection stays usable after the injected answers.
        let r = c.send("PUT", "/b/k?partNumber=1", &[b'x'; 5000]).unwrap();
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, "PUT /b/k?partNumber=1 bytes=5000")
        );
        assert_eq!(p.count("PUT"), 3);
        assert_eq!(echo.requests(), 1);
        assert_eq!(p.connections(), 1);

        // With Expect: 100-continue the body is never sent, so the answer closes.
        p.slow_down(1);
        let r = c
            .send_with("PUT", "/b/k", "Expect: 100-continue\r\n", b"")
            .unwrap();
        assert_eq!(r.status, 503);
        assert!(r.head.wants_close());
        assert!(r.head.header("retry-after").is_none());
    }

    #[test]
    fn fault_proxy_status_until_changed() {
        let (echo, p) = pair();
        p.status(404, "NoSuchBucket");
        let mut c = Client::connect(&p);
        for _ in 0..3 {
            let r = c.send("PUT", "/nope/k", b"abc").unwrap();
            assert_eq!(r.status, 404);
            assert!(r.body.contains("<Code>NoSuchBucket</Code>"), "{}", r.body);
        }
        // HEAD gets the status without a body.
        let r = c.send("HEAD", "/nope/k", b"").unwrap();
        assert_eq!((r.status, r.body.as_str()), (404, ""));
        p.status_n(1, 500, "InternalError");
        assert_eq!(c.send("GET", "/", b"").unwrap().status, 500);
        assert_eq!(c.send("GET", "/", b"").unwrap().status, 200);
        assert_eq!(echo.requests(), 1);
        assert_eq!(p.requests(), 6);
    }

    #[test]
    fn fault_proxy_throttles_uploads() {
        let (echo, p) = pair();
        p.throttle(200_000);
        let mut c = Client::connect(&p);
        let t = Instant::now();
        let r = c.send("PUT", "/b/k", &vec![b'x'; 100_000]).unwrap();
        assert_eq!(r.body, "PUT /b/k bytes=100000");
        let slow = t.elapsed();
        assert!(slow >= Duration::from_millis(400), "{slow:?}");
        p.pass();
        let t = Instant::now();
        c.send("PUT", "/b/k", &vec![b'x'; 100_000]).unwrap();
        assert!(t.elapsed() < slow / 2, "{:?}", t.elapsed());
        assert_eq!(echo.bytes.load(Ordering::SeqCst), 200_000);
    }

    #[test]
    fn fault_proxy_drop_cuts_hung_connections() {
        let (_echo, p) = pair();
        p.hang();
        let mut c = Client::connect(&p);
        let t = Instant::now();
        let waiter = thread::spawn(move || c.send("GET", "/", b"").is_err());
        thread::sleep(Duration::from_millis(100));
        drop(p);
        assert!(waiter.join().unwrap());
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
