//! Log paths at run time: a source hands each batch it read to [`Routes`], which
//! fans it out to the queues of the destinations its log paths name. Queues are
//! bounded in messages (`log-fifo-size()`); on a `flags(flow-control)` path a full
//! queue makes the source wait (so a TCP reader stops reading and the kernel's
//! window closes on the sender), on other paths the batch is dropped and counted.
//! Destinations acknowledge each batch once it is durable; see [`Delivery`].
//!
//! Which destinations a source reaches is decided when the config is planned
//! (`config::plan`); nothing here evaluates log path syntax.

mod batch;
mod queue;

pub use batch::{AckWait, Batch, Delivery};
pub use queue::{Queue, QueueReceiver};

use crate::message::Message;
use crate::telemetry::SourceStats;
use std::sync::Arc;

/// One destination a source's messages go to.
#[derive(Clone, Debug)]
pub struct Route {
    pub queue: Queue,
    pub flow_control: bool,
}

/// Every destination one source reaches, in log path order.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    pub routes: Vec<Route>,
}

impl Routes {
    /// Hands a batch to every route. Waits on flow-controlled routes whose queue is
    /// full; drops (and counts) for the others.
    pub async fn dispatch(&self, messages: Vec<Message>, stats: &SourceStats) {
        if messages.is_empty() {
            return;
        }
        let batch = Arc::new(Batch::new(messages, self.routes.len()));
        self.send(&batch, stats).await;
    }

    /// Like [`dispatch`](Self::dispatch), and returns a waiter that resolves once
    /// every destination acknowledged the batch (for sources whose protocol
    /// acknowledges, such as Kafka produce).
    pub async fn dispatch_acked(&self, messages: Vec<Message>, stats: &SourceStats) -> AckWait {
        let (batch, wait) = Batch::with_ack(messages, self.routes.len());
        let batch = Arc::new(batch);
        self.send(&batch, stats).await;
        wait
    }

    async fn send(&self, batch: &Arc<Batch>, stats: &SourceStats) {
        for route in &self.routes {
            if !route.queue.send(batch, route.flow_control).await {
                stats.dropped.add(batch.len() as u64);
            }
        }
    }
}
