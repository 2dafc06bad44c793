//! `$(if (CONDITION) "then" "else")`: a small comparison language over templates.
//!
//! `==` `!=` `<` `<=` `>` `>=` compare numerically (falling back to a byte-wise
//! comparison when either side is not a number), `eq` `ne` `lt` `le` `gt` `ge`
//! compare strings; `and`, `or`, `not` and parentheses combine. Operands are
//! quoted templates (`"${HOST}"`) or bare words (`$PID`, `10`).

use super::Arg;
use crate::message::{Message, Zone};
use crate::template::compile::skip_group;
use crate::template::macros::Dates;
use crate::template::{RenderContext, Template, TemplateError};
use std::cmp::Ordering;

#[derive(Clone, Debug)]
pub(in crate::template) struct If {
    cond: Cond,
    then: Template,
    otherwise: Option<Template>,
}

/// A comparison: the wanted ordering, and whether equality also satisfies it
/// (`(Equal, false)` is "not equal").
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Num(Ordering, bool),
    Str(Ordering, bool),
}

#[derive(Clone, Debug)]
enum Cond {
    Cmp(Op, Template, Template),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

impl If {
    pub fn compile(args: &[Arg], call: TemplateError) -> Result<If, TemplateError> {
        let usage = "$(if) takes (CONDITION) \"then\" [\"else\"]";
        if args.len() < 2 || args.len() > 3 {
            return Err(TemplateError {
                message: usage.into(),
                ..call
            });
        }
        let c = &args[0];
        let raw = c.raw.as_bytes();
        if raw.first() != Some(&b'(') || skip_group(raw, 0) != Some(raw.len()) {
            return Err(c.error(format!("{usage}: the condition must be in parentheses")));
        }
        let toks = tokenize(&c.raw, c.raw_off)?;
        let mut p = Parser {
            toks,
            pos: 0,
            end: c.raw_off + c.raw.len(),
        };
        let cond = p.or()?;
        if let Some(t) = p.toks.get(p.pos) {
            return Err(TemplateError::new(
                t.off,
                t.len,
                "unexpected token in condition",
            ));
        }
        Ok(If {
            cond,
            then: args[1].template()?,
            otherwise: args.get(2).map(Arg::template).transpose()?,
        })
    }

    pub fn set_zone(&mut self, zone: &Zone) {
        self.then.set_zone(zone);
        if let Some(t) = &mut self.otherwise {
            t.set_zone(zone);
        }
        self.cond.set_zone(zone);
    }

    pub fn render(&self, msg: &Message, ctx: &RenderContext, dates: &mut Dates, out: &mut Vec<u8>) {
        if self.cond.eval(msg, ctx, dates, out) {
            self.then.render_with(msg, ctx, dates, out);
        } else if let Some(t) = &self.otherwise {
            t.render_with(msg, ctx, dates, out);
        }
    }
}

impl Cond {
    fn set_zone(&mut self, zone: &Zone) {
        match self {
            Cond::Cmp(_, l, r) => {
                l.set_zone(zone);
                r.set_zone(zone);
            }
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.set_zone(zone);
                b.set_zone(zone);
            }
            Cond::Not(a) => a.set_zone(zone),
        }
    }

    /// Renders operands into `out`'s tail, compares them, and truncates again.
    fn eval(
        &self,
        msg: &Message,
        ctx: &RenderContext,
        dates: &mut Dates,
        out: &mut Vec<u8>,
    ) -> bool {
        match self {
            Cond::Cmp(op, l, r) => eval_cmp(*op, l, r, msg, ctx, dates, out),
            Cond::And(a, b) => a.eval(msg, ctx, dates, out) && b.eval(msg, ctx, dates, out),
            Cond::Or(a, b) => a.eval(msg, ctx, dates, out) || b.eval(msg, ctx, dates, out),
            Cond::Not(a) => !a.eval(msg, ctx, dates, out),
        }
    }
}

/// `LEFT OP RIGHT` over two templates, `$(if)`'s comparison on its own: filter
/// expressions (`"${HOST}" == "web1"`) use it.
#[derive(Clone, Debug)]
pub struct Comparison {
    op: Op,
    left: Template,
    right: Template,
}

impl Comparison {
    /// `None` when `op` is not one of `==` `!=` `<` `<=` `>` `>=` (numeric) or
    /// `eq` `ne` `lt` `le` `gt` `ge` (string).
    pub fn new(left: Template, op: &str, right: Template) -> Option<Comparison> {
        Some(Comparison {
            op: op_from_text(op)?,
            left,
            right,
        })
    }

    /// Whether `text` is a comparison operator.
    pub fn is_operator(text: &str) -> bool {
        op_from_text(text).is_some()
    }

    /// Whether `msg` satisfies the comparison; `scratch` is render space.
    pub fn matches(&self, msg: &Message, ctx: &RenderContext, scratch: &mut Vec<u8>) -> bool {
        let mut dates = Dates::default();
        eval_cmp(
            self.op,
            &self.left,
            &self.right,
            msg,
            ctx,
            &mut dates,
            scratch,
        )
    }
}

/// Renders both operands into `out`'s tail, compares them, and truncates again.
fn eval_cmp(
    op: Op,
    l: &Template,
    r: &Template,
    msg: &Message,
    ctx: &RenderContext,
    dates: &mut Dates,
    out: &mut Vec<u8>,
) -> bool {
    let start = out.len();
    l.render_with(msg, ctx, dates, out);
    let mid = out.len();
    r.render_with(msg, ctx, dates, out);
    let result = compare(op, &out[start..mid], &out[mid..]);
    out.truncate(start);
    result
}

/// A comparison operator by its text, symbols numeric and words string-wise.
fn op_from_text(text: &str) -> Option<Op> {
    let (n, s) = (Op::Num, Op::Str);
    Some(match text.to_ascii_lowercase().as_str() {
        "==" => n(Ordering::Equal, true),
        "!=" => n(Ordering::Equal, false),
        "<" => n(Ordering::Less, false),
        "<=" => n(Ordering::Less, true),
        ">" => n(Ordering::Greater, false),
        ">=" => n(Ordering::Greater, true),
        "eq" => s(Ordering::Equal, true),
        "ne" => s(Ordering::Equal, false),
        "lt" => s(Ordering::Less, false),
        "le" => s(Ordering::Less, true),
        "gt" => s(Ordering::Greater, false),
        "ge" => s(Ordering::Greater, true),
        _ => return None,
    })
}

fn compare(op: Op, l: &[u8], r: &[u8]) -> bool {
    let (ord, want, or_equal) = match op {
        Op::Num(want, or_equal) => (
            numeric_cmp(l, r).unwrap_or_else(|| l.cmp(r)),
            want,
            or_equal,
        ),
        Op::Str(want, or_equal) => (l.cmp(r), want, or_equal),
    };
    // (Equal, false) means "not equal".
    match (want, or_equal) {
        (Ordering::Equal, true) => ord == Ordering::Equal,
        (Ordering::Equal, false) => ord != Ordering::Equal,
        (w, true) => ord == w || ord == Ordering::Equal,
        (w, false) => ord == w,
    }
}

fn numeric_cmp(l: &[u8], r: &[u8]) -> Option<Ordering> {
    let l = std::str::from_utf8(l).ok()?.trim();
    let r = std::str::from_utf8(r).ok()?.trim();
    if let (Ok(a), Ok(b)) = (l.parse::<i64>(), r.parse::<i64>()) {
        return Some(a.cmp(&b));
    }
    let (a, b) = (l.parse::<f64>().ok()?, r.parse::<f64>().ok()?);
    a.partial_cmp(&b)
}

#[derive(Debug)]
enum Kind {
    Open,
    Close,
    And,
    Or,
    Not,
    Op(Op),
    Operand(String),
}

#[derive(Debug)]
struct Tok {
    kind: Kind,
    off: usize,
    len: usize,
}

fn tokenize(raw: &str, base: usize) -> Result<Vec<Tok>, TemplateError> {
    let b = raw.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let kind = match b[i] {
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Kind::Open
            }
            b')' => {
                i += 1;
                Kind::Close
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                let mut val = Vec::new();
                loop {
                    match b.get(i) {
                        None => {
                            return Err(TemplateError::new(
                                base + start,
                                b.len() - start,
                                "unterminated string in condition",
                            ));
                        }
                        Some(c) if *c == q => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') if q == b'"' && matches!(b.get(i + 1), Some(b'"' | b'\\')) => {
                            val.push(b[i + 1]);
                            i += 2;
                        }
                        Some(c) => {
                            val.push(*c);
                            i += 1;
                        }
                    }
                }
                Kind::Operand(String::from_utf8_lossy(&val).into_owned())
            }
            b'=' | b'!' | b'<' | b'>' => {
                let len = 1 + usize::from(b.get(i + 1) == Some(&b'='));
                let Some(op) = op_from_text(&raw[i..i + len]) else {
                    return Err(TemplateError::new(base + i, 1, "expected '==' or '!='"));
                };
                i += len;
                Kind::Op(op)
            }
            _ => {
                while i < b.len() && !b[i].is_ascii_whitespace() && !b"()\"'".contains(&b[i]) {
                    if b[i] == b'$' && b.get(i + 1) == Some(&b'(') {
                        i = skip_group(b, i + 1).unwrap_or(b.len());
                    } else if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
                        i = memchr::memchr(b'}', &b[i..]).map_or(b.len(), |n| i + n + 1);
                    } else {
                        i += 1;
                    }
                }
                let word = &raw[start..i];
                match word.to_ascii_lowercase().as_str() {
                    "and" => Kind::And,
                    "or" => Kind::Or,
                    "not" => Kind::Not,
                    w => match op_from_text(w) {
                        Some(op) => Kind::Op(op),
                        None => Kind::Operand(word.to_string()),
                    },
                }
            }
        };
        toks.push(Tok {
            kind,
            off: base + start,
            len: i - start,
        });
    }
    Ok(toks)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// Offset just past the condition, for "expected ..." at the end.
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn error_here(&self, message: &str) -> TemplateError {
        match self.peek() {
            Some(t) => TemplateError::new(t.off, t.len, message),
            None => TemplateError::new(self.end.saturating_sub(1), 1, message),
        }
    }

    fn or(&mut self) -> Result<Cond, TemplateError> {
        let mut left = self.and()?;
        while matches!(self.peek(), Some(Tok { kind: Kind::Or, .. })) {
            self.pos += 1;
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, TemplateError> {
        let mut left = self.not()?;
        while matches!(
            self.peek(),
            Some(Tok {
                kind: Kind::And,
                ..
            })
        ) {
            self.pos += 1;
            left = Cond::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, TemplateError> {
        if matches!(
            self.peek(),
            Some(Tok {
                kind: Kind::Not,
                ..
            })
        ) {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        if matches!(
            self.peek(),
            Some(Tok {
                kind: Kind::Open,
                ..
            })
        ) {
            self.pos += 1;
            let inner = self.or()?;
            if !matches!(
                self.peek(),
                Some(Tok {
                    kind: Kind::Close,
                    ..
                })
            ) {
                return Err(self.error_here("expected ')'"));
            }
            self.pos += 1;
            return Ok(inner);
        }
        let left = self.operand()?;
        let op = match self.peek() {
            Some(Tok {
                kind: Kind::Op(op), ..
            }) => *op,
            _ => {
                return Err(self.error_here(
                    "expected a comparison operator (== != < <= > >= eq ne lt le gt ge)",
                ));
            }
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(Cond::Cmp(op, left, right))
    }

    fn operand(&mut self) -> Result<Template, TemplateError> {
        match self.peek() {
            Some(Tok {
                kind: Kind::Operand(text),
                off,
                ..
            }) => {
                // A quoted operand's text starts one byte after its token.
                let quoted =
                    matches!(self.toks[self.pos].len.checked_sub(text.len()), Some(n) if n >= 2);
                let t = Template::compile_at(text, off + usize::from(quoted))?;
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.error_here("expected a quoted template or a word")),
        }
    }
}
