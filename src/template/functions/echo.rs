//! `$(echo ARGS...)`: the arguments, rendered and joined by spaces.

use super::{Arg, templates};
use crate::template::{Template, TemplateError};

#[derive(Clone, Debug)]
pub(in crate::template) struct Echo {
    pub args: Vec<Template>,
}

impl Echo {
    pub fn compile(args: &[Arg]) -> Result<Echo, TemplateError> {
        Ok(Echo {
            args: templates(args)?,
        })
    }
}
