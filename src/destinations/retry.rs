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

/// What to do after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time.
    RetryAt(tokio::time::Instant),
    /// The data concerned is given up.
    GiveUp,
    /// Keep the data; try again only when the operator asks (`sluice-ctl
    /// retry`, a reload).
    Park,
}

/// The one retry loop's state for one thing being retried (a destination's
/// writes, one part upload): the backoff, the counters, and one log line per
/// failure burst rather than one per attempt.
#[derive(Debug)]
pub struct Retrier {
    what: String,
    backoff: Backoff,
}

/// Backoff bounds shared by every destination.
const BASE: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_secs(30);

impl Retrier {
    /// `what` names the failing thing in log lines (`destination d_s3#0`).
    pub fn new(what: impl Into<String>) -> Retrier {
        Retrier {
            what: what.into(),
            backoff: Backoff::new(BASE, MAX),
        }
    }

    /// Records a failure and says what comes next. Logs the first failure of a
    /// burst and then every power-of-two attempt.
    pub fn failed(&mut self, failure: &Failure, now: tokio::time::Instant) -> Next {
        match failure {
            Failure::Retry { retry_after, .. } => {
                let mut delay = self.backoff.next_delay();
                if let Some(after) = retry_after {
                    delay = delay.max((*after).min(MAX * 10));
                }
                let attempt = self.backoff.attempts();
                if attempt == 1 || attempt.is_power_of_two() {
                    tracing::error!(what = %self.what, attempt, retry_in = ?delay, "failed, will retry: {failure}");
                }
                Next::RetryAt(now + delay)
            }
            Failure::Permanent { .. } => {
                self.backoff.reset();
                Next::GiveUp
            }
            Failure::Parked { .. } => {
                if self.backoff.attempts() == 0 {
                    tracing::error!(what = %self.what, "failed; data kept until `sluice-ctl retry` or a reload: {failure}");
                }
                // Counted as one attempt so a second park in a row stays quiet.
                self.backoff.next_delay();
                Next::Park
            }
        }
    }

    /// Records a success; logs the recovery when it ends a burst.
    pub fn succeeded(&mut self) {
        if self.backoff.attempts() > 0 {
            tracing::info!(what = %self.what, attempts = self.backoff.attempts(), "recovered");
            self.backoff.reset();
        }
    }

    /// Failures in a row so far.
    pub fn attempts(&self) -> u32 {
        self.backoff.attempts()
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

    #[test]
    fn a_retry_after_longer_than_the_backoff_wins() {
        let mut r = Retrier::new("test");
        let now = tokio::time::Instant::now();
        let f = Failure::Retry {
            code: Some("SlowDown".into()),
            message: "reduce your rate".into(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            r.failed(&f, now),
            Next::RetryAt(now + Duration::from_secs(7))
        );
        assert_eq!(r.failed(&Failure::permanent("no"), now), Next::GiveUp);
        let parked = Failure::Parked {
            code: Some("AccessDenied".into()),
            message: "denied".into(),
            hint: Some("check the bucket policy".into()),
        };
        assert_eq!(r.failed(&parked, now), Next::Park);
        assert_eq!(
            parked.to_string(),
            "AccessDenied: denied (check the bucket policy)"
        );
    }
}
