//! Config errors as the user sees them: `file:line:col: error: message`, the line
//! with a caret under the offending text, a `did you mean` hint, and for text that
//! came out of an SCL block, where that block was called.

use super::source::{Origin, SourceMap, Span};
use std::borrow::Cow;
use std::fmt::Write;

/// Errors printed for one load; the rest are counted. Each error costs a few
/// lines, so a config that is one long mistake prints kilobytes, not gigabytes.
pub const MAX_SHOWN: usize = 50;

/// Columns of a source line shown around the caret; longer lines are cut with
/// `...`. Reprinting a whole 171 KB line per error printed 2.2 GB.
const WINDOW: usize = 100;

/// Columns shown before the caret when the line is cut.
const BEFORE: usize = 30;

/// Characters of a message or help text shown; user text quoted in a message
/// (a word, a name, a path) can be megabytes long.
const MAX_MESSAGE: usize = 300;

/// One problem found in a config.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub span: Span,
    pub message: String,
    /// A suggestion, printed as `help: ...` (for example "did you mean `template`?").
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            span,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Renders the diagnostic with its source line and the chain of SCL calls and
    /// includes that led to it.
    pub fn render(&self, map: &SourceMap) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: error: {}",
            map.location(self.span),
            shorten(&self.message, MAX_MESSAGE)
        );
        snippet(&mut out, map, self.span);
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {}", shorten(help, MAX_MESSAGE));
        }
        let mut span = self.span;
        // Walk outward: expansions name their call site and where the block lives.
        // Identical consecutive notes (a recursive block) are folded into one.
        let mut last: Option<String> = None;
        let mut repeats = 0usize;
        for _ in 0..64 {
            let mut note = String::new();
            let next = match &map.get(span.source).origin {
                Origin::Expansion {
                    block,
                    definition,
                    call,
                } => {
                    let _ = writeln!(
                        note,
                        "{}: note: in block `{}` defined at {}, called here",
                        map.location(*call),
                        shorten(block, 60),
                        map.location(*definition)
                    );
                    snippet(&mut note, map, *call);
                    *call
                }
                Origin::Substitution { name, at } => {
                    let _ = writeln!(
                        note,
                        "{}: note: from `{}` substituted here",
                        map.location(*at),
                        shorten(name, 60)
                    );
                    snippet(&mut note, map, *at);
                    *at
                }
                Origin::File {
                    included_at: Some(at),
                    ..
                } => {
                    let _ = writeln!(note, "{}: note: included from here", map.location(*at));
                    *at
                }
                _ => break,
            };
            if last.as_ref() == Some(&note) {
                repeats += 1;
            } else {
                flush_repeats(&mut out, &mut repeats);
                out.push_str(&note);
                last = Some(note);
            }
            span = next;
        }
        flush_repeats(&mut out, &mut repeats);
        out
    }
}

fn flush_repeats(out: &mut String, repeats: &mut usize) {
    if *repeats > 0 {
        let _ = writeln!(out, "      = ({repeats} more like this)");
        *repeats = 0;
    }
}

/// The source line of `span` with carets under it.
fn snippet(out: &mut String, map: &SourceMap, span: Span) {
    let src = map.get(span.source);
    let (line, col) = src.line_col(span.start);
    let text = src.line_text(line);
    let (end_line, end_col) = src.line_col(span.end.max(span.start));
    let width = if end_line == line && end_col > col {
        end_col - col
    } else {
        1
    };
    let (text, col, width) = window(text, col, width);
    // The gutter shows the line as the user finds it (for expanded text, the
    // line in the block's file); the text is what was actually parsed.
    let (_, shown, _) = map.place(span.source, span.start, 0);
    let _ = writeln!(out, "{shown:>5} | {text}");
    let _ = writeln!(
        out,
        "      | {}{}",
        " ".repeat(col.saturating_sub(1)),
        "^".repeat(width)
    );
}

/// At most [`WINDOW`] columns of `line` around the 1-based column `col`, with
/// `...` where it was cut, and the caret's column and width within it.
fn window(line: &str, col: usize, width: usize) -> (Cow<'_, str>, usize, usize) {
    let len = line.chars().count();
    if len <= WINDOW {
        return (Cow::Borrowed(line), col, width);
    }
    let at = col.saturating_sub(1).min(len);
    let start = at.saturating_sub(BEFORE).min(len - WINDOW);
    let end = start + WINDOW;
    let mut text = String::with_capacity(WINDOW + 6);
    let mut col = at - start + 1;
    if start > 0 {
        text.push_str("...");
        col += 3;
    }
    text.extend(line.chars().skip(start).take(WINDOW));
    if end < len {
        text.push_str("...");
    }
    let width = width.min(end.saturating_sub(at)).max(1);
    (Cow::Owned(text), col, width)
}

/// `text`, cut to `max` characters with `...` when longer.
pub fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some(_) => {
            let cut: String = text.chars().take(max.saturating_sub(3)).collect();
            Cow::Owned(cut + "...")
        }
    }
}

/// The name in `candidates` closest to `name`, if close enough to be a likely typo.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let norm = |s: &str| s.replace('_', "-").to_ascii_lowercase();
    let name = norm(name);
    candidates
        .into_iter()
        // The distance is at least the difference in length, and computing it
        // takes memory proportional to the product of the lengths.
        .filter(|c| name.len().abs_diff(c.len()) <= (c.len() / 3).max(2))
        .map(|c| (strsim::damerau_levenshtein(&name, &norm(c)), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Every diagnostic of a failed load, rendered one after another, up to
/// [`MAX_SHOWN`]; the rest are counted.
pub fn render_all(diags: &[Diagnostic], map: &SourceMap) -> String {
    render_counted(diags, 0, map)
}

/// As [`render_all`], with `unkept` more errors that were counted but not kept.
pub fn render_counted(diags: &[Diagnostic], unkept: usize, map: &SourceMap) -> String {
    let mut out: String = diags
        .iter()
        .take(MAX_SHOWN)
        .map(|d| d.render(map))
        .collect();
    more(
        &mut out,
        diags.len().saturating_sub(MAX_SHOWN) + unkept,
        "error",
    );
    out
}

/// The closing "and N more errors" line, when N is not zero.
pub fn more(out: &mut String, n: usize, what: &str) {
    if n > 0 {
        let s = if n == 1 { "" } else { "s" };
        let _ = writeln!(out, "... and {n} more {what}{s}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn renders_location_caret_and_help() {
        let mut map = SourceMap::default();
        let id = map.add(
            Origin::File {
                path: PathBuf::from("my.conf"),
                included_at: None,
            },
            "destination d {\n  file(\"/x\" templat(\"a\"));\n};\n".into(),
        );
        let d = Diagnostic::error(Span::new(id, 28, 35), "unknown option `templat` of file()")
            .with_help("did you mean `template`?");
        let text = d.render(&map);
        assert!(
            text.starts_with("my.conf:2:13: error: unknown option `templat`"),
            "{text}"
        );
        assert!(
            text.contains("    2 |   file(\"/x\" templat(\"a\"));\n      |             ^^^^^^^\n"),
            "{text}"
        );
        assert!(text.contains("help: did you mean `template`?"));
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let line = format!("{}caret{}", "a".repeat(500), "b".repeat(500));
        let (text, col, width) = window(&line, 501, 5);
        assert_eq!(text.chars().count(), WINDOW + 6);
        assert!(text.starts_with("...a") && text.ends_with("b..."), "{text}");
        assert_eq!(&text[col - 1..col - 1 + width], "caret");
        // At either end only one side is cut; past the end the caret stays visible.
        let (text, col, _) = window(&line, 1, 1);
        assert!(text.starts_with("aaa") && text.ends_with("..."), "{text}");
        assert_eq!(col, 1);
        let (text, col, width) = window(&line, 1006, 1);
        assert!(text.starts_with("...") && text.ends_with("bbb"), "{text}");
        assert_eq!((col, width), (text.chars().count() + 1, 1));
        let (text, col, width) = window("short", 2, 99);
        assert_eq!((text.as_ref(), col, width), ("short", 2, 99));
        assert_eq!(shorten("abcdef", 5), "ab...");
        assert_eq!(shorten("abcde", 5), "abcde");
    }

    #[test]
    fn nearest_name_tolerates_dashes_and_typos() {
        let names = ["template", "create-dirs", "fsync"];
        assert_eq!(nearest("templat", names), Some("template"));
        assert_eq!(nearest("create_dir", names), Some("create-dirs"));
        assert_eq!(nearest("bucket", names), None);
    }
}
