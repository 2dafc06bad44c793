//! `$(+ A B)`, `$(- A B)`, `$(* A B)`, `$(/ A B)` and `$(% A B)`: syslog-ng's
//! numeric functions. Two whole numbers give a whole number (wrapping, as C's
//! 64-bit arithmetic does in practice); otherwise both are doubles and the result
//! is printed with 20 decimals (`%.20f`). A bad operand or a zero divisor renders
//! `NaN`.

use super::list::{parse_i64, push_num};
use super::{Arg, Args, Function, templates};
use crate::template::{Template, TemplateError};

#[derive(Clone, Copy, Debug)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct Numeric {
    pub args: Vec<Template>,
    op: Op,
}

pub(super) fn compile(
    name: &str,
    args: &[Arg],
    call: TemplateError,
) -> Result<Function, TemplateError> {
    if args.len() != 2 {
        // syslog-ng renders NaN at run time; a call that can never work is a
        // config error here.
        return Err(TemplateError {
            message: format!("$({name}) takes two numbers, e.g. $({name} $PID 1)"),
            ..call
        });
    }
    let op = match name {
        "+" => Op::Add,
        "-" => Op::Sub,
        "*" => Op::Mul,
        "/" => Op::Div,
        _ => Op::Mod,
    };
    Ok(Function::Numeric(Numeric {
        args: templates(args)?,
        op,
    }))
}

#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    /// `parse_generic_number`: a base-10 integer, else anything `strtod` takes.
    fn parse(s: &[u8]) -> Option<Num> {
        if let Some(i) = parse_i64(s) {
            return Some(Num::Int(i));
        }
        super::format_json::strtod(s).map(Num::Float)
    }

    fn float(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

impl Numeric {
    pub fn render(&self, a: &Args, out: &mut Vec<u8>) {
        let (Some(n), Some(m)) = (Num::parse(a.get(0)), Num::parse(a.get(1))) else {
            out.extend_from_slice(b"NaN");
            return;
        };
        let zero = match m {
            Num::Int(i) => i == 0,
            Num::Float(f) => f == 0.0,
        };
        if zero && matches!(self.op, Op::Div | Op::Mod) {
            out.extend_from_slice(b"NaN");
            return;
        }
        match (n, m) {
            (Num::Int(x), Num::Int(y)) => push_num(
                out,
                match self.op {
                    Op::Add => x.wrapping_add(y),
                    Op::Sub => x.wrapping_sub(y),
                    Op::Mul => x.wrapping_mul(y),
                    Op::Div => x.wrapping_div(y),
                    Op::Mod => x.wrapping_rem(y),
                },
            ),
            _ => {
                let (x, y) = (n.float(), m.float());
                let r = match self.op {
                    Op::Add => x + y,
                    Op::Sub => x - y,
                    Op::Mul => x * y,
                    Op::Div => x / y,
                    Op::Mod => x % y,
                };
                push_num(out, format_args!("{r:.20}"));
            }
        }
    }
}
