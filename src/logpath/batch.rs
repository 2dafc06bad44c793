//! Batches and their acknowledgement.

use crate::message::Message;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

/// Messages that travel together from one read of a source to every destination.
/// Shared (`Arc`) by the destinations of a fan-out, never copied.
#[derive(Debug)]
pub struct Batch {
    pub messages: Vec<Message>,
    ack: Option<Arc<AckState>>,
}

/// The acknowledgement of one source batch. When filters split a batch into
/// several, the parts share it: `pending` counts every part at every destination.
#[derive(Debug)]
pub struct AckState {
    pending: AtomicUsize,
    failed: AtomicBool,
    done: Mutex<Option<oneshot::Sender<bool>>>,
}

impl AckState {
    /// An acknowledgement that resolves after `pending` settlements.
    pub fn new(pending: usize) -> (Arc<AckState>, AckWait) {
        let (tx, rx) = oneshot::channel();
        let state = AckState {
            pending: AtomicUsize::new(pending),
            failed: AtomicBool::new(false),
            done: Mutex::new(Some(tx)),
        };
        if pending == 0 {
            // Nothing to deliver to: acknowledged at once, as syslog-ng does for
            // messages no log path takes.
            state.finish(true);
        }
        (Arc::new(state), AckWait(rx))
    }

    fn settle(&self, ok: bool) {
        if !ok {
            self.failed.store(true, Ordering::Release);
        }
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.finish(!self.failed.load(Ordering::Acquire));
        }
    }

    fn finish(&self, ok: bool) {
        if let Some(tx) = self.done.lock().ok().and_then(|mut d| d.take()) {
            let _ = tx.send(ok);
        }
    }
}

/// Resolves to `true` once every destination of a batch made it durable, `false`
/// if any destination gave it up.
#[derive(Debug)]
pub struct AckWait(oneshot::Receiver<bool>);

impl AckWait {
    pub async fn wait(self) -> bool {
        self.0.await.unwrap_or(false)
    }
}

impl Batch {
    /// A batch whose acknowledgements nobody waits for (TCP and UDP syslog have
    /// no application-level acknowledgement).
    pub fn new(messages: Vec<Message>) -> Batch {
        Batch {
            messages,
            ack: None,
        }
    }

    /// A batch that settles `ack` once per destination it is delivered to.
    pub fn acked(messages: Vec<Message>, ack: Option<Arc<AckState>>) -> Batch {
        Batch { messages, ack }
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// One destination is done with the batch (`ok`: made it durable).
    pub(super) fn settle(&self, ok: bool) {
        if let Some(state) = &self.ack {
            state.settle(ok);
        }
    }
}

/// One destination's share of a batch. The destination calls [`ack`](Self::ack)
/// once the messages are durable; dropping it unacknowledged reports a failure.
/// It holds the queue's permits, so the queue frees its room when it is dropped.
#[derive(Debug)]
pub struct Delivery {
    pub batch: Arc<Batch>,
    acked: bool,
    _permit: Option<OwnedSemaphorePermit>,
    queued: Option<Arc<crate::telemetry::DestinationStats>>,
}

impl Delivery {
    pub(super) fn new(
        batch: Arc<Batch>,
        permit: Option<OwnedSemaphorePermit>,
        stats: Arc<crate::telemetry::DestinationStats>,
    ) -> Delivery {
        stats.queued.add(batch.len() as u64);
        Delivery {
            batch,
            acked: false,
            _permit: permit,
            queued: Some(stats),
        }
    }

    pub fn messages(&self) -> &[Message] {
        &self.batch.messages
    }

    /// The messages are durable at this destination.
    pub fn ack(mut self) {
        self.acked = true;
        self.batch.settle(true);
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(stats) = self.queued.take() {
            stats.queued.sub(self.batch.len() as u64);
        }
        if !self.acked {
            self.batch.settle(false);
        }
    }
}
