//! RFC 5424 messages: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`.
//!
//! Unlike RFC 3164, a header that does not parse is an error (as in syslog-ng's
//! `_syslog_format_parse_syslog_proto`): the message keeps the whole frame as
//! MESSAGE with `PARSE_ERROR`. Structured data becomes `.SDATA.<id>.<param>`
//! pairs; a value is copied only when it holds an escape.

use super::{ParseOptions, scan_pri, stamp};
use crate::message::{Field, Flags, Message, Slot};
use std::ops::Range;

/// syslog-ng cuts header fields to these lengths (RFC 5424 section 6) instead of
/// rejecting the message.
const MAX_HOST: usize = 255;
const MAX_APP: usize = 48;
const MAX_PROCID: usize = 128;
const MAX_MSGID: usize = 32;
/// SD-NAME = 1*32PRINTUSASCII except `=`, SP, `]`, `"`.
const MAX_SD_NAME: usize = 32;
const PREFIX: &[u8] = b".SDATA.";
const BOM: &[u8] = b"\xEF\xBB\xBF";

const TRUNCATED_HEADER: &str = "truncated RFC 5424 header";
const BAD_TIMESTAMP: &str = "bad RFC 5424 timestamp";
const BAD_SD: &str = "bad structured data";

/// Fills a fresh message over the frame `b`; on error the message is half
/// filled and the caller replaces it.
pub(super) fn fill(b: &[u8], m: &mut Message, opts: &ParseOptions) -> Result<(), &'static str> {
    let Ok(Some((pri, end))) = scan_pri(b) else {
        return Err("bad PRI");
    };
    m.pri = pri;
    // `<PRI>1 ` was checked by the caller.
    let mut pos = end + 2;
    if b.get(pos) == Some(&b'-') {
        pos += 1;
    } else {
        let (ts, end) = stamp::scan_rfc5424(b, pos, &opts.zone).ok_or(BAD_TIMESTAMP)?;
        m.stamp = ts;
        pos = end;
    }
    if b.get(pos) != Some(&b' ') {
        return Err(if pos >= b.len() {
            TRUNCATED_HEADER
        } else {
            BAD_TIMESTAMP
        });
    }
    pos += 1;
    for (field, max) in [
        (Field::Host, MAX_HOST),
        (Field::Program, MAX_APP),
        (Field::Pid, MAX_PROCID),
        (Field::MsgId, MAX_MSGID),
    ] {
        let end = memchr::memchr(b' ', &b[pos..])
            .map(|i| pos + i)
            .ok_or(TRUNCATED_HEADER)?;
        if &b[pos..end] != b"-" {
            m.set(field, Slot::raw(pos, end.min(pos + max)));
        }
        pos = end + 1;
    }
    match b.get(pos) {
        None => {}
        Some(b'-') => pos += 1,
        Some(b'[') => {
            let (end, lone_backslash) = structured_data(b, pos, m)?;
            if lone_backslash {
                let text = escape_lone_backslashes(&b[pos..end]);
                m.set_owned(Field::Sdata, &text);
            } else {
                m.set(Field::Sdata, Slot::raw(pos, end));
            }
            pos = end;
        }
        Some(_) => return Err(BAD_SD),
    }
    if pos < b.len() {
        if b[pos] != b' ' {
            return Err(BAD_SD);
        }
        pos += 1;
        if b[pos..].starts_with(BOM) {
            pos += BOM.len();
            m.flags.insert(Flags::UTF8_BOM);
        }
    }
    m.set(Field::Message, Slot::raw(pos, b.len()));
    Ok(())
}

/// SD-NAME at `pos`: returns its end.
fn sd_name(b: &[u8], pos: usize) -> Result<usize, &'static str> {
    let n = b[pos..]
        .iter()
        .take(MAX_SD_NAME + 1)
        .take_while(|&&c| (33..=126).contains(&c) && !matches!(c, b'=' | b']' | b'"'))
        .count();
    if n == 0 || n > MAX_SD_NAME {
        return Err(BAD_SD);
    }
    Ok(pos + n)
}

/// One or more SD-ELEMENTs from `pos` (at a `[`); pushes the pairs and returns
/// the end of the last element. The elements are walked twice, once to size the
/// message's buffers and once to fill them: cheaper than growing them pair by pair.
/// Also tells whether a value holds a backslash that escapes nothing, which
/// SDATA must show doubled.
fn structured_data(b: &[u8], pos: usize, m: &mut Message) -> Result<(usize, bool), &'static str> {
    let (mut bytes, mut pairs) = (0, 0);
    let (_, lone) = walk_sd(b, pos, |name, value, escaped| {
        bytes += name.len() + if escaped { value.len() } else { 0 };
        pairs += 1;
    })?;
    m.reserve(bytes, pairs);
    let mut unescaped = Vec::new();
    let end = walk_sd(b, pos, |name, value, escaped| {
        if escaped {
            unescape(&b[value], &mut unescaped);
            m.push_owned_pair(name, &unescaped);
        } else {
            m.push_pair(name, Slot::raw(value.start, value.end));
        }
    })?;
    Ok((end.0, lone))
}

/// SD-ELEMENTs as syslog-ng renders SDATA from their values: `"`, `\\` and `]`
/// escaped, so a backslash that escaped nothing in the frame comes out doubled.
fn escape_lone_backslashes(sd: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sd.len() + 8);
    let (mut quoted, mut i) = (false, 0);
    while i < sd.len() {
        let c = sd[i];
        if quoted && c == b'\\' {
            out.push(b'\\');
            match sd.get(i + 1) {
                Some(&e @ (b'"' | b'\\' | b']')) => {
                    out.push(e);
                    i += 1;
                }
                _ => out.push(b'\\'),
            }
        } else {
            quoted ^= c == b'"';
            out.push(c);
        }
        i += 1;
    }
    out
}

/// Validates the SD-ELEMENTs from `pos` and calls `each(pair name, value range,
/// value has escapes)` for every parameter (and for every element without one,
/// as syslog-ng records `.SDATA.id` = ""). Returns the end of the last element,
/// and whether a value holds a backslash that escapes nothing.
fn walk_sd(
    b: &[u8],
    mut pos: usize,
    mut each: impl FnMut(&[u8], Range<usize>, bool),
) -> Result<(usize, bool), &'static str> {
    let mut lone = false;
    // `.SDATA.` + id + `.` + param, all bounded by MAX_SD_NAME.
    let mut name = [0u8; PREFIX.len() + 2 * MAX_SD_NAME + 1];
    name[..PREFIX.len()].copy_from_slice(PREFIX);
    while b.get(pos) == Some(&b'[') {
        let id_end = sd_name(b, pos + 1)?;
        let id = &b[pos + 1..id_end];
        let id_at = PREFIX.len();
        name[id_at..id_at + id.len()].copy_from_slice(id);
        let param_at = id_at + id.len() + 1;
        name[param_at - 1] = b'.';
        pos = id_end;
        if b.get(pos) == Some(&b']') {
            each(&name[..param_at - 1], pos..pos, false);
        }
        loop {
            match b.get(pos) {
                Some(b']') => {
                    pos += 1;
                    break;
                }
                Some(b' ') => pos += 1,
                _ => return Err(BAD_SD),
            }
            let pname_end = sd_name(b, pos)?;
            let pname = &b[pos..pname_end];
            name[param_at..param_at + pname.len()].copy_from_slice(pname);
            let full = &name[..param_at + pname.len()];
            pos = pname_end;
            if b.get(pos) != Some(&b'=') {
                return Err(BAD_SD);
            }
            pos += 1;
            if b.get(pos) == Some(&b'"') {
                pos += 1;
                let start = pos;
                let mut escaped = false;
                loop {
                    let i = memchr::memchr3(b'"', b'\\', b']', &b[pos..])
                        .map(|i| pos + i)
                        .ok_or(BAD_SD)?;
                    match b[i] {
                        b'"' => {
                            pos = i;
                            break;
                        }
                        // An unescaped `]` inside a value: the element was cut.
                        b']' => return Err(BAD_SD),
                        _ => {
                            if matches!(b.get(i + 1), Some(b'"' | b'\\' | b']')) {
                                escaped = true;
                                pos = i + 2;
                            } else {
                                lone = true;
                                pos = i + 1;
                            }
                        }
                    }
                }
                each(full, start..pos, escaped);
                pos += 1;
            } else {
                // An unquoted value: syslog-ng 3.38 rejects the message too.
                return Err(BAD_SD);
            }
        }
    }
    Ok((pos, lone))
}

/// PARAM-VALUE without its escapes: `\"`, `\\` and `\]` lose the backslash, any
/// other backslash is kept (RFC 5424 section 6.3.3).
fn unescape(v: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && matches!(v.get(i + 1), Some(b'"' | b'\\' | b']')) {
            i += 1;
        }
        out.push(v[i]);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{f, p, recvd};
    use super::BAD_SD;
    use crate::message::days_from_civil;
    use crate::message::{Field, Flags};

    fn err(s: &[u8]) -> Option<&'static str> {
        let m = p(s);
        if m.flags.contains(Flags::PARSE_ERROR) {
            assert_eq!(m.get(Field::Message), Some(s));
            assert_eq!((m.pri, m.get(Field::Host), m.stamp), (13, None, recvd()));
            assert_eq!(m.pairs().count(), 0);
        }
        m.error
    }

    #[test]
    fn rfc_examples() {
        let m = p(
            b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed",
        );
        assert_eq!(m.pri, 34);
        assert_eq!(
            m.stamp.secs,
            days_from_civil(2003, 10, 11) * 86_400 + 22 * 3600 + 14 * 60 + 15
        );
        assert_eq!(m.stamp.nanos, 3_000_000);
        assert_eq!(f(&m, Field::Host), Some("mymachine.example.com"));
        assert_eq!(f(&m, Field::Program), Some("su"));
        assert_eq!(f(&m, Field::Pid), None);
        assert_eq!(f(&m, Field::MsgId), Some("ID47"));
        assert_eq!(f(&m, Field::Sdata), None);
        assert_eq!(f(&m, Field::Message), Some("'su root' failed"));
        assert!(m.flags.contains(Flags::UTF8_BOM));

        let m = p(
            br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event"#,
        );
        assert_eq!(m.pair(b".SDATA.exampleSDID@32473.iut"), Some(&b"3"[..]));
        assert_eq!(
            m.pair(b".SDATA.exampleSDID@32473.eventSource"),
            Some(&b"Application"[..])
        );
        assert_eq!(
            m.pair(b".SDATA.examplePriority@32473.class"),
            Some(&b"high"[..])
        );
        assert_eq!(m.pairs().count(), 4);
        assert!(f(&m, Field::Sdata).unwrap().ends_with(r#"class="high"]"#));
        assert_eq!(f(&m, Field::Message), Some("An application event"));
        assert!(!m.flags.contains(Flags::UTF8_BOM));

        let m = p(br#"<165>1 2003-10-11T22:14:15.003Z host app 1 - [meta seq="1"]"#);
        assert_eq!(m.pair(b".SDATA.meta.seq"), Some(&b"1"[..]));
        assert_eq!(f(&m, Field::Message), Some(""));
    }

    #[test]
    fn nil_values() {
        let m = p(b"<13>1 - - - - - - hello");
        assert_eq!(m.stamp, recvd());
        for x in [
            Field::Host,
            Field::Program,
            Field::Pid,
            Field::MsgId,
            Field::Sdata,
        ] {
            assert_eq!(m.get(x), None);
        }
        assert_eq!(f(&m, Field::Message), Some("hello"));
        let m = p(b"<13>1 - - - - - -");
        assert_eq!((f(&m, Field::Message), m.error), (Some(""), None));
    }

    #[test]
    fn escapes_in_values() {
        let m = p(br#"<13>1 - h a - - [req@32473 status="a\"b\\c\]d\e" plain="x y"] m"#);
        assert_eq!(
            m.pair(b".SDATA.req@32473.status"),
            Some(&br#"a"b\c]d\e"#[..])
        );
        assert_eq!(m.pair(b".SDATA.req@32473.plain"), Some(&b"x y"[..]));
        let m = p(br#"<13>1 - h a - - [x@1 v=""][empty] m"#);
        assert_eq!(m.pair(b".SDATA.x@1.v"), Some(&b""[..]));
        assert_eq!(m.pair(b".SDATA.empty"), Some(&b""[..]));
        // An unquoted value is rejected, as syslog-ng 3.38 rejects it.
        let m = p(br#"<13>1 - h a - - [x@1 v=unquoted] m"#);
        assert_eq!(m.error, Some(BAD_SD));
    }

    #[test]
    fn sdata_doubles_a_backslash_that_escapes_nothing() {
        // syslog-ng renders SDATA from the values, so `\e` (no escape) shows as
        // `\\e`, while real escapes show as sent.
        let m = p(br#"<13>1 - h a - - [req@32473 status="a\"b\\c\]d\e"][x y="1"] m"#);
        assert_eq!(
            f(&m, Field::Sdata),
            Some(r#"[req@32473 status="a\"b\\c\]d\\e"][x y="1"]"#)
        );
        let m = p(br#"<13>1 - h a - - [x y="\"1\""] m"#);
        assert_eq!(f(&m, Field::Sdata), Some(r#"[x y="\"1\""]"#));
    }

    #[test]
    fn header_fields_are_cut_to_rfc_lengths() {
        let app = "a".repeat(60);
        let s = format!("<13>1 - h {app} - - - m");
        let m = p(s.as_bytes());
        assert_eq!(m.get(Field::Program).unwrap().len(), 48);
    }

    #[test]
    fn malformed_headers_are_parse_errors() {
        assert_eq!(err(b"<13>1 "), Some("bad RFC 5424 timestamp"));
        assert_eq!(err(b"<13>1 -"), Some("truncated RFC 5424 header"));
        assert_eq!(err(b"<13>1 - host app"), Some("truncated RFC 5424 header"));
        assert_eq!(
            err(b"<13>1 2026-11-23T25:00:00Z h a - - - m"),
            Some("bad RFC 5424 timestamp")
        );
        assert_eq!(
            err(b"<13>1 Nov 23 14:07:17 h a - - - m"),
            Some("bad RFC 5424 timestamp")
        );
        assert_eq!(
            err(b"<13>1 2026-11-23T14:07:17Zx h a - - - m"),
            Some("bad RFC 5424 timestamp")
        );
        for sd in [
            &br#"[a b="c""#[..],
            br#"[a b="c"#,
            br#"[a b="c]" x"#,
            br#"[a b="c"x]"#,
            br#"[a b]"#,
            br#"[ b="c"]"#,
            br#"[a  b="c"]"#,
            b"[]",
            b"[",
            b"nosd message",
            br#"[a b="c"]x"#,
            br#"[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b="c"]"#,
            br#"[a bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb="c"]"#,
            b"[a\x01 b=\"c\"]",
        ] {
            let mut s = b"<13>1 - h a - - ".to_vec();
            s.extend_from_slice(sd);
            assert_eq!(
                err(&s),
                Some("bad structured data"),
                "{}",
                String::from_utf8_lossy(&s)
            );
        }
        // 32 characters is the limit, not over it
        let m = p(br#"<13>1 - h a - - [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b="c"] m"#);
        assert_eq!(m.error, None);
    }

    #[test]
    fn garbage_after_a_5424_prefix_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let set = br#"[]"=\ -@abc1T:Z.+"#;
        for n in 0..20_000 {
            let mut v = b"<13>1 ".to_vec();
            if n % 2 == 0 {
                v.extend_from_slice(b"- h a p m ");
            }
            for _ in 0..n % 60 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                v.push(if seed.is_multiple_of(5) {
                    seed as u8
                } else {
                    set[(seed >> 8) as usize % set.len()]
                });
            }
            let m = p(&v);
            assert!(m.get(Field::Message).is_some());
            if m.error.is_some() {
                assert!(v.starts_with(m.raw()));
                assert_eq!(m.get(Field::Message), Some(m.raw()));
                assert_eq!(m.pairs().count(), 0);
            }
        }
    }
}
