//! Batches, deliveries and their acknowledgement.
//!
//! A source's batch is shared (`Arc`) by every destination it goes to. Each
//! destination gets a [`Delivery`]: the messages, the queue room they hold, and
//! an [`Ack`] token. A driver that copies the messages somewhere (renders them
//! into a spool) lets them go with [`Delivery::release`], which frees the queue
//! room at once, and keeps the `Ack` until the copy is durable.

use crate::message::Message;
use crate::telemetry::DestinationStats;
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
    /// What the messages keep alive ([`Message::held_bytes`]), summed once.
    bytes: usize,
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
        Batch::acked(messages, None)
    }

    /// A batch that settles `ack` once per destination it is delivered to.
    pub fn acked(messages: Vec<Message>, ack: Option<Arc<AckState>>) -> Batch {
        let bytes = messages.iter().map(Message::held_bytes).sum();
        Batch {
            messages,
            ack,
            bytes,
        }
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The memory the batch keeps alive, as queues count it.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// One destination refused the batch before queueing it (queue full).
    pub(super) fn refuse(&self) {
        if let Some(state) = &self.ack {
            state.settle(false);
        }
    }
}

/// One destination's promise about some messages: [`ack`](Self::ack) once they
/// are durable there. Dropped unacknowledged, it reports the failure to the
/// source and counts the messages as dropped.
#[derive(Debug)]
#[must_use = "dropping an Ack reports its messages as lost"]
pub struct Ack {
    state: Option<Arc<AckState>>,
    messages: usize,
    stats: Arc<DestinationStats>,
    settled: bool,
}

impl Ack {
    /// How many messages this acknowledges.
    pub fn len(&self) -> usize {
        self.messages
    }

    pub fn is_empty(&self) -> bool {
        self.messages == 0
    }

    /// The messages are durable at this destination.
    pub fn ack(mut self) {
        self.settle(self.messages);
    }

    /// The messages are given up (a permanent error): counted as dropped.
    pub fn give_up(mut self) {
        self.settle(0);
    }

    /// `lost` of the messages were given up and the rest made durable: the
    /// source hears of a failure, and each part is counted as what it was.
    pub fn settle_partly(mut self, lost: usize) {
        self.settle(self.messages.saturating_sub(lost));
    }

    /// Counts `written` messages as durable and the rest as dropped; the source
    /// hears of success only if all were written.
    fn settle(&mut self, written: usize) {
        if self.settled {
            return;
        }
        self.settled = true;
        // Accepted but not yet settled counts as queued, wherever it waits.
        self.stats.queued.sub(self.messages as u64);
        self.stats.written.add(written as u64);
        self.stats.dropped.add((self.messages - written) as u64);
        if let Some(state) = &self.state {
            state.settle(written == self.messages);
        }
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        self.settle(0);
    }
}

/// One destination's share of a batch: the messages, the queue room they take,
/// and the [`Ack`] to settle.
#[derive(Debug)]
pub struct Delivery {
    pub batch: Arc<Batch>,
    ack: Ack,
    room: Room,
}

/// The queue room a delivery holds, given back when the messages are let go.
#[derive(Debug)]
struct Room {
    _messages: Option<OwnedSemaphorePermit>,
    _bytes: Option<OwnedSemaphorePermit>,
}

impl Delivery {
    pub(super) fn new(
        batch: Arc<Batch>,
        permits: (Option<OwnedSemaphorePermit>, Option<OwnedSemaphorePermit>),
        stats: Arc<DestinationStats>,
    ) -> Delivery {
        let n = batch.len();
        stats.queued.add(n as u64);
        Delivery {
            ack: Ack {
                state: batch.ack.clone(),
                messages: n,
                stats,
                settled: false,
            },
            batch,
            room: Room {
                _messages: permits.0,
                _bytes: permits.1,
            },
        }
    }

    pub fn messages(&self) -> &[Message] {
        &self.batch.messages
    }

    pub fn len(&self) -> usize {
        self.batch.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Lets the messages go (they were copied out), freeing their queue room,
    /// and keeps the promise to acknowledge them.
    pub fn release(self) -> Ack {
        let Delivery { ack, room, batch } = self;
        drop(room);
        drop(batch);
        ack
    }

    /// The messages are durable at this destination.
    pub fn ack(self) {
        self.release().ack();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Timestamp;
    use bytes::Bytes;

    fn delivery(n: usize, ack: Option<Arc<AckState>>, stats: &Arc<DestinationStats>) -> Delivery {
        let msgs = (0..n)
            .map(|_| Message::new(Bytes::from_static(b"hello"), Timestamp::default()))
            .collect();
        Delivery::new(
            Arc::new(Batch::acked(msgs, ack)),
            (None, None),
            stats.clone(),
        )
    }

    #[tokio::test]
    async fn release_frees_the_queue_and_the_ack_settles_later() {
        let stats = Arc::new(DestinationStats::default());
        let (state, wait) = AckState::new(1);
        let d = delivery(3, Some(state), &stats);
        assert_eq!(stats.queued.get(), 3);
        let ack = d.release();
        assert_eq!(stats.queued.get(), 3, "queued until durable");
        assert_eq!(stats.written.get(), 0, "not durable yet");
        ack.ack();
        assert_eq!(stats.written.get(), 3);
        assert_eq!(stats.queued.get(), 0);
        assert!(wait.wait().await);
    }

    #[tokio::test]
    async fn an_ack_dropped_unsettled_reports_loss() {
        let stats = Arc::new(DestinationStats::default());
        let (state, wait) = AckState::new(1);
        drop(delivery(2, Some(state), &stats).release());
        assert_eq!(stats.dropped.get(), 2);
        assert!(!wait.wait().await);
    }

    #[test]
    fn a_batch_knows_the_memory_it_holds() {
        let msgs: Vec<Message> = (0..4)
            .map(|_| Message::new(Bytes::from(vec![b'x'; 1000]), Timestamp::default()))
            .collect();
        let b = Batch::new(msgs);
        assert!(
            b.bytes() >= 4000 && b.bytes() < 4000 + 4 * 4096,
            "{}",
            b.bytes()
        );
    }
}
