//! Template functions, `$(name args...)`: one file per function or family.
//!
//! A function is compiled once from its split argument list (see
//! `compile::split_args`) and renders into the caller's buffer. `FUNCTIONS` is the
//! one list of names: compiling looks a name up there, and an unknown name's error
//! suggests the nearest. Functions render their arguments into a pooled scratch
//! buffer (`Args`) rather than allocating per render.

mod digest;
mod encoding;
pub(super) mod format_json;
mod getent;
mod grep;
#[path = "if.rs"]
mod if_;
mod joined;
mod list;
mod numeric;
mod strftime;
mod string;

use super::macros::Dates;
use super::{RenderContext, Template, TemplateError};
use crate::message::{Message, Zone};
pub use encoding::base64;
pub use if_::Comparison;
use joined::Case;
use std::cell::RefCell;

/// One argument of a function call.
#[derive(Clone, Debug)]
pub(in crate::template) struct Arg {
    /// The argument as written, quotes included.
    pub raw: String,
    /// Absolute byte offset of `raw`.
    pub raw_off: usize,
    /// The argument with its quotes removed.
    pub text: String,
    /// Absolute byte offset of the first byte of `text` (approximate after escapes).
    pub text_off: usize,
}

impl Arg {
    fn template(&self) -> Result<Template, TemplateError> {
        Template::compile_at(&self.text, self.text_off)
    }

    fn error(&self, message: impl Into<String>) -> TemplateError {
        TemplateError::new(self.raw_off, self.raw.len(), message)
    }
}

#[derive(Clone, Debug)]
pub(in crate::template) enum Function {
    Digest(digest::Digest),
    Encoding(encoding::Encoding),
    FormatJson(Box<format_json::FormatJson>),
    Getent(getent::Getent),
    If(Box<if_::If>),
    Joined(joined::Joined),
    List(list::List),
    Numeric(numeric::Numeric),
    Strftime(strftime::Strftime),
    String(string::StringFn),
    /// `$(template NAME)`: a named template, compiled in place.
    Named(Box<Template>),
    Grep(grep::Grep),
}

/// How a function compiles: its name as called, its arguments, the whole call's
/// span (for errors about the call as a whole).
type CompileFn = fn(&str, &[Arg], TemplateError) -> Result<Function, TemplateError>;

/// Every template function, by syslog-ng's name: the one source of the names.
const FUNCTIONS: &[(&str, CompileFn)] = &[
    ("%", numeric::compile),
    ("*", numeric::compile),
    ("+", numeric::compile),
    ("-", numeric::compile),
    ("/", numeric::compile),
    ("base64-encode", encoding::compile),
    ("echo", |_, a, _| {
        Ok(Function::Joined(joined::Joined::compile(a, Case::AsIs)?))
    }),
    ("env", string::compile),
    ("explode", list::compile),
    ("format-cef-extension", format_json::compile),
    ("format-flat-json", format_json::compile),
    ("format-json", format_json::compile),
    ("format-welf", format_json::compile),
    ("format_json", format_json::compile),
    ("getent", getent::compile),
    ("grep", grep::compile),
    ("hash", digest::compile),
    ("if", |_, a, call| {
        Ok(Function::If(Box::new(if_::If::compile(a, call)?)))
    }),
    ("implode", list::compile),
    ("indent-multi-line", string::compile),
    ("ipv4-to-int", string::compile),
    ("length", string::compile),
    ("list-concat", list::compile),
    ("list-count", list::compile),
    ("list-nth", list::compile),
    ("lowercase", |_, a, _| {
        Ok(Function::Joined(joined::Joined::compile(a, Case::Lower)?))
    }),
    ("md5", digest::compile),
    ("or", string::compile),
    ("padding", string::compile),
    ("replace-delimiter", string::compile),
    ("sanitize", string::compile),
    ("sha1", digest::compile),
    ("sha256", digest::compile),
    ("sha512", digest::compile),
    ("strftime", |_, a, call| {
        Ok(Function::Strftime(strftime::Strftime::compile(a, call)?))
    }),
    ("strip", string::compile),
    ("substr", string::compile),
    ("template", compile_named),
    ("uppercase", |_, a, _| {
        Ok(Function::Joined(joined::Joined::compile(a, Case::Upper)?))
    }),
    ("url-decode", encoding::compile),
    ("url-encode", encoding::compile),
    ("uuid", digest::compile),
];

/// `$(template NAME)`: the named template's text, compiled here.
fn compile_named(_: &str, args: &[Arg], call: TemplateError) -> Result<Function, TemplateError> {
    let [name] = args else {
        return Err(TemplateError {
            message: "$(template) takes one template name".into(),
            ..call
        });
    };
    let Some(text) = crate::template::named::lookup(&name.text) else {
        let names = crate::template::named::names();
        let hint = crate::config::diagnostic::nearest(&name.text, names.iter().map(String::as_str))
            .map(|n| format!("; did you mean {n:?}?"))
            .unwrap_or_default();
        return Err(name.error(format!("no template named {:?}{hint}", name.text)));
    };
    match crate::template::named::nested(|| Template::compile(&text)) {
        Some(Ok(t)) => Ok(Function::Named(Box::new(t))),
        // The outermost name says where it started; a chain would repeat it.
        Some(Err(e)) if e.message.starts_with("in template ") => Err(name.error(e.message)),
        Some(Err(e)) => Err(name.error(format!("in template {:?}: {}", name.text, e.message))),
        None => Err(name.error(format!(
            "$(template {}) nests more than {} deep: does it include itself?",
            name.text,
            crate::template::named::MAX_DEPTH
        ))),
    }
}

/// Compiles `$(name args...)`; `call_off`/`call_len` span the whole call.
pub(in crate::template) fn compile(
    name: &Arg,
    args: &[Arg],
    call_off: usize,
    call_len: usize,
) -> Result<Function, TemplateError> {
    let call = TemplateError::new(call_off, call_len, "");
    let Some((fname, compile)) = FUNCTIONS.iter().find(|(n, _)| *n == name.raw) else {
        let names = FUNCTIONS.iter().map(|(n, _)| *n);
        let hint = match crate::config::diagnostic::nearest(&name.raw, names.clone()) {
            Some(n) => format!("did you mean {n:?}? "),
            None => String::new(),
        };
        return Err(name.error(format!(
            "unknown template function {:?}; {hint}known functions: {}",
            name.raw,
            names.collect::<Vec<_>>().join(", ")
        )));
    };
    compile(fname, args, call)
}

impl Function {
    pub(in crate::template) fn set_zone(&mut self, zone: &Zone) {
        let args = match self {
            Function::Joined(f) => &mut f.args,
            Function::FormatJson(f) => return f.set_zone(zone),
            Function::If(f) => return f.set_zone(zone),
            Function::Strftime(_) => return,
            Function::Named(t) => return t.set_zone(zone),
            Function::Grep(f) => f.args_mut(),
            Function::Digest(f) => &mut f.args,
            Function::Encoding(f) => &mut f.args,
            Function::Getent(f) => &mut f.args,
            Function::List(f) => &mut f.args,
            Function::Numeric(f) => &mut f.args,
            Function::String(f) => &mut f.args,
        };
        args.iter_mut().for_each(|t| t.set_zone(zone));
    }

    /// Whether it renders the same whatever the message: only a
    /// `$(format-json)` that selects nothing is known to.
    pub(in crate::template) fn is_constant(&self) -> bool {
        match self {
            Function::FormatJson(f) => f.selects_nothing(),
            _ => false,
        }
    }

    pub(in crate::template) fn render(
        &self,
        msg: &Message,
        ctx: &RenderContext,
        zone: Option<&Zone>,
        dates: &mut Dates,
        out: &mut Vec<u8>,
    ) {
        match self {
            Function::Joined(f) => f.render(msg, ctx, dates, out),
            Function::FormatJson(f) => f.render(msg, ctx, zone, dates, out),
            Function::If(f) => f.render(msg, ctx, dates, out),
            Function::Strftime(f) => f.render(msg, zone, dates, out),
            Function::Digest(f) => f.render(&Args::render(&f.args, msg, ctx, dates), out),
            Function::Encoding(f) => f.render(&Args::render(&f.args, msg, ctx, dates), out),
            Function::Getent(f) => f.render(&Args::render(&f.args, msg, ctx, dates), out),
            Function::List(f) => f.render(&mut Args::render(&f.args, msg, ctx, dates), out),
            Function::Numeric(f) => f.render(&Args::render(&f.args, msg, ctx, dates), out),
            Function::String(f) => f.render(&Args::render(&f.args, msg, ctx, dates), out),
            Function::Named(t) => t.render_with(msg, ctx, dates, out),
            Function::Grep(f) => f.render(msg, ctx, dates, out),
        }
    }
}

/// Compiles every argument as a template.
fn templates(args: &[Arg]) -> Result<Vec<Template>, TemplateError> {
    args.iter().map(Arg::template).collect()
}

/// Renders the templates separated by single spaces, as syslog-ng's simple
/// functions join their arguments.
fn render_joined(
    args: &[Template],
    msg: &Message,
    ctx: &RenderContext,
    dates: &mut Dates,
    out: &mut Vec<u8>,
) {
    for (i, t) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        t.render_with(msg, ctx, dates, out);
    }
}

/// A function's arguments rendered for one call, in buffers taken from a
/// per-thread pool and given back on drop: a nested call takes its own, and after
/// the first renders no call allocates.
pub(in crate::template) struct Args {
    bufs: Bufs,
}

#[derive(Default)]
struct Bufs {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
    tmp: Vec<u8>,
}

thread_local! {
    static POOL: RefCell<Vec<Bufs>> = const { RefCell::new(Vec::new()) };
}

impl Args {
    fn render(args: &[Template], msg: &Message, ctx: &RenderContext, dates: &mut Dates) -> Args {
        let mut b = POOL
            .try_with(|p| p.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        b.bytes.clear();
        b.spans.clear();
        b.tmp.clear();
        for t in args {
            let start = b.bytes.len();
            t.render_with(msg, ctx, dates, &mut b.bytes);
            b.spans.push((start, b.bytes.len()));
        }
        Args { bufs: b }
    }

    pub fn len(&self) -> usize {
        self.bufs.spans.len()
    }

    /// The `i`th rendered argument; empty past the end.
    pub fn get(&self, i: usize) -> &[u8] {
        self.bufs
            .spans
            .get(i)
            .map_or(&[], |(s, e)| &self.bufs.bytes[*s..*e])
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.bufs
            .spans
            .iter()
            .map(|(s, e)| &self.bufs.bytes[*s..*e])
    }

    /// Scratch space for the function itself (a decoded list item, say).
    pub fn take_tmp(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bufs.tmp)
    }

    pub fn put_tmp(&mut self, tmp: Vec<u8>) {
        self.bufs.tmp = tmp;
    }
}

impl Drop for Args {
    fn drop(&mut self) {
        let b = std::mem::take(&mut self.bufs);
        // A pathological argument must not pin a huge buffer for the thread's life.
        if b.bytes.capacity() <= 1 << 20 && b.tmp.capacity() <= 1 << 20 {
            let _ = POOL.try_with(|p| p.borrow_mut().push(b));
        }
    }
}

/// An option as given: its argument, its name, its value.
type Opt<'a> = (&'a Arg, &'a str, Option<&'a str>);

/// Arguments that are options (`--name value`, `--name=value` or a flag) before
/// the first argument that is not; `known` lists (option, takes a value).
/// Returns the options found, in order, and the remaining arguments.
fn options<'a>(
    func: &str,
    args: &'a [Arg],
    known: &[(&str, bool)],
) -> Result<(Vec<Opt<'a>>, &'a [Arg]), TemplateError> {
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if !a.text.starts_with("--") || a.text.len() == 2 {
            if a.text == "--" {
                i += 1;
            }
            break;
        }
        let (name, inline) = match a.text.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (a.text.as_str(), None),
        };
        let Some((_, takes)) = known.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
            return Err(a.error(format!(
                "unknown $({func}) option {name:?}; expected {}",
                names.join(", ")
            )));
        };
        i += 1;
        let value = match (takes, inline) {
            (false, Some(_)) => return Err(a.error(format!("$({func}) {name} takes no value"))),
            (false, None) => None,
            (true, Some(v)) => Some(v),
            (true, None) => {
                let v = args
                    .get(i)
                    .ok_or_else(|| a.error(format!("$({func}) option {name} needs a value")))?;
                i += 1;
                Some(v.text.as_str())
            }
        };
        found.push((a, name, value));
    }
    Ok((found, &args[i..]))
}
