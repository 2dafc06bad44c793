//! Stream framing for TCP (and TLS) syslog: turns a connection's byte stream into
//! frames, without copying: [`Framer::next`] returns ranges into the caller's read
//! buffer. A partial frame is a normal state ([`Next::NeedMore`]), not an error.
//!
//! Two framings exist (RFC 6587): octet counting (`LEN SP MSG`) and newline
//! delimiting. [`Mode::Auto`] picks one per connection from its first bytes:
//! octet counting only when they read `LEN SP <`, the start of a counted syslog
//! frame, so a newline-framed line that merely starts with a number (`12345
//! hello`, an ISO date) keeps newline framing. Frames longer than `log-msg-size()` are cut
//! ([`Oversize::Truncate`]) or split ([`Oversize::Split`]); a bad octet-count
//! header is passed on as a `malformed` frame and the framer resynchronises at the
//! next newline. Every call with a non-empty buffer either returns a frame, skips
//! bytes or asks for more; it never stalls once the buffer holds
//! [`Framer::buffer_size`] bytes, and never panics on a peer's bytes. This module
//! does no I/O and no parsing.
//!
//! The reader's loop:
//! ```
//! # use sluice::sources::network::framing::{Framer, Mode, Next, Oversize};
//! let mut framer = Framer::new(Mode::Auto, 65536, Oversize::Truncate);
//! let mut buf: Vec<u8> = b"12 <13>hi there".to_vec(); // filled by reads
//! let mut pos = 0;
//! loop {
//!     match framer.next(&buf[pos..]) {
//!         Next::Frame(frame, used) => {
//!             let text = &buf[pos..][frame.range.clone()];
//!             # assert_eq!(text, b"<13>hi there");
//!             pos += used;
//!         }
//!         Next::Skip(used) => pos += used,
//!         Next::NeedMore => break, // compact buf[pos..] to the front and read again
//!     }
//! }
//! // At EOF: framer.finish(&buf[pos..]) gives the unterminated tail, if any.
//! ```

use std::ops::Range;

/// How a connection frames its messages (`transport()` / framing options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Decided on the first bytes of the connection: `LEN SP <` (1-10 digits, no
    /// leading zero) means octet counting, anything else newline delimiting.
    #[default]
    Auto,
    /// RFC 6587 octet counting: `LEN SP MSG`.
    OctetCounted,
    /// Frames end at `\n` or NUL (non-transparent framing).
    Newline,
}

/// What to do with a frame longer than `log-msg-size()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Oversize {
    /// Keep the first `max_size` bytes (flagged `truncated`), drop the rest.
    #[default]
    Truncate,
    /// Pass it on in `max_size` pieces; all but the first are `continuation`s.
    Split,
}

/// One frame: a range of the buffer given to [`Framer::next`] or
/// [`Framer::finish`], without the delimiter or the octet-count header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    pub range: Range<usize>,
    /// The sender's frame was longer than `max_size` (or, at EOF, shorter than its
    /// octet count promised) and this is only its start.
    pub truncated: bool,
    /// The first piece of a frame split by [`Oversize::Split`].
    pub split: bool,
    /// A later piece of a frame split by [`Oversize::Split`].
    pub continuation: bool,
    /// The bytes did not start with a valid octet-count header; the frame holds
    /// them up to the next newline (header included).
    pub malformed: bool,
}

/// What [`Framer::next`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// A frame, and how many bytes of the buffer to consume (frame, header and
    /// delimiter).
    Frame(Frame, usize),
    /// Bytes to consume without a frame (the rest of a truncated frame, blank
    /// lines between octet-counted frames).
    Skip(usize),
    /// The buffer holds no complete frame: read more (keep the unconsumed bytes).
    NeedMore,
}

/// RFC 6587: the length has at most 10 digits (syslog-ng's limit too).
const MAX_LEN_DIGITS: usize = 10;
/// A declared length above this (and above `max_size`) is garbage, not a frame:
/// trusting it would discard or split hundreds of megabytes of the stream.
const ABSURD_LEN: u64 = 256 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    /// Discard through the next `\n` (the rest of a truncated line).
    SkipLine,
    /// Discard this many more bytes (the rest of a truncated counted frame).
    SkipBytes(u64),
    /// The next piece of the line continues a split frame.
    ContinueLine,
    /// This many bytes of a split counted frame are still to come.
    ContinueBytes(u64),
}

/// Per-connection framing state. See the module documentation.
#[derive(Clone, Debug)]
pub struct Framer {
    mode: Mode,
    max_size: usize,
    oversize: Oversize,
    state: State,
}

impl Framer {
    /// `max_size` is `log-msg-size()`; zero is taken as one (config validation
    /// rejects it before it gets here).
    pub fn new(mode: Mode, max_size: usize, oversize: Oversize) -> Framer {
        Framer {
            mode,
            max_size: max_size.max(1),
            oversize,
            state: State::Idle,
        }
    }

    /// The framing in use: `Auto` until the first byte has been seen.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The smallest read buffer with which the framer always makes progress: a
    /// full frame plus its header or delimiter.
    pub fn buffer_size(&self) -> usize {
        self.max_size + MAX_LEN_DIGITS + 2
    }

    /// The next frame at the start of `buf` (the bytes not yet consumed).
    pub fn next(&mut self, buf: &[u8]) -> Next {
        if buf.is_empty() {
            return Next::NeedMore;
        }
        match self.state {
            State::SkipLine => match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    self.state = State::Idle;
                    Next::Skip(i + 1)
                }
                None => Next::Skip(buf.len()),
            },
            State::SkipBytes(n) => {
                let k = n.min(buf.len() as u64);
                self.state = if k == n {
                    State::Idle
                } else {
                    State::SkipBytes(n - k)
                };
                Next::Skip(k as usize)
            }
            State::ContinueLine => self.line(buf, true),
            State::ContinueBytes(n) => {
                let chunk = n.min(self.max_size as u64) as usize;
                if buf.len() < chunk {
                    return Next::NeedMore;
                }
                let rest = n - chunk as u64;
                self.state = if rest == 0 {
                    State::Idle
                } else {
                    State::ContinueBytes(rest)
                };
                let frame = Frame {
                    range: 0..chunk,
                    continuation: true,
                    ..Frame::default()
                };
                Next::Frame(frame, chunk)
            }
            State::Idle => {
                if self.mode == Mode::Auto {
                    match detect(buf) {
                        Some(mode) => self.mode = mode,
                        None => return Next::NeedMore,
                    }
                }
                match self.mode {
                    Mode::OctetCounted => self.counted(buf),
                    _ => self.line(buf, false),
                }
            }
        }
    }

    /// At EOF: the unterminated tail of the stream as a last frame (None when
    /// there is nothing to deliver). The caller drops all of `buf` afterwards.
    pub fn finish(&mut self, buf: &[u8]) -> Option<Frame> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        if buf.is_empty() {
            return None;
        }
        let max = self.max_size;
        let head = |continuation, malformed| Frame {
            range: 0..buf.len().min(max),
            truncated: buf.len() > max,
            continuation,
            malformed,
            ..Frame::default()
        };
        match state {
            State::SkipLine | State::SkipBytes(_) => None,
            State::ContinueLine => Some(head(true, false)),
            State::ContinueBytes(_) => Some(Frame {
                truncated: true,
                ..head(true, false)
            }),
            State::Idle => {
                if self.mode == Mode::Auto {
                    // Undecided at EOF: the bytes never became `LEN SP <`.
                    self.mode = detect(buf).unwrap_or(Mode::Newline);
                }
                if self.mode != Mode::OctetCounted {
                    return Some(head(false, false));
                }
                let blank = blank_run(buf);
                let buf = &buf[blank..];
                if buf.is_empty() {
                    return None;
                }
                Some(match self.header(buf) {
                    Header::Valid(h, len) => {
                        // The peer closed mid-frame: deliver what came, marked cut.
                        let end = buf.len().min(h + (len as usize).min(max));
                        Frame {
                            range: blank + h..blank + end,
                            truncated: true,
                            ..Frame::default()
                        }
                    }
                    Header::Partial | Header::Malformed => Frame {
                        range: blank..blank + buf.len().min(max),
                        truncated: buf.len() > max,
                        malformed: true,
                        ..Frame::default()
                    },
                })
            }
        }
    }

    fn line(&mut self, buf: &[u8], continuation: bool) -> Next {
        let max = self.max_size;
        let window = &buf[..buf.len().min(max + 1)];
        // A NUL ends a line too, as in syslog-ng's text framing (some senders
        // terminate messages with NUL instead of a newline).
        if let Some(i) = memchr::memchr2(b'\n', 0, window) {
            self.state = State::Idle;
            let frame = Frame {
                range: 0..i,
                continuation,
                ..Frame::default()
            };
            return Next::Frame(frame, i + 1);
        }
        if buf.len() <= max {
            return Next::NeedMore;
        }
        let truncated = self.oversize == Oversize::Truncate;
        self.state = if truncated {
            State::SkipLine
        } else {
            State::ContinueLine
        };
        let frame = Frame {
            range: 0..max,
            truncated,
            split: !truncated && !continuation,
            continuation,
            ..Frame::default()
        };
        Next::Frame(frame, max)
    }

    fn counted(&mut self, buf: &[u8]) -> Next {
        // Some senders end counted frames with a newline anyway; skip blank bytes
        // between frames rather than calling them malformed.
        let blank = blank_run(buf);
        if blank > 0 {
            return Next::Skip(blank);
        }
        let (h, len) = match self.header(buf) {
            Header::Valid(h, len) => (h, len),
            Header::Partial => return Next::NeedMore,
            Header::Malformed => return self.malformed(buf),
        };
        let max = self.max_size;
        if len <= max as u64 {
            let end = h + len as usize;
            if buf.len() < end {
                return Next::NeedMore;
            }
            return Next::Frame(
                Frame {
                    range: h..end,
                    ..Frame::default()
                },
                end,
            );
        }
        if buf.len() < h + max {
            return Next::NeedMore;
        }
        let rest = len - max as u64;
        let truncated = self.oversize == Oversize::Truncate;
        self.state = if truncated {
            State::SkipBytes(rest)
        } else {
            State::ContinueBytes(rest)
        };
        let frame = Frame {
            range: h..h + max,
            truncated,
            split: !truncated,
            ..Frame::default()
        };
        Next::Frame(frame, h + max)
    }

    /// The octet-count header at the start of `buf`, with absurd lengths refused.
    fn header(&self, buf: &[u8]) -> Header {
        match header(buf) {
            Header::Valid(_, len) if len > ABSURD_LEN.max(self.max_size as u64) => {
                Header::Malformed
            }
            h => h,
        }
    }

    /// Bytes that do not start with a valid header: up to the next newline (or
    /// `max_size` of them) become one malformed frame, then framing starts over.
    fn malformed(&mut self, buf: &[u8]) -> Next {
        let max = self.max_size;
        let window = &buf[..buf.len().min(max + 1)];
        if let Some(i) = memchr::memchr(b'\n', window) {
            let frame = Frame {
                range: 0..i,
                malformed: true,
                ..Frame::default()
            };
            return Next::Frame(frame, i + 1);
        }
        if buf.len() <= max {
            return Next::NeedMore;
        }
        let frame = Frame {
            range: 0..max,
            truncated: true,
            malformed: true,
            ..Frame::default()
        };
        Next::Frame(frame, max)
    }
}

/// The framing the first bytes of a connection show, `None` while they could
/// still become `LEN SP <` (at most 12 bytes are needed to tell).
fn detect(buf: &[u8]) -> Option<Mode> {
    if !matches!(buf.first(), Some(b'1'..=b'9')) {
        return Some(Mode::Newline);
    }
    let digits = buf
        .iter()
        .take(MAX_LEN_DIGITS + 1)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits > MAX_LEN_DIGITS {
        return Some(Mode::Newline);
    }
    match (buf.get(digits), buf.get(digits + 1)) {
        (None, _) | (Some(b' '), None) => None,
        (Some(b' '), Some(b'<')) => Some(Mode::OctetCounted),
        _ => Some(Mode::Newline),
    }
}

fn blank_run(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|c| matches!(c, b'\n' | b'\r'))
        .count()
}

enum Header {
    /// (header length including the space, declared length)
    Valid(usize, u64),
    /// Only digits so far: more bytes are needed to tell.
    Partial,
    Malformed,
}

/// `LEN SP`: 1-10 digits without a leading zero, then one space. A lone `0 ` is
/// taken as the empty frame it says it is (RFC 6587 forbids it, but reading it
/// as garbage would swallow the next frame with it).
fn header(buf: &[u8]) -> Header {
    let n = buf
        .iter()
        .take(MAX_LEN_DIGITS + 1)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n == 0 || n > MAX_LEN_DIGITS || (buf[0] == b'0' && n > 1) {
        return Header::Malformed;
    }
    match buf.get(n) {
        None => Header::Partial,
        Some(b' ') => {
            let len = buf[..n]
                .iter()
                .fold(0u64, |v, c| v * 10 + (c - b'0') as u64);
            Header::Valid(n + 1, len)
        }
        Some(_) => Header::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (bytes, truncated, continuation, malformed)
    type Got = (Vec<u8>, bool, bool, bool);

    /// Drives a framer the way a reader does: appends each piece to a buffer,
    /// takes frames until NeedMore, compacts, and calls `finish` at the end.
    /// Asserts progress and bounds on every step.
    fn run(mode: Mode, max: usize, over: Oversize, pieces: &[&[u8]]) -> Vec<Got> {
        let mut f = Framer::new(mode, max, over);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let take = |buf: &[u8], fr: &Frame, out: &mut Vec<Got>| {
            assert!(fr.range.start <= fr.range.end && fr.range.end <= buf.len());
            assert!(fr.range.len() <= max);
            out.push((
                buf[fr.range.clone()].to_vec(),
                fr.truncated,
                fr.continuation,
                fr.malformed,
            ));
        };
        for piece in pieces {
            buf.extend_from_slice(piece);
            let mut pos = 0;
            loop {
                match f.next(&buf[pos..]) {
                    Next::Frame(fr, used) => {
                        assert!(used > 0 && used <= buf.len() - pos);
                        take(&buf[pos..], &fr, &mut out);
                        pos += used;
                    }
                    Next::Skip(used) => {
                        assert!(used > 0 && used <= buf.len() - pos);
                        pos += used;
                    }
                    Next::NeedMore => break,
                }
            }
            buf.drain(..pos);
            assert!(
                buf.len() < f.buffer_size(),
                "stalled with {} bytes",
                buf.len()
            );
        }
        if let Some(fr) = f.finish(&buf) {
            take(&buf, &fr, &mut out);
        }
        out
    }

    fn plain(v: &[Got]) -> Vec<&[u8]> {
        v.iter().map(|g| &g.0[..]).collect()
    }

    /// The same stream fed whole, a byte at a time, and in pseudo-random pieces.
    fn all_ways(mode: Mode, max: usize, over: Oversize, stream: &[u8]) -> Vec<Got> {
        let whole = run(mode, max, over, &[stream]);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(run(mode, max, over, &bytes), whole, "1-byte pieces");
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20 {
            let mut pieces = Vec::new();
            let mut rest = stream;
            while !rest.is_empty() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let n = (seed as usize % 37 + 1).min(rest.len());
                pieces.push(&rest[..n]);
                rest = &rest[n..];
            }
            assert_eq!(run(mode, max, over, &pieces), whole, "random pieces");
        }
        whole
    }

    #[test]
    fn newline_frames_and_unterminated_tail() {
        let got = all_ways(
            Mode::Auto,
            100,
            Oversize::Truncate,
            b"<13>one\n<13>two\r\n\n<13>tail",
        );
        assert_eq!(
            plain(&got),
            [&b"<13>one"[..], b"<13>two\r", b"", b"<13>tail"]
        );
        assert!(got.iter().all(|g| !g.1 && !g.2 && !g.3));
    }

    #[test]
    fn octet_counted_frames() {
        let stream = b"7 <13>one9 <13>two\nx\n\n3 abc";
        let got = all_ways(Mode::Auto, 100, Oversize::Truncate, stream);
        assert_eq!(plain(&got), [&b"<13>one"[..], b"<13>two\nx", b"abc"]);
        let mut f = Framer::new(Mode::Auto, 100, Oversize::Truncate);
        assert_eq!(f.next(b"7 <13>"), Next::NeedMore);
        assert_eq!(f.mode(), Mode::OctetCounted);
        // a frame whose payload is exactly max_size is whole
        let got = all_ways(Mode::OctetCounted, 3, Oversize::Truncate, b"3 abc3 def");
        assert_eq!(plain(&got), [&b"abc"[..], b"def"]);
        assert!(got.iter().all(|g| !g.1));
    }

    #[test]
    fn octet_counted_cut_at_eof_is_delivered_truncated() {
        let got = all_ways(
            Mode::OctetCounted,
            100,
            Oversize::Truncate,
            b"3 abc10 hello",
        );
        assert_eq!(
            got,
            [
                (b"abc".to_vec(), false, false, false),
                (b"hello".to_vec(), true, false, false)
            ]
        );
        let got = all_ways(Mode::OctetCounted, 100, Oversize::Truncate, b"3 abc12");
        assert_eq!(got[1], (b"12".to_vec(), false, false, true));
    }

    #[test]
    fn newline_oversize_truncate_and_split() {
        let stream = b"abcdefghij\nxy\nabcd\nabcde\n";
        let got = all_ways(Mode::Newline, 4, Oversize::Truncate, stream);
        assert_eq!(
            got,
            [
                (b"abcd".to_vec(), true, false, false),
                (b"xy".to_vec(), false, false, false),
                (b"abcd".to_vec(), false, false, false),
                (b"abcd".to_vec(), true, false, false),
            ]
        );
        let got = all_ways(Mode::Newline, 4, Oversize::Split, stream);
        assert_eq!(
            got,
            [
                (b"abcd".to_vec(), false, false, false),
                (b"efgh".to_vec(), false, true, false),
                (b"ij".to_vec(), false, true, false),
                (b"xy".to_vec(), false, false, false),
                (b"abcd".to_vec(), false, false, false),
                (b"abcd".to_vec(), false, false, false),
                (b"e".to_vec(), false, true, false),
            ]
        );
        // a truncated line that never ends is dropped at EOF, a split one is not
        let got = all_ways(Mode::Newline, 4, Oversize::Truncate, b"abcdefgh");
        assert_eq!(plain(&got), [&b"abcd"[..]]);
        let got = all_ways(Mode::Newline, 4, Oversize::Split, b"abcdefghij");
        assert_eq!(plain(&got), [&b"abcd"[..], b"efgh", b"ij"]);
    }

    #[test]
    fn octet_oversize_truncate_and_split() {
        let stream = b"10 abcdefghij2 xy";
        let got = all_ways(Mode::OctetCounted, 4, Oversize::Truncate, stream);
        assert_eq!(
            got,
            [
                (b"abcd".to_vec(), true, false, false),
                (b"xy".to_vec(), false, false, false)
            ]
        );
        let got = all_ways(Mode::OctetCounted, 4, Oversize::Split, stream);
        assert_eq!(
            got,
            [
                (b"abcd".to_vec(), false, false, false),
                (b"efgh".to_vec(), false, true, false),
                (b"ij".to_vec(), false, true, false),
                (b"xy".to_vec(), false, false, false),
            ]
        );
    }

    #[test]
    fn huge_counts_are_skipped_across_reads() {
        // A 1 MB frame with a 16-byte limit: truncated, then skipped without
        // buffering it, and the next frame is intact.
        let mut stream = b"1000000 ".to_vec();
        stream.extend(std::iter::repeat_n(b'x', 1_000_000));
        stream.extend_from_slice(b"5 after");
        let pieces: Vec<&[u8]> = stream.chunks(4096).collect();
        let got = run(Mode::OctetCounted, 16, Oversize::Truncate, &pieces);
        assert_eq!(
            got,
            [
                (vec![b'x'; 16], true, false, false),
                (b"after".to_vec(), false, false, false)
            ]
        );
        // absurd and over-long counts are malformed, not trusted
        let got = all_ways(
            Mode::OctetCounted,
            64,
            Oversize::Truncate,
            b"9999999999 x\n12345678901 y\n3 abc",
        );
        assert_eq!(
            got,
            [
                (b"9999999999 x".to_vec(), false, false, true),
                (b"12345678901 y".to_vec(), false, false, true),
                (b"abc".to_vec(), false, false, false),
            ]
        );
    }

    #[test]
    fn bad_headers_resynchronise_at_newlines() {
        let stream = b"5 hello00 x\n12x bad\n<13>not counted\n6  again5 world";
        let got = all_ways(Mode::OctetCounted, 64, Oversize::Truncate, stream);
        assert_eq!(
            got,
            [
                (b"hello".to_vec(), false, false, false),
                (b"00 x".to_vec(), false, false, true),
                (b"12x bad".to_vec(), false, false, true),
                (b"<13>not counted".to_vec(), false, false, true),
                (b" again".to_vec(), false, false, false),
                (b"world".to_vec(), false, false, false),
            ]
        );
        // garbage without newlines comes out in max_size pieces, never stalls
        let got = all_ways(Mode::OctetCounted, 4, Oversize::Truncate, b"abcdefghij");
        assert_eq!(plain(&got), [&b"abcd"[..], b"efgh", b"ij"]);
        assert!(got.iter().all(|g| g.3));
    }

    #[test]
    fn a_first_line_starting_with_digits_keeps_newline_framing() {
        // Regression: framing was chosen from the first byte alone, so these
        // connections were read as octet counted and every later line was lost.
        for stream in [
            &b"2026-11-23T14:07:17Z myhost prog: one\n<13>two\n<13>three\n"[..],
            b"12345 hello\n<13>two\n<13>three\n",
            b"12 hello there\n<13>two\n<13>three\n",
            b"12345678901 <13>eleven digits\n<13>two\n<13>three\n",
        ] {
            let got = all_ways(Mode::Auto, 100, Oversize::Truncate, stream);
            let want: Vec<&[u8]> = stream
                .split(|&c| c == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            assert_eq!(plain(&got), want, "{}", String::from_utf8_lossy(stream));
            assert!(got.iter().all(|g| !g.1 && !g.2 && !g.3));
        }
        // undecided at EOF: the digits are a line of their own
        assert_eq!(
            plain(&all_ways(Mode::Auto, 100, Oversize::Truncate, b"12")),
            [b"12"]
        );
        assert_eq!(
            plain(&all_ways(Mode::Auto, 100, Oversize::Truncate, b"12 ")),
            [b"12 "]
        );
        let mut f = Framer::new(Mode::Auto, 100, Oversize::Truncate);
        assert_eq!(f.next(b"12 "), Next::NeedMore);
        assert_eq!(f.mode(), Mode::Auto);
        assert!(matches!(f.next(b"12 h"), Next::NeedMore));
        assert_eq!(f.mode(), Mode::Newline);
    }

    #[test]
    fn a_nul_ends_a_line_as_in_syslog_ng() {
        let got = all_ways(Mode::Newline, 100, Oversize::Truncate, b"a\0b\n\0c\0\nd");
        assert_eq!(plain(&got), [&b"a"[..], b"b", b"", b"c", b"", b"d"]);
    }

    #[test]
    fn a_zero_length_frame_does_not_wreck_the_stream() {
        // Regression: `0 ` was a malformed header, and the frame after it was
        // swallowed into the malformed one.
        let got = all_ways(
            Mode::Auto,
            100,
            Oversize::Truncate,
            b"5 <13>a0 5 <13>b0 \n0 5 <13>c0 ",
        );
        assert_eq!(
            plain(&got),
            [&b"<13>a"[..], b"", b"<13>b", b"", b"", b"<13>c", b""]
        );
        assert!(got.iter().all(|g| !g.1 && !g.2 && !g.3));
    }

    #[test]
    fn random_streams_always_progress() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..400 {
            let len = (rnd() % 400) as usize;
            let stream: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rnd();
                    match r % 4 {
                        0 => b"0123456789"[(r >> 8) as usize % 10],
                        1 => b" \n\r<"[(r >> 8) as usize % 4],
                        _ => r as u8,
                    }
                })
                .collect();
            let mode = [Mode::Auto, Mode::OctetCounted, Mode::Newline][round % 3];
            let over = [Oversize::Truncate, Oversize::Split][round / 3 % 2];
            let max = 1 + (rnd() % 50) as usize;
            all_ways(mode, max, over, &stream);
        }
    }
}
