//! Timestamp scanning for both syslog formats: BSD stamps (`Mmm dd hh:mm:ss` and
//! the year-carrying variants syslog-ng accepts) and ISO 8601 / RFC 3339 stamps.
//!
//! Scanning works on bytes and converts to a [`Timestamp`] with integer calendar
//! arithmetic; zone lookups for zone-less stamps go through a small per-thread
//! cache, because chrono's `Local` costs more than the rest of a parse. This module
//! knows nothing about message layout; the format parsers decide what a failed
//! scan means.

use crate::message::{Timestamp, Zone, civil_from_days, days_from_civil};
use std::cell::Cell;

/// A wall-clock time as written, before zone resolution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Wall {
    year: i64,
    mon: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    nanos: u32,
    /// Seconds east of UTC when the stamp carried a zone.
    offset: Option<i32>,
}

/// `dd` or ` d` (a space-padded field, as `scan_positive_int` allows).
#[inline]
fn num2(b: &[u8], i: usize) -> Option<u32> {
    let (h, l) = (*b.get(i)?, *b.get(i + 1)?);
    if !l.is_ascii_digit() {
        return None;
    }
    let hi = match h {
        b'0'..=b'9' => (h - b'0') as u32,
        b' ' => 0,
        _ => return None,
    };
    Some(hi * 10 + (l - b'0') as u32)
}

/// Exactly `n` digits.
#[inline]
fn digits(b: &[u8], i: usize, n: usize) -> Option<u32> {
    let s = b.get(i..i + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Month number (1-12) of a case-insensitive English abbreviation.
#[inline]
fn month(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(i..i + 3)?;
    let key = u32::from_le_bytes([s[0] | 0x20, s[1] | 0x20, s[2] | 0x20, 0]);
    const M: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    M.iter()
        .position(|m| u32::from_le_bytes([m[0], m[1], m[2], 0]) == key)
        .map(|p| p as u32 + 1)
}

/// A `.frac` or `,frac` (Aruba writes a comma) at `i`: (nanos, end).
#[inline]
fn fraction(b: &[u8], mut i: usize) -> (u32, usize) {
    if !matches!(b.get(i), Some(b'.' | b',')) {
        return (0, i);
    }
    let start = i + 1;
    i = start;
    let mut v = 0u32;
    while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        if i - start < 9 {
            v = v * 10 + (c - b'0') as u32;
        }
        i += 1;
    }
    if i == start {
        // A lone dot is not a fraction; leave it to whatever follows.
        return (0, start - 1);
    }
    let used = (i - start).min(9);
    (v * 10u32.pow(9 - used as u32), i)
}

/// `YYYY-MM-DD(T| )hh:mm:ss[.frac][Z|+hh:mm]` at `i`. `space_sep` allows the
/// space separator that syslog-ng accepts in RFC 3164 headers.
fn scan_iso_wall(b: &[u8], i: usize, space_sep: bool) -> Option<(Wall, usize)> {
    let sep = *b.get(i + 10)?;
    if b.get(i + 4) != Some(&b'-')
        || b.get(i + 7) != Some(&b'-')
        || !(sep == b'T' || sep == b't' || (space_sep && sep == b' '))
        || b.get(i + 13) != Some(&b':')
        || b.get(i + 16) != Some(&b':')
    {
        return None;
    }
    let mut w = Wall {
        year: digits(b, i, 4)? as i64,
        mon: digits(b, i + 5, 2)?,
        day: digits(b, i + 8, 2)?,
        hour: digits(b, i + 11, 2)?,
        min: digits(b, i + 14, 2)?,
        sec: digits(b, i + 17, 2)?,
        ..Wall::default()
    };
    let (nanos, mut end) = fraction(b, i + 19);
    w.nanos = nanos;
    match b.get(end) {
        Some(b'Z' | b'z') => {
            w.offset = Some(0);
            end += 1;
        }
        // +hh:mm, not followed by another digit (syslog-ng's check).
        Some(&s @ (b'+' | b'-'))
            if b.get(end + 3) == Some(&b':')
                && !b.get(end + 6).is_some_and(|c| c.is_ascii_digit()) =>
        {
            if let (Some(h @ 0..=23), Some(m @ 0..=59)) =
                (digits(b, end + 1, 2), digits(b, end + 4, 2))
            {
                let off = (h * 3600 + m * 60) as i32;
                w.offset = Some(if s == b'-' { -off } else { off });
                end += 6;
            }
        }
        _ => {}
    }
    Some((w, end))
}

/// An RFC 5424 TIMESTAMP (not NILVALUE) at `i`: (stamp, end).
pub(crate) fn scan_rfc5424(b: &[u8], i: usize, zone: &Zone) -> Option<(Timestamp, usize)> {
    let (w, end) = scan_iso_wall(b, i, false)?;
    Some((resolve(&w, zone)?, end))
}

/// A timestamp at the start of an RFC 3164 header, in the forms syslog-ng's
/// `scan_rfc3164_timestamp` accepts: ISO, `Mmm dd yyyy hh:mm:ss` (Cisco PIX/ASA),
/// `Mmm dd hh:mm:ss yyyy` (Linksys), `Mmm dd hh:mm:ss[.frac]` and `Mmm d hh:mm:ss`.
/// A trailing `:` (Cisco) is consumed. Year-less stamps take their year from
/// `recvd`. Returns (stamp, end).
pub(crate) fn scan_rfc3164(
    b: &[u8],
    i: usize,
    zone: &Zone,
    recvd: Timestamp,
) -> Option<(Timestamp, usize)> {
    let (ts, mut end) = if b.get(i + 4) == Some(&b'-') {
        let (w, end) = scan_iso_wall(b, i, true)?;
        (resolve(&w, zone)?, end)
    } else {
        scan_bsd_recent(b, i, zone, recvd)?
    };
    if b.get(end) == Some(&b':') {
        end += 1;
    }
    Some((ts, end))
}

/// The last plain BSD stamp resolved on this thread. A stream's messages mostly
/// share their second, and resolving a stamp (the year guess, the calendar, the
/// zone) costs several times comparing its text.
#[derive(Clone, Copy, PartialEq, Eq)]
struct RecentKey {
    text: [u8; 16],
    /// `zone_key`, and the offset of a fixed zone (which all share one key).
    zone: (u32, i32),
    /// The receive time's zone bucket: the year guess holds within one, since
    /// local months start on quarter-hour boundaries of UTC.
    bucket: i64,
}

thread_local! {
    static RECENT: Cell<Option<(RecentKey, Timestamp)>> = const { Cell::new(None) };
}

/// The length of a plain `Mmm dd hh:mm:ss` or `Mmm d hh:mm:ss` at the start of
/// `s`, when nothing after it (a fraction, a Linksys year) changes what it says:
/// then its text alone, with the zone and the receive time, decides the stamp.
fn plain_bsd_len(s: &[u8]) -> Option<usize> {
    let at = |k: usize| s.get(k).copied().unwrap_or(0);
    let len = if at(3) == b' ' && at(6) == b' ' && at(9) == b':' && at(12) == b':' {
        15
    } else if at(3) == b' ' && at(5) == b' ' && at(8) == b':' && at(11) == b':' {
        14
    } else {
        return None;
    };
    let fraction = matches!(at(len), b'.' | b',');
    let year_after = at(len) == b' '
        && (len + 1..len + 5).all(|k| at(k).is_ascii_digit())
        && at(len + 5).is_ascii_whitespace();
    (s.len() >= len && !fraction && !year_after).then_some(len)
}

/// [`scan_bsd`] and [`resolve`], answered from [`RECENT`] when the stamp's
/// text is the one resolved last.
fn scan_bsd_recent(
    b: &[u8],
    i: usize,
    zone: &Zone,
    recvd: Timestamp,
) -> Option<(Timestamp, usize)> {
    let s = b.get(i..)?;
    let Some(len) = plain_bsd_len(s) else {
        let (w, end) = scan_bsd(b, i, zone, recvd)?;
        return Some((resolve(&w, zone)?, end));
    };
    let mut text = [0u8; 16];
    text[..len].copy_from_slice(&s[..len]);
    let fixed = match zone {
        Zone::Fixed(o) => *o,
        _ => 0,
    };
    let key = RecentKey {
        text,
        zone: (zone_key(zone), fixed),
        bucket: recvd.secs.div_euclid(BUCKET),
    };
    if let Some((k, ts)) = RECENT.with(Cell::get)
        && k == key
    {
        return Some((ts, i + len));
    }
    let (w, end) = scan_bsd(b, i, zone, recvd)?;
    let ts = resolve(&w, zone)?;
    debug_assert_eq!(end, i + len);
    RECENT.with(|c| c.set(Some((key, ts))));
    Some((ts, end))
}

fn scan_bsd(b: &[u8], i: usize, zone: &Zone, recvd: Timestamp) -> Option<(Wall, usize)> {
    let s = b.get(i..)?;
    let at = |k: usize| s.get(k).copied().unwrap_or(0);
    if s.len() < 14 || at(3) != b' ' {
        return None;
    }
    let mon = month(s, 0)?;
    let dig = |k: usize| at(k).is_ascii_digit();
    let mut w = Wall {
        mon,
        ..Wall::default()
    };
    if s.len() >= 21
        && at(6) == b' '
        && at(11) == b' '
        && at(14) == b':'
        && at(17) == b':'
        && (at(20) == b':' || at(20) == b' ')
        && (7..11).all(dig)
    {
        // Cisco PIX/ASA: `Mmm dd yyyy hh:mm:ss`
        w.day = num2(s, 4)?;
        w.year = digits(s, 7, 4)? as i64;
        w.hour = num2(s, 12)?;
        w.min = num2(s, 15)?;
        w.sec = num2(s, 18)?;
        return Some((w, i + 20));
    }
    if s.len() >= 21
        && at(6) == b' '
        && at(9) == b':'
        && at(12) == b':'
        && at(15) == b' '
        && (16..20).all(dig)
        && at(20).is_ascii_whitespace()
    {
        // Linksys: `Mmm dd hh:mm:ss yyyy`
        w.day = num2(s, 4)?;
        w.hour = num2(s, 7)?;
        w.min = num2(s, 10)?;
        w.sec = num2(s, 13)?;
        w.year = digits(s, 16, 4)? as i64;
        return Some((w, i + 20));
    }
    let k = if s.len() >= 15 && at(6) == b' ' && at(9) == b':' && at(12) == b':' {
        w.day = num2(s, 4)?;
        7
    } else if dig(4) && at(5) == b' ' && at(8) == b':' && at(11) == b':' {
        w.day = (at(4) - b'0') as u32;
        6
    } else {
        return None;
    };
    w.hour = num2(s, k)?;
    w.min = num2(s, k + 3)?;
    w.sec = num2(s, k + 6)?;
    let (nanos, end) = fraction(s, k + 8);
    w.nanos = nanos;
    w.year = guess_year(mon, recvd, zone);
    Some((w, i + end))
}

/// The year of a year-less stamp. syslog-ng moves a December stamp received in
/// January to last year and a January stamp received in December to next year;
/// we generalise the first rule so that any stamp more than about a month ahead of
/// the receive time belongs to last year (a device's clock is rarely that fast,
/// a late or replayed message often is that old).
fn guess_year(mon: u32, recvd: Timestamp, zone: &Zone) -> i64 {
    let local = recvd.secs + cached_offset_at(zone, recvd.secs) as i64;
    let (y, now_mon, _) = civil_from_days(local.div_euclid(86_400));
    if now_mon == 12 && mon == 1 {
        y + 1
    } else if mon > now_mon + 1 {
        y - 1
    } else {
        y
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Validates the fields and turns the wall-clock time into an instant; stamps
/// without a zone are read in `zone` (recv-time-zone).
fn resolve(w: &Wall, zone: &Zone) -> Option<Timestamp> {
    // A leap second (60) is accepted and lands on the next second.
    if !(1..=12).contains(&w.mon)
        || w.day == 0
        || w.day > days_in_month(w.year, w.mon)
        || w.hour > 23
        || w.min > 59
        || w.sec > 60
    {
        return None;
    }
    let local = days_from_civil(w.year, w.mon, w.day) * 86_400
        + (w.hour * 3600 + w.min * 60 + w.sec) as i64;
    let offset = match w.offset {
        Some(o) => o,
        None => cached_offset_of_local(zone, local),
    };
    Some(Timestamp {
        secs: local - offset as i64,
        nanos: w.nanos,
        offset,
    })
}

/// Zone offsets change on quarter-hour boundaries of local (and UTC) time in every
/// zone in use, so an offset looked up for one 15-minute bucket holds for the bucket.
const BUCKET: i64 = 900;

/// (zone key, bucket, offset); the key is `zone_key`, so entries are `Copy`.
type Entry = (u32, i64, i32);

thread_local! {
    static LOCAL_CACHE: Cell<Entry> = const { Cell::new((NO_ZONE, 0, 0)) };
    static UTC_CACHE: Cell<Entry> = const { Cell::new((NO_ZONE, 0, 0)) };
}

const NO_ZONE: u32 = u32::MAX;
const LOCAL_ZONE: u32 = u32::MAX - 1;

fn zone_key(zone: &Zone) -> u32 {
    match zone {
        Zone::Local => LOCAL_ZONE,
        Zone::Named(tz) => *tz as u32,
        // Fixed zones never reach the cache.
        Zone::Fixed(_) => NO_ZONE,
    }
}

fn cached(
    cache: &'static std::thread::LocalKey<Cell<Entry>>,
    zone: &Zone,
    secs: i64,
    lookup: impl FnOnce() -> i32,
) -> i32 {
    let key = zone_key(zone);
    let bucket = secs.div_euclid(BUCKET);
    cache.with(|c| {
        let (k, b, offset) = c.get();
        if k == key && b == bucket {
            return offset;
        }
        let offset = lookup();
        c.set((key, bucket, offset));
        offset
    })
}

/// `zone`'s offset for a wall-clock time given as seconds since the epoch.
fn cached_offset_of_local(zone: &Zone, local: i64) -> i32 {
    if let Zone::Fixed(o) = zone {
        return *o;
    }
    cached(&LOCAL_CACHE, zone, local, || {
        let naive = chrono::DateTime::from_timestamp(local.div_euclid(BUCKET) * BUCKET, 0)
            .unwrap_or_default()
            .naive_utc();
        zone.offset_of_local(&naive)
    })
}

/// `zone`'s offset at an instant.
fn cached_offset_at(zone: &Zone, secs: i64) -> i32 {
    if let Zone::Fixed(o) = zone {
        return *o;
    }
    cached(&UTC_CACHE, zone, secs, || {
        zone.offset_at(secs.div_euclid(BUCKET) * BUCKET)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        days_from_civil(y, mo, d) * 86_400 + (h * 3600 + mi * 60 + s) as i64
    }

    fn utc_recvd(y: i64, mo: u32, d: u32) -> Timestamp {
        Timestamp {
            secs: at(y, mo, d, 12, 0, 0),
            nanos: 0,
            offset: 0,
        }
    }

    #[test]
    fn known_instant() {
        assert_eq!(at(2023, 11, 14, 22, 13, 20), 1_700_000_000);
    }

    #[test]
    fn iso_stamps_with_fraction_and_offsets() {
        let (t, end) = scan_rfc5424(b"2026-11-23T14:07:17.123+01:00 x", 0, &Zone::UTC).unwrap();
        assert_eq!(end, 29);
        assert_eq!(t.secs, at(2026, 11, 23, 13, 7, 17));
        assert_eq!((t.nanos, t.offset), (123_000_000, 3600));
        let (t, end) = scan_rfc5424(b"2003-10-11T22:14:15.003Z", 0, &Zone::UTC).unwrap();
        assert_eq!((end, t.nanos, t.offset), (24, 3_000_000, 0));
        let (t, _) = scan_rfc5424(b"2003-08-24T05:14:15.000003-07:00", 0, &Zone::UTC).unwrap();
        assert_eq!((t.secs, t.nanos), (at(2003, 8, 24, 12, 14, 15), 3000));
        // zone-less: recv-time-zone applies
        let (t, _) = scan_rfc5424(b"2026-11-23T14:07:17 ", 0, &Zone::Fixed(-3600)).unwrap();
        assert_eq!((t.secs, t.offset), (at(2026, 11, 23, 15, 7, 17), -3600));
        assert!(scan_rfc5424(b"2026-13-23T14:07:17Z", 0, &Zone::UTC).is_none());
        assert!(scan_rfc5424(b"2026-02-30T14:07:17Z", 0, &Zone::UTC).is_none());
        assert!(scan_rfc5424(b"2026-11-23 14:07:17Z", 0, &Zone::UTC).is_none());
        assert!(scan_rfc5424(b"2026-11-23T14:07", 0, &Zone::UTC).is_none());
    }

    #[test]
    fn bsd_stamps_and_variants() {
        let r = utc_recvd(2026, 11, 30);
        let z = Zone::UTC;
        let (t, end) = scan_rfc3164(b"Nov 23 14:07:17 host", 0, &z, r).unwrap();
        assert_eq!((t.secs, end), (at(2026, 11, 23, 14, 7, 17), 15));
        let (t, end) = scan_rfc3164(b"nov  3 04:07:17.25 h", 0, &z, r).unwrap();
        assert_eq!(
            (t.secs, t.nanos, end),
            (at(2026, 11, 3, 4, 7, 17), 250_000_000, 18)
        );
        let (t, end) = scan_rfc3164(b"Nov 3 14:07:17 h", 0, &z, r).unwrap();
        assert_eq!((t.secs, end), (at(2026, 11, 3, 14, 7, 17), 14));
        let (t, end) = scan_rfc3164(b"Nov 23 2019 14:07:17: %ASA", 0, &z, r).unwrap();
        assert_eq!((t.secs, end), (at(2019, 11, 23, 14, 7, 17), 21));
        let (t, end) = scan_rfc3164(b"Nov 23 14:07:17 2019 host", 0, &z, r).unwrap();
        assert_eq!((t.secs, end), (at(2019, 11, 23, 14, 7, 17), 20));
        let (t, end) = scan_rfc3164(b"2026-11-23 14:07:17+02:00 h", 0, &z, r).unwrap();
        assert_eq!((t.secs, end), (at(2026, 11, 23, 12, 7, 17), 25));
        assert!(scan_rfc3164(b"Foo 23 14:07:17 h", 0, &z, r).is_none());
        assert!(scan_rfc3164(b"Nov 23 25:07:17 h", 0, &z, r).is_none());
        assert!(scan_rfc3164(b"Nov 23 14:07", 0, &z, r).is_none());
    }

    #[test]
    fn the_last_stamp_is_reused_only_where_it_means_the_same() {
        // Each call follows one with the same stamp text, so a reuse that
        // ignored the zone, the receive time or what follows would show.
        // December received in October is last year's.
        let r = utc_recvd(2026, 10, 1);
        let text = b"Dec 31 23:59:59 h";
        for _ in 0..2 {
            let (t, end) = scan_rfc3164(text, 0, &Zone::UTC, r).unwrap();
            assert_eq!(
                (t.secs, t.offset, end),
                (at(2025, 12, 31, 23, 59, 59), 0, 15)
            );
        }
        let (t, _) = scan_rfc3164(text, 0, &Zone::Fixed(3600), r).unwrap();
        assert_eq!((t.secs, t.offset), (at(2025, 12, 31, 22, 59, 59), 3600));
        let (t, _) = scan_rfc3164(text, 0, &Zone::Fixed(-3600), r).unwrap();
        assert_eq!((t.secs, t.offset), (at(2026, 1, 1, 0, 59, 59), -3600));
        let tz = Zone::Named(chrono_tz::Tz::Europe__Budapest);
        let (t, _) = scan_rfc3164(text, 0, &tz, r).unwrap();
        assert_eq!((t.secs, t.offset), (at(2025, 12, 31, 22, 59, 59), 3600));
        // received in December: this year's December
        let (t, _) = scan_rfc3164(text, 0, &Zone::UTC, utc_recvd(2026, 12, 31)).unwrap();
        assert_eq!(t.secs, at(2026, 12, 31, 23, 59, 59));
        let (t, end) = scan_rfc3164(b"Dec 31 23:59:59.5 h", 0, &Zone::UTC, r).unwrap();
        assert_eq!(
            (t.secs, t.nanos, end),
            (at(2025, 12, 31, 23, 59, 59), 500_000_000, 17)
        );
        let (t, end) = scan_rfc3164(b"Dec 31 23:59:59 2019 h", 0, &Zone::UTC, r).unwrap();
        assert_eq!((t.secs, end), (at(2019, 12, 31, 23, 59, 59), 20));
        let (t, end) = scan_rfc3164(b"Dec 31 23:59:59: %ASA", 0, &Zone::UTC, r).unwrap();
        assert_eq!((t.secs, end), (at(2025, 12, 31, 23, 59, 59), 16));
        let (t, end) = scan_rfc3164(b"Dec 3 23:59:59 h", 0, &Zone::UTC, r).unwrap();
        assert_eq!((t.secs, end), (at(2025, 12, 3, 23, 59, 59), 14));
        let (t, end) = scan_rfc3164(b"Dec 3 23:59:59 h", 0, &Zone::UTC, r).unwrap();
        assert_eq!((t.secs, end), (at(2025, 12, 3, 23, 59, 59), 14));
        assert!(scan_rfc3164(b"Dec 31 23:59:5", 0, &Zone::UTC, r).is_none());
    }

    #[test]
    fn year_is_guessed_from_the_receive_time() {
        let z = Zone::UTC;
        let s = b"Dec 31 23:59:59 h";
        let (t, _) = scan_rfc3164(s, 0, &z, utc_recvd(2027, 1, 1)).unwrap();
        assert_eq!(t.secs, at(2026, 12, 31, 23, 59, 59));
        let (t, _) = scan_rfc3164(b"Jan  1 00:00:01 h", 0, &z, utc_recvd(2026, 12, 31)).unwrap();
        assert_eq!(t.secs, at(2027, 1, 1, 0, 0, 1));
        // four months ahead: last year
        let (t, _) = scan_rfc3164(b"Sep 10 10:00:00 h", 0, &z, utc_recvd(2026, 5, 1)).unwrap();
        assert_eq!(t.secs, at(2025, 9, 10, 10, 0, 0));
        // next month (a slightly fast clock at a month end): this year
        let (t, _) = scan_rfc3164(b"Jun  1 00:00:00 h", 0, &z, utc_recvd(2026, 5, 31)).unwrap();
        assert_eq!(t.secs, at(2026, 6, 1, 0, 0, 0));
    }

    #[test]
    fn named_zone_applies_dst() {
        let z = Zone::parse("Europe/Budapest").unwrap();
        let (t, _) = scan_rfc5424(b"2026-07-01T12:00:00 ", 0, &z).unwrap();
        assert_eq!((t.secs, t.offset), (at(2026, 7, 1, 10, 0, 0), 7200));
        let (t, _) = scan_rfc5424(b"2026-01-01T12:00:00 ", 0, &z).unwrap();
        assert_eq!((t.secs, t.offset), (at(2026, 1, 1, 11, 0, 0), 3600));
    }
}
