//! What a failed attempt means, and the one retry policy every destination uses.
//!
//! Every store boundary (a file, an object store request, a connection) reports a
//! failure as a [`Failure`]: retry it, give its data up, or park it until the
//! operator acts. [`Backoff`] spaces the retries.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why an attempt failed and what that means for the data it carried.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Worth retrying as it is: 5xx, SlowDown, a timeout, a reset, a full disk.
    /// `retry_after` is the server's Retry-After, when it sent one.
    #[error("{}", Described(code, message, &None))]
    Retry {
        code: Option<String>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help and the data concerned is given up (a path that can
    /// never be opened, a request the store will always refuse).
    #[error("{}", Described(code, message, hint))]
    Permanent {
        code: Option<String>,
        message: String,
        hint: Option<String>,
    },
    /// Retrying the same request cannot help, but the data is kept (in the
    /// spool) until the operator fixes the cause and reloads or runs
    /// `sluice-ctl retry`: wrong credentials, a missing bucket.
    #[error("{}", Described(code, message, hint))]
    Parked {
        code: Option<String>,
        message: String,
        hint: Option<String>,
    },
}

impl Failure {
    /// A transient failure without a server code (an I/O error, a reset).
    pub fn retry(message: impl Into<String>) -> Failure {
        Failure::Retry {
            code: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A failure that gives its data up, without a server code.
    pub fn permanent(message: impl Into<String>) -> Failure {
        Failure::Permanent {
            code: None,
            message: message.into(),
            hint: None,
        }
    }

    /// The server's error code (`SlowDown`, `AccessDenied`), when there is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Failure::Retry { code, .. }
            | Failure::Permanent { code, .. }
            | Failure::Parked { code, .. } => code.as_deref(),
        }
    }
}

/// `CODE: message (hint)`, leaving out what is absent.
struct Described<'a>(&'a Option<String>, &'a String, &'a Option<String>);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(code) = self.0 {
            write!(f, "{code}: ")?;
        }
        f.write_str(self.1)?;
        if let Some(hint) = self.2 {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Doubles the wait after each failure, from `base` up to `max`, with up to 25 %
/// random jitter so that many workers do not retry in step.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
            | 1;
        Backoff {
            base,
            max,
            attempt: 0,
            seed,
        }
    }

    /// The wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt += 1;
        // xorshift64: jitter needs no quality, only spread.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter = exp.mul_f64((self.seed % 1000) as f64 / 4000.0);
        (exp - exp / 8 + jitter).min(self.max)
    }

    /// How many failures in a row so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let first = b.next_delay();
        assert!(
            first >= Duration::from_millis(87) && first <= Duration::from_millis(113),
            "{first:?}"
        );
        let later: Vec<_> = (0..10).map(|_| b.next_delay()).collect();
        assert!(later.iter().all(|d| *d <= Duration::from_secs(2)));
        assert!(later[9] >= Duration::from_millis(1750));
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(200));
    }
}
