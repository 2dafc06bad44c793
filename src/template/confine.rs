//! Confinement: the one rule that keeps a file path or an object key built from a
//! template under the prefix its literal text names, whatever the message says.
//!
//! The rule. Only the template's own literal text (and `$$`) is trusted; the
//! output of every `$NAME`, `${NAME}`, `${NAME:-default}` and `$(function ...)`
//! is a *value*. In a value, `/`, control bytes (below 0x20, and 0x7f) become
//! `_`, so every `/` of the result is one the template wrote, and a value never
//! adds or removes a path segment. Then each segment (the text between two such
//! slashes) that holds a value is checked once it is complete: longer than 255
//! bytes, it is cut to 255 (backing off to a UTF-8 character boundary); empty, `.`
//! or `..`, it becomes `_`, `_` or `__`. Segments of literal text alone are left
//! as written. An object key also drops the leading `/`s of the literal text
//! (`Template::render_object_key`). Nothing is refused: a hostile or odd value
//! still gets a file or key of its own, under a neutralised name.
//!
//! This module owns that rule and nothing else: it does not render, open files
//! or know about destinations.

/// A segment longer than this is cut: the usual limit on a file name (NAME_MAX).
const MAX_SEGMENT: usize = 255;

/// What takes a byte of a value's place.
const REPLACEMENT: u8 = b'_';

/// Builds a confined rendering at the end of a buffer, literal text and values
/// in turn, keeping track of the segment being written.
pub(super) struct Confined {
    /// Where the current segment starts in the output.
    start: usize,
    /// Whether a value wrote into the current segment (even nothing).
    valued: bool,
}

impl Confined {
    /// Starts a rendering appended to `out`.
    pub(super) fn new(out: &[u8]) -> Confined {
        Confined {
            start: out.len(),
            valued: false,
        }
    }

    /// Appends the template's own `text`; its `/` end segments.
    pub(super) fn literal(&mut self, out: &mut Vec<u8>, text: &[u8]) {
        let mut pieces = text.split(|&b| b == b'/');
        if let Some(first) = pieces.next() {
            out.extend_from_slice(first);
        }
        for piece in pieces {
            self.end_segment(out);
            out.push(b'/');
            self.start = out.len();
            out.extend_from_slice(piece);
        }
    }

    /// Neutralises `out[from..]`, which a value has just appended.
    pub(super) fn value(&mut self, out: &mut [u8], from: usize) {
        for b in &mut out[from..] {
            if *b == b'/' || *b < 0x20 || *b == 0x7f {
                *b = REPLACEMENT;
            }
        }
        self.valued = true;
    }

    /// Checks the last segment.
    pub(super) fn finish(mut self, out: &mut Vec<u8>) {
        self.end_segment(out);
    }

    /// Checks the segment at the end of `out`, now complete, if a value wrote
    /// into it.
    fn end_segment(&mut self, out: &mut Vec<u8>) {
        if !std::mem::take(&mut self.valued) {
            return;
        }
        let start = self.start;
        if out.len() - start > MAX_SEGMENT {
            let mut cut = start + MAX_SEGMENT;
            // Back off over UTF-8 continuation bytes (at most three), so a
            // character is not split; other bytes are cut where they fall.
            for _ in 0..3 {
                if out[cut] & 0xc0 != 0x80 {
                    break;
                }
                cut -= 1;
            }
            out.truncate(cut);
        }
        match &out[start..] {
            b"" => out.push(REPLACEMENT),
            b"." | b".." => out[start..].fill(REPLACEMENT),
            _ => {}
        }
    }
}

/// Drops the leading `/`s of an object key rendered into `out[from..]`: a key
/// names an object under the bucket, never an absolute path.
pub(super) fn trim_key(out: &mut Vec<u8>, from: usize) {
    let slashes = out[from..].iter().take_while(|&&b| b == b'/').count();
    out.drain(from..from + slashes);
}

#[cfg(test)]
mod tests {
    use crate::message::{Field, Message, Timestamp};
    use crate::template::{RenderContext, Template};
    use bytes::Bytes;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Component, Path};

    /// Values no sender should be able to steer a path with, and odd ones.
    const HOSTILE: &[&[u8]] = &[
        b"..",
        b".",
        b"...",
        b"../../etc/passwd",
        b"/etc/passwd",
        b"a/../../b",
        b"a/b",
        b"/",
        b"//",
        b"\n",
        b"\0",
        b"a\0b",
        b"\x7f\x1b[31m",
        b"./.",
        b"\xff\xfe",
        "h\u{f6}st-\u{540d}\u{524d}".as_bytes(),
        b"",
    ];

    const HARMLESS: &[&str] = &[
        "web-1",
        "host.example.org",
        "10.0.0.1",
        "[::1]",
        "x..y",
        "...",
        "h\u{f6}st",
    ];

    fn message(host: &[u8]) -> Message {
        let t = Timestamp {
            secs: 1_795_439_237,
            nanos: 0,
            offset: 0,
        };
        let mut m = Message::new(Bytes::new(), t);
        m.set_owned(Field::Host, host);
        m.set_owned(Field::Program, host);
        m.push_owned_pair(b".app.id", host);
        m.peer = Some("192.0.2.10:514".parse().unwrap());
        m
    }

    fn confined(text: &str, value: &[u8]) -> Vec<u8> {
        let t = Template::compile(text).unwrap();
        let mut out = Vec::new();
        t.render_confined(&message(value), &RenderContext::default(), &mut out);
        out
    }

    /// The property: the result has the template's segments, those of literal
    /// text alone exactly as written, and the others each a plain name.
    fn assert_confined(text: &str, value: &[u8]) {
        let out = confined(text, value);
        let want: Vec<&str> = text.split('/').collect();
        let got: Vec<&[u8]> = out.split(|&b| b == b'/').collect();
        let shown = String::from_utf8_lossy(&out);
        assert_eq!(got.len(), want.len(), "{text} with {value:?}: {shown}");
        for (g, w) in got.iter().zip(&want) {
            if !w.contains('$') {
                assert_eq!(*g, w.as_bytes(), "{text} with {value:?}: {shown}");
                continue;
            }
            assert!(!matches!(*g, b"" | b"." | b".."), "{text}: {shown}");
            assert!(g.len() <= super::MAX_SEGMENT, "{text}: {shown}");
            assert!(
                !g.iter().any(|&b| b < 0x20 || b == 0x7f),
                "{text} with {value:?}: {shown}"
            );
        }
    }

    const TEMPLATES: &[&str] = &[
        "/var/log/${HOST}/x.log",
        "/var/log/${HOST}.log",
        "/var/log/.${HOST}",
        "/var/log/${HOST}",
        "/var/log/${HOST}${PROGRAM}/${R_YEAR}/x",
        "/var/log/$(echo ${HOST})/x",
        "/var/log/$(lowercase ${PROGRAM})/x",
        "/var/log/${.app.id}/x",
        "/var/log/${.absent}${.app.id}/x",
        "/var/log/${HOST:-none}/x",
        "logs/${HOST}/",
        "${HOST}",
        "${HOST}/${PROGRAM}",
    ];

    #[test]
    fn hostile_values_stay_under_the_literal_prefix() {
        let long = vec![b'a'; 300];
        let dots = vec![b'.'; 300];
        let values = HOSTILE.iter().copied().chain([&long[..], &dots[..]]);
        for value in values {
            for text in TEMPLATES {
                assert_confined(text, value);
            }
            let out = confined("/var/log/${HOST}/x.log", value);
            let path = Path::new(OsStr::from_bytes(&out));
            assert!(path.starts_with("/var/log/"), "{}", path.display());
            assert_eq!(path.components().count(), 5, "{}", path.display());
            assert!(
                path.components()
                    .all(|c| matches!(c, Component::RootDir | Component::Normal(_))),
                "{}",
                path.display()
            );
        }
    }

    /// The same property over values drawn at random from the bytes that matter.
    #[test]
    fn random_values_stay_under_the_literal_prefix() {
        const ALPHABET: &[u8] = b"./\0\n\x7fa-\xc3\xa9\xff";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // xorshift64: reproducible, and enough to mix the alphabet.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let len = (next() % 300) as usize;
            let value: Vec<u8> = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            for text in TEMPLATES {
                assert_confined(text, &value);
            }
        }
    }

    #[test]
    fn harmless_values_pass_unchanged() {
        for value in HARMLESS {
            let out = confined("/var/log/${HOST}/${PROGRAM}.log", value.as_bytes());
            assert_eq!(out, format!("/var/log/{value}/{value}.log").as_bytes());
        }
    }

    #[test]
    fn neutralised_names() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("/l/${HOST}.log", b"../../escape", "/l/.._.._escape.log"),
            ("/l/${HOST}.log", b"a/b", "/l/a_b.log"),
            ("/l/${HOST}.log", b"/etc/passwd", "/l/_etc_passwd.log"),
            ("/l/${HOST}/x", b"..", "/l/__/x"),
            ("/l/${HOST}/x", b".", "/l/_/x"),
            ("/l/${HOST}/x", b"...", "/l/.../x"),
            ("/l/.${HOST}/x", b".", "/l/__/x"),
            ("/l/${HOST}.log", b"..", "/l/...log"),
            ("/l/${HOST}/x", b"a\nb\0c\x7f", "/l/a_b_c_/x"),
            ("/l/${.absent}/x", b"", "/l/_/x"),
            ("/l/${.absent}x/y", b"", "/l/x/y"),
            // The template's own text is trusted, `..` included.
            ("/l/../${HOST}//x", b"h", "/l/../h//x"),
            ("/l/$(echo a/b)/x", b"h", "/l/a_b/x"),
            ("/l/${.absent:-a/b}/x", b"h", "/l/a_b/x"),
        ];
        for (text, value, want) in cases {
            let out = confined(text, value);
            assert_eq!(
                String::from_utf8_lossy(&out),
                *want,
                "{text} with {value:?}"
            );
        }
    }

    #[test]
    fn long_segments_are_cut_on_a_character_boundary() {
        let mut value = vec![b'a'; 254];
        value.extend_from_slice("\u{e9}".as_bytes());
        let out = confined("/l/${HOST}/x", &value);
        assert_eq!(out, [&b"/l/"[..], &value[..254], b"/x"].concat());
        let out = confined("/l/${HOST}.log", &[b'a'; 300]);
        assert_eq!(out, [&b"/l/"[..], &[b'a'; 255], b""].concat());
        // Not UTF-8: cut where it falls, after at most three steps back.
        let out = confined("/l/${HOST}", &[0x80; 300]);
        assert_eq!(out.len(), 3 + 252);
    }

    #[test]
    fn rendering_appends_and_starts_a_segment() {
        let t = Template::compile("${HOST}/x").unwrap();
        let mut out = b"/kept/..".to_vec();
        t.render_confined(&message(b".."), &RenderContext::default(), &mut out);
        assert_eq!(out, b"/kept/..__/x");
    }

    #[test]
    fn object_keys_lose_leading_slashes_only() {
        let key = |text: &str, value: &[u8]| {
            let t = Template::compile(text).unwrap();
            let mut out = b"bucket:".to_vec();
            t.render_object_key(&message(value), &RenderContext::default(), &mut out);
            String::from_utf8_lossy(&out).into_owned()
        };
        assert_eq!(key("//app/${HOST}/", b"/etc"), "bucket:app/_etc/");
        assert_eq!(key("${HOST}/x", b"/etc"), "bucket:_etc/x");
        assert_eq!(key("app//${HOST}", b".."), "bucket:app//__");
    }
}
