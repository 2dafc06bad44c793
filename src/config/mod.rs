//! The config language: reading files, preprocessing, parsing, SCL expansion and
//! diagnostics. `load_file` turns a path into a [`ast::Config`] or every error found.
//!
//! The pipeline: [`lexer`] (nom) turns each source into raw tokens;
//! [`preprocess`] stacks sources and executes `@include`/`@define`/backticks;
//! [`parser`] builds the AST, defining and expanding SCL blocks ([`block`]) by
//! pushing their substituted bodies back onto the stream; [`print`] writes the
//! result back as config text.

pub mod ast;
pub mod block;
pub mod diagnostic;
pub mod lexer;
pub mod parser;
pub mod plan;
pub mod preprocess;
mod print;
pub mod routing;
pub mod schema;
pub mod source;
pub mod unsupported;

pub use diagnostic::Diagnostic;
pub use source::{SourceMap, Span};

use source::Origin;
use std::path::{Path, PathBuf};

/// How to load a config: where `@include` looks and predefined `` `names` ``.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Searched, in order, for a relative `@include` not found next to the
    /// including file.
    pub include_path: Vec<PathBuf>,
    /// Values for `` `name` `` (`--define`): before `@define` and the environment.
    pub defines: Vec<(String, String)>,
}

/// A successfully parsed config and the sources its spans point into.
#[derive(Debug)]
pub struct Loaded {
    pub map: SourceMap,
    pub config: ast::Config,
}

/// Every problem found while loading, with the sources to render them against.
#[derive(Debug)]
pub struct ConfigError {
    pub map: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
    /// Errors found past the ones kept, counted only.
    pub unkept: usize,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&diagnostic::render_counted(
            &self.diagnostics,
            self.unkept,
            &self.map,
        ))
    }
}

impl std::error::Error for ConfigError {}

/// Loads the config at `path` with everything it includes and expands.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let origin = Origin::File {
                path: path.to_path_buf(),
                included_at: None,
            };
            load(origin, text, Some(path.to_path_buf()), opts)
        }
        Err(e) => {
            let mut map = SourceMap::default();
            let id = map.add(
                Origin::Builtin {
                    name: path.display().to_string(),
                },
                String::new(),
            );
            Err(ConfigError {
                map,
                diagnostics: vec![Diagnostic::error(
                    Span::new(id, 0, 0),
                    format!("cannot read config file: {e}"),
                )],
                unkept: 0,
            })
        }
    }
}

/// A filter expression written on its own (`program("sshd") and level(err..emerg)`),
/// compiled as a `filter { }` block's would be: for `$(grep)`. The error is the
/// first problem found, in words.
pub fn compile_filter(text: &str) -> Result<crate::logpath::Filter, String> {
    let opts = LoadOptions {
        include_path: Vec::new(),
        defines: Vec::new(),
    };
    let wrapped = format!("filter f {{ {text}\n}};");
    let loaded = load_str("$(grep)", &wrapped, &opts).map_err(|e| {
        e.diagnostics
            .first()
            .map_or("invalid".into(), |d| d.message.clone())
    })?;
    let Some(ast::Item::Filter(def)) = loaded.config.items.first() else {
        return Err("expected one filter expression".into());
    };
    let mut diags = Vec::new();
    let mut named = |name: &ast::Ident, diags: &mut Vec<diagnostic::Diagnostic>| {
        diags.push(diagnostic::Diagnostic::error(
            name.span,
            format!("filter({}) cannot be referenced inside $(grep)", name.name),
        ));
        None
    };
    crate::logpath::filter::compile(&def.expr, &mut named, &mut diags).ok_or_else(|| {
        diags
            .first()
            .map_or("invalid".into(), |d| d.message.clone())
    })
}

/// Loads config text; `name` is shown in diagnostics, and relative `@include`s are
/// resolved against the current directory, then the include path.
pub fn load_str(name: &str, text: &str, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let origin = Origin::Builtin {
        name: name.to_string(),
    };
    load(origin, text.to_string(), None, opts)
}

fn load(
    origin: Origin,
    text: String,
    path: Option<PathBuf>,
    opts: &LoadOptions,
) -> Result<Loaded, ConfigError> {
    let mut map = SourceMap::default();
    let id = map.add(origin, text);
    let stream = preprocess::Stream::new(map, id, path, opts);
    let (config, stream) = parser::Parser::new(stream).parse_config();
    if stream.diags.is_empty() && stream.unkept == 0 {
        Ok(Loaded {
            map: stream.map,
            config,
        })
    } else {
        Err(ConfigError {
            map: stream.map,
            diagnostics: stream.diags,
            unkept: stream.unkept,
        })
    }
}

/// The expanded config as config text, for `--preprocess-into`.
pub fn print(config: &ast::Config) -> String {
    print::print(config)
}

#[cfg(test)]
mod tests;

/// Every driver and its options, for `sluice --list-options` and the man page.
pub fn list_options() -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for spec in std::iter::once(&plan::GLOBAL_SPEC).chain(plan::drivers()) {
        let _ = writeln!(out, "{} {}(): {}", spec.context, spec.name, spec.doc);
        for o in spec.options {
            let default = if o.default.is_empty() {
                String::new()
            } else {
                format!(" [default: {}]", o.default)
            };
            let _ = writeln!(out, "    {}(){default}\n        {}", o.name, o.doc);
            if let schema::Kind::Group(group) = o.kind {
                for n in group.options {
                    let default = if n.default.is_empty() {
                        String::new()
                    } else {
                        format!(" [default: {}]", n.default)
                    };
                    let _ = writeln!(
                        out,
                        "    {}({}()){default}\n        {}",
                        o.name, n.name, n.doc
                    );
                }
            }
        }
        out.push('\n');
    }
    out
}

/// The "DRIVERS AND OPTIONS" section of sluice.conf(5), in roff, from the same
/// tables as `--list-options`; a test keeps the man page equal to it.
pub fn man_options() -> String {
    use std::fmt::Write;
    fn roff(text: &str) -> String {
        let t = text.replace('\\', "\\e").replace('-', "\\-");
        if t.starts_with('.') || t.starts_with('\'') {
            format!("\\&{t}")
        } else {
            t
        }
    }
    fn entry(out: &mut String, name: &str, o: &schema::OptionSpec) {
        let default = if o.default.is_empty() {
            String::new()
        } else {
            format!("\"  default: {}\"", roff(o.default))
        };
        let _ = writeln!(out, ".TP\n.BR {name} {default}\n{}", roff(o.doc));
        // Nested blocks, as they are written: `failover(failback(...))`.
        if let schema::Kind::Group(group) = o.kind {
            for n in group.options {
                let inner = format!("{}()", roff(n.name));
                entry(out, &name.replacen("()", &format!("({inner})"), 1), n);
            }
        }
    }
    let mut out = String::new();
    for spec in std::iter::once(&plan::GLOBAL_SPEC).chain(plan::drivers()) {
        if spec.name == "options" {
            out.push_str(".SS Global options: options { ... };\n");
        } else {
            // network() and syslog() are both a source and a destination.
            let _ = writeln!(out, ".SS {}() ({})", roff(spec.name), spec.context);
        }
        let _ = writeln!(out, "{}", roff(spec.doc));
        for o in spec.options {
            entry(&mut out, &format!("{}()", roff(o.name)), o);
        }
    }
    out
}
