//! The expanded config back as config text (`--preprocess-into`): canonical
//! layout, four-space indents, every string double-quoted. Parsing the output
//! yields the same AST, spans aside; it must never emit text the lexer would
//! read differently (backticks are doubled so they are not references).

use super::ast::{Arg, Config, FilterExpr, Item, LogItem, LogPath, Object, Opt, Value};
use std::fmt::Write;

pub const HEADER: &str = "# Sluice configuration, preprocessed";

pub fn print(config: &Config) -> String {
    let mut out = String::new();
    out.push_str(HEADER);
    out.push('\n');
    if let Some((v, _)) = &config.version {
        let _ = writeln!(out, "@version: {}", word_or_quoted(v));
    }
    for item in &config.items {
        out.push('\n');
        match item {
            Item::Options { opts, .. } => {
                out.push_str("options {\n");
                for o in opts {
                    let _ = writeln!(out, "    {};", opt(o));
                }
                out.push_str("};\n");
            }
            Item::Object(o) => object(&mut out, o, 0, true),
            Item::Filter(f) => {
                let _ = writeln!(out, "filter {} {{ {}; }};", f.name.name, filter(&f.expr));
            }
            Item::Log(l) => log(&mut out, l, 0),
            Item::Template(t) => {
                let _ = writeln!(out, "template {} {{", t.name.name);
                for o in &t.opts {
                    let _ = writeln!(out, "    {};", opt(o));
                }
                out.push_str("};\n");
            }
        }
    }
    out
}

fn object(out: &mut String, o: &Object, indent: usize, named: bool) {
    let pad = " ".repeat(indent);
    if named {
        let _ = writeln!(out, "{pad}{} {} {{", o.kind.keyword(), o.name.name);
    } else {
        let _ = writeln!(out, "{pad}{} {{", o.kind.keyword());
    }
    for d in &o.drivers {
        let _ = writeln!(out, "{pad}    {};", opt(d));
    }
    let _ = writeln!(out, "{pad}}};");
}

fn log(out: &mut String, l: &LogPath, indent: usize) {
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}log {{");
    for item in &l.items {
        match item {
            LogItem::Ref { kind, name } => {
                let name = word_or_quoted(&name.name);
                let _ = writeln!(out, "{pad}    {}({name});", kind.keyword());
            }
            LogItem::Inline(o) => object(out, o, indent + 4, false),
            LogItem::InlineFilter(f, _) => {
                let _ = writeln!(out, "{pad}    filter {{ {}; }};", filter(f));
            }
            LogItem::Flags(flags, _) => {
                let names: Vec<&str> = flags.iter().map(|f| f.name.as_str()).collect();
                let _ = writeln!(out, "{pad}    flags({});", names.join(" "));
            }
            LogItem::Log(inner) => log(out, inner, indent + 4),
        }
    }
    let _ = writeln!(out, "{pad}}};");
}

/// A filter expression on one line; `and`/`or` operands that are themselves
/// compound get parentheses, so precedence never depends on the reader.
fn filter(e: &FilterExpr) -> String {
    let operand = |e: &FilterExpr| match e {
        FilterExpr::And(..) | FilterExpr::Or(..) => format!("({})", filter(e)),
        _ => filter(e),
    };
    match e {
        FilterExpr::Call(o) => opt(o),
        FilterExpr::Compare { left, op, right } => {
            format!("{} {} {}", value(left), op.name, value(right))
        }
        FilterExpr::And(terms) => terms.iter().map(operand).collect::<Vec<_>>().join(" and "),
        FilterExpr::Or(terms) => terms.iter().map(operand).collect::<Vec<_>>().join(" or "),
        FilterExpr::Not(a, _) => format!("not {}", operand(a)),
    }
}

/// One option or driver call on one line.
pub fn opt(o: &Opt) -> String {
    let args: Vec<String> = o
        .args
        .iter()
        .map(|a| match a {
            Arg::Value(v) => value(v),
            Arg::Opt(o) => opt(o),
        })
        .collect();
    format!("{}({})", o.name.name, args.join(" "))
}

fn value(v: &Value) -> String {
    if v.quoted {
        quote(&v.text)
    } else {
        word_or_quoted(&v.text)
    }
}

fn word_or_quoted(text: &str) -> String {
    if text.is_empty() || !text.chars().all(super::lexer::is_word_char) {
        quote(text)
    } else {
        text.to_string()
    }
}

/// `text` as a double-quoted literal that lexes back to `text`.
pub fn quote(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            '`' => s.push_str("``"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(s, "\\x{:02x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}
