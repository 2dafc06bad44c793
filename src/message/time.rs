//! Timestamps and time zones of messages.
//!
//! A timestamp keeps the UTC offset it was written in, so `S_` macros can render
//! the sender's wall-clock time (syslog-ng does the same) unless a template asks
//! for another zone.

use chrono::{FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone};
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time with the UTC offset it is to be shown in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timestamp {
    /// Seconds since the Unix epoch (UTC).
    pub secs: i64,
    pub nanos: u32,
    /// Seconds east of UTC.
    pub offset: i32,
}

impl Timestamp {
    /// The current time, shown in `zone`.
    pub fn now(zone: &Zone) -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secs = since.as_secs() as i64;
        Timestamp {
            secs,
            nanos: since.subsec_nanos(),
            offset: zone.offset_at(secs),
        }
    }

    /// The same instant shown in `zone`.
    pub fn in_zone(self, zone: &Zone) -> Timestamp {
        Timestamp {
            offset: zone.offset_at(self.secs),
            ..self
        }
    }

    /// Local wall-clock date and time at this timestamp's offset.
    pub fn local_datetime(&self) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(self.secs + self.offset as i64, self.nanos)
            .unwrap_or_default()
            .naive_utc()
    }
}

/// A time zone as named in `time-zone()` options.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Zone {
    #[default]
    /// The machine's zone (`TZ`, `/etc/localtime`).
    Local,
    /// A fixed offset, seconds east of UTC (`UTC`, `+02:00`).
    Fixed(i32),
    /// An IANA zone (`Europe/Budapest`).
    Named(chrono_tz::Tz),
}

impl Zone {
    pub const UTC: Zone = Zone::Fixed(0);

    /// Parses `UTC`, `Z`, `local`, `+HH:MM`/`-HHMM`, or an IANA zone name.
    pub fn parse(s: &str) -> Option<Zone> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("gmt") || t == "Z" {
            return Some(Zone::UTC);
        }
        if t.eq_ignore_ascii_case("local") {
            return Some(Zone::Local);
        }
        if let Some(off) = parse_offset(t) {
            return Some(Zone::Fixed(off));
        }
        t.parse::<chrono_tz::Tz>().ok().map(Zone::Named)
    }

    /// The zone's UTC offset at an instant, in seconds east of UTC.
    pub fn offset_at(&self, secs: i64) -> i32 {
        let Some(utc) = chrono::DateTime::from_timestamp(secs, 0) else {
            return 0;
        };
        match self {
            Zone::Fixed(off) => *off,
            Zone::Local => chrono::Local
                .offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc(),
            Zone::Named(tz) => tz
                .offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc(),
        }
    }

    /// The offset a wall-clock time written in this zone had (RFC 3164 stamps carry
    /// no zone). In a DST gap or overlap the earlier offset is taken.
    pub fn offset_of_local(&self, local: &NaiveDateTime) -> i32 {
        fn pick<T: Offset>(r: LocalResult<T>) -> i32 {
            match r {
                LocalResult::Single(o) | LocalResult::Ambiguous(o, _) => o.fix().local_minus_utc(),
                LocalResult::None => 0,
            }
        }
        match self {
            Zone::Fixed(off) => *off,
            Zone::Local => match chrono::Local.offset_from_local_datetime(local) {
                LocalResult::None => self.offset_at(local.and_utc().timestamp()),
                r => pick(r),
            },
            Zone::Named(tz) => match tz.offset_from_local_datetime(local) {
                LocalResult::None => self.offset_at(local.and_utc().timestamp()),
                r => pick(r),
            },
        }
    }

    /// A timestamp for a wall-clock time written in this zone.
    pub fn timestamp_of_local(&self, local: &NaiveDateTime, nanos: u32) -> Timestamp {
        let offset = self.offset_of_local(local);
        Timestamp {
            secs: local.and_utc().timestamp() - offset as i64,
            nanos,
            offset,
        }
    }
}

/// `+HH:MM`, `-HHMM`, `+HH`.
fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !(digits.len() == 2 || digits.len() == 4) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    if h > 23 || m > 59 {
        return None;
    }
    let off = sign * (h * 3600 + m * 60);
    FixedOffset::east_opt(off).map(|_| off)
}

// The civil calendar, shared by the parsers and the template date macros.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = ((m + 9) % 12) as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zone_spellings() {
        assert_eq!(Zone::parse("UTC"), Some(Zone::Fixed(0)));
        assert_eq!(Zone::parse("+02:00"), Some(Zone::Fixed(7200)));
        assert_eq!(Zone::parse("-0530"), Some(Zone::Fixed(-19800)));
        assert!(matches!(
            Zone::parse("Europe/Budapest"),
            Some(Zone::Named(_))
        ));
        assert_eq!(Zone::parse("Mars/Olympus"), None);
        assert_eq!(Zone::parse("+25:00"), None);
    }

    #[test]
    fn named_zone_follows_dst() {
        let z = Zone::parse("Europe/Budapest").unwrap();
        assert_eq!(z.offset_at(1_700_000_000), 3600); // November 2023
        assert_eq!(z.offset_at(1_690_000_000), 7200); // July 2023
    }
}
