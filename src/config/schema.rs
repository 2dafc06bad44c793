//! Option schema: each driver declares its options once, as data ([`OptionSpec`]),
//! and this module checks a driver call against it: unknown names (with the nearest
//! valid one), wrong types, out-of-range values (rejected, never clamped), missing
//! required values. The same tables feed `sluice --list-options` and the man page.

use super::ast::{Arg, Opt, Value};
use super::diagnostic::{Diagnostic, nearest};
use super::source::{SourceMap, Span};
use crate::message::Zone;
use crate::template::{Template, TemplateError};
use std::time::Duration;

/// The unit a bare number means for a duration option (syslog-ng keeps a unit per
/// option: seconds for `time-reap`, minutes for `flush-grace-period`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Millis,
    Seconds,
    Minutes,
}

/// What an option accepts.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Any string.
    Str,
    /// A template, compiled at load.
    Template,
    /// `yes`/`no` (also `on`/`off`, `true`/`false`, `1`/`0`).
    Bool,
    /// A whole number in a range.
    Int { min: i64, max: i64 },
    /// A byte size: a number with an optional KiB/MiB/GiB or KB/MB/GB suffix.
    Size { min: u64, max: u64 },
    /// A duration: a number with an optional ms/s/m/h suffix.
    Duration {
        bare: TimeUnit,
        min_ms: u64,
        max_ms: u64,
    },
    /// One word of a fixed set.
    Enum(&'static [&'static str]),
    /// Zero or more words of a fixed set (`flags(a b)`).
    Flags(&'static [&'static str]),
    /// Zero or more names of the driver's choosing (`columns("HOST" "PID")`,
    /// or one string separated by commas); the driver checks each.
    List,
    /// Zero or more strings, each kept whole (`headers("Name: value" ...)`);
    /// read through [`Values::flags`].
    Strings,
    /// A time zone name or offset.
    Zone,
    /// Permission bits written in octal (`0644`).
    Octal { max: u32 },
    /// A nested block of options (`tls(key-file(...) cert-file(...))`), checked
    /// against its own table.
    Group(&'static DriverSpec),
    /// A user (`Account::User`) or group by name or number, resolved at load
    /// to its id; empty or `-1` means "leave as it is".
    Account(Account),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Account {
    User,
    Group,
}

/// One option of a driver: the single place its name, type, default and
/// documentation are written.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// The default as a user would write it; empty when there is none.
    pub default: &'static str,
    pub doc: &'static str,
}

/// A driver's option table, with the name of its positional argument if it takes one.
#[derive(Clone, Copy, Debug)]
pub struct DriverSpec {
    pub name: &'static str,
    pub context: &'static str,
    pub doc: &'static str,
    /// `file("/path")`: the positional value is this option.
    pub positional: Option<&'static str>,
    pub options: &'static [OptionSpec],
}

/// A checked option value.
#[derive(Clone, Debug)]
pub enum Typed {
    Str(String),
    Template(Template),
    Bool(bool),
    Int(i64),
    Size(u64),
    Duration(Duration),
    Word(String),
    Flags(Vec<String>),
    Zone(Zone),
    Group(Values),
}

/// The options of one driver call after checking, by spec name.
#[derive(Clone, Debug, Default)]
pub struct Values {
    values: Vec<(&'static str, Typed, Span)>,
    /// The driver call's span, for errors about the call as a whole.
    pub span: Span,
}

impl Values {
    /// Adds `other`'s values; where both set an option, `other`'s wins.
    pub fn extend(&mut self, other: Values) {
        self.values.extend(other.values);
    }

    /// Fills in the options of `names` that this call left out from
    /// `defaults` (a driver option that defaults to a global one).
    pub fn with_defaults(mut self, defaults: &Values, names: &[&str]) -> Values {
        for name in names {
            if self.find(name).is_some() {
                continue;
            }
            // The last global setting wins, as `find` reads them.
            if let Some((n, v, span)) = defaults.values.iter().rev().find(|(n, _, _)| n == name) {
                self.values.insert(0, (n, v.clone(), *span));
            }
        }
        self
    }

    fn find(&self, name: &str) -> Option<&Typed> {
        self.values
            .iter()
            .rev()
            .find(|(n, _, _)| *n == name)
            .map(|(_, v, _)| v)
    }

    /// Every template value with where it was written.
    pub fn templates(&self) -> impl Iterator<Item = (&Template, Span)> {
        self.values.iter().filter_map(|(_, v, span)| match v {
            Typed::Template(t) => Some((t, *span)),
            _ => None,
        })
    }

    pub fn span_of(&self, name: &str) -> Option<Span> {
        self.values
            .iter()
            .rev()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, s)| *s)
    }

    /// A nested block's values (`tls(...)`).
    pub fn group(&self, name: &str) -> Option<&Values> {
        match self.find(name)? {
            Typed::Group(v) => Some(v),
            _ => None,
        }
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        match self.find(name)? {
            Typed::Str(s) | Typed::Word(s) => Some(s),
            _ => None,
        }
    }

    pub fn template(&self, name: &str) -> Option<&Template> {
        match self.find(name)? {
            Typed::Template(t) => Some(t),
            _ => None,
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.find(name)? {
            Typed::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        match self.find(name)? {
            Typed::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn size(&self, name: &str) -> Option<u64> {
        match self.find(name)? {
            Typed::Size(s) => Some(*s),
            _ => None,
        }
    }

    pub fn duration(&self, name: &str) -> Option<Duration> {
        match self.find(name)? {
            Typed::Duration(d) => Some(*d),
            _ => None,
        }
    }

    pub fn flags(&self, name: &str) -> &[String] {
        match self.find(name) {
            Some(Typed::Flags(f)) => f,
            _ => &[],
        }
    }

    pub fn zone(&self, name: &str) -> Option<&Zone> {
        match self.find(name)? {
            Typed::Zone(z) => Some(z),
            _ => None,
        }
    }
}

/// Checks the arguments of `call` against `spec`; every problem is pushed to
/// `diags` and the values that did check are returned.
pub fn check(
    call: &Opt,
    spec: &DriverSpec,
    map: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Values {
    let mut values = Values {
        span: call.span,
        ..Values::default()
    };
    let mut positional_seen = false;
    for arg in &call.args {
        match arg {
            Arg::Value(v) => {
                let Some(pos) = spec.positional.and_then(|p| find_spec(spec, p)) else {
                    diags.push(Diagnostic::error(
                        v.span,
                        format!("{}() takes no positional value here; name the option, as in `name({})`", spec.name, quote(v)),
                    ));
                    continue;
                };
                if positional_seen {
                    diags.push(Diagnostic::error(
                        v.span,
                        format!(
                            "{}() takes one positional value; this is a second one",
                            spec.name
                        ),
                    ));
                    continue;
                }
                positional_seen = true;
                let opt = Opt {
                    name: call.name.clone(),
                    args: vec![Arg::Value(v.clone())],
                    span: v.span,
                };
                if let Some(t) = check_value(&opt, pos, map, diags) {
                    values.values.push((pos.name, t, v.span));
                }
            }
            Arg::Opt(o) => {
                let key = o.name.key();
                match find_spec(spec, &key) {
                    Some(os) => {
                        if let Some(t) = check_value(o, os, map, diags) {
                            values.values.push((os.name, t, o.span));
                        }
                    }
                    None => {
                        let mut d = Diagnostic::error(
                            o.name.span,
                            format!("unknown option `{}` of {}()", o.name.name, spec.name),
                        );
                        if let Some(n) = nearest(&o.name.name, spec.options.iter().map(|s| s.name))
                        {
                            d = d.with_help(format!("did you mean `{n}`?"));
                        }
                        diags.push(d);
                    }
                }
            }
        }
    }
    values
}

fn find_spec<'a>(spec: &'a DriverSpec, key: &str) -> Option<&'a OptionSpec> {
    spec.options.iter().find(|s| s.name == key)
}

fn quote(v: &Value) -> String {
    if v.quoted {
        format!("\"{}\"", v.text)
    } else {
        v.text.clone()
    }
}

/// Checks one option's arguments against its kind.
pub fn check_value(
    o: &Opt,
    spec: &OptionSpec,
    map: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Option<Typed> {
    let name = spec.name;
    if let Kind::Group(group) = spec.kind {
        if let Some(v) = o.values().next() {
            diags.push(Diagnostic::error(
                v.span,
                format!("{name}() takes options, as in {name}(option(value) ...)"),
            ));
            return None;
        }
        return Some(Typed::Group(check(o, group, map, diags)));
    }
    if let Some(nested) = o.opts().next() {
        diags.push(Diagnostic::error(
            nested.span,
            format!("{name}() takes a value, not a nested option"),
        ));
        return None;
    }
    let vals: Vec<&Value> = o.values().collect();
    if let Kind::Strings = spec.kind {
        return Some(Typed::Flags(vals.iter().map(|v| v.text.clone()).collect()));
    }
    if let Kind::List = spec.kind {
        let out = vals
            .iter()
            .flat_map(|v| v.text.split([',', ' ']))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        return Some(Typed::Flags(out));
    }
    if let Kind::Flags(allowed) = spec.kind {
        let mut out = Vec::new();
        for v in vals {
            // `flags(a, b)` and `flags("a,b")` are both seen in the wild.
            for word in v.text.split([',', ' ']).filter(|w| !w.is_empty()) {
                let w = word.replace('_', "-");
                if allowed.contains(&w.as_str()) {
                    out.push(w);
                } else {
                    let mut d =
                        Diagnostic::error(v.span, format!("unknown flag `{word}` in {name}()"));
                    d = match nearest(word, allowed.iter().copied()) {
                        Some(n) => d.with_help(format!("did you mean `{n}`?")),
                        None => d.with_help(format!("valid flags: {}", allowed.join(", "))),
                    };
                    diags.push(d);
                }
            }
        }
        return Some(Typed::Flags(out));
    }
    let v = match vals.as_slice() {
        [v] => *v,
        [] => {
            diags.push(Diagnostic::error(o.span, format!("{name}() needs a value")));
            return None;
        }
        [_, extra, ..] => {
            diags.push(Diagnostic::error(
                extra.span,
                format!("{name}() takes one value"),
            ));
            return None;
        }
    };
    let err = |diags: &mut Vec<Diagnostic>, msg: String| {
        diags.push(Diagnostic::error(v.span, msg));
        None
    };
    match spec.kind {
        Kind::Str => Some(Typed::Str(v.text.clone())),
        // A bare word naming a `template NAME {...};` stands for its text.
        Kind::Template => match Template::compile(
            &(!v.quoted)
                .then(|| crate::template::named::lookup(&v.text))
                .flatten()
                .unwrap_or_else(|| v.text.clone()),
        ) {
            Ok(t) => Some(Typed::Template(t)),
            Err(e) => {
                diags.push(template_diagnostic(v, &e, map));
                None
            }
        },
        Kind::Bool => match parse_bool(&v.text) {
            Some(b) => Some(Typed::Bool(b)),
            None => err(diags, format!("{name}() takes yes or no, not `{}`", v.text)),
        },
        Kind::Int { min, max } => match v.text.parse::<i64>() {
            Ok(i) if (min..=max).contains(&i) => Some(Typed::Int(i)),
            Ok(i) => err(
                diags,
                format!("{name}({i}) is out of range: {min} to {max}"),
            ),
            Err(_) => err(
                diags,
                format!("{name}() takes a whole number, not `{}`", v.text),
            ),
        },
        Kind::Size { min, max } => match parse_size(&v.text) {
            Some(s) if (min..=max).contains(&s) => Some(Typed::Size(s)),
            Some(_) => err(
                diags,
                format!(
                    "{name}({}) is out of range: {} to {}",
                    v.text,
                    show_size(min),
                    show_size(max)
                ),
            ),
            None => err(
                diags,
                format!(
                    "{name}() takes a size such as 64KiB or 100MiB, not `{}`",
                    v.text
                ),
            ),
        },
        Kind::Duration {
            bare,
            min_ms,
            max_ms,
        } => match parse_duration(&v.text, bare) {
            Some(d) if (min_ms..=max_ms).contains(&(d.as_millis() as u64)) => {
                Some(Typed::Duration(d))
            }
            Some(_) => err(
                diags,
                format!(
                    "{name}({}) is out of range: {} to {}",
                    v.text,
                    show_ms(min_ms),
                    show_ms(max_ms)
                ),
            ),
            None => err(
                diags,
                format!(
                    "{name}() takes a duration such as 500ms, 30s, 5m or 1h, not `{}`",
                    v.text
                ),
            ),
        },
        // An empty word for an option that is unset by default leaves it
        // unset: what a block passes for a parameter its caller left out.
        Kind::Enum(_) if v.text.is_empty() && spec.default.is_empty() => None,
        Kind::Enum(allowed) => {
            // `_` and `-` are one character in option words, as in names;
            // the table's spelling is the value (`size_and_time`).
            let w = v.text.to_ascii_lowercase().replace('_', "-");
            let same = |a: &&&str| a.replace('_', "-").eq_ignore_ascii_case(&w);
            if let Some(a) = allowed.iter().find(same) {
                Some(Typed::Word(a.to_string()))
            } else {
                let mut d = Diagnostic::error(
                    v.span,
                    format!(
                        "{name}() takes one of {}, not `{}`",
                        allowed.join(", "),
                        v.text
                    ),
                );
                if let Some(n) = nearest(&v.text, allowed.iter().copied()) {
                    d = d.with_help(format!("did you mean `{n}`?"));
                }
                diags.push(d);
                None
            }
        }
        Kind::Zone => match Zone::parse(&v.text) {
            Some(z) => Some(Typed::Zone(z)),
            None => err(
                diags,
                format!(
                    "{name}() takes a time zone such as UTC, +02:00 or Europe/Budapest, not `{}`",
                    v.text
                ),
            ),
        },
        Kind::Octal { max } => match u32::from_str_radix(&v.text, 8) {
            Ok(n) if n <= max => Some(Typed::Int(n as i64)),
            // syslog-ng's "leave the mode alone".
            _ if v.text == "-1" => Some(Typed::Int(-1)),
            _ => err(
                diags,
                format!(
                    "{name}() takes octal permission bits such as 0644, not `{}`",
                    v.text
                ),
            ),
        },
        Kind::Account(which) => match resolve_account(which, &v.text) {
            Ok(id) => Some(Typed::Int(id)),
            Err(e) => err(diags, format!("{name}(): {e}")),
        },
        Kind::Flags(_) | Kind::List | Kind::Strings | Kind::Group(_) => {
            unreachable!("handled above")
        }
    }
}

/// A user or group id by name or number; -1 for "unchanged" (empty or -1).
pub fn resolve_account(which: Account, text: &str) -> Result<i64, String> {
    let what = match which {
        Account::User => "user",
        Account::Group => "group",
    };
    if text.is_empty() || text == "-1" {
        return Ok(-1);
    }
    if let Ok(n) = text.parse::<u32>() {
        return Ok(i64::from(n));
    }
    let name = std::ffi::CString::new(text).map_err(|_| format!("no {what} `{text}`"))?;
    // Directory services may return entries larger than any fixed buffer:
    // grow it on ERANGE.
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    loop {
        // SAFETY: the out-pointers point at locals that outlive the call, and
        // the buffer's length is passed with it; the entry is read only when the
        // call reports success and a non-null result.
        let (rc, id) = unsafe {
            match which {
                Account::User => {
                    let mut pwd: libc::passwd = std::mem::zeroed();
                    let mut out: *mut libc::passwd = std::ptr::null_mut();
                    let rc = libc::getpwnam_r(
                        name.as_ptr(),
                        &mut pwd,
                        buf.as_mut_ptr(),
                        buf.len(),
                        &mut out,
                    );
                    (rc, (!out.is_null()).then_some(pwd.pw_uid))
                }
                Account::Group => {
                    let mut grp: libc::group = std::mem::zeroed();
                    let mut out: *mut libc::group = std::ptr::null_mut();
                    let rc = libc::getgrnam_r(
                        name.as_ptr(),
                        &mut grp,
                        buf.as_mut_ptr(),
                        buf.len(),
                        &mut out,
                    );
                    (rc, (!out.is_null()).then_some(grp.gr_gid))
                }
            }
        };
        match (rc, id) {
            (0, Some(id)) => return Ok(i64::from(id)),
            (0, None) => return Err(format!("no {what} `{text}` on this system")),
            (libc::ERANGE, _) if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            (rc, _) => {
                let e = std::io::Error::from_raw_os_error(rc);
                return Err(format!("cannot look up {what} `{text}`: {e}"));
            }
        }
    }
}

/// A template error pointed at the offending character inside the string when the
/// string was written without escapes (so offsets line up), else at the string.
pub fn template_diagnostic(v: &Value, e: &TemplateError, map: &SourceMap) -> Diagnostic {
    let written = map.text(v.span);
    let inner = written
        .get(1..written.len().saturating_sub(1))
        .unwrap_or("");
    let span = if v.quoted && inner == v.text {
        let start = v.span.start as usize + 1 + e.offset;
        Span::new(v.span.source, start, start + e.len.max(1))
    } else {
        v.span
    };
    Diagnostic::error(span, format!("invalid template: {}", e.message))
}

pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" | "1" => Some(true),
        "no" | "off" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// `100`, `64KiB`, `100MiB`, `1GB`, `5M` (binary and decimal suffixes, case-insensitive).
pub fn parse_size(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// `500ms`, `30s`, `5m`, `1h`; a bare number is in `bare` units.
pub fn parse_duration(s: &str, bare: TimeUnit) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit {
        "" => match bare {
            TimeUnit::Millis => n,
            TimeUnit::Seconds => n.checked_mul(1000)?,
            TimeUnit::Minutes => n.checked_mul(60_000)?,
        },
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" | "min" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

fn show_size(n: u64) -> String {
    for (unit, mult) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= mult && n.is_multiple_of(mult) {
            return format!("{}{unit}", n / mult);
        }
    }
    n.to_string()
}

fn show_ms(n: u64) -> String {
    match n {
        _ if n >= 3_600_000 && n.is_multiple_of(3_600_000) => format!("{}h", n / 3_600_000),
        _ if n >= 60_000 && n.is_multiple_of(60_000) => format!("{}m", n / 60_000),
        _ if n >= 1000 && n.is_multiple_of(1000) => format!("{}s", n / 1000),
        _ => format!("{n}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_resolve_by_name_or_number() {
        // Every Unix system has root as user and group 0.
        assert_eq!(resolve_account(Account::User, "root"), Ok(0));
        assert_eq!(resolve_account(Account::Group, "root"), Ok(0));
        assert_eq!(resolve_account(Account::User, "4242"), Ok(4242));
        assert_eq!(resolve_account(Account::Group, ""), Ok(-1));
        assert_eq!(resolve_account(Account::User, "-1"), Ok(-1));
        assert!(resolve_account(Account::User, "no such user").is_err());
        assert!(resolve_account(Account::Group, "nul\0byte").is_err());
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("100MiB"), Some(100 << 20));
        assert_eq!(parse_size("64kib"), Some(64 << 10));
        assert_eq!(parse_size("5MB"), Some(5_000_000));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("MiB"), None);
        assert_eq!(parse_size("5 parsecs"), None);
        assert_eq!(
            parse_duration("5", TimeUnit::Minutes),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            parse_duration("500ms", TimeUnit::Minutes),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_duration("2h", TimeUnit::Seconds),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(parse_duration("2d", TimeUnit::Seconds), None);
        assert_eq!(show_size(64 << 20), "64MiB");
        assert_eq!(show_ms(90_000), "90s");
    }
}
