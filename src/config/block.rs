//! SCL blocks: `block KIND NAME(param(default) ...) { body };` definitions, kept as
//! raw text, and what a call does with them: bind named arguments (verbatim text)
//! to parameters, gather the rest into `` `__VARARGS__` ``, and substitute the body.
//! Lexing and parsing the result is the parser's business, not this module's.

use super::ast::Ident;
use super::preprocess::Stream;
use super::source::Span;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockKind {
    Source,
    Destination,
    Parser,
    Root,
    Log,
    Options,
}

impl BlockKind {
    pub const KEYWORDS: [&'static str; 6] =
        ["source", "destination", "parser", "root", "log", "options"];

    pub fn keyword(self) -> &'static str {
        match self {
            BlockKind::Source => "source",
            BlockKind::Destination => "destination",
            BlockKind::Parser => "parser",
            BlockKind::Root => "root",
            BlockKind::Log => "log",
            BlockKind::Options => "options",
        }
    }

    pub fn from_keyword(w: &str) -> Option<BlockKind> {
        Some(match w {
            "source" => BlockKind::Source,
            "destination" => BlockKind::Destination,
            "parser" => BlockKind::Parser,
            "root" => BlockKind::Root,
            "log" => BlockKind::Log,
            "options" => BlockKind::Options,
            _ => return None,
        })
    }
}

/// One declared parameter: `name(default)`, or `name()`, which every call must
/// give (syslog-ng's mandatory parameter).
#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    /// The default text as written (raw, e.g. `""`); `None` for `name()`.
    pub default: Option<String>,
}

#[derive(Clone, Debug)]
pub struct BlockDef {
    pub kind: BlockKind,
    pub name: Ident,
    pub params: Vec<Param>,
    /// The parameter list ends with `...`: arguments it does not name are
    /// accepted into `` `__VARARGS__` ``; without it they are an error.
    pub varargs: bool,
    pub body: String,
    /// Where `body` starts and ends in its source.
    pub body_span: Span,
}

/// The key blocks are looked up by: the name with `_` folded to `-`.
pub fn fold(name: &str) -> String {
    name.replace('_', "-")
}

/// The arguments of one call: named arguments with their verbatim text.
pub struct CallArgs {
    pub named: Vec<(String, String)>,
}

/// Why a call does not fit its block, as syslog-ng refuses it.
#[derive(Debug, PartialEq, Eq)]
pub enum CallError {
    /// An argument the block names no parameter for, and it takes no `...`.
    Unknown(String),
    /// A `name()` parameter the call did not give.
    Missing(String),
}

impl BlockDef {
    fn param(&self, name: &str) -> Option<&Param> {
        let key = fold(name);
        self.params.iter().find(|p| fold(&p.name) == key)
    }

    /// Every way `args` does not fit this block's parameter list.
    pub fn check_call(&self, args: &CallArgs) -> Vec<CallError> {
        let mut errors: Vec<CallError> = args
            .named
            .iter()
            .filter(|(n, _)| !self.varargs && self.param(n).is_none())
            .map(|(n, _)| CallError::Unknown(n.clone()))
            .collect();
        for p in self.params.iter().filter(|p| p.default.is_none()) {
            if !args.named.iter().any(|(n, _)| fold(n) == fold(&p.name)) {
                errors.push(CallError::Missing(p.name.clone()));
            }
        }
        errors
    }
}

/// An argument that is one quoted string is substituted without its quotes (as
/// syslog-ng does), so a body can place it inside a string of its own:
/// `file("`dir`/${HOST}.log")`. Escapes stay as written; the body re-reads them.
/// Anything else (`100MiB`, `yes`, two strings) is substituted as written.
fn unquote(text: &str) -> &str {
    let t = text.trim();
    let Some(q) = t.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return text;
    };
    if t.len() < 2 || !t.ends_with(q) {
        return text;
    }
    let inner = &t[1..t.len() - 1];
    // The closing quote must be the first unescaped one: `"a" "b"` is two strings.
    let mut escaped = false;
    for c in inner.chars() {
        if c == q && !(escaped && q == '"') {
            return text;
        }
        escaped = q == '"' && c == '\\' && !escaped;
    }
    inner
}

/// The body of `def` with every `` `name` `` replaced: parameters (the call's
/// argument or the default), `__VARARGS__`, then the stream's lookup. Undefined
/// names are reported at the reference inside the definition. `Err` with the
/// length reached once the text would pass `limit` bytes (then it is dropped).
pub fn expand_body(
    def: &BlockDef,
    args: &CallArgs,
    stream: &mut Stream,
    limit: usize,
) -> Result<String, usize> {
    let mut bound: HashMap<String, String> = def
        .params
        .iter()
        .map(|p| {
            let default = p.default.as_deref().unwrap_or("");
            (fold(&p.name), unquote(default).to_string())
        })
        .collect();
    let mut varargs = Vec::new();
    for (name, text) in &args.named {
        match bound.get_mut(&fold(name)) {
            Some(slot) => *slot = unquote(text).to_string(),
            None => varargs.push(format!("{name}({text})")),
        }
    }
    let varargs = varargs.join(" ");
    let body = &def.body;
    let mut out = String::with_capacity(body.len());
    let mut rest = body.as_str();
    let mut offset = 0usize;
    // Only references outside comments are substituted; strings are not special
    // (syslog-ng substitutes inside them too), but a `#` inside one is no comment.
    let mut quote: Option<char> = None;
    let mut escaped = false;
    while let Some(c) = rest.chars().next() {
        // Checked per step: one step adds at most a comment or one value.
        if out.len() > limit {
            return Err(out.len());
        }
        let len = c.len_utf8();
        if quote.is_none() && c == '#' {
            let end = rest.find('\n').unwrap_or(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            offset += end;
            continue;
        }
        if c == '`' && !escaped {
            let after = &rest[1..];
            if let Some(close) = after
                .find(['`', '\n'])
                .filter(|&i| after[i..].starts_with('`'))
            {
                let name = &after[..close];
                let whole = close + 2;
                if name.is_empty() {
                    out.push_str("``");
                } else if name == "__VARARGS__" {
                    out.push_str(&varargs);
                } else if let Some(v) = bound.get(&fold(name)) {
                    out.push_str(v);
                } else if let Some(v) = stream.lookup(name) {
                    out.push_str(&v);
                } else {
                    let start = def.body_span.start as usize + offset;
                    let span = Span::new(def.body_span.source, start, start + whole);
                    stream.undefined(span, name);
                }
                rest = &rest[whole..];
                offset += whole;
                continue;
            }
        }
        match quote {
            Some(q) if c == q && !escaped => quote = None,
            Some('"') => {}
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None => {}
        }
        escaped = quote == Some('"') && c == '\\' && !escaped;
        out.push(c);
        rest = &rest[len..];
        offset += len;
    }
    if out.len() > limit {
        return Err(out.len());
    }
    Ok(out)
}
