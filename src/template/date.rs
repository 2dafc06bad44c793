//! Broken-down wall-clock dates for the date macro families, hand-written digit
//! output, and the per-thread zone offset cache.
//!
//! This module owns the arithmetic only: which timestamp a macro reads and which
//! zone applies is decided in `macros.rs`. It must not allocate or call into
//! chrono's formatting on the render path.

use crate::message::{Timestamp, Zone, civil_from_days, copy_run, days_from_civil};
use std::cell::Cell;

/// A timestamp broken down at one UTC offset; computed at most once per family
/// per render.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Broken {
    pub secs: i64,
    pub nanos: u32,
    /// Seconds east of UTC.
    pub offset: i32,
    pub year: i64,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
    pub hour: u8,
    pub min: u8,
    pub sec: u8,
    /// 0 = Sunday, as `struct tm`.
    pub wday: u8,
    /// 0-based day of the year, as `struct tm`.
    pub yday: u16,
}

impl Broken {
    pub fn new(secs: i64, nanos: u32, offset: i32) -> Broken {
        let local = secs.saturating_add(offset as i64);
        let days = local.div_euclid(86_400);
        let sod = local.rem_euclid(86_400);
        let (year, month, day, yday) = civil_cached(days);
        Broken {
            secs,
            nanos,
            offset,
            year,
            month,
            day,
            hour: (sod / 3600) as u8,
            min: (sod / 60 % 60) as u8,
            sec: (sod % 60) as u8,
            wday: (days + 4).rem_euclid(7) as u8,
            yday,
        }
    }

    /// ISO 8601 week number (1..=53).
    pub fn iso_week(&self) -> u8 {
        let iso_wday = (self.wday as i64 + 6) % 7 + 1; // Monday = 1
        let week = (self.yday as i64 + 1 - iso_wday + 10) / 7;
        if week < 1 {
            iso_weeks_in_year(self.year - 1)
        } else if week > iso_weeks_in_year(self.year) as i64 {
            1
        } else {
            week as u8
        }
    }
}

fn iso_weeks_in_year(y: i64) -> u8 {
    let p = |y: i64| (y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400)).rem_euclid(7);
    if p(y) == 4 || p(y - 1) == 3 { 53 } else { 52 }
}

thread_local! {
    /// The calendar date of the last day rendered: log timestamps cluster, so most
    /// renders skip the civil-date arithmetic.
    static DAY_CACHE: Cell<(i64, i64, u8, u8, u16)> = const { Cell::new((0, 1970, 1, 1, 0)) };
}

/// (year, month, day, 0-based day of year) of a day number, cached per thread.
fn civil_cached(days: i64) -> (i64, u8, u8, u16) {
    let (d, y, m, md, yd) = DAY_CACHE.with(Cell::get);
    if d == days {
        return (y, m, md, yd);
    }
    let (y, m, md) = civil_from_days(days);
    let (m, md) = (m as u8, md as u8);
    let yd = (days - days_from_civil(y, 1, 1)) as u16;
    DAY_CACHE.with(|c| c.set((days, y, m, md, yd)));
    (y, m, md, yd)
}

thread_local! {
    /// (zone: None = Local, 15-minute UTC window, offset). Zone transitions fall on
    /// quarter hours in every modern tzdata zone, so one lookup per window is exact.
    static OFFSET_CACHE: Cell<Option<(Option<chrono_tz::Tz>, i64, i32)>> = const { Cell::new(None) };
}

const WINDOW: i64 = 900;

/// The UTC offset `zone` has at `secs`, without asking chrono more than once per
/// quarter hour for `Local`/`Named` zones (chrono's `Local` reads tz data per call).
pub(super) fn offset_at(zone: &Zone, secs: i64) -> i32 {
    let key = match zone {
        Zone::Fixed(off) => return *off,
        Zone::Local => None,
        Zone::Named(tz) => Some(*tz),
    };
    let window = secs.div_euclid(WINDOW);
    if let Some((k, w, off)) = OFFSET_CACHE.with(Cell::get)
        && k == key
        && w == window
    {
        return off;
    }
    let off = zone.offset_at(window.saturating_mul(WINDOW));
    OFFSET_CACHE.with(|c| c.set(Some((key, window, off))));
    off
}

/// The broken-down form of `ts`, in `zone` when one applies, else at its own offset.
pub(super) fn broken(ts: &Timestamp, zone: Option<&Zone>) -> Broken {
    let offset = match zone {
        Some(z) => offset_at(z, ts.secs),
        None => ts.offset,
    };
    Broken::new(ts.secs, ts.nanos, offset)
}

#[inline]
pub(super) fn push2(out: &mut Vec<u8>, v: u8) {
    out.extend_from_slice(&[b'0' + v / 10 % 10, b'0' + v % 10]);
}

/// Two digits, the tens padded with a space (syslog-ng's BSD day of month).
#[inline]
pub(super) fn push2_space(out: &mut Vec<u8>, v: u8) {
    let tens = if v >= 10 { b'0' + v / 10 % 10 } else { b' ' };
    out.extend_from_slice(&[tens, b'0' + v % 10]);
}

#[inline]
pub(super) fn push3(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&[
        b'0' + (v / 100 % 10) as u8,
        b'0' + (v / 10 % 10) as u8,
        b'0' + (v % 10) as u8,
    ]);
}

/// At least `width` digits (up to 20), zero padded; two digits a step,
/// from a table (a Unix time is ten digits, per message).
pub(super) fn push_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    let mut v = v;
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
    }
    if v >= 10 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[v as usize * 2..v as usize * 2 + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    // The buffer starts as zeros: padding is starting earlier. The digits
    // go as words: a call to copy memory was a tenth of `__time__`'s cost.
    let i = i.min(buf.len().saturating_sub(width));
    copy_run(&buf, i, buf.len(), out);
}

/// Appends `v` in decimal.
pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    push_padded(out, v, 1);
}

pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// A year as syslog-ng prints it: four digits, zero padded.
pub(super) fn push_year(out: &mut Vec<u8>, y: i64) {
    if y < 0 {
        out.push(b'-');
    }
    push_padded(out, y.unsigned_abs(), 4);
}

/// `+HH:MM`, syslog-ng's `append_format_zone_info`.
pub(super) fn push_tzoffset(out: &mut Vec<u8>, offset: i32) {
    out.push(if offset < 0 { b'-' } else { b'+' });
    let a = offset.unsigned_abs();
    push2(out, (a / 3600).min(99) as u8);
    out.push(b':');
    push2(out, (a % 3600 / 60) as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_roundtrip_and_known_dates() {
        for days in [-800_000i64, -1, 0, 59, 60, 365, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let b = Broken::new(1_795_439_237, 0, 3600); // 2026-11-23 14:07:17 +01:00
        assert_eq!((b.year, b.month, b.day), (2026, 11, 23));
        assert_eq!((b.hour, b.min, b.sec, b.wday, b.yday), (14, 7, 17, 1, 326));
        let b = Broken::new(-1, 0, 0);
        assert_eq!(
            (b.year, b.month, b.day, b.hour, b.wday),
            (1969, 12, 31, 23, 3)
        );
    }

    #[test]
    fn day_cache_matches_arithmetic() {
        for days in [0i64, 1, 0, 20_000, 20_001, 20_000, -5, 60] {
            let (y, m, d) = civil_from_days(days);
            let yd = (days - days_from_civil(y, 1, 1)) as u16;
            assert_eq!(civil_cached(days), (y, m as u8, d as u8, yd));
        }
    }

    #[test]
    fn iso_weeks_at_year_edges() {
        // 2021-01-03 is in ISO week 53 of 2020; 2024-12-30 in week 1 of 2025.
        assert_eq!(Broken::new(1_609_632_000, 0, 0).iso_week(), 53);
        assert_eq!(Broken::new(1_735_516_800, 0, 0).iso_week(), 1);
        assert_eq!(Broken::new(1_795_439_237, 0, 0).iso_week(), 48);
    }

    #[test]
    fn digits() {
        let mut v = Vec::new();
        push_padded(&mut v, 7, 3);
        push_i64(&mut v, -42);
        push2_space(&mut v, 3);
        push_tzoffset(&mut v, -(5 * 3600 + 30 * 60));
        push_year(&mut v, 987);
        assert_eq!(v, b"007-42 3-05:300987");
        // Every digit count, odd and even, padded and not, as format! does.
        let mut x = 1u64;
        for _ in 0..20 {
            for v in [
                x - 1,
                x,
                x.wrapping_add(1),
                x.wrapping_mul(9),
                x.wrapping_mul(10).wrapping_sub(1),
            ] {
                for width in [0, 1, 2, 5, 10, 20, 25] {
                    let mut got = Vec::new();
                    push_padded(&mut got, v, width);
                    let want = format!("{v:0w$}", w = width.min(20));
                    assert_eq!(String::from_utf8(got).unwrap(), want, "{v} in {width}");
                }
            }
            x = x.saturating_mul(10);
        }
        let mut got = Vec::new();
        push_i64(&mut got, i64::MIN);
        assert_eq!(got, i64::MIN.to_string().as_bytes());
    }
}
