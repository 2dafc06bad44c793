//! Every piece of config text Sluice has read: files, and the virtual sources that
//! SCL expansion and backtick substitution produce. Spans point into this map, so a
//! diagnostic can name the file, line and column, and for text that came out of an
//! SCL block, the call site that expanded it.

use super::diagnostic::shorten;
use std::path::PathBuf;

/// An index into the [`SourceMap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SourceId(pub u32);

/// A byte range of one source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub source: SourceId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(source: SourceId, start: usize, end: usize) -> Span {
        Span {
            source,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both (same source assumed; else `self`).
    pub fn to(self, other: Span) -> Span {
        if self.source != other.source {
            return self;
        }
        Span {
            source: self.source,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// Where a source's text came from.
#[derive(Clone, Debug)]
pub enum Origin {
    /// A file read from disk; `included_at` is the `@include` that pulled it in.
    File {
        path: PathBuf,
        included_at: Option<Span>,
    },
    /// The body of an SCL block after argument substitution, expanded at `call`.
    Expansion {
        block: String,
        /// Where the block body was defined.
        definition: Span,
        call: Span,
    },
    /// Text substituted for a backtick reference (`` `name` ``) at `at`.
    Substitution { name: String, at: Span },
    /// Text given on the command line or built in.
    Builtin { name: String },
}

#[derive(Clone, Debug)]
pub struct Source {
    pub origin: Origin,
    pub text: String,
    /// Byte offsets of line starts, for line/column lookup.
    line_starts: Vec<u32>,
}

impl Source {
    /// The display name: a file's path, or a description of virtual text.
    pub fn name(&self) -> String {
        match &self.origin {
            Origin::File { path, .. } => path.display().to_string(),
            Origin::Expansion { block, .. } => format!("<block {}>", shorten(block, 60)),
            Origin::Substitution { name, .. } => format!("<`{}`>", shorten(name, 60)),
            Origin::Builtin { name } => name.clone(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line] as usize;
        let end = (offset as usize).min(self.text.len());
        let col = self
            .text
            .get(start..end)
            .map_or(end - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let start = start as usize;
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&e| e as usize);
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }
}

/// All sources of one config load.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    sources: Vec<Source>,
}

impl SourceMap {
    pub fn add(&mut self, origin: Origin, text: String) -> SourceId {
        let mut line_starts = vec![0];
        line_starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i as u32 + 1));
        self.sources.push(Source {
            origin,
            text,
            line_starts,
        });
        SourceId(self.sources.len() as u32 - 1)
    }

    pub fn get(&self, id: SourceId) -> &Source {
        &self.sources[id.0 as usize]
    }

    /// The text a span covers.
    pub fn text(&self, span: Span) -> &str {
        let src = self.get(span.source);
        src.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    /// `file:line:col` of a span's start. Text expanded from an SCL block is
    /// placed in the block's definition: its file, and the line there (the body
    /// keeps its line structure; columns are exact unless a substituted value
    /// changed the length of the line before the span). Text substituted for a
    /// `` `name` `` is placed at the reference.
    pub fn location(&self, span: Span) -> String {
        let (name, line, col) = self.place(span.source, span.start, 0);
        format!("{name}:{line}:{col}")
    }

    /// Name, line and column of an offset, following expansions to their block.
    pub fn place(&self, id: SourceId, offset: u32, hops: usize) -> (String, usize, usize) {
        let src = self.get(id);
        let (line, col) = src.line_col(offset);
        match &src.origin {
            Origin::Expansion { definition, .. } if hops < 64 => {
                let (name, dl, dc) = self.place(definition.source, definition.start, hops + 1);
                let col = if line == 1 { dc + col - 1 } else { col };
                (name, dl + line - 1, col)
            }
            // Substituted text has no file of its own: show where it was referenced.
            Origin::Substitution { at, .. } if hops < 64 => {
                self.place(at.source, at.start, hops + 1)
            }
            _ => (src.name(), line, col),
        }
    }

    /// The file location a span ultimately comes from: for text produced by SCL
    /// expansion or substitution, the call site, followed outward to a real file.
    pub fn file_span(&self, mut span: Span) -> Span {
        loop {
            match &self.get(span.source).origin {
                Origin::Expansion { call, .. } => span = *call,
                Origin::Substitution { at, .. } => span = *at,
                _ => return span,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_of_offsets() {
        let mut map = SourceMap::default();
        let id = map.add(
            Origin::Builtin { name: "t".into() },
            "ab\ncdé f\n".to_string(),
        );
        let src = map.get(id);
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(3), (2, 1));
        assert_eq!(src.line_col(8), (2, 5)); // after the two-byte é
        assert_eq!(src.line_text(2), "cdé f");
        assert_eq!(map.location(Span::new(id, 4, 5)), "t:2:2");
    }
}
