//! String functions, as syslog-ng's `basicfuncs`: `$(substr)`, `$(strip)`,
//! `$(sanitize)`, `$(length)`, `$(replace-delimiter)`, `$(padding)`,
//! `$(indent-multi-line)`, `$(env)`, `$(or)` and `$(ipv4-to-int)`.
//!
//! Each works on its rendered arguments (`Args`) and appends to the output; what
//! syslog-ng only logs at run time (a start that is not a number) renders empty.

use super::list::{parse_i64, push_num};
use super::{Arg, Args, Function, options, templates};
use crate::template::{Template, TemplateError};

#[derive(Clone, Debug)]
enum Kind {
    Substr,
    Strip,
    Sanitize {
        ctrl_chars: bool,
        invalid: Box<[u8]>,
        replacement: u8,
    },
    Length,
    ReplaceDelimiter,
    /// The pattern repeated to `width` bytes, built once.
    Padding {
        width: usize,
        pattern: Box<[u8]>,
    },
    IndentMultiLine,
    Env,
    Or,
    Ipv4ToInt,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct StringFn {
    pub args: Vec<Template>,
    kind: Kind,
}

pub(super) fn compile(
    name: &str,
    args: &[Arg],
    call: TemplateError,
) -> Result<Function, TemplateError> {
    let mut rest = args;
    let kind = match name {
        "strip" => Kind::Strip,
        "sanitize" => {
            let known = [
                ("--ctrl-chars", false),
                ("--no-ctrl-chars", false),
                ("--invalid-chars", true),
                ("--replacement", true),
            ];
            let (opts, r) = options(name, args, &known)?;
            rest = r;
            let (mut ctrl_chars, mut invalid, mut replacement) = (true, &b"/"[..], b'_');
            for (a, opt, v) in opts {
                match (opt, v) {
                    ("--ctrl-chars", _) => ctrl_chars = true,
                    ("--no-ctrl-chars", _) => ctrl_chars = false,
                    ("--invalid-chars", Some(v)) => invalid = v.as_bytes(),
                    (_, Some(v)) => {
                        // syslog-ng takes the first byte of the replacement.
                        let [c, ..] = v.as_bytes() else {
                            return Err(a.error("$(sanitize) --replacement needs a character"));
                        };
                        replacement = *c;
                    }
                    _ => {}
                }
            }
            Kind::Sanitize {
                ctrl_chars,
                invalid: invalid.into(),
                replacement,
            }
        }
        "length" => Kind::Length,
        "replace-delimiter" => {
            if args.len() != 3 {
                return Err(TemplateError {
                    message: "$(replace-delimiter) takes DELIMITERS NEW-DELIMITER TEXT".into(),
                    ..call
                });
            }
            Kind::ReplaceDelimiter
        }
        "padding" => {
            let usage = "$(padding) takes TEXT WIDTH [PADDING]";
            let (Some(width), 2..=3) = (args.get(1), args.len()) else {
                return Err(TemplateError {
                    message: usage.into(),
                    ..call
                });
            };
            let width = width
                .text
                .parse::<usize>()
                .ok()
                .filter(|w| *w <= 1 << 16)
                .ok_or_else(|| width.error("$(padding) needs a WIDTH from 0 to 65536"))?;
            let fill = args.get(2).map_or(&b" "[..], |a| a.text.as_bytes());
            let fill = if fill.is_empty() { &b" "[..] } else { fill };
            let pattern = fill.iter().copied().cycle().take(width).collect();
            rest = &args[..1];
            Kind::Padding { width, pattern }
        }
        "indent-multi-line" => Kind::IndentMultiLine,
        "env" => Kind::Env,
        "or" => Kind::Or,
        "ipv4-to-int" => Kind::Ipv4ToInt,
        _ => Kind::Substr,
    };
    if matches!(kind, Kind::Substr) && !(2..=3).contains(&args.len()) {
        return Err(TemplateError {
            message: "$(substr) takes TEXT START [LENGTH]".into(),
            ..call
        });
    }
    Ok(Function::String(StringFn {
        args: templates(rest)?,
        kind,
    }))
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

impl StringFn {
    pub fn render(&self, a: &Args, out: &mut Vec<u8>) {
        let start = out.len();
        match &self.kind {
            Kind::Substr => {
                if let Some(s) = substr(a.get(0), a.get(1), (a.len() > 2).then(|| a.get(2))) {
                    out.extend_from_slice(s);
                }
            }
            Kind::Strip => {
                for arg in a.iter() {
                    let Some(b) = arg.iter().position(|c| !is_space(*c)) else {
                        continue;
                    };
                    let e = arg.iter().rposition(|c| !is_space(*c)).map_or(b, |e| e + 1);
                    if out.len() > start {
                        out.push(b' ');
                    }
                    out.extend_from_slice(&arg[b..e]);
                }
            }
            Kind::Sanitize {
                ctrl_chars,
                invalid,
                replacement,
            } => {
                for (i, arg) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b'/');
                    }
                    out.extend(arg.iter().map(|c| {
                        if (*ctrl_chars && *c < 32) || invalid.contains(c) {
                            *replacement
                        } else {
                            *c
                        }
                    }));
                }
            }
            Kind::Length => {
                for (i, arg) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    push_num(out, arg.len());
                }
            }
            Kind::ReplaceDelimiter => {
                let (delims, new) = (a.get(0), a.get(1).first().copied());
                // An empty NEW-DELIMITER is C's NUL: the text ends at the first
                // delimiter.
                for c in a.get(2) {
                    match (delims.contains(c), new) {
                        (false, _) => out.push(*c),
                        (true, Some(n)) => out.push(n),
                        (true, None) => break,
                    }
                }
            }
            Kind::Padding { width, pattern } => {
                let text = a.get(0);
                if text.len() < *width {
                    out.extend_from_slice(&pattern[..width - text.len()]);
                }
                out.extend_from_slice(text);
            }
            Kind::IndentMultiLine => {
                for (i, arg) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(arg);
                }
                // A tab after every newline that is not already followed by one.
                let mut i = start;
                while let Some(p) = memchr::memchr(b'\n', &out[i..]) {
                    let at = i + p + 1;
                    if out.get(at) != Some(&b'\t') {
                        out.insert(at, b'\t');
                    }
                    i = at;
                }
            }
            Kind::Env => {
                let n = a.len();
                for (i, arg) in a.iter().enumerate() {
                    let Some(v) = std::str::from_utf8(arg).ok().and_then(std::env::var_os) else {
                        continue;
                    };
                    out.extend_from_slice(v.as_encoded_bytes());
                    // As syslog-ng: the space follows a found value, not the last.
                    if i + 1 < n {
                        out.push(b' ');
                    }
                }
            }
            Kind::Or => {
                if let Some(v) = a.iter().find(|v| !v.is_empty()) {
                    out.extend_from_slice(v);
                }
            }
            Kind::Ipv4ToInt => {
                for (i, arg) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    // syslog-ng prints whatever a failed inet_aton left behind (the
                    // previous address); an address that does not parse is 0 here.
                    push_num(out, inet_aton(arg).unwrap_or(0));
                }
            }
        }
    }
}

/// syslog-ng's `$(substr)` arithmetic over byte offsets; `None` renders nothing.
fn substr<'a>(s: &'a [u8], start: &[u8], len: Option<&[u8]>) -> Option<&'a [u8]> {
    let n = i64::try_from(s.len()).ok()?;
    let mut start = parse_i64(start)?;
    let mut len = match len {
        Some(l) => parse_i64(l)?,
        None => n,
    };
    if len < 0 && -len > n {
        return None;
    }
    len = len.min(n);
    if start >= n || (start < 0 && -start > n) {
        return None;
    }
    if len < 0 && ((start < 0 && start > len) || (start >= 0 && len + n - start < 0)) {
        return None;
    }
    if start < 0 {
        start = (start + n).max(0);
    }
    if len < 0 {
        len += n - start;
        if len < 0 {
            return None;
        }
    }
    let len = len.min(n - start);
    let (start, len) = (start as usize, len as usize);
    (len > 0).then(|| &s[start..start + len])
}

/// glibc's `inet_aton`: one to four parts, each decimal, octal (`0`) or hex
/// (`0x`), the last filling the remaining bytes.
fn inet_aton(s: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(s).ok()?;
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut vals = [0u64; 4];
    for (i, p) in parts.iter().enumerate() {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() && radix != 16 || !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        vals[i] = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
    }
    let n = parts.len();
    let last_max = (1u64 << (8 * (5 - n as u32))) - 1;
    if vals[..n - 1].iter().any(|v| *v > 255) || vals[n - 1] > last_max {
        return None;
    }
    let mut r: u64 = 0;
    for (i, v) in vals[..n - 1].iter().enumerate() {
        r |= v << (24 - 8 * i);
    }
    Some((r | vals[n - 1]) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substr_matches_syslog_ng() {
        let sub = |s: &str, a: &str, l: Option<&str>| {
            substr(s.as_bytes(), a.as_bytes(), l.map(str::as_bytes))
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(sub("hello", "1", Some("3")).as_deref(), Some("ell"));
        assert_eq!(sub("hello", "-3", None).as_deref(), Some("llo"));
        assert_eq!(sub("hello", "1", Some("-1")).as_deref(), Some("ell"));
        assert_eq!(sub("hello", "9", None), None);
        assert_eq!(sub("hello", "x", None), None);
        assert_eq!(sub("hello", "-9", None), None);
        assert_eq!(sub("hello", "0", Some("99")).as_deref(), Some("hello"));
    }

    #[test]
    fn inet_aton_forms() {
        assert_eq!(inet_aton(b"10.0.0.1"), Some(167_772_161));
        assert_eq!(inet_aton(b"1.2.3.4"), Some(16_909_060));
        assert_eq!(inet_aton(b"127.1"), Some(0x7f00_0001));
        assert_eq!(inet_aton(b"0x7f.1"), Some(0x7f00_0001));
        assert_eq!(inet_aton(b"256.1.1.1"), None);
        assert_eq!(inet_aton(b"bad"), None);
        assert_eq!(inet_aton(b""), None);
    }
}
