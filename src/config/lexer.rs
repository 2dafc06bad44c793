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

/// Lexes a whole source (tests and tools; the preprocessor lexes one token at a
/// time with [`next_token`], so a big file never exists as a token vector).
pub fn lex(text: &str, id: SourceId, depth: u8, diags: &mut Vec<Diagnostic>) -> Vec<Token> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let (Some(t), next) = next_token(text, pos, id, depth, diags) {
        out.push(t);
        pos = next;
    }
    out
}

/// Could `c` start a token (or whitespace or a comment)? A run of characters
/// that cannot is reported as one error.
fn starts_something(c: char) -> bool {
    is_word_char(c) || c.is_whitespace() || "{}();,=!<>@`\"'#".contains(c)
}

/// The token of `text` at or after byte `pos`, and the offset lexing goes on
/// from. `None` at the end, or after an unterminated string, which ends the
/// source. Errors are pushed to `diags`; lexing goes on past a stray character.
pub fn next_token(
    text: &str,
    pos: usize,
    id: SourceId,
    depth: u8,
    diags: &mut Vec<Diagnostic>,
) -> (Option<Token>, usize) {
    let mut i = text.get(pos..).unwrap_or("");
    let off = |rest: &str| text.len() - rest.len();
    loop {
        if let Ok((rest, ())) = ws(i) {
            i = rest;
        }
        if i.is_empty() {
            return (None, text.len());
        }
        let start = off(i);
        let token = |tok: Tok, rest: &str| {
            let end = off(rest);
            let t = Token {
                tok,
                span: Span::new(id, start, end),
                depth,
            };
            (Some(t), end)
        };
        if let Ok((rest, t)) = punct(i) {
            return token(t, rest);
        } else if let Ok((rest, w)) = word(i) {
            return token(Tok::Word(w.to_string()), rest);
        } else if let Ok((rest, op)) = operator(i) {
            return token(Tok::Word(op.to_string()), rest);
        } else if let Ok((rest, d)) = directive(i) {
            return token(Tok::Directive(d.to_string()), rest);
        } else if i.starts_with('`') {
            match tick(i) {
                Ok((rest, name)) if !name.is_empty() => {
                    return token(Tok::Tick(name.to_string()), rest);
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
            return match string(text, start, id) {
                Ok((end, tok)) => token(tok, text.get(end..).unwrap_or("")),
                Err(d) => {
                    diags.push(d);
                    (None, text.len())
                }
            };
        } else {
            // The first character may be one that starts something elsewhere
            // (a lone `@`); the rest of the run cannot.
            let first = i.chars().next().map_or(1, char::len_utf8);
            let len = first + i[first..].find(starts_something).unwrap_or(i.len() - first);
            let run = &i[..len];
            let msg = if run.chars().nth(1).is_some() {
                format!(
                    "unexpected characters `{}`",
                    super::diagnostic::shorten(run, 40)
                )
            } else {
                format!("unexpected character `{run}`")
            };
            diags.push(Diagnostic::error(Span::new(id, start, start + len), msg));
            i = &i[len..];
        }
    }
}

/// A string literal starting at byte `start` of `text`. Returns the end offset.
/// Double-quoted strings take C escapes; single-quoted ones are raw. Both may hold
/// `` `name` `` references; ``` `` ``` is a literal backtick.
fn string(text: &str, start: usize, id: SourceId) -> Result<(usize, Tok), Diagnostic> {
    let bytes = text.as_bytes();
    let quote = bytes.get(start).copied().unwrap_or(b'"') as char;
    let dq = quote == '"';
    let mut segs = Vec::new();
    let mut cur = String::new();
    let base = start + 1;
    let body = text.get(base..).unwrap_or("");
    let unterminated = || Diagnostic::error(Span::new(id, start, start + 1), "unterminated string");
    // Bytes that end a run of plain text (all ASCII, so never inside a character).
    let special = |rest: &str| {
        let b = rest.as_bytes();
        if dq {
            memchr::memchr3(b'"', b'`', b'\\', b)
        } else {
            memchr::memchr2(quote as u8, b'`', b)
        }
    };
    // `k` is the byte offset in `body` of what comes next.
    let mut k = 0;
    loop {
        // Plain text is copied a run at a time: strings can be megabytes.
        let run = special(&body[k..]).unwrap_or(body.len() - k);
        cur.push_str(&body[k..k + run]);
        k += run;
        let Some(c) = body[k..].chars().next() else {
            return Err(unterminated());
        };
        let j = k;
        k += c.len_utf8();
        match c {
            c if c == quote => {
                if !cur.is_empty() || segs.is_empty() {
                    segs.push(Seg::Text(cur));
                }
                return Ok((
                    base + k,
                    Tok::Str {
                        segs,
                        quoted: quote,
                    },
                ));
            }
            '`' => {
                let rest = &body[k..];
                let Some(close) = rest
                    .find(['`', '\n'])
                    .filter(|&i| rest[i..].starts_with('`'))
                else {
                    return Err(Diagnostic::error(
                        Span::new(id, base + j, base + j + 1),
                        "unterminated backtick reference",
                    ));
                };
                let name = &rest[..close];
                k += close + 1;
                if name.is_empty() {
                    cur.push('`');
                } else {
                    if !cur.is_empty() {
                        segs.push(Seg::Text(std::mem::take(&mut cur)));
                    }
                    let span = Span::new(id, base + j, base + k);
                    segs.push(Seg::Ref(name.to_string(), span));
                }
            }
            _ => {
                // A backslash in a double-quoted string.
                let Some(e) = body[k..].chars().next() else {
                    return Err(unterminated());
                };
                let esc = k;
                k += e.len_utf8();
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
                    '\r' if body[k..].starts_with('\n') => k += 1,
                    'x' => {
                        let h = body
                            .get(k..k + 2)
                            .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
                        match h.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                            Some(v) => {
                                cur.push(v as char);
                                k += 2;
                            }
                            None => {
                                return Err(Diagnostic::error(
                                    Span::new(id, base + j, base + esc + 1),
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
        }
    }
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

    #[test]
    fn a_run_of_stray_characters_is_one_error() {
        // 171,000 `%` were 171,000 errors, each holding its own message.
        let (t, d) = toks(&format!("a {}b @ é%$", "%".repeat(171_000)));
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!((d[0].span.start, d[0].span.end), (2, 171_002));
        assert_eq!(
            d[0].message,
            format!("unexpected characters `{}...`", "%".repeat(37))
        );
        assert_eq!(d[1].message, "unexpected character `@`");
        assert_eq!(d[2].message, "unexpected characters `é%$`");
    }
}
