//! `$(uppercase ARGS...)`: the arguments joined by spaces, in upper case.
//!
//! ASCII is converted in place in the output buffer; other UTF-8 text goes through
//! Unicode case mapping; bytes that are not UTF-8 are left as they are.

use super::{Arg, render_joined, templates};
use crate::message::Message;
use crate::template::macros::Dates;
use crate::template::{RenderContext, Template, TemplateError};

#[derive(Clone, Debug)]
pub(in crate::template) struct Uppercase {
    pub args: Vec<Template>,
}

impl Uppercase {
    pub fn compile(args: &[Arg]) -> Result<Uppercase, TemplateError> {
        Ok(Uppercase {
            args: templates(args)?,
        })
    }

    pub fn render(&self, msg: &Message, ctx: &RenderContext, dates: &mut Dates, out: &mut Vec<u8>) {
        let start = out.len();
        render_joined(&self.args, msg, ctx, dates, out);
        let tail = &mut out[start..];
        if tail.is_ascii() {
            tail.make_ascii_uppercase();
        } else if let Ok(s) = std::str::from_utf8(tail) {
            let mapped = s.to_uppercase();
            out.truncate(start);
            out.extend_from_slice(mapped.as_bytes());
        } else {
            tail.make_ascii_uppercase();
        }
    }
}
