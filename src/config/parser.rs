//! Recursive descent over the preprocessed token stream into [`ast::Config`]:
//! statements, objects, options, log paths, and SCL block definitions and calls
//! (calls splice the expanded body into the stream, as syslog-ng does). Every error
//! is recorded and parsing resumes at the next statement; nothing here panics on
//! user text.

use super::ast::{
    Arg, Config, FilterDef, FilterExpr, Ident, Item, LogItem, LogPath, Object, ObjectKind, Opt,
    TemplateDef, Value,
};
use super::block::{self, BlockDef, BlockKind, CallArgs, CallError, Param};
use super::diagnostic::{Diagnostic, nearest};
use super::lexer::{Tok, Token};
use super::preprocess::{MAX_EXPANSION, Stream, size};
use super::source::{Origin, Span};
use super::unsupported::{self, Place};
use crate::template::Comparison;
use std::collections::HashMap;

/// A word or string token as a comparison operand.
fn operand(t: &Token) -> Value {
    let (text, quoted) = match &t.tok {
        Tok::Word(w) => (w.clone(), false),
        other => (other.str_text().unwrap_or_default(), true),
    };
    Value {
        text,
        quoted,
        span: t.span,
    }
}

/// Log paths, and parentheses and `not`s in a filter or an option's arguments,
/// nested deeper than this are refused. Parsing, planning, printing and dropping
/// the AST all recurse once per level, and a reload parses on a tokio blocking
/// thread (2 MiB of stack): 3,000 nested `log {}` overflowed it. Each kind counts
/// on its own (an option inside a filter counts with the filter), so the deepest
/// recursion is a log path at the limit holding a filter at the limit.
pub const MAX_NESTING: u8 = 64;

/// SCL expansions nested deeper than this are assumed to be recursive.
pub const MAX_BLOCK_DEPTH: u8 = 32;

const TOP_KEYWORDS: [&str; 8] = [
    "options",
    "source",
    "destination",
    "filter",
    "parser",
    "log",
    "block",
    "template",
];

const LOG_KEYWORDS: [&str; 6] = ["source", "destination", "filter", "parser", "flags", "log"];

/// An error already recorded in the stream's diagnostics.
struct Reported;

type PResult<T> = Result<T, Reported>;

pub struct Parser<'o> {
    pub s: Stream<'o>,
    peeked: Option<Token>,
    /// A zero-width span at the end of the last consumed token.
    prev_end: Span,
    /// Open `{`/`(` consumed in expanded mode, for recovery.
    nest: i32,
    blocks: HashMap<(BlockKind, String), BlockDef>,
    anon: usize,
}

fn object_kind(w: &str) -> Option<ObjectKind> {
    Some(match w {
        "source" => ObjectKind::Source,
        "destination" => ObjectKind::Destination,
        "filter" => ObjectKind::Filter,
        "parser" => ObjectKind::Parser,
        _ => return None,
    })
}

fn block_kind_of(k: ObjectKind) -> BlockKind {
    match k {
        ObjectKind::Source => BlockKind::Source,
        ObjectKind::Destination => BlockKind::Destination,
        // Filters have no blocks; parser blocks are the nearest harmless choice.
        ObjectKind::Filter | ObjectKind::Parser => BlockKind::Parser,
    }
}

impl<'o> Parser<'o> {
    pub fn new(s: Stream<'o>) -> Parser<'o> {
        Parser {
            s,
            peeked: None,
            prev_end: Span::default(),
            nest: 0,
            blocks: HashMap::new(),
            anon: 0,
        }
    }

    fn peek(&mut self) -> &Token {
        if self.peeked.is_none() {
            self.peeked = Some(self.s.next(true));
        }
        // Just filled above.
        self.peeked.get_or_insert_with(|| Token {
            tok: Tok::Eof,
            span: Span::default(),
            depth: 0,
        })
    }

    fn peek_tok(&mut self) -> Tok {
        self.peek().tok.clone()
    }

    fn bump(&mut self) -> Token {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.s.next(true),
        };
        match t.tok {
            Tok::LBrace | Tok::LParen => self.nest += 1,
            Tok::RBrace | Tok::RParen => self.nest -= 1,
            Tok::Eof => return t,
            _ => {}
        }
        self.prev_end = Span {
            start: t.span.end,
            ..t.span
        };
        t
    }

    fn bump_raw(&mut self) -> Token {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.s.next(false),
        };
        if t.tok != Tok::Eof {
            self.prev_end = Span {
                start: t.span.end,
                ..t.span
            };
        }
        t
    }

    /// Where an error about `t` goes: the token, or for end of input just after
    /// the last real token.
    fn at(&self, t: &Token) -> Span {
        if t.tok == Tok::Eof {
            self.prev_end
        } else {
            t.span
        }
    }

    fn unexpected(&mut self, expected: &str) -> Reported {
        let t = self.peek().clone();
        let span = self.at(&t);
        self.s.error(
            span,
            format!("expected {expected}, found {}", t.tok.describe()),
        );
        Reported
    }

    fn expect(&mut self, tok: Tok, expected: &str) -> PResult<Token> {
        if self.peek().tok == tok {
            Ok(self.bump())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn ident(&mut self, expected: &str) -> PResult<Ident> {
        match self.peek_tok() {
            Tok::Word(w) => {
                let t = self.bump();
                Ok(Ident {
                    name: w,
                    span: t.span,
                })
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    /// A statement's closing `;`. Missing is an error pointing just after the
    /// previous token, but parsing goes on as if it were there.
    fn semi(&mut self, after: &str) {
        if self.peek().tok == Tok::Semi {
            self.bump();
        } else {
            let at = self.prev_end;
            self.s.error(at, format!("missing `;` after {after}"));
        }
    }

    /// Skips to the end of the current statement: a `;` outside any braces.
    fn recover(&mut self) {
        loop {
            let t = self.bump();
            match t.tok {
                Tok::Eof => return,
                Tok::Semi if self.nest <= 0 => return,
                _ => {}
            }
        }
    }

    pub fn parse_config(mut self) -> (Config, Stream<'o>) {
        let mut items = Vec::new();
        loop {
            self.nest = 0;
            let t = self.peek().clone();
            let r = match &t.tok {
                Tok::Eof => break,
                Tok::Semi => {
                    self.bump();
                    continue;
                }
                Tok::Word(w) => self.statement(w, &mut items),
                _ => Err(self.unexpected("a statement (`source`, `destination`, `log`, ...)")),
            };
            if r.is_err() {
                self.recover();
            }
        }
        let config = Config {
            version: self.s.version.clone(),
            items,
        };
        (config, self.s)
    }

    fn statement(&mut self, w: &str, items: &mut Vec<Item>) -> PResult<()> {
        match w {
            "options" => {
                let kw = self.bump();
                let opts = self.options_body()?;
                let span = kw.span.to(self.prev_end);
                self.semi("`}`");
                items.push(Item::Options { opts, span });
            }
            "log" => {
                let log = self.log_path(0)?;
                items.push(Item::Log(log));
            }
            "block" => self.block_def()?,
            "template" => {
                let kw = self.bump();
                let name = self.ident("a template name")?;
                let t = self.peek().clone();
                let opts = match &t.tok {
                    // The short form: `template NAME "TEXT";`.
                    Tok::Str { .. } => {
                        self.bump();
                        vec![Opt {
                            name: Ident {
                                name: "template".into(),
                                span: t.span,
                            },
                            args: vec![Arg::Value(Value {
                                text: t.tok.str_text().unwrap_or_default(),
                                quoted: true,
                                span: t.span,
                            })],
                            span: t.span,
                        }]
                    }
                    _ => self.options_body()?,
                };
                let span = kw.span.to(self.prev_end);
                self.semi("the template");
                items.push(Item::Template(TemplateDef { name, opts, span }));
            }
            "filter" => {
                let kw = self.bump();
                let name = self.ident("a name")?;
                let expr = self.filter_body()?;
                let span = kw.span.to(self.prev_end);
                self.semi("`}`");
                let expr = Box::new(expr);
                items.push(Item::Filter(FilterDef { name, expr, span }));
            }
            _ => {
                if let Some(kind) = object_kind(w) {
                    let kw = self.bump();
                    let name = self.ident("a name")?;
                    let drivers = self.driver_body(kind)?;
                    let span = kw.span.to(self.prev_end);
                    self.semi("`}`");
                    items.push(Item::Object(Object {
                        kind,
                        name,
                        drivers,
                        span,
                    }));
                } else if self.blocks.contains_key(&(BlockKind::Root, block::fold(w))) {
                    self.call_block(BlockKind::Root)?;
                } else {
                    let t = self.peek().clone();
                    let roots: Vec<String> = self
                        .blocks
                        .keys()
                        .filter(|(k, _)| *k == BlockKind::Root)
                        .map(|(_, n)| n.clone())
                        .collect();
                    let cands = TOP_KEYWORDS
                        .iter()
                        .copied()
                        .chain(roots.iter().map(String::as_str));
                    let d = match unsupported::reason(Place::Statement, w) {
                        Some(why) => Diagnostic::error(t.span, format!("`{w}`: {why}")),
                        None => {
                            let d = Diagnostic::error(t.span, format!("unknown statement `{w}`"));
                            match nearest(w, cands) {
                                Some(n) => d.with_help(format!("did you mean `{n}`?")),
                                None => d,
                            }
                        }
                    };
                    self.s.diags.push(d);
                    return Err(Reported);
                }
            }
        }
        Ok(())
    }

    /// `{ opt; ... }` of `options`.
    fn options_body(&mut self) -> PResult<Vec<Opt>> {
        self.expect(Tok::LBrace, "`{`")?;
        let mut opts = Vec::new();
        loop {
            match self.peek_tok() {
                Tok::RBrace => {
                    self.bump();
                    return Ok(opts);
                }
                Tok::Semi => {
                    self.bump();
                }
                Tok::Word(w) if self.is_block(BlockKind::Options, &w) => {
                    self.call_block(BlockKind::Options)?;
                }
                Tok::Word(_) => {
                    opts.push(self.opt()?);
                    self.item_end("option");
                }
                _ => return Err(self.unexpected("an option or `}`")),
            }
        }
    }

    /// After a list element: `;`, or (reported) nothing before the closing `}`.
    fn item_end(&mut self, what: &str) {
        match self.peek().tok {
            Tok::Semi => {
                self.bump();
            }
            _ => {
                let at = self.prev_end;
                self.s.error(at, format!("missing `;` after {what}"));
            }
        }
    }

    fn is_block(&self, kind: BlockKind, name: &str) -> bool {
        self.blocks.contains_key(&(kind, block::fold(name)))
    }

    /// `{ driver(args); ... }` of a source, destination or parser.
    fn driver_body(&mut self, kind: ObjectKind) -> PResult<Vec<Opt>> {
        let bk = block_kind_of(kind);
        self.expect(Tok::LBrace, "`{`")?;
        let mut drivers = Vec::new();
        loop {
            match self.peek_tok() {
                Tok::RBrace => {
                    self.bump();
                    drivers.shrink_to_fit();
                    return Ok(drivers);
                }
                Tok::Semi => {
                    self.bump();
                }
                Tok::Word(w) if self.is_block(bk, &w) => self.call_block(bk)?,
                Tok::Word(_) => {
                    drivers.push(self.opt()?);
                    self.item_end("driver");
                }
                _ => return Err(self.unexpected("a driver or `}`")),
            }
        }
    }

    /// `{ EXPR [;] }` of a filter.
    fn filter_body(&mut self) -> PResult<FilterExpr> {
        self.expect(Tok::LBrace, "`{`")?;
        let expr = self.filter_or(0)?;
        if self.peek().tok == Tok::Semi {
            self.bump();
        }
        self.expect(
            Tok::RBrace,
            "`and`, `or`, `;` or `}` after a filter expression",
        )?;
        Ok(expr)
    }

    /// `A or B or ...`, flat, so a long generated chain costs no recursion.
    fn filter_or(&mut self, depth: u8) -> PResult<FilterExpr> {
        let mut terms = vec![self.filter_and(depth)?];
        while matches!(self.peek_tok(), Tok::Word(w) if w == "or") {
            self.bump();
            terms.push(self.filter_and(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            FilterExpr::Or(terms)
        })
    }

    fn filter_and(&mut self, depth: u8) -> PResult<FilterExpr> {
        let mut terms = vec![self.filter_unary(depth)?];
        while matches!(self.peek_tok(), Tok::Word(w) if w == "and") {
            self.bump();
            terms.push(self.filter_unary(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            FilterExpr::And(terms)
        })
    }

    /// `not X`, `( X )`, `name(args)`, or `OPERAND OP OPERAND`.
    fn filter_unary(&mut self, depth: u8) -> PResult<FilterExpr> {
        let t = self.peek().clone();
        let nests = t.tok == Tok::LParen || matches!(&t.tok, Tok::Word(w) if w == "not");
        if nests {
            self.nesting(depth, t.span, "filter expression")?;
        }
        match &t.tok {
            Tok::Word(w) if w == "not" => {
                self.bump();
                Ok(FilterExpr::Not(
                    Box::new(self.filter_unary(depth + 1)?),
                    t.span,
                ))
            }
            Tok::LParen => {
                self.bump();
                let inner = self.filter_or(depth + 1)?;
                self.expect(Tok::RParen, "`)`")?;
                Ok(inner)
            }
            Tok::Word(w) => {
                self.bump();
                if self.peek().tok == Tok::LParen {
                    self.bump();
                    let name = Ident {
                        name: w.clone(),
                        span: t.span,
                    };
                    return Ok(FilterExpr::Call(self.opt_rest(name, depth)?));
                }
                self.filter_compare(operand(&t))
            }
            Tok::Str { .. } => {
                self.bump();
                self.filter_compare(operand(&t))
            }
            _ => Err(self.unexpected(
                "a filter: `facility(...)`, `program(\"...\")`, `\"$HOST\" == \"...\"`, `not`, `(`",
            )),
        }
    }

    fn filter_compare(&mut self, left: Value) -> PResult<FilterExpr> {
        let expected = "a comparison (`==`, `!=`, `<`, `eq`, `ne`, `lt`, ...)";
        if !matches!(self.peek_tok(), Tok::Word(w) if Comparison::is_operator(&w)) {
            return Err(self.unexpected(expected));
        }
        let op = self.ident(expected)?;
        let t = self.peek().clone();
        if !matches!(t.tok, Tok::Word(_) | Tok::Str { .. }) {
            return Err(self.unexpected("a value to compare with"));
        }
        self.bump();
        Ok(FilterExpr::Compare {
            left,
            op,
            right: operand(&t),
        })
    }

    /// `name(arg ...)` where an arg is a value or a nested `name(...)`.
    fn opt(&mut self) -> PResult<Opt> {
        let name = self.ident("a name")?;
        self.expect(Tok::LParen, &format!("`(` after `{}`", name.name))?;
        self.opt_rest(name, 0)
    }

    /// The arguments of `name(` up to its `)`; `depth` counts the enclosing
    /// parentheses.
    fn opt_rest(&mut self, name: Ident, depth: u8) -> PResult<Opt> {
        self.nesting(depth, name.span, "option arguments")?;
        let mut args = Vec::new();
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::RParen => {
                    self.bump();
                    let span = name.span.to(t.span);
                    // Kept for the whole load: a growth reserve of 80-byte
                    // arguments per option was a third of a big config's AST.
                    args.shrink_to_fit();
                    return Ok(Opt { name, args, span });
                }
                Tok::Comma | Tok::Semi => {
                    self.bump();
                }
                Tok::Word(w) => {
                    self.bump();
                    if self.peek().tok == Tok::LParen {
                        self.bump();
                        let inner = Ident {
                            name: w.clone(),
                            span: t.span,
                        };
                        args.push(Arg::Opt(self.opt_rest(inner, depth + 1)?));
                    } else {
                        args.push(Arg::Value(Value {
                            text: w.clone(),
                            quoted: false,
                            span: t.span,
                        }));
                    }
                }
                Tok::Str { .. } => {
                    self.bump();
                    args.push(Arg::Value(Value {
                        text: t.tok.str_text().unwrap_or_default(),
                        quoted: true,
                        span: t.span,
                    }));
                }
                _ => {
                    return Err(
                        self.unexpected(&format!("a value or `)` closing `{}(`", name.name))
                    );
                }
            }
        }
    }

    /// Refuses a construct nested `depth` levels deep when that is past
    /// [`MAX_NESTING`].
    fn nesting(&mut self, depth: u8, at: Span, what: &str) -> PResult<()> {
        if depth < MAX_NESTING {
            return Ok(());
        }
        self.s
            .error(at, format!("{what} nested more than {MAX_NESTING} deep"));
        Err(Reported)
    }

    /// `log { ... };`; `depth` counts the enclosing log paths.
    fn log_path(&mut self, depth: u8) -> PResult<LogPath> {
        let kw = self.bump();
        self.nesting(depth, kw.span, "log paths")?;
        self.expect(Tok::LBrace, "`{` after `log`")?;
        let mut items = Vec::new();
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::RBrace => {
                    self.bump();
                    break;
                }
                Tok::Semi => {
                    self.bump();
                }
                Tok::Word(w) => {
                    if let Some(kind) = object_kind(w) {
                        self.bump();
                        match self.peek_tok() {
                            Tok::LParen => {
                                self.bump();
                                let name = match self.peek_tok() {
                                    Tok::Str { .. } => {
                                        let s = self.bump();
                                        Ident {
                                            name: s.tok.str_text().unwrap_or_default(),
                                            span: s.span,
                                        }
                                    }
                                    _ => self.ident(&format!("the name of a {w}"))?,
                                };
                                self.expect(Tok::RParen, "`)`")?;
                                items.push(LogItem::Ref { kind, name });
                                self.item_end(&format!("`{w}(...)`"));
                            }
                            Tok::LBrace if kind == ObjectKind::Filter => {
                                let expr = self.filter_body()?;
                                let span = t.span.to(self.prev_end);
                                self.semi("`}`");
                                items.push(LogItem::InlineFilter(Box::new(expr), span));
                            }
                            Tok::LBrace => {
                                let drivers = self.driver_body(kind)?;
                                self.anon += 1;
                                let name = Ident {
                                    name: format!("#anon-{w}-{}", self.anon),
                                    span: t.span,
                                };
                                let span = t.span.to(self.prev_end);
                                self.semi("`}`");
                                items.push(LogItem::Inline(Object {
                                    kind,
                                    name,
                                    drivers,
                                    span,
                                }));
                            }
                            _ => return Err(self.unexpected(&format!("`(` or `{{` after `{w}`"))),
                        }
                    } else if w == "flags" {
                        let opt = self.opt()?;
                        let mut flags = Vec::new();
                        for a in &opt.args {
                            match a {
                                Arg::Value(v) if !v.quoted => flags.push(Ident {
                                    name: v.text.clone(),
                                    span: v.span,
                                }),
                                Arg::Value(v) => self.s.error(v.span, "a flag is a bare word"),
                                Arg::Opt(o) => self.s.error(o.span, "a flag is a bare word"),
                            }
                        }
                        items.push(LogItem::Flags(flags, opt.span));
                        self.item_end("`flags(...)`");
                    } else if w == "log" {
                        items.push(LogItem::Log(self.log_path(depth + 1)?));
                    } else if self.is_block(BlockKind::Log, w) {
                        self.call_block(BlockKind::Log)?;
                    } else {
                        let d = match unsupported::reason(Place::LogPath, w) {
                            Some(why) => Diagnostic::error(t.span, format!("`{w}`: {why}")),
                            None => {
                                let d = Diagnostic::error(
                                    t.span,
                                    format!("unknown log path element `{w}`"),
                                );
                                match nearest(w, LOG_KEYWORDS) {
                                    Some(n) => d.with_help(format!("did you mean `{n}`?")),
                                    None => d,
                                }
                            }
                        };
                        self.s.diags.push(d);
                        return Err(Reported);
                    }
                }
                _ => return Err(self.unexpected("a log path element or `}`")),
            }
        }
        let span = kw.span.to(self.prev_end);
        self.semi("`}`");
        items.shrink_to_fit();
        Ok(LogPath { items, span })
    }

    /// Raw tokens up to the one closing `open` (a `(` or `{` already consumed).
    fn raw_group(&mut self, open: &Token) -> PResult<(Vec<Token>, Token)> {
        let (o, c) = if open.tok == Tok::LBrace {
            (Tok::LBrace, Tok::RBrace)
        } else {
            (Tok::LParen, Tok::RParen)
        };
        let mut depth = 0usize;
        let mut inner = Vec::new();
        loop {
            let t = self.bump_raw();
            if t.tok == Tok::Eof {
                self.s
                    .error(open.span, format!("unclosed {}", open.tok.describe()));
                return Err(Reported);
            }
            if t.tok == o {
                depth += 1;
            } else if t.tok == c {
                if depth == 0 {
                    return Ok((inner, t));
                }
                depth -= 1;
            }
            inner.push(t);
        }
    }

    /// The verbatim text between two tokens, and its span when it is one piece of
    /// one source; otherwise the tokens' texts joined by spaces.
    fn raw_text(&self, open: &Token, close: &Token, inner: &[Token]) -> (String, Span) {
        let src = open.span.source;
        if close.span.source == src && inner.iter().all(|t| t.span.source == src) {
            let span = Span {
                source: src,
                start: open.span.end,
                end: close.span.start,
            };
            (self.s.map.text(span).to_string(), span)
        } else {
            let parts: Vec<&str> = inner.iter().map(|t| self.s.map.text(t.span)).collect();
            (parts.join(" "), open.span)
        }
    }

    /// `block KIND NAME(param(default) ...) { body };`
    fn block_def(&mut self) -> PResult<()> {
        self.bump();
        let kind_tok = self.peek().clone();
        let kind = match &kind_tok.tok {
            Tok::Word(w) => match BlockKind::from_keyword(w) {
                Some(k) => {
                    self.bump();
                    k
                }
                None => {
                    let mut d =
                        Diagnostic::error(kind_tok.span, format!("unknown block kind `{w}`"));
                    if let Some(n) = nearest(w, BlockKind::KEYWORDS) {
                        d = d.with_help(format!("did you mean `{n}`?"));
                    }
                    self.s.diags.push(d);
                    return Err(Reported);
                }
            },
            _ => return Err(self.unexpected("a block kind (`destination`, `source`, ...)")),
        };
        let name = self.ident("the block's name")?;
        let open = self.expect(Tok::LParen, "`(` with the block's parameters")?;
        let (inner, _) = self.raw_group(&open)?;
        let mut params: Vec<Param> = Vec::new();
        let mut varargs = false;
        let mut i = 0;
        while let Some(t) = inner.get(i) {
            match &t.tok {
                Tok::Comma => i += 1,
                Tok::Word(w) if w == "..." => {
                    if inner[i + 1..].iter().any(|t| t.tok != Tok::Comma) {
                        self.s
                            .error(t.span, "`...` must end the block's parameter list");
                        return Err(Reported);
                    }
                    varargs = true;
                    i += 1;
                }
                Tok::Word(p) if inner.get(i + 1).is_some_and(|n| n.tok == Tok::LParen) => {
                    let close = matching(&inner, i + 1);
                    let (Some(o), Some(c)) = (inner.get(i + 1), inner.get(close)) else {
                        self.s.error(t.span, "unclosed parameter default");
                        return Err(Reported);
                    };
                    let body = inner.get(i + 2..close).unwrap_or(&[]);
                    let (text, _) = self.raw_text(o, c, body);
                    // `name()` has no default: every call must give it.
                    let default = (!body.is_empty()).then(|| text.trim().to_string());
                    params.push(Param {
                        name: p.clone(),
                        default,
                    });
                    i = close + 1;
                }
                _ => {
                    self.s.error(
                        t.span,
                        format!(
                            "expected a parameter such as `name(default)`, found {}",
                            t.tok.describe()
                        ),
                    );
                    return Err(Reported);
                }
            }
        }
        let lb = self.bump_raw();
        if lb.tok != Tok::LBrace {
            let span = self.at(&lb);
            self.s.error(
                span,
                format!(
                    "expected `{{` with the block's body, found {}",
                    lb.tok.describe()
                ),
            );
            return Err(Reported);
        }
        let (inner, rb) = self.raw_group(&lb)?;
        let (body, body_span) = self.raw_text(&lb, &rb, &inner);
        self.semi("`}`");
        let key = (kind, block::fold(&name.name));
        if let Some(prev) = self.blocks.get(&key) {
            let at = self.s.map.location(prev.name.span);
            self.s.error(
                name.span,
                format!(
                    "block {} `{}` is already defined at {at}",
                    kind.keyword(),
                    name.name
                ),
            );
            return Ok(());
        }
        self.blocks.insert(
            key,
            BlockDef {
                kind,
                name,
                params,
                varargs,
                body,
                body_span,
            },
        );
        Ok(())
    }

    /// `NAME(arg(text) ...)` where NAME is a block of `kind`: the expanded body is
    /// pushed onto the stream, to be parsed in the caller's context.
    fn call_block(&mut self, kind: BlockKind) -> PResult<()> {
        let name_tok = self.bump();
        let Tok::Word(name) = &name_tok.tok else {
            return Err(self.unexpected("a block name"));
        };
        let name = name.clone();
        let open = self.expect(Tok::LParen, &format!("`(` after `{name}`"))?;
        let (inner, close) = self.raw_group(&open)?;
        let call = name_tok.span.to(close.span);
        let mut named = Vec::new();
        let mut bad = false;
        let mut i = 0;
        while let Some(t) = inner.get(i) {
            match &t.tok {
                Tok::Comma | Tok::Semi => i += 1,
                Tok::Word(p) if inner.get(i + 1).is_some_and(|n| n.tok == Tok::LParen) => {
                    let close = matching(&inner, i + 1);
                    if let (Some(o), Some(c)) = (inner.get(i + 1), inner.get(close)) {
                        let body = inner.get(i + 2..close).unwrap_or(&[]);
                        let (text, _) = self.raw_text(o, c, body);
                        named.push((p.clone(), text.trim().to_string()));
                    }
                    i = close + 1;
                }
                _ => {
                    self.s
                        .error(t.span, format!("block `{name}` takes named arguments only"));
                    bad = true;
                    i = skip_arg(&inner, i);
                }
            }
        }
        if bad {
            return Ok(());
        }
        if self.s.peek_top_raw().is_some_and(|t| t.tok != Tok::Semi) {
            let at = self.prev_end;
            self.s.error(at, format!("missing `;` after `{name}(...)`"));
        }
        if name_tok.depth >= MAX_BLOCK_DEPTH {
            self.s.error(
                call,
                format!(
                    "SCL blocks nested more than {MAX_BLOCK_DEPTH} deep: does `{name}` call itself?"
                ),
            );
            return Err(Reported);
        }
        if !self.s.spend(call) {
            return Err(Reported);
        }
        let Some(def) = self.blocks.get(&(kind, block::fold(&name))).cloned() else {
            return Ok(());
        };
        let args = CallArgs { named };
        let errors = def.check_call(&args);
        if !errors.is_empty() {
            let at = self.s.map.location(def.name.span);
            for e in errors {
                let d = match e {
                    CallError::Unknown(arg) => {
                        let names: Vec<&str> = def.params.iter().map(|p| p.name.as_str()).collect();
                        let mut d = Diagnostic::error(
                            call,
                            format!(
                                "unknown argument `{arg}()` to block `{name}` (defined at {at}; its parameter list has no `...`)"
                            ),
                        );
                        if let Some(n) = nearest(&arg, names.iter().copied()) {
                            d = d.with_help(format!("did you mean `{n}`?"));
                        }
                        d
                    }
                    CallError::Missing(p) => Diagnostic::error(
                        call,
                        format!(
                            "block `{name}` needs `{p}(...)`: the parameter has no default (defined at {at})"
                        ),
                    ),
                };
                self.s.diags.push(d);
            }
            return Ok(());
        }
        let text = match block::expand_body(&def, &args, &mut self.s, MAX_EXPANSION) {
            Ok(text) => text,
            Err(reached) => {
                let biggest = args.named.iter().max_by_key(|(_, t)| t.len());
                let mut d = Diagnostic::error(
                    call,
                    format!(
                        "block `{name}` expands to more than {} here ({} before it stopped)",
                        size(MAX_EXPANSION),
                        size(reached)
                    ),
                );
                if let Some((arg, t)) = biggest {
                    d = d.with_help(format!(
                        "its longest argument, `{arg}()`, is {}",
                        size(t.len())
                    ));
                }
                self.s.diags.push(d);
                return Err(Reported);
            }
        };
        if !self.s.charge(text.len(), call) {
            return Err(Reported);
        }
        let id = self.s.map.add(
            Origin::Expansion {
                block: def.name.name.clone(),
                definition: def.body_span,
                call,
            },
            text,
        );
        self.s.push_derived(id, name_tok.depth + 1, true);
        Ok(())
    }
}

/// The index of the token closing the `(` at `open` (or past the end).
fn matching(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.tok {
            Tok::LParen => depth += 1,
            Tok::RParen => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// Past one bad argument: a token, or a parenthesised group after it.
fn skip_arg(tokens: &[Token], i: usize) -> usize {
    if tokens.get(i + 1).is_some_and(|t| t.tok == Tok::LParen) {
        matching(tokens, i + 1) + 1
    } else {
        i + 1
    }
}
