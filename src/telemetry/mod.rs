//! Counters: each stage owns the counters it increments (a source its received and
//! malformed counts, a destination its written, dropped and queued counts); this
//! registry only collects them so `sluice-ctl stats` can list them. Counters are
//! kept by name across reloads, so a reload does not reset what a user watches.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonically increasing counter or a gauge, shared by the stage that updates it.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub(&self, n: u64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Lets a repeating log line through at most once per interval and counts what
/// it held back, so a failure that repeats per batch or per connection cannot
/// flood the log (or, through `internal()`, feed itself).
#[derive(Debug, Default)]
pub struct LogThrottle {
    /// Milliseconds since the epoch of the last line let through; 0 for never.
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl LogThrottle {
    pub const fn new() -> LogThrottle {
        LogThrottle {
            last_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line may be logged now, `n` being how many were held
    /// back since the last one; `None` (and one more held back) otherwise.
    pub fn allow(&self, every: std::time::Duration) -> Option<u64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let last = self.last_ms.load(Ordering::Relaxed);
        let due = last == 0 || now >= last.saturating_add(every.as_millis() as u64);
        if due
            && self
                .last_ms
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// Counters of one source driver instance.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Messages read and handed to the log paths.
    pub received: Counter,
    /// Frames that did not parse as syslog (kept, tagged, and counted here).
    pub malformed: Counter,
    /// Messages longer than `log-msg-size()` (truncated or split).
    pub oversize: Counter,
    /// Blank frames dropped, as syslog-ng drops them: empty TCP lines (or lines
    /// of only `\r`/`\0`), zero-length octet-counted frames, empty datagrams.
    pub empty: Counter,
    /// Messages dropped because a destination queue without flow control was full.
    pub dropped: Counter,
    /// Connections accepted since start.
    pub connections: Counter,
    /// Connections refused because `max-connections()` was reached.
    pub rejected: Counter,
    /// Connections open now (a gauge).
    pub open: Counter,
    /// TLS handshakes that failed or timed out (bad certificate, plain text).
    pub tls_failures: Counter,
}

/// Counters of one destination driver instance.
#[derive(Debug, Default)]
pub struct DestinationStats {
    /// Messages made durable by the destination's promise (written, and synced
    /// when `fsync(yes)`; spooled for object stores).
    pub written: Counter,
    /// Messages refused because the queue was full and the path had no flow
    /// control, or given up after an error retrying cannot fix.
    pub dropped: Counter,
    /// Messages accepted and not yet durable, in the queue or the driver (a gauge).
    pub queued: Counter,
    /// Write errors (each retried; a message is counted as written only once).
    pub errors: Counter,
    /// An object store's upload counters, set by object-store destinations.
    pub store: std::sync::OnceLock<Arc<StoreStats>>,
}

/// Counters of an object-store destination, true to what the store
/// acknowledged, and the objects it is working on (`sluice-ctl uploads`).
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Objects the store completed.
    pub objects: Counter,
    /// Parts (and single-request objects) the store accepted, and their bytes.
    pub parts: Counter,
    pub bytes: Counter,
    /// Store requests that failed, and those retried after a backoff.
    pub failures: Counter,
    pub retries: Counter,
    /// Bytes in the spool (a gauge).
    pub spool_bytes: Counter,
    /// Values written as null because they did not convert to their
    /// column's type (`format(parquet)`).
    pub null_values: Counter,
    pub board: Mutex<Board>,
}

/// Objects being uploaded and the last ones completed.
#[derive(Debug, Default)]
pub struct Board {
    pub active: BTreeMap<String, UploadInfo>,
    pub recent: std::collections::VecDeque<UploadInfo>,
}

/// One object as `sluice-ctl uploads` shows it.
#[derive(Clone, Debug, Default)]
pub struct UploadInfo {
    /// The key once chosen, else the key's base.
    pub key: String,
    pub bytes: u64,
    pub parts: u64,
    pub started: Option<std::time::SystemTime>,
    pub ended: Option<std::time::SystemTime>,
    /// Why the last request failed, while it is failing.
    pub failure: Option<String>,
}

/// Completed objects `sluice-ctl uploads` remembers per destination.
const RECENT: usize = 20;

impl StoreStats {
    /// Updates (creating) the entry of object `id`.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut UploadInfo)) {
        let mut b = self.board.lock().unwrap_or_else(|e| e.into_inner());
        let info = b
            .active
            .entry(id.to_string())
            .or_insert_with(|| UploadInfo {
                started: Some(std::time::SystemTime::now()),
                ..UploadInfo::default()
            });
        f(info);
    }

    /// Object `id` is in the store.
    pub fn completed(&self, id: &str) {
        let mut b = self.board.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut info) = b.active.remove(id) {
            info.ended = Some(std::time::SystemTime::now());
            info.failure = None;
            b.recent.push_back(info);
            if b.recent.len() > RECENT {
                b.recent.pop_front();
            }
        }
    }
}

/// A kind of component with its counters.
#[derive(Clone, Debug)]
pub enum Entry {
    Source(Arc<SourceStats>),
    Destination(Arc<DestinationStats>),
}

/// Every counter of the daemon, by component id (`source.s_net#0`).
#[derive(Debug, Default)]
pub struct Registry {
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl Registry {
    /// The counters of source instance `id`, created on first use.
    pub fn source(&self, id: &str) -> Arc<SourceStats> {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&format!("source.{id}")) {
            Some(Entry::Source(s)) => s.clone(),
            _ => {
                let s = Arc::new(SourceStats::default());
                map.insert(format!("source.{id}"), Entry::Source(s.clone()));
                s
            }
        }
    }

    /// The counters of destination instance `id`, created on first use.
    pub fn destination(&self, id: &str) -> Arc<DestinationStats> {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&format!("destination.{id}")) {
            Some(Entry::Destination(s)) => s.clone(),
            _ => {
                let s = Arc::new(DestinationStats::default());
                map.insert(format!("destination.{id}"), Entry::Destination(s.clone()));
                s
            }
        }
    }

    /// Drops the counters of components no longer in the config.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|k, _| keep(k));
    }

    /// Every counter as `(component, counter, value)`, sorted.
    pub fn snapshot(&self) -> Vec<(String, &'static str, u64)> {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (id, entry) in map.iter() {
            match entry {
                Entry::Source(s) => {
                    for (name, c) in [
                        ("received", &s.received),
                        ("malformed", &s.malformed),
                        ("oversize", &s.oversize),
                        ("empty", &s.empty),
                        ("dropped", &s.dropped),
                        ("connections", &s.connections),
                        ("rejected", &s.rejected),
                        ("open", &s.open),
                        ("tls_failures", &s.tls_failures),
                    ] {
                        out.push((id.clone(), name, c.get()));
                    }
                }
                Entry::Destination(d) => {
                    for (name, c) in [
                        ("written", &d.written),
                        ("dropped", &d.dropped),
                        ("queued", &d.queued),
                        ("errors", &d.errors),
                    ] {
                        out.push((id.clone(), name, c.get()));
                    }
                    if let Some(s) = d.store.get() {
                        for (name, c) in [
                            ("objects", &s.objects),
                            ("parts", &s.parts),
                            ("bytes", &s.bytes),
                            ("failures", &s.failures),
                            ("retries", &s.retries),
                            ("spool_bytes", &s.spool_bytes),
                            ("null_values", &s.null_values),
                        ] {
                            out.push((id.clone(), name, c.get()));
                        }
                    }
                }
            }
        }
        out
    }

    /// `sluice-ctl uploads`: per object-store destination, the objects in
    /// flight (failing ones with the reason) and the last ones completed.
    pub fn render_uploads(&self) -> String {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (id, entry) in map.iter() {
            let Entry::Destination(d) = entry else {
                continue;
            };
            let Some(s) = d.store.get() else { continue };
            let b = s.board.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(
                out,
                "{id}: {} in flight, {} recent",
                b.active.len(),
                b.recent.len()
            );
            let rows = b.active.values().map(|i| {
                (
                    if i.failure.is_some() {
                        "failing"
                    } else {
                        "uploading"
                    },
                    i,
                )
            });
            for (state, i) in rows.chain(b.recent.iter().map(|i| ("completed", i))) {
                let _ = write!(
                    out,
                    "  {state} key={} bytes={} parts={} start={} end={}",
                    i.key,
                    i.bytes,
                    i.parts,
                    stamp(i.started),
                    stamp(i.ended)
                );
                if let Some(f) = &i.failure {
                    let _ = write!(out, " reason={f}");
                }
                out.push('\n');
            }
        }
        out
    }

    /// `component.counter value` lines, one per counter.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for (id, name, v) in self.snapshot() {
            let _ = writeln!(out, "{id}.{name} {v}");
        }
        out
    }

    /// Prometheus exposition format; each metric family's samples stand together.
    pub fn render_prometheus(&self) -> String {
        let mut families: BTreeMap<String, (bool, String)> = BTreeMap::new();
        for (id, name, v) in self.snapshot() {
            let (kind, instance) = id.split_once('.').unwrap_or(("", &id));
            let gauge = matches!(name, "open" | "queued" | "spool_bytes");
            let suffix = if gauge { "" } else { "_total" };
            let family = families
                .entry(format!("sluice_{kind}_{name}{suffix}"))
                .or_insert_with(|| (gauge, String::new()));
            let _ = writeln!(family.1, "{{id=\"{}\"}} {v}", escape_label(instance));
        }
        let mut out = String::new();
        for (metric, (gauge, samples)) in families {
            let _ = writeln!(
                out,
                "# TYPE {metric} {}",
                if gauge { "gauge" } else { "counter" }
            );
            for line in samples.lines() {
                let _ = writeln!(out, "{metric}{line}");
            }
        }
        out
    }
}

/// RFC 3339 in UTC, or `-`.
fn stamp(t: Option<std::time::SystemTime>) -> String {
    t.map_or_else(
        || "-".to_string(),
        |t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        },
    )
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_survive_lookup_and_render() {
        let r = Registry::default();
        r.source("s_net#0").received.add(3);
        r.source("s_net#0").received.add(2);
        r.destination("d#0").written.add(5);
        let text = r.render_text();
        assert!(text.contains("source.s_net#0.received 5\n"), "{text}");
        assert!(text.contains("destination.d#0.written 5\n"), "{text}");
        let prom = r.render_prometheus();
        assert!(
            prom.contains("sluice_source_received_total{id=\"s_net#0\"} 5\n"),
            "{prom}"
        );
        assert!(
            prom.contains("# TYPE sluice_destination_queued gauge\n"),
            "{prom}"
        );
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::LogThrottle;
    use std::time::Duration;

    #[test]
    fn throttle_lets_one_through_per_interval_and_counts_the_rest() {
        let t = LogThrottle::new();
        assert_eq!(t.allow(Duration::from_secs(3600)), Some(0));
        assert_eq!(t.allow(Duration::from_secs(3600)), None);
        assert_eq!(t.allow(Duration::from_secs(3600)), None);
        // A zero interval is always due, and reports what was held back.
        assert_eq!(t.allow(Duration::ZERO), Some(2));
        assert_eq!(t.allow(Duration::ZERO), Some(0));
    }
}
