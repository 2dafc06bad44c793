//! The one loop every destination runs around its [`Driver`].
//!
//! Each destination gets its own OS thread with a single-threaded tokio runtime:
//! drivers may block on disk I/O without stalling sources, and everything the
//! loop waits for (deliveries, per-key deadlines, a retry's backoff, signals) is
//! one `select!` on tokio's clock, so a test can run it on a paused clock. A
//! failing write never stops housekeeping: deadlines keep firing while the loop
//! waits to retry, which is what lets a `file()` out of descriptors close the
//! idle files that would cure it.
//!
//! A destination replaced on reload hands over to its successor: the new worker
//! starts its driver only once the old one has drained and closed, so two
//! workers never write one spool or one file index.

use super::Driver;
use super::retry::{Failure, Next, Retrier};
use crate::logpath::QueueReceiver;
use crate::telemetry::{DestinationStats, LogThrottle};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// How long a stopping or retiring destination keeps retrying a failing write
/// before it reports the messages it could not write.
const WIND_DOWN: Duration = Duration::from_secs(5);
/// Deliveries taken in a row before the driver syncs them together.
const GROUP: usize = 64;
/// At most one "giving up messages" line per destination this often.
const GIVE_UP_REPORT: Duration = Duration::from_secs(10);

/// A small runtime of a driver's own for its network tasks (uploads,
/// requests, a connection), so that they go on while the worker thread
/// renders: on the worker's own runtime they would wait for it to yield.
/// Shut down without waiting when the driver goes (a runtime may not be
/// dropped inside another's async context); drivers keep what a task did
/// not finish (a spool, a queue) or give it back unacknowledged.
pub struct TaskThreads(Option<tokio::runtime::Runtime>);

impl TaskThreads {
    pub fn new(name: &str, threads: usize) -> Result<TaskThreads, Failure> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(name)
            .enable_all()
            .build()
            .map(|rt| TaskThreads(Some(rt)))
            .map_err(|e| Failure::retry(format!("cannot start the {name} threads: {e}")))
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("runtime lives until drop").handle()
    }
}

impl Drop for TaskThreads {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Signals every worker watches.
#[derive(Clone, Debug)]
pub struct WorkerControl {
    signals: Arc<watch::Sender<Signals>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Signals {
    /// Bumped on SIGUSR1: close and reopen outputs.
    reopen: u64,
    /// Bumped by `sluice-ctl retry`: retry what was parked.
    retry: u64,
    /// The daemon is stopping.
    stopping: bool,
}

impl Default for WorkerControl {
    fn default() -> Self {
        WorkerControl {
            signals: Arc::new(watch::Sender::new(Signals::default())),
        }
    }
}

impl WorkerControl {
    pub fn reopen(&self) {
        self.signals.send_modify(|s| s.reopen += 1);
    }

    pub fn retry(&self) {
        self.signals.send_modify(|s| s.retry += 1);
    }

    pub fn stop(&self) {
        self.signals.send_modify(|s| s.stopping = true);
    }
}

/// What a destination's worker starts with.
pub struct StartContext {
    pub id: String,
    pub rx: QueueReceiver,
    pub stats: Arc<DestinationStats>,
    pub control: WorkerControl,
    /// The worker this one replaces, if any: it starts once that one is done.
    pub predecessor: Option<Released>,
    /// `--state-dir`, where spools live.
    pub state_dir: std::path::PathBuf,
}

/// Resolves once a retired worker has closed its driver.
#[derive(Debug)]
pub struct Released(oneshot::Receiver<()>);

impl Released {
    async fn wait(self) {
        // Sent or dropped: either way the old worker is gone.
        let _ = self.0.await;
    }
}

/// A running worker, as the daemon holds it.
#[derive(Debug)]
pub struct Worker {
    thread: JoinHandle<()>,
    retire: watch::Sender<bool>,
    released: Option<Released>,
}

impl Worker {
    /// Tells the worker to wind down (its queue's senders are going away), and
    /// returns what its successor waits on.
    pub fn retire(mut self) -> (JoinHandle<()>, Option<Released>) {
        self.retire.send_replace(true);
        (self.thread, self.released.take())
    }

    pub fn into_thread(self) -> JoinHandle<()> {
        self.thread
    }
}

/// Starts a worker thread. `make` builds the driver once the predecessor is
/// gone; when it fails it is retried with backoff (the queue meanwhile fills,
/// and flow control holds the sources back).
pub fn spawn<D, F>(cx: StartContext, mut make: F) -> std::io::Result<Worker>
where
    D: Driver,
    F: FnMut() -> Result<D, Failure> + Send + 'static,
{
    let (retire_tx, retire_rx) = watch::channel(false);
    let (released_tx, released_rx) = oneshot::channel();
    let name = format!("dst {}", cx.id);
    let thread = std::thread::Builder::new().name(name).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(destination = %cx.id, "cannot start the destination's runtime: {e}");
                return;
            }
        };
        rt.block_on(async move {
            let StartContext {
                id,
                rx,
                stats,
                control,
                predecessor,
                ..
            } = cx;
            if let Some(p) = predecessor {
                p.wait().await;
            }
            let mut retrier = Retrier::new(format!("destination {id}"));
            let mut retire = retire_rx;
            let driver = loop {
                match make() {
                    Ok(d) => break d,
                    Err(failure) => {
                        stats.errors.add(1);
                        let Next::RetryAt(at) = retrier.failed(&failure, Instant::now()) else {
                            tracing::error!(destination = %id, "cannot start: {failure}");
                            // Its queue is dropped with it: the messages count as lost.
                            return;
                        };
                        tokio::select! {
                            _ = tokio::time::sleep_until(at) => {}
                            _ = retire.wait_for(|r| *r) => return,
                        }
                    }
                }
            };
            Loop::new(id, driver, rx, stats, control, retire)
                .run()
                .await;
        });
        drop(released_tx);
    })?;
    Ok(Worker {
        thread,
        retire: retire_tx,
        released: Some(Released(released_rx)),
    })
}

/// Whether the loop takes deliveries, or waits to retry what failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Taking,
    RetryAt(Instant),
    /// Waiting for `sluice-ctl retry`.
    Parked,
}

/// The loop's state, run by [`Loop::run`] (and directly by tests, on a paused
/// clock).
pub(super) struct Loop<D> {
    id: String,
    driver: D,
    rx: QueueReceiver,
    stats: Arc<DestinationStats>,
    signals: watch::Receiver<Signals>,
    seen: Signals,
    retire: watch::Receiver<bool>,
    retrier: Retrier,
    state: State,
    /// Set once stopping or retired: after it, failing writes are given up.
    wind_down: Option<Instant>,
    giving_up: LogThrottle,
}

impl<D: Driver> Loop<D> {
    pub(super) fn new(
        id: String,
        driver: D,
        rx: QueueReceiver,
        stats: Arc<DestinationStats>,
        control: WorkerControl,
        retire: watch::Receiver<bool>,
    ) -> Loop<D> {
        let mut signals = control.signals.subscribe();
        let seen = *signals.borrow_and_update();
        Loop {
            retrier: Retrier::new(format!("destination {id}")),
            id,
            driver,
            rx,
            stats,
            signals,
            seen,
            retire,
            state: State::Taking,
            wind_down: None,
            giving_up: LogThrottle::new(),
        }
    }

    /// Runs until the queue is closed and drained (or, winding down, until the
    /// failing driver has had its last chance), then closes the driver.
    pub(super) async fn run(mut self) {
        let wake = self.driver.wakeup();
        let mut open = true;
        // A closed channel is ready at once, every time: stop polling it.
        let mut signals_live = true;
        let mut retire_live = true;
        loop {
            if self.seen.stopping || *self.retire.borrow() {
                self.wind_down
                    .get_or_insert_with(|| Instant::now() + WIND_DOWN);
            }
            let failing = self.state != State::Taking;
            // A driver that takes nothing (a full spool, a server that stops
            // reading) holds the queue as a failing write does.
            let stuck = failing || (open && !self.driver.ready());
            if stuck && self.wind_down.is_some_and(|t| Instant::now() >= t) {
                tracing::error!(destination = %self.id, "stopping with unwritten messages");
                break;
            }
            if !open && !failing {
                break;
            }
            let retry_at = match self.state {
                State::RetryAt(t) => Some(t),
                _ => None,
            };
            let wake_at = [
                self.driver.next_deadline(),
                retry_at,
                self.wind_down.filter(|_| stuck),
            ]
            .into_iter()
            .flatten()
            .min();
            let taking = open && !failing && self.driver.ready();
            tokio::select! {
                biased;
                changed = self.signals.changed(), if signals_live => match changed {
                    Ok(()) => self.on_signals(),
                    Err(_) => signals_live = false,
                },
                changed = self.retire.changed(), if retire_live => {
                    retire_live = changed.is_ok();
                }
                delivery = self.rx.recv(), if taking => match delivery {
                    Some(d) => {
                        let mut result = self.driver.accept(d, Instant::now());
                        // Group commit: take what else is waiting, then one sync.
                        let mut taken = 1;
                        while result.is_ok() && taken < GROUP && self.driver.ready() {
                            let Ok(d) = self.rx.try_recv() else { break };
                            result = self.driver.accept(d, Instant::now());
                            taken += 1;
                        }
                        if result.is_ok() {
                            result = self.driver.sync(Instant::now());
                        }
                        self.settle(result);
                    }
                    None => open = false,
                },
                _ = async { wake.as_ref().expect("guarded").notified().await }, if wake.is_some() => {}
                _ = tokio::time::sleep_until(wake_at.unwrap_or_else(Instant::now)), if wake_at.is_some() => {}
            }
            let now = Instant::now();
            if let State::RetryAt(t) = self.state
                && now >= t
            {
                let result = self.driver.retry(now);
                self.settle(result);
            }
            self.driver.on_time(now);
        }
        let deadline = self.wind_down.unwrap_or_else(|| Instant::now() + WIND_DOWN);
        self.driver.close(deadline).await;
        tracing::debug!(destination = %self.id, "destination drained and closed");
    }

    fn on_signals(&mut self) {
        let now = *self.signals.borrow_and_update();
        if now.reopen != self.seen.reopen {
            self.driver.reopen(Instant::now());
        }
        if now.retry != self.seen.retry {
            self.driver.on_retry();
            if self.state == State::Parked {
                self.state = State::RetryAt(Instant::now());
            }
        }
        self.seen = now;
    }

    /// Applies the outcome of `accept` or `retry`.
    fn settle(&mut self, result: Result<(), Failure>) {
        let failure = match result {
            Ok(()) => {
                self.retrier.succeeded();
                self.state = State::Taking;
                return;
            }
            Err(f) => f,
        };
        self.stats.errors.add(1);
        self.state = match self.retrier.failed(&failure, Instant::now()) {
            Next::RetryAt(t) => State::RetryAt(t),
            Next::Park => State::Parked,
            Next::GiveUp => {
                // Such a failure repeats for every batch (a missing directory):
                // one line per interval, with the count, not one per batch, at
                // any verbosity, or internal() routed here would feed itself.
                if let Some(held_back) = self.giving_up.allow(GIVE_UP_REPORT) {
                    tracing::error!(destination = %self.id,
                        earlier_reports_held_back = held_back, "giving up messages: {failure}");
                }
                State::Taking
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logpath::{Ack, Batch, Delivery, Queue};
    use crate::message::{Message, Timestamp};
    use bytes::Bytes;
    use std::sync::Mutex;

    /// A driver that fails as told and records what the loop asked of it.
    struct Scripted {
        events: Arc<Mutex<Vec<String>>>,
        /// Failures still to report, in order.
        failures: Vec<Failure>,
        held: Vec<Ack>,
        deadline: Option<Instant>,
        start: Instant,
    }

    impl Scripted {
        fn new(failures: Vec<Failure>) -> (Scripted, Arc<Mutex<Vec<String>>>) {
            let events = Arc::new(Mutex::new(Vec::new()));
            let start = Instant::now();
            let d = Scripted {
                events: events.clone(),
                failures,
                held: Vec::new(),
                deadline: Some(start + Duration::from_secs(10)),
                start,
            };
            (d, events)
        }

        fn log(&self, what: &str, now: Instant) {
            let secs = now.duration_since(self.start).as_secs();
            self.events.lock().unwrap().push(format!("{secs}s {what}"));
        }

        fn attempt(&mut self, what: &str, now: Instant) -> Result<(), Failure> {
            self.log(what, now);
            if self.failures.is_empty() {
                self.held.drain(..).for_each(Ack::ack);
                return Ok(());
            }
            let f = self.failures.remove(0);
            if matches!(f, Failure::Permanent { .. }) {
                self.held.drain(..).for_each(Ack::give_up);
            }
            Err(f)
        }
    }

    impl Driver for Scripted {
        fn accept(&mut self, delivery: Delivery, now: Instant) -> Result<(), Failure> {
            self.held.push(delivery.release());
            self.attempt("accept", now)
        }

        fn retry(&mut self, now: Instant) -> Result<(), Failure> {
            self.attempt("retry", now)
        }

        fn next_deadline(&self) -> Option<Instant> {
            self.deadline
        }

        fn on_time(&mut self, now: Instant) {
            if self.deadline.is_some_and(|d| d <= now) {
                self.deadline = None;
                self.log("deadline", now);
            }
        }

        async fn close(&mut self, deadline: Instant) {
            self.log("close", deadline);
        }
    }

    fn batch(n: usize) -> Arc<Batch> {
        let msgs = (0..n)
            .map(|_| Message::new(Bytes::from_static(b"m"), Timestamp::default()))
            .collect();
        Arc::new(Batch::new(msgs))
    }

    fn events(e: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
        e.lock().unwrap().clone()
    }

    /// Starts the loop on the test's (paused) runtime.
    fn start(
        driver: Scripted,
        control: &WorkerControl,
    ) -> (
        Queue,
        Arc<DestinationStats>,
        watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let stats = Arc::new(DestinationStats::default());
        let (queue, rx) = Queue::new(100, 1 << 20, stats.clone());
        let (retire_tx, retire_rx) = watch::channel(false);
        let l = Loop::new(
            "t".into(),
            driver,
            rx,
            stats.clone(),
            control.clone(),
            retire_rx,
        );
        (queue, stats, retire_tx, tokio::spawn(l.run()))
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_fire_while_a_failing_write_is_retried() {
        let fail = || Failure::retry("disk full");
        let (driver, ev) =
            Scripted::new(vec![fail(), fail(), fail(), fail(), fail(), fail(), fail()]);
        let control = WorkerControl::default();
        let (queue, stats, _retire, _task) = start(driver, &control);
        assert!(queue.send(&batch(3), true).await);
        tokio::time::sleep(Duration::from_secs(12)).await;
        let seen = events(&ev);
        assert!(seen.contains(&"10s deadline".to_string()), "{seen:?}");
        let retries = seen.iter().filter(|e| e.ends_with("retry")).count();
        assert!(retries >= 5, "backoff keeps retrying: {seen:?}");
        // Seven failures, then the write goes through, once.
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(stats.written.get(), 3);
        assert_eq!(stats.errors.get(), 7);
        assert_eq!(stats.queued.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_parked_failure_waits_for_sluice_ctl_retry() {
        let parked = Failure::Parked {
            code: Some("AccessDenied".into()),
            message: "denied".into(),
            hint: None,
        };
        let (driver, ev) = Scripted::new(vec![parked]);
        let control = WorkerControl::default();
        let (queue, stats, _retire, _task) = start(driver, &control);
        assert!(queue.send(&batch(2), true).await);
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(
            !events(&ev).iter().any(|e| e.ends_with("retry")),
            "does not spin"
        );
        assert_eq!(stats.queued.get(), 2, "kept, not dropped");
        control.retry();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(events(&ev).iter().any(|e| e.ends_with("retry")));
        assert_eq!(stats.written.get(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_failure_gives_up_and_goes_on() {
        let (driver, _ev) = Scripted::new(vec![Failure::permanent("bad path")]);
        let control = WorkerControl::default();
        let (queue, stats, _retire, _task) = start(driver, &control);
        assert!(queue.send(&batch(2), true).await);
        assert!(queue.send(&batch(3), true).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(stats.dropped.get(), 2);
        assert_eq!(stats.written.get(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_gives_a_failing_destination_the_wind_down_then_closes() {
        let fails = (0..1000).map(|_| Failure::retry("EIO")).collect();
        let (driver, ev) = Scripted::new(fails);
        let control = WorkerControl::default();
        let (queue, stats, _retire, task) = start(driver, &control);
        assert!(queue.send(&batch(4), true).await);
        tokio::time::sleep(Duration::from_secs(100)).await;
        control.stop();
        drop(queue);
        let stopped_at = Instant::now();
        task.await.unwrap();
        let waited = stopped_at.elapsed();
        assert!(waited >= WIND_DOWN && waited < WIND_DOWN * 2, "{waited:?}");
        assert!(events(&ev).last().unwrap().ends_with("close"));
        assert_eq!(stats.dropped.get(), 4, "reported as lost, not silently");
    }

    #[test]
    fn a_replacement_starts_only_after_its_predecessor_closed() {
        let order = Arc::new(Mutex::new(Vec::new()));
        struct Slow(Arc<Mutex<Vec<&'static str>>>);
        impl Driver for Slow {
            fn accept(&mut self, d: Delivery, _: Instant) -> Result<(), Failure> {
                d.ack();
                Ok(())
            }
            fn retry(&mut self, _: Instant) -> Result<(), Failure> {
                Ok(())
            }
            async fn close(&mut self, _: Instant) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.0.lock().unwrap().push("old closed");
            }
        }
        let stats = Arc::new(DestinationStats::default());
        let cx = |predecessor| {
            let (queue, rx) = Queue::new(10, 1 << 20, stats.clone());
            let cx = StartContext {
                id: "d".into(),
                rx,
                stats: stats.clone(),
                control: WorkerControl::default(),
                predecessor,
                state_dir: std::env::temp_dir(),
            };
            (queue, cx)
        };
        let (old_queue, old_cx) = cx(None);
        let o = order.clone();
        let old = spawn(old_cx, move || Ok(Slow(o.clone()))).unwrap();
        drop(old_queue);
        let (old_thread, released) = old.retire();
        let (new_queue, new_cx) = cx(released);
        let o = order.clone();
        let new = spawn(new_cx, move || {
            o.lock().unwrap().push("new started");
            Ok(Slow(o.clone()))
        })
        .unwrap();
        drop(new_queue);
        old_thread.join().unwrap();
        new.into_thread().join().unwrap();
        let order = order.lock().unwrap().clone();
        assert_eq!(order, ["old closed", "new started", "old closed"]);
    }
}
