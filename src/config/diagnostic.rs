//! Config errors as the user sees them: `file:line:col: error: message`, the line
//! with a caret under the offending text, a `did you mean` hint, and for text that
//! came out of an SCL block, where that block was called.

use super::source::{Origin, SourceMap, Span};
use std::fmt::Write;

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
        let _ = writeln!(out, "{}: error: {}", map.location(self.span), self.message);
        snippet(&mut out, map, self.span);
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
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
                        "{}: note: in block `{block}` defined at {}, called here",
                        map.location(*call),
                        map.location(*definition)
                    );
                    snippet(&mut note, map, *call);
                    *call
                }
                Origin::Substitution { name, at } => {
                    let _ = writeln!(
                        note,
                        "{}: note: from `{name}` substituted here",
                        map.location(*at)
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

/// The name in `candidates` closest to `name`, if close enough to be a likely typo.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let norm = |s: &str| s.replace('_', "-").to_ascii_lowercase();
    let name = norm(name);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&name, &norm(c)), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Every diagnostic of a failed load, rendered one after another.
pub fn render_all(diags: &[Diagnostic], map: &SourceMap) -> String {
    diags.iter().map(|d| d.render(map)).collect()
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
    fn nearest_name_tolerates_dashes_and_typos() {
        let names = ["template", "create-dirs", "fsync"];
        assert_eq!(nearest("templat", names), Some("template"));
        assert_eq!(nearest("create_dir", names), Some("create-dirs"));
        assert_eq!(nearest("bucket", names), None);
    }
}
