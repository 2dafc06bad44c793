//! The config language: reading files, preprocessing, parsing, SCL expansion and
//! diagnostics. `load_file` turns a path into a [`ast::Config`] or every error found.

pub mod ast;
pub mod diagnostic;
pub mod source;

pub use diagnostic::Diagnostic;
pub use source::{SourceMap, Span};
pub mod plan;
pub mod schema;

/// Every driver and its options, for `sluice --list-options` and the man page.
pub fn list_options() -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for spec in std::iter::once(&plan::GLOBAL_SPEC).chain(plan::DRIVERS.iter().copied()) {
        let _ = writeln!(out, "{} {}(): {}", spec.context, spec.name, spec.doc);
        for o in spec.options {
            let default = if o.default.is_empty() {
                String::new()
            } else {
                format!(" [default: {}]", o.default)
            };
            let _ = writeln!(out, "    {}(){default}\n        {}", o.name, o.doc);
        }
        out.push('\n');
    }
    out
}
