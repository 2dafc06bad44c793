//! A destination's input queue: an unbounded channel of deliveries, bounded by two
//! semaphores: in messages (`log-fifo-size()`, as in syslog-ng) and in the bytes
//! those messages keep alive (`log-fifo-bytes()`), because a held message pins
//! its read block and a few huge messages must not take the memory ten thousand
//! small ones would.
//!
//! Without flow control a full queue drops, but not at the first sign of a
//! burst: a source reads a whole socket buffer (thousands of messages) in one go
//! and parses faster than a destination renders, so a queue a few reads deep
//! fills for milliseconds even when the destination keeps up. The sender waits
//! up to [`BURST_WAIT`] for room (the sender's socket holds the rest of the
//! burst meanwhile); a destination that cannot make room in that time is behind,
//! and its batches are dropped at once until it has drained half its queue, so a
//! stuck destination costs its source one such wait, not one per batch.

use super::batch::{Batch, Delivery};
use crate::telemetry::DestinationStats;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// How long a batch on a path without flow control waits for room.
const BURST_WAIT: Duration = Duration::from_millis(100);

/// The sending side, held by every route that leads to the destination. The
/// destination's worker ends once every `Queue` clone is dropped and the queue
/// is drained.
#[derive(Clone, Debug)]
pub struct Queue {
    tx: mpsc::UnboundedSender<Delivery>,
    room: Arc<Room>,
    stats: Arc<DestinationStats>,
    /// The last burst wait ran out: drop at once until half the queue is free.
    behind: Arc<AtomicBool>,
}

/// The two budgets of a queue.
#[derive(Debug)]
struct Room {
    messages: Arc<Semaphore>,
    max_messages: u32,
    bytes: Arc<Semaphore>,
    max_bytes: u32,
}

type Permits = (Option<OwnedSemaphorePermit>, Option<OwnedSemaphorePermit>);

impl Room {
    /// What `batch` takes of each budget: a batch larger than a whole budget
    /// takes all of it rather than never fitting.
    fn need(&self, batch: &Batch) -> (u32, u32) {
        (
            (batch.len().min(u32::MAX as usize) as u32).min(self.max_messages),
            (batch.bytes().min(u32::MAX as usize) as u32).min(self.max_bytes),
        )
    }

    fn try_take(&self, (m, b): (u32, u32)) -> Option<Permits> {
        let messages = self.messages.clone().try_acquire_many_owned(m).ok()?;
        let bytes = self.bytes.clone().try_acquire_many_owned(b).ok()?;
        Some((Some(messages), Some(bytes)))
    }

    async fn take(&self, (m, b): (u32, u32)) -> Option<Permits> {
        let messages = self.messages.clone().acquire_many_owned(m).await.ok()?;
        let bytes = self.bytes.clone().acquire_many_owned(b).await.ok()?;
        Some((Some(messages), Some(bytes)))
    }

    /// At least half of both budgets is free.
    fn half_free(&self) -> bool {
        self.messages.available_permits() >= (self.max_messages / 2) as usize
            && self.bytes.available_permits() >= (self.max_bytes / 2) as usize
    }
}

/// The destination's side, read by its worker.
pub type QueueReceiver = mpsc::UnboundedReceiver<Delivery>;

/// The smallest byte budget: one maximal message must always fit.
const MIN_BYTES: usize = 1 << 20;

impl Queue {
    /// A queue holding at most `messages` messages and `bytes` bytes of them.
    pub fn new(
        messages: usize,
        bytes: usize,
        stats: Arc<DestinationStats>,
    ) -> (Queue, QueueReceiver) {
        let max_messages = messages.clamp(1, u32::MAX as usize) as u32;
        let max_bytes = bytes.clamp(MIN_BYTES, u32::MAX as usize) as u32;
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Queue {
            tx,
            room: Arc::new(Room {
                messages: Arc::new(Semaphore::new(max_messages as usize)),
                max_messages,
                bytes: Arc::new(Semaphore::new(max_bytes as usize)),
                max_bytes,
            }),
            stats,
            behind: Arc::new(AtomicBool::new(false)),
        };
        (queue, rx)
    }

    /// Queues `batch`: waits for room when `wait` (flow control), else waits only
    /// out a burst (see the module documentation). Returns whether the batch was
    /// queued.
    pub async fn send(&self, batch: &Arc<Batch>, wait: bool) -> bool {
        let need = self.room.need(batch);
        let permits = if wait {
            self.room.take(need).await
        } else {
            self.try_send_room(need).await
        };
        let Some(permits) = permits else {
            self.stats.dropped.add(batch.len() as u64);
            batch.refuse();
            return false;
        };
        let delivery = Delivery::new(batch.clone(), permits, self.stats.clone());
        // A send fails only when the worker is gone (shutting down); the delivery
        // is dropped unacknowledged, which reports the failure.
        self.tx.send(delivery).is_ok()
    }

    /// Room without flow control: at once, or within [`BURST_WAIT`] unless the
    /// destination is known to be behind.
    async fn try_send_room(&self, need: (u32, u32)) -> Option<Permits> {
        if let Some(p) = self.room.try_take(need) {
            return Some(p);
        }
        if self.behind.load(Ordering::Relaxed) {
            if !self.room.half_free() {
                return None;
            }
            self.behind.store(false, Ordering::Relaxed);
        }
        match tokio::time::timeout(BURST_WAIT, self.room.take(need)).await {
            Ok(p) => p,
            Err(_) => {
                self.behind.store(true, Ordering::Relaxed);
                None
            }
        }
    }

    pub fn stats(&self) -> &Arc<DestinationStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, Timestamp};
    use bytes::Bytes;

    fn msgs(n: usize) -> Vec<Message> {
        (0..n)
            .map(|_| Message::new(Bytes::from_static(b"x"), Timestamp::default()))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn full_queue_drops_without_flow_control_and_frees_room_when_processed() {
        let stats = Arc::new(DestinationStats::default());
        let (q, mut rx) = Queue::new(10, MIN_BYTES, stats.clone());
        assert!(q.send(&Arc::new(Batch::new(msgs(8))), false).await);
        let started = tokio::time::Instant::now();
        assert!(!q.send(&Arc::new(Batch::new(msgs(3))), false).await);
        assert_eq!(started.elapsed(), BURST_WAIT, "waited out a burst first");
        assert_eq!(stats.dropped.get(), 3);
        assert_eq!(stats.queued.get(), 8);
        // Behind now: the next batch is dropped at once, without a wait.
        assert!(!q.send(&Arc::new(Batch::new(msgs(3))), false).await);
        assert_eq!(started.elapsed(), BURST_WAIT);
        assert_eq!(stats.dropped.get(), 6);
        rx.try_recv().unwrap().ack(); // processed: room comes back
        assert_eq!(stats.queued.get(), 0);
        assert!(q.send(&Arc::new(Batch::new(msgs(10))), false).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_waits_for_a_destination_that_keeps_up() {
        // Regression: a burst without flow control was dropped the moment the
        // queue was full, though the destination drained it milliseconds later.
        let stats = Arc::new(DestinationStats::default());
        let (q, mut rx) = Queue::new(10, MIN_BYTES, stats.clone());
        assert!(q.send(&Arc::new(Batch::new(msgs(8))), false).await);
        let worker = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            rx.try_recv().unwrap().ack();
            rx
        });
        assert!(q.send(&Arc::new(Batch::new(msgs(5))), false).await);
        assert_eq!(stats.dropped.get(), 0);
        drop(worker.await.unwrap());
    }

    #[tokio::test]
    async fn flow_control_waits_for_room() {
        let stats = Arc::new(DestinationStats::default());
        let (q, mut rx) = Queue::new(4, MIN_BYTES, stats);
        assert!(q.send(&Arc::new(Batch::new(msgs(4))), true).await);
        let q2 = q.clone();
        let waiter =
            tokio::spawn(async move { q2.send(&Arc::new(Batch::new(msgs(2))), true).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        rx.try_recv().unwrap().ack();
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn ack_resolves_after_every_destination() {
        let stats = Arc::new(DestinationStats::default());
        let (a, mut ra) = Queue::new(10, MIN_BYTES, stats.clone());
        let (b, mut rb) = Queue::new(10, MIN_BYTES, stats);
        let (ack, wait) = crate::logpath::AckState::new(2);
        let batch = Arc::new(Batch::acked(msgs(2), Some(ack)));
        assert!(a.send(&batch, true).await && b.send(&batch, true).await);
        ra.try_recv().unwrap().ack();
        drop(rb.try_recv().unwrap()); // given up: the source must hear of it
        assert!(!wait.wait().await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_few_huge_messages_fill_the_byte_budget() {
        let stats = Arc::new(DestinationStats::default());
        let (q, mut rx) = Queue::new(10_000, 2 * MIN_BYTES, stats.clone());
        let huge = || {
            let m = Message::new(Bytes::from(vec![b'x'; 700 << 10]), Timestamp::default());
            Arc::new(Batch::new(vec![m]))
        };
        assert!(q.send(&huge(), false).await);
        assert!(q.send(&huge(), false).await);
        assert!(
            !q.send(&huge(), false).await,
            "three 700 KiB messages exceed 2 MiB"
        );
        assert_eq!(stats.queued.get(), 2, "though far below log-fifo-size");
        rx.try_recv().unwrap().ack();
        rx.try_recv().unwrap().ack();
        assert!(q.send(&huge(), false).await);
    }
}
