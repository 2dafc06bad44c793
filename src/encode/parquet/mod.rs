//! `format(parquet)`: typed columns in Parquet files that pyarrow, DuckDB and
//! Spark open: column chunks encoded by [`pages`], headers, metadata and
//! footers by the parquet crate.
//!
//! A Parquet file is `PAR1`, row groups, then a footer describing them. An
//! object grows by whole row groups, so that its parts go up while it is
//! open and no object is ever held in memory whole:
//! - each message becomes a *row* in a compact binary form ([`Parquet::row`])
//!   that the spool keeps, so the message is acknowledged at once;
//! - when an object's rows reach `parquet-row-group-size()`, or the object
//!   completes, they become one row group ([`Parquet::group`]): its column
//!   chunks are object bytes, and its metadata is kept in the spool beside
//!   them ([`Group::record`]);
//! - the footer ([`Parquet::footer`]) is built from those metadata records,
//!   so a restart after a crash finishes the file from the spool alone.
//!
//! A row group is encoded as a file of its own (its column chunks by
//! [`pages`]), whose footer holds the row group's metadata; its byte offsets
//! are then moved to where the row group sits in the object.

use super::{Column, PairIndex, Value};
use crate::message::{Message, bytes_at, copy_run};
use crate::template::RenderContext;
use bytes::Bytes;
use pages::{Gathered, Width};
use parquet::basic::{Compression, LogicalType, Repetition, Type as Physical};
use parquet::file::metadata::{
    ColumnChunkMetaData, FileMetaData, ParquetMetaDataBuilder, ParquetMetaDataReader,
    ParquetMetaDataWriter, RowGroupMetaData,
};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::TrackedWrite;
use parquet::schema::types::{SchemaDescPtr, SchemaDescriptor, Type as SchemaType};
use std::io::Write;
use std::sync::Arc;

mod pages;

/// `columns()` types of `format(parquet)`.
pub const TYPES: &[&str] = &["string", "boolean", "int32", "int64", "float", "double"];

const MAGIC: &[u8; 4] = b"PAR1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    String,
    Boolean,
    Int32,
    Int64,
    Float,
    Double,
}

/// One column: where its value comes from, and its type.
#[derive(Clone, Debug)]
struct Field {
    column: Column,
    ty: Ty,
}

/// A `format(parquet)` encoder: the columns, the schema they make and the
/// writer settings.
#[derive(Clone)]
pub struct Parquet {
    fields: Vec<Field>,
    pairs: PairIndex,
    /// `columns()` as written, kept in the spool so that a restart encodes
    /// the rows it finds with the columns they were written with.
    spec: Vec<String>,
    compression: crate::compress::Codec,
    schema: SchemaDescPtr,
    codec: Compression,
    created_by: String,
    topic: String,
}

impl std::fmt::Debug for Parquet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parquet")
            .field("columns", &self.spec)
            .field("compression", &self.compression)
            .finish()
    }
}

/// A row group, encoded.
pub struct Group {
    /// Its column chunks: object bytes (with `PAR1` in front when it starts
    /// the object).
    pub bytes: Vec<u8>,
    /// What the spool keeps beside them for the footer; read back with
    /// [`Parquet::group_meta`].
    pub record: Vec<u8>,
}

impl Parquet {
    /// `columns("name:type" ...)` (a bare name is a string column),
    /// compressed with `compression` inside the file.
    pub fn new(
        spec: &[String],
        compression: crate::compress::Codec,
        topic: &str,
    ) -> Result<Parquet, String> {
        if spec.is_empty() {
            return Err("format(parquet) needs columns(\"name:type\" ...)".into());
        }
        let mut fields = Vec::new();
        let mut types = Vec::new();
        for (i, entry) in spec.iter().enumerate() {
            let (name, ty) = match entry.rsplit_once(':') {
                Some((name, ty)) => (name, ty),
                None => (entry.as_str(), "string"),
            };
            let ty = match ty {
                "string" => Ty::String,
                "boolean" => Ty::Boolean,
                "int32" => Ty::Int32,
                "int64" => Ty::Int64,
                "float" => Ty::Float,
                "double" => Ty::Double,
                other => {
                    return Err(format!(
                        "column \"{entry}\": unknown type \"{other}\"; the types are {} \
                         (a name holding a colon takes its type too: \"{entry}:string\")",
                        TYPES.join(", ")
                    ));
                }
            };
            if spec[..i]
                .iter()
                .any(|e| e.rsplit_once(':').map_or(e.as_str(), |p| p.0) == name)
            {
                return Err(format!("column \"{name}\" is named twice"));
            }
            let physical = match ty {
                Ty::String => Physical::BYTE_ARRAY,
                Ty::Boolean => Physical::BOOLEAN,
                Ty::Int32 => Physical::INT32,
                Ty::Int64 => Physical::INT64,
                Ty::Float => Physical::FLOAT,
                Ty::Double => Physical::DOUBLE,
            };
            let mut t = SchemaType::primitive_type_builder(name, physical)
                .with_repetition(Repetition::OPTIONAL);
            if ty == Ty::String {
                t = t.with_logical_type(Some(LogicalType::String));
            }
            types.push(Arc::new(
                t.build().map_err(|e| format!("column {name}: {e}"))?,
            ));
            fields.push(Field {
                column: Column::parse(name)?,
                ty,
            });
        }
        let schema = SchemaType::group_type_builder("schema")
            .with_fields(types)
            .build()
            .map_err(|e| format!("columns(): {e}"))?;
        let codec = match compression {
            crate::compress::Codec::None => Compression::UNCOMPRESSED,
            crate::compress::Codec::Snappy => Compression::SNAPPY,
            crate::compress::Codec::Gzip => Compression::GZIP(Default::default()),
            crate::compress::Codec::Zstd => Compression::ZSTD(Default::default()),
        };
        let pairs = PairIndex::new(fields.iter_mut().map(|f| &mut f.column));
        Ok(Parquet {
            fields,
            pairs,
            spec: spec.to_vec(),
            compression,
            schema: Arc::new(SchemaDescriptor::new(Arc::new(schema))),
            codec,
            created_by: format!("sluice version {}", env!("CARGO_PKG_VERSION")),
            topic: topic.to_string(),
        })
    }

    /// `columns()` as given.
    pub fn spec(&self) -> &[String] {
        &self.spec
    }

    /// The compression inside the file, which names it (`.snappy.parquet`).
    pub fn compression(&self) -> crate::compress::Codec {
        self.compression
    }

    /// Appends `msg` as a row; returns how many values failed to convert to
    /// their column's type (they are null).
    pub fn row(&self, msg: &Message, ctx: &RenderContext, out: &mut Vec<u8>) -> u64 {
        let mut failed = 0;
        let found = self.pairs.find(msg);
        for f in &self.fields {
            let tag = out.len();
            out.push(1);
            if f.ty == Ty::String {
                out.extend_from_slice(&[0; 4]);
                let start = out.len();
                let written = match f.column.get(msg, ctx, &self.topic, &found, out) {
                    Value::Bytes(v) => {
                        push_utf8(v, out);
                        true
                    }
                    Value::Written => {
                        if !ascii(&out[start..]) && std::str::from_utf8(&out[start..]).is_err() {
                            let v = out.split_off(start);
                            push_utf8(&v, out);
                        }
                        true
                    }
                    Value::Missing => false,
                };
                if written {
                    let len = (out.len() - start) as u32;
                    out[start - 4..start].copy_from_slice(&len.to_le_bytes());
                } else {
                    out.truncate(tag);
                    out.push(0);
                }
                continue;
            }
            let start = out.len();
            let present = f.column.value(msg, ctx, &self.topic, &found, out);
            let mut value = [0u8; 8];
            let n = if present {
                convert(f.ty, &out[start..], &mut value)
            } else {
                None
            };
            out.truncate(tag);
            match n {
                Some(n) => {
                    out.push(1);
                    out.extend_from_slice(&value[..n]);
                }
                None => {
                    failed += u64::from(present);
                    out.push(0);
                }
            }
        }
        failed
    }

    /// Encodes `rows` (what [`Parquet::row`] wrote) as one row group that
    /// starts `at` bytes into its object. `rows` is left as it was.
    pub fn group(&self, rows: &mut Vec<u8>, at: u64) -> Result<Group, String> {
        // Lent to the column values as shared bytes, without a copy, and
        // taken back (with its allocation) once they are gone.
        let shared = Bytes::from(std::mem::take(rows));
        let group = self.encode_group(&shared, at);
        *rows = match shared.try_into_mut() {
            Ok(b) => b.into(),
            Err(b) => b.to_vec(),
        };
        group
    }

    fn encode_group(&self, rows: &Bytes, at: u64) -> Result<Group, String> {
        let (columns, count) = self.gather(rows)?;
        let err = |e: parquet::errors::ParquetError| format!("parquet: {e}");
        let io = |e: std::io::Error| format!("parquet: {e}");
        // Uncompressed, the chunks are about as big as the rows (values, a
        // length per string, page headers): room for that up front, so a
        // row group is never copied to grow. What a compressed one leaves
        // unused is never touched (glibc maps allocations this big).
        let mut file = Vec::with_capacity(rows.len() + rows.len() / 8 + 4096);
        let mut sink = TrackedWrite::new(&mut file);
        sink.write_all(MAGIC).map_err(io)?;
        let mut chunks = Vec::with_capacity(columns.len());
        for (i, (f, c)) in self.fields.iter().zip(&columns).enumerate() {
            let width = match f.ty {
                Ty::String => Width::Bytes,
                Ty::Boolean => Width::Bit,
                Ty::Int32 | Ty::Float => Width::Fixed(4),
                Ty::Int64 | Ty::Double => Width::Fixed(8),
            };
            let stats = statistics(f.ty, rows, c);
            let descr = self.schema.column(i);
            chunks.push(
                pages::write_chunk(&mut sink, rows, c, descr, width, self.codec, stats)
                    .map_err(err)?,
            );
        }
        sink.flush().map_err(io)?;
        let end = sink.bytes_written();
        drop(sink);
        let size = chunks.iter().map(|c| c.uncompressed_size()).sum();
        let group = RowGroupMetaData::builder(self.schema.clone())
            .set_num_rows(count as i64)
            .set_total_byte_size(size)
            .set_column_metadata(chunks)
            .set_file_offset(MAGIC.len() as i64)
            .set_ordinal(0)
            .build()
            .map_err(err)?;
        let file_meta = FileMetaData::new(
            1,
            count as i64,
            Some(self.created_by.clone()),
            None,
            self.schema.clone(),
            None,
        );
        let meta = ParquetMetaDataBuilder::new(file_meta)
            .set_row_groups(vec![group])
            .build();
        // The footer as its own file would end: metadata, length, PAR1.
        let mut footer = Vec::new();
        ParquetMetaDataWriter::new(&mut footer, &meta)
            .with_preserve_page_index_locations(false)
            .finish()
            .map_err(err)?;
        let footer = &footer[..footer.len().saturating_sub(8)];
        let mut record = Vec::with_capacity(8 + footer.len());
        record.extend_from_slice(&at.to_le_bytes());
        record.extend_from_slice(footer);
        file.truncate(end);
        if at > 0 {
            file.drain(..MAGIC.len());
        }
        Ok(Group {
            bytes: file,
            record,
        })
    }

    /// A row group's metadata from its spool record, its offsets moved to
    /// where it sits in the object.
    pub fn group_meta(record: &[u8]) -> Result<RowGroupMetaData, String> {
        let (at, footer) = record
            .split_first_chunk::<8>()
            .ok_or("a row group record too short")?;
        let at = u64::from_le_bytes(*at) as i64;
        let meta = ParquetMetaDataReader::decode_metadata(footer)
            .map_err(|e| format!("a row group record: {e}"))?;
        let rg = meta
            .row_groups()
            .first()
            .ok_or("a row group record without its row group")?
            .clone();
        // In its own file the row group started after PAR1.
        let shift = if at == 0 { 0 } else { at - MAGIC.len() as i64 };
        let moved = |c: &ColumnChunkMetaData| {
            let (data, dict, index) = (
                c.data_page_offset(),
                c.dictionary_page_offset(),
                c.index_page_offset(),
            );
            c.clone()
                .into_builder()
                .set_data_page_offset(data + shift)
                .set_dictionary_page_offset(dict.map(|o| o + shift))
                .set_index_page_offset(index.map(|o| o + shift))
                .build()
        };
        let columns = rg
            .columns()
            .iter()
            .map(moved)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("a row group record: {e}"))?;
        let offset = rg.file_offset().unwrap_or(MAGIC.len() as i64) + shift;
        rg.into_builder()
            .set_column_metadata(columns)
            .set_file_offset(offset)
            .build()
            .map_err(|e| format!("a row group record: {e}"))
    }

    /// What ends an object of `groups` and `size` bytes so far: the footer,
    /// its length and `PAR1` (after a `PAR1` of its own in an object with no
    /// rows).
    pub fn footer(&self, groups: &[RowGroupMetaData], size: u64) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        if size == 0 {
            out.extend_from_slice(MAGIC);
        }
        let groups: Vec<RowGroupMetaData> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                g.clone()
                    .into_builder()
                    .set_ordinal(i as i32)
                    .build()
                    .map_err(|e| format!("parquet footer: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let rows = groups.iter().map(RowGroupMetaData::num_rows).sum();
        let file = FileMetaData::new(
            1,
            rows,
            Some(self.created_by.clone()),
            None,
            self.schema.clone(),
            None,
        );
        let meta = ParquetMetaDataBuilder::new(file)
            .set_row_groups(groups)
            .build();
        ParquetMetaDataWriter::new(&mut out, &meta)
            .with_preserve_page_index_locations(false)
            .finish()
            .map_err(|e| format!("parquet footer: {e}"))?;
        Ok(out)
    }

    /// The rows, column by column, and how many there are.
    fn gather(&self, rows: &[u8]) -> Result<(Vec<Gathered>, usize), String> {
        let mut cols: Vec<Gathered> = self.fields.iter().map(|_| Gathered::default()).collect();
        if rows.len() > u32::MAX as usize {
            return Err("parquet: a row group over 4 GiB".into());
        }
        let torn = || "a torn parquet row in the spool".to_string();
        let (mut at, mut count) = (0usize, 0usize);
        while at < rows.len() {
            for (c, f) in cols.iter_mut().zip(&self.fields) {
                let tag = *rows.get(at).ok_or_else(torn)?;
                at += 1;
                if tag == 0 {
                    c.defs.push(0);
                    continue;
                }
                c.defs.push(1);
                let (start, len) = match f.ty {
                    Ty::String => {
                        let len = rows.get(at..at + 4).ok_or_else(torn)?;
                        let len = u32::from_le_bytes(bytes_at(len, 0)) as usize;
                        (at + 4, len)
                    }
                    Ty::Boolean => (at, 1),
                    Ty::Int32 | Ty::Float => (at, 4),
                    Ty::Int64 | Ty::Double => (at, 8),
                };
                if start + len > rows.len() {
                    return Err(torn());
                }
                c.spans.push((start as u32, len as u32));
                at = start + len;
            }
            count += 1;
            if count == 1 {
                // Rows of a stream are alike in size: room for as many as
                // the first one's size suggests, rather than growing by copies.
                let guess = rows.len() / at + rows.len() / at / 8 + 16;
                for c in &mut cols {
                    c.defs.reserve(guess);
                    c.spans.reserve(guess);
                }
            }
        }
        Ok((cols, count))
    }
}

/// Min, max and nulls of a number or boolean column; strings keep none: their
/// min and max prune little and cost a deep compare per value (log lines
/// share long prefixes).
fn statistics(ty: Ty, rows: &[u8], col: &Gathered) -> Option<Statistics> {
    let nulls = Some(col.defs.iter().filter(|&&d| d == 0).count() as u64);
    fn range<T: Copy + PartialOrd>(
        values: impl Iterator<Item = T>,
        nulls: Option<u64>,
    ) -> ValueStatistics<T> {
        // NaN, the one value unordered even with itself, is left out of min
        // and max, as readers expect.
        let (lo, hi) = values.filter(|v| v.partial_cmp(v).is_some()).fold(
            (None, None),
            |(lo, hi): (Option<T>, Option<T>), v| {
                (
                    Some(lo.filter(|l| *l <= v).unwrap_or(v)),
                    Some(hi.filter(|h| *h >= v).unwrap_or(v)),
                )
            },
        );
        ValueStatistics::new(lo, hi, None, nulls, false)
    }
    let values = || col.values(rows);
    Some(match ty {
        Ty::String => return None,
        Ty::Boolean => Statistics::Boolean(range(values().map(|v| v[0] != 0), nulls)),
        Ty::Int32 => Statistics::Int32(range(
            values().map(|v| i32::from_le_bytes(bytes_at(v, 0))),
            nulls,
        )),
        Ty::Int64 => Statistics::Int64(range(
            values().map(|v| i64::from_le_bytes(bytes_at(v, 0))),
            nulls,
        )),
        Ty::Float => Statistics::Float(range(
            values().map(|v| f32::from_le_bytes(bytes_at(v, 0))),
            nulls,
        )),
        Ty::Double => Statistics::Double(range(
            values().map(|v| f64::from_le_bytes(bytes_at(v, 0))),
            nulls,
        )),
    })
}

/// Appends `v` as UTF-8: Parquet strings are UTF-8, and readers refuse a
/// file with one that is not, so a stray byte becomes U+FFFD. Copied
/// sixteen bytes at a time while their high bits are gathered: ASCII (most
/// log text) needs no more look, and a scan and then a copy were two passes.
fn push_utf8(v: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let mut high = 0u64;
    let mut chunks = v.chunks_exact(16);
    for c in &mut chunks {
        let w = bytes_at::<16>(c, 0);
        out.extend_from_slice(&w);
        high |= u64::from_le_bytes(bytes_at(&w, 0)) | u64::from_le_bytes(bytes_at(&w, 8));
    }
    let rest = chunks.remainder();
    copy_run(rest, 0, rest.len(), out);
    high |= rest.iter().fold(0, |acc, b| acc | u64::from(*b));
    if high & 0x8080_8080_8080_8080 != 0 {
        out.truncate(start);
        out.extend_from_slice(String::from_utf8_lossy(v).as_bytes());
    }
}

/// Whether every byte of `v` is ASCII (log text mostly is, and then it is
/// UTF-8 with no more checks): the bytes OR-ed eight at a time, the high
/// bits looked at once.
fn ascii(v: &[u8]) -> bool {
    let mut words = v.chunks_exact(8);
    let any = words
        .by_ref()
        .fold(0, |acc, w| acc | u64::from_le_bytes(bytes_at(w, 0)));
    let rest = words
        .remainder()
        .iter()
        .fold(0, |acc, b| acc | u64::from(*b));
    (any | rest) & 0x8080_8080_8080_8080 == 0
}

/// `raw` (surrounding whitespace aside) as a `ty` value in little-endian
/// bytes; its length, or `None` when it is not one.
fn convert(ty: Ty, raw: &[u8], out: &mut [u8; 8]) -> Option<usize> {
    // Most numbers in logs are plain decimal integers: read without the
    // UTF-8 check, trim and parse below, which cost more than the value.
    if let (Ty::Int32 | Ty::Int64, Some(v)) = (ty, plain_integer(raw)) {
        let bytes: &[u8] = match ty {
            Ty::Int32 => &i32::try_from(v).ok()?.to_le_bytes(),
            _ => &v.to_le_bytes(),
        };
        out[..bytes.len()].copy_from_slice(bytes);
        return Some(bytes.len());
    }
    let text = std::str::from_utf8(raw).ok()?.trim();
    let bytes: &[u8] = match ty {
        Ty::String => unreachable!("strings are not converted"),
        // The words yes/no options take: true/false, yes/no, on/off, 1/0.
        Ty::Boolean => &[u8::from(crate::config::schema::parse_bool(text)?)],
        Ty::Int32 => &text.parse::<i32>().ok()?.to_le_bytes(),
        Ty::Int64 => &text.parse::<i64>().ok()?.to_le_bytes(),
        Ty::Float => &text.parse::<f32>().ok()?.to_le_bytes(),
        Ty::Double => &text.parse::<f64>().ok()?.to_le_bytes(),
    };
    out[..bytes.len()].copy_from_slice(bytes);
    Some(bytes.len())
}

/// `[-]digits` (1 to 18 of them, so no overflow), between ASCII spaces.
fn plain_integer(raw: &[u8]) -> Option<i64> {
    let t = raw.trim_ascii();
    let (negative, digits) = match t.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, t),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0i64, |v, d| v * 10 + i64::from(d - b'0'));
    Some(if negative { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_from_bytes_as_str_parse_reads_them() {
        let cases = [
            "0",
            "-0",
            "007",
            " 42 ",
            "\t7\n",
            "+5",
            "-",
            "",
            " ",
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "9223372036854775807",
            "-9223372036854775808",
            "999999999999999999",
            "1000000000000000000",
            "99999999999999999999",
            "1e3",
            "12a",
            "1 2",
            "\u{a0}3",
            "٣",
            "--1",
        ];
        for text in cases {
            for ty in [Ty::Int32, Ty::Int64] {
                let (mut got, mut want) = ([0u8; 8], [0u8; 8]);
                let n = convert(ty, text.as_bytes(), &mut got);
                let t = text.trim();
                let expected: Option<Vec<u8>> = match ty {
                    Ty::Int32 => t.parse::<i32>().ok().map(|v| v.to_le_bytes().to_vec()),
                    _ => t.parse::<i64>().ok().map(|v| v.to_le_bytes().to_vec()),
                };
                if let Some(e) = &expected {
                    want[..e.len()].copy_from_slice(e);
                }
                assert_eq!(n, expected.as_ref().map(Vec::len), "{text:?} as {ty:?}");
                assert_eq!(got, want, "{text:?} as {ty:?}");
            }
        }
    }
}
