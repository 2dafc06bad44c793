//! Filters: syslog-ng's filter expressions, compiled once from the config and
//! evaluated per message while a batch is routed.
//!
//! `facility()` and `level()` test the priority; `program()`, `host()`,
//! `message()` and `match(... value(NAME))` test a macro against a regular
//! expression (or a string or glob, by `type()`); `netmask()` tests the sender's
//! address; `"TEMPLATE" OP "TEMPLATE"` compares as `$(if)` does; `filter(NAME)`
//! names another filter; `and`, `or`, `not` and parentheses combine.

use crate::config::ast::{FilterExpr, Ident, Opt, Value};
use crate::config::diagnostic::{Diagnostic, nearest};
use crate::message::Message;
use crate::template::{Comparison, RenderContext, Template};
use regex::bytes::{Regex, RegexBuilder};
use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;

/// A compiled filter expression.
#[derive(Clone, Debug)]
pub enum Filter {
    /// Bit `n` set: facility `n` matches.
    Facility(u32),
    /// Bit `n` set: severity `n` matches.
    Level(u8),
    /// The rendered template matches the expression.
    Match {
        value: Template,
        re: Regex,
    },
    /// The sender's address is inside the network.
    Netmask {
        net: IpAddr,
        prefix: u8,
    },
    Compare(Comparison),
    /// Another named filter, shared.
    Named(Arc<Filter>),
    Not(Box<Filter>),
    /// `and`: every term matches (evaluated in order, stopping at the first miss).
    All(Vec<Filter>),
    /// `or`: some term matches.
    Any(Vec<Filter>),
}

thread_local! {
    /// Render space for templates under test; filters never allocate per message.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Filter {
    pub fn matches(&self, msg: &Message, ctx: &RenderContext) -> bool {
        match self {
            Filter::Facility(bits) => bits & (1 << (msg.pri >> 3).min(31)) != 0,
            Filter::Level(bits) => bits & (1 << (msg.pri & 7)) != 0,
            Filter::Match { value, re } => SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                let start = s.len();
                value.render(msg, ctx, &mut s);
                let hit = re.is_match(&s[start..]);
                s.truncate(start);
                hit
            }),
            Filter::Netmask { net, prefix } => {
                msg.peer.is_some_and(|p| in_network(p.ip(), *net, *prefix))
            }
            Filter::Compare(c) => SCRATCH.with(|s| c.matches(msg, ctx, &mut s.borrow_mut())),
            Filter::Named(f) => f.matches(msg, ctx),
            Filter::Not(f) => !f.matches(msg, ctx),
            Filter::All(terms) => terms.iter().all(|f| f.matches(msg, ctx)),
            Filter::Any(terms) => terms.iter().any(|f| f.matches(msg, ctx)),
        }
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    // An IPv4 sender on a dual-stack socket shows as ::ffff:a.b.c.d.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The filter functions, for "did you mean" and the grammar's test.
pub const FUNCTIONS: &[&str] = &[
    "facility", "level", "priority", "program", "host", "message", "match", "netmask", "netmask6",
    "filter",
];

pub const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("ntp", 12),
    ("security", 13),
    ("console", 14),
    ("solaris-cron", 15),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

pub const LEVELS: &[(&str, u8)] = &[
    ("emerg", 0),
    ("emergency", 0),
    ("panic", 0),
    ("alert", 1),
    ("crit", 2),
    ("critical", 2),
    ("err", 3),
    ("error", 3),
    ("warning", 4),
    ("warn", 4),
    ("notice", 5),
    ("info", 6),
    ("informational", 6),
    ("debug", 7),
];

/// Resolves `filter(NAME)` inside an expression to the compiled named filter.
pub type Named<'a> = dyn FnMut(&Ident, &mut Vec<Diagnostic>) -> Option<Arc<Filter>> + 'a;

/// Compiles an expression. `named` resolves `filter(NAME)`; it reports its own
/// errors and returns `None` for a name that does not resolve. Every error goes to
/// `diags`; the result is `None` if there was any.
pub fn compile(
    expr: &FilterExpr,
    named: &mut Named<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Filter> {
    Some(match expr {
        FilterExpr::And(terms) => Filter::All(compile_all(terms, named, diags)?),
        FilterExpr::Or(terms) => Filter::Any(compile_all(terms, named, diags)?),
        FilterExpr::Not(a, _) => Filter::Not(Box::new(compile(a, named, diags)?)),
        FilterExpr::Compare { left, op, right } => {
            let l = template(left, diags);
            let r = template(right, diags);
            let (l, r) = (l?, r?);
            match Comparison::new(l, &op.name, r) {
                Some(c) => Filter::Compare(c),
                None => {
                    diags.push(Diagnostic::error(
                        op.span,
                        format!(
                            "unknown comparison `{}`; use == != < <= > >= (numbers) or eq ne lt le gt ge (strings)",
                            op.name
                        ),
                    ));
                    return None;
                }
            }
        }
        FilterExpr::Call(call) => return function(call, named, diags),
    })
}

/// Compiles every term, reporting the errors of all of them.
fn compile_all(
    terms: &[FilterExpr],
    named: &mut Named<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<Filter>> {
    let compiled: Vec<Option<Filter>> = terms.iter().map(|t| compile(t, named, diags)).collect();
    compiled.into_iter().collect()
}

fn function(call: &Opt, named: &mut Named<'_>, diags: &mut Vec<Diagnostic>) -> Option<Filter> {
    let values: Vec<&Value> = call.values().collect();
    let name = call.name.key();
    let first = |diags: &mut Vec<Diagnostic>| -> Option<&Value> {
        let v = values.first().copied();
        if v.is_none() {
            diags.push(Diagnostic::error(
                call.span,
                format!("{}() needs an argument", call.name.name),
            ));
        }
        v
    };
    match name.as_str() {
        "facility" => {
            let bits = priority_set(call, &values, FACILITIES, 23, "facility", diags)?;
            no_options(call, &[], diags)?;
            Some(Filter::Facility(bits))
        }
        "level" | "priority" | "severity" => {
            let bits = priority_set(call, &values, LEVELS, 7, "level", diags)?;
            no_options(call, &[], diags)?;
            Some(Filter::Level(bits as u8))
        }
        "program" | "host" | "message" | "match" => {
            let pattern = first(diags)?;
            // What the pattern is matched against, as a template. match()
            // without value() or template() reads syslog-ng's legacy
            // "$PROGRAM[$PID]: $MESSAGE".
            let nested = |key: &str| call.opts().find(|o| o.name.key() == key);
            let text = match name.as_str() {
                "program" => "${PROGRAM}".to_string(),
                "host" => "${HOST}".to_string(),
                "message" => "${MESSAGE}".to_string(),
                _ => match (nested("value"), nested("template")) {
                    (Some(o), _) | (None, Some(o)) => {
                        let Some(v) = o.values().next() else {
                            diags.push(Diagnostic::error(
                                o.span,
                                format!("{}() needs an argument", o.name.name),
                            ));
                            return None;
                        };
                        if o.name.key() == "value" {
                            format!("${{{}}}", v.text.trim_start_matches('$'))
                        } else {
                            v.text.clone()
                        }
                    }
                    (None, None) => "${MSGHDR}${MESSAGE}".to_string(),
                },
            };
            let allowed: &[&str] = if name == "match" {
                &["type", "flags", "value", "template"]
            } else {
                &["type", "flags"]
            };
            no_options(call, allowed, diags)?;
            if values.len() > 1 {
                diags.push(Diagnostic::error(
                    values[1].span,
                    format!("{}() takes one pattern", call.name.name),
                ));
                return None;
            }
            let value = match Template::compile(&text) {
                Ok(t) => t,
                Err(e) => {
                    diags.push(Diagnostic::error(
                        call.span,
                        format!("invalid template: {e}"),
                    ));
                    return None;
                }
            };
            let re = pattern_regex(call, pattern, diags)?;
            Some(Filter::Match { value, re })
        }
        "netmask" | "netmask6" => {
            let v = first(diags)?;
            no_options(call, &[], diags)?;
            match parse_network(&v.text) {
                Some((net, prefix)) => Some(Filter::Netmask { net, prefix }),
                None => {
                    diags.push(Diagnostic::error(
                        v.span,
                        format!(
                            "`{}` is not a network; write an address with a prefix length (10.0.0.0/8, fd00::/8) or a dotted mask (10.0.0.0/255.0.0.0)",
                            v.text
                        ),
                    ));
                    None
                }
            }
        }
        "filter" => {
            let v = first(diags)?;
            let ident = Ident {
                name: v.text.clone(),
                span: v.span,
            };
            named(&ident, diags).map(Filter::Named)
        }
        _ => {
            let mut d = Diagnostic::error(
                call.name.span,
                format!("unknown filter function `{}`", call.name.name),
            );
            if let Some(n) = nearest(&call.name.name, FUNCTIONS.iter().copied()) {
                d = d.with_help(format!("did you mean `{n}`?"));
            }
            diags.push(d);
            None
        }
    }
}

/// Rejects nested options other than `allowed`.
fn no_options(call: &Opt, allowed: &[&str], diags: &mut Vec<Diagnostic>) -> Option<()> {
    let mut ok = true;
    for o in call.opts() {
        if !allowed.contains(&o.name.key().as_str()) {
            let mut d = Diagnostic::error(
                o.name.span,
                format!("{}() takes no option `{}`", call.name.name, o.name.name),
            );
            if let Some(n) = nearest(&o.name.name, allowed.iter().copied()) {
                d = d.with_help(format!("did you mean `{n}`?"));
            }
            diags.push(d);
            ok = false;
        }
    }
    ok.then_some(())
}

/// `facility(auth, authpriv)`, `level(err..emerg)`, `level(4)`: a set of numbers
/// as a bit mask. Names, numbers and `a..b` ranges (either order) mix freely.
fn priority_set(
    call: &Opt,
    values: &[&Value],
    names: &[(&str, u8)],
    max: u8,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<u32> {
    if values.is_empty() {
        diags.push(Diagnostic::error(
            call.span,
            format!("{}() needs at least one {what}", call.name.name),
        ));
        return None;
    }
    // syslog-ng also takes `crit .. emerg`, in one value or three.
    let joined: Vec<&str> = values.iter().map(|v| v.text.as_str()).collect();
    let joined = joined.join(" ").replace(',', " ");
    let mut words: Vec<String> = Vec::new();
    for w in joined.split_whitespace() {
        match words.last_mut() {
            Some(last) if last.ends_with("..") || w.starts_with("..") => last.push_str(w),
            _ => words.push(w.to_string()),
        }
    }
    let one = |w: &str| -> Option<u8> {
        let w = w.to_ascii_lowercase();
        names
            .iter()
            .find(|(n, _)| *n == w)
            .map(|(_, n)| *n)
            .or_else(|| w.parse::<u8>().ok().filter(|n| *n <= max))
    };
    let mut bits = 0u32;
    let mut ok = true;
    for word in &words {
        let (a, b) = match word.split_once("..") {
            Some((a, b)) => (one(a), one(b)),
            None => (one(word), one(word)),
        };
        if let (Some(a), Some(b)) = (a, b) {
            for n in a.min(b)..=a.max(b) {
                bits |= 1 << n;
            }
            continue;
        }
        let bad = word.split("..").find(|w| one(w).is_none()).unwrap_or(word);
        // The value that holds the word, for the caret.
        let span = values
            .iter()
            .find(|v| v.text.contains(bad))
            .map_or(values[0].span, |v| v.span);
        let mut d = Diagnostic::error(span, format!("unknown {what} `{bad}`"));
        if let Some(n) = nearest(bad, names.iter().map(|(n, _)| *n)) {
            d = d.with_help(format!("did you mean `{n}`?"));
        }
        diags.push(d);
        ok = false;
    }
    ok.then_some(bits)
}

/// The pattern as a regular expression: `type(pcre)` (the default) as written,
/// `type(string)` exact (or a prefix or substring, by `flags()`), `type(glob)`
/// with `*` and `?`; `flags(ignore-case)` for any.
fn pattern_regex(call: &Opt, pattern: &Value, diags: &mut Vec<Diagnostic>) -> Option<Regex> {
    let word = |name: &str| -> Vec<&Value> {
        call.opts()
            .filter(|o| o.name.key() == name)
            .flat_map(|o| o.values())
            .collect()
    };
    let kind = word("type").first().map(|v| v.text.to_ascii_lowercase());
    let mut flags = Vec::new();
    for v in word("flags") {
        for f in v.text.split([',', ' ']).filter(|w| !w.is_empty()) {
            let f = match f.replace('_', "-").to_ascii_lowercase().as_str() {
                "icase" => "ignore-case".to_string(),
                other => other.to_string(),
            };
            // The rest of syslog-ng's flags change nothing a filter decides
            // (captures are not stored, the regex engine has no JIT switch).
            const FLAGS: &[&str] = &[
                "ignore-case",
                "prefix",
                "substring",
                "newline",
                "utf8",
                "unicode",
                "store-matches",
                "global",
                "disable-jit",
                "dupnames",
            ];
            if !FLAGS.contains(&f.as_str()) {
                let mut d = Diagnostic::error(v.span, format!("unknown match flag `{f}`"));
                if let Some(n) = nearest(&f, FLAGS.iter().copied()) {
                    d = d.with_help(format!("did you mean `{n}`?"));
                }
                diags.push(d);
                return None;
            }
            flags.push(f);
        }
    }
    let has = |f: &str| flags.iter().any(|x| x == f);
    let text = &pattern.text;
    let source = match kind.as_deref() {
        None | Some("pcre") | Some("posix") => text.clone(),
        Some("string") if has("substring") => regex::escape(text),
        Some("string") if has("prefix") => format!("^{}", regex::escape(text)),
        Some("string") => format!("^{}$", regex::escape(text)),
        Some("glob") => {
            let mut s = String::from("^");
            for c in text.chars() {
                match c {
                    '*' => s.push_str(".*"),
                    '?' => s.push('.'),
                    c => s.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
                }
            }
            s.push('$');
            s
        }
        Some(other) => {
            let at = call
                .opts()
                .find(|o| o.name.key() == "type")
                .map_or(call.span, |o| o.span);
            diags.push(Diagnostic::error(
                at,
                format!("unknown match type `{other}`; use pcre, string or glob"),
            ));
            return None;
        }
    };
    match RegexBuilder::new(&source)
        .case_insensitive(has("ignore-case"))
        .multi_line(has("newline"))
        .build()
    {
        Ok(re) => Some(re),
        Err(e) => {
            diags.push(Diagnostic::error(
                pattern.span,
                format!("invalid regular expression: {}", regex_reason(&e)),
            ));
            None
        }
    }
}

/// Why a regular expression did not compile. The regex crate's message draws
/// its own caret over several lines; the last line holds the reason.
pub fn regex_reason(e: &regex::Error) -> String {
    let s = e.to_string();
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(&s)
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

fn template(v: &Value, diags: &mut Vec<Diagnostic>) -> Option<Template> {
    match Template::compile(&v.text) {
        Ok(t) => Some(t),
        Err(e) => {
            diags.push(Diagnostic::error(
                v.span,
                format!("invalid template: {}", e.message),
            ));
            None
        }
    }
}

/// `10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `fd00::/8`, or a bare address (one host).
fn parse_network(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let net: IpAddr = addr.trim().parse().ok()?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    let prefix = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(p) if p <= max => p,
            Ok(_) => return None,
            Err(_) => {
                let mask: std::net::Ipv4Addr = l.parse().ok()?;
                let m = u32::from(mask);
                // A dotted mask must be contiguous ones.
                if m.leading_ones() + m.trailing_zeros() != 32 {
                    return None;
                }
                m.leading_ones() as u8
            }
        },
    };
    // An IPv4-mapped network (::ffff:10.0.0.0/104) is an IPv4 one, as the
    // senders it should match are compared as IPv4.
    if let IpAddr::V6(v6) = net
        && let Some(v4) = v6.to_ipv4_mapped()
        && prefix >= 96
    {
        return Some((IpAddr::V4(v4), prefix - 96));
    }
    Some((net, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ast::Arg;
    use crate::config::source::Span;
    use bytes::Bytes;

    fn v(text: &str) -> Value {
        Value {
            text: text.into(),
            quoted: true,
            span: Span::default(),
        }
    }

    fn call(name: &str, args: Vec<Arg>) -> FilterExpr {
        FilterExpr::Call(Opt {
            name: Ident {
                name: name.into(),
                span: Span::default(),
            },
            args,
            span: Span::default(),
        })
    }

    fn build(e: &FilterExpr) -> Result<Filter, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let f = compile(e, &mut |_, _| None, &mut diags);
        f.ok_or(diags)
    }

    fn msg(pri: u8, text: &str) -> Message {
        let mut m = crate::parse::parse(
            Bytes::from(text.to_string()),
            crate::message::Timestamp::now(&crate::message::Zone::Local),
            None,
            &crate::parse::ParseOptions::default(),
        );
        m.pri = pri;
        m
    }

    #[test]
    fn facility_and_level_sets() {
        let ctx = RenderContext::default();
        let f = build(&call("facility", vec![Arg::Value(v("auth, authpriv"))])).unwrap();
        assert!(f.matches(&msg(4 * 8 + 6, "x"), &ctx));
        assert!(f.matches(&msg(10 * 8, "x"), &ctx));
        assert!(!f.matches(&msg(8, "x"), &ctx));
        let f = build(&call("level", vec![Arg::Value(v("err..emerg"))])).unwrap();
        assert!(f.matches(&msg(3, "x"), &ctx));
        assert!(f.matches(&msg(8, "x"), &ctx));
        assert!(!f.matches(&msg(4, "x"), &ctx));
        // `crit .. emerg` as three words, as Debian's syslog-ng.conf writes it
        let spaced = ["crit", "..", "emerg"].map(|w| Arg::Value(v(w)));
        let f = build(&call("level", spaced.to_vec())).unwrap();
        assert!(f.matches(&msg(2, "x"), &ctx) && !f.matches(&msg(3, "x"), &ctx));
        let e = build(&call("level", vec![Arg::Value(v("eror"))])).unwrap_err();
        assert_eq!(e[0].message, "unknown level `eror`");
        assert_eq!(e[0].help.as_deref(), Some("did you mean `err`?"));
    }

    #[test]
    fn program_match_types_and_flags() {
        let ctx = RenderContext::default();
        let m = msg(13, "<13>Nov 23 14:07:17 web1 sshd[7]: Accepted key");
        let pat = |p: &str, opts: Vec<Arg>| {
            let mut args = vec![Arg::Value(v(p))];
            args.extend(opts);
            build(&call("program", args)).unwrap().matches(&m, &ctx)
        };
        let opt = |n: &str, val: &str| {
            Arg::Opt(Opt {
                name: Ident {
                    name: n.into(),
                    span: Span::default(),
                },
                args: vec![Arg::Value(v(val))],
                span: Span::default(),
            })
        };
        assert!(pat("^ss", vec![]));
        assert!(!pat("^SS", vec![]));
        assert!(pat("^SS", vec![opt("flags", "ignore-case")]));
        assert!(!pat("ssh", vec![opt("type", "string")]));
        assert!(pat("sshd", vec![opt("type", "string")]));
        assert!(pat(
            "ssh",
            vec![opt("type", "string"), opt("flags", "prefix")]
        ));
        assert!(pat("s?h*", vec![opt("type", "glob")]));
        assert!(!pat("s.h*", vec![opt("type", "glob")]));
        let e = build(&call("program", vec![Arg::Value(v("(unclosed"))])).unwrap_err();
        assert!(
            e[0].message.starts_with("invalid regular expression"),
            "{}",
            e[0].message
        );
    }

    #[test]
    fn netmasks() {
        let n = |t: &str| parse_network(t);
        assert_eq!(n("10.0.0.0/8"), Some(("10.0.0.0".parse().unwrap(), 8)));
        assert_eq!(
            n("10.0.0.0/255.255.0.0"),
            Some(("10.0.0.0".parse().unwrap(), 16))
        );
        assert_eq!(n("10.0.0.0/255.0.255.0"), None);
        assert_eq!(n("10.0.0.0/33"), None);
        assert_eq!(n("::1"), Some(("::1".parse().unwrap(), 128)));
        assert_eq!(
            n("::ffff:10.0.0.0/104"),
            Some(("10.0.0.0".parse().unwrap(), 8))
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_network(ip("10.1.2.3"), ip("10.0.0.0"), 8));
        assert!(in_network(ip("::ffff:10.1.2.3"), ip("10.0.0.0"), 8));
        assert!(!in_network(ip("11.1.2.3"), ip("10.0.0.0"), 8));
        assert!(in_network(ip("1.2.3.4"), ip("0.0.0.0"), 0));
        assert!(in_network(ip("fd00::5"), ip("fd00::"), 8));
    }

    #[test]
    fn compare_and_boolean_logic() {
        let ctx = RenderContext::default();
        let m = msg(13, "<13>Nov 23 14:07:17 web1 app[42]: hi");
        let cmp = |l: &str, op: &str, r: &str| FilterExpr::Compare {
            left: v(l),
            op: Ident {
                name: op.into(),
                span: Span::default(),
            },
            right: v(r),
        };
        let f = build(&cmp("$PID", ">", "40")).unwrap();
        assert!(f.matches(&m, &ctx));
        let both = FilterExpr::And(vec![
            cmp("${HOST}", "eq", "web1"),
            FilterExpr::Not(Box::new(cmp("$PID", "==", "42")), Span::default()),
        ]);
        assert!(!build(&both).unwrap().matches(&m, &ctx));
        let either = FilterExpr::Or(vec![cmp("${HOST}", "eq", "web2"), cmp("$PID", "==", "42")]);
        assert!(build(&either).unwrap().matches(&m, &ctx));
        assert!(build(&cmp("a", "=~", "b")).is_err());
    }
}
