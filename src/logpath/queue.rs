//! A destination's input queue: unbounded channel of batches, bounded in messages
//! by a semaphore, so `log-fifo-size()` means messages as in syslog-ng.
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
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a batch on a path without flow control waits for room.
const BURST_WAIT: Duration = Duration::from_millis(100);

/// The sending side, held by every route that leads to the destination. The
/// destination's worker ends once every `Queue` clone is dropped and the queue
/// is drained.
#[derive(Clone, Debug)]
pub struct Queue {
    tx: mpsc::Sender<Delivery>,
    room: Arc<Semaphore>,
    capacity: u32,
    stats: Arc<DestinationStats>,
    /// The last burst wait ran out: drop at once until half the queue is free.
    behind: Arc<AtomicBool>,
}

/// The destination's side: a blocking receiver for the worker thread.
pub type QueueReceiver = mpsc::Receiver<Delivery>;

impl Queue {
    /// A queue holding at most `capacity` messages.
    pub fn new(capacity: usize, stats: Arc<DestinationStats>) -> (Queue, QueueReceiver) {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize)) as u32;
        let (tx, rx) = mpsc::channel();
        let queue = Queue {
            tx,
            room: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
            stats,
            behind: Arc::new(AtomicBool::new(false)),
        };
        (queue, rx)
    }

    /// Queues `batch`: waits for room when `wait` (flow control), else waits only
    /// out a burst (see the module documentation). Returns whether the batch was
    /// queued.
    pub async fn send(&self, batch: &Arc<Batch>, wait: bool) -> bool {
        // A batch larger than the whole queue takes all of it rather than never fitting.
        let need = (batch.len() as u32).min(self.capacity);
        let permit = if wait {
            self.room.clone().acquire_many_owned(need).await.ok()
        } else {
            self.try_send_room(need).await
        };
        let Some(permit) = permit else {
            self.stats.dropped.add(batch.len() as u64);
            batch.settle(false);
            return false;
        };
        let delivery = Delivery::new(batch.clone(), Some(permit), self.stats.clone());
        // A send fails only when the worker is gone (shutting down); the delivery
        // is dropped unacknowledged, which reports the failure.
        self.tx.send(delivery).is_ok()
    }

    /// Room for `need` messages without flow control: at once, or within
    /// [`BURST_WAIT`] unless the destination is known to be behind.
    async fn try_send_room(&self, need: u32) -> Option<tokio::sync::OwnedSemaphorePermit> {
        if let Ok(p) = self.room.clone().try_acquire_many_owned(need) {
            return Some(p);
        }
        if self.behind.load(Ordering::Relaxed) {
            if self.room.available_permits() < (self.capacity / 2) as usize {
                return None;
            }
            self.behind.store(false, Ordering::Relaxed);
        }
        let wait = self.room.clone().acquire_many_owned(need);
        match tokio::time::timeout(BURST_WAIT, wait).await {
            Ok(p) => p.ok(),
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
        let (q, rx) = Queue::new(10, stats.clone());
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
        drop(rx.recv().unwrap()); // processed: room comes back
        assert_eq!(stats.queued.get(), 0);
        assert!(q.send(&Arc::new(Batch::new(msgs(10))), false).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_waits_for_a_destination_that_keeps_up() {
        // Regression: a burst without flow control was dropped the moment the
        // queue was full, though the destination drained it milliseconds later.
        let stats = Arc::new(DestinationStats::default());
        let (q, rx) = Queue::new(10, stats.clone());
        assert!(q.send(&Arc::new(Batch::new(msgs(8))), false).await);
        let worker = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(rx.recv().unwrap());
            rx
        });
        assert!(q.send(&Arc::new(Batch::new(msgs(5))), false).await);
        assert_eq!(stats.dropped.get(), 0);
        drop(worker.await.unwrap());
    }

    #[tokio::test]
    async fn flow_control_waits_for_room() {
        let stats = Arc::new(DestinationStats::default());
        let (q, rx) = Queue::new(4, stats);
        assert!(q.send(&Arc::new(Batch::new(msgs(4))), true).await);
        let q2 = q.clone();
        let waiter =
            tokio::spawn(async move { q2.send(&Arc::new(Batch::new(msgs(2))), true).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(rx.recv().unwrap());
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn ack_resolves_after_every_destination() {
        let stats = Arc::new(DestinationStats::default());
        let (a, ra) = Queue::new(10, stats.clone());
        let (b, rb) = Queue::new(10, stats);
        let (ack, wait) = crate::logpath::AckState::new(2);
        let batch = Arc::new(Batch::acked(msgs(2), Some(ack)));
        assert!(a.send(&batch, true).await && b.send(&batch, true).await);
        ra.recv().unwrap().ack();
        drop(rb.recv().unwrap()); // given up: the source must hear of it
        assert!(!wait.wait().await);
    }
}
