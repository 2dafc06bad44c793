//! Log paths at run time: a source hands each batch it read to [`Routes`], which
//! fans it out to the queues of the destinations its log paths name. Queues are
//! bounded in messages (`log-fifo-size()`); on a `flags(flow-control)` path a full
//! queue makes the source wait (so a TCP reader stops reading and the kernel's
//! window closes on the sender), on other paths the batch is dropped and counted.
//! Destinations acknowledge each batch once it is durable; see [`Delivery`].
//!
//! Which paths a source feeds is decided when the config is planned
//! (`config::plan`) as a [`Path`] program per source. Without filters the program
//! gives every message the same routes, worked out once; with filters it runs per
//! message, and each destination gets its own batch of the messages it takes.

mod batch;
pub mod filter;
mod queue;

pub use batch::{Ack, AckState, AckWait, Batch, Delivery};
pub use filter::Filter;
pub use queue::{Queue, QueueReceiver};

use crate::message::Message;
use crate::telemetry::SourceStats;
use crate::template::RenderContext;
use std::sync::Arc;

/// One destination a source's messages go to.
#[derive(Clone, Debug)]
pub struct Route {
    pub queue: Queue,
    pub flow_control: bool,
}

/// One log path as one source sees it: its steps in written order, so a
/// destination before a filter sees what the filter later drops, as in syslog-ng.
#[derive(Clone, Debug, Default)]
pub struct Path {
    pub steps: Vec<Step>,
    /// `flags(final)`: a message this path took goes to no later path.
    pub last: bool,
    /// `flags(fallback)`: only messages no other path took.
    pub fallback: bool,
}

#[derive(Clone, Debug)]
pub enum Step {
    /// Messages that do not match leave the path here.
    Filter(Arc<Filter>),
    /// Messages that got here go to route `n` of the source's [`Routes`].
    Deliver(usize),
    /// A nested `log { }`: its paths see what got here.
    Nested(Vec<Path>),
}

impl Path {
    /// Walks the path for one message, marking the routes it reaches; `true` if
    /// the message got through every filter.
    fn walk(&self, pass: &mut impl FnMut(&Filter) -> bool, reached: &mut [bool]) -> bool {
        for step in &self.steps {
            match step {
                Step::Filter(f) => {
                    if !pass(f) {
                        return false;
                    }
                }
                Step::Deliver(r) => reached[*r] = true,
                // As syslog-ng's junctions: when no nested path took the
                // message, neither did the enclosing one.
                Step::Nested(paths) => {
                    if !run(paths, pass, reached) {
                        return false;
                    }
                }
            }
        }
        true
    }

    fn filters(&self) -> bool {
        self.steps.iter().any(|s| match s {
            Step::Filter(_) => true,
            Step::Nested(p) => p.iter().any(Path::filters),
            Step::Deliver(_) => false,
        })
    }
}

/// Runs a source's paths for one message: regular paths in order until a final
/// one takes it, then the fallback paths if none took it. Returns whether any
/// path took the message.
fn run(paths: &[Path], pass: &mut impl FnMut(&Filter) -> bool, reached: &mut [bool]) -> bool {
    let mut taken = false;
    for p in paths.iter().filter(|p| !p.fallback) {
        if p.walk(pass, reached) {
            taken = true;
            if p.last {
                return true;
            }
        }
    }
    if taken {
        return true;
    }
    for p in paths.iter().filter(|p| p.fallback) {
        if p.walk(pass, reached) {
            taken = true;
            if p.last {
                break;
            }
        }
    }
    taken
}

/// Every destination one source reaches, and how it decides per message.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    routes: Vec<Route>,
    /// `None` when every message takes every route (no path filters).
    select: Option<Arc<Selector>>,
}

#[derive(Debug)]
struct Selector {
    paths: Vec<Path>,
    ctx: RenderContext,
}

impl Routes {
    /// The routes of one source and the paths that pick among them. Paths
    /// without filters are resolved here, once.
    pub fn new(routes: Vec<Route>, paths: Vec<Path>, ctx: RenderContext) -> Routes {
        if paths.iter().any(Path::filters) {
            return Routes {
                routes,
                select: Some(Arc::new(Selector { paths, ctx })),
            };
        }
        let mut reached = vec![false; routes.len()];
        run(&paths, &mut |_| true, &mut reached);
        let routes = routes
            .into_iter()
            .zip(reached)
            .filter_map(|(r, on)| on.then_some(r))
            .collect();
        Routes {
            routes,
            select: None,
        }
    }

    /// Hands a batch to every route. Waits on flow-controlled routes whose queue is
    /// full; drops (and counts) for the others.
    pub async fn dispatch(&self, messages: Vec<Message>, stats: &SourceStats) {
        if !messages.is_empty() {
            self.send(messages, false, stats).await;
        }
    }

    /// Like [`dispatch`](Self::dispatch), and returns a waiter that resolves once
    /// every destination acknowledged its part of the batch (for sources whose
    /// protocol acknowledges, such as Kafka produce).
    pub async fn dispatch_acked(&self, messages: Vec<Message>, stats: &SourceStats) -> AckWait {
        match self.send(messages, true, stats).await {
            Some(wait) => wait,
            None => AckState::new(0).1,
        }
    }

    /// For each route, the indexes of the messages it takes.
    fn split(&self, sel: &Selector, messages: &[Message]) -> Vec<Vec<u32>> {
        let mut taken: Vec<Vec<u32>> = vec![Vec::new(); self.routes.len()];
        let mut reached = vec![false; self.routes.len()];
        for (i, m) in messages.iter().enumerate() {
            reached.fill(false);
            run(&sel.paths, &mut |f| f.matches(m, &sel.ctx), &mut reached);
            for (r, on) in reached.iter().enumerate() {
                if *on {
                    taken[r].push(i as u32);
                }
            }
        }
        taken
    }

    async fn send(
        &self,
        messages: Vec<Message>,
        want_ack: bool,
        stats: &SourceStats,
    ) -> Option<AckWait> {
        // The acknowledgement counts one settlement per (route, batch) delivery.
        let acker = |deliveries: usize| {
            want_ack
                .then(|| AckState::new(deliveries))
                .map_or((None, None), |(a, w)| (Some(a), Some(w)))
        };
        if messages.is_empty() {
            return acker(0).1;
        }
        let Some(sel) = &self.select else {
            let (ack, wait) = acker(self.routes.len());
            let batch = Arc::new(Batch::acked(messages, ack));
            for route in &self.routes {
                self.send_one(route, &batch, stats).await;
            }
            return wait;
        };
        let taken = self.split(sel, &messages);
        let (ack, wait) = acker(taken.iter().filter(|t| !t.is_empty()).count());
        // Routes that take every message share one batch; the rest get copies of
        // their messages (a copy shares the read buffer, so it is cheap).
        let whole = Arc::new(Batch::acked(messages, ack.clone()));
        for (route, idx) in self.routes.iter().zip(taken) {
            if idx.is_empty() {
                continue;
            }
            if idx.len() == whole.len() {
                self.send_one(route, &whole, stats).await;
            } else {
                let part: Vec<Message> = idx
                    .iter()
                    .map(|&i| whole.messages[i as usize].clone())
                    .collect();
                let part = Arc::new(Batch::acked(part, ack.clone()));
                self.send_one(route, &part, stats).await;
            }
        }
        wait
    }

    async fn send_one(&self, route: &Route, batch: &Arc<Batch>, stats: &SourceStats) {
        if !route.queue.send(batch, route.flow_control).await {
            stats.dropped.add(batch.len() as u64);
        }
    }
}
