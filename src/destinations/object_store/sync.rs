//! Spool syncs, off the worker thread.
//!
//! A sync waits on the disk, and the worker would otherwise wait with it:
//! rendering and appending the next deliveries while the last ones reach the
//! disk is what keeps an object-store destination as fast as its source. The
//! worker hands each group's files to this thread ([`Job`]); once every file
//! is synced, the thread acknowledges the group's deliveries and tells the
//! upload tasks of the parts and objects it made durable, in the order the
//! worker sealed them. A part is never uploaded before its segment is synced.
//!
//! At most [`DEPTH`] groups wait at once ([`Syncer::has_room`]): past that the
//! worker takes no deliveries (its queue holds the sources back) but goes on
//! with its deadlines. A failing sync is retried with the shared backoff, and
//! holds every later group behind it.

use super::upload::Cmd;
use crate::destinations::Failure;
use crate::destinations::retry::{Next, Retrier};
use crate::logpath::Ack;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// Groups synced or waiting at once.
pub const DEPTH: usize = 2;

/// What one sync makes durable, and what follows from it.
#[derive(Default)]
pub struct Job {
    files: Vec<(Arc<File>, PathBuf)>,
    acks: Vec<Ack>,
    /// Told once the files are synced: sealed parts and completed objects.
    cmds: Vec<(mpsc::UnboundedSender<Cmd>, Cmd)>,
}

impl Job {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.acks.is_empty() && self.cmds.is_empty()
    }

    /// Adds a file to sync (once, however often it is added).
    pub fn file(&mut self, file: &Arc<File>, path: impl FnOnce() -> PathBuf) {
        if !self.files.iter().any(|(f, _)| Arc::ptr_eq(f, file)) {
            self.files.push((file.clone(), path()));
        }
    }

    pub fn acks(&mut self, acks: impl IntoIterator<Item = Ack>) {
        self.acks.extend(acks);
    }

    pub fn then(&mut self, tx: &mpsc::UnboundedSender<Cmd>, cmd: Cmd) {
        self.cmds.push((tx.clone(), cmd));
    }

    /// Appends a later job: one sync of a file covers both.
    fn merge(&mut self, later: Job) {
        for (f, p) in later.files {
            self.file(&f, || p);
        }
        self.acks.extend(later.acks);
        self.cmds.extend(later.cmds);
    }
}

/// The sync thread of one object-store destination.
pub struct Syncer {
    tx: Option<std::sync::mpsc::Sender<Job>>,
    shared: Arc<Shared>,
}

struct Shared {
    /// Jobs submitted and not yet done.
    waiting: AtomicUsize,
    /// Set when the driver goes: a failing sync then stops retrying (what it
    /// held stays in the spool for the next start).
    closing: AtomicBool,
    /// The worker's wakeup, rung when a job is done.
    wake: Arc<Notify>,
    what: String,
}

impl Syncer {
    pub fn start(destination: &str, wake: Arc<Notify>) -> std::io::Result<Syncer> {
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::new(Shared {
            waiting: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            wake,
            what: format!("destination {destination} spool sync"),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("spool sync".into())
            .spawn(move || run(&rx, &s))?;
        Ok(Syncer {
            tx: Some(tx),
            shared,
        })
    }

    /// Whether the worker may take more deliveries.
    pub fn has_room(&self) -> bool {
        self.shared.waiting.load(Ordering::Acquire) < DEPTH
    }

    /// Whether every job submitted is done.
    pub fn idle(&self) -> bool {
        self.shared.waiting.load(Ordering::Acquire) == 0
    }

    pub fn submit(&self, job: Job) {
        if job.is_empty() {
            return;
        }
        self.shared.waiting.fetch_add(1, Ordering::AcqRel);
        if let Some(tx) = &self.tx
            && let Err(e) = tx.send(job)
        {
            // The thread is gone (it cannot panic short of a bug): sync here.
            self.shared.waiting.fetch_sub(1, Ordering::AcqRel);
            finish(e.0, &self.shared);
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        // The thread finishes what it holds, then ends.
        self.tx = None;
    }
}

fn run(rx: &std::sync::mpsc::Receiver<Job>, shared: &Shared) {
    while let Ok(mut job) = rx.recv() {
        let mut n = 1;
        // What queued meanwhile joins: one sync per file serves them all.
        while let Ok(more) = rx.try_recv() {
            job.merge(more);
            n += 1;
        }
        finish(job, shared);
        shared.waiting.fetch_sub(n, Ordering::AcqRel);
        shared.wake.notify_one();
    }
}

/// Syncs a job's files, retrying, then acknowledges and tells.
fn finish(job: Job, shared: &Shared) {
    let mut retrier = Retrier::new(shared.what.clone());
    for (file, path) in &job.files {
        while let Err(e) = file.sync_data() {
            if shared.closing.load(Ordering::Acquire) {
                // Not acknowledged: the spool keeps the bytes for the next start.
                tracing::error!(what = %shared.what, "stopping with a spool file not synced: {}: {e}", path.display());
                return;
            }
            let failure = Failure::retry(format!("spool {}: {e}", path.display()));
            let now = tokio::time::Instant::now();
            let wait = match retrier.failed(&failure, now) {
                Next::RetryAt(at) => at.saturating_duration_since(now),
                Next::Park | Next::GiveUp => Duration::from_secs(1),
            };
            std::thread::sleep(wait);
        }
    }
    retrier.succeeded();
    job.acks.into_iter().for_each(Ack::ack);
    for (tx, cmd) in job.cmds {
        let _ = tx.send(cmd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_and_ends_are_told_after_their_files_are_synced_in_order() {
        let dir = std::env::temp_dir().join(format!("sluice-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wake = Arc::new(Notify::new());
        let syncer = Syncer::start("d#0", wake.clone()).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let file = Arc::new(File::create(dir.join("a.seg")).unwrap());
        for n in 1..=5 {
            let mut job = Job::default();
            job.file(&file, || dir.join("a.seg"));
            // Added twice, synced once.
            job.file(&file, || dir.join("a.seg"));
            assert_eq!(job.files.len(), 1);
            job.then(&tx, Cmd::Sealed(n, None));
            syncer.submit(job);
        }
        let mut end = Job::default();
        end.then(
            &tx,
            Cmd::Complete {
                last: 6,
                raw_total: 42,
                part: None,
            },
        );
        syncer.submit(end);
        // An empty job is not one.
        syncer.submit(Job::default());
        let mut told = Vec::new();
        while told.len() < 6 {
            match rx.recv().await.unwrap() {
                Cmd::Sealed(n, _) => told.push(n),
                Cmd::Complete { last, .. } => told.push(last),
            }
        }
        assert_eq!(told, [1, 2, 3, 4, 5, 6]);
        while !syncer.idle() {
            wake.notified().await;
        }
        assert!(syncer.has_room());
        drop(syncer);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
