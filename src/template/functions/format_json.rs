//! `$(format-json ...)`: name-value pairs as a JSON object, following syslog-ng's
//! value-pairs options and output.
//!
//! Options: `--scope` (nv-pairs, dot-nv-pairs, all-nv-pairs, rfc3164/core/base,
//! rfc5424/syslog-proto, all-macros, selected-macros, sdata, everything, none),
//! `--key GLOB`, `--exclude GLOB` (the last matching pattern decides),
//! `--pair NAME=TEMPLATE` or bare `NAME=TEMPLATE`, a bare word as `--key`,
//! `--leave-initial-dot`, `--omit-empty-values`; `--cast`/`--no-cast`/`--auto-cast`
//! are accepted and ignored (every value is a string; `TAGS` is a list).
//!
//! As in syslog-ng: macros that render empty are left out, a leading `.` becomes
//! `_`, dotted names nest (`.SDATA.meta@32473.seq` -> `{"_SDATA":{"meta@32473":
//! {"seq":...}}}`), keys come out in descending byte order, a later value of the
//! same key wins (explicit pairs over macros over message pairs), control
//! characters are escaped as `\uXXXX`, and bytes that are not UTF-8 as the text
//! `\\xNN`. Scratch space is a per-thread buffer reused across renders.

use super::Arg;
use crate::message::{Field, Message, Zone};
use crate::template::macros::{self, Dates, Macro};
use crate::template::{RenderContext, Template, TemplateError};
use std::cell::Cell;

const NV_PAIRS: u8 = 0x01;
const DOT_NV_PAIRS: u8 = 0x02;
const RFC3164: u8 = 0x04;
const RFC5424: u8 = 0x08;
const ALL_MACROS: u8 = 0x10;
const SELECTED_MACROS: u8 = 0x20;
const SDATA: u8 = 0x40;
const EVERYTHING: u8 = 0x7f;

const SCOPES: &[(&str, u8)] = &[
    ("nv-pairs", NV_PAIRS),
    ("dot-nv-pairs", DOT_NV_PAIRS),
    ("all-nv-pairs", NV_PAIRS | DOT_NV_PAIRS),
    ("rfc3164", RFC3164),
    ("core", RFC3164),
    ("base", RFC3164),
    ("rfc5424", RFC5424),
    ("syslog-proto", RFC5424),
    ("all-macros", ALL_MACROS),
    ("selected-macros", SELECTED_MACROS),
    ("sdata", SDATA),
    ("everything", EVERYTHING),
];

const RFC3164_SET: &[&str] = &[
    "FACILITY", "PRIORITY", "HOST", "PROGRAM", "PID", "MESSAGE", "DATE",
];
const RFC5424_SET: &[&str] = &["MSGID"];
const SELECTED_SET: &[&str] = &["TAGS", "SOURCEIP", "SEQNUM"];

#[derive(Clone, Debug)]
pub(in crate::template) struct FormatJson {
    scopes: u8,
    /// (glob, include); the last pattern that matches a name decides.
    patterns: Vec<(Box<[u8]>, bool)>,
    /// Macros selected by scope or `--key`, resolved at compile time.
    builtins: Vec<(Box<[u8]>, Macro)>,
    pairs: Vec<(Box<[u8]>, Template)>,
    leave_initial_dot: bool,
    omit_empty: bool,
}

impl FormatJson {
    pub fn compile(args: &[Arg]) -> Result<FormatJson, TemplateError> {
        let mut f = FormatJson {
            scopes: 0,
            patterns: Vec::new(),
            builtins: Vec::new(),
            pairs: Vec::new(),
            leave_initial_dot: false,
            omit_empty: false,
        };
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if !a.text.starts_with("--") {
                if a.text.contains('=') {
                    f.add_pair(a, &a.text, a.text_off)?;
                } else {
                    f.patterns.push((a.text.as_bytes().into(), true));
                }
                continue;
            }
            let (opt, inline) = match a.text.find('=') {
                Some(p) => (&a.text[..p], Some((&a.text[p + 1..], a.text_off + p + 1))),
                None => (a.text.as_str(), None),
            };
            let mut value = || -> Result<(&str, usize), TemplateError> {
                if let Some(v) = inline {
                    return Ok(v);
                }
                let v = args
                    .get(i)
                    .ok_or_else(|| a.error(format!("$(format-json) option {opt} needs a value")))?;
                i += 1;
                Ok((&v.text, v.text_off))
            };
            match opt {
                "--scope" => {
                    let (v, off) = value()?;
                    let mut pos = 0;
                    for s in v.split(',') {
                        let s_off = off + pos;
                        pos += s.len() + 1;
                        let s = s.trim();
                        if s == "none" {
                            f.scopes = 0;
                            continue;
                        }
                        let bits = SCOPES.iter().find(|(n, _)| *n == s).map(|(_, b)| *b);
                        match bits {
                            Some(b) => f.scopes |= b,
                            None => {
                                return Err(TemplateError::new(
                                    s_off,
                                    s.len(),
                                    format!(
                                        "unknown $(format-json) scope {s:?}; known scopes: none, {}",
                                        SCOPES
                                            .iter()
                                            .map(|(n, _)| *n)
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ),
                                ));
                            }
                        }
                    }
                }
                "--key" | "--exclude" => {
                    let (v, _) = value()?;
                    for p in v.split(',').filter(|p| !p.is_empty()) {
                        f.patterns.push((p.as_bytes().into(), opt == "--key"));
                    }
                }
                "--pair" => {
                    let (v, off) = value()?;
                    f.add_pair(a, v, off)?;
                }
                "--leave-initial-dot" => f.leave_initial_dot = true,
                "--omit-empty-values" => f.omit_empty = true,
                "--cast" | "--no-cast" | "--auto-cast" => {}
                _ => {
                    return Err(a.error(format!(
                        "unknown $(format-json) option {opt:?}; expected --scope, --key, \
                         --exclude, --pair, --leave-initial-dot or --omit-empty-values"
                    )));
                }
            }
        }
        f.select_builtins();
        Ok(f)
    }

    fn add_pair(&mut self, a: &Arg, spec: &str, off: usize) -> Result<(), TemplateError> {
        let Some(eq) = spec.find('=') else {
            return Err(a.error("expected NAME=TEMPLATE"));
        };
        if eq == 0 {
            return Err(a.error("empty name in NAME=TEMPLATE"));
        }
        let t = Template::compile_at(&spec[eq + 1..], off + eq + 1)?;
        self.pairs.push((spec.as_bytes()[..eq].into(), t));
        Ok(())
    }

    /// syslog-ng's `vp_update_builtin_list_of_values`.
    fn select_builtins(&mut self) {
        let mut chosen: Vec<(String, Macro)> = Vec::new();
        let add = |name: String, m: Macro, chosen: &mut Vec<(String, Macro)>| {
            if !chosen.iter().any(|(n, _)| *n == name) {
                chosen.push((name, m));
            }
        };
        if !self.patterns.is_empty() {
            for (name, m) in macros::all_names() {
                if self.decide(name.as_bytes(), false) {
                    add(name, m, &mut chosen);
                }
            }
        }
        let mut sets: Vec<&[&str]> = Vec::new();
        if self.scopes & (RFC3164 | RFC5424 | SELECTED_MACROS) != 0 {
            sets.push(RFC3164_SET);
        }
        if self.scopes & RFC5424 != 0 {
            sets.push(RFC5424_SET);
        }
        if self.scopes & SELECTED_MACROS != 0 {
            sets.push(SELECTED_SET);
        }
        for set in sets {
            for name in set {
                if let Some(m) = macros::lookup(name)
                    && self.decide(name.as_bytes(), true)
                {
                    add(name.to_string(), m, &mut chosen);
                }
            }
        }
        if self.scopes & ALL_MACROS != 0 {
            for (name, m) in macros::all_names() {
                if self.decide(name.as_bytes(), true) {
                    add(name, m, &mut chosen);
                }
            }
        }
        self.builtins = chosen
            .into_iter()
            .map(|(n, m)| (n.into_bytes().into_boxed_slice(), m))
            .collect();
    }

    /// Applies `--key`/`--exclude` patterns in order to a default decision.
    fn decide(&self, name: &[u8], default: bool) -> bool {
        self.patterns
            .iter()
            .rev()
            .find(|(p, _)| glob(p, name))
            .map_or(default, |(_, include)| *include)
    }

    pub fn set_zone(&mut self, zone: &Zone) {
        for (_, t) in &mut self.pairs {
            t.set_zone(zone);
        }
    }

    pub fn render(
        &self,
        msg: &Message,
        ctx: &RenderContext,
        zone: Option<&Zone>,
        dates: &mut Dates,
        out: &mut Vec<u8>,
    ) {
        let mut s = SCRATCH.take();
        s.bytes.clear();
        s.entries.clear();
        self.collect(msg, ctx, zone, dates, &mut s);
        let Scratch {
            bytes,
            entries,
            tokens,
            open,
        } = &mut s;
        entries.sort_unstable_by(|a, b| {
            bytes[b.key.0 as usize..b.key.1 as usize]
                .cmp(&bytes[a.key.0 as usize..a.key.1 as usize])
                .then(b.seq.cmp(&a.seq))
        });
        emit(bytes, entries, tokens, open, out);
        SCRATCH.set(s);
    }

    fn collect(
        &self,
        msg: &Message,
        ctx: &RenderContext,
        zone: Option<&Zone>,
        dates: &mut Dates,
        s: &mut Scratch,
    ) {
        if self.scopes & (NV_PAIRS | DOT_NV_PAIRS | SDATA | RFC5424) != 0
            || !self.patterns.is_empty()
        {
            const FIELDS: [(&[u8], Field); 5] = [
                (b"PROGRAM", Field::Program),
                (b"PID", Field::Pid),
                (b"MSGID", Field::MsgId),
                (b"MESSAGE", Field::Message),
                (b"LEGACY_MSGHDR", Field::LegacyMsgHdr),
            ];
            for (name, field) in FIELDS {
                if let Some(v) = msg.get(field) {
                    self.add_nv(s, name, |out| out.extend_from_slice(v));
                }
            }
            // HOST is always set in syslog-ng (HOST_FROM when none was sent).
            self.add_nv(s, b"HOST", |out| {
                macros::expand(Macro::FullHost, msg, ctx, zone, dates, out)
            });
            self.add_nv(s, b"HOST_FROM", |out| {
                macros::expand(Macro::HostFrom, msg, ctx, zone, dates, out)
            });
            if let Some(o) = msg.origin.get() {
                self.add_nv(s, b"SOURCE", |out| {
                    out.extend_from_slice(o.source.as_bytes())
                });
            }
            for (name, value) in msg.pairs() {
                self.add_nv(s, name, |out| out.extend_from_slice(value));
            }
        }
        for (name, m) in &self.builtins {
            let mark = s.push_key(name, self.leave_initial_dot);
            macros::expand(*m, msg, ctx, zone, dates, &mut s.bytes);
            if s.bytes.len() == mark.1 as usize {
                s.bytes.truncate(mark.0 as usize);
            } else {
                // TAGS is a plain string in syslog-ng 3.38's JSON, not a list.
                s.finish(mark, false);
            }
        }
        for (name, t) in &self.pairs {
            let mark = s.push_key(name, self.leave_initial_dot);
            t.render_with(msg, ctx, dates, &mut s.bytes);
            if self.omit_empty && s.bytes.len() == mark.1 as usize {
                s.bytes.truncate(mark.0 as usize);
            } else {
                s.finish(mark, false);
            }
        }
    }

    /// A message value, if the scopes and patterns select it.
    fn add_nv(&self, s: &mut Scratch, name: &[u8], value: impl FnOnce(&mut Vec<u8>)) {
        let dot = name.first() == Some(&b'.');
        let mut inc = (dot && self.scopes & DOT_NV_PAIRS != 0)
            || (!dot && self.scopes & NV_PAIRS != 0)
            || (name.starts_with(b".SDATA.") && self.scopes & (SDATA | RFC5424) != 0);
        inc = self.decide(name, inc);
        if !inc {
            return;
        }
        let mark = s.push_key(name, self.leave_initial_dot);
        value(&mut s.bytes);
        if self.omit_empty && s.bytes.len() == mark.1 as usize {
            s.bytes.truncate(mark.0 as usize);
        } else {
            s.finish(mark, false);
        }
    }
}

#[derive(Clone, Copy)]
struct Entry {
    key: (u32, u32),
    value: (u32, u32),
    seq: u32,
    list: bool,
}

#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    tokens: Vec<(u32, u32)>,
    open: Vec<(u32, u32)>,
}

thread_local! {
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

impl Scratch {
    /// Writes a key (leading `.` made `_`); returns (key start, value start).
    fn push_key(&mut self, name: &[u8], leave_initial_dot: bool) -> (u32, u32) {
        let start = self.bytes.len() as u32;
        match name.split_first() {
            Some((b'.', rest)) if !leave_initial_dot => {
                self.bytes.push(b'_');
                self.bytes.extend_from_slice(rest);
            }
            _ => self.bytes.extend_from_slice(name),
        }
        (start, self.bytes.len() as u32)
    }

    fn finish(&mut self, (key_start, value_start): (u32, u32), list: bool) {
        let seq = self.entries.len() as u32;
        self.entries.push(Entry {
            key: (key_start, value_start),
            value: (value_start, self.bytes.len() as u32),
            seq,
            list,
        });
    }
}

/// Writes the sorted entries as nested JSON objects.
fn emit(
    bytes: &[u8],
    entries: &[Entry],
    stack: &mut Vec<(u32, u32)>,
    open: &mut Vec<(u32, u32)>,
    out: &mut Vec<u8>,
) {
    let slice = |r: (u32, u32)| &bytes[r.0 as usize..r.1 as usize];
    open.clear();
    let mut need_comma = false;
    let mut prev_key: Option<&[u8]> = None;
    out.push(b'{');
    for e in entries {
        let key = slice(e.key);
        if prev_key == Some(key) {
            continue; // an earlier-inserted duplicate; the later one was emitted
        }
        prev_key = Some(key);
        stack.clear();
        split_key(key, e.key.0, stack);
        let Some((last, containers)) = stack.split_last() else {
            continue;
        };
        let common = open
            .iter()
            .zip(containers)
            .take_while(|(a, b)| slice(**a) == slice(**b))
            .count();
        while open.len() > common {
            open.pop();
            out.push(b'}');
            need_comma = true;
        }
        for c in &containers[common..] {
            if need_comma {
                out.push(b',');
            }
            out.push(b'"');
            escape(slice(*c), out);
            out.extend_from_slice(b"\":{");
            open.push(*c);
            need_comma = false;
        }
        if need_comma {
            out.push(b',');
        }
        out.push(b'"');
        escape(slice(*last), out);
        out.extend_from_slice(b"\":");
        let value = slice(e.value);
        if e.list {
            out.push(b'[');
            for (i, item) in value.split(|c| *c == b',').enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'"');
                escape(item, out);
                out.push(b'"');
            }
            out.push(b']');
        } else {
            out.push(b'"');
            escape(value, out);
            out.push(b'"');
        }
        need_comma = true;
    }
    for _ in open.drain(..) {
        out.push(b'}');
    }
    out.push(b'}');
}

/// syslog-ng's key tokenizer: split at `.`, never producing an empty token (a
/// leading or doubled dot sticks to the next token), and keep an SD-ID's
/// enterprise number (`@32473.1.2`) inside its token.
fn split_key(key: &[u8], base: u32, toks: &mut Vec<(u32, u32)>) {
    let (mut start, mut end) = (0usize, 0usize);
    let len = key.len();
    while end < len {
        match key[end] {
            b'@' => loop {
                end += 1;
                while end < len && key[end].is_ascii_digit() {
                    end += 1;
                }
                if !(end + 1 < len && key[end] == b'.' && key[end + 1].is_ascii_digit()) {
                    break;
                }
            },
            b'.' if start != end => {
                toks.push((base + start as u32, base + end as u32));
                end += 1;
                start = end;
            }
            _ => {
                end += 1;
                while end < len && key[end] != b'.' && key[end] != b'@' {
                    end += 1;
                }
            }
        }
    }
    if start != end {
        toks.push((base + start as u32, base + end as u32));
    }
}

/// JSON string escaping as syslog-ng's `append_unsafe_utf8_as_escaped`.
pub(in crate::template) fn escape(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut i = 0;
    while i < s.len() {
        let start = i;
        while i < s.len() && matches!(s[i], 0x20..=0x7f) && s[i] != b'"' && s[i] != b'\\' {
            i += 1;
        }
        out.extend_from_slice(&s[start..i]);
        let Some(&c) = s.get(i) else { break };
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            // NUL is no valid UTF-8 to glib, so syslog-ng shows it as a raw byte.
            0 => out.extend_from_slice(b"\\\\x00"),
            1..0x20 => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ]),
            _ => {
                let width = match c {
                    0xc2..=0xdf => 2,
                    0xe0..=0xef => 3,
                    0xf0..=0xf4 => 4,
                    _ => 0,
                };
                match s.get(i..i + width) {
                    Some(ch) if width > 0 && std::str::from_utf8(ch).is_ok() => {
                        out.extend_from_slice(ch);
                        i += width;
                        continue;
                    }
                    _ => out.extend_from_slice(&[
                        b'\\',
                        b'\\',
                        b'x',
                        HEX[(c >> 4) as usize],
                        HEX[(c & 15) as usize],
                    ]),
                }
            }
        }
        i += 1;
    }
}

/// Glob match with `*` (any run) and `?` (one byte).
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob(b"*", b""));
        assert!(glob(b".SDATA.*", b".SDATA.a.b"));
        assert!(glob(b"H?ST", b"HOST"));
        assert!(glob(b"*_FROM", b"HOST_FROM"));
        assert!(!glob(b"HOST", b"HOST_FROM"));
        assert!(glob(b"a*b*c", b"aXXbYYbc"));
        assert!(!glob(b"a*b*c", b"aXXbYYb"));
    }

    #[test]
    fn key_tokens() {
        let toks = |k: &str| {
            let mut v = Vec::new();
            split_key(k.as_bytes(), 0, &mut v);
            v.iter()
                .map(|(a, b)| k[*a as usize..*b as usize].to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(toks("_SDATA.meta.seq"), ["_SDATA", "meta", "seq"]);
        assert_eq!(toks(".SDATA.meta.seq"), [".SDATA", "meta", "seq"]);
        assert_eq!(
            toks("_SDATA.req@32473.1.status"),
            ["_SDATA", "req@32473.1", "status"]
        );
        assert_eq!(toks("a..b"), ["a", ".b"]);
        assert_eq!(toks("a."), ["a"]);
        assert!(toks("").is_empty());
    }

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        escape(b"a\"b\\c\n\t\x01\x7f\xc3\xa9\xff\xe2\x82\0", &mut out);
        assert_eq!(
            out,
            b"a\\\"b\\\\c\\n\\t\\u0001\x7f\xc3\xa9\\\\xff\\\\xe2\\\\x82\\\\x00"
        );
    }
}
