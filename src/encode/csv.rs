//! `format(csv)`: one line per message, `columns()` in order, quoted as RFC
//! 4180 says when a value holds the delimiter, the quote or a line break.

use super::{Column, PairIndex, Value};
use crate::message::{Message, bytes_at, copy_run, copy_until};
use crate::template::RenderContext;

/// `format(csv)`'s options.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    pub columns: Vec<String>,
    pub delimiter: u8,
    pub quote: u8,
    /// What precedes a quote inside a quoted value; the quote itself (the
    /// default) doubles it.
    pub escape: u8,
    /// Written for a column the message lacks.
    pub null_value: String,
    pub header: bool,
    /// `__topic__`'s value.
    pub topic: String,
}

impl CsvOptions {
    /// `columns` with every other option at its default: comma, double
    /// quote doubled inside quotes, empty null value, no header, no topic.
    pub fn new(columns: Vec<String>) -> CsvOptions {
        CsvOptions {
            columns,
            delimiter: b',',
            quote: b'"',
            escape: b'"',
            null_value: String::new(),
            header: false,
            topic: String::new(),
        }
    }
}

thread_local! {
    /// A value being quoted, copied out of the row it is rewritten into.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[derive(Clone, Debug)]
pub struct Csv {
    opts: CsvOptions,
    columns: Vec<Column>,
    pairs: PairIndex,
    /// The bytes that make a value quoted: delimiter, quote, escape, CR, LF.
    special: Box<[bool; 256]>,
    /// When every special byte is below this (comma or tab, and double
    /// quotes: the usual CSV), one has-less-than test per word finds the
    /// words that may hold one; 0 otherwise.
    below: u8,
    /// Per column: whether its values can never hold a special byte (the
    /// digits of `__time__`, an address in `__source__`).
    plain: Vec<bool>,
}

impl Csv {
    pub fn new(opts: CsvOptions) -> Result<Csv, String> {
        if opts.columns.is_empty() {
            return Err("format(csv) needs columns()".into());
        }
        for (what, c) in [("delimiter", opts.delimiter), ("quote", opts.quote)] {
            if matches!(c, b'\r' | b'\n') {
                return Err(format!("{what}() cannot be a line break"));
            }
        }
        if opts.delimiter == opts.quote {
            return Err("delimiter() and quote() must differ".into());
        }
        let mut columns = opts
            .columns
            .iter()
            .map(|c| Column::parse(c))
            .collect::<Result<Vec<_>, _>>()?;
        let pairs = PairIndex::new(&mut columns);
        let mut special = Box::new([false; 256]);
        for c in [opts.delimiter, opts.quote, opts.escape, b'\r', b'\n'] {
            special[c as usize] = true;
        }
        let top = [opts.delimiter, opts.quote, opts.escape, b'\r', b'\n']
            .into_iter()
            .max()
            .unwrap_or(0);
        let none_of = |bytes: &[u8]| !bytes.iter().any(|c| special[*c as usize]);
        let plain = columns
            .iter()
            .map(|c| match c {
                Column::Time => none_of(b"-0123456789"),
                Column::Source => none_of(b".:0123456789abcdef"),
                _ => false,
            })
            .collect();
        Ok(Csv {
            opts,
            columns,
            pairs,
            special,
            below: if top < b'-' { top + 1 } else { 0 },
            plain,
        })
    }

    /// The header line: the column names, when `header(yes)`.
    pub fn header(&self, out: &mut Vec<u8>) {
        if !self.opts.header {
            return;
        }
        for (i, name) in self.opts.columns.iter().enumerate() {
            if i > 0 {
                out.push(self.opts.delimiter);
            }
            let start = out.len();
            out.extend_from_slice(name.as_bytes());
            self.quote_from(start, out);
        }
        out.push(b'\n');
    }

    pub fn row(&self, msg: &Message, ctx: &RenderContext, out: &mut Vec<u8>) {
        let found = self.pairs.find(msg);
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(self.opts.delimiter);
            }
            let start = out.len();
            match c.get(msg, ctx, &self.opts.topic, &found, out) {
                // Fields and pairs are looked at where they are, and copied
                // once, quoted or not.
                Value::Bytes(v) => self.value(v, out),
                Value::Written if self.plain[i] => {}
                Value::Written => self.quote_from(start, out),
                Value::Missing => out.extend_from_slice(self.opts.null_value.as_bytes()),
            }
        }
        out.push(b'\n');
    }

    /// Appends `v`, quoted if it holds the delimiter, the quote, the escape
    /// or a line break. A long value goes out sixteen bytes at a time while
    /// they are looked at, and is written again quoted at the first special
    /// byte: one pass for the usual value, where a search and then a copy
    /// were two.
    fn value(&self, v: &[u8], out: &mut Vec<u8>) {
        let n = v.len();
        if n < 16 {
            if self.needs_quotes(v) {
                return self.quoted(v, out);
            }
            return copy_run(v, 0, n, out);
        }
        let start = out.len();
        let rest = match copy_until(v, 0, out, |w| self.special16(w)) {
            Ok(_) => return self.requote(start, v, out),
            Err(i) => i,
        };
        // The last sixteen bytes cover the rest (some of them seen twice).
        if rest < n && self.special16(bytes_at(v, n - 16)) != 0 {
            return self.requote(start, v, out);
        }
        copy_run(v, rest, n, out);
    }

    /// `v`, written unquoted from `start` up to a special byte, written
    /// again quoted.
    fn requote(&self, start: usize, v: &[u8], out: &mut Vec<u8>) {
        out.truncate(start);
        self.quoted(v, out);
    }

    /// Bit k set where byte k of `w` is the delimiter, the quote, the escape,
    /// CR or LF.
    #[inline]
    fn special16(&self, w: [u8; 16]) -> u32 {
        let o = &self.opts;
        // SAFETY: SSE2 is part of x86_64 itself (mask16's target_feature);
        // elsewhere the function is a safe one.
        #[allow(unused_unsafe)]
        unsafe {
            mask16(w, [o.delimiter, o.quote, o.escape, b'\r', b'\n'])
        }
    }

    /// Whether `v`, shorter than sixteen bytes, needs quotes: looked at
    /// eight bytes at a time, for the delimiter, the quote, the escape and
    /// any byte below 0x0e (CR, LF and rarer controls), or for any byte
    /// below [`Csv::below`], with the has-zero-byte and has-less-than tests
    /// (exact for "any byte"); the table settles the values they flag.
    fn needs_quotes(&self, v: &[u8]) -> bool {
        let (d, q, e) = (self.opts.delimiter, self.opts.quote, self.opts.escape);
        let splat = |c: u8| u64::from(c) * 0x0101_0101_0101_0101;
        let below = |w: u64, c: u8| w.wrapping_sub(splat(c)) & !w;
        let (d, q, e) = (splat(d), splat(q), splat(e));
        let maybe = |w: u64| match self.below {
            0 => {
                (below(w ^ d, 1) | below(w ^ q, 1) | below(w ^ e, 1) | below(w, 0x0e)) & splat(0x80)
                    != 0
            }
            t => below(w, t) & splat(0x80) != 0,
        };
        let word = |at: usize| u64::from_le_bytes(bytes_at(v, at));
        let n = v.len();
        let candidate = match n {
            0..8 => true,
            _ => maybe(word(0)) || maybe(word(n - 8)),
        };
        candidate && v.iter().any(|c| self.special[*c as usize])
    }

    /// `v` between quotes, each quote (and escape character) escaped: sixteen
    /// bytes go out at a time and are cut back at a quote or escape.
    fn quoted(&self, v: &[u8], out: &mut Vec<u8>) {
        let (q, e) = (self.opts.quote, self.opts.escape);
        out.reserve(v.len() + 8);
        out.push(q);
        let n = v.len();
        let mut i = 0;
        // SAFETY: as in special16.
        #[allow(unused_unsafe)]
        let mask = |w: [u8; 16]| unsafe { mask16(w, [q, e, q, q, q]) };
        loop {
            let at = match copy_until(v, i, out, mask) {
                Ok(at) => at,
                Err(i) => {
                    let at = v[i..]
                        .iter()
                        .position(|&c| c == q || c == e)
                        .map_or(n, |k| i + k);
                    copy_run(v, i, at, out);
                    at
                }
            };
            let Some(&c) = v.get(at) else { break };
            out.push(e);
            out.push(c);
            i = at + 1;
        }
        out.push(q);
    }

    /// Quotes the value at `out[start..]` if it needs it: a copy of it goes
    /// back quoted.
    fn quote_from(&self, start: usize, out: &mut Vec<u8>) {
        let v = &out[start..];
        let special = match v.len() {
            0..16 => self.needs_quotes(v),
            n => {
                v.chunks_exact(16)
                    .any(|w| self.special16(bytes_at(w, 0)) != 0)
                    || self.special16(bytes_at(v, n - 16)) != 0
            }
        };
        if !special {
            return;
        }
        SCRATCH.with_borrow_mut(|value| {
            value.clear();
            value.extend_from_slice(&out[start..]);
            out.truncate(start);
            self.quoted(value, out);
        });
    }
}

/// Bit k set where byte k of `w` is one of `set`: one SSE2 compare per byte
/// of the set, where words take a dozen operations per eight bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn mask16(w: [u8; 16], set: [u8; 5]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x, _mm_set1_epi8,
    };
    let word = |at: usize| i64::from_le_bytes(bytes_at(&w, at));
    let v = _mm_set_epi64x(word(8), word(0));
    let is = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
    let any = _mm_or_si128(
        _mm_or_si128(is(set[0]), is(set[1])),
        _mm_or_si128(_mm_or_si128(is(set[2]), is(set[3])), is(set[4])),
    );
    _mm_movemask_epi8(any) as u32
}

/// [`mask16`] a byte at a time.
#[cfg(not(target_arch = "x86_64"))]
fn mask16(w: [u8; 16], set: [u8; 5]) -> u32 {
    w.iter()
        .enumerate()
        .filter(|(_, c)| set.contains(c))
        .fold(0, |m, (k, _)| m | 1 << k)
}
