//! The template compiler: template text to a list of elements.
//!
//! It owns the lexical rules of `grammar/template.ebnf` and the splitting of
//! `$(function ...)` argument lists; what a function does with its arguments is
//! `functions/`' business. Every error carries an absolute byte offset (`base` plus
//! the position in the text being compiled). It works on bytes and only slices the
//! text at ASCII delimiters, so arbitrary input cannot panic it.

use super::functions::{self, Arg};
use super::macros::{self, Dates};
use super::{Element, RenderContext, TemplateError};
use crate::message::Message;
use std::cell::Cell;

/// How deep `$(f $(g ...))` may nest: compiling and rendering recurse once a
/// level, and rendering runs on destination threads with ordinary stacks.
pub const MAX_FUNCTION_NESTING: u32 = 32;

thread_local! {
    static NESTING: Cell<u32> = const { Cell::new(0) };
}

pub(super) fn compile(text: &str, base: usize) -> Result<(Vec<u8>, Vec<Element>), TemplateError> {
    let b = text.as_bytes();
    let mut lits: Vec<u8> = Vec::with_capacity(b.len());
    let mut elems: Vec<Element> = Vec::new();
    let mut run_start = 0usize; // start of the pending literal run in `lits`
    let flush = |lits: &Vec<u8>, run_start: &mut usize, elems: &mut Vec<Element>| {
        if lits.len() > *run_start {
            elems.push(Element::Literal {
                start: *run_start as u32,
                end: lits.len() as u32,
            });
            *run_start = lits.len();
        }
    };
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let next = memchr::memchr(b'$', &b[i..]).map_or(b.len(), |n| i + n);
            lits.extend_from_slice(&b[i..next]);
            i = next;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => {
                lits.push(b'$');
                i += 2;
            }
            Some(b'{') => {
                let Some(close) = memchr::memchr(b'}', &b[i + 2..]).map(|n| i + 2 + n) else {
                    return Err(TemplateError::new(
                        base + i,
                        b.len() - i,
                        "unterminated '${': missing '}'",
                    ));
                };
                let inner = &text[i + 2..close];
                let (name, default) = match inner.find(":-") {
                    Some(p) => (&inner[..p], Some(&inner[p + 2..])),
                    None => (inner, None),
                };
                check_name(name, base + i + 2)?;
                let value = name_element(name);
                flush(&lits, &mut run_start, &mut elems);
                elems.push(match default {
                    Some(d) => Element::Default {
                        value: Box::new(value),
                        default: d.as_bytes().into(),
                    },
                    None => value,
                });
                i = close + 1;
            }
            Some(b'(') => {
                let (args, close) = split_args(text, i + 2, base)?;
                let Some((name, rest)) = args.split_first() else {
                    return Err(TemplateError::new(
                        base + i,
                        close + 1 - i,
                        "empty function call '$()'",
                    ));
                };
                let depth = NESTING.with(Cell::get);
                if depth >= MAX_FUNCTION_NESTING {
                    return Err(TemplateError::new(
                        base + i,
                        close + 1 - i,
                        format!("template functions nested more than {MAX_FUNCTION_NESTING} deep"),
                    ));
                }
                NESTING.with(|n| n.set(depth + 1));
                let f = functions::compile(name, rest, base + i, close + 1 - i);
                NESTING.with(|n| n.set(depth));
                let f = f?;
                if f.is_constant() {
                    // The same for every message (`$(format-json --scope
                    // none)` with nothing to add is `{}`): text, rendered once.
                    let nothing = Message::new(Default::default(), Default::default());
                    let ctx = RenderContext::default();
                    f.render(&nothing, &ctx, None, &mut Dates::default(), &mut lits);
                    i = close + 1;
                    continue;
                }
                flush(&lits, &mut run_start, &mut elems);
                elems.push(Element::Function(Box::new(f)));
                i = close + 1;
            }
            Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => {
                let end = b[i + 1..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                    .map_or(b.len(), |n| i + 1 + n);
                flush(&lits, &mut run_start, &mut elems);
                elems.push(name_element(&text[i + 1..end]));
                i = end;
            }
            // A '$' that starts nothing is text, as in syslog-ng.
            _ => {
                lits.push(b'$');
                i += 1;
            }
        }
    }
    flush(&lits, &mut run_start, &mut elems);
    Ok((lits, elems))
}

fn check_name(name: &str, offset: usize) -> Result<(), TemplateError> {
    if name.is_empty() {
        return Err(TemplateError::new(offset, 1, "empty macro name in '${}'"));
    }
    if let Some(p) = name
        .bytes()
        .position(|c| c.is_ascii_whitespace() || c.is_ascii_control() || b"${}()\"'".contains(&c))
    {
        return Err(TemplateError::new(
            offset + p,
            1,
            format!(
                "invalid character {:?} in macro name",
                name.as_bytes()[p] as char
            ),
        ));
    }
    Ok(())
}

fn name_element(name: &str) -> Element {
    match macros::lookup(name) {
        Some(m) => Element::Macro(m),
        None => Element::Pair(name.as_bytes().into()),
    }
}

/// Splits the argument list of `$(` starting at `start` (just after the paren)
/// into arguments, as a shell would: whitespace separates, quotes group and are
/// removed, `(...)`, `$(...)` and `${...}` are kept verbatim. Returns the arguments
/// and the index of the closing paren.
pub(super) fn split_args(
    text: &str,
    start: usize,
    base: usize,
) -> Result<(Vec<Arg>, usize), TemplateError> {
    let b = text.as_bytes();
    let call = start.saturating_sub(2);
    let unterminated = || {
        TemplateError::new(
            base + call,
            b.len() - call,
            "unterminated '$(': missing ')'",
        )
    };
    let mut args = Vec::new();
    let mut i = start;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return Err(unterminated());
        }
        if b[i] == b')' {
            return Ok((args, i));
        }
        let raw_start = i;
        let mut val: Vec<u8> = Vec::new();
        let mut text_start = None;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b')' {
            match b[i] {
                q @ (b'"' | b'\'') => {
                    let open = i;
                    i += 1;
                    text_start.get_or_insert(i);
                    loop {
                        match b.get(i) {
                            None => {
                                return Err(TemplateError::new(
                                    base + open,
                                    b.len() - open,
                                    "unterminated quoted argument",
                                ));
                            }
                            Some(c) if *c == q => {
                                i += 1;
                                break;
                            }
                            Some(b'\\')
                                if q == b'"' && matches!(b.get(i + 1), Some(b'"' | b'\\')) =>
                            {
                                val.push(b[i + 1]);
                                i += 2;
                            }
                            Some(c) => {
                                val.push(*c);
                                i += 1;
                            }
                        }
                    }
                }
                b'(' => {
                    let end = skip_group(b, i).ok_or_else(unterminated)?;
                    text_start.get_or_insert(i);
                    val.extend_from_slice(&b[i..end]);
                    i = end;
                }
                b'$' if b.get(i + 1) == Some(&b'(') => {
                    let end = skip_group(b, i + 1).ok_or_else(unterminated)?;
                    text_start.get_or_insert(i);
                    val.extend_from_slice(&b[i..end]);
                    i = end;
                }
                b'$' if b.get(i + 1) == Some(&b'{') => {
                    let end = memchr::memchr(b'}', &b[i..]).map_or(b.len(), |n| i + n + 1);
                    text_start.get_or_insert(i);
                    val.extend_from_slice(&b[i..end]);
                    i = end;
                }
                c => {
                    text_start.get_or_insert(i);
                    val.push(c);
                    i += 1;
                }
            }
        }
        args.push(Arg {
            raw: text[raw_start..i].to_string(),
            raw_off: base + raw_start,
            text: String::from_utf8(val)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            text_off: base + text_start.unwrap_or(raw_start),
        });
    }
}

/// The index just past the `)` matching the `(` at `open`, skipping quoted text.
pub(super) fn skip_group(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if q == b'"' && b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}
