//! Template functions, `$(name args...)`: one file each.
//!
//! A function is compiled once from its split argument list (see
//! `compile::split_args`) and renders into the caller's buffer. Functions reuse the
//! output buffer's tail as scratch space rather than allocating per render.

mod format_json;
#[path = "if.rs"]
mod if_;
mod joined;
mod strftime;

use super::macros::Dates;
use super::{RenderContext, Template, TemplateError};
use crate::message::{Message, Zone};
pub use if_::Comparison;
use joined::Case;

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
    FormatJson(Box<format_json::FormatJson>),
    If(Box<if_::If>),
    Joined(joined::Joined),
    Strftime(strftime::Strftime),
}

/// The function names, for error messages.
const NAMES: &[&str] = &[
    "echo",
    "format-json",
    "if",
    "lowercase",
    "strftime",
    "uppercase",
];

/// Compiles `$(name args...)`; `call_off`/`call_len` span the whole call.
pub(in crate::template) fn compile(
    name: &Arg,
    args: &[Arg],
    call_off: usize,
    call_len: usize,
) -> Result<Function, TemplateError> {
    let call = TemplateError::new(call_off, call_len, "");
    Ok(match name.raw.as_str() {
        "echo" => Function::Joined(joined::Joined::compile(args, Case::AsIs)?),
        "format-json" | "format_json" => {
            Function::FormatJson(Box::new(format_json::FormatJson::compile(args)?))
        }
        "if" => Function::If(Box::new(if_::If::compile(args, call)?)),
        "lowercase" => Function::Joined(joined::Joined::compile(args, Case::Lower)?),
        "strftime" => Function::Strftime(strftime::Strftime::compile(args, call)?),
        "uppercase" => Function::Joined(joined::Joined::compile(args, Case::Upper)?),
        other => {
            return Err(name.error(format!(
                "unknown template function {other:?}; known functions: {}",
                NAMES.join(", ")
            )));
        }
    })
}

impl Function {
    pub(in crate::template) fn set_zone(&mut self, zone: &Zone) {
        match self {
            Function::Joined(f) => f.args.iter_mut().for_each(|t| t.set_zone(zone)),
            Function::FormatJson(f) => f.set_zone(zone),
            Function::If(f) => f.set_zone(zone),
            Function::Strftime(_) => {}
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
