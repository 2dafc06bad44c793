//! Per-key deadlines (rollover, grace, idle close) on tokio's clock, so tests run
//! them on a paused clock and a worker sleeps exactly until the next one.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use tokio::time::Instant;

/// At most one deadline per key; setting a key again moves its deadline.
#[derive(Debug)]
pub struct Deadlines<K> {
    order: BTreeSet<(Instant, K)>,
    at: HashMap<K, Instant>,
}

impl<K> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            order: BTreeSet::new(),
            at: HashMap::new(),
        }
    }
}

impl<K: Copy + Ord + Hash> Deadlines<K> {
    pub fn set(&mut self, key: K, when: Instant) {
        if let Some(old) = self.at.insert(key, when) {
            self.order.remove(&(old, key));
        }
        self.order.insert((when, key));
    }

    pub fn cancel(&mut self, key: K) {
        if let Some(old) = self.at.remove(&key) {
            self.order.remove(&(old, key));
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.order.first().map(|(t, _)| *t)
    }

    /// Removes and returns a key whose deadline is at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let &(when, key) = self.order.first()?;
        if when > now {
            return None;
        }
        self.order.pop_first();
        self.at.remove(&key);
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_and_moving_a_key_replaces_its_deadline() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut d = Deadlines::default();
        d.set(1u32, t0 + s(5));
        d.set(2, t0 + s(3));
        d.set(1, t0 + s(1));
        assert_eq!(d.len(), 2);
        assert_eq!(d.next(), Some(t0 + s(1)));
        assert_eq!(d.pop_due(t0), None);
        assert_eq!(d.pop_due(t0 + s(4)), Some(1));
        assert_eq!(d.pop_due(t0 + s(4)), Some(2));
        assert_eq!(d.pop_due(t0 + s(4)), None);
        d.set(3, t0 + s(9));
        d.cancel(3);
        assert!(d.is_empty() && d.next().is_none());
    }
}
