//! Receivers. Each source driver reads, frames and parses, then hands batches to
//! its [`Routes`](crate::logpath::Routes). Sockets outlive reloads: a listener
//! whose address is still configured keeps its socket and its open connections,
//! and picks up its new settings (parse flags, routes) between two reads.

pub mod internal;
pub mod network;

use crate::message::Message;
use std::sync::atomic::{AtomicU64, Ordering};

/// The next receipt id (use-rcptid()); the daemon seeds it from its state.
static NEXT_RCPTID: AtomicU64 = AtomicU64::new(1);

/// Gives every message of a batch the next receipt id: one atomic add a batch.
pub fn number(messages: &mut [Message]) {
    let first = NEXT_RCPTID.fetch_add(messages.len() as u64, Ordering::Relaxed);
    for (i, m) in messages.iter_mut().enumerate() {
        m.rcptid = first + i as u64;
    }
}

/// Continues receipt ids from `next` (read from the state directory at start).
pub fn seed_rcptid(next: u64) {
    NEXT_RCPTID.store(next.max(1), Ordering::Relaxed);
}

/// The receipt id the next message would get, to be saved at stop.
pub fn next_rcptid() -> u64 {
    NEXT_RCPTID.load(Ordering::Relaxed)
}
