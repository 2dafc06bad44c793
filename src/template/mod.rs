//! Templates: `$NAME`, `${NAME}`, `${NAME:-default}`, `$(function args)` and `$$`,
//! compiled once at config load into a list of elements, rendered many times.
//!
//! This module owns the template language (its grammar is `grammar/template.ebnf`),
//! the macro table and the template functions. Rendering appends to the caller's
//! buffer: no re-parsing, no per-macro allocation, no `format!`; broken-down dates
//! are computed at most once per date family per render. It must not know about
//! destinations or config files: errors carry byte offsets into the template text
//! and the config layer turns them into file positions.

mod compile;
mod confine;
mod date;
mod functions;
mod macros;
mod memo;
pub mod named;

use crate::message::{Message, Zone};
pub use date::push_u64;
use functions::Function;
pub use functions::{Comparison, base64};
use macros::{Dates, Macro};
pub use macros::{push_msghdr, set_identity};
pub use memo::Memo;

/// Integer and address formatting the encoders share with the macros.
pub(crate) use date::push_i64;
pub(crate) use macros::push_ip;

/// Whether a bare name (a CSV column) names a macro; otherwise it names a
/// name-value pair.
pub fn is_macro(name: &str) -> bool {
    macros::lookup(name).is_some()
}

/// Appends `s` escaped as the inside of a JSON string, as `$(format-json)`
/// escapes values.
pub fn escape_json(s: &[u8], out: &mut Vec<u8>) {
    functions::format_json::escape(s, out);
}

/// Appends `${HOST_FROM}` of `msg` (for chain-hostnames(), which builds HOST from it).
pub fn host_from(msg: &Message, out: &mut Vec<u8>) {
    macros::push_host_from(out, msg);
}

/// A compiled template.
#[derive(Clone, Debug)]
pub struct Template {
    text: String,
    /// Every literal byte run, concatenated; `Element::Literal` indexes into it.
    lits: Vec<u8>,
    elems: Vec<Element>,
    /// The template's own `time-zone()`, which beats the context's.
    zone: Option<Zone>,
}

/// A template that did not compile, with the span of the offending text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Byte offset in the template text.
    pub offset: usize,
    pub len: usize,
    pub message: String,
}

impl TemplateError {
    fn new(offset: usize, len: usize, message: impl Into<String>) -> TemplateError {
        TemplateError {
            offset,
            len: len.max(1),
            message: message.into(),
        }
    }
}

/// What a render needs beyond the message.
#[derive(Clone, Debug, Default)]
pub struct RenderContext {
    /// `options { time-zone() }`; `None` shows stamps at their own offset.
    pub zone: Option<Zone>,
    /// The local host name (`$LOGHOST`).
    pub hostname: String,
    /// `frac-digits()`: digits of the second's fraction in full timestamps.
    pub frac_digits: u8,
}

impl RenderContext {
    /// This context with a destination's own `time-zone()` and `frac-digits()`
    /// where it sets them.
    pub fn with_overrides(mut self, zone: Option<&Zone>, frac_digits: Option<u8>) -> RenderContext {
        if let Some(z) = zone {
            self.zone = Some(z.clone());
        }
        if let Some(d) = frac_digits {
            self.frac_digits = d;
        }
        self
    }
}

#[derive(Clone, Debug)]
enum Element {
    Literal {
        start: u32,
        end: u32,
    },
    Macro(Macro),
    /// A name-value pair (`${.SDATA.meta.seq}`); empty when absent.
    Pair(Box<[u8]>),
    /// `${NAME:-default}`: the default is used when the value renders empty.
    Default {
        value: Box<Element>,
        default: Box<[u8]>,
    },
    Function(Box<Function>),
}

impl Template {
    /// Compiles template text; errors carry byte offsets into `text`.
    pub fn compile(text: &str) -> Result<Template, TemplateError> {
        Template::compile_at(text, 0)
    }

    /// Compiles `text` found at byte `base` of an enclosing template, so that
    /// errors point into the enclosing text.
    fn compile_at(text: &str, base: usize) -> Result<Template, TemplateError> {
        let (lits, elems) = compile::compile(text, base)?;
        Ok(Template {
            text: text.to_string(),
            lits,
            elems,
            zone: None,
        })
    }

    /// Sets the template's own time zone (a destination's `time-zone()`).
    pub fn with_zone(mut self, zone: Zone) -> Template {
        self.set_zone(&zone);
        self
    }

    fn set_zone(&mut self, zone: &Zone) {
        self.zone = Some(zone.clone());
        for e in &mut self.elems {
            if let Element::Function(f) = e {
                f.set_zone(zone);
            }
        }
    }

    /// The field this template is the bytes of (`${MSG}` alone), if any.
    fn as_field(&self) -> Option<crate::message::Field> {
        match self.elems.as_slice() {
            [Element::Macro(m)] => m.field(),
            _ => None,
        }
    }

    /// Makes each `$(format-json)` of the template render by its general
    /// path; whether any had its keys fixed at compile time.
    #[cfg(test)]
    fn unfix_json(&mut self) -> bool {
        let mut any = false;
        for e in &mut self.elems {
            if let Element::Function(f) = e
                && let functions::Function::FormatJson(j) = &mut **f
            {
                any |= j.unfix();
            }
        }
        any
    }

    /// The template text as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Names written like a macro (capitals, digits, `_`) that are none: they
    /// read as name-value pairs no message has, so almost surely a typo. Each
    /// comes with the nearest macro name, if one is close.
    pub fn unknown_macros(&self) -> Vec<(String, Option<String>)> {
        self.elems
            .iter()
            .filter_map(|e| match e {
                Element::Pair(name) => std::str::from_utf8(name).ok(),
                _ => None,
            })
            .filter(|n| {
                n.bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
            })
            .map(|n| (n.to_string(), macros::nearest_name(n)))
            .collect()
    }

    /// The rendered text when the template has no macros or functions (a constant
    /// file path, say); `$$` counts as literal.
    pub fn literal(&self) -> Option<&[u8]> {
        self.elems
            .iter()
            .all(|e| matches!(e, Element::Literal { .. }))
            .then_some(&self.lits[..])
    }

    /// Appends the template's rendering of `msg` to `out`.
    pub fn render(&self, msg: &Message, ctx: &RenderContext, out: &mut Vec<u8>) {
        let mut dates = Dates::default();
        self.render_with(msg, ctx, &mut dates, out);
    }

    /// Appends the rendering of `msg` as a file path that stays under the prefix
    /// the template's literal text names, by the rule in `template/confine.rs`.
    pub fn render_confined(&self, msg: &Message, ctx: &RenderContext, out: &mut Vec<u8>) {
        let mut dates = Dates::default();
        let zone = self.zone.as_ref().or(ctx.zone.as_ref());
        let mut path = confine::Confined::new(out);
        for e in &self.elems {
            match e {
                Element::Literal { start, end } => {
                    path.literal(out, &self.lits[*start as usize..*end as usize])
                }
                _ => {
                    let from = out.len();
                    self.render_element(e, msg, ctx, zone, &mut dates, out);
                    path.value(out, from);
                }
            }
        }
        path.finish(out);
    }

    /// Appends the rendering of `msg` as an object key: confined as a path is
    /// ([`Template::render_confined`]), without leading `/`s.
    pub fn render_object_key(&self, msg: &Message, ctx: &RenderContext, out: &mut Vec<u8>) {
        let from = out.len();
        self.render_confined(msg, ctx, out);
        confine::trim_key(out, from);
    }

    fn render_with(
        &self,
        msg: &Message,
        ctx: &RenderContext,
        dates: &mut Dates,
        out: &mut Vec<u8>,
    ) {
        let zone = self.zone.as_ref().or(ctx.zone.as_ref());
        for e in &self.elems {
            self.render_element(e, msg, ctx, zone, dates, out);
        }
    }

    #[inline]
    fn render_element(
        &self,
        e: &Element,
        msg: &Message,
        ctx: &RenderContext,
        zone: Option<&Zone>,
        dates: &mut Dates,
        out: &mut Vec<u8>,
    ) {
        match e {
            Element::Literal { start, end } => {
                out.extend_from_slice(&self.lits[*start as usize..*end as usize])
            }
            Element::Macro(m) => macros::expand(*m, msg, ctx, zone, dates, out),
            Element::Pair(name) => {
                if let Some(v) = msg.pair(name) {
                    out.extend_from_slice(v);
                }
            }
            Element::Default { value, default } => {
                let before = out.len();
                self.render_element(value, msg, ctx, zone, dates, out);
                if out.len() == before {
                    out.extend_from_slice(default);
                }
            }
            Element::Function(f) => f.render(msg, ctx, zone, dates, out),
        }
    }
}

#[cfg(test)]
mod tests;
