//! RFC 3164 ("BSD syslog") headers, read as leniently as syslog-ng's
//! `_syslog_format_parse_legacy`: almost anything parses, and what does not fit
//! the header ends up in MESSAGE. Only a `<` that does not open a valid PRI is a
//! parse error.
//!
//! Shape: `[<PRI>][SEQ: ][*|.]TIMESTAMP[:] [HOST ]PROGRAM[[PID]]: MESSAGE`; without
//! a timestamp: `[<PRI>]PROGRAM[[PID]][:] MESSAGE`.

use super::{scan_pri, set_error, stamp};
use crate::message::{Field, Message, Slot, Timestamp};

use super::ParseOptions;

const AIX_FORWARD: &[u8] = b"Message forwarded from ";
const REPEATED: &[u8] = b"last message repeated";
/// syslog-ng keeps at most 255 bytes of a hostname; a longer token is no hostname.
const MAX_HOST: usize = 255;

/// Field ranges found in the header, applied to the message at the end (the frame
/// is borrowed while scanning).
struct Header {
    pri: u8,
    stamp: Timestamp,
    /// Where MESSAGE starts.
    msg: usize,
    host: Option<Slot>,
    program: Option<Slot>,
    pid: Option<Slot>,
    seq: Option<Slot>,
    synced: Option<&'static [u8]>,
    /// The program tag as sent, separator included.
    msghdr: Option<Slot>,
}

/// Fills a fresh message from its raw frame.
pub(super) fn fill(m: &mut Message, opts: &ParseOptions) {
    let h = match scan(m.raw(), m.recvd, opts) {
        Ok(h) => h,
        Err(why) => return set_error(m, why),
    };
    let len = m.raw().len();
    m.pri = h.pri;
    m.stamp = h.stamp;
    if let Some(s) = h.host {
        m.set(Field::Host, s);
    }
    if let Some(s) = h.program {
        m.set(Field::Program, s);
    }
    if let Some(s) = h.pid {
        m.set(Field::Pid, s);
    }
    if let Some(s) = h.msghdr {
        m.set(Field::LegacyMsgHdr, s);
    }
    m.set(Field::Message, Slot::raw(h.msg, len));
    if h.seq.is_none() && h.synced.is_none() {
        return;
    }
    // Cisco's sequence number and clock state are structured data in syslog-ng,
    // and SDATA shows them as such.
    let mut sdata = Vec::with_capacity(64);
    if let Some(s) = h.seq {
        m.push_pair(b".SDATA.meta.sequenceId", s);
        sdata.extend_from_slice(b"[meta sequenceId=\"");
        sdata.extend_from_slice(m.slot(s));
        sdata.extend_from_slice(b"\"]");
    }
    if let Some(v) = h.synced {
        m.push_owned_pair(b".SDATA.timeQuality.isSynced", v);
        sdata.extend_from_slice(b"[timeQuality isSynced=\"");
        sdata.extend_from_slice(v);
        sdata.extend_from_slice(b"\"]");
    }
    m.set_owned(Field::Sdata, &sdata);
}

fn scan(b: &[u8], recvd: Timestamp, opts: &ParseOptions) -> Result<Header, &'static str> {
    let mut pos = leaked_octet_count(b);
    let pri = match scan_pri(&b[pos..])? {
        Some((pri, end)) => {
            pos += end;
            pri
        }
        None => Message::DEFAULT_PRI,
    };
    let mut h = Header {
        pri,
        stamp: recvd,
        msg: 0,
        host: None,
        program: None,
        pid: None,
        seq: None,
        synced: None,
        msghdr: None,
    };
    if let Some((slot, end)) = cisco_sequence(b, pos) {
        h.seq = Some(slot);
        pos = end;
    }
    pos = skip_spaces(b, pos);
    // Cisco marks an unsynchronised clock with `*` and a synchronised one with `.`.
    let (at, synced) = match b.get(pos) {
        Some(b'*') => (pos + 1, Some(&b"0"[..])),
        Some(b'.') => (pos + 1, Some(&b"1"[..])),
        _ => (pos, None),
    };
    if let Some((ts, end)) = stamp::scan_rfc3164(b, at, &opts.zone, recvd) {
        h.stamp = ts;
        h.synced = synced;
        pos = skip_spaces(b, end);
        if b[pos..].starts_with(AIX_FORWARD) {
            let start = pos + AIX_FORWARD.len();
            let end = memchr::memchr(b':', &b[start..]).map_or(b.len(), |i| start + i);
            h.host = Some(Slot::raw(start, end));
            pos = end;
            while pos < b.len() && matches!(b[pos], b' ' | b':') {
                pos += 1;
            }
        }
        if !b[pos..].starts_with(REPEATED) {
            if h.host.is_none()
                && !opts.no_hostname
                && let Some(end) = hostname(b, pos)
                && !opts
                    .bad_hostname
                    .as_ref()
                    .is_some_and(|re| re.0.is_match(&b[pos..end]))
            {
                h.host = Some(Slot::raw(pos, end));
                pos = skip_spaces(b, end);
            }
            pos = program(b, pos, &mut h);
        }
    } else {
        pos = program(b, pos, &mut h);
    }
    h.msg = pos;
    Ok(h)
}

/// Skips the spaces between header fields; syslog-ng skips NUL bytes there too.
fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | 0)) {
        i += 1;
    }
    i
}

/// An RFC 6587 octet count left in front of the PRI by a sender whose framing
/// was not configured to match (`123 <13>...`): syslog-ng skips it. We skip it
/// only when a `<` follows, so a plain line that starts with a number keeps it.
fn leaked_octet_count(b: &[u8]) -> usize {
    let n = b.iter().take(11).take_while(|c| c.is_ascii_digit()).count();
    if (1..=10).contains(&n) && b.get(n) == Some(&b' ') && b.get(n + 1) == Some(&b'<') {
        n + 1
    } else {
        0
    }
}

/// Cisco's sequence number, `123: ` right after the PRI.
fn cisco_sequence(b: &[u8], pos: usize) -> Option<(Slot, usize)> {
    let n = b[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
    let colon = pos + n;
    (n > 0 && b.get(colon) == Some(&b':') && b.get(colon + 1) == Some(&b' '))
        .then(|| (Slot::raw(pos, colon), colon + 1))
}

/// The end of a hostname token starting at `pos`, if the token is one. As in
/// syslog-ng, a token is a hostname when it ends in a space before any `[`, and a
/// `:` ends it unless everything so far could be an IPv6 address. Unlike
/// syslog-ng, a token ending in `:` is the program tag (`dead: msg`), never a host.
fn hostname(b: &[u8], pos: usize) -> Option<usize> {
    // Most tokens end at a space or `[` before any `:`: found with one search
    // of the bytes a hostname may span (a token of MAX_HOST bytes may still
    // be followed by its space). Only a `:` needs the IPv6 walk.
    let window = &b[pos.min(b.len())..b.len().min(pos + MAX_HOST + 1)];
    match memchr::memchr3(b' ', b'[', b':', window) {
        Some(k) if window[k] == b' ' => return (k > 0).then_some(pos + k),
        Some(k) if window[k] == b'[' => return None,
        Some(_) => {}
        None => return None,
    }
    hostname_walk(b, pos)
}

/// [`hostname`] byte by byte, tracking whether the token could be IPv6.
fn hostname_walk(b: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos;
    let (mut v6_ok, mut seg_digits, mut segs) = (true, 0u8, 0u8);
    while i < b.len() && i - pos < MAX_HOST {
        let c = b[i];
        if c == b' ' || c == b'[' {
            break;
        }
        if v6_ok {
            if c == b':' {
                seg_digits = 0;
                segs += 1;
                v6_ok = segs < 8;
            } else if c.is_ascii_hexdigit() {
                seg_digits += 1;
                v6_ok = seg_digits <= 4;
            } else {
                v6_ok = false;
            }
        }
        if c == b':' && !v6_ok {
            break;
        }
        i += 1;
    }
    (i > pos && b.get(i) == Some(&b' ') && b[i - 1] != b':').then_some(i)
}

/// `PROGRAM[PID]: ` from `pos`; returns where MESSAGE starts.
fn program(b: &[u8], pos: usize, h: &mut Header) -> usize {
    let stop = |from: usize, set: [u8; 3]| {
        let rest = b.get(from..).unwrap_or_default();
        memchr::memchr3(set[0], set[1], set[2], rest).map_or(b.len(), |k| from + k)
    };
    let mut i = stop(pos, [b' ', b'[', b':']);
    // Set even when empty (`[x]: y`), as syslog-ng sets it.
    h.program = Some(Slot::raw(pos, i));
    if b.get(i) == Some(&b'[') {
        let start = i + 1;
        i = stop(start, [b' ', b']', b':']);
        if i < b.len() {
            h.pid = Some(Slot::raw(start, i));
        }
        if b.get(i) == Some(&b']') {
            i += 1;
        }
    }
    if b.get(i) == Some(&b':') {
        i += 1;
    }
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    h.msghdr = Some(Slot::raw(pos, i));
    i
}

#[cfg(test)]
mod tests {
    #[test]
    fn hostname_search_ends_tokens_where_the_walk_does() {
        let long = |n: usize| "h".repeat(n);
        let cases = [
            "host prog: m".to_owned(),
            "host[1]: m".into(),
            "prog: m".into(),
            "::1 prog: m".into(),
            "fe80::1:2 prog".into(),
            "1:2:3:4:5:6:7:8:9 p".into(),
            "a:b prog".into(),
            "dead: m".into(),
            "host".into(),
            " lead".into(),
            "".into(),
            format!("{} m", long(254)),
            format!("{} m", long(255)),
            format!("{} m", long(256)),
            long(300),
            format!("{}:1 m", long(200)),
        ];
        for c in &cases {
            let b = c.as_bytes();
            for pos in [0, 1, b.len(), b.len() + 1] {
                assert_eq!(
                    super::hostname(b, pos),
                    super::hostname_walk(b, pos),
                    "{c:?} at {pos}"
                );
            }
        }
        assert_eq!(
            super::hostname(format!("{} m", long(255)).as_bytes(), 0),
            Some(255)
        );
        assert_eq!(
            super::hostname(format!("{} m", long(256)).as_bytes(), 0),
            None
        );
    }

    use super::super::tests::{f, p, recvd};
    use super::super::{ParseOptions, parse};
    use crate::message::days_from_civil;
    use crate::message::{Field, Flags, Zone};
    use bytes::Bytes;

    fn at(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        days_from_civil(y, mo, d) * 86_400 + (h * 3600 + mi * 60 + s) as i64
    }

    fn fields(s: &str) -> [Option<String>; 4] {
        let m = p(s.as_bytes());
        assert!(!m.flags.contains(Flags::PARSE_ERROR), "{s}");
        [Field::Host, Field::Program, Field::Pid, Field::Message]
            .map(|x| f(&m, x).map(str::to_owned))
    }

    fn some(v: [Option<&str>; 4]) -> [Option<String>; 4] {
        v.map(|x| x.map(str::to_owned))
    }

    #[test]
    fn loggen_iso_line() {
        let s = b"<38>2026-11-23T14:07:17 localhost prg00000[1234]: seq: 0000000000, thread: 0000, runid: 1700000000, stamp: 2026-11-23T14:07:17 PADD";
        let m = p(s);
        assert_eq!((m.pri, m.facility(), m.severity()), (38, 4, 6));
        assert_eq!(f(&m, Field::Host), Some("localhost"));
        assert_eq!(f(&m, Field::Program), Some("prg00000"));
        assert_eq!(f(&m, Field::Pid), Some("1234"));
        assert!(
            f(&m, Field::Message)
                .unwrap()
                .starts_with("seq: 0000000000,")
        );
        assert_eq!(
            (m.stamp.secs, m.stamp.offset),
            (at(2026, 11, 23, 14, 7, 17), 0)
        );
        assert_eq!(m.recvd, recvd());
        assert_eq!(m.error, None);
    }

    #[test]
    fn bsd_header_variants() {
        assert_eq!(
            fields("<13>Nov 23 14:07:17 myhost sshd[42]: Accepted key"),
            some([
                Some("myhost"),
                Some("sshd"),
                Some("42"),
                Some("Accepted key")
            ])
        );
        assert_eq!(
            fields("<13>Nov  3 14:07:17 sshd[42]: no host"),
            some([None, Some("sshd"), Some("42"), Some("no host")])
        );
        assert_eq!(
            fields("<13>Nov 23 14:07:17 su: no host, no pid"),
            some([None, Some("su"), None, Some("no host, no pid")])
        );
        assert_eq!(
            fields("<13>Nov 23 14:07:17 dead: hex-looking tag"),
            some([None, Some("dead"), None, Some("hex-looking tag")])
        );
        assert_eq!(
            fields("<13>Nov 23 14:07:17 fe80::1 kernel: v6 host"),
            some([Some("fe80::1"), Some("kernel"), None, Some("v6 host")])
        );
        assert_eq!(
            fields("<13>Nov 23 14:07:17 host prog message without colon"),
            some([
                Some("host"),
                Some("prog"),
                None,
                Some("message without colon")
            ])
        );
        assert_eq!(
            fields("<13>Nov 23 14:07:17 host prog:  two spaces"),
            some([Some("host"), Some("prog"), None, Some(" two spaces")])
        );
        // PROGRAM is set, empty, as syslog-ng sets it.
        assert_eq!(
            fields("<13>Nov 23 14:07:17"),
            some([None, Some(""), None, Some("")])
        );
    }

    #[test]
    fn missing_pri_and_missing_timestamp() {
        let m = p(b"Nov 23 14:07:17 h p: m");
        assert_eq!((m.pri, f(&m, Field::Host)), (13, Some("h")));
        // no timestamp: `program[pid] message`, no host, stamp = recvd
        let m = p(b"<14>prog[7]: hello there");
        assert_eq!(m.stamp, recvd());
        assert_eq!(f(&m, Field::Host), None);
        assert_eq!(f(&m, Field::Program), Some("prog"));
        assert_eq!(f(&m, Field::Pid), Some("7"));
        assert_eq!(f(&m, Field::Message), Some("hello there"));
        let m = p(b"hello world");
        assert_eq!(
            (f(&m, Field::Program), f(&m, Field::Message)),
            (Some("hello"), Some("world"))
        );
        let m = p(b"<13>");
        assert_eq!(
            (f(&m, Field::Program), f(&m, Field::Message)),
            (Some(""), Some(""))
        );
    }

    #[test]
    fn year_forms_and_fractions() {
        let m = p(b"<13>Nov 23 2025 14:07:17: %ASA-6-302013: Built");
        assert_eq!(m.stamp.secs, at(2025, 11, 23, 14, 7, 17));
        assert_eq!(f(&m, Field::Program), Some("%ASA-6-302013"));
        assert_eq!(f(&m, Field::Message), Some("Built"));
        let m = p(b"<13>Nov 23 14:07:17 2025 host prog: x");
        assert_eq!(m.stamp.secs, at(2025, 11, 23, 14, 7, 17));
        assert_eq!(f(&m, Field::Host), Some("host"));
        let m = p(b"<13>Nov 23 14:07:17.123456 host prog: x");
        assert_eq!(m.stamp.nanos, 123_456_000);
        let m = p(b"<13>2026-11-23T14:07:17.5-05:00 host prog: x");
        assert_eq!(
            (m.stamp.secs, m.stamp.nanos, m.stamp.offset),
            (at(2026, 11, 23, 19, 7, 17), 500_000_000, -18000)
        );
    }

    #[test]
    fn recv_time_zone_applies_to_zoneless_stamps() {
        let o = ParseOptions {
            zone: Zone::Fixed(3600),
            ..ParseOptions::default()
        };
        let m = parse(
            Bytes::from_static(b"<13>Nov 23 14:07:17 h p: m"),
            recvd(),
            None,
            &o,
        );
        assert_eq!(
            (m.stamp.secs, m.stamp.offset),
            (at(2026, 11, 23, 13, 7, 17), 3600)
        );
    }

    #[test]
    fn bad_hostname_words_are_not_hostnames() {
        let o = ParseOptions {
            bad_hostname: Some(crate::parse::HostPattern(
                regex::bytes::Regex::new("^gconfd$").unwrap(),
            )),
            ..ParseOptions::default()
        };
        let m = parse(
            Bytes::from_static(b"<13>Nov 23 14:07:17 gconfd (user-1234): saved"),
            recvd(),
            None,
            &o,
        );
        assert_eq!(f(&m, Field::Host), None);
        assert_eq!(f(&m, Field::Program), Some("gconfd"));
        // Without the pattern the word is the host, as syslog-ng reads it.
        let m = parse(
            Bytes::from_static(b"<13>Nov 23 14:07:17 gconfd (user-1234): saved"),
            recvd(),
            None,
            &ParseOptions::default(),
        );
        assert_eq!(f(&m, Field::Host), Some("gconfd"));
    }

    #[test]
    fn no_hostname_flag() {
        let o = ParseOptions {
            no_hostname: true,
            zone: Zone::UTC,
            ..ParseOptions::default()
        };
        let m = parse(
            Bytes::from_static(b"<13>Nov 23 14:07:17 myhost sshd[1]: x"),
            recvd(),
            None,
            &o,
        );
        assert_eq!(f(&m, Field::Host), None);
        assert_eq!(f(&m, Field::Program), Some("myhost"));
        assert_eq!(f(&m, Field::Message), Some("sshd[1]: x"));
    }

    #[test]
    fn cisco_and_aix_quirks() {
        let m = p(b"<189>52: *Nov 23 14:07:17.123: %SYS-5-CONFIG_I: Configured");
        assert_eq!(m.pair(b".SDATA.meta.sequenceId"), Some(&b"52"[..]));
        assert_eq!(m.pair(b".SDATA.timeQuality.isSynced"), Some(&b"0"[..]));
        assert_eq!(m.stamp.nanos, 123_000_000);
        assert_eq!(f(&m, Field::Program), Some("%SYS-5-CONFIG_I"));
        assert_eq!(f(&m, Field::Message), Some("Configured"));
        let m = p(b"<13>Nov 23 14:07:17 Message forwarded from aixhost: syslogd: restart");
        assert_eq!(f(&m, Field::Host), Some("aixhost"));
        assert_eq!(f(&m, Field::Program), Some("syslogd"));
        let m = p(b"<13>Nov 23 14:07:17 last message repeated 3 times");
        assert_eq!(f(&m, Field::Host), None);
        assert_eq!(f(&m, Field::Program), None);
        assert_eq!(f(&m, Field::Message), Some("last message repeated 3 times"));
        let m = p(b"57 <13>Nov 23 14:07:17 h p: leaked octet count");
        assert_eq!(f(&m, Field::Message), Some("leaked octet count"));
        let m = p(b"57 apples");
        assert_eq!(f(&m, Field::Program), Some("57"));
    }

    #[test]
    fn cisco_sequence_and_clock_state_show_in_sdata() {
        // Regression: SDATA was empty for Cisco lines; syslog-ng 3.38 shows the
        // pairs the header set (checked against it in compat.rs).
        let m = p(b"<187>58: *Mar  1 00:00:00.123: %LINK-3-UPDOWN: Interface down");
        assert_eq!(
            f(&m, Field::Sdata),
            Some(r#"[meta sequenceId="58"][timeQuality isSynced="0"]"#)
        );
        let m = p(b"<187>.Mar  1 00:00:01.456: %LINK-3-UPDOWN: up");
        assert_eq!(f(&m, Field::Sdata), Some(r#"[timeQuality isSynced="1"]"#));
        assert_eq!(f(&p(b"<13>Nov 23 14:07:17 h p: x"), Field::Sdata), None);
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for n in 0..20_000 {
            let len = n % 80;
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // bias towards header punctuation
                let set = b"<>0123456789 :[]-T.Z+NovDec\"=\\\xef\xbb\xbf";
                v.push(if seed.is_multiple_of(3) {
                    seed as u8
                } else {
                    set[(seed >> 8) as usize % set.len()]
                });
            }
            let m = p(&v);
            assert!(m.get(Field::Message).is_some());
        }
    }
}
