//! Turns one source's text into raw tokens with spans. Nothing here resolves
//! anything: backtick references stay references (in strings, as segments), and
//! directives (`@include`) stay tokens, so that SCL block bodies can be kept as raw
//! text. The preprocessor decides when to expand. The lexer must not panic on any
//! input; a string it cannot close ends the source with one diagnostic.

use super::diagnostic::Diagnostic;
use super::source::{SourceId, Span};
use nom::branch::alt;
use nom::bytes::complete::{take_till, take_while1};
use nom::character::complete::{char, multispace1, one_of};
use nom::combinator::{opt, recognize, value};
use nom::multi::many0_count;
use nom::sequence::{delimited, pair, preceded};
use nom::{IResult, Parser};

/// A piece of a string literal: literal text, or a `` `name` `` reference.
#[derive(Clone, Debug, PartialEq)]
pub enum Seg {
    Text(String),
    Ref(String, Span),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A bare word: `tcp`, `5514`, `100MiB`, `0.0.0.0`, `flow-control`.
    Word(String),
    /// A quoted string, escapes resolved, references kept as segments until expanded.
    Str {
        segs: Vec<Seg>,
        quoted: char,
    },
    /// `` `name` `` outside a string.
    Tick(String),
    /// `@name` (a trailing `:` as in `@version:` is part of the token).
    Directive(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    Semi,
    Comma,
    Eof,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
    /// How many SCL expansions deep this token was produced.
    pub depth: u8,
}

impl Tok {
    /// The literal text of a string whose references have been resolved.
    pub fn str_text(&self) -> Option<String> {
        match self {
            Tok::Str { segs, .. } => Some(
                segs.iter()
                    .map(|s| match s {
                        Seg::Text(t) => t.as_str(),
                        Seg::Ref(..) => "",
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    /// How the token is named in "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{}`", super::diagnostic::shorten(w, 40)),
            Tok::Str { .. } => "a string".into(),
            Tok::Tick(n) => format!("`` `{}` ``", super::diagnostic::shorten(n, 40)),
            Tok::Directive(d) => format!("`@{}`", super::diagnostic::shorten(d, 40)),
            Tok::LBrace => "`{`".into(),
            Tok::RBrace => "`}`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Semi => "`;`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// Characters of a bare word. Covers numbers, sizes, durations, addresses and
/// dashed names; `:` and `/` so that `::1` and paths need no quotes, as in syslog-ng.
pub fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.:+/*-".contains(c)
}

fn ws(i: &str) -> IResult<&str, ()> {
    value(
        (),
        many0_count(alt((
            multispace1,
            recognize(preceded(char('#'), take_till(|c| c == '\n'))),
        ))),
    )
    .parse(i)
}

fn word(i: &str) -> IResult<&str, &str> {
    take_while1(is_word_char).parse(i)
}

/// A comparison operator of a filter expression (`==`, `!=`, `<=`, ...), lexed
/// as a word so the parser sees it like `eq` or `lt`.
fn operator(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| "=!<>".contains(c)).parse(i)
}

fn directive(i: &str) -> IResult<&str, &str> {
    let (rest, (name, _)) = pair(
        preceded(
            char('@'),
            take_while1(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        ),
        opt(char(':')),
    )
    .parse(i)?;
    Ok((rest, name))
}

fn tick(i: &str) -> IResult<&str, &str> {
    delimited(char('`'), take_till(|c| c == '`' || c == '\n'), char('`')).parse(i)
}

fn punct(i: &str) -> IResult<&str, Tok> {
    let (rest, c) = one_of("{}();,").parse(i)?;
    let tok = match c {
        '{' => Tok::LBrace,
        '}' => Tok::RBrace,
        '(' => Tok::LParen,
        ')' => Tok::RParen,
        ';' => Tok::Semi,
        _ => Tok::Comma,
    };
    Ok((rest, tok))
}

/// Lexes a whole source. Errors are pushed to `diags`; lexing continues past a
/// stray character, but an unterminated string ends it.
pub fn lex(text: &str, id: SourceId, depth: u8, diags: &mut Vec<Diagnostic>) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = text;
    let off = |rest: &str| text.len() - rest.len();
    loop {
        if let Ok((rest, ())) = ws(i) {
            i = rest;
        }
        if i.is_empty() {
            break;
        }
        let start = off(i);
        let push = |out: &mut Vec<Token>, tok: Tok, rest: &str| {
            out.push(Token {
                tok,
                span: Span::new(id, start, off(rest)),
                depth,
            })
        };
        if let Ok((rest, t)) = punct(i) {
            push(&mut out, t, rest);
            i = rest;
        } else if let Ok((rest, w)) = word(i) {
            push(&mut out, Tok::Word(w.to_string()), rest);
            i = rest;
        } else if let Ok((rest, op)) = operator(i) {
            push(&mut out, Tok::Word(op.to_string()), rest);
            i = rest;
        } else if let Ok((rest, d)) = directive(i) {
            push(&mut out, Tok::Directive(d.to_string()), rest);
            i = rest;
        } else if i.starts_with('`') {
            match tick(i) {
                Ok((rest, name)) if !name.is_empty() => {
                    push(&mut out, Tok::Tick(name.to_string()), rest);
                    i = rest;
                }
                Ok((rest, _)) => {
                    diags.push(Diagnostic::error(
                        Span::new(id, start, off(rest)),
                        "empty backtick reference outside a string",
                    ));
                    i = rest;
                }
                Err(_) => {
                    diags.push(Diagnostic::error(
                        Span::new(id, start, start + 1),
                        "unterminated backtick reference",
                    ));
                    i = &i[1..];
                }
            }
        } else if i.starts_with('"') || i.starts_with('\'') {
            match string(text, start, id) {
                Ok((end, tok)) => {
                    out.push(Token {
                        tok,
                        span: Span::new(id, start, end),
                        depth,
                    });
                    i = text.get(end..).unwrap_or("");
                }
                Err(d) => {
                    diags.push(d);
                    break;
                }
            }
        } else {
            let c = i.chars().next().unwrap_or(' ');
            let len = c.len_utf8();
            diags.push(Diagnostic::error(
                Span::new(id, start, start + len),
                format!("unexpected character `{c}`"),
            ));
            i = i.get(len..).unwrap_or("");
        }
    }
    out
}

/// A string literal starting at byte `start` of `text`. Returns the end offset.
/// Double-quoted strings take C escapes; single-quoted ones are raw. Both may hold
/// `` `name` `` references; ``` `` ``` is a literal backtick.
fn string(text: &str, start: usize, id: SourceId) -> Result<(usize, Tok), Diagnostic> {
    let bytes = text.as_bytes();
    let quote = bytes.get(start).copied().unwrap_or(b'"');
    let dq = quote == b'"';
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut chars = text
        .get(start + 1..)
        .unwrap_or("")
        .char_indices()
        .peekable();
    let base = start + 1;
    let unterminated = || Diagnostic::error(Span::new(id, start, start + 1), "unterminated string");
    while let Some((j, c)) = chars.next() {
        match c {
            c if c as u32 == quote as u32 => {
                if !cur.is_empty() || segs.is_empty() {
                    segs.push(Seg::Text(cur));
                }
                return Ok((
                    base + j + 1,
                    Tok::Str {
                        segs,
                        quoted: quote as char,
                    },
                ));
            }
            '`' => {
                let name_start = base + j + 1;
                let mut name = String::new();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '`' {
                        closed = true;
                        break;
                    }
                    if c == '\n' {
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    return Err(Diagnostic::error(
                        Span::new(id, base + j, base + j + 1),
                        "unterminated backtick reference",
                    ));
                }
                if name.is_empty() {
                    cur.push('`');
                } else {
                    if !cur.is_empty() {
                        segs.push(Seg::Text(std::mem::take(&mut cur)));
                    }
                    let span = Span::new(id, base + j, name_start + name.len() + 1);
                    segs.push(Seg::Ref(name, span));
                }
            }
            '\\' if dq => {
                let Some((k, e)) = chars.next() else {
                    return Err(unterminated());
                };
                match e {
                    'n' => cur.push('\n'),
                    't' => cur.push('\t'),
                    'r' => cur.push('\r'),
                    'a' => cur.push('\x07'),
                    'b' => cur.push('\x08'),
                    'f' => cur.push('\x0c'),
                    'v' => cur.push('\x0b'),
                    '\\' | '"' | '\'' => cur.push(e),
                    '\n' => {}
                    '\r' if chars.peek().map(|p| p.1) == Some('\n') => {
                        chars.next();
                    }
                    'x' => {
                        let h: String = text
                            .get(base + k + 1..)
                            .unwrap_or("")
                            .chars()
                            .take(2)
                            .take_while(|c| c.is_ascii_hexdigit())
                            .collect();
                        match u8::from_str_radix(&h, 16) {
                            Ok(v) if h.len() == 2 => {
                                cur.push(v as char);
                                chars.next();
                                chars.next();
                            }
                            _ => {
                                return Err(Diagnostic::error(
                                    Span::new(id, base + j, base + k + 1),
                                    "`\\x` must be followed by two hex digits",
                                ));
                            }
                        }
                    }
                    // Unknown escapes keep their backslash, so regular expressions
                    // such as "\d+" survive (syslog-ng is equally lenient).
                    other => {
                        cur.push('\\');
                        cur.push(other);
                    }
                }
            }
            c => cur.push(c),
        }
    }
    Err(unterminated())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> (Vec<Tok>, Vec<Diagnostic>) {
        let mut d = Vec::new();
        let t = lex(text, SourceId(0), 0, &mut d);
        (t.into_iter().map(|t| t.tok).collect(), d)
    }

    fn s(t: &str) -> Tok {
        Tok::Str {
            segs: vec![Seg::Text(t.into())],
            quoted: '"',
        }
    }

    #[test]
    fn words_punct_comments_and_directives() {
        let (t, d) = toks("@version: 3.38\nfoo(::1 100MiB, 0.0.0.0); # c \"x\n}");
        assert!(d.is_empty());
        assert_eq!(
            t,
            vec![
                Tok::Directive("version".into()),
                Tok::Word("3.38".into()),
                Tok::Word("foo".into()),
                Tok::LParen,
                Tok::Word("::1".into()),
                Tok::Word("100MiB".into()),
                Tok::Comma,
                Tok::Word("0.0.0.0".into()),
                Tok::RParen,
                Tok::Semi,
                Tok::RBrace,
            ]
        );
    }

    #[test]
    fn string_escapes_and_raw_strings() {
        let (t, d) = toks(
            r#""a\n\t\"\\\x41\q" 'raw\n' "con\
tinued" """#,
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(t[0], s("a\n\t\"\\A\\q"));
        assert_eq!(
            t[1],
            Tok::Str {
                segs: vec![Seg::Text("raw\\n".into())],
                quoted: '\''
            }
        );
        assert_eq!(t[2], s("continued"));
        assert_eq!(t[3], s(""));
    }

    #[test]
    fn references_in_and_out_of_strings() {
        let (t, d) = toks("`a` \"x`b`y``z\"");
        assert!(d.is_empty());
        assert_eq!(t[0], Tok::Tick("a".into()));
        let Tok::Str { segs, .. } = &t[1] else {
            panic!()
        };
        assert_eq!(segs[0], Seg::Text("x".into()));
        assert!(matches!(&segs[1], Seg::Ref(n, sp) if n == "b" && sp.start == 6 && sp.end == 9));
        assert_eq!(segs[2], Seg::Text("y`z".into()));
    }

    #[test]
    fn unterminated_string_points_at_quote() {
        let (_, d) = toks("a(\n  \"abc");
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].span.start, d[0].span.end), (5, 6));
        assert_eq!(d[0].message, "unterminated string");
    }

    #[test]
    fn stray_character_is_reported_and_skipped() {
        let (t, d) = toks("a % b");
        assert_eq!(d.len(), 1);
        assert_eq!(t.len(), 2);
    }
}
