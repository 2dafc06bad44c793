//! `internal()`: Sluice's own log as a source, as in syslog-ng, so that the
//! daemon's messages can go to a file (or anywhere else) through a log path.
//!
//! A tracing layer turns each event into a record and offers it to a bounded
//! channel without ever waiting: a stuck destination, or a path that feeds an
//! internal message back into the destination that caused it, can cost
//! internal messages (counted as dropped) but never blocks the thread that
//! logs. A task drains the channel in batches into the current config's routes.

use crate::config::schema::DriverSpec;
use crate::logpath::Routes;
use crate::message::{Timestamp, Zone};
use crate::parse::{ParseOptions, parse};
use crate::telemetry::SourceStats;
use bytes::Bytes;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, watch};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

pub const SPEC: DriverSpec = DriverSpec {
    name: "internal",
    context: "source",
    doc: "Sluice's own log messages (start-up, reloads, destination errors), as PROGRAM \"sluice\" with facility syslog. It takes no options; a config has at most one. It never blocks the daemon: while its path is stuck, messages beyond a backlog of 1024 are dropped and counted.",
    positional: None,
    options: &[],
};

/// Records that wait for the drain task; beyond this they are dropped.
const BACKLOG: usize = 1024;

/// One internal log event.
#[derive(Debug)]
pub struct Record {
    level: Level,
    text: String,
    time: Timestamp,
}

/// The tracing layer that feeds `internal()`.
pub struct InternalLayer {
    tx: mpsc::Sender<Record>,
    /// Records lost to a full backlog, added to the source's drop counter.
    lost: Arc<AtomicU64>,
}

/// What the drain task needs from the running config.
#[derive(Debug)]
pub struct InternalConfig {
    pub routes: Routes,
    pub stats: Arc<SourceStats>,
    /// SOURCE and TAGS of its messages.
    pub origin: crate::message::OriginId,
}

/// The layer and the receiving end for [`drain`].
pub fn channel() -> (InternalLayer, Backlog) {
    let (tx, rx) = mpsc::channel(BACKLOG);
    let lost = Arc::new(AtomicU64::new(0));
    (
        InternalLayer {
            tx,
            lost: lost.clone(),
        },
        Backlog { rx, lost },
    )
}

/// Records waiting to be routed.
pub struct Backlog {
    rx: mpsc::Receiver<Record>,
    lost: Arc<AtomicU64>,
}

impl<S: Subscriber> Layer<S> for InternalLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if self.tx.capacity() == 0 {
            self.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        let record = Record {
            level: *event.metadata().level(),
            text: text.0,
            time: Timestamp::now(&Zone::Local),
        };
        if self.tx.try_send(record).is_err() {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The event's message followed by its fields as `key=value`.
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let fields = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}");
            if !fields.is_empty() {
                self.0.push_str(&fields);
            }
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl Record {
    /// The record as a message: RFC 5424 from `sluice` on `hostname`, facility
    /// syslog (5), the severity of its level.
    fn message(&self, hostname: &str) -> crate::message::Message {
        let severity = match self.level {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        // Multi-line texts (a reload's rendered config errors) stay one message.
        let line = format!(
            "<{}>1 - {hostname} sluice {} - - {}",
            5 * 8 + severity,
            std::process::id(),
            self.text
        );
        parse(Bytes::from(line), self.time, None, &ParseOptions::default())
    }
}

/// Routes internal records for as long as the process runs. `config` holds the
/// current config's `internal()` source, if it has one; records that arrive
/// while there is none are discarded, as syslog-ng does.
pub async fn drain(
    mut backlog: Backlog,
    config: watch::Receiver<Option<Arc<InternalConfig>>>,
    hostname: String,
) {
    let mut records = Vec::with_capacity(64);
    while backlog.rx.recv_many(&mut records, 256).await > 0 {
        let current = config.borrow().clone();
        let Some(cfg) = current else {
            records.clear();
            continue;
        };
        let lost = backlog.lost.swap(0, Ordering::Relaxed);
        cfg.stats.dropped.add(lost);
        let messages: Vec<_> = records
            .drain(..)
            .map(|r| {
                let mut m = r.message(&hostname);
                m.origin = cfg.origin;
                m
            })
            .collect();
        cfg.stats.received.add(messages.len() as u64);
        cfg.routes.dispatch(messages, &cfg.stats).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Field;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_become_syslog_messages_and_a_full_backlog_drops() {
        let (layer, mut backlog) = channel();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(destination = "d#0", "cannot write: {}", "disk full");
            for n in 0..BACKLOG + 5 {
                tracing::info!(n, "filler");
            }
        });
        let first = backlog.rx.try_recv().unwrap();
        let m = first.message("box");
        assert_eq!(m.pri, 5 * 8 + 4);
        assert_eq!(m.get(Field::Host), Some(&b"box"[..]));
        assert_eq!(m.get(Field::Program), Some(&b"sluice"[..]));
        assert_eq!(
            m.get(Field::Message),
            Some(&b"cannot write: disk full destination=d#0"[..])
        );
        let mut n = 1;
        while backlog.rx.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, BACKLOG);
        assert_eq!(backlog.lost.load(Ordering::Relaxed), 6);
    }
}
