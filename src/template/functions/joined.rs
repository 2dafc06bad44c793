//! `$(echo ARGS...)`, `$(lowercase ARGS...)` and `$(uppercase ARGS...)`: the
//! arguments rendered and joined by spaces, as they are or case-mapped.
//!
//! ASCII is mapped in place in the output buffer; other UTF-8 text goes through
//! Unicode case mapping; bytes that are not UTF-8 are left as they are.

use super::{Arg, render_joined, templates};
use crate::message::Message;
use crate::template::macros::Dates;
use crate::template::{RenderContext, Template, TemplateError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::template) enum Case {
    AsIs,
    Lower,
    Upper,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct Joined {
    pub args: Vec<Template>,
    case: Case,
}

impl Joined {
    pub fn compile(args: &[Arg], case: Case) -> Result<Joined, TemplateError> {
        Ok(Joined {
            args: templates(args)?,
            case,
        })
    }

    pub fn render(&self, msg: &Message, ctx: &RenderContext, dates: &mut Dates, out: &mut Vec<u8>) {
        let start = out.len();
        render_joined(&self.args, msg, ctx, dates, out);
        if self.case == Case::AsIs {
            return;
        }
        let tail = &mut out[start..];
        let upper = self.case == Case::Upper;
        match std::str::from_utf8(tail) {
            Ok(s) if !s.is_ascii() => {
                let mapped = if upper {
                    s.to_uppercase()
                } else {
                    s.to_lowercase()
                };
                out.truncate(start);
                out.extend_from_slice(mapped.as_bytes());
            }
            _ if upper => tail.make_ascii_uppercase(),
            _ => tail.make_ascii_lowercase(),
        }
    }
}
