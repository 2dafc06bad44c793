//! A row group's column chunks, encoded here rather than by the parquet
//! crate's column writer, whose generic machinery (an interner call per value,
//! size estimates per mini-batch, buffers grown by reallocation) was most of
//! a row group's time. The layout is the one that writer makes and every
//! reader knows: data pages v1; a PLAIN dictionary page and RLE_DICTIONARY
//! indices while a chunk's distinct values stay under 128 KiB, PLAIN values
//! otherwise; definition levels in the RLE/bit-packed hybrid; each page
//! compressed on its own. The crate still writes the page headers, the
//! metadata and the footer.

use crate::message::same_bytes;
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, EncodingMask};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;

/// Past this many bytes of distinct values, a chunk is written PLAIN: the
/// values do not repeat enough for a dictionary to pay.
const DICT_LIMIT: usize = 128 << 10;
/// Uncompressed bytes of values in a data page, and its rows at most.
const PAGE_BYTES: usize = 1 << 20;
const PAGE_ROWS: usize = 20_000;

/// How a column's values are laid out in the rows and in PLAIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Width {
    /// Byte arrays: a 4-byte length, then the bytes.
    Bytes,
    /// Little-endian numbers of 4 or 8 bytes.
    Fixed(usize),
    /// Booleans: a byte in the rows, a bit in PLAIN.
    Bit,
}

/// One column of a row group: a definition level per row (1: present) and
/// where each present value's bytes are in the rows.
#[derive(Default)]
pub(super) struct Gathered {
    pub defs: Vec<u8>,
    pub spans: Vec<(u32, u32)>,
}

impl Gathered {
    pub fn values<'a>(&'a self, rows: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.spans
            .iter()
            .map(move |&(at, len)| &rows[at as usize..(at + len) as usize])
    }
}

/// Writes a column chunk of `col` to `sink`; returns its metadata.
pub(super) fn write_chunk<W: Write + Send>(
    sink: &mut TrackedWrite<W>,
    rows: &[u8],
    col: &Gathered,
    descr: ColumnDescPtr,
    width: Width,
    codec: Compression,
    statistics: Option<Statistics>,
) -> Result<ColumnChunkMetaData> {
    let dict = match width {
        Width::Bit => None,
        // A chunk without values is written PLAIN: no empty dictionary page.
        _ if col.spans.is_empty() => None,
        _ => dictionary(col.values(rows), width),
    };
    let mut pages = SerializedPageWriter::new(sink);
    let (mut compressed, mut uncompressed) = (0i64, 0i64);
    let mut dict_offset = None;
    let mut body = Vec::new();
    let mut encodings = vec![Encoding::PLAIN, Encoding::RLE];
    let bits = dict.as_ref().map(|d| index_bits(d.values.len()));
    if let Some(d) = &dict {
        encodings.push(Encoding::RLE_DICTIONARY);
        for v in &d.values {
            plain(v, width, &mut body);
        }
        let spec = pages.write_page(CompressedPage::new(
            Page::DictionaryPage {
                buf: compress(codec, &body)?,
                num_values: d.values.len() as u32,
                encoding: Encoding::PLAIN,
                is_sorted: false,
            },
            body.len(),
        ))?;
        dict_offset = Some(spec.offset as i64);
        compressed += spec.compressed_size as i64;
        uncompressed += spec.uncompressed_size as i64;
    }
    // Pages of PAGE_ROWS rows at most, or of about PAGE_BYTES of values.
    let mut data_offset = None;
    let (mut row, mut value) = (0usize, 0usize);
    let mut levels = Vec::new();
    while row < col.defs.len() || (row == 0 && data_offset.is_none()) {
        let (first_row, first_value) = (row, value);
        let mut bytes = 0usize;
        while row < col.defs.len() && row - first_row < PAGE_ROWS && bytes < PAGE_BYTES {
            if col.defs[row] == 1 {
                bytes += match (bits, width) {
                    (Some(_), _) => 1,
                    (None, Width::Bytes) => 4 + col.spans[value].1 as usize,
                    (None, Width::Fixed(n)) => n,
                    (None, Width::Bit) => 1,
                };
                value += 1;
            }
            row += 1;
        }
        body.clear();
        levels.clear();
        hybrid(&col.defs[first_row..row], 1, &mut levels);
        body.extend_from_slice(&(levels.len() as u32).to_le_bytes());
        body.extend_from_slice(&levels);
        match (&dict, bits) {
            (Some(d), Some(bits)) => {
                body.push(bits);
                hybrid(&d.ids[first_value..value], bits, &mut body);
            }
            _ if width == Width::Bit => {
                let mut acc = 0u8;
                for (i, v) in col
                    .values(rows)
                    .skip(first_value)
                    .take(value - first_value)
                    .enumerate()
                {
                    acc |= (v[0] & 1) << (i % 8);
                    if i % 8 == 7 {
                        body.push(acc);
                        acc = 0;
                    }
                }
                if (value - first_value) % 8 != 0 {
                    body.push(acc);
                }
            }
            _ => {
                for v in col.values(rows).skip(first_value).take(value - first_value) {
                    plain(v, width, &mut body);
                }
            }
        }
        let spec = pages.write_page(CompressedPage::new(
            Page::DataPage {
                buf: compress(codec, &body)?,
                num_values: (row - first_row) as u32,
                encoding: if dict.is_some() {
                    Encoding::RLE_DICTIONARY
                } else {
                    Encoding::PLAIN
                },
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            },
            body.len(),
        ))?;
        data_offset.get_or_insert(spec.offset as i64);
        compressed += spec.compressed_size as i64;
        uncompressed += spec.uncompressed_size as i64;
    }
    let mut meta = ColumnChunkMetaData::builder(descr)
        .set_compression(codec)
        .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
        .set_total_compressed_size(compressed)
        .set_total_uncompressed_size(uncompressed)
        .set_num_values(col.defs.len() as i64)
        .set_data_page_offset(data_offset.unwrap_or_default())
        .set_dictionary_page_offset(dict_offset);
    if let Some(s) = statistics {
        meta = meta.set_statistics(s);
    }
    meta.build()
}

/// A chunk's distinct values in order of first use, and each value's index.
struct Dictionary<'r> {
    values: Vec<&'r [u8]>,
    ids: Vec<u32>,
    /// The values' PLAIN size.
    size: usize,
}

impl<'r> Dictionary<'r> {
    fn add(&mut self, v: &'r [u8], width: Width) -> u32 {
        self.size += v.len() + if width == Width::Bytes { 4 } else { 0 };
        self.values.push(v);
        (self.values.len() - 1) as u32
    }
}

/// The chunk's dictionary, or `None` once its values pass [`DICT_LIMIT`]
/// (so at most that much is hashed in vain).
fn dictionary<'r>(values: impl Iterator<Item = &'r [u8]>, width: Width) -> Option<Dictionary<'r>> {
    let mut d = Dictionary {
        values: Vec::new(),
        ids: Vec::new(),
        size: 0,
    };
    // A column often repeats its last value (a host, a method, a second):
    // that is one compare, not a lookup.
    let mut last: Option<(&[u8], u32)> = None;
    if let Width::Fixed(_) = width {
        // Numbers are their own keys.
        let mut index: HashMap<u64, u32, BuildHasherDefault<WordHash>> = HashMap::default();
        for v in values {
            let id = match last {
                Some((l, id)) if l == v => id,
                _ => {
                    let mut key = [0u8; 8];
                    key[..v.len()].copy_from_slice(v);
                    let id = *index
                        .entry(u64::from_le_bytes(key))
                        .or_insert_with(|| d.add(v, width));
                    last = Some((v, id));
                    id
                }
            };
            d.ids.push(id);
            if d.size > DICT_LIMIT {
                return None;
            }
        }
        return Some(d);
    }
    let mut index: HashMap<Key, u32, BuildHasherDefault<WordHash>> = HashMap::default();
    for v in values {
        let id = match last {
            Some((l, id)) if same_bytes(l, v) => id,
            _ => {
                let id = *index.entry(Key(v)).or_insert_with(|| d.add(v, width));
                last = Some((v, id));
                id
            }
        };
        d.ids.push(id);
        if d.size > DICT_LIMIT {
            return None;
        }
    }
    Some(d)
}

/// A dictionary key, compared as [`same_bytes`] does: a few words for the
/// short strings of logs, where a call to compare memory per lookup was a
/// tenth of a row group's time.
#[derive(Clone, Copy, Eq)]
struct Key<'r>(&'r [u8]);

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        same_bytes(self.0, other.0)
    }
}

impl std::hash::Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0);
    }
}

/// A multiply-rotate hash over 8-byte words: dictionary keys are short log
/// strings and numbers, for which std's SipHash costs more than the rest.
#[derive(Default)]
struct WordHash(u64);

impl Hasher for WordHash {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or_default());
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        let m = u128::from(self.0) * 0x9e37_79b9_7f4a_7c15;
        (m as u64) ^ ((m >> 64) as u64)
    }
}

/// Bits for indices into a dictionary of `n` values (at least one).
fn index_bits(n: usize) -> u8 {
    (usize::BITS - n.saturating_sub(1).leading_zeros()).max(1) as u8
}

fn plain(v: &[u8], width: Width, out: &mut Vec<u8>) {
    if width == Width::Bytes {
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(v);
}

/// Appends `values` (each under 2^bits) in the RLE/bit-packed hybrid: runs of
/// eight or more equal values that start on a group boundary as RLE runs, the
/// rest bit-packed in groups of eight.
pub(super) fn hybrid<T: Copy + PartialEq + Into<u64>>(values: &[T], bits: u8, out: &mut Vec<u8>) {
    let n = values.len();
    let (mut i, mut literal) = (0usize, 0usize);
    while i < n {
        if (i - literal) % 8 == 0 {
            let v = values[i];
            let run = values[i..].iter().take_while(|&&x| x == v).count();
            if run >= 8 {
                bit_packed(&values[literal..i], bits, out);
                varint((run as u64) << 1, out);
                let v: u64 = v.into();
                out.extend_from_slice(&v.to_le_bytes()[..usize::from(bits).div_ceil(8)]);
                i += run;
                literal = i;
                continue;
            }
        }
        i += 1;
    }
    bit_packed(&values[literal..], bits, out);
}

/// A bit-packed run of `values`, the last group padded with zeros.
fn bit_packed<T: Copy + Into<u64>>(values: &[T], bits: u8, out: &mut Vec<u8>) {
    if values.is_empty() {
        return;
    }
    let groups = values.len().div_ceil(8);
    varint(((groups as u64) << 1) | 1, out);
    let (mut acc, mut held) = (0u64, 0u8);
    let pad = groups * 8 - values.len();
    for v in values
        .iter()
        .map(|&v| v.into())
        .chain(std::iter::repeat_n(0, pad))
    {
        acc |= v << held;
        held += bits;
        while held >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            held -= 8;
        }
    }
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A page's bytes compressed as `codec` says (with the crate's default
/// levels: gzip 6, zstd 1).
fn compress(codec: Compression, body: &[u8]) -> Result<Bytes> {
    let io = |e: std::io::Error| ParquetError::External(Box::new(e));
    Ok(Bytes::from(match codec {
        Compression::UNCOMPRESSED => body.to_vec(),
        Compression::SNAPPY => snap::raw::Encoder::new()
            .compress_vec(body)
            .map_err(|e| ParquetError::External(Box::new(e)))?,
        Compression::GZIP(_) => {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::new(6),
            );
            gz.write_all(body).map_err(io)?;
            gz.finish().map_err(io)?
        }
        Compression::ZSTD(_) => zstd::bulk::compress(body, 1).map_err(io)?,
        other => return Err(ParquetError::NYI(format!("{other} pages"))),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the hybrid back, as readers do.
    fn unhybrid(mut b: &[u8], bits: u8, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        while out.len() < n {
            let (mut h, mut shift) = (0u64, 0);
            loop {
                let c = b[0];
                b = &b[1..];
                h |= u64::from(c & 0x7f) << shift;
                shift += 7;
                if c < 0x80 {
                    break;
                }
            }
            if h & 1 == 0 {
                let w = usize::from(bits).div_ceil(8);
                let mut v = [0u8; 8];
                v[..w].copy_from_slice(&b[..w]);
                b = &b[w..];
                out.extend(std::iter::repeat_n(
                    u64::from_le_bytes(v),
                    (h >> 1) as usize,
                ));
            } else {
                let count = (h >> 1) as usize * 8;
                let (mut acc, mut held, mut i) = (0u128, 0u32, 0);
                for _ in 0..count {
                    while held < u32::from(bits) {
                        acc |= u128::from(b[i]) << held;
                        i += 1;
                        held += 8;
                    }
                    out.push((acc & ((1 << bits) - 1)) as u64);
                    acc >>= bits;
                    held -= u32::from(bits);
                }
                b = &b[i..];
            }
        }
        out.truncate(n);
        out
    }

    #[test]
    fn hybrid_runs_and_packs_read_back() {
        let cases: Vec<(Vec<u32>, u8)> = vec![
            (vec![], 1),
            (vec![1; 20_000], 1),
            ((0..1000).map(|i| i % 2).collect(), 1),
            ((0..37).map(|i| i % 5).collect(), 3),
            ([vec![3; 5], vec![7; 30], (0..13).collect()].concat(), 4),
            ((0..5000).map(|i| (i * 7919) % 4096).collect(), 12),
            (vec![u32::MAX >> 7; 9], 25),
        ];
        for (values, bits) in cases {
            let mut b = Vec::new();
            hybrid(&values, bits, &mut b);
            let back = unhybrid(&b, bits, values.len());
            assert_eq!(
                back,
                values.iter().map(|&v| u64::from(v)).collect::<Vec<_>>()
            );
        }
        // 20,000 present rows are one run: a header and one byte.
        let mut b = Vec::new();
        hybrid(&[1u8; 20_000], 1, &mut b);
        assert_eq!(b.len(), 4);
    }

    #[test]
    fn dictionaries_give_up_past_their_limit() {
        let few: Vec<Vec<u8>> = (0..10_000)
            .map(|i| format!("host{}", i % 7).into_bytes())
            .collect();
        let d = dictionary(few.iter().map(|v| v.as_slice()), Width::Bytes).unwrap();
        assert_eq!(d.values.len(), 7);
        assert_eq!(d.ids[..8], [0, 1, 2, 3, 4, 5, 6, 0]);
        assert_eq!(index_bits(d.values.len()), 3);
        let many: Vec<Vec<u8>> = (0..10_000)
            .map(|i| format!("{i:064}").into_bytes())
            .collect();
        assert!(dictionary(many.iter().map(|v| v.as_slice()), Width::Bytes).is_none());
        assert_eq!(
            (
                index_bits(1),
                index_bits(2),
                index_bits(256),
                index_bits(257)
            ),
            (1, 1, 8, 9)
        );
    }
}
