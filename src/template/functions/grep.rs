//! `$(grep [--max-count N] FILTER TEMPLATE...)`: the templates, joined with
//! commas, when the message matches the filter expression (syslog-ng's filter
//! language, as in a `filter { }` block); nothing otherwise.
//!
//! syslog-ng evaluates it over the messages of a correlation context; a
//! destination renders one message at a time, so the context is that message
//! and `--max-count` (at least 1) never limits it.

use super::{Arg, Function, TemplateError};
use crate::logpath::Filter;
use crate::message::Message;
use crate::template::macros::Dates;
use crate::template::{RenderContext, Template};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub(in crate::template) struct Grep {
    filter: Arc<Filter>,
    templates: Vec<Template>,
}

pub(super) fn compile(
    _: &str,
    args: &[Arg],
    call: TemplateError,
) -> Result<Function, TemplateError> {
    let mut rest = args;
    if let Some(first) = rest.first()
        && (first.text == "--max-count" || first.text.starts_with("--max-count="))
    {
        let (value, skip) = match first.text.split_once('=') {
            Some((_, v)) => (Some(v), 1),
            None => (rest.get(1).map(|a| a.text.as_str()), 2),
        };
        if value
            .and_then(|v| v.parse::<u32>().ok())
            .is_none_or(|n| n == 0)
        {
            return Err(first.error("$(grep) --max-count needs a positive whole number"));
        }
        rest = rest.get(skip..).unwrap_or(&[]);
    }
    let [filter, templates @ ..] = rest else {
        return Err(TemplateError {
            message: "$(grep) takes a filter expression and at least one template".into(),
            ..call
        });
    };
    if templates.is_empty() {
        return Err(filter.error("$(grep) needs a template after the filter expression"));
    }
    let filter = crate::config::compile_filter(&filter.text)
        .map_err(|e| filter.error(format!("in the $(grep) filter: {e}")))?;
    Ok(Function::Grep(Grep {
        filter: Arc::new(filter),
        templates: super::templates(templates)?,
    }))
}

impl Grep {
    pub fn args_mut(&mut self) -> &mut [Template] {
        &mut self.templates
    }

    pub fn render(&self, msg: &Message, ctx: &RenderContext, dates: &mut Dates, out: &mut Vec<u8>) {
        if !self.filter.matches(msg, ctx) {
            return;
        }
        for (i, t) in self.templates.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            t.render_with(msg, ctx, dates, out);
        }
    }
}
