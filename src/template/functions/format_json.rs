//! `$(format-json ...)`: name-value pairs as a JSON object, following syslog-ng's
//! value-pairs options and output.
//!
//! Options: `--scope` (nv-pairs, dot-nv-pairs, all-nv-pairs, rfc3164/core/base,
//! rfc5424/syslog-proto, all-macros, selected-macros, sdata, everything, none),
//! `--key GLOB`, `--exclude GLOB` (the last matching pattern decides),
//! `--pair NAME=TEMPLATE` or bare `NAME=TEMPLATE`, a bare word as `--key`,
//! `--leave-initial-dot`, `--omit-empty-values`, `--key-delimiter C`; `--cast`,
//! `--no-cast` and `--auto-cast` are accepted and ignored (a value is a string
//! unless a pair's type hint says otherwise; `TAGS` is a list). `--rekey GLOB` (and
//! `--key GLOB`) start a set of key rewrites, `--add-prefix P`, `--replace-prefix
//! OLD=NEW`, `--shift N` and `--shift-levels N`, applied in order to every key the
//! glob matches, as syslog-ng's value-pairs transforms.
//!
//! A pair's value may carry a type hint, `NAME=int(TEMPLATE)`: `string`,
//! `literal`/`json` (inserted as is), `list` (a syslog-ng list as an array),
//! `boolean`, `int`/`int32`/`int64`, `double`/`float`, `datetime` (a string, as
//! 3.38 writes it) and `null`. A value that does not convert makes the whole
//! function render empty: syslog-ng's default `on-error(drop-message)` does that
//! to the template function (and logs the casting error; the message is kept).
//!
//! The same machinery gives `$(format-flat-json)` (dotted keys, no nesting),
//! `$(format-cef-extension)` (`key=value` with CEF escaping, ascending keys) and
//! `$(format-welf)` (`key=value`, quoted when it holds a space; `id` first).
//!
//! As in syslog-ng: macros that render empty are left out, a leading `.` becomes
//! `_`, dotted names nest (`.SDATA.meta@32473.seq` -> `{"_SDATA":{"meta@32473":
//! {"seq":...}}}`), keys come out in descending byte order, a later value of the
//! same key wins (explicit pairs over macros over message pairs), control
//! characters are escaped as `\uXXXX`, and bytes that are not UTF-8 as the text
//! `\\xNN`. Scratch space is a per-thread buffer reused across renders.

use super::{Arg, Function};
use crate::message::{Field, Message, Zone, copy_run, copy_until, same_bytes};
use crate::template::macros::{self, Dates, Macro};
use crate::template::{RenderContext, Template, TemplateError};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// A pair's declared type (syslog-ng's `LogMessageValueType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hint {
    String,
    Json,
    List,
    Bool,
    Int,
    Double,
    Null,
}

const HINTS: &[(&str, Hint)] = &[
    ("string", Hint::String),
    ("literal", Hint::Json),
    ("json", Hint::Json),
    ("list", Hint::List),
    ("boolean", Hint::Bool),
    ("int", Hint::Int),
    ("int32", Hint::Int),
    ("int64", Hint::Int),
    ("double", Hint::Double),
    ("float", Hint::Double),
    // 3.38 writes a datetime hint's value as a string.
    ("datetime", Hint::String),
    ("null", Hint::Null),
];

/// One key rewrite of a `--rekey` set.
#[derive(Clone, Debug)]
enum KeyOp {
    AddPrefix(Box<[u8]>),
    ReplacePrefix(Box<[u8]>, Box<[u8]>),
    Shift(usize),
    ShiftLevels(usize),
}

/// What the function writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Nested,
    Flat,
    Cef,
    Welf,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct FormatJson {
    /// Names this function's compiled options for the per-thread cache of
    /// output plans (a clone has the same options, and shares it).
    id: u64,
    style: Style,
    scopes: u8,
    /// (glob, include); the last pattern that matches a name decides.
    patterns: Vec<(Box<[u8]>, bool)>,
    /// Macros selected by scope or `--key`, resolved at compile time.
    builtins: Vec<(Box<[u8]>, Macro)>,
    pairs: Vec<(Box<[u8]>, Template, Hint)>,
    /// `--rekey` sets: a glob and the rewrites of the keys it matches, in order.
    rekeys: Vec<(Box<[u8]>, Vec<KeyOp>)>,
    leave_initial_dot: bool,
    omit_empty: bool,
    delimiter: u8,
    /// The output worked out at compile time, when every key is known then
    /// (see [`FormatJson::fix`]).
    fixed: Option<Box<[Fixed]>>,
    known: Known,
}

/// The message fields a selection may take, as [`FormatJson::collect`]
/// looks at them, and the names they are taken under.
const FIELDS: [(&[u8], Field); 5] = [
    (b"PROGRAM", Field::Program),
    (b"PID", Field::Pid),
    (b"MSGID", Field::MsgId),
    (b"MESSAGE", Field::Message),
    (b"LEGACY_MSGHDR", Field::LegacyMsgHdr),
];

/// The keys of the names a selection knows when it is compiled (fields and
/// macros, its pairs), rewritten once, one after another in `text`; a
/// render starts its scratch bytes with them, so that only the message's
/// own pairs have their keys made per message. A name the selection does
/// not take has none.
#[derive(Clone, Debug, Default)]
struct Known {
    text: Vec<u8>,
    fields: [Option<(u32, u32)>; 5],
    host: Option<(u32, u32)>,
    host_from: Option<(u32, u32)>,
    source: Option<(u32, u32)>,
    builtins: Vec<(u32, u32)>,
    pairs: Vec<(u32, u32)>,
}

/// One key of a selection whose keys are all known when it is compiled:
/// its JSON text, and where its value may come from. Such a selection needs
/// no per-message keys, sorting or plan; one that also takes the message's
/// own pairs (`--scope nv-pairs`) takes this path for a message none of
/// whose pairs it selects (parsed `.nginx.*` pairs under `nv-pairs`).
#[derive(Clone, Debug)]
struct Fixed {
    /// `,"key":`; the first key written drops the comma.
    text: Box<[u8]>,
    /// The values that may be written under the key, the one collected
    /// last first: the first the message has wins, as a later value of a
    /// key does on the general path.
    sources: Box<[Candidate]>,
}

#[derive(Clone, Debug)]
struct Candidate {
    source: Source,
    hint: Hint,
    /// Left out when its value is empty: macros always, pairs and message
    /// values under `--omit-empty-values`.
    skip_empty: bool,
}

#[derive(Clone, Debug)]
enum Source {
    /// A message field's bytes, read in place; empty when it has none.
    Field(Field),
    /// A message value under its own name (`PROGRAM` under `nv-pairs`),
    /// read in place; left out when the message has none.
    Own(Field),
    Macro(Macro),
    /// `SOURCE`, the source driver's name; left out for a message of none.
    Origin,
    /// The template of `pairs[i]`.
    Pair(usize),
    Constant(Box<[u8]>),
}

pub(super) fn compile(
    name: &str,
    args: &[Arg],
    _call: TemplateError,
) -> Result<Function, TemplateError> {
    let style = match name {
        "format-flat-json" => Style::Flat,
        "format-cef-extension" => Style::Cef,
        "format-welf" => Style::Welf,
        _ => Style::Nested,
    };
    Ok(Function::FormatJson(Box::new(FormatJson::compile(
        args, style,
    )?)))
}

impl FormatJson {
    fn compile(args: &[Arg], style: Style) -> Result<FormatJson, TemplateError> {
        static IDS: AtomicU64 = AtomicU64::new(0);
        let mut f = FormatJson {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            style,
            scopes: 0,
            patterns: Vec::new(),
            builtins: Vec::new(),
            pairs: Vec::new(),
            rekeys: Vec::new(),
            leave_initial_dot: style != Style::Nested && style != Style::Flat,
            omit_empty: false,
            delimiter: b'.',
            fixed: None,
            known: Known::default(),
        };
        let fname = match style {
            Style::Nested => "format-json",
            Style::Flat => "format-flat-json",
            Style::Cef => "format-cef-extension",
            Style::Welf => "format-welf",
        };
        // syslog-ng's cmdline state: the glob of the last --key/--rekey, until a
        // rewrite opens a set with it (`rekey`), or another option closes it.
        let mut pending: Option<&str> = None;
        let mut open = false;
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if !a.text.starts_with("--") {
                open = false;
                if a.text.contains('=') {
                    pending = None;
                    f.add_pair(a, &a.text, a.text_off)?;
                } else {
                    pending = Some(&a.text);
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
                    .ok_or_else(|| a.error(format!("$({fname}) option {opt} needs a value")))?;
                i += 1;
                Ok((&v.text, v.text_off))
            };
            let mut rewrite = |op: KeyOp| -> Result<(), TemplateError> {
                if !open {
                    let Some(glob) = pending.take() else {
                        return Err(
                            a.error(format!("$({fname}) {opt} used without --key or --rekey"))
                        );
                    };
                    f.rekeys.push((glob.as_bytes().into(), Vec::new()));
                    open = true;
                }
                if let Some((_, ops)) = f.rekeys.last_mut() {
                    ops.push(op);
                }
                Ok(())
            };
            match opt {
                "--add-prefix" => {
                    let (v, _) = value()?;
                    rewrite(KeyOp::AddPrefix(v.as_bytes().into()))?;
                }
                "--replace-prefix" | "--replace" => {
                    let (v, _) = value()?;
                    let Some((old, new)) = v.split_once('=') else {
                        return Err(a.error(format!("$({fname}) {opt} expects OLD=NEW")));
                    };
                    rewrite(KeyOp::ReplacePrefix(
                        old.as_bytes().into(),
                        new.as_bytes().into(),
                    ))?;
                }
                "--shift" | "--shift-levels" => {
                    let (v, off) = value()?;
                    // syslog-ng takes atoi() of --shift (a negative one erases the
                    // whole key); we refuse what is not a count.
                    let n = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| opt == "--shift" || *n > 0);
                    let Some(n) = n else {
                        return Err(TemplateError::new(
                            off,
                            v.len(),
                            format!("$({fname}) {opt} needs a positive whole number, not {v:?}"),
                        ));
                    };
                    rewrite(if opt == "--shift" {
                        KeyOp::Shift(n)
                    } else {
                        KeyOp::ShiftLevels(n)
                    })?;
                }
                "--rekey" => {
                    let (v, _) = value()?;
                    open = false;
                    pending = Some(v);
                }
                "--key-delimiter" if style == Style::Nested => {
                    let (v, off) = value()?;
                    let [d] = v.as_bytes() else {
                        return Err(TemplateError::new(
                            off,
                            v.len(),
                            format!(
                                "$(format-json) --key-delimiter only accepts a single character, found: {v:?}"
                            ),
                        ));
                    };
                    f.delimiter = *d;
                }
                "--scope" => {
                    open = false;
                    pending = None;
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
                    open = false;
                    pending = (opt == "--key").then_some(v);
                    for p in v.split(',').filter(|p| !p.is_empty()) {
                        f.patterns.push((p.as_bytes().into(), opt == "--key"));
                    }
                }
                // syslog-ng's shorthand: the keys under PREFIX, without it.
                "--subkeys" => {
                    let (v, _) = value()?;
                    open = false;
                    pending = None;
                    let glob: Box<[u8]> = format!("{v}*").into_bytes().into();
                    f.patterns.push((glob.clone(), true));
                    f.rekeys.push((glob, vec![KeyOp::Shift(v.len())]));
                }
                "--pair" => {
                    let (v, off) = value()?;
                    open = false;
                    pending = None;
                    f.add_pair(a, v, off)?;
                }
                "--leave-initial-dot" => f.leave_initial_dot = true,
                "--omit-empty-values" => f.omit_empty = true,
                "--cast" | "--no-cast" | "--auto-cast" => {}
                _ => {
                    let delim = if style == Style::Nested {
                        " --key-delimiter,"
                    } else {
                        ""
                    };
                    return Err(a.error(format!(
                        "unknown $({fname}) option {opt:?}; expected --scope, --key, \
                         --exclude, --subkeys, --pair, --rekey, --add-prefix, --replace-prefix, --shift, \
                         --shift-levels,{delim} --leave-initial-dot or --omit-empty-values"
                    )));
                }
            }
        }
        f.select_builtins();
        f.known = f.know();
        f.fixed = f.fix();
        Ok(f)
    }

    /// The [`Known`] keys of this selection.
    fn know(&self) -> Known {
        let mut s = Scratch::default();
        let mut key = |name: &[u8]| s.push_key(name, self);
        let mut chosen = |name: &[u8]| self.selects(name).then(|| key(name));
        let fields = FIELDS.map(|(name, _)| chosen(name));
        let (host, host_from, source) = (chosen(b"HOST"), chosen(b"HOST_FROM"), chosen(b"SOURCE"));
        let builtins = self.builtins.iter().map(|(n, _)| key(n)).collect();
        let pairs = self.pairs.iter().map(|(n, _, _)| key(n)).collect();
        Known {
            text: s.bytes,
            fields,
            host,
            host_from,
            source,
            builtins,
            pairs,
        }
    }

    /// The keys and their order worked out once, for a selection whose keys
    /// neither nest nor repeat but as one value overriding another: with
    /// those, which key comes out depends on the message, and the plan of
    /// [`Scratch::plan`] is needed. The candidates are gathered in the order
    /// [`FormatJson::collect`] gathers them.
    fn fix(&self) -> Option<Box<[Fixed]>> {
        if !matches!(self.style, Style::Nested | Style::Flat) {
            return None;
        }
        let known = &self.known;
        let mut all: Vec<(&[u8], Candidate)> = Vec::new();
        let mut add = |(start, end): (u32, u32), source: Source, hint: Hint, skip_empty: bool| {
            let candidate = Candidate {
                source,
                hint,
                skip_empty,
            };
            all.push((&known.text[start as usize..end as usize], candidate));
        };
        if self.reads_pairs() {
            for (key, (_, field)) in known.fields.iter().zip(FIELDS) {
                if let Some(key) = *key {
                    add(key, Source::Own(field), Hint::String, self.omit_empty);
                }
            }
            let hosts = [
                (known.host, Source::Macro(Macro::FullHost)),
                (known.host_from, Source::Macro(Macro::HostFrom)),
                (known.source, Source::Origin),
            ];
            for (key, source) in hosts {
                if let Some(key) = key {
                    add(key, source, Hint::String, self.omit_empty);
                }
            }
        }
        for (&key, (_, m)) in known.builtins.iter().zip(&self.builtins) {
            let source = m.field().map_or(Source::Macro(*m), Source::Field);
            add(key, source, Hint::String, true);
        }
        for (i, (&key, (_, t, hint))) in known.pairs.iter().zip(&self.pairs).enumerate() {
            let source = match (t.as_field(), t.literal()) {
                (Some(f), _) => Source::Field(f),
                // An empty constant under --omit-empty-values is never written.
                (None, Some(c)) if c.is_empty() && self.omit_empty => continue,
                (None, Some(c)) => Source::Constant(c.into()),
                (None, None) => Source::Pair(i),
            };
            add(key, source, *hint, self.omit_empty);
        }
        let mut tokens = Vec::new();
        for (key, _) in all.iter().filter(|_| self.style == Style::Nested) {
            tokens.clear();
            split_key(key, 0, self.delimiter, &mut tokens);
            if tokens != [(0, key.len() as u32)] {
                return None;
            }
        }
        // Descending keys, as written; of one key the later candidate first.
        let mut order: Vec<usize> = (0..all.len()).collect();
        order.sort_unstable_by(|&a, &b| all[b].0.cmp(all[a].0).then(b.cmp(&a)));
        let mut fixed: Vec<(&[u8], Vec<Candidate>)> = Vec::new();
        for i in order {
            let (key, candidate) = &all[i];
            match fixed.last_mut() {
                Some((k, sources)) if k == key => sources.push(candidate.clone()),
                _ => fixed.push((key, vec![candidate.clone()])),
            }
        }
        let fixed = fixed.into_iter().map(|(key, sources)| {
            let mut text = b",\"".to_vec();
            escape(key, &mut text);
            text.extend_from_slice(b"\":");
            Fixed {
                text: text.into(),
                sources: sources.into(),
            }
        });
        Some(fixed.collect())
    }

    /// Whether the selection may take the message's own values, its pairs
    /// and fields under their names, as well as macros and `--pair`s.
    fn reads_pairs(&self) -> bool {
        self.scopes & (NV_PAIRS | DOT_NV_PAIRS | SDATA | RFC5424) != 0 || !self.patterns.is_empty()
    }

    /// Drops the fixed output, so that the general path renders; whether
    /// there was one.
    #[cfg(test)]
    pub(in crate::template) fn unfix(&mut self) -> bool {
        self.fixed.take().is_some()
    }

    /// Renders a [`FormatJson::fix`]ed selection; false when a value does
    /// not convert.
    #[allow(clippy::too_many_arguments)]
    fn render_fixed(
        &self,
        fixed: &[Fixed],
        msg: &Message,
        ctx: &RenderContext,
        zone: Option<&Zone>,
        dates: &mut Dates,
        s: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> bool {
        out.push(b'{');
        let mut first = true;
        for f in fixed {
            let Scratch { bytes, tmp, .. } = &mut *s;
            for c in &f.sources {
                if let (Source::Macro(m), Hint::String) = (&c.source, c.hint)
                    && m.plain()
                {
                    // Expanded in place: no copy, no escaping.
                    let key = out.len();
                    copy_run(&f.text, usize::from(first), f.text.len(), out);
                    out.push(b'"');
                    let start = out.len();
                    macros::expand(*m, msg, ctx, zone, dates, out);
                    if c.skip_empty && out.len() == start {
                        out.truncate(key);
                        continue;
                    }
                    out.push(b'"');
                    first = false;
                    break;
                }
                let v: &[u8] = match &c.source {
                    Source::Field(field) => msg.get(*field).unwrap_or_default(),
                    Source::Own(field) => match msg.get(*field) {
                        Some(v) => v,
                        None => continue,
                    },
                    Source::Macro(m) => {
                        bytes.clear();
                        macros::expand(*m, msg, ctx, zone, dates, bytes);
                        bytes
                    }
                    Source::Origin => match msg.origin.get() {
                        Some(o) => o.source.as_bytes(),
                        None => continue,
                    },
                    Source::Pair(i) => {
                        bytes.clear();
                        self.pairs[*i].1.render_with(msg, ctx, dates, bytes);
                        bytes
                    }
                    Source::Constant(c) => c,
                };
                if c.skip_empty && v.is_empty() {
                    continue;
                }
                copy_run(&f.text, usize::from(first), f.text.len(), out);
                first = false;
                if !value(v, c.hint, tmp, out) {
                    return false;
                }
                break;
            }
        }
        out.push(b'}');
        true
    }

    fn add_pair(&mut self, a: &Arg, spec: &str, off: usize) -> Result<(), TemplateError> {
        let Some(eq) = spec.find('=') else {
            return Err(a.error("expected NAME=TEMPLATE"));
        };
        if eq == 0 {
            return Err(a.error("empty name in NAME=TEMPLATE"));
        }
        let text = &spec[eq + 1..];
        let (range, hint) = split_hint(text);
        let hint = match hint {
            None => Hint::String,
            Some(h) => HINTS
                .iter()
                .find(|(n, _)| *n == h)
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    TemplateError::new(
                        off + eq + 1,
                        h.len(),
                        format!(
                            "unknown type hint {h:?}; known: {}",
                            HINTS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                        ),
                    )
                })?,
        };
        let t = Template::compile_at(&text[range.clone()], off + eq + 1 + range.start)?;
        self.pairs.push((spec.as_bytes()[..eq].into(), t, hint));
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
        for (_, t, _) in &mut self.pairs {
            t.set_zone(zone);
        }
    }

    /// No scope, key, macro or pair: it renders an empty object.
    pub fn selects_nothing(&self) -> bool {
        self.scopes == 0
            && self.patterns.is_empty()
            && self.builtins.is_empty()
            && self.pairs.is_empty()
    }

    pub fn render(
        &self,
        msg: &Message,
        ctx: &RenderContext,
        zone: Option<&Zone>,
        dates: &mut Dates,
        out: &mut Vec<u8>,
    ) {
        let mut s = SCRATCH.with_borrow_mut(Vec::pop).unwrap_or_default();
        let start = out.len();
        // A message pair the selection takes may nest or repeat a key.
        if let Some(fixed) = &self.fixed
            && !(self.reads_pairs() && msg.pair_names().any(|name| self.selects(name)))
        {
            if !self.render_fixed(fixed, msg, ctx, zone, dates, &mut s, out) {
                out.truncate(start);
            }
            SCRATCH.with_borrow_mut(|all| all.push(s));
            return;
        }
        s.bytes.clear();
        s.bytes.extend_from_slice(&self.known.text);
        s.entries.clear();
        self.collect(msg, ctx, zone, dates, &mut s);
        let ok = match self.style {
            Style::Nested | Style::Flat => {
                let plan = s.plan(self);
                let Scratch {
                    bytes,
                    entries,
                    plans,
                    tmp,
                    ..
                } = &mut *s;
                plans[plan].write(bytes, entries, msg, tmp, out)
            }
            Style::Cef | Style::Welf => {
                s.sort(self.style);
                emit_kv(&s, msg, self.style == Style::Cef, out)
            }
        };
        if !ok {
            out.truncate(start);
        }
        SCRATCH.with_borrow_mut(|all| all.push(s));
    }

    /// Gathers the selected keys and values as entries, in the order that
    /// makes a later value of a key win. `s.bytes` starts with the
    /// [`Known`] keys.
    fn collect(
        &self,
        msg: &Message,
        ctx: &RenderContext,
        zone: Option<&Zone>,
        dates: &mut Dates,
        s: &mut Scratch,
    ) {
        let known = &self.known;
        if self.scopes & (NV_PAIRS | DOT_NV_PAIRS | SDATA | RFC5424) != 0
            || !self.patterns.is_empty()
        {
            for (key, (_, field)) in known.fields.iter().zip(FIELDS) {
                if let (Some(key), Some(v)) = (*key, msg.get(field))
                    && !(self.omit_empty && v.is_empty())
                {
                    s.push(key, Val::Field(field), Hint::String);
                }
            }
            // HOST is always set in syslog-ng (HOST_FROM when none was sent).
            if let Some(key) = known.host {
                self.add_built(s, key, Hint::String, |out| {
                    macros::expand(Macro::FullHost, msg, ctx, zone, dates, out)
                });
            }
            if let Some(key) = known.host_from {
                self.add_built(s, key, Hint::String, |out| {
                    macros::expand(Macro::HostFrom, msg, ctx, zone, dates, out)
                });
            }
            if let (Some(key), Some(o)) = (known.source, msg.origin.get()) {
                self.add_built(s, key, Hint::String, |out| {
                    out.extend_from_slice(o.source.as_bytes())
                });
            }
            // Most pairs a selection leaves out (parsed `.nginx.*` under
            // `nv-pairs`): decided from the name alone, the value unread.
            for (i, name) in msg.pair_names().enumerate() {
                if !self.selects(name) {
                    continue;
                }
                if self.omit_empty && msg.pair_at(i).is_none_or(<[u8]>::is_empty) {
                    continue;
                }
                let key = s.push_key(name, self);
                s.push(key, Val::Pair(i as u32), Hint::String);
            }
        }
        for (&key, (_, m)) in known.builtins.iter().zip(&self.builtins) {
            // Macros that are a field's bytes are read in place, as pairs
            // are; an empty one is left out, as an empty expansion is.
            if let Some(f) = m.field() {
                if msg.get(f).is_some_and(|v| !v.is_empty()) {
                    s.push(key, Val::Field(f), Hint::String);
                }
                continue;
            }
            // TAGS is a plain string in syslog-ng 3.38's JSON (checked
            // against it), not a list.
            let start = s.bytes.len();
            macros::expand(*m, msg, ctx, zone, dates, &mut s.bytes);
            if s.bytes.len() > start {
                s.push(
                    key,
                    Val::Bytes(start as u32, s.bytes.len() as u32),
                    Hint::String,
                );
            }
        }
        for (&key, (_, t, hint)) in known.pairs.iter().zip(&self.pairs) {
            if let Some(f) = t.as_field() {
                // `event=${MSG}`: the field's bytes, read in place.
                if !self.omit_empty || msg.get(f).is_some_and(|v| !v.is_empty()) {
                    s.push(key, Val::Field(f), *hint);
                }
                continue;
            }
            self.add_built(s, key, *hint, |out| t.render_with(msg, ctx, dates, out));
        }
    }

    /// Whether the scopes and patterns select a message value.
    #[inline(always)]
    fn selects(&self, name: &[u8]) -> bool {
        let dot = name.first() == Some(&b'.');
        let inc = (dot && self.scopes & DOT_NV_PAIRS != 0)
            || (!dot && self.scopes & NV_PAIRS != 0)
            || (name.starts_with(b".SDATA.") && self.scopes & (SDATA | RFC5424) != 0);
        self.decide(name, inc)
    }

    /// A value built into the scratch bytes, under `key`; left out when
    /// empty under `--omit-empty-values`.
    fn add_built(
        &self,
        s: &mut Scratch,
        key: (u32, u32),
        hint: Hint,
        value: impl FnOnce(&mut Vec<u8>),
    ) {
        let start = s.bytes.len();
        value(&mut s.bytes);
        if !(self.omit_empty && s.bytes.len() == start) {
            s.push(key, Val::Bytes(start as u32, s.bytes.len() as u32), hint);
        }
    }
}

/// Where a value is: built in the scratch bytes, or read in place from
/// the message (no copy of fields and pairs).
#[derive(Clone, Copy)]
enum Val {
    Bytes(u32, u32),
    Field(Field),
    Pair(u32),
}

impl Val {
    fn get<'a>(self, bytes: &'a [u8], msg: &'a Message) -> &'a [u8] {
        match self {
            Val::Bytes(a, b) => &bytes[a as usize..b as usize],
            Val::Field(f) => msg.get(f).unwrap_or_default(),
            Val::Pair(i) => msg.pair_at(i as usize).unwrap_or_default(),
        }
    }
}

/// A key and its value, in the order they were collected.
#[derive(Clone, Copy)]
struct Entry {
    key: (u32, u32),
    value: Val,
    hint: Hint,
}

#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// Indexes of `entries` in output order.
    order: Vec<u32>,
    tokens: Vec<(u32, u32)>,
    open: Vec<(u32, u32)>,
    /// A decoded list item.
    tmp: Vec<u8>,
    /// The output plans last made, newest last.
    plans: Vec<Plan>,
}

/// How many output plans a thread keeps: one per `$(format-json)` a
/// worker renders in turn.
const PLANS: usize = 8;

/// The JSON text around the values for one sequence of keys: the sorting,
/// nesting, key escaping and duplicate keys worked out once. Messages of
/// one stream mostly carry the same keys in the same order, and then
/// writing one is copying text and escaping values.
#[derive(Default)]
struct Plan {
    /// The `FormatJson` it was made for.
    id: u64,
    /// The keys and hints it was made for, in collected order: each key's
    /// end in `keys`.
    keys: Vec<u8>,
    ends: Vec<(u32, Hint)>,
    /// Where each key was in the scratch bytes: a [`Known`] key is at the
    /// same place in every render, so that place names it.
    spans: Vec<(u32, u32)>,
    text: Vec<u8>,
    /// In output order: the entry whose value comes next, and where the
    /// text before it ends.
    steps: Vec<(u32, u32)>,
}

impl Plan {
    /// Whether the plan was made for these entries of function `id`, whose
    /// [`Known`] keys take the first `known` scratch bytes.
    fn fits(&self, id: u64, known: u32, bytes: &[u8], entries: &[Entry]) -> bool {
        if self.id != id || self.ends.len() != entries.len() {
            return false;
        }
        let mut at = 0;
        let kept = self.ends.iter().zip(&self.spans);
        entries.iter().zip(kept).all(|(e, (&(end, hint), &span))| {
            let start = std::mem::replace(&mut at, end as usize);
            let same_key = (e.key == span && span.1 <= known)
                || same_bytes(
                    &self.keys[start..end as usize],
                    &bytes[e.key.0 as usize..e.key.1 as usize],
                );
            e.hint == hint && same_key
        })
    }

    /// Writes the object; false when a value does not convert.
    fn write(
        &self,
        bytes: &[u8],
        entries: &[Entry],
        msg: &Message,
        tmp: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> bool {
        let mut at = 0;
        for &(entry, end) in &self.steps {
            out.extend_from_slice(&self.text[at..end as usize]);
            at = end as usize;
            let e = &entries[entry as usize];
            if !value(e.value.get(bytes, msg), e.hint, tmp, out) {
                return false;
            }
        }
        out.extend_from_slice(&self.text[at..]);
        true
    }
}

thread_local! {
    /// Scratches to render with, one per `$(format-json)` being rendered
    /// at once on the thread (one nested in another's pair takes a second).
    /// Boxed: taking one and giving it back moves a pointer, not the
    /// scratch's dozen words (two copies of memory per render, measured).
    #[allow(clippy::vec_box)]
    static SCRATCH: RefCell<Vec<Box<Scratch>>> = const { RefCell::new(Vec::new()) };
}

impl Scratch {
    /// The index in `plans` of the plan for the collected entries, made
    /// now if no kept one fits.
    fn plan(&mut self, f: &FormatJson) -> usize {
        let known = f.known.text.len() as u32;
        if let Some(i) = self
            .plans
            .iter()
            .rposition(|p| p.fits(f.id, known, &self.bytes, &self.entries))
        {
            return i;
        }
        let mut plan = if self.plans.len() >= PLANS {
            self.plans.remove(0)
        } else {
            Plan::default()
        };
        plan.id = f.id;
        plan.keys.clear();
        plan.ends.clear();
        plan.spans.clear();
        for e in &self.entries {
            plan.keys
                .extend_from_slice(&self.bytes[e.key.0 as usize..e.key.1 as usize]);
            plan.ends.push((plan.keys.len() as u32, e.hint));
            plan.spans.push(e.key);
        }
        self.sort(f.style);
        plan.text.clear();
        plan.steps.clear();
        match f.style {
            Style::Nested => plan_nested(self, f.delimiter, &mut plan),
            _ => plan_flat(self, &mut plan),
        }
        self.plans.push(plan);
        self.plans.len() - 1
    }

    /// Puts the entries' indexes in `order` as the style writes them; of
    /// equal keys the later value first, so that it is the one written.
    fn sort(&mut self, style: Style) {
        let (bytes, entries) = (&self.bytes, &self.entries);
        let key = |i: &u32| {
            let e = &entries[*i as usize];
            &bytes[e.key.0 as usize..e.key.1 as usize]
        };
        self.order.clear();
        self.order.extend(0..entries.len() as u32);
        match style {
            Style::Nested | Style::Flat => self
                .order
                .sort_unstable_by(|a, b| key(b).cmp(key(a)).then(b.cmp(a))),
            Style::Cef => self
                .order
                .sort_unstable_by(|a, b| key(a).cmp(key(b)).then(b.cmp(a))),
            Style::Welf => self.order.sort_unstable_by(|a, b| {
                (key(a) != b"id")
                    .cmp(&(key(b) != b"id"))
                    .then(key(a).cmp(key(b)))
                    .then(b.cmp(a))
            }),
        }
    }

    /// Writes a key, rewritten by the `--rekey` sets in order and then, as
    /// syslog-ng's last transform, a leading `.` made `_`; returns (key start,
    /// value start).
    fn push_key(&mut self, name: &[u8], f: &FormatJson) -> (u32, u32) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(name);
        for (glob_, ops) in &f.rekeys {
            if !glob(glob_, &self.bytes[start..]) {
                continue;
            }
            for op in ops {
                let key_len = self.bytes.len() - start;
                match op {
                    KeyOp::AddPrefix(p) => {
                        self.bytes.extend_from_slice(p);
                        self.bytes[start..].rotate_right(p.len());
                    }
                    KeyOp::ReplacePrefix(old, new) => {
                        if self.bytes[start..].starts_with(old) {
                            self.bytes.drain(start..start + old.len());
                            self.bytes.extend_from_slice(new);
                            self.bytes[start..].rotate_right(new.len());
                        }
                    }
                    // g_string_erase() past the end leaves the key as it is.
                    KeyOp::Shift(n) if *n <= key_len => {
                        self.bytes.drain(start..start + n);
                    }
                    KeyOp::Shift(_) => {}
                    KeyOp::ShiftLevels(n) => {
                        let cut = self.bytes[start..]
                            .iter()
                            .enumerate()
                            .filter(|(_, c)| **c == b'.')
                            .nth(n - 1)
                            .map(|(p, _)| p);
                        if let Some(p) = cut {
                            self.bytes.drain(start..start + p + 1);
                        }
                    }
                }
            }
        }
        if !f.leave_initial_dot && f.delimiter == b'.' && self.bytes.get(start) == Some(&b'.') {
            self.bytes[start] = b'_';
        }
        (start as u32, self.bytes.len() as u32)
    }

    fn push(&mut self, key: (u32, u32), value: Val, hint: Hint) {
        self.entries.push(Entry { key, value, hint });
    }
}

/// The plan of nested JSON objects for the sorted entries.
fn plan_nested(s: &mut Scratch, delimiter: u8, plan: &mut Plan) {
    let Scratch {
        bytes,
        entries,
        order,
        tokens: stack,
        open,
        ..
    } = s;
    let slice = |r: (u32, u32)| &bytes[r.0 as usize..r.1 as usize];
    let out = &mut plan.text;
    open.clear();
    let mut need_comma = false;
    let mut prev_key: Option<&[u8]> = None;
    out.push(b'{');
    for &i in order.iter() {
        let e = &entries[i as usize];
        let key = slice(e.key);
        if prev_key == Some(key) {
            continue; // an earlier-inserted duplicate; the later one was emitted
        }
        prev_key = Some(key);
        stack.clear();
        split_key(key, e.key.0, delimiter, stack);
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
        plan.steps.push((i, out.len() as u32));
        need_comma = true;
    }
    for _ in open.drain(..) {
        out.push(b'}');
    }
    out.push(b'}');
}

/// The plan of `$(format-flat-json)`: one object of the whole (rewritten)
/// keys.
fn plan_flat(s: &Scratch, plan: &mut Plan) {
    let slice = |r: (u32, u32)| &s.bytes[r.0 as usize..r.1 as usize];
    let out = &mut plan.text;
    let mut prev_key: Option<&[u8]> = None;
    out.push(b'{');
    for &i in &s.order {
        let key = slice(s.entries[i as usize].key);
        if prev_key == Some(key) {
            continue;
        }
        if prev_key.is_some() {
            out.push(b',');
        }
        prev_key = Some(key);
        out.push(b'"');
        escape(key, out);
        out.extend_from_slice(b"\":");
        plan.steps.push((i, out.len() as u32));
    }
    out.push(b'}');
}

/// `$(format-cef-extension)` and `$(format-welf)`: `key=value` pairs joined by
/// spaces. A CEF key must be alphanumeric; another makes the whole function
/// render empty (syslog-ng's default on-error, as for a failed cast).
fn emit_kv(s: &Scratch, msg: &Message, cef: bool, out: &mut Vec<u8>) -> bool {
    let slice = |r: (u32, u32)| &s.bytes[r.0 as usize..r.1 as usize];
    let mut prev_key: Option<&[u8]> = None;
    for &i in &s.order {
        let e = &s.entries[i as usize];
        let key = slice(e.key);
        if prev_key == Some(key) {
            continue;
        }
        if cef && !key.iter().all(u8::is_ascii_alphanumeric) {
            return false;
        }
        if prev_key.is_some() {
            out.push(b' ');
        }
        prev_key = Some(key);
        out.extend_from_slice(key);
        out.push(b'=');
        let v = e.value.get(&s.bytes, msg);
        if cef {
            escape_cef(v, out);
        } else if v.contains(&b' ') {
            out.push(b'"');
            super::list::escape_binary(v, true, out);
            out.push(b'"');
        } else {
            super::list::escape_binary(v, false, out);
        }
    }
    true
}

/// A control character as `\u00XX`, as both JSON and CEF write it.
fn push_u_escape(c: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(&[
        b'\\',
        b'u',
        b'0',
        b'0',
        HEX[(c >> 4) as usize],
        HEX[(c & 15) as usize],
    ]);
}

/// `tf_cef_append_escaped`: `=`, `\\`, CR and LF escaped, other control characters as
/// `\uXXXX`, bytes that are not UTF-8 as `\xNN`.
fn escape_cef(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    super::list::for_each_char(s, |ch| match ch {
        Ok(b"=") => out.extend_from_slice(b"\\="),
        Ok(b"\n") => out.extend_from_slice(b"\\n"),
        Ok(b"\r") => out.extend_from_slice(b"\\r"),
        Ok(b"\\") => out.extend_from_slice(b"\\\\"),
        // NUL is no valid UTF-8 to glib: shown as a raw byte, as syslog-ng does.
        Ok(b"\0") => out.extend_from_slice(b"\\x00"),
        Ok(&[c]) if c < 0x20 => push_u_escape(c, out),
        Ok(ch) => out.extend_from_slice(ch),
        Err(c) => {
            out.extend_from_slice(&[b'\\', b'x', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]])
        }
    });
}

/// Writes one JSON value as its hint says; false when it does not convert.
fn value(v: &[u8], hint: Hint, tmp: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    if matches!(hint, Hint::Int | Hint::Double)
        && let Some(point) = plain_number(v)
        && (hint == Hint::Double || !point)
    {
        out.extend_from_slice(v);
        return true;
    }
    if !converts(hint, v) {
        return false;
    }
    match hint {
        Hint::String => {
            out.push(b'"');
            escape(v, out);
            out.push(b'"');
        }
        Hint::Json => out.extend_from_slice(v),
        Hint::Null => out.extend_from_slice(b"null"),
        Hint::Bool if matches!(v.first(), Some(b'T' | b't' | b'1')) => {
            out.extend_from_slice(b"true")
        }
        Hint::Bool => out.extend_from_slice(b"false"),
        // Written as given once it converts, as syslog-ng does (`+7`, ` 5`, `inf`).
        Hint::Int | Hint::Double => escape(v, out),
        Hint::List => {
            out.push(b'[');
            let mut first = true;
            super::list::scan(std::iter::once(v), tmp, |item| {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.push(b'"');
                escape(item, out);
                out.push(b'"');
            });
            out.push(b']');
        }
    }
    true
}

/// syslog-ng's key tokenizer: split at `.`, never producing an empty token (a
/// leading or doubled dot sticks to the next token), and keep an SD-ID's
/// enterprise number (`@32473.1.2`) inside its token.
fn split_key(key: &[u8], base: u32, delimiter: u8, toks: &mut Vec<(u32, u32)>) {
    let (mut start, mut end) = (0usize, 0usize);
    let len = key.len();
    while end < len {
        match key[end] {
            c if delimiter != b'.' => {
                if c == delimiter && start != end {
                    toks.push((base + start as u32, base + end as u32));
                    end += 1;
                    start = end;
                } else {
                    end += 1;
                    end += memchr::memchr(delimiter, &key[end..]).unwrap_or(len - end);
                }
            }
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
    let n = s.len();
    let word = |w: &[u8; 16], at: usize| u64::from_le_bytes(crate::message::bytes_at(w, at));
    // SAFETY: SSE2 is part of x86_64 itself (escape_mask16's
    // target_feature); elsewhere the function is a safe one.
    #[allow(unused_unsafe)]
    let mask = |w: [u8; 16]| unsafe { escape_mask16(word(&w, 0), word(&w, 8)) };
    out.reserve(n + 16);
    let mut i = 0;
    while i < n {
        let at = match copy_until(s, i, out, mask) {
            Ok(at) => at,
            Err(i) => {
                let at = plain_tail(s, i);
                copy_run(s, i, at, out);
                at
            }
        };
        let Some(&c) = s.get(at) else { return };
        i = at + 1;
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
            1..0x20 => push_u_escape(c, out),
            _ => {
                let width = match c {
                    0xc2..=0xdf => 2,
                    0xe0..=0xef => 3,
                    0xf0..=0xf4 => 4,
                    _ => 0,
                };
                match s.get(at..at + width) {
                    Some(ch) if width > 0 && std::str::from_utf8(ch).is_ok() => {
                        out.extend_from_slice(ch);
                        i = at + width;
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
    }
}

/// Where the first byte at or after `i` that needs escaping is (or the end),
/// when fewer than sixteen bytes are left: a word, then the last word of `s`
/// again for what is left, shifted down past the bytes seen.
#[inline]
fn plain_tail(s: &[u8], mut i: usize) -> usize {
    let n = s.len();
    let word = |at: usize| u64::from_le_bytes(crate::message::bytes_at(s, at));
    let first = |m: u64| (m.trailing_zeros() / 8) as usize;
    if i + 8 <= n {
        match escape_mask(word(i)) {
            0 => i += 8,
            m => return i + first(m),
        }
    }
    if i == n {
        n
    } else if let Some(t) = n.checked_sub(8) {
        match escape_mask(word(t)) >> ((i - t) * 8) {
            0 => n,
            m => i + first(m),
        }
    } else {
        // Shorter than a word: a table (a status, a method, a number).
        s[i..]
            .iter()
            .position(|c| ESCAPED[*c as usize])
            .map_or(n, |k| i + k)
    }
}

/// Bit 7 of each byte of the result is set where that byte of `w` is below
/// 0x20, at or above 0x80, `"` or `\\`. No carry crosses a byte, so every
/// byte's answer is exact (the lowest set bit names the first one).
#[inline]
fn escape_mask(w: u64) -> u64 {
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let splat = |c: u8| u64::from(c) * 0x0101_0101_0101_0101;
    let low = w & LOW;
    // Bit 7 set where the low seven bits are 0x20 or more.
    let printable = low + splat(0x80 - 0x20);
    // Bit 7 set where the low seven bits are `c`.
    let is = |c: u8| !((low ^ splat(c)) + LOW);
    (!printable | w | is(b'"') | is(b'\\')) & !LOW
}

/// Bit k of the result set where byte k of the sixteen in `lo`, `hi` is one
/// [`escape_mask`] marks: one SSE2 compare per kind of byte, where words
/// take a dozen operations per eight bytes (the escaper is a third of
/// rendering splunk-hec-event()'s body).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn escape_mask16(lo: u64, hi: u64) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x,
        _mm_set1_epi8,
    };
    let v = _mm_set_epi64x(hi as i64, lo as i64);
    // Compared signed, "below 0x20" takes in the bytes from 0x80 up.
    let control_or_high = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
    let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
    let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
    let marked = _mm_or_si128(control_or_high, _mm_or_si128(quote, backslash));
    _mm_movemask_epi8(marked) as u32
}

/// [`escape_mask16`] from words: only its lowest set bit is exact.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn escape_mask16(lo: u64, hi: u64) -> u32 {
    match (escape_mask(lo), escape_mask(hi)) {
        (0, 0) => 0,
        (0, m) => 1 << (8 + m.trailing_zeros() / 8),
        (m, _) => 1 << (m.trailing_zeros() / 8),
    }
}

/// [`escape_mask`] for one byte.
const ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = c < 0x20 || c >= 0x80 || c == b'"' as usize || c == b'\\' as usize;
        c += 1;
    }
    t
};

/// syslog-ng's `_split_type_and_template`: `NAME(TEMPLATE)` where NAME starts with
/// a letter or `_` and the last `)` ends the text is a type hint; anything else is
/// all template. Returns the template's range in `text` and the hint's name.
fn split_hint(text: &str) -> (std::ops::Range<usize>, Option<&str>) {
    let b = text.as_bytes();
    let name_end = b
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
        .unwrap_or(b.len());
    let mut sp = name_end;
    while matches!(b.get(sp), Some(b' ' | b'\t')) {
        sp += 1;
    }
    let starts_well = b
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
    if b.get(sp) != Some(&b'(') || !starts_well || b.last() != Some(&b')') || b.len() < sp + 2 {
        return (0..b.len(), None);
    }
    (sp + 1..b.len() - 1, Some(&text[..name_end]))
}

/// Whether `v` converts to the hinted type, as syslog-ng's `type_cast_to_*`.
fn converts(hint: Hint, v: &[u8]) -> bool {
    match hint {
        Hint::Int => is_strtoll(v),
        Hint::Double => is_strtod(v),
        Hint::Bool => matches!(v.first(), Some(b'T' | b't' | b'1' | b'F' | b'f' | b'0')),
        Hint::String | Hint::Json | Hint::List | Hint::Null => true,
    }
}

/// C's white space, as `strtoll`/`strtod` skip it.
fn skip_space(v: &[u8]) -> &[u8] {
    let n = v
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .unwrap_or(v.len());
    &v[n..]
}

fn skip_sign(v: &[u8]) -> &[u8] {
    match v.first() {
        Some(b'+' | b'-') => &v[1..],
        _ => v,
    }
}

/// `strtoll(v, &end, 10)` consumed all of a non-empty `v` (overflow saturates in
/// C and is accepted there, so here too).
fn is_strtoll(v: &[u8]) -> bool {
    let d = skip_sign(skip_space(v));
    !d.is_empty() && d.iter().all(u8::is_ascii_digit)
}

/// `strtod(v, &end)` consumed all of `v` without overflowing.
fn is_strtod(v: &[u8]) -> bool {
    plain_number(v).is_some() || strtod(v).is_some()
}

/// The usual number a template makes (`1700000000.123`, a time; a count):
/// a sign, digits and at most one point, under 300 bytes; whether it has
/// the point. strtod takes all of it without overflowing (strtoll too,
/// without the point), and nothing in it needs escaping.
fn plain_number(v: &[u8]) -> Option<bool> {
    let d = skip_sign(v);
    if d.len() >= 300 {
        return None;
    }
    let mut points = 0;
    for c in d {
        match c {
            b'0'..=b'9' => {}
            b'.' => points += 1,
            _ => return None,
        }
    }
    (points <= 1 && d.len() > points).then_some(points == 1)
}

/// C's `strtod` of all of `v`: leading white space, a sign, a decimal or `0x` hex
/// number with an optional exponent, `inf`, `infinity` or `nan`; `None` if
/// anything is left over or the value overflows (ERANGE).
pub(super) fn strtod(v: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(skip_space(v)).ok()?;
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let word = |w: &str| body.eq_ignore_ascii_case(w);
    let x = if word("inf") || word("infinity") {
        f64::INFINITY
    } else if word("nan")
        || (body.len() > 4
            && body.as_bytes()[..4].eq_ignore_ascii_case(b"nan(")
            && body.ends_with(')')
            && body[4..body.len() - 1]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_'))
    {
        f64::NAN
    } else {
        let hex = body.len() > 2 && body.as_bytes()[..2].eq_ignore_ascii_case(b"0x");
        let m = if hex {
            &body.as_bytes()[2..]
        } else {
            body.as_bytes()
        };
        let digit = |c: &u8| {
            if hex {
                c.is_ascii_hexdigit()
            } else {
                c.is_ascii_digit()
            }
        };
        let int = m.iter().take_while(|c| digit(c)).count();
        let mut i = int;
        let mut frac = 0;
        if m.get(i) == Some(&b'.') {
            frac = m[i + 1..].iter().take_while(|c| digit(c)).count();
            i += 1 + frac;
        }
        if int + frac == 0 {
            return None;
        }
        let mut exp = 0i64;
        if m.get(i)
            .is_some_and(|c| c.eq_ignore_ascii_case(if hex { &b'p' } else { &b'e' }))
        {
            exp = super::list::parse_i64(&m[i + 1..]).filter(|_| {
                m.get(i + 1)
                    .is_some_and(|c| c.is_ascii_digit() || *c == b'+' || *c == b'-')
            })?;
            i = m.len();
        }
        if i != m.len() {
            return None;
        }
        let x = if hex {
            let mut x = 0f64;
            let fraction: &[u8] = if frac > 0 {
                &m[int + 1..int + 1 + frac]
            } else {
                &[]
            };
            for c in m[..int].iter().chain(fraction) {
                x = x * 16.0 + f64::from((*c as char).to_digit(16)?);
            }
            x * 2f64.powi((exp.clamp(-100_000, 100_000) - 4 * frac as i64) as i32)
        } else {
            body.parse::<f64>().ok()?
        };
        if x.is_infinite() {
            return None;
        }
        x
    };
    Some(if neg { -x } else { x })
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
            split_key(k.as_bytes(), 0, b'.', &mut v);
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
    fn escaping_sixteen_or_eight_at_a_time_misses_no_byte() {
        // Every byte value at every place of values of 1 to 40 bytes, alone
        // and after a quote: the search by sixteen and by words (and its
        // masked, overlapping last word) must stop for it exactly as the
        // byte-by-byte one does, and runs of every length be copied whole
        // (a single byte is escaped on its own, with no context, in these
        // values).
        let by_bytes = |s: &[u8]| {
            let mut want = Vec::new();
            for x in s {
                escape(&[*x], &mut want);
            }
            want
        };
        for len in 1..=40 {
            for b in 0..=255u8 {
                for at in 0..len {
                    let mut s = b"abcdefghijklmnopqrstuvwxyz0123456789ABCD"[..len].to_vec();
                    s[at] = b;
                    let mut got = Vec::new();
                    escape(&s, &mut got);
                    assert_eq!(got, by_bytes(&s), "byte {b:#x} at {at} of {len}");
                    if at > 0 {
                        s[at - 1] = b'"';
                        got.clear();
                        escape(&s, &mut got);
                        assert_eq!(got, by_bytes(&s), "\" then {b:#x} at {at} of {len}");
                    }
                }
            }
        }
    }

    #[test]
    fn plain_macros_need_no_escaping() {
        // Written into the JSON as they expand: for messages of every kind
        // of peer, priority and stamp, escaping must leave them as they are.
        use crate::message::Timestamp;
        let ctx = RenderContext::default();
        for (name, m) in macros::all_names().filter(|(_, m)| m.plain()) {
            for (peer, pri, secs) in [
                (Some("192.0.2.10:514"), 0u8, 0i64),
                (Some("[2001:db8::1]:514"), 191, 1_795_439_237),
                (None, 13, -1),
            ] {
                let stamp = Timestamp {
                    secs,
                    nanos: 999_999_999,
                    offset: -34_200,
                };
                let mut msg = Message::new(bytes::Bytes::from_static(b"x"), stamp);
                msg.pri = pri;
                msg.peer = peer.map(|p| p.parse().unwrap());
                let mut v = Vec::new();
                macros::expand(m, &msg, &ctx, None, &mut Dates::default(), &mut v);
                let mut escaped = Vec::new();
                escape(&v, &mut escaped);
                assert_eq!(escaped, v, "{name}");
            }
        }
    }

    #[test]
    fn runs_of_every_length_at_every_place_are_copied_whole() {
        let s: Vec<u8> = (0..40u8).collect();
        for from in 0..=s.len() {
            for to in from..=s.len() {
                let mut out = b"x".to_vec();
                copy_run(&s, from, to, &mut out);
                assert_eq!(out[1..], s[from..to], "{from}..{to}");
            }
        }
    }

    #[test]
    fn utf8_across_words_is_kept_whole() {
        // A two-, three- or four-byte character at every place of plain
        // text, across word boundaries and in the last word: copied as is.
        for ch in ["\u{e9}", "\u{20ac}", "\u{1f600}"] {
            for len in 0..=24 {
                for at in 0..=len {
                    let mut text = "abcdefghijklmnopqrstuvwx"[..len].to_string();
                    text.insert_str(at, ch);
                    let mut got = Vec::new();
                    escape(text.as_bytes(), &mut got);
                    assert_eq!(got, text.as_bytes(), "{ch} at {at} of {len}");
                }
            }
        }
    }

    #[test]
    fn plain_decimals_are_taken_as_strtod_takes_them() {
        // The quick test for digits and a point answers as strtod does.
        for v in [
            "1700000000.123",
            "0",
            "-0",
            "+7",
            ".5",
            "5.",
            "007.50",
            ".",
            "-",
            "+",
            "",
            "1..2",
            "1.2.3",
            "-.5",
            "1e3",
            " 1",
            "1 ",
            "0x10",
            "inf",
            "1,5",
            "\u{0661}",
        ] {
            assert_eq!(
                is_strtod(v.as_bytes()),
                strtod(v.as_bytes()).is_some(),
                "{v:?}"
            );
        }
        // Long runs of digits never overflow without an exponent.
        assert!(is_strtod("9".repeat(299).as_bytes()));
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
