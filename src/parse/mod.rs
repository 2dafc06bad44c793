//! Syslog parsers: RFC 3164 and RFC 5424 frames into messages.
//!
//! [`parse`] takes one frame (as cut by `sources/network/framing.rs`, or one UDP
//! datagram), trims the trailing `\n`, `\r` and `\0` bytes syslog-ng trims, picks
//! the format per message (`<PRI>1 ` starts RFC 5424, anything else is read with
//! the lenient RFC 3164 heuristics of syslog-ng's `syslog-format.c`), and fills a
//! [`Message`] whose fields are byte ranges of the frame: the happy path allocates
//! nothing for RFC 3164 and only the structured-data pairs for RFC 5424.
//!
//! Malformed input is never dropped and never panics: it becomes a message with
//! `Flags::PARSE_ERROR`, a short `error`, the whole trimmed frame as MESSAGE,
//! pri 13 and the receive time as stamp. This module owns no I/O and no framing;
//! TRUNCATED and CONTINUATION flags come from the framer and are the caller's to set.

mod rfc3164;
mod rfc5424;
mod stamp;

use crate::message::{Field, Flags, Message, Slot, Timestamp, Zone};
use bytes::Bytes;
use std::net::SocketAddr;

/// Source options that steer parsing (the `flags()` and zone options of
/// `network()` and `syslog()` sources).
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// `flags(no-parse)`: the whole frame is MESSAGE, pri 13, nothing else is parsed.
    pub no_parse: bool,
    /// `recv-time-zone()`: the zone assumed for timestamps that carry none
    /// (every BSD stamp). Default: the machine's zone.
    pub zone: Zone,
    /// `flags(no-hostname)`: RFC 3164 messages never carry a HOST field.
    pub no_hostname: bool,
    /// `options { bad-hostname() }`: an RFC 3164 word in the hostname's place
    /// that matches is not a hostname (it is read as the program).
    pub bad_hostname: Option<HostPattern>,
    /// `flags(no-multi-line)`: line breaks inside the frame become spaces.
    pub no_multi_line: bool,
    /// `flags(store-raw-message)`: `${RAWMSG}` shows the frame (else it is empty).
    pub store_raw: bool,
}

/// A compiled `bad-hostname()` pattern; equal when written the same, so plans
/// can be compared.
#[derive(Clone, Debug)]
pub struct HostPattern(pub regex::bytes::Regex);

impl PartialEq for HostPattern {
    fn eq(&self, other: &HostPattern) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions {
            no_parse: false,
            zone: Zone::Local,
            no_hostname: false,
            bad_hostname: None,
            no_multi_line: false,
            store_raw: false,
        }
    }
}

/// Parses one frame into a message. `recvd` is the receive time (and the stamp
/// when the frame carries none), `peer` the sender.
///
/// An empty frame (or one of only `\n`/`\r`/`\0`) yields a message with an empty
/// MESSAGE, pri 13 and no error, as syslog-ng does; skipping it is the caller's call.
pub fn parse(
    mut frame: Bytes,
    recvd: Timestamp,
    peer: Option<SocketAddr>,
    opts: &ParseOptions,
) -> Message {
    let len = trimmed_len(&frame);
    frame.truncate(len);
    // As syslog-ng: each CR and LF becomes a space (a copy only when there is
    // one); RAWMSG still shows the frame as it came.
    let mut original = None;
    if opts.no_multi_line && memchr::memchr2(b'\n', b'\r', &frame).is_some() {
        let flat: Vec<u8> = frame
            .iter()
            .map(|&c| if c == b'\n' || c == b'\r' { b' ' } else { c })
            .collect();
        original = opts.store_raw.then(|| frame.clone());
        frame = Bytes::from(flat);
    }
    // The message is built once here and filled in place: it is a few hundred
    // bytes, and moving it through each layer showed up in profiles.
    let rfc5424 = !opts.no_parse && is_rfc5424(&frame);
    // RFC 5424 reads the frame through a second handle while it pushes pairs:
    // one reference-count increment.
    let second = rfc5424.then(|| frame.clone());
    let mut msg = Message::new(frame, recvd);
    msg.peer = peer;
    if opts.no_parse {
        msg.set(Field::Message, Slot::raw(0, len));
    } else if let Some(b) = second {
        if let Err(why) = rfc5424::fill(&b, &mut msg, opts) {
            msg = Message::new(b, recvd);
            msg.peer = peer;
            set_error(&mut msg, why);
        }
    } else {
        rfc3164::fill(&mut msg, opts);
    }
    // Set once the message is final: a failed RFC 5424 parse starts it over.
    if opts.store_raw {
        msg.flags.insert(Flags::RAW_KEPT);
    }
    if let Some(raw) = original {
        msg.push_owned_pair(RAWMSG_PAIR, &raw);
    }
    msg
}

/// Where RAWMSG is kept when the frame itself was changed (no-multi-line).
pub const RAWMSG_PAIR: &[u8] = b"RAWMSG";

/// A frame of nothing but `\n`, `\r` and `\0`: a blank line, which stream
/// sources drop (as syslog-ng does) instead of logging an empty message.
pub fn is_blank(frame: &[u8]) -> bool {
    trimmed_len(frame) == 0
}

/// Length of the frame without trailing `\n`, `\r` and `\0`.
fn trimmed_len(b: &[u8]) -> usize {
    let mut n = b.len();
    while n > 0 && matches!(b[n - 1], b'\n' | b'\r' | 0) {
        n -= 1;
    }
    n
}

/// `<PRI>1 `: the version field that marks RFC 5424.
fn is_rfc5424(b: &[u8]) -> bool {
    match scan_pri(b) {
        Ok(Some((_, end))) => b.get(end..end + 2) == Some(b"1 "),
        _ => false,
    }
}

/// `<PRI>` at the start of `b`: `Ok(None)` when there is none (the frame does not
/// start with `<`), `Ok(Some((pri, end)))`, or `Err` for a `<` that does not
/// open a valid PRI (no digits, more than three, no `>`, above 191).
fn scan_pri(b: &[u8]) -> Result<Option<(u8, usize)>, &'static str> {
    if b.first() != Some(&b'<') {
        return Ok(None);
    }
    let mut v = 0u32;
    let mut i = 1;
    while i < b.len() && i <= 4 {
        match b[i] {
            c @ b'0'..=b'9' => v = v * 10 + (c - b'0') as u32,
            b'>' if i > 1 && v <= 191 => return Ok(Some((v as u8, i + 1))),
            _ => break,
        }
        i += 1;
    }
    Err("bad PRI")
}

/// Marks a fresh message as unparsed: the whole frame is MESSAGE.
fn set_error(m: &mut Message, why: &'static str) {
    m.set(Field::Message, Slot::raw(0, m.raw().len()));
    m.flags.insert(Flags::PARSE_ERROR);
    m.error = Some(why);
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn recvd() -> Timestamp {
        // 2026-11-23T15:00:00Z
        Timestamp {
            secs: 1_795_446_000,
            nanos: 0,
            offset: 0,
        }
    }

    pub(crate) fn utc() -> ParseOptions {
        ParseOptions {
            zone: Zone::UTC,
            ..ParseOptions::default()
        }
    }

    pub(crate) fn p(s: &[u8]) -> Message {
        parse(Bytes::copy_from_slice(s), recvd(), None, &utc())
    }

    pub(crate) fn f(m: &Message, field: Field) -> Option<&str> {
        m.get(field).map(|v| std::str::from_utf8(v).unwrap())
    }

    #[test]
    fn trims_trailing_newlines_carriage_returns_and_nuls() {
        let m = p(b"<13>hello world\r\n\0\n");
        assert_eq!(m.raw(), b"<13>hello world");
        assert_eq!(f(&m, Field::Message), Some("world"));
    }

    #[test]
    fn empty_frame_is_an_empty_message_not_an_error() {
        for s in [&b""[..], b"\n", b"\r\n", b"\0"] {
            let m = p(s);
            assert!(!m.flags.contains(Flags::PARSE_ERROR));
            assert_eq!(m.pri, 13);
            assert_eq!(f(&m, Field::Message), Some(""));
            assert_eq!(m.stamp, recvd());
        }
    }

    #[test]
    fn no_parse_keeps_the_whole_frame() {
        let o = ParseOptions {
            no_parse: true,
            ..utc()
        };
        let peer: SocketAddr = "127.0.0.1:514".parse().unwrap();
        let m = parse(
            Bytes::from_static(b"<38>1 - h a - - - x\n"),
            recvd(),
            Some(peer),
            &o,
        );
        assert_eq!(f(&m, Field::Message), Some("<38>1 - h a - - - x"));
        assert_eq!((m.pri, m.get(Field::Host), m.peer), (13, None, Some(peer)));
    }

    #[test]
    fn detects_the_format_per_message() {
        assert!(is_rfc5424(b"<165>1 2003-10-11T22:14:15.003Z"));
        assert!(!is_rfc5424(b"<165>12 x"));
        assert!(!is_rfc5424(b"<165>1"));
        assert!(!is_rfc5424(b"1 2003"));
        assert!(!is_rfc5424(b"<999>1 x"));
    }

    #[test]
    fn bad_pri_is_a_parse_error_with_the_whole_frame() {
        for s in [
            &b"<999>Nov 23 14:07:17 h p: m"[..],
            b"<abc>hello",
            b"<>x",
            b"<13",
            b"<0013>x",
            b"<192>x",
        ] {
            let m = p(s);
            assert!(m.flags.contains(Flags::PARSE_ERROR), "{s:?}");
            assert_eq!(m.error, Some("bad PRI"));
            assert_eq!(m.get(Field::Message), Some(s));
            assert_eq!((m.pri, m.get(Field::Host), m.stamp), (13, None, recvd()));
        }
        let m = p(b"<191>x");
        assert_eq!((m.pri, m.error), (191, None));
        let m = p(b"<0>x");
        assert_eq!((m.pri, m.error), (0, None));
    }

    /// A bounded fuzz run: mutated RFC 3164, RFC 5424 and Cisco frames never
    /// panic the parser, and every field it fills lies inside the message.
    #[test]
    fn mutated_frames_never_panic() {
        const SEEDS: &[&[u8]] = &[
            b"<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed",
            b"<165>1 2003-10-11T22:14:15.003Z host app 42 ID47 [ex@1 a=\"b\\\"c\" d=\"e\\]f\"][x y=\"1\"] \xEF\xBB\xBFmsg",
            b"<187>58: *Mar  1 00:00:00.123: %LINK-3-UPDOWN: Interface down",
            b"<13>2026-11-23T14:07:17.123456+05:30 h p[1]: iso",
            b"<13>Nov 23 14:07:17 Message forwarded from aix: prog: x",
            b"12 <13>leaked count",
        ];
        const SPECIAL: &[u8] = b"<>[]\"\\: =-.*0123456789\0\n\r\xff";
        let mut seed = 0x853c_49e6_748f_ea9bu64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let options = [
            utc(),
            ParseOptions {
                no_multi_line: true,
                store_raw: true,
                no_hostname: true,
                ..utc()
            },
        ];
        for round in 0..3000 {
            let mut frame = SEEDS[round % SEEDS.len()].to_vec();
            for _ in 0..1 + rnd() % 6 {
                let at = (rnd() as usize) % (frame.len() + 1);
                let c = SPECIAL[(rnd() as usize) % SPECIAL.len()];
                match rnd() % 4 {
                    0 if at < frame.len() => frame[at] = c,
                    1 => frame.insert(at, c),
                    2 if at < frame.len() => {
                        frame.remove(at);
                    }
                    _ => frame.truncate(at),
                }
            }
            let opts = &options[round % options.len()];
            let m = parse(Bytes::copy_from_slice(&frame), recvd(), None, opts);
            for field in [
                Field::Host,
                Field::Program,
                Field::Pid,
                Field::MsgId,
                Field::Message,
                Field::Sdata,
                Field::LegacyMsgHdr,
            ] {
                if let Some(v) = m.get(field) {
                    assert!(v.len() <= 2 * frame.len() + 64, "{frame:?}");
                }
            }
            assert!(m.raw().len() <= frame.len());
            assert!(m.pairs().count() <= frame.len());
        }
    }
}
