//! syslog-ng lists and the functions over them: `$(list-concat)`, `$(list-nth)`,
//! `$(list-count)`, `$(explode)` and `$(implode)`.
//!
//! A list is text: comma-separated items, an item quoted with `"` or `'` when it
//! holds a comma, a quote, a space or an escape (syslog-ng's `str-repr`). The
//! scanner and the encoder here follow syslog-ng's `list-scanner.c` and
//! `str-repr/{decode,encode}.c` byte for byte, malformed input included: a broken
//! quoted item is kept as written rather than lost. `$(format-json)`'s `list()`
//! hint uses the scanner too.

use super::{Arg, Args, Function, templates};
use crate::template::{Template, TemplateError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Concat,
    Nth,
    Count,
    Explode,
    Implode,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct List {
    pub args: Vec<Template>,
    kind: Kind,
}

pub(super) fn compile(
    name: &str,
    args: &[Arg],
    _call: TemplateError,
) -> Result<Function, TemplateError> {
    let kind = match name {
        "list-concat" => Kind::Concat,
        "list-nth" => Kind::Nth,
        "list-count" => Kind::Count,
        "explode" => Kind::Explode,
        _ => Kind::Implode,
    };
    Ok(Function::List(List {
        args: templates(args)?,
        kind,
    }))
}

impl List {
    pub fn render(&self, a: &mut Args, out: &mut Vec<u8>) {
        let mut tmp = a.take_tmp();
        let start = out.len();
        match self.kind {
            Kind::Concat => scan(a.iter(), &mut tmp, |item| {
                comma(out, start);
                encode(item, out);
            }),
            Kind::Count => {
                let mut n = 0u64;
                scan(a.iter(), &mut tmp, |_| n += 1);
                push_num(out, n);
            }
            Kind::Nth => {
                // An index that is not a number renders nothing (syslog-ng logs it).
                if let Some(mut ndx) = parse_i64(a.get(0)) {
                    let items = || a.iter().skip(1);
                    if ndx < 0 {
                        let mut n = 0i64;
                        scan(items(), &mut tmp, |_| n += 1);
                        ndx += n;
                    }
                    let mut i = 0i64;
                    scan(items(), &mut tmp, |item| {
                        if i == ndx {
                            out.extend_from_slice(item);
                        }
                        i += 1;
                    });
                }
            }
            Kind::Explode => {
                let sep = a.get(0);
                for s in a.iter().skip(1) {
                    // g_strsplit() of an empty string gives no items; an empty
                    // separator is refused by glib, so the text is one item.
                    if s.is_empty() {
                        continue;
                    }
                    if sep.is_empty() {
                        comma(out, start);
                        encode(s, out);
                        continue;
                    }
                    let mut rest = s;
                    loop {
                        let (item, next) = match memchr::memmem::find(rest, sep) {
                            Some(p) => (&rest[..p], Some(&rest[p + sep.len()..])),
                            None => (rest, None),
                        };
                        comma(out, start);
                        encode(item, out);
                        match next {
                            Some(n) => rest = n,
                            None => break,
                        }
                    }
                }
            }
            Kind::Implode => {
                let sep = a.get(0);
                scan(a.iter().skip(1), &mut tmp, |item| {
                    if out.len() > start {
                        out.extend_from_slice(sep);
                    }
                    out.extend_from_slice(item);
                });
            }
        }
        a.put_tmp(tmp);
    }
}

/// syslog-ng's list separator rule: a comma between items, unless the output so
/// far already ends in one.
fn comma(out: &mut Vec<u8>, start: usize) {
    if out.len() > start && out.last() != Some(&b',') {
        out.push(b',');
    }
}

pub(super) fn push_num(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    use std::io::Write;
    let _ = write!(out, "{n}");
}

/// `parse_int64`: base 10, leading white space, a sign, nothing after.
pub(super) fn parse_i64(s: &[u8]) -> Option<i64> {
    let t = std::str::from_utf8(s).ok()?;
    let t = t.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    let t = t.strip_prefix('+').unwrap_or(t);
    t.parse().ok()
}

/// Calls `each` with every item of the lists in `inputs`, decoded; `tmp` holds the
/// item being decoded.
pub(in crate::template) fn scan<'a>(
    inputs: impl Iterator<Item = &'a [u8]>,
    tmp: &mut Vec<u8>,
    mut each: impl FnMut(&[u8]),
) {
    for input in inputs {
        let mut cur = 0;
        loop {
            while input.get(cur) == Some(&b',') {
                cur += 1;
            }
            if cur >= input.len() {
                break;
            }
            tmp.clear();
            cur = decode(input, cur, tmp);
            each(tmp);
        }
    }
}

/// `str_repr_decode` with `,` as the delimiter: decodes the item at `cur` into
/// `value` and returns the position after it (after its comma, if any).
fn decode(input: &[u8], start: usize, value: &mut Vec<u8>) -> usize {
    #[derive(PartialEq)]
    enum St {
        Initial,
        Quoted,
        Backslash,
        ExpectComma,
        Junk,
        Unquoted,
    }
    let mut st = St::Initial;
    let mut quote = 0u8;
    let mut cur = start;
    let mut ok = None;
    while let Some(&c) = input.get(cur) {
        match st {
            St::Initial | St::Unquoted if c == b',' => {
                ok = Some(true);
                cur += 1;
                break;
            }
            St::Initial if c == b'"' || c == b'\'' => {
                quote = c;
                st = St::Quoted;
            }
            St::Initial | St::Unquoted => {
                value.push(c);
                st = St::Unquoted;
            }
            St::Quoted if c == quote => st = St::ExpectComma,
            St::Quoted if c == b'\\' => st = St::Backslash,
            St::Quoted => value.push(c),
            St::Backslash => {
                match c {
                    b'b' => value.push(8),
                    b'f' => value.push(12),
                    b'n' => value.push(b'\n'),
                    b'r' => value.push(b'\r'),
                    b't' => value.push(b'\t'),
                    b'\\' => value.push(b'\\'),
                    _ => {
                        if c != quote {
                            value.push(b'\\');
                        }
                        value.push(c);
                    }
                }
                st = St::Quoted;
            }
            St::ExpectComma | St::Junk if c == b',' => {
                ok = Some(st == St::ExpectComma);
                cur += 1;
                break;
            }
            St::ExpectComma | St::Junk => st = St::Junk,
        }
        cur += 1;
    }
    let ok = ok.unwrap_or(matches!(st, St::Initial | St::ExpectComma | St::Unquoted));
    if !ok {
        // Keep the malformed item as written rather than lose it.
        value.clear();
        value.extend_from_slice(&input[start..cur]);
    }
    cur
}

/// `str_repr_encode_append` with `,` forbidden: an item as a list element.
pub(in crate::template) fn encode(s: &[u8], out: &mut Vec<u8>) {
    if s.is_empty() {
        out.extend_from_slice(b"\"\"");
        return;
    }
    let apostrophe = s.contains(&b'\'');
    let quote = s.contains(&b'"');
    if !apostrophe && !quote && !s.iter().any(|c| b"\x08\x0c\n\r\t\\ ,".contains(c)) {
        out.extend_from_slice(s);
        return;
    }
    let (q, unsafe_quote) = match (apostrophe, quote) {
        (false, true) => (b'\'', false),
        (true, false) => (b'"', false),
        _ => (b'"', true),
    };
    out.push(q);
    escape_binary(s, unsafe_quote, out);
    out.push(q);
}

/// `append_unsafe_utf8_as_escaped_binary`: C escapes for control characters and
/// backslash, `\xNN` for other control bytes and bytes that are not UTF-8, and
/// `\"` when `escape_quote`.
pub(super) fn escape_binary(s: &[u8], escape_quote: bool, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hex = |c: u8, out: &mut Vec<u8>| {
        out.extend_from_slice(&[b'\\', b'x', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]])
    };
    for_each_char(s, |ch| match ch {
        Ok(b"\x08") => out.extend_from_slice(b"\\b"),
        Ok(b"\x0c") => out.extend_from_slice(b"\\f"),
        Ok(b"\n") => out.extend_from_slice(b"\\n"),
        Ok(b"\r") => out.extend_from_slice(b"\\r"),
        Ok(b"\t") => out.extend_from_slice(b"\\t"),
        Ok(b"\\") => out.extend_from_slice(b"\\\\"),
        Ok(b"\"") if escape_quote => out.extend_from_slice(b"\\\""),
        Ok(&[c]) if c < 0x20 => hex(c, out),
        Ok(ch) => out.extend_from_slice(ch),
        Err(c) => hex(c, out),
    });
}

/// Walks `s` a UTF-8 character at a time (`Ok` with its bytes), a byte that
/// starts no valid character as `Err`, as glib's `g_utf8_get_char_validated` loop.
pub(super) fn for_each_char(s: &[u8], mut each: impl FnMut(Result<&[u8], u8>)) {
    let mut rest = s;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(_) => (rest.len(), false),
            Err(e) => (e.valid_up_to(), true),
        };
        let mut i = 0;
        while i < valid {
            let w = match rest[i] {
                0..0x80 => 1,
                0xc0..0xe0 => 2,
                0xe0..0xf0 => 3,
                _ => 4,
            };
            each(Ok(&rest[i..i + w]));
            i += w;
        }
        if !bad {
            break;
        }
        each(Err(rest[valid]));
        rest = &rest[valid + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(inputs: &[&str]) -> Vec<String> {
        let mut v = Vec::new();
        let mut tmp = Vec::new();
        scan(inputs.iter().map(|s| s.as_bytes()), &mut tmp, |i| {
            v.push(String::from_utf8_lossy(i).into_owned())
        });
        v
    }

    #[test]
    fn scanner_matches_syslog_ng() {
        assert_eq!(items(&["a,b", "\"c d\"", ",e,"]), ["a", "b", "c d", "e"]);
        assert_eq!(items(&["a,,b", "", "c"]), ["a", "b", "c"]);
        assert_eq!(items(&["\"x,y\",z"]), ["x,y", "z"]);
        assert_eq!(items(&["'a\\'b',\"\\n\\q\""]), ["a'b", "\n\\q"]);
        assert_eq!(items(&["\"\",x"]), ["", "x"]);
        // Malformed items are kept as written.
        assert_eq!(items(&["\"a\"b,c"]), ["\"a\"b,", "c"]);
        assert_eq!(items(&["\"open"]), ["\"open"]);
    }

    #[test]
    fn encoder_matches_syslog_ng() {
        let enc = |s: &[u8]| {
            let mut o = Vec::new();
            encode(s, &mut o);
            String::from_utf8_lossy(&o).into_owned()
        };
        assert_eq!(enc(b"plain"), "plain");
        assert_eq!(enc(b""), "\"\"");
        assert_eq!(enc(b"a b"), "\"a b\"");
        assert_eq!(enc(b"a,b"), "\"a,b\"");
        assert_eq!(enc(b"x'y"), "\"x'y\"");
        assert_eq!(enc(b"x\"y"), "'x\"y'");
        assert_eq!(enc(b"'\""), "\"'\\\"\"");
        assert_eq!(enc(b"\t\x01\xff"), "\"\\t\\x01\\xff\"");
    }
}
