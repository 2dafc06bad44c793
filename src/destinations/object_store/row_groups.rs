//! Parquet objects in the spool (`format(parquet)`): an object's rows wait
//! in its segments as records of their own until they make a row group,
//! whose bytes and metadata follow them; the footer is built from the
//! metadata alone, so the file can be finished after a crash. See
//! `encode/parquet.rs` for the encoding.

use super::spool::{self, Paths, RawState, Record};
use crate::compress::{Codec, Stream};
use crate::encode::Parquet;
use parquet::file::metadata::RowGroupMetaData;
use std::fs::File;

/// A Parquet object's rows waiting for their row group (spooled already),
/// and the metadata of its row groups, for the footer.
#[derive(Default)]
pub struct Rows {
    pub data: Vec<u8>,
    pub groups: Vec<RowGroupMetaData>,
}

/// Writes a row group of `rows` at the end of a Parquet object: its bytes
/// (object bytes) and its metadata (for the footer), as two records. A
/// failure cuts the segment back, so no row group is there without its
/// metadata. Returns the object bytes written, the bytes the segment grew by
/// and the row group's metadata.
pub fn write_group(
    p: &Parquet,
    rows: &mut Vec<u8>,
    stream: &mut Stream,
    file: &File,
    record: &mut Record,
) -> Result<(u64, u64, RowGroupMetaData), String> {
    let group = p.group(rows, stream.raw_total())?;
    let meta = Parquet::group_meta(&group.record)?;
    let before = file.metadata().map_err(|e| e.to_string())?.len();
    let n = group.bytes.len();
    let written = (|| {
        record.clear();
        record.appender().extend_from_slice(&group.bytes);
        let state = stream.state();
        let after = RawState {
            total: state.total + n as u64,
            ..state
        };
        record.write(file, n as u32, after)?;
        record.clear();
        record.appender().extend_from_slice(&group.record);
        record.write(file, spool::GROUP, after)
    })();
    if let Err(e) = written {
        // The bytes without their metadata would shift every later offset;
        // a failed cut is said in the error.
        return Err(match file.set_len(before) {
            Ok(()) => e.to_string(),
            Err(cut) => format!("{e}; and cutting the row group off again failed: {cut}"),
        });
    }
    let after = file.metadata().map_or(before, |m| m.len());
    stream.pass_through(n);
    Ok((n as u64, after - before, meta))
}

/// Finishes a Parquet object a crash left open, from its segments alone: a
/// row group cut short by the crash is cut off, the rows that had no row
/// group yet become one, and the footer ends the file. Returns the object's
/// length.
pub fn finish_parquet(
    paths: &Paths,
    segments: &[u32],
    codec: Codec,
    columns: &[String],
) -> Result<u64, String> {
    let p = Parquet::new(columns, codec, "")?;
    let (mut groups, mut rows, mut total) = (Vec::new(), Vec::new(), 0u64);
    for &n in segments {
        let path = paths.segment(n);
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut cut = 0;
        for e in spool::entries(&data) {
            let payload = &data[e.payload.clone()];
            match e.kind {
                spool::ROWS => rows.extend_from_slice(payload),
                spool::GROUP => {
                    groups.push(Parquet::group_meta(payload)?);
                    rows.clear();
                    total = e.after.total;
                }
                // Ended before the manifest said so.
                spool::FINAL => return Ok(e.after.total),
                // A row group's bytes count once its metadata follows them.
                _ => continue,
            }
            cut = e.payload.end;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(cut as u64))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let last = segments.last().copied().unwrap_or(1);
    let path = paths.segment(last);
    let file = paths
        .open_segment(last)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut stream = Stream::resume(Codec::None, Some(RawState { crc: 0, total }));
    let mut record = Record::default();
    if !rows.is_empty() {
        groups.push(write_group(&p, &mut rows, &mut stream, &file, &mut record)?.2);
    }
    let footer = p.footer(&groups, stream.raw_total())?;
    record.clear();
    record.appender().extend_from_slice(&footer);
    stream.pass_through(footer.len());
    record
        .write(&file, spool::FINAL, stream.state())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(stream.raw_total())
}
