//! The running object-store destination: renders each message into the open
//! object its key names, appends to that object's spool segment, and has the
//! touched segments synced once for all the deliveries the worker took in a
//! row ([`Driver::sync`]), which are acknowledged only then: on the sync
//! thread ([`super::sync`]), while the worker goes on with the next ones.
//! Objects complete on size (`max-object-size()`), on a newer timestamp, after
//! `flush-grace-period()` without messages, when `max-open-objects()` needs
//! room (least recently written first), and on stop; each then goes to its
//! upload task ([`super::upload`]).

use super::ObjectOptions;
use super::row_groups::{Rows, finish_parquet, write_group};
use super::spool::{self, Manifest, Paths, RawState, Record};
use super::sync::{Job, Syncer};
use super::upload::{Cmd, ObjectTask, Pool, Tail};
use crate::compress::{Codec, Shared, Stream};
use crate::destinations::timers::Deadlines;
use crate::destinations::worker::TaskThreads;
use crate::destinations::{Driver, Failure};
use crate::logpath::{Ack, Delivery};
use crate::message::Message;
use crate::template::{Memo, RenderContext};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Room left below a codec's raw-length limit for the batch being placed
/// (deliveries are bounded by `log-fifo-bytes()`, 32 MiB by default).
const RAW_MARGIN: u64 = 256 << 20;

/// Bases of completed objects remembered for the older-timestamp rule.
const REMEMBERED: usize = 65_536;

struct Open {
    paths: Paths,
    base: Vec<u8>,
    /// Rendered `object-key()`: the objects of one prefix roll over together.
    prefix: Vec<u8>,
    stream: Stream,
    segment: u32,
    /// Shared with the sync thread, which syncs it.
    file: Arc<File>,
    /// Object bytes in the current segment, and in the whole object.
    segment_bytes: u64,
    size: u64,
    /// Rendered this batch, not yet spooled.
    pending: Record,
    last_write: Instant,
    /// When it was opened, for `max-object-age()`.
    opened: Instant,
    /// The driver's write count at its last write: orders objects by their
    /// last message, which `last_write` cannot (a delivery shares one instant).
    last_seq: u64,
    tx: mpsc::UnboundedSender<Cmd>,
    /// `format(parquet)`: the rows of the next row group and the row groups
    /// so far.
    parquet: Option<Rows>,
    /// The current segment's object bytes, for its upload (none for Parquet,
    /// whose segments also hold rows and metadata, or past the pool's cap).
    tail: Option<Tail>,
}

impl Open {
    /// Has the sync thread sync the current segment with the next group.
    fn sync_in(&self, job: &mut Job) {
        job.file(&self.file, || self.paths.segment(self.segment));
    }
}

pub struct ObjectDriver {
    opts: Arc<ObjectOptions>,
    ctx: RenderContext,
    dir: PathBuf,
    pool: Arc<Pool>,
    open: HashMap<u64, Open, Ids>,
    by_base: HashMap<Vec<u8>, u64>,
    by_prefix: HashMap<Vec<u8>, Vec<u64>>,
    completed: HashSet<Vec<u8>>,
    completed_order: VecDeque<Vec<u8>>,
    grace: Deadlines<u64>,
    next_id: u64,
    /// Per base, the sequence number of its next object this run.
    seqs: HashMap<Vec<u8>, u64>,
    /// Objects touched this batch.
    dirty: Vec<u64>,
    /// Objects appended to since the last sync.
    unsynced: Vec<u64>,
    /// Messages placed so far, to order objects by their last write.
    writes: u64,
    tasks: JoinSet<()>,
    /// Where upload tasks run: their own threads, so uploads go on while the
    /// worker renders and syncs.
    uploads: TaskThreads,
    /// The last message's key and prefix (`object-key()` alone), rendered.
    key_buf: Vec<u8>,
    prefix_buf: Vec<u8>,
    /// Says when a message's key inputs equal the last message's, so that
    /// its key need not be rendered again (`None`: the key templates read
    /// something that changes on every render).
    key_memo: Option<Memo>,
    /// The object the last message went to.
    last_object: Option<u64>,
    /// A record being compressed.
    record: Record,
    /// One compression state for every object (see `compress`).
    compress: Shared,
    /// Distinguishes this run's spool files from an earlier run's.
    run_id: String,
    /// A delivery a spool failure interrupted, and the message to go on from.
    stalled: Option<(Delivery, usize)>,
    /// Deliveries spooled, waiting for the sync.
    held: Vec<Ack>,
    /// Files to sync and what to tell once they are, for the next sync.
    job: Job,
    syncer: Syncer,
    /// Memory of the row buffers of open Parquet objects (their capacity):
    /// bounded by [`ObjectDriver::rows_budget`], however many objects are
    /// open.
    rows_held: usize,
    /// Bytes free on the spool's disk, measured once per group and counted
    /// down as it writes ([`Disk::claim`]).
    disk: Disk,
}

/// Data written to the spool leaves [`Disk::reserve`] bytes free on its disk:
/// completing an object (a trailer, a Parquet row group and footer) and saving
/// its manifest during the upload need that room, and without it a full disk
/// would hold every object in the spool forever.
struct Disk {
    free: Option<u64>,
    reserve: u64,
}

impl Disk {
    /// Room for the records, manifests and uploads that finish objects.
    const BASE_RESERVE: u64 = 256 << 10;

    fn claim(&mut self, dir: &std::path::Path, bytes: u64) -> Result<(), Failure> {
        let free = *self.free.get_or_insert_with(|| super::free_space(dir));
        if free < bytes.saturating_add(self.reserve) {
            self.free = None;
            return Err(Failure::retry(format!(
                "spool {}: the disk is full ({free} bytes free, {} kept for finishing objects)",
                dir.display(),
                self.reserve
            )));
        }
        self.free = Some(free - bytes);
        Ok(())
    }
}

impl ObjectDriver {
    /// Opens the spool in `dir` and hands every object a crash left there to
    /// its upload task, completed.
    pub fn start(
        opts: Arc<ObjectOptions>,
        ctx: RenderContext,
        dir: PathBuf,
        pool: Arc<Pool>,
    ) -> Result<ObjectDriver, Failure> {
        std::fs::create_dir_all(&dir).map_err(|e| {
            Failure::retry(format!(
                "cannot create the spool directory {}: {e}",
                dir.display()
            ))
        })?;
        let ctx = ctx.with_overrides(opts.time_zone.as_ref(), opts.frac_digits);
        let mut key_templates = vec![&opts.object_key];
        key_templates.extend(&opts.object_key_timestamp);
        key_templates.extend(&opts.partition);
        let key_memo = Memo::new(&key_templates);
        let opts_level = opts.compress_level;
        let (opts_parquet, opts_row_group) =
            (opts.encoder.parquet().is_some(), opts.row_group_size);
        let syncer = Syncer::start(&pool.destination, pool.wake.clone())
            .map_err(|e| Failure::retry(format!("cannot start the spool sync thread: {e}")))?;
        let mut d = ObjectDriver {
            opts,
            ctx,
            dir,
            pool,
            open: HashMap::default(),
            by_base: HashMap::new(),
            by_prefix: HashMap::new(),
            completed: HashSet::new(),
            completed_order: VecDeque::new(),
            grace: Deadlines::default(),
            next_id: 0,
            seqs: HashMap::new(),
            dirty: Vec::new(),
            unsynced: Vec::new(),
            writes: 0,
            tasks: JoinSet::new(),
            uploads: TaskThreads::new("uploads", 2)?,
            key_buf: Vec::new(),
            prefix_buf: Vec::new(),
            key_memo,
            last_object: None,
            record: Record::default(),
            compress: Shared::new(opts_level),
            run_id: super::random_id(),
            stalled: None,
            held: Vec::new(),
            job: Job::default(),
            syncer,
            rows_held: 0,
            disk: Disk {
                free: None,
                // A completion may write a row group for each of the four
                // row groups' worth of rows the open objects hold.
                reserve: Disk::BASE_RESERVE
                    + if opts_parquet {
                        opts_row_group.saturating_mul(4)
                    } else {
                        0
                    },
            },
        };
        d.recover()?;
        Ok(d)
    }

    /// Finishes what an earlier run left in the spool: every object is
    /// completed (a torn last record cut off), and uploaded.
    fn recover(&mut self) -> Result<(), Failure> {
        let found = spool::scan(&self.dir).map_err(|e| {
            Failure::retry(format!("cannot read the spool {}: {e}", self.dir.display()))
        })?;
        if !self.opts.recover && !found.is_empty() {
            // recover(no): what an earlier run left is given up, loudly.
            let mut bytes = 0;
            for (id, segments) in &found {
                let paths = Paths::new(&self.dir, id);
                bytes += paths.bytes(segments.iter().copied());
                paths.remove(segments.iter().copied());
            }
            tracing::warn!(destination = %self.pool.destination, objects = found.len(), bytes, spool = %self.dir.display(), "recover(no): deleted what an earlier run left in the spool");
            return Ok(());
        }
        for (id, segments) in found {
            let paths = Paths::new(&self.dir, &id);
            let mut manifest = match Manifest::load(&paths.meta()) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(destination = %self.pool.destination, "spool object {id} has no usable manifest, left in place: {e}");
                    continue;
                }
            };
            let last = segments.last().copied().unwrap_or(1);
            if manifest.key.is_none() {
                // Numbered in the earlier run; this run's numbering comes
                // first for the objects it found, the oldest.
                manifest.seq = self.next_seq(manifest.base.as_bytes());
            }
            if let Some((codec, columns)) = manifest.parquet.clone().filter(|_| !manifest.complete)
            {
                let finished = finish_parquet(&paths, &segments, codec, &columns).and_then(|n| {
                    manifest.complete = true;
                    manifest.raw_total = Some(n);
                    manifest.save(&paths.meta()).map_err(|e| e.to_string())
                });
                if let Err(e) = finished {
                    tracing::error!(destination = %self.pool.destination, "cannot finish spool object {id}, left in place: {e}");
                    continue;
                }
            }
            // A complete object's records were whole when it was marked so,
            // and its manifest holds its length: only an open one is read.
            let (state, finished) = match manifest.raw_total.filter(|_| manifest.complete) {
                Some(_) => (None, true),
                None => self.cut_torn_tail(&paths, &segments),
            };
            let raw_total = manifest
                .raw_total
                .filter(|_| manifest.complete)
                .unwrap_or(state.unwrap_or_default().total);
            if !manifest.complete {
                let mut enc = Stream::resume(manifest.codec, state);
                let mut tail = Record::default();
                if !finished {
                    enc.finish(tail.appender(), &mut self.compress);
                }
                let end = state.unwrap_or_default();
                let appended = paths.open_segment(last).and_then(|f| {
                    if !tail.is_empty() {
                        tail.write(&f, spool::FINAL, end)?;
                    }
                    f.sync_all()
                });
                manifest.complete = true;
                manifest.raw_total = Some(raw_total);
                if let Err(e) = appended.and_then(|()| manifest.save(&paths.meta())) {
                    tracing::error!(destination = %self.pool.destination, "cannot finish spool object {id}: {e}");
                    continue;
                }
            }
            // Measured once finished, as its upload task will when it frees
            // them: a torn tail cut off, an end appended.
            let bytes = paths.bytes(1..=last);
            self.pool.stats.spool_bytes.add(bytes);
            tracing::info!(destination = %self.pool.destination, base = %manifest.base, segments = last, "resuming an object left in the spool");
            let tx = self.spawn_task(paths, manifest, true);
            let _ = tx.send(Cmd::Complete {
                last,
                raw_total,
                part: None,
            });
        }
        Ok(())
    }

    /// Starts the upload task of an object; returns where to tell it of its
    /// parts.
    fn spawn_task(
        &mut self,
        paths: Paths,
        manifest: Manifest,
        recovered: bool,
    ) -> mpsc::UnboundedSender<Cmd> {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = ObjectTask {
            pool: self.pool.clone(),
            paths,
            manifest,
            rx,
            recovered,
            kept: HashMap::new(),
        };
        self.tasks.spawn_on(task.run(), self.uploads.handle());
        tx
    }

    /// Truncates each segment to its whole records; the state after them, and
    /// whether the last one ended the object.
    fn cut_torn_tail(&self, paths: &Paths, segments: &[u32]) -> (Option<RawState>, bool) {
        let mut state = None;
        let mut finished = false;
        for &n in segments {
            let Ok(c) = spool::read(&paths.segment(n)) else {
                continue;
            };
            if c.last.is_some() {
                state = c.last;
                finished = c.finished;
            }
            if let Ok(f) = std::fs::OpenOptions::new()
                .write(true)
                .open(paths.segment(n))
            {
                let _ = f.set_len(c.valid);
            }
        }
        (state, finished)
    }

    /// The open object for the message's key, opening one if needed.
    fn object_for(&mut self, msg: &Message, now: Instant) -> Result<u64, Failure> {
        if self.key_memo.as_mut().is_some_and(|m| m.unchanged(msg)) {
            // The key of the last message, still in `key_buf`.
            if let Some(id) = self.last_object.filter(|id| self.open.contains_key(id)) {
                return Ok(id);
            }
        } else {
            // Forgotten first: a failure below leaves this message's key in
            // `key_buf` and no object chosen for it.
            self.last_object = None;
            self.render_key(msg);
        }
        let id = self.lookup_or_open(now)?;
        self.last_object = Some(id);
        Ok(id)
    }

    /// Renders the message's key and prefix into `key_buf` and `prefix_buf`.
    fn render_key(&mut self, msg: &Message) {
        self.key_buf.clear();
        // Values from the message cannot leave the key's prefix (see
        // template/confine.rs).
        self.opts
            .object_key
            .render_object_key(msg, &self.ctx, &mut self.key_buf);
        if let Some(p) = &self.opts.partition {
            // OBJECT-KEY/PARTITION: every partition is its own prefix, so no
            // partition completes another's object (a late message goes to
            // its own hour).
            while self.key_buf.last() == Some(&b'/') {
                self.key_buf.pop();
            }
            if !self.key_buf.is_empty() {
                self.key_buf.push(b'/');
            }
            // The format is the config's and its output digits and names of
            // the time: nothing a message can steer, and its `/`s are levels.
            p.render(msg, &self.ctx, &mut self.key_buf);
            self.prefix_buf.clear();
            self.prefix_buf.extend_from_slice(&self.key_buf);
            return;
        }
        self.prefix_buf.clear();
        self.prefix_buf.extend_from_slice(&self.key_buf);
        if let Some(ts) = &self.opts.object_key_timestamp {
            ts.render_confined(msg, &self.ctx, &mut self.key_buf);
        }
    }

    /// The open object of the key in `key_buf`, opening one if needed.
    fn lookup_or_open(&mut self, now: Instant) -> Result<u64, Failure> {
        if let Some(&id) = self.by_base.get(&self.key_buf) {
            return Ok(id);
        }
        let base = self.key_buf.clone();
        let prefix = self.prefix_buf.clone();
        if !self.completed.contains(&base) {
            // A newer timestamp: what the prefix had open is done.
            for id in self.by_prefix.get(&prefix).cloned().unwrap_or_default() {
                self.complete(id)?;
            }
        }
        // Otherwise an older timestamp: a new indexed object beside the open ones.
        if self.open.len() >= self.opts.max_open_objects {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, o)| o.last_seq)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                self.complete(id)?;
            }
        }
        self.open_object(base, prefix, now)
    }

    fn open_object(
        &mut self,
        base: Vec<u8>,
        prefix: Vec<u8>,
        now: Instant,
    ) -> Result<u64, Failure> {
        self.next_id += 1;
        let id = self.next_id;
        let paths = Paths::new(&self.dir, &format!("{}-{id:08x}", self.run_id));
        let seq = self.next_seq(&base);
        let manifest = Manifest {
            seq,
            base: String::from_utf8_lossy(&base).into_owned(),
            suffix: self.opts.suffix(),
            codec: self.opts.codec,
            random_key: self.opts.partition.is_some(),
            parquet: (self.opts.encoder.parquet()).map(|p| (p.compression(), p.spec().to_vec())),
            ..Manifest::default()
        };
        manifest
            .save(&paths.meta())
            .map_err(|e| spool_failure(&paths.meta(), &e))?;
        let file = paths
            .open_segment(1)
            .map_err(|e| spool_failure(&paths.segment(1), &e))?;
        let tx = self.spawn_task(paths.clone(), manifest, false);
        let parquet = self.opts.encoder.parquet().map(|_| Rows::default());
        let tail = parquet.is_none().then(|| self.pool.tail()).flatten();
        self.by_base.insert(base.clone(), id);
        self.by_prefix.entry(prefix.clone()).or_default().push(id);
        self.grace
            .set(id, now + self.opts.flush_grace.min(self.max_age()));
        let mut pending = Record::default();
        // What starts every object (CSV's header line).
        self.opts.encoder.header(pending.appender());
        if !pending.is_empty() {
            self.dirty.push(id);
        }
        self.open.insert(
            id,
            Open {
                paths,
                base,
                prefix,
                stream: Stream::new(self.opts.codec),
                segment: 1,
                file: Arc::new(file),
                segment_bytes: 0,
                size: 0,
                pending,
                last_write: now,
                opened: now,
                last_seq: self.writes,
                tx,
                parquet,
                tail,
            },
        );
        Ok(id)
    }

    fn next_seq(&mut self, base: &[u8]) -> u64 {
        let n = self.seqs.entry(base.to_vec()).or_insert(0);
        *n += 1;
        *n - 1
    }

    /// Encodes an object's pending bytes into one record of its segment.
    fn spool_pending(&mut self, id: u64) -> Result<(), Failure> {
        let Some(o) = self.open.get_mut(&id) else {
            return Ok(());
        };
        if o.pending.is_empty() {
            return Ok(());
        }
        if let Some(rows) = &mut o.parquet {
            // Rows wait in the spool for their row group.
            self.disk.claim(&self.dir, o.pending.on_disk())?;
            (o.pending)
                .write(&o.file, spool::ROWS, o.stream.state())
                .map_err(|e| spool_failure(&o.paths.segment(o.segment), &e))?;
            let capacity = rows.data.capacity();
            rows.data.extend_from_slice(o.pending.payload());
            self.rows_held += rows.data.capacity() - capacity;
            self.pool.stats.spool_bytes.add(o.pending.on_disk());
            o.pending.clear();
            if rows.data.len() as u64 >= self.opts.row_group_size {
                self.flush_group(id)?;
            }
            return self.keep_rows_in_budget();
        }
        let raw = o.pending.len();
        let (codec, before) = (self.opts.codec, o.stream.state());
        // Plain bytes go to the spool from the buffer they were rendered into.
        let (record, state) = match o.stream.pass_through(raw) {
            Some(state) => (&mut o.pending, state),
            None => {
                self.record.clear();
                let state = o.stream.encode(
                    o.pending.payload(),
                    self.record.appender(),
                    &mut self.compress,
                );
                (&mut self.record, state)
            }
        };
        let written = (self.disk.claim(&self.dir, record.on_disk())).and_then(|()| {
            (record.write(&o.file, raw as u32, state))
                .map_err(|e| spool_failure(&o.paths.segment(o.segment), &e))
        });
        if let Err(f) = written {
            // Nothing was written (a failed write is cut off again) and the
            // bytes stay pending: wind the stream back to before them, or the
            // retry would count them twice (a wrong gzip CRC and length, a
            // gzip header missing).
            o.stream = Stream::resume(codec, (o.size > 0).then_some(before));
            return Err(f);
        }
        Tail::keep(&mut o.tail, record.payload());
        let (n, on_disk) = (record.len() as u64, record.on_disk());
        o.pending.clear();
        o.segment_bytes += n;
        o.size += n;
        self.pool.stats.spool_bytes.add(on_disk);
        self.seal_if_full(id)
    }

    /// Starts the next segment when the current one holds a full part.
    fn seal_if_full(&mut self, id: u64) -> Result<(), Failure> {
        let Some(o) = self.open.get_mut(&id) else {
            return Ok(());
        };
        if o.segment_bytes >= self.opts.chunk_size {
            // A full part: the next bytes start the next segment. Sealed only
            // once that exists: until then the bytes go on into this one,
            // which no upload has taken yet. Its upload starts once it is
            // synced.
            let next = o
                .paths
                .open_segment(o.segment + 1)
                .map_err(|e| spool_failure(&o.paths.segment(o.segment + 1), &e))?;
            let part = o.tail.take().map(Tail::into_part);
            o.sync_in(&mut self.job);
            self.job.then(&o.tx, Cmd::Sealed(o.segment, part));
            o.segment += 1;
            o.segment_bytes = 0;
            o.file = Arc::new(next);
            if o.parquet.is_none() {
                o.tail = self.pool.tail();
            }
        }
        Ok(())
    }

    /// Encodes a Parquet object's waiting rows as a row group: its bytes,
    /// then its metadata, in the segment.
    fn flush_group(&mut self, id: u64) -> Result<(), Failure> {
        let Some(p) = self.opts.encoder.parquet() else {
            return Ok(());
        };
        let Some(o) = self.open.get_mut(&id) else {
            return Ok(());
        };
        let Some(rows) = o.parquet.as_mut().filter(|r| !r.data.is_empty()) else {
            return Ok(());
        };
        let capacity = rows.data.capacity();
        let (n, on_disk, meta) =
            write_group(p, &mut rows.data, &mut o.stream, &o.file, &mut self.record).map_err(
                |e| Failure::retry(format!("{}: {e}", o.paths.segment(o.segment).display())),
            )?;
        rows.groups.push(meta);
        rows.data.clear();
        // The rows are lent to the encoder and come back; rarely as a copy.
        self.rows_held = (self.rows_held + rows.data.capacity()).saturating_sub(capacity);
        o.segment_bytes += n;
        o.size += n;
        self.pool.stats.spool_bytes.add(on_disk);
        self.seal_if_full(id)
    }

    /// Four row groups' worth of rows across all open Parquet objects.
    fn rows_budget(&self) -> usize {
        (self.opts.row_group_size as usize).saturating_mul(4)
    }

    /// Many open Parquet objects (one per host, per partition) would each
    /// hold up to a row group of rows: past the budget, the object holding
    /// the most writes them as a (smaller) row group and lets its buffer go.
    fn keep_rows_in_budget(&mut self) -> Result<(), Failure> {
        while self.rows_held > self.rows_budget() {
            // Buffers already written out go first (no row group needed),
            // then the one holding the most rows.
            let pick = (self.open.iter())
                .filter_map(|(id, o)| {
                    let rows = o.parquet.as_ref()?;
                    let empty = rows.data.is_empty();
                    let weight = if empty { usize::MAX } else { rows.data.len() };
                    (rows.data.capacity() > 0).then_some((weight, *id))
                })
                .max();
            let Some((_, id)) = pick else {
                return Ok(());
            };
            self.flush_group(id)?;
            if let Some(rows) = self.open.get_mut(&id).and_then(|o| o.parquet.as_mut()) {
                let released = std::mem::take(&mut rows.data).capacity();
                self.rows_held = self.rows_held.saturating_sub(released);
            }
        }
        Ok(())
    }

    /// Ends object `id`: its last record (a gzip trailer, a Parquet footer),
    /// synced, then its task completes it in the store.
    fn complete(&mut self, id: u64) -> Result<(), Failure> {
        self.spool_pending(id)?;
        self.flush_group(id)?;
        let Some(mut o) = self.open.remove(&id) else {
            return Ok(());
        };
        // What a failed attempt rolls back to (see below).
        let before = (o.file.metadata().map(|m| m.len()), o.stream.state());
        self.record.clear();
        match (&o.parquet, self.opts.encoder.parquet()) {
            (Some(rows), Some(p)) => {
                let footer = p
                    .footer(&rows.groups, o.stream.raw_total())
                    .map_err(Failure::retry);
                match footer {
                    Ok(f) => {
                        self.record.appender().extend_from_slice(&f);
                        o.stream.pass_through(f.len());
                    }
                    Err(e) => {
                        self.open.insert(id, o);
                        return Err(e);
                    }
                }
            }
            _ => o.stream.finish(self.record.appender(), &mut self.compress),
        }
        let done = if self.record.is_empty() {
            Ok(())
        } else {
            // Marked final, so a restart before the manifest says "complete"
            // does not end the stream twice.
            self.record.write(&o.file, spool::FINAL, o.stream.state())
        };
        if let Err(e) = done {
            // Keep it open, as it was before this attempt: its end cut off
            // again and its stream wound back, so that messages placed
            // meanwhile go before the end a later attempt writes, once.
            let f = spool_failure(&o.paths.segment(o.segment), &e);
            if let Ok(len) = before.0 {
                let _ = o.file.set_len(len);
            }
            o.stream = Stream::resume(self.opts.codec, (o.size > 0).then_some(before.1));
            self.open.insert(id, o);
            return Err(f);
        }
        if !self.record.is_empty() {
            self.pool.stats.spool_bytes.add(self.record.on_disk());
            Tail::keep(&mut o.tail, self.record.payload());
        }
        if let Some(rows) = &o.parquet {
            self.rows_held -= rows.data.capacity().min(self.rows_held);
        }
        self.by_base.remove(&o.base);
        if let Some(ids) = self.by_prefix.get_mut(&o.prefix) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.by_prefix.remove(&o.prefix);
            }
        }
        self.grace.cancel(id);
        o.sync_in(&mut self.job);
        self.remember(o.base);
        let raw_total = o.stream.raw_total();
        let part = o.tail.take().map(Tail::into_part);
        self.job.then(
            &o.tx,
            Cmd::Complete {
                last: o.segment,
                raw_total,
                part,
            },
        );
        Ok(())
    }

    fn remember(&mut self, base: Vec<u8>) {
        if self.completed.insert(base.clone()) {
            self.completed_order.push_back(base);
            if self.completed_order.len() > REMEMBERED
                && let Some(old) = self.completed_order.pop_front()
            {
                self.completed.remove(&old);
            }
        }
    }

    /// Spools the batch's pending bytes, rolling over on size; the sync
    /// comes once for every delivery the worker took in a row ([`Driver::sync`]).
    fn append(&mut self) -> Result<(), Failure> {
        // Measured afresh: uploads free space as they finish.
        self.disk.free = None;
        for id in std::mem::take(&mut self.dirty) {
            if let Err(e) = self.spool_pending(id) {
                self.dirty.push(id);
                return Err(e);
            }
            if !self.unsynced.contains(&id) {
                self.unsynced.push(id);
            }
            if self
                .open
                .get(&id)
                .is_some_and(|o| o.size >= self.opts.max_object_size)
            {
                self.complete(id)?;
            }
        }
        Ok(())
    }

    /// Hands every segment appended to since the last sync to the sync
    /// thread (one sync per object for any number of batches), which then
    /// acknowledges what they hold.
    fn sync_all(&mut self) {
        for id in std::mem::take(&mut self.unsynced) {
            // A completed object's file is in the job already.
            if let Some(o) = self.open.get(&id) {
                o.sync_in(&mut self.job);
            }
        }
        self.job.acks(self.held.drain(..));
        self.syncer.submit(std::mem::take(&mut self.job));
    }
}

/// Hashes the driver's object ids, which count up from 1: SipHash's defence
/// against chosen keys is wasted on them, and the map is read per message.
#[derive(Clone, Copy, Default)]
struct Ids;

impl std::hash::BuildHasher for Ids {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // Fibonacci hashing spreads consecutive ids over the top bits, which
        // the table's probing uses.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

fn spool_failure(path: &std::path::Path, e: &std::io::Error) -> Failure {
    Failure::retry(format!("spool {}: {e}", path.display()))
}

impl ObjectDriver {
    /// `max-object-age()`, or as good as never.
    fn max_age(&self) -> std::time::Duration {
        self.opts
            .max_age
            .unwrap_or(std::time::Duration::from_secs(100 * 365 * 86_400))
    }

    /// Whether the spool is below `spool-size()`.
    fn has_room(&self) -> bool {
        self.pool.stats.spool_bytes.get() < self.opts.spool_size
    }

    /// Renders one message into its object, rolling over on size first.
    fn place(&mut self, msg: &Message, now: Instant) -> Result<(), Failure> {
        let mut id = self.object_for(msg, now)?;
        let o = &self.open[&id];
        let waiting = o.parquet.as_ref().map_or(0, |r| r.data.len() as u64);
        let held = o.size + o.pending.len() as u64 + waiting;
        let raw = o.stream.raw_total() + o.pending.len() as u64;
        // Plain bytes roll over at the message; compressed ones, whose size is
        // known once compressed, when the batch is spooled. A raw snappy
        // object states its length in 32 bits: it rolls over well before,
        // leaving room for a batch.
        let full = match self.opts.codec {
            Codec::None => held >= self.opts.max_object_size,
            c => raw >= c.max_raw().saturating_sub(RAW_MARGIN),
        };
        if held > 0 && full {
            self.complete(id)?;
            let (base, prefix) = (self.key_buf.clone(), self.prefix_buf.clone());
            id = self.open_object(base, prefix, now)?;
        }
        let Some(o) = self.open.get_mut(&id) else {
            return Ok(());
        };
        if o.pending.is_empty() {
            self.dirty.push(id);
        }
        let nulls = self
            .opts
            .encoder
            .encode(msg, &self.ctx, o.pending.appender());
        if nulls > 0 {
            self.pool.stats.null_values.add(nulls);
        }
        if o.last_write < now {
            o.last_write = now;
        }
        self.writes += 1;
        o.last_seq = self.writes;
        Ok(())
    }

    /// Places what is left of a stalled delivery, spools and syncs, then
    /// acknowledges every delivery that is now durable.
    fn resume(&mut self, now: Instant) -> Result<(), Failure> {
        if let Some((delivery, mut next)) = self.stalled.take() {
            while next < delivery.len() {
                if let Err(e) = self.place(&delivery.messages()[next], now) {
                    self.stalled = Some((delivery, next));
                    return Err(e);
                }
                next += 1;
            }
            self.held.push(delivery.release());
        }
        self.append()
    }
}

impl Driver for ObjectDriver {
    fn accept(&mut self, delivery: Delivery, now: Instant) -> Result<(), Failure> {
        if self.opts.spool_full_drops && !self.has_room() {
            // spool-full(drop-newest): counted as dropped.
            delivery.release().give_up();
            return Ok(());
        }
        self.stalled = Some((delivery, 0));
        self.resume(now)
    }

    fn retry(&mut self, now: Instant) -> Result<(), Failure> {
        self.resume(now)?;
        self.sync_all();
        Ok(())
    }

    fn sync(&mut self, _now: Instant) -> Result<(), Failure> {
        self.append()?;
        self.sync_all();
        Ok(())
    }

    fn ready(&self) -> bool {
        // drop-newest takes every delivery and drops what finds the spool
        // full; block leaves them queued, which holds the sources back. Both
        // wait while the disk is behind.
        self.syncer.has_room() && (self.opts.spool_full_drops || self.has_room())
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.grace.next()
    }

    fn on_time(&mut self, now: Instant) {
        while let Some(id) = self.grace.pop_due(now) {
            let Some(o) = self.open.get(&id) else {
                continue;
            };
            // Idle for flush-grace-period(), or old enough, whichever first.
            let due = (o.last_write + self.opts.flush_grace).min(o.opened + self.max_age());
            if due > now {
                self.grace.set(id, due);
            } else if let Err(e) = self.complete(id) {
                tracing::error!(destination = %self.pool.destination, "cannot complete an idle object: {e}");
                self.grace.set(id, now + std::time::Duration::from_secs(1));
            }
        }
        // Objects completed here go to the sync thread now, not with the
        // next delivery (which may never come).
        self.syncer.submit(std::mem::take(&mut self.job));
        // Reap finished upload tasks.
        while self.tasks.try_join_next().is_some() {}
    }

    fn wakeup(&self) -> Option<Arc<Notify>> {
        Some(self.pool.wake.clone())
    }

    fn on_retry(&mut self) {
        self.pool.retry.send_modify(|g| *g += 1);
    }

    async fn close(&mut self, deadline: Instant) {
        let ids: Vec<u64> = self.open.keys().copied().collect();
        for id in ids {
            if let Err(e) = self.complete(id) {
                tracing::error!(destination = %self.pool.destination, "cannot complete an object on stop, it stays in the spool: {e}");
            }
        }
        self.syncer.submit(std::mem::take(&mut self.job));
        // The upload tasks hear of the last parts once they are synced.
        while !self.syncer.idle() {
            let synced = self.pool.wake.notified();
            if self.syncer.idle() || tokio::time::timeout_at(deadline, synced).await.is_err() {
                break;
            }
        }
        // Uploads get until the deadline; what is left stays in the spool for
        // the next start.
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout_at(deadline, all).await.is_err() {
            tracing::warn!(destination = %self.pool.destination, objects = self.tasks.len(), "stopping with uploads unfinished; they resume from the spool at the next start");
        }
    }
}
