//! Destination drivers and the one worker loop they share.
//!
//! A driver is small: it writes a batch and says whether that worked
//! ([`Driver`]). The worker ([`spawn`]) owns everything around it: taking
//! deliveries off the queue, retrying with backoff, acknowledging what was made
//! durable, periodic housekeeping (closing idle files), reopening on SIGUSR1, and
//! draining on shutdown. Each worker is its own OS thread, because drivers do
//! blocking I/O and a dedicated thread keeps the source side on the other core.

pub mod file;
pub mod object_store;
pub mod retry;

use crate::logpath::QueueReceiver;
use crate::message::Message;
use crate::telemetry::{DestinationStats, LogThrottle};
use retry::Backoff;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Why a write did not complete.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Worth retrying: the data is kept by the driver and [`Driver::flush`] tries again.
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help (permission denied, not a directory); the messages
    /// it concerns were given up and `dropped` says how many.
    #[error("{error}")]
    Permanent { error: String, dropped: usize },
}

/// What a destination driver implements.
pub trait Driver: Send + 'static {
    /// Takes a batch. On `Ok` the messages are durable per the driver's policy.
    /// On `Transient` the driver keeps what it did not write and [`flush`](Self::flush)
    /// is retried until it succeeds.
    fn write(&mut self, messages: &[Message]) -> Result<(), WriteError>;
    /// Retries what a failed `write` kept.
    fn flush(&mut self) -> Result<(), WriteError>;
    /// Periodic housekeeping (close idle files).
    fn tick(&mut self, _now: Instant) {}
    /// Close and reopen outputs (SIGUSR1, after log rotation).
    fn reopen(&mut self) {}
}

/// Signals every worker watches.
#[derive(Clone, Debug, Default)]
pub struct WorkerControl {
    /// Bumped on SIGUSR1.
    pub reopen: Arc<AtomicU64>,
    /// Set when the daemon stops: failed writes are retried only until the
    /// shutdown deadline.
    pub stopping: Arc<AtomicBool>,
}

/// How long a stopping daemon keeps retrying a failing destination before it
/// reports the messages it could not write.
const SHUTDOWN_RETRY: Duration = Duration::from_secs(5);
const TICK: Duration = Duration::from_secs(1);
/// At most one "giving up messages" line per destination this often.
const GIVE_UP_REPORT: Duration = Duration::from_secs(10);

/// Runs `driver` on its own thread until every sender of `rx` is gone and the
/// queue is drained.
pub fn spawn<D: Driver>(
    id: String,
    mut driver: D,
    rx: QueueReceiver,
    stats: Arc<DestinationStats>,
    control: WorkerControl,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("dst {id}"))
        .spawn(move || {
            let mut reopen_seen = control.reopen.load(Ordering::Relaxed);
            let giving_up = LogThrottle::new();
            let mut last_tick = Instant::now();
            loop {
                let delivery = match rx.recv_timeout(TICK) {
                    Ok(d) => Some(d),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                let generation = control.reopen.load(Ordering::Relaxed);
                if generation != reopen_seen {
                    reopen_seen = generation;
                    driver.reopen();
                }
                if let Some(delivery) = delivery {
                    let n = delivery.batch.len() as u64;
                    let result = driver.write(delivery.messages());
                    match settle(&id, &mut driver, result, &stats, &control, &giving_up) {
                        Delivered::All => {
                            stats.written.add(n);
                            delivery.ack();
                        }
                        Delivered::Partly(dropped) => {
                            stats.written.add(n.saturating_sub(dropped as u64));
                            stats.dropped.add(dropped as u64);
                            drop(delivery);
                        }
                        // Unacknowledged: the source side hears of the failure.
                        Delivered::Abandoned => drop(delivery),
                    }
                }
                let now = Instant::now();
                if now.duration_since(last_tick) >= TICK {
                    last_tick = now;
                    driver.tick(now);
                }
            }
            tracing::debug!(destination = %id, "destination drained and closed");
        })
}

enum Delivered {
    All,
    /// Some messages were given up after a permanent error.
    Partly(usize),
    /// Shutdown ran out of time while the write kept failing.
    Abandoned,
}

/// Retries a failed write until it succeeds, is permanent, or shutdown runs out
/// of patience.
fn settle<D: Driver>(
    id: &str,
    driver: &mut D,
    mut result: Result<(), WriteError>,
    stats: &DestinationStats,
    control: &WorkerControl,
    giving_up: &LogThrottle,
) -> Delivered {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
    let mut stop_deadline: Option<Instant> = None;
    loop {
        match result {
            Ok(()) => {
                if backoff.attempts() > 0 {
                    tracing::info!(destination = %id, "destination recovered");
                }
                return Delivered::All;
            }
            Err(WriteError::Permanent { error, dropped }) => {
                stats.errors.add(1);
                // Such a failure repeats for every batch (a missing directory):
                // one line per interval, with the count, not one per batch, at
                // any verbosity, or internal() routed here would feed itself.
                if let Some(held_back) = giving_up.allow(GIVE_UP_REPORT) {
                    tracing::error!(destination = %id, dropped,
                        earlier_reports_held_back = held_back, "giving up messages: {error}");
                }
                return Delivered::Partly(dropped);
            }
            Err(WriteError::Transient(error)) => {
                stats.errors.add(1);
                let delay = backoff.next_delay();
                // Loud on the first failure and then every few, not on every retry.
                if backoff.attempts() == 1 || backoff.attempts().is_power_of_two() {
                    tracing::error!(destination = %id, attempt = backoff.attempts(), retry_in = ?delay, "write failed, will retry: {error}");
                }
                if control.stopping.load(Ordering::Relaxed) {
                    let deadline =
                        *stop_deadline.get_or_insert_with(|| Instant::now() + SHUTDOWN_RETRY);
                    if Instant::now() >= deadline {
                        tracing::error!(destination = %id, "stopping with unwritten messages: {error}");
                        return Delivered::Abandoned;
                    }
                }
                // Sleep in slices so a stop does not wait out a long backoff.
                let started = Instant::now();
                loop {
                    let slept = started.elapsed();
                    let stopping = control.stopping.load(Ordering::Relaxed);
                    if slept >= delay || (stopping && slept >= Duration::from_millis(200)) {
                        break;
                    }
                    std::thread::sleep((delay - slept).min(Duration::from_millis(100)));
                }
                // Housekeeping goes on while a write is retried: closing idle
                // files may be exactly what frees the descriptor it needs.
                driver.tick(Instant::now());
                result = driver.flush();
            }
        }
    }
}
