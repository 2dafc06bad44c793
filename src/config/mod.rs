//! The config language: reading files, preprocessing, parsing, SCL expansion and
//! diagnostics. `load_file` turns a path into a [`ast::Config`] or every error found.

pub mod ast;
pub mod diagnostic;
pub mod source;

pub use diagnostic::Diagnostic;
pub use source::{SourceMap, Span};
