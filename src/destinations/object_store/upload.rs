//! The upload pool: one task per object, taking the object's parts from the
//! spool as they fill and completing it when the driver says so. At most
//! `upload-threads()` parts of one object and `max-pending-uploads()` objects
//! are in flight at once, so memory is bounded by the requests in flight,
//! never by the backlog in the spool.
//!
//! A part usually goes up from memory: the driver keeps the object bytes of
//! the segment it is writing ([`Tail`]) and hands them over with the sealed
//! part, so the upload need not read back what was just written. Those bytes
//! are capped across the destination ([`Pool::tail`]); past the cap, and after
//! a restart, parts are read from the spool.
//!
//! Every store call goes through [`Pool::attempt`], the one retry loop:
//! transient failures are retried with backoff (honouring Retry-After), and
//! anything retrying cannot fix keeps the object in the spool until `sluice-ctl
//! retry` or a reload. Nothing spooled is ever given up here.

use super::key;
use super::spool::{self, Manifest, Paths};
use super::store::{Store, StoreError};
use crate::destinations::retry::{Next, Retrier};
use crate::telemetry::StoreStats;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::{Mutex, Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// What the driver tells an object's task.
#[derive(Debug)]
pub enum Cmd {
    /// Segment `n` is full: upload it as part `n` (from memory when its bytes
    /// came along).
    Sealed(u32, Option<Box<Part>>),
    /// The object is complete; its last segment is `last`, and it holds
    /// `raw_total` bytes uncompressed.
    Complete {
        last: u32,
        raw_total: u64,
        part: Option<Box<Part>>,
    },
}

/// Parts kept in memory at once, a tail's size each: the one being written
/// and the ones waiting for or in their request.
const KEPT_PARTS: usize = 4;

/// Memory counted against [`Pool`]'s cap on kept parts until dropped.
pub struct Lease {
    pool: Arc<Pool>,
    bytes: usize,
}

impl Lease {
    /// Counts `bytes` in all, if the cap allows.
    fn grow_to(&mut self, bytes: usize) -> bool {
        let more = bytes.saturating_sub(self.bytes);
        let held = self.pool.kept.fetch_add(more, Ordering::Relaxed) + more;
        if held > self.pool.kept_limit {
            self.pool.kept.fetch_sub(more, Ordering::Relaxed);
            return false;
        }
        self.bytes += more;
        true
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.kept.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// The object bytes of the segment being written, as they reach the spool.
pub struct Tail {
    buf: Vec<u8>,
    lease: Lease,
}

impl Tail {
    /// Appends a record's object bytes to a kept tail; past the cap the tail
    /// is let go, and its part will be read back from the spool.
    pub fn keep(tail: &mut Option<Tail>, bytes: &[u8]) {
        if let Some(t) = tail
            && !t.push(bytes)
        {
            *tail = None;
        }
    }

    /// Appends a record's object bytes; false when the cap does not allow
    /// them.
    fn push(&mut self, bytes: &[u8]) -> bool {
        let need = self.buf.len() + bytes.len();
        if need > self.buf.capacity() {
            let want = need.max(self.lease.pool.tail_size);
            if !self.lease.grow_to(want) {
                return false;
            }
            self.buf.reserve_exact(want - self.buf.len());
            self.lease.grow_to(self.buf.capacity());
        }
        self.buf.extend_from_slice(bytes);
        true
    }

    /// Boxed: a command stays small, and every object's channel holds
    /// room for dozens of them.
    pub fn into_part(self) -> Box<Part> {
        Box::new(Part {
            bytes: Bytes::from(self.buf),
            lease: self.lease,
        })
    }
}

/// A sealed part's bytes, handed from the driver to the upload.
pub struct Part {
    bytes: Bytes,
    lease: Lease,
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Part({} bytes)", self.bytes.len())
    }
}

/// State shared by the driver and its upload tasks.
pub struct Pool {
    pub store: Store,
    pub destination: String,
    pub upload_threads: usize,
    /// Objects being uploaded at once (`max-pending-uploads()`).
    pub objects: Arc<Semaphore>,
    /// Part bodies in memory at once, across the destination: what bounds
    /// memory by the requests in flight, whatever the backlog.
    pub bodies: Arc<Semaphore>,
    /// Woken when spool space is freed or an object finishes.
    pub wake: Arc<Notify>,
    /// Bumped by `sluice-ctl retry`: parked uploads try again.
    pub retry: watch::Sender<u64>,
    /// Per base and suffix, where this run's indexes start: listed once, under
    /// a lock of that base only, so one slow listing holds up no other key.
    indexes: std::sync::Mutex<HashMap<String, Arc<Mutex<Option<u64>>>>>,
    /// Counters, spool bytes and the uploads board (`sluice-ctl uploads`).
    pub stats: Arc<StoreStats>,
    /// Part buffers back from finished requests, for the next parts: at most
    /// `upload-threads()` of them wait here, whichever threads used them.
    buffers: std::sync::Mutex<Vec<Vec<u8>>>,
    /// What a tail reserves: a chunk, and room for the batch that crosses
    /// its end, so that a recycled buffer never grows again.
    tail_size: usize,
    /// Bytes of parts kept in memory ([`Tail`], [`Part`]), and their cap.
    kept: AtomicUsize,
    kept_limit: usize,
}

impl Pool {
    pub fn new(
        store: Store,
        destination: String,
        upload_threads: usize,
        max_pending: usize,
        chunk_size: u64,
        stats: Arc<StoreStats>,
    ) -> Pool {
        let chunk_size = usize::try_from(chunk_size).unwrap_or(usize::MAX);
        let tail_size = chunk_size.saturating_add(chunk_size / 4);
        Pool {
            store,
            destination,
            upload_threads: upload_threads.max(1),
            objects: Arc::new(Semaphore::new(max_pending.max(1))),
            bodies: Arc::new(Semaphore::new(upload_threads.max(1))),
            wake: Arc::new(Notify::new()),
            retry: watch::Sender::new(0),
            indexes: std::sync::Mutex::new(HashMap::new()),
            stats,
            buffers: std::sync::Mutex::new(Vec::new()),
            tail_size,
            kept: AtomicUsize::new(0),
            kept_limit: tail_size.saturating_mul(KEPT_PARTS),
        }
    }

    /// A tail for a segment being started, if the cap on kept parts has room
    /// for the buffer it comes with.
    pub fn tail(self: &Arc<Self>) -> Option<Tail> {
        let buf = self.buffer();
        let mut lease = Lease {
            pool: self.clone(),
            bytes: 0,
        };
        if !lease.grow_to(buf.capacity()) {
            self.keep_buffer(buf);
            return None;
        }
        Some(Tail { buf, lease })
    }

    /// Runs `op` until it succeeds, or fails with what the caller handles
    /// itself (a taken key, a vanished upload).
    pub async fn attempt<T, F, Fut>(
        &self,
        object: &str,
        what: &str,
        mut op: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut retrier = Retrier::new(format!("destination {} {what}", self.destination));
        let mut retry_seen = *self.retry.subscribe().borrow();
        loop {
            let failure = match op().await {
                Ok(v) => {
                    if retrier.attempts() > 0 {
                        self.stats.update(object, |i| i.failure = None);
                    }
                    retrier.succeeded();
                    return Ok(v);
                }
                Err(StoreError::Failed(f)) => f,
                Err(other) => return Err(other),
            };
            self.stats.failures.add(1);
            self.stats
                .update(object, |i| i.failure = Some(format!("{what}: {failure}")));
            // Spooled data is never given up: what retrying cannot fix waits
            // for the operator, as a parked failure does.
            let failure = match failure {
                crate::destinations::Failure::Permanent {
                    code,
                    message,
                    hint,
                } => crate::destinations::Failure::Parked {
                    code,
                    message,
                    hint,
                },
                f => f,
            };
            match retrier.failed(&failure, tokio::time::Instant::now()) {
                Next::RetryAt(at) => {
                    self.stats.retries.add(1);
                    // `sluice-ctl retry` cuts a backoff short too.
                    let mut rx = self.retry.subscribe();
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = rx.wait_for(|g| *g != retry_seen) => {}
                    }
                    retry_seen = *self.retry.borrow();
                }
                Next::Park | Next::GiveUp => {
                    let mut rx = self.retry.subscribe();
                    let _ = rx.wait_for(|g| *g != retry_seen).await;
                    retry_seen = *rx.borrow();
                }
            }
        }
    }

    /// The index of this run's object `seq` of `base`: after every index the
    /// store held when the run first wrote to `base` (listed once), in the
    /// order the driver opened the objects, whichever finishes first.
    async fn index_of(
        &self,
        object: &str,
        base: &str,
        suffix: &str,
        seq: u64,
    ) -> Result<u64, StoreError> {
        let slot = self
            .indexes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(format!("{base}\n{suffix}"))
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        let offset = match *slot {
            Some(n) => n,
            None => {
                let taken = self
                    .attempt(object, "listing keys", || self.store.taken_keys(base))
                    .await?;
                let n = key::next_index(taken.iter().map(String::as_str), base, suffix);
                *slot = Some(n);
                n
            }
        };
        Ok(offset + seq)
    }

    fn buffer(&self) -> Vec<u8> {
        let mut kept = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        kept.pop().unwrap_or_default()
    }

    /// Keeps a part body whose request is over for the next part.
    fn recycle(&self, body: Bytes) {
        let Ok(mut body) = body.try_into_mut() else {
            return;
        };
        // Emptied first: turning it into a Vec moves its bytes otherwise.
        body.clear();
        self.keep_buffer(body.into());
    }

    fn keep_buffer(&self, buf: Vec<u8>) {
        let mut kept = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < self.upload_threads {
            kept.push(buf);
        }
    }

    /// The store accepted `size` bytes of object `object` (a part, or all of it).
    fn stored(&self, object: &str, size: u64) {
        self.stats.parts.add(1);
        self.stats.bytes.add(size);
        self.stats.update(object, |i| {
            i.parts += 1;
            i.bytes += size;
        });
    }

    /// After a lost race (the key was taken meanwhile): list the store again,
    /// so indexes continue after what is there now.
    async fn forget_index(&self, base: &str, suffix: &str) {
        self.indexes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&format!("{base}\n{suffix}"));
    }
}

/// One object's upload, from its first sealed part to completion.
pub struct ObjectTask {
    pub pool: Arc<Pool>,
    pub paths: Paths,
    pub manifest: Manifest,
    pub rx: mpsc::UnboundedReceiver<Cmd>,
    /// Found in the spool at start-up: an upload it started may have been
    /// created after its manifest was last saved.
    pub recovered: bool,
    /// Sealed parts whose bytes came along, by number.
    pub kept: HashMap<u32, Box<Part>>,
}

impl ObjectTask {
    /// Runs until the object is in the store (and its spool files are gone),
    /// or until the driver goes away without completing it (the spool keeps it
    /// for the next start).
    pub async fn run(mut self) {
        let mut sealed: Vec<u32> = Vec::new();
        let mut last = None;
        while last.is_none() {
            let Some(cmd) = self.rx.recv().await else {
                return;
            };
            self.take(cmd, &mut sealed, &mut last);
            while let Ok(cmd) = self.rx.try_recv() {
                self.take(cmd, &mut sealed, &mut last);
            }
            if last.is_none() && !sealed.is_empty() {
                // Parts go up while the object is still open.
                let Ok(_permit) = self.pool.objects.clone().acquire_owned().await else {
                    return;
                };
                self.on_board();
                let parts = std::mem::take(&mut sealed);
                // Boxed, as is the end below: thousands of objects may wait
                // here or for a slot, and each would otherwise hold the
                // largest of these futures (kilobytes) the whole time.
                let uploaded = Box::pin(self.upload_parts(&parts, Some(&mut last))).await;
                if uploaded.is_err() {
                    return;
                }
            }
        }
        let Some(last) = last else { return };
        let Ok(_permit) = self.pool.objects.clone().acquire_owned().await else {
            return;
        };
        self.on_board();
        if Box::pin(self.finish(last)).await.is_ok() {
            let freed = self.paths.bytes(1..=last);
            self.paths.remove(1..=last);
            let stats = &self.pool.stats;
            stats.spool_bytes.sub(freed.min(stats.spool_bytes.get()));
            stats.objects.add(1);
            stats.completed(self.paths.id());
            self.pool.wake.notify_one();
        }
    }

    /// Notes what the driver said: a sealed part, or the end.
    fn take(&mut self, cmd: Cmd, sealed: &mut Vec<u32>, last: &mut Option<u32>) {
        match cmd {
            Cmd::Sealed(n, part) => {
                if let Some(p) = part {
                    self.kept.insert(n, p);
                }
                // Part 1 of a format with its head at the end waits for the end.
                if !(n == 1 && self.manifest.codec.head_at_end()) {
                    sealed.push(n);
                }
            }
            Cmd::Complete {
                last: l,
                raw_total,
                part,
            } => {
                if let Some(p) = part {
                    self.kept.insert(l, p);
                }
                *last = Some(l);
                self.manifest.raw_total = Some(raw_total);
            }
        }
    }

    /// Shows the object in `sluice-ctl uploads` (by its key, or its base
    /// until the key is chosen).
    fn on_board(&self) {
        let shown = self
            .manifest
            .key
            .clone()
            .unwrap_or_else(|| self.manifest.base.clone());
        self.pool.stats.update(self.paths.id(), |i| {
            if i.key.is_empty() {
                i.key = shown;
            }
        });
    }

    /// Saves the manifest (synced), retrying until it is on disk; off the
    /// upload threads, which go on with other objects' requests meanwhile.
    async fn persist(&self) -> Result<(), StoreError> {
        self.pool
            .attempt(self.paths.id(), "saving the manifest", || {
                let (manifest, path) = (self.manifest.clone(), self.paths.meta());
                async move {
                    let saved = tokio::task::spawn_blocking(move || manifest.save(&path))
                        .await
                        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                    saved.map_err(|e| {
                        StoreError::Failed(crate::destinations::Failure::retry(format!(
                            "cannot write the spool manifest {}: {e}",
                            self.paths.meta().display()
                        )))
                    })
                }
            })
            .await
    }

    /// The object's key, its index chosen on first use and recorded before
    /// anything is written under it: a restart then finds what an earlier
    /// run wrote by that key (see [`ObjectTask::landed`]).
    async fn choose_key(&mut self) -> Result<String, StoreError> {
        if let Some(k) = &self.manifest.key {
            return Ok(k.clone());
        }
        let m = &self.manifest;
        let key = if m.random_key {
            // Log Service's OBJECT-KEY/PARTITION_RANDOMID: the spool object's
            // id is unique and names no other object; nothing to list.
            format!("{}_{}{}", m.base, self.paths.id(), m.suffix)
        } else {
            let index = (self.pool)
                .index_of(self.paths.id(), &m.base, &m.suffix, m.seq)
                .await?;
            key::key(&m.base, index, &m.suffix)
        };
        self.manifest.key = Some(key.clone());
        self.pool
            .stats
            .update(self.paths.id(), |i| i.key = key.clone());
        self.persist().await?;
        Ok(key)
    }

    /// Chooses the key (once) and starts the multipart upload (once).
    async fn ensure_upload(&mut self) -> Result<(String, String), StoreError> {
        // Recorded before the upload exists, so that a restart in between
        // keeps the key.
        let key = self.choose_key().await?;
        if let Some(id) = &self.manifest.upload_id {
            return Ok((key, id.clone()));
        }
        if std::mem::take(&mut self.recovered) {
            // A crash between CreateMultipartUpload and saving its id left an
            // upload under our key that nothing will complete: abort it.
            let orphans = (self.pool)
                .attempt(self.paths.id(), "listing uploads", || {
                    self.pool.store.uploads_of(&key)
                })
                .await?;
            for id in orphans {
                tracing::info!(destination = %self.pool.destination, key, upload_id = %id, "aborting an upload a crash left behind");
                let _ = self.pool.store.abort_upload(&key, &id).await;
            }
        }
        let id = self
            .pool
            .attempt(self.paths.id(), "starting an upload", || {
                self.pool.store.create_upload(&key, self.paths.id())
            })
            .await?;
        self.manifest.upload_id = Some(id.clone());
        self.persist().await?;
        Ok((key, id))
    }

    /// Uploads segments `numbers` as parts, up to `upload-threads()` at once. While the
    /// object is open (`open` is its end, not yet known), parts sealed
    /// meanwhile join as requests finish, so a stream keeps every slot busy
    /// instead of waiting for a batch's slowest part; it returns once no part
    /// is left in flight, leaving the end (if it came) in `open`.
    async fn upload_parts(
        &mut self,
        numbers: &[u32],
        mut open: Option<&mut Option<u32>>,
    ) -> Result<(), StoreError> {
        let (key, id) = self.ensure_upload().await?;
        let mut todo: std::collections::VecDeque<u32> = numbers.iter().copied().collect();
        let mut running = JoinSet::new();
        let mut first_error = None;
        loop {
            while first_error.is_none() && running.len() < self.pool.upload_threads {
                let Some(n) = todo.pop_front() else { break };
                if self.manifest.parts.iter().any(|(p, _, _)| *p == n) {
                    continue;
                }
                let head = if n == 1 { self.head()? } else { Vec::new() };
                let kept = self.kept.remove(&n);
                let (pool, paths, key, id) = (
                    self.pool.clone(),
                    self.paths.clone(),
                    key.clone(),
                    id.clone(),
                );
                running.spawn(async move {
                    let Ok(_body) = pool.bodies.clone().acquire_owned().await else {
                        return Err(StoreError::Failed(crate::destinations::Failure::retry(
                            "stopping",
                        )));
                    };
                    let (body, _lease) = part_body(&pool, &paths, n, head, kept).await?;
                    let size = body.len() as u64;
                    let etag = pool
                        .attempt(paths.id(), "uploading a part", || {
                            pool.store.upload_part(&key, &id, n, body.clone())
                        })
                        .await?;
                    pool.recycle(body);
                    pool.stored(paths.id(), size);
                    tracing::debug!(destination = %pool.destination, object = paths.id(), part = n, size, "part uploaded");
                    Ok::<_, StoreError>((n, etag, size))
                });
            }
            if running.is_empty() {
                break;
            }
            let listening = first_error.is_none() && open.as_ref().is_some_and(|l| l.is_none());
            let done = tokio::select! {
                done = running.join_next() => done,
                cmd = self.rx.recv(), if listening => {
                    let Some(l) = open.as_deref_mut() else { continue };
                    match cmd {
                        Some(cmd) => {
                            let mut more = Vec::new();
                            self.take(cmd, &mut more, l);
                            todo.extend(more);
                        }
                        // The driver is gone: finish what is in flight; the
                        // caller sees the channel closed.
                        None => open = None,
                    }
                    continue;
                }
            };
            match done {
                Some(Ok(Ok(part))) => {
                    self.manifest.parts.push(part);
                    self.manifest.parts.sort_by_key(|p| p.0);
                    self.persist().await?;
                }
                Some(Ok(Err(e))) => {
                    first_error.get_or_insert(e);
                }
                Some(Err(e)) => {
                    first_error.get_or_insert(StoreError::Failed(
                        crate::destinations::Failure::retry(format!("upload task failed: {e}")),
                    ));
                }
                None => break,
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Uploads what is left and completes the object, moving to the next
    /// index if the key was taken meanwhile.
    async fn finish(&mut self, last: u32) -> Result<(), StoreError> {
        if self.recovered
            && let Some(key) = self.manifest.key.clone()
            && self.landed(&key).await?
        {
            // Written before the crash, which came before the spool knew.
            tracing::info!(destination = %self.pool.destination, key, "object left in the spool was already in the store");
            return Ok(());
        }
        loop {
            let result = if self.manifest.upload_id.is_none() && last == 1 {
                self.put_whole().await
            } else {
                self.complete_multipart(last).await
            };
            match result {
                Err(StoreError::KeyExists(key) | StoreError::NoSuchUpload { key, .. })
                    if self.landed(&key).await? =>
                {
                    return Ok(());
                }
                Err(StoreError::KeyExists(key)) => {
                    tracing::warn!(destination = %self.pool.destination, key, "key taken meanwhile; using the next index");
                    if let (Some(k), Some(id)) = (&self.manifest.key, &self.manifest.upload_id) {
                        let _ = self.pool.store.abort_upload(k, id).await;
                    }
                    self.pool
                        .forget_index(&self.manifest.base, &self.manifest.suffix)
                        .await;
                    self.restart();
                }
                Err(StoreError::NoSuchUpload { .. }) => {
                    tracing::warn!(destination = %self.pool.destination, "upload vanished; uploading the object again");
                    self.manifest.upload_id = None;
                    self.manifest.parts.clear();
                }
                other => return other,
            }
        }
    }

    /// What goes in front of segment 1's bytes: a raw snappy object's length.
    fn head(&self) -> Result<Vec<u8>, StoreError> {
        if !self.manifest.codec.head_at_end() {
            return Ok(Vec::new());
        }
        match self.manifest.raw_total {
            Some(n) => Ok(crate::compress::snappy_preamble(n)),
            // Part 1 waits for completion, which tells the length.
            None => Err(StoreError::Failed(crate::destinations::Failure::permanent(
                "the first part of a snappy object before its length is known",
            ))),
        }
    }

    /// Whether the object at `key` is this one: a write whose reply was lost,
    /// or that a crash kept the spool from recording, did land.
    async fn landed(&self, key: &str) -> Result<bool, StoreError> {
        let writer = (self.pool)
            .attempt(self.paths.id(), "checking an object", || {
                self.pool.store.writer_of(key)
            })
            .await?;
        let ours = writer.as_deref() == Some(self.paths.id());
        if ours {
            tracing::info!(destination = %self.pool.destination, key, "an earlier attempt had written the object; its reply was lost");
        }
        Ok(ours)
    }

    fn restart(&mut self) {
        self.manifest.key = None;
        self.manifest.upload_id = None;
        self.manifest.parts.clear();
    }

    async fn put_whole(&mut self) -> Result<(), StoreError> {
        let Ok(_body) = self.pool.bodies.clone().acquire_owned().await else {
            return Err(StoreError::Failed(crate::destinations::Failure::retry(
                "stopping",
            )));
        };
        let kept = self.kept.remove(&1);
        let (body, _lease) = part_body(&self.pool, &self.paths, 1, self.head()?, kept).await?;
        let key = self.choose_key().await?;
        let size = body.len() as u64;
        let tried = AtomicBool::new(false);
        self.pool
            .attempt(self.paths.id(), "uploading an object", || async {
                if tried.swap(true, Ordering::Relaxed) && self.landed(&key).await? {
                    return Ok(());
                }
                self.pool
                    .store
                    .put_object(&key, body.clone(), self.paths.id())
                    .await
            })
            .await?;
        self.pool.recycle(body);
        self.pool.stored(self.paths.id(), size);
        tracing::debug!(destination = %self.pool.destination, key, size, "object written");
        Ok(())
    }

    async fn complete_multipart(&mut self, last: u32) -> Result<(), StoreError> {
        let all: Vec<u32> = (1..=last).collect();
        self.upload_parts(&all, None).await?;
        let (key, id) = self.ensure_upload().await?;
        let parts: Vec<(u32, String)> = self
            .manifest
            .parts
            .iter()
            .map(|(n, e, _)| (*n, e.clone()))
            .collect();
        let tried = AtomicBool::new(false);
        self.pool
            .attempt(self.paths.id(), "completing an upload", || async {
                // A failed attempt may have completed it and lost the reply;
                // stores then answer the retry in their own ways (NoSuchUpload,
                // AccessDenied, 412), so look first.
                if tried.swap(true, Ordering::Relaxed) && self.landed(&key).await? {
                    return Ok(());
                }
                self.pool.store.complete_upload(&key, &id, &parts).await
            })
            .await?;
        tracing::debug!(destination = %self.pool.destination, key, parts = parts.len(), "object written");
        Ok(())
    }
}

/// Part `n`'s body: `head`, then the segment's bytes, from memory when they
/// were kept (with what counts them), else read from the spool.
async fn part_body(
    pool: &Pool,
    paths: &Paths,
    n: u32,
    head: Vec<u8>,
    kept: Option<Box<Part>>,
) -> Result<(Bytes, Option<Lease>), StoreError> {
    if let Some(part) = kept {
        let Part { bytes, lease } = *part;
        let bytes = if head.is_empty() {
            bytes
        } else {
            Bytes::from([&head[..], &bytes[..]].concat())
        };
        return Ok((bytes, Some(lease)));
    }
    let path = paths.segment(n);
    pool.attempt(paths.id(), "reading the spool", || {
        let (path, buf, head) = (path.clone(), pool.buffer(), head.clone());
        async move {
            tokio::task::spawn_blocking(move || spool::read_into(&path, buf))
                .await
                .map_err(|e| {
                    crate::destinations::Failure::retry(format!("spool read failed: {e}"))
                })?
                .map(|mut c| {
                    c.payload.splice(0..0, head);
                    (Bytes::from(c.payload), None)
                })
                .map_err(|e| {
                    StoreError::Failed(crate::destinations::Failure::retry(format!(
                        "cannot read the spool: {e}"
                    )))
                })
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_parts_stay_under_their_cap_and_give_it_back_when_dropped() {
        let chunk = 1 << 20;
        let pool = Arc::new(Pool::new(
            Store::Local(super::super::local::LocalStore::new(std::env::temp_dir())),
            "d#0".into(),
            2,
            4,
            chunk as u64,
            Arc::default(),
        ));
        let limit = pool.kept_limit;
        let bytes = vec![7u8; chunk / 2];
        let mut tails: Vec<Tail> = Vec::new();
        // Each tail takes a chunk and a quarter once written to: four fit.
        loop {
            let mut t = pool.tail().expect("an empty tail takes no room");
            if !t.push(&bytes) {
                break;
            }
            tails.push(t);
        }
        assert_eq!(tails.len(), KEPT_PARTS);
        assert!(pool.kept.load(Ordering::Relaxed) <= limit);
        // A tail grows past its chunk when a batch crosses its end, within
        // the cap: not while the others hold it, but once one is let go.
        let mut t = tails.pop().unwrap();
        assert!(t.push(&bytes));
        assert!(!t.push(&bytes), "past the cap");
        tails.pop();
        assert!(t.push(&bytes));
        let part = t.into_part();
        assert_eq!(part.bytes.len(), 3 * chunk / 2);
        assert!(part.bytes.iter().all(|&b| b == 7));
        drop(part);
        drop(tails);
        assert_eq!(pool.kept.load(Ordering::Relaxed), 0, "all given back");
    }
}
