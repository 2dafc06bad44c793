//! Destination drivers, the one worker loop they share, and the registry the
//! config planner builds them from.
//!
//! A driver is small ([`Driver`]): it takes deliveries, renders them and
//! acknowledges each one when it is durable by its own promise (after the write
//! and fsync for `file()`, once spooled for object stores). The worker
//! ([`worker`]) owns everything around it: the queue, retrying with backoff on
//! tokio's clock, per-key deadlines, reopening on SIGUSR1, handing over on
//! reload and closing on stop. The registry ([`KINDS`]) turns checked config
//! values into a [`Destination`]: typed options with an explicit fingerprint
//! that the daemon can start.

pub mod file;
pub mod http;
pub mod network;
pub mod object_store;
pub mod registry;
pub mod retry;
pub mod timers;
pub mod worker;

pub use registry::{BuildError, Destination, DestinationKind, Fingerprint, KINDS};
pub use retry::Failure;
pub use worker::{StartContext, Worker, WorkerControl};

use crate::logpath::Delivery;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::time::Instant;

/// What a destination driver implements. Every time it is given is the worker's
/// clock (tokio's), never read by the driver itself, so tests drive it.
pub trait Driver: Send + 'static {
    /// Takes a delivery. The driver settles its [`Ack`](crate::logpath::Ack)
    /// when the messages are durable: before returning or later (one fsync may
    /// acknowledge many deliveries). On `Err` the driver keeps what it could not
    /// write, unless the failure is permanent; the worker then calls
    /// [`retry`](Self::retry) after a backoff and takes no deliveries until it
    /// succeeds.
    fn accept(&mut self, delivery: Delivery, now: Instant) -> Result<(), Failure>;

    /// Tries again what the last failure kept (and syncs it).
    fn retry(&mut self, now: Instant) -> Result<(), Failure>;

    /// Makes durable, and acknowledges, what the deliveries taken since the
    /// last sync hold. The worker calls it after taking every delivery that
    /// was waiting (up to a bound), so one fsync serves them all: a driver
    /// that defers its sync to here gets group commit.
    fn sync(&mut self, _now: Instant) -> Result<(), Failure> {
        Ok(())
    }

    /// Whether to take deliveries now; `false` (a full spool) leaves them in the
    /// queue, whose bounds hold the sources back.
    fn ready(&self) -> bool {
        true
    }

    /// The earliest per-key deadline (rollover, grace, idle close).
    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// Runs the deadlines due at `now`, and whatever background work reported
    /// through [`wakeup`](Self::wakeup). Called after every event of the loop.
    fn on_time(&mut self, _now: Instant) {}

    /// Woken (`notify_one`) by the driver's own background work, such as an
    /// upload that finished.
    fn wakeup(&self) -> Option<Arc<Notify>> {
        None
    }

    /// `sluice-ctl retry`: try again what the driver parked itself (uploads
    /// waiting for fixed credentials). The worker's own parked state is
    /// retried besides.
    fn on_retry(&mut self) {}

    /// Close and reopen outputs (SIGUSR1, after log rotation).
    fn reopen(&mut self, _now: Instant) {}

    /// The daemon stops or the destination is replaced: make durable, or persist
    /// for the next start, what the driver holds, by `deadline`.
    fn close(&mut self, _deadline: Instant) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }
}

/// The spool directory of a destination under `parent`: flat, named by its
/// kind and a digest of its persist name (which any text may be).
pub fn spool_dir(kind: &str, parent: &std::path::Path, persist_name: &str) -> std::path::PathBuf {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(persist_name.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    parent.join(format!("{kind}-{hex}"))
}
