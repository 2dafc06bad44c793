//! The running `http()` destination: renders messages into the batch being
//! filled, sends full batches as requests (up to `workers()` at once), and
//! acknowledges a delivery once every request holding its messages was
//! answered 2xx. A delivery's messages may span batches; its acknowledgement
//! waits for all of them.

use super::{Action, HttpOptions};
use crate::destinations::Driver;
use crate::destinations::retry::{Backoff, Failure};
use crate::destinations::worker::TaskThreads;
use crate::logpath::{Ack, Delivery};
use crate::net::http::HttpClient;
use crate::template::RenderContext;
use bytes::Bytes;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_rustls::rustls::ClientConfig;

/// One delivery's acknowledgement, shared by the batches holding its messages.
struct Shared {
    ack: Mutex<Option<Ack>>,
    /// Batches still to answer, plus one while the delivery is being taken.
    parts: AtomicUsize,
    lost: AtomicUsize,
}

impl Shared {
    fn done(&self, lost: usize) {
        self.lost.fetch_add(lost, Ordering::Relaxed);
        if self.parts.fetch_sub(1, Ordering::AcqRel) == 1 {
            let ack = self.ack.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(ack) = ack {
                match self.lost.load(Ordering::Relaxed) {
                    0 => ack.ack(),
                    n => ack.settle_partly(n),
                }
            }
        }
    }
}

/// The batch being filled.
#[derive(Default)]
struct Open {
    /// body-prefix() and the messages so far; body-suffix() is added when sent.
    body: Vec<u8>,
    lines: usize,
    /// The deliveries with messages in it, and how many each.
    acks: Vec<(Arc<Shared>, usize)>,
    since: Option<Instant>,
}

/// Batches on their way: being sent or waiting for a worker, and bytes of
/// batches waiting for Splunk's acknowledgement.
#[derive(Default)]
struct Load {
    sending: AtomicUsize,
    acking: AtomicUsize,
}

/// Bytes of request bodies that may wait for Splunk's acknowledgement at once.
const ACKING_BYTES: usize = 64 << 20;

pub struct HttpDriver {
    opts: Arc<HttpOptions>,
    ctx: RenderContext,
    client: HttpClient,
    open: Open,
    requests: JoinSet<()>,
    workers: Arc<Semaphore>,
    load: Arc<Load>,
    room: Arc<Notify>,
    /// Which url() the next request starts with.
    next_url: usize,
    id: String,
    /// With hec-ack(): asks Splunk about every batch waiting to be indexed.
    acks: Option<(Arc<AckPoller>, JoinHandle<()>)>,
    /// Where requests run (after `requests`, which aborts them first).
    threads: TaskThreads,
}

impl HttpDriver {
    pub fn new(
        opts: Arc<HttpOptions>,
        tls: &Arc<ClientConfig>,
        ctx: RenderContext,
        id: String,
    ) -> Result<HttpDriver, Failure> {
        // One thread: requests start in the order their batches were made
        // (and take workers() slots in that order).
        let threads = TaskThreads::new("http", 1)?;
        let client = HttpClient::with_tls(ClientConfig::clone(tls));
        let acks = opts.hec_ack.map(|(every, _)| {
            let poller = Arc::new(AckPoller::new(opts.clone(), client.clone(), id.clone()));
            let task = threads.handle().spawn(poller.clone().run(every));
            (poller, task)
        });
        Ok(HttpDriver {
            ctx: ctx.with_overrides(opts.time_zone.as_ref(), opts.frac_digits),
            client,
            workers: Arc::new(Semaphore::new(opts.workers)),
            load: Arc::default(),
            opts,
            open: Open::default(),
            requests: JoinSet::new(),
            room: Arc::new(Notify::new()),
            next_url: 0,
            id,
            acks,
            threads,
        })
    }

    /// Sends the open batch.
    fn flush(&mut self) {
        if self.open.lines == 0 {
            return;
        }
        // The next batch is about as large: one allocation, no regrowing.
        let next = Open {
            body: Vec::with_capacity(self.open.body.len() + self.open.body.len() / 8),
            ..Open::default()
        };
        let open = std::mem::replace(&mut self.open, next);
        let mut body = open.body;
        body.extend_from_slice(&self.opts.suffix);
        let mut request = Request {
            opts: self.opts.clone(),
            client: self.client.clone(),
            acks: self.acks.as_ref().map(|(p, _)| p.clone()),
            body: Bytes::new(),
            lines: open.lines,
            first_url: self.next_url,
            id: self.id.clone(),
        };
        self.next_url = (self.next_url + 1) % self.opts.urls.len();
        let workers = self.workers.clone();
        let room = self.room.clone();
        let acks = open.acks;
        let load = self.load.clone();
        load.sending.fetch_add(1, Ordering::Relaxed);
        let task = async move {
            // Compressed here, off the thread that renders the next batch.
            if request.opts.gzip {
                let mut gz = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 4),
                    flate2::Compression::default(),
                );
                // Writing into a Vec cannot fail.
                let _ = gz.write_all(&body);
                body = gz.finish().unwrap_or_default();
            }
            request.body = Bytes::from(body);
            let taken = request.send(&workers, &load).await;
            // Each delivery loses what of it this batch held.
            for (shared, n) in acks {
                shared.done(if taken { 0 } else { n });
            }
            room.notify_one();
        };
        self.requests.spawn_on(task, self.threads.handle());
    }
}

impl Driver for HttpDriver {
    fn accept(&mut self, delivery: Delivery, now: Instant) -> Result<(), Failure> {
        let shared = Arc::new(Shared {
            ack: Mutex::new(None),
            parts: AtomicUsize::new(1),
            lost: AtomicUsize::new(0),
        });
        for m in delivery.messages() {
            if self.open.lines > 0 {
                self.open.body.extend_from_slice(&self.opts.delimiter);
            } else {
                self.open.body.extend_from_slice(&self.opts.prefix);
            }
            self.opts.body.render(m, &self.ctx, &mut self.open.body);
            self.open.lines += 1;
            self.open.since.get_or_insert(now);
            match self.open.acks.last_mut() {
                Some((s, n)) if Arc::ptr_eq(s, &shared) => *n += 1,
                _ => {
                    shared.parts.fetch_add(1, Ordering::Relaxed);
                    self.open.acks.push((shared.clone(), 1));
                }
            }
            let full_bytes = self.opts.batch_bytes > 0
                && self.open.body.len() + self.opts.suffix.len() >= self.opts.batch_bytes;
            if self.open.lines >= self.opts.batch_lines || full_bytes {
                self.flush();
            }
        }
        *shared.ack.lock().unwrap_or_else(|e| e.into_inner()) = Some(delivery.release());
        // The delivery is taken: its acknowledgement waits for its batches.
        shared.done(0);
        Ok(())
    }

    fn retry(&mut self, _now: Instant) -> Result<(), Failure> {
        Ok(())
    }

    fn sync(&mut self, _now: Instant) -> Result<(), Failure> {
        // batch-timeout(-1): what there is goes once the queue is empty.
        if self.opts.batch_timeout.is_none() {
            self.flush();
        }
        Ok(())
    }

    fn ready(&self) -> bool {
        // Batches waiting for a worker, and bytes waiting for Splunk's
        // acknowledgement, are bounded; the queue holds the rest.
        self.load.sending.load(Ordering::Relaxed) < self.opts.workers * 2
            && self.load.acking.load(Ordering::Relaxed) < ACKING_BYTES
    }

    fn next_deadline(&self) -> Option<Instant> {
        let since = self.open.since?;
        Some(since + self.opts.batch_timeout?)
    }

    fn on_time(&mut self, now: Instant) {
        if self.next_deadline().is_some_and(|t| t <= now) {
            self.flush();
        }
        while self.requests.try_join_next().is_some() {}
    }

    fn wakeup(&self) -> Option<Arc<Notify>> {
        Some(self.room.clone())
    }

    async fn close(&mut self, deadline: Instant) {
        self.flush();
        let all = async { while self.requests.join_next().await.is_some() {} };
        if tokio::time::timeout_at(deadline, all).await.is_err() {
            tracing::error!(destination = %self.id, requests = self.requests.len(), "stopping before the server took every batch; the rest is lost");
            self.requests.abort_all();
        }
        if let Some((_, task)) = &self.acks {
            task.abort();
        }
    }
}

/// One batch on its way.
struct Request {
    opts: Arc<HttpOptions>,
    client: HttpClient,
    acks: Option<Arc<AckPoller>>,
    body: Bytes,
    lines: usize,
    first_url: usize,
    id: String,
}

impl Request {
    /// Sends until the batch is taken (true) or dropped (false); with
    /// hec-ack(), taken means indexed, and a batch Splunk does not confirm in
    /// time is sent again.
    ///
    /// A request holds one of the `workers` while it is sent, not while it
    /// waits for Splunk's acknowledgement (that can take seconds).
    async fn send(&self, workers: &Semaphore, load: &Load) -> bool {
        let mut sending = true;
        loop {
            let delivered = {
                // Closed only with the driver: then the request goes unsent.
                let Ok(_slot) = workers.acquire().await else {
                    return false;
                };
                if !sending {
                    load.sending.fetch_add(1, Ordering::Relaxed);
                }
                sending = false;
                let d = self.deliver().await;
                load.sending.fetch_sub(1, Ordering::Relaxed);
                d
            };
            let Some((url, ack_id)) = delivered else {
                return false;
            };
            let (Some((_, within)), Some(acks), Some(id)) = (self.opts.hec_ack, &self.acks, ack_id)
            else {
                return true;
            };
            load.acking.fetch_add(self.body.len(), Ordering::Relaxed);
            // Gone (the driver closing): not confirmed.
            let indexed = acks.wait(url, id, within).await.unwrap_or(false);
            load.acking.fetch_sub(self.body.len(), Ordering::Relaxed);
            if indexed {
                return true;
            }
            tracing::warn!(destination = %self.id, ack_id = id, messages = self.lines, "Splunk did not confirm a batch as indexed in time; sending it again");
        }
    }

    /// Sends until a server takes the batch: which url() did, and the ackId
    /// it answered; `None` when the batch is dropped.
    async fn deliver(&self) -> Option<(usize, Option<u64>)> {
        let base = self.opts.time_reopen.min(Duration::from_millis(100));
        let mut backoff = Backoff::new(base, self.opts.time_reopen);
        let mut counted = 0;
        let mut url = self.first_url;
        loop {
            let uri = &self.opts.urls[url % self.opts.urls.len()];
            let mut ack_id = None;
            let (action, why, retry_after) =
                match self.client.send(self.request(uri), self.opts.timeout).await {
                    Ok(resp) => {
                        ack_id = json_number(&resp.body, "ackId");
                        let status = resp.status.as_u16();
                        let action = self.opts.action(status);
                        let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)])
                            .into_owned();
                        let retry_after = resp
                            .headers
                            .get(http::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(Duration::from_secs);
                        (
                            action,
                            format!("{uri}: HTTP {status} {}", text.trim()),
                            retry_after,
                        )
                    }
                    Err(Failure::Retry { message, .. }) => (Action::Retry, message, None),
                    Err(f) => (Action::Retry, f.to_string(), None),
                };
            let attempt = backoff.attempts() + 1;
            match action {
                Action::Success => {
                    if attempt > 1 {
                        tracing::info!(destination = %self.id, attempts = attempt, "a batch went through after failures");
                    }
                    return Some((url, ack_id));
                }
                Action::Drop => {
                    tracing::error!(destination = %self.id, messages = self.lines, "the server refused a batch, dropped: {why}");
                    return None;
                }
                Action::RetryCounted => {
                    counted += 1;
                    if counted >= self.opts.retries {
                        tracing::error!(destination = %self.id, messages = self.lines, tries = counted, "a batch still failed after retries(), dropped: {why}");
                        return None;
                    }
                }
                Action::Retry | Action::Disconnect => {}
            }
            let mut delay = backoff.next_delay();
            if let Some(after) = retry_after {
                delay =
                    delay.max(after.min(self.opts.time_reopen.max(Duration::from_secs(1)) * 10));
            }
            if attempt == 1 || attempt.is_power_of_two() {
                tracing::warn!(destination = %self.id, attempt, retry_in = ?delay, "will retry a batch: {why}");
            }
            // The next url() in turn, if there are several.
            url += 1;
            tokio::time::sleep(delay).await;
        }
    }

    fn request(&self, uri: &http::Uri) -> http::Request<Bytes> {
        let mut b = builder(&self.opts, self.opts.method.clone(), uri);
        if self.opts.gzip {
            b = b.header(http::header::CONTENT_ENCODING, "gzip");
        }
        b = b.header(http::header::CONTENT_LENGTH, self.body.len());
        // Every part was checked when the options were built.
        b.body(self.body.clone())
            .unwrap_or_else(|_| http::Request::new(self.body.clone()))
    }
}

/// A request to `uri` with the configured headers (authentication, the HEC
/// channel, ...).
fn builder(opts: &HttpOptions, method: http::Method, uri: &http::Uri) -> http::request::Builder {
    let mut b = http::Request::builder().method(method).uri(uri.clone());
    for (name, value) in &opts.headers {
        b = b.header(name, value);
    }
    b
}

/// A batch waiting for Splunk to say it was indexed.
struct Waiting {
    /// The url() that took it: ackIds are a server's (and channel's) own.
    url: usize,
    id: u64,
    give_up: Instant,
    indexed: oneshot::Sender<bool>,
}

/// Splunk's indexer acknowledgements (hec-ack()): every hec-ack-interval(),
/// one request per server asks about every batch it took that waits, as
/// Splunk's ack endpoint takes a list, rather than one request per batch.
struct AckPoller {
    opts: Arc<HttpOptions>,
    client: HttpClient,
    id: String,
    waiting: Mutex<Vec<Waiting>>,
}

impl AckPoller {
    fn new(opts: Arc<HttpOptions>, client: HttpClient, id: String) -> AckPoller {
        AckPoller {
            opts,
            client,
            id,
            waiting: Mutex::new(Vec::new()),
        }
    }

    /// Whether the server behind url() `url` indexes ackId `id` within
    /// `within`; `None` if the poller is gone.
    async fn wait(&self, url: usize, id: u64, within: Duration) -> Option<bool> {
        let (indexed, answer) = oneshot::channel();
        self.waiting().push(Waiting {
            // The url()s are tried in turn from any number: one server, one index.
            url: url % self.opts.urls.len(),
            id,
            give_up: Instant::now() + within,
            indexed,
        });
        answer.await.ok()
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(self: Arc<Self>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            self.poll().await;
        }
    }

    /// One round: batches past hec-ack-timeout() are let go unconfirmed, and
    /// each server is asked about the rest of its batches.
    async fn poll(&self) {
        let now = Instant::now();
        let mut servers: Vec<(usize, Vec<u64>)> = Vec::new();
        {
            let mut waiting = self.waiting();
            for w in waiting.extract_if(.., |w| now >= w.give_up || w.indexed.is_closed()) {
                let _ = w.indexed.send(false);
            }
            for w in waiting.iter() {
                match servers.iter_mut().find(|(url, _)| *url == w.url) {
                    Some((_, ids)) => ids.push(w.id),
                    None => servers.push((w.url, vec![w.id])),
                }
            }
        }
        for (url, ids) in servers {
            let indexed = self.ask(url, &ids).await;
            let confirmed = |w: &mut Waiting| w.url == url && indexed.contains(&w.id);
            for w in self.waiting().extract_if(.., confirmed) {
                let _ = w.indexed.send(true);
            }
        }
    }

    /// The ackIds of `ids` that the server behind url() `url` says it indexed.
    async fn ask(&self, url: usize, ids: &[u64]) -> Vec<u64> {
        let uri = &self.opts.urls[url % self.opts.urls.len()];
        let Some(ack_uri) = ack_uri(uri) else {
            // No endpoint to ask: taken counts as indexed.
            return ids.to_vec();
        };
        let list: Vec<String> = ids.iter().map(u64::to_string).collect();
        let body = Bytes::from(format!("{{\"acks\":[{}]}}", list.join(",")));
        let req = builder(&self.opts, http::Method::POST, &ack_uri)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(body);
        let Ok(req) = req else {
            return ids.to_vec();
        };
        match self.client.send(req, self.opts.timeout).await {
            Ok(resp) if resp.status.is_success() => ids
                .iter()
                .copied()
                .filter(|id| ack_state(&resp.body, *id) == Some(true))
                .collect(),
            Ok(resp) => {
                tracing::warn!(destination = %self.id, status = resp.status.as_u16(), "asking Splunk for acknowledgements failed");
                Vec::new()
            }
            Err(e) => {
                tracing::warn!(destination = %self.id, "asking Splunk for acknowledgements failed: {e}");
                Vec::new()
            }
        }
    }
}

/// The HEC acknowledgement endpoint of the server behind `uri`.
fn ack_uri(uri: &http::Uri) -> Option<http::Uri> {
    let channel = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("channel=")));
    let mut text = format!(
        "{}://{}/services/collector/ack",
        uri.scheme_str()?,
        uri.authority()?
    );
    if let Some(c) = channel {
        text.push_str("?channel=");
        text.push_str(c);
    }
    text.parse().ok()
}

/// The number after `"key":` in a small JSON answer (`{"text":"Success","code":0,"ackId":7}`).
fn json_number(body: &[u8], key: &str) -> Option<u64> {
    let rest = json_value(body, key)?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The text after `"key":` in a small JSON answer.
fn json_value<'a>(body: &'a [u8], key: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(body).ok()?;
    let quoted = format!("\"{key}\"");
    let at = text.find(&quoted)? + quoted.len();
    Some(text[at..].trim_start().strip_prefix(':')?.trim_start())
}

/// Whether `{"acks":{"7":true}}` says ackId `id` was indexed.
fn ack_state(body: &[u8], id: u64) -> Option<bool> {
    let rest = json_value(body, &id.to_string())?;
    if rest.starts_with("true") {
        Some(true)
    } else if rest.starts_with("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hec_answers_are_read() {
        assert_eq!(
            json_number(br#"{"text":"Success","code":0,"ackId":17}"#, "ackId"),
            Some(17)
        );
        assert_eq!(
            json_number(br#"{"text":"Success","code":0}"#, "ackId"),
            None
        );
        assert_eq!(
            ack_state(br#"{"acks":{"16":false,"17":true}}"#, 17),
            Some(true)
        );
        assert_eq!(ack_state(br#"{"acks":{"17" : false}}"#, 17), Some(false));
        assert_eq!(ack_state(br#"{"acks":{"1":true}}"#, 17), None);
        let u: http::Uri = "https://h:8088/services/collector/raw/1.0?channel=abc&index=main"
            .parse()
            .unwrap();
        assert_eq!(
            ack_uri(&u).unwrap().to_string(),
            "https://h:8088/services/collector/ack?channel=abc"
        );
    }
}
