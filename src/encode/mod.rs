//! How a message becomes bytes in an object: the destination's `template()`
//! (the default), one JSON object per line as Alibaba Log Service ships logs
//! (`format(json)`), CSV columns (`format(csv)`), or typed Parquet columns
//! (`format(parquet)`).
//!
//! An encoder runs when a message reaches its object, so the spool holds
//! encoded bytes and the message is let go at once. Columns and extra JSON
//! fields name macros or name-value pairs as templates do (`HOST`, `PID`,
//! `.SDATA.meta.sequenceId`), or Log Service's reserved fields: `__time__`
//! (the message's Unix time in seconds), `__source__` (the client's IP
//! address) and `__topic__` (the destination's `topic()`).

mod csv;
mod parquet;

pub use csv::CsvOptions;
pub use parquet::{Group, Parquet};

use crate::message::{Field, Message, same_bytes};
use crate::template::{RenderContext, Template, escape_json, is_macro, push_i64, push_ip};

/// `format()` values.
pub const FORMATS: &[&str] = &["template", "json", "csv", "parquet"];

/// Turns messages into object bytes.
#[derive(Clone, Debug)]
pub enum Encoder {
    Template(Template),
    Json {
        /// `$(format-json ...)` with the destination's selection.
        fields: Template,
        /// `,"__topic__":"<topic>","__source__":"`, escaped once.
        topic: Box<[u8]>,
    },
    Csv(csv::Csv),
    /// Rows the destination gathers into row groups (see `parquet.rs`).
    Parquet(Box<Parquet>),
}

impl Encoder {
    /// `format(json)`: `selection` is `$(format-json)`'s arguments
    /// (`--scope rfc5424 --exclude DATE`...).
    pub fn json(selection: &str, topic: &str) -> Result<Encoder, String> {
        let text = format!("$(format-json {selection})");
        let fields = Template::compile(&text).map_err(|e| format!("json-options(): {e}"))?;
        let mut text = b",\"__topic__\":\"".to_vec();
        escape_json(topic.as_bytes(), &mut text);
        text.extend_from_slice(b"\",\"__source__\":\"");
        Ok(Encoder::Json {
            fields,
            topic: text.into(),
        })
    }

    /// `format(csv)`.
    pub fn csv(options: CsvOptions) -> Result<Encoder, String> {
        csv::Csv::new(options).map(Encoder::Csv)
    }

    /// The key suffix the format implies when `object-key-suffix()` is not
    /// set: syslog-ng's `.log` for templates, none for JSON as Log Service
    /// writes it, `.csv` for CSV.
    pub fn default_suffix(&self) -> &'static str {
        match self {
            Encoder::Template(_) => ".log",
            Encoder::Json { .. } => "",
            Encoder::Csv(_) => ".csv",
            Encoder::Parquet(_) => ".parquet",
        }
    }

    /// Whether the format's suffix names a table format, which Log Service
    /// puts after the compression's (`.snappy.csv`).
    pub fn tabular(&self) -> bool {
        matches!(self, Encoder::Csv(_) | Encoder::Parquet(_))
    }

    /// What starts every object: CSV's header line, when asked for.
    pub fn header(&self, out: &mut Vec<u8>) {
        if let Encoder::Csv(c) = self {
            c.header(out);
        }
    }

    /// Appends `msg`, encoded, to `out`; returns how many of its values
    /// became null for failing to convert to their column's type.
    pub fn encode(&self, msg: &Message, ctx: &RenderContext, out: &mut Vec<u8>) -> u64 {
        match self {
            Encoder::Template(t) => t.render(msg, ctx, out),
            Encoder::Json { fields, topic } => json_line(fields, topic, msg, ctx, out),
            Encoder::Csv(c) => c.row(msg, ctx, out),
            Encoder::Parquet(p) => return p.row(msg, ctx, out),
        }
        0
    }

    /// The Parquet encoder, which gathers rows into row groups.
    pub fn parquet(&self) -> Option<&Parquet> {
        match self {
            Encoder::Parquet(p) => Some(p),
            _ => None,
        }
    }
}

/// [`Found`] for columns that are not pairs.
const NO_PAIRS: Found = Found([u32::MAX; FOUND]);

/// `{"__time__":N,"__topic__":"...","__source__":"...",<the selection>}` and
/// a newline; `topic` is the text between the time and the source.
fn json_line(
    fields: &Template,
    topic: &[u8],
    msg: &Message,
    ctx: &RenderContext,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"{\"__time__\":");
    Column::Time.value(msg, ctx, "", &NO_PAIRS, out);
    out.extend_from_slice(topic);
    Column::Source.value(msg, ctx, "", &NO_PAIRS, out);
    out.push(b'"');
    let start = out.len();
    fields.render(msg, ctx, out);
    // The selection's object, opened by us: its `{` goes, a `,` joins it
    // unless it is empty. A selection that rendered nothing (a failed cast)
    // leaves the reserved fields alone.
    if out.get(start) == Some(&b'{') {
        if out.get(start + 1) == Some(&b'}') {
            out.truncate(start);
        } else {
            out[start] = b',';
            out.pop();
        }
    } else {
        out.truncate(start);
    }
    out.extend_from_slice(b"}\n");
}

/// A value a CSV or Parquet column reads.
#[derive(Clone, Debug)]
pub enum Column {
    /// `__time__`: the message's stamp in Unix seconds.
    Time,
    /// `__source__`: the client's IP address.
    Source,
    /// `__topic__`: the destination's `topic()`.
    Topic,
    /// PROGRAM, PID, MSGID or MESSAGE: macros that are their field's bytes,
    /// read without a template; missing when the message lacks the field.
    Field(Field),
    /// A macro; `field` names the message field whose absence makes it
    /// missing (SDATA), others are always there.
    Macro {
        template: Template,
        field: Option<Field>,
    },
    /// A name-value pair, missing when the message has none; `slot` is its
    /// place in [`Found`], given by [`PairIndex::new`].
    Pair { name: Box<[u8]>, slot: usize },
}

impl Column {
    /// The column a name denotes.
    pub fn parse(name: &str) -> Result<Column, String> {
        Ok(match name {
            "__time__" => Column::Time,
            "__source__" => Column::Source,
            "__topic__" => Column::Topic,
            "PROGRAM" => Column::Field(Field::Program),
            "PID" => Column::Field(Field::Pid),
            "MSGID" => Column::Field(Field::MsgId),
            "MESSAGE" => Column::Field(Field::Message),
            _ if is_macro(name) => Column::Macro {
                template: Template::compile(&format!("${{{name}}}"))
                    .map_err(|e| format!("column {name}: {e}"))?,
                field: (name == "SDATA").then_some(Field::Sdata),
            },
            _ if name.is_empty() => return Err("an empty column name".into()),
            _ => Column::Pair {
                name: name.as_bytes().into(),
                slot: usize::MAX,
            },
        })
    }

    /// Appends the value; `false` when the message lacks it (nothing
    /// appended). `found` is [`PairIndex::find`] of `msg`.
    pub fn value(
        &self,
        msg: &Message,
        ctx: &RenderContext,
        topic: &str,
        found: &Found,
        out: &mut Vec<u8>,
    ) -> bool {
        match self.get(msg, ctx, topic, found, out) {
            Value::Bytes(v) => out.extend_from_slice(v),
            Value::Written => {}
            Value::Missing => return false,
        }
        true
    }

    /// The value: the message's (or the topic's) own bytes where it is
    /// those, so that an encoder can look at them before it writes them;
    /// else appended to `out`.
    pub fn get<'a>(
        &'a self,
        msg: &'a Message,
        ctx: &RenderContext,
        topic: &'a str,
        found: &Found,
        out: &mut Vec<u8>,
    ) -> Value<'a> {
        let some = |v: Option<&'a [u8]>| v.map_or(Value::Missing, Value::Bytes);
        match self {
            Column::Time => push_i64(out, msg.stamp.secs),
            // As ${SOURCEIP}: a v4-mapped v6 address shows as v4.
            Column::Source => match msg.peer {
                Some(p) => push_ip(out, p.ip()),
                None => out.extend_from_slice(b"127.0.0.1"),
            },
            Column::Topic => return Value::Bytes(topic.as_bytes()),
            Column::Field(f) => return some(msg.get(*f)),
            Column::Macro { template, field } => {
                if field.is_some_and(|f| msg.get(f).is_none()) {
                    return Value::Missing;
                }
                template.render(msg, ctx, out);
            }
            Column::Pair { name, slot } => {
                return some(match found.0.get(*slot) {
                    Some(&at) => msg.pair_at(at as usize),
                    None => msg.pair(name),
                });
            }
        }
        Value::Written
    }
}

/// A column's value in one message (see [`Column::get`]).
pub enum Value<'a> {
    Bytes(&'a [u8]),
    /// Appended to the output.
    Written,
    /// The message lacks it; nothing was appended.
    Missing,
}

/// How many pair columns [`Found`] places; further ones are looked up one
/// by one.
const FOUND: usize = 64;

/// Where each pair column's value is in one message: the index of the last
/// pair of its name, `u32::MAX` for none.
#[derive(Clone, Copy)]
pub struct Found([u32; FOUND]);

/// The pair names of the last message a thread's [`PairIndex`] placed, and
/// where they put its columns: messages of one stream mostly carry the same
/// names in the same order, and comparing them is cheaper than hashing.
struct Last {
    index: u64,
    /// The names, one after another, and where each ends.
    names: Vec<u8>,
    ends: Vec<u32>,
    found: Found,
}

thread_local! {
    static LAST: std::cell::RefCell<Last> = const {
        std::cell::RefCell::new(Last {
            index: 0,
            names: Vec::new(),
            ends: Vec::new(),
            found: Found([u32::MAX; FOUND]),
        })
    };
}

/// Finds the values of a row's pair columns in one pass over a message's
/// pairs, rather than a search of them all per column (which was a quarter
/// of a CSV row's time with a dozen of each).
#[derive(Clone, Debug)]
pub struct PairIndex {
    /// Names it for [`Last`]; a clone has the same columns, and shares it.
    id: u64,
    /// Open addressing: a pair column's slot + 1 (0: empty), at the hash of
    /// its name.
    table: Box<[u8]>,
    /// The pair columns' names, by slot.
    names: Vec<Box<[u8]>>,
}

impl PairIndex {
    /// Gives the pair columns of `columns` their slots.
    pub fn new<'a>(columns: impl IntoIterator<Item = &'a mut Column>) -> PairIndex {
        let mut names: Vec<Box<[u8]>> = Vec::new();
        for c in columns {
            if let Column::Pair { name, slot } = c
                && names.len() < FOUND
            {
                *slot = names.len();
                names.push(name.clone());
            }
        }
        // At most a quarter full, so that a miss ends after a probe or two.
        let size = (names.len() * 4).next_power_of_two().max(16);
        let mut table = vec![0u8; size].into_boxed_slice();
        for (slot, name) in names.iter().enumerate() {
            let mut i = Self::hash(name) & (size - 1);
            while table[i] != 0 {
                i = (i + 1) & (size - 1);
            }
            table[i] = slot as u8 + 1;
        }
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        PairIndex {
            id: IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            table,
            names,
        }
    }

    /// The length and last eight bytes of a name, mixed: pair names of one
    /// message share prefixes (`.nginx.`), seldom their ends.
    fn hash(name: &[u8]) -> usize {
        let n = name.len();
        let tail = match name.get(n.saturating_sub(8)..).map(<[u8; 8]>::try_from) {
            Some(Ok(t)) => u64::from_le_bytes(t),
            _ => name.iter().fold(0, |h, c| h << 8 | u64::from(*c)),
        };
        ((tail ^ (n as u64) << 56).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize
    }

    /// Where `msg` keeps each pair column's value; the last pair of a name
    /// wins, as in [`Message::pair`].
    pub fn find(&self, msg: &Message) -> Found {
        if self.names.is_empty() {
            return Found([u32::MAX; FOUND]);
        }
        LAST.with_borrow_mut(|last| {
            if last.index == self.id && last.ends.len() == msg.pair_count() {
                let mut start = 0;
                let same = msg.pair_names().zip(&last.ends).all(|(name, &end)| {
                    let seen = &last.names[start..end as usize];
                    start = end as usize;
                    same_bytes(seen, name)
                });
                if same {
                    return last.found;
                }
            }
            let found = self.hashed(msg);
            last.index = self.id;
            last.names.clear();
            last.ends.clear();
            for name in msg.pair_names() {
                last.names.extend_from_slice(name);
                last.ends.push(last.names.len() as u32);
            }
            last.found = found;
            found
        })
    }

    /// [`PairIndex::find`] by hashing each of the message's pair names.
    fn hashed(&self, msg: &Message) -> Found {
        let mut found = Found([u32::MAX; FOUND]);
        let mask = self.table.len() - 1;
        for (at, name) in msg.pair_names().enumerate() {
            let mut i = Self::hash(name) & mask;
            loop {
                match self.table[i] {
                    0 => break,
                    s if same_bytes(&self.names[s as usize - 1], name) => {
                        found.0[s as usize - 1] = at as u32;
                        break;
                    }
                    _ => i = (i + 1) & mask,
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests;
