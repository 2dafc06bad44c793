//! The on-disk spool of an object-store destination: what was accepted and not
//! yet in the store, in files under `--state-dir` with opaque, flat names (the
//! key lives in the manifest, never in a file name, so no key can make a spool
//! file unfindable).
//!
//! Each open object has a manifest `<id>.meta` and segments `<id>.<n>.seg`,
//! segment `n` being part `n` of the upload. A segment is a sequence of
//! records, each framed with its length and a CRC32, appended and synced in
//! groups before the messages in it are acknowledged. After a crash the
//! records up to the first torn or corrupt one are the object's bytes; the
//! rest were never acknowledged.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

/// `payload_len, raw_len, raw_crc, record_crc` (u32) and `raw_total` (u64).
const HEADER: usize = 24;

/// The `raw_len` of the record that ends an object (the gzip trailer).
pub const FINAL: u32 = u32::MAX;

pub use crate::compress::RawState;

/// A record being built: room for its header, then its payload, so that it
/// reaches the segment in one write (a torn write tears one record) and
/// without copying the payload.
#[derive(Debug)]
pub struct Record(Vec<u8>);

impl Default for Record {
    fn default() -> Record {
        Record(vec![0; HEADER])
    }
}

impl Record {
    pub fn payload(&self) -> &[u8] {
        &self.0[HEADER..]
    }

    /// Where payload bytes are appended (after the header's room, which
    /// callers leave alone).
    pub fn appender(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    pub fn len(&self) -> usize {
        self.0.len() - HEADER
    }

    /// What the record takes in a segment: its payload and its header.
    pub fn on_disk(&self) -> u64 {
        self.0.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.0.len() == HEADER
    }

    pub fn clear(&mut self) {
        self.0.truncate(HEADER);
    }

    /// Frames the payload and appends the record to a segment file. A failed
    /// write is cut off again, so that no torn record hides the records a
    /// retry appends after it (readers stop at the first torn one).
    pub fn write(&mut self, file: &File, raw_len: u32, after: RawState) -> io::Result<()> {
        let before = file.metadata()?.len();
        self.write_unchecked(file, raw_len, after).inspect_err(|_| {
            let _ = file.set_len(before);
        })
    }

    fn write_unchecked(
        &mut self,
        mut file: &File,
        raw_len: u32,
        after: RawState,
    ) -> io::Result<()> {
        let len = self.len() as u32;
        let head = &mut self.0[..HEADER];
        head[0..4].copy_from_slice(&len.to_le_bytes());
        head[4..8].copy_from_slice(&raw_len.to_le_bytes());
        head[8..12].copy_from_slice(&after.crc.to_le_bytes());
        head[16..24].copy_from_slice(&after.total.to_le_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(&self.0[0..12]);
        h.update(&self.0[16..]);
        let crc = h.finalize();
        self.0[12..16].copy_from_slice(&crc.to_le_bytes());
        file.write_all(&self.0)
    }
}

/// The `raw_len` of a record of Parquet rows waiting for their row group:
/// kept for a restart, not object bytes.
pub const ROWS: u32 = u32::MAX - 1;

/// The `raw_len` of a record of a row group's metadata (Parquet), which
/// follows the row group's bytes: kept for the footer, not object bytes.
pub const GROUP: u32 = u32::MAX - 2;

/// What a segment file holds, read back.
#[derive(Debug, Default)]
pub struct Contents {
    /// The records' payloads, concatenated: the part's bytes.
    pub payload: Vec<u8>,
    /// The state after the last whole record.
    pub last: Option<RawState>,
    /// Bytes of the file that are whole records; beyond is a torn tail.
    pub valid: u64,
    /// The last whole record ends the object ([`FINAL`]).
    pub finished: bool,
}

/// One whole record of a segment.
#[derive(Debug)]
pub struct Entry {
    /// Its `raw_len`: the uncompressed length of object bytes, or a marker
    /// ([`FINAL`], [`ROWS`], [`GROUP`]).
    pub kind: u32,
    pub after: RawState,
    /// Where its payload is in the segment's bytes.
    pub payload: std::ops::Range<usize>,
}

impl Entry {
    /// Whether its payload is object bytes.
    pub fn is_object(&self) -> bool {
        !matches!(self.kind, ROWS | GROUP)
    }
}

/// The whole records of a segment's bytes, up to the first torn or corrupt
/// one.
pub fn entries(data: &[u8]) -> impl Iterator<Item = Entry> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let head = data.get(at..at + HEADER)?;
        let u32_at =
            |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let len = u32_at(0) as usize;
        let payload = at + HEADER..at + HEADER + len;
        let bytes = data.get(payload.clone())?;
        let mut h = crc32fast::Hasher::new();
        h.update(&head[0..12]);
        h.update(&head[16..24]);
        h.update(bytes);
        if h.finalize() != u32_at(12) {
            return None;
        }
        let mut total = [0u8; 8];
        total.copy_from_slice(&head[16..24]);
        at = payload.end;
        Some(Entry {
            kind: u32_at(4),
            after: RawState {
                crc: u32_at(8),
                total: u64::from_le_bytes(total),
            },
            payload,
        })
    })
}

/// Reads a segment, stopping at the first torn or corrupt record. The
/// payloads are moved to the front of the buffer the file was read into, so a
/// part takes its own size in memory, once.
pub fn read(path: &Path) -> io::Result<Contents> {
    read_into(path, Vec::new())
}

/// As [`read`], into `buf` (a buffer kept from an earlier part, so that parts
/// do not each allocate megabytes anew).
pub fn read_into(path: &Path, mut buf: Vec<u8>) -> io::Result<Contents> {
    let mut file = File::open(path)?;
    buf.clear();
    // Sized from the file's length up front: no regrowth.
    buf.reserve_exact(file.metadata()?.len() as usize);
    file.read_to_end(&mut buf)?;
    let mut data = buf;
    let mut out = Contents::default();
    let mut kept = 0usize;
    let mut valid = 0usize;
    // Collected first: the payloads move within the buffer being walked.
    let found: Vec<Entry> = entries(&data).collect();
    for e in found {
        valid = e.payload.end;
        out.last = Some(e.after);
        out.finished = e.kind == FINAL;
        if e.is_object() {
            let len = e.payload.len();
            data.copy_within(e.payload, kept);
            kept += len;
        }
    }
    data.truncate(kept);
    out.payload = data;
    out.valid = valid as u64;
    Ok(out)
}

/// Where an object's files are.
#[derive(Clone, Debug)]
pub struct Paths {
    dir: PathBuf,
    id: String,
}

impl Paths {
    pub fn new(dir: &Path, id: &str) -> Paths {
        Paths {
            dir: dir.to_path_buf(),
            id: id.to_string(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn meta(&self) -> PathBuf {
        self.dir.join(format!("{}.meta", self.id))
    }

    pub fn segment(&self, n: u32) -> PathBuf {
        self.dir.join(format!("{}.{n:05}.seg", self.id))
    }

    /// Opens segment `n` for appending, creating it.
    pub fn open_segment(&self, n: u32) -> io::Result<File> {
        OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.segment(n))
    }

    /// Bytes on disk of segments `segments` (missing ones count nothing).
    pub fn bytes(&self, segments: impl IntoIterator<Item = u32>) -> u64 {
        segments
            .into_iter()
            .filter_map(|n| fs::metadata(self.segment(n)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Removes the object's files.
    pub fn remove(&self, segments: impl IntoIterator<Item = u32>) {
        for n in segments {
            let _ = fs::remove_file(self.segment(n));
        }
        let _ = fs::remove_file(self.meta());
    }
}

/// The manifest: what a restart needs to finish the object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Rendered `object-key()` + `object-key-timestamp()`.
    pub base: String,
    /// What follows the index: `object-key-suffix()` and the compression's.
    pub suffix: String,
    pub codec: crate::compress::Codec,
    /// The object's uncompressed length, once it is complete (a raw snappy
    /// object starts with it).
    pub raw_total: Option<u64>,
    /// Keyed `BASE_ID` (Log Service's layout) rather than by index.
    pub random_key: bool,
    /// A Parquet file's compression and `columns()`, with which a restart
    /// encodes the rows it finds.
    pub parquet: Option<(crate::compress::Codec, Vec<String>)>,
    /// The object's place among this run's objects of the same base: its
    /// index is this plus where the store's indexes ended when the run began.
    pub seq: u64,
    /// The final key, once its index is chosen.
    pub key: Option<String>,
    pub upload_id: Option<String>,
    /// Uploaded parts: number, ETag, size.
    pub parts: Vec<(u32, String, u64)>,
    /// No more records will be added.
    pub complete: bool,
}

impl Manifest {
    fn text(&self) -> String {
        let mut t = format!(
            "sluice-object 1\nbase {}\nsuffix {}\ncodec {}\nseq {}\n",
            self.base,
            self.suffix,
            self.codec.name(),
            self.seq
        );
        if let Some(n) = self.raw_total {
            t += &format!("raw {n}\n");
        }
        if self.random_key {
            t += "naming random\n";
        }
        if let Some((codec, columns)) = &self.parquet {
            t += &format!("parquet {}\n", codec.name());
            for c in columns {
                t += &format!("column {c}\n");
            }
        }
        if let Some(k) = &self.key {
            t += &format!("key {k}\n");
        }
        if let Some(u) = &self.upload_id {
            t += &format!("upload {u}\n");
        }
        for (n, etag, size) in &self.parts {
            t += &format!("part {n} {size} {etag}\n");
        }
        if self.complete {
            t += "complete\n";
        }
        t
    }

    /// Writes the manifest atomically and durably.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let tmp = path.with_extension("meta.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(self.text().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    pub fn load(path: &Path) -> io::Result<Manifest> {
        let text = fs::read_to_string(path)?;
        let bad = |line: &str| {
            io::Error::new(
                ErrorKind::InvalidData,
                format!("{}: bad line {line:?}", path.display()),
            )
        };
        let mut lines = text.lines();
        if lines.next() != Some("sluice-object 1") {
            return Err(bad("header"));
        }
        let mut m = Manifest::default();
        for line in lines {
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            match word {
                "base" => m.base = rest.to_string(),
                "suffix" => m.suffix = rest.to_string(),
                "codec" => {
                    m.codec = crate::compress::Codec::from_name(rest).ok_or_else(|| bad(line))?
                }
                // Written before codecs had names.
                "gzip" if rest == "1" => m.codec = crate::compress::Codec::Gzip,
                "gzip" => {}
                "raw" => m.raw_total = Some(rest.parse().map_err(|_| bad(line))?),
                "naming" => m.random_key = rest == "random",
                "parquet" => {
                    let codec = crate::compress::Codec::from_name(rest).ok_or_else(|| bad(line))?;
                    m.parquet = Some((codec, Vec::new()));
                }
                "column" => match &mut m.parquet {
                    Some((_, columns)) => columns.push(rest.to_string()),
                    None => return Err(bad(line)),
                },
                "seq" => m.seq = rest.parse().map_err(|_| bad(line))?,
                "key" => m.key = Some(rest.to_string()),
                "upload" => m.upload_id = Some(rest.to_string()),
                "part" => {
                    let mut f = rest.splitn(3, ' ');
                    let (Some(n), Some(size), Some(etag)) = (f.next(), f.next(), f.next()) else {
                        return Err(bad(line));
                    };
                    let (Ok(n), Ok(size)) = (n.parse(), size.parse()) else {
                        return Err(bad(line));
                    };
                    m.parts.push((n, etag.to_string(), size));
                }
                "complete" => m.complete = true,
                _ => return Err(bad(line)),
            }
        }
        Ok(m)
    }
}

/// Object ids with files in `dir`, and the segment numbers of each.
pub fn scan(dir: &Path) -> io::Result<Vec<(String, Vec<u32>)>> {
    let mut objects: std::collections::BTreeMap<String, Vec<u32>> = Default::default();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = name.strip_suffix(".meta") {
            objects.entry(id.to_string()).or_default();
        } else if let Some(rest) = name.strip_suffix(".seg")
            && let Some((id, n)) = rest.rsplit_once('.')
            && let Ok(n) = n.parse()
        {
            objects.entry(id.to_string()).or_default().push(n);
        }
    }
    Ok(objects
        .into_iter()
        .map(|(id, mut segs)| {
            segs.sort_unstable();
            (id, segs)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(f: &mut File, payload: &[u8], raw_len: u32, after: RawState) -> io::Result<()> {
        let mut r = Record::default();
        r.appender().extend_from_slice(payload);
        r.write(f, raw_len, after)
    }

    #[test]
    fn records_read_back_up_to_a_torn_tail() {
        let dir = std::env::temp_dir().join(format!("sluice-spool-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = Paths::new(&dir, "abc");
        let mut f = p.open_segment(1).unwrap();
        append(&mut f, b"hello ", 6, RawState { crc: 1, total: 6 }).unwrap();
        append(&mut f, b"world\n", 6, RawState { crc: 2, total: 12 }).unwrap();
        let whole = fs::metadata(p.segment(1)).unwrap().len();
        // A crash in the middle of the third record.
        append(
            &mut f,
            b"lost in the crash",
            17,
            RawState { crc: 3, total: 29 },
        )
        .unwrap();
        f.set_len(whole + 30).unwrap();
        let r = read(&p.segment(1)).unwrap();
        assert_eq!(r.payload, b"hello world\n");
        assert_eq!(r.last, Some(RawState { crc: 2, total: 12 }));
        assert_eq!(r.valid, whole);
        // A flipped byte ends the records there too.
        let mut bytes = fs::read(p.segment(1)).unwrap();
        bytes[HEADER + 2] ^= 1;
        fs::write(p.segment(1), &bytes).unwrap();
        assert_eq!(read(&p.segment(1)).unwrap().payload, b"");
        let m = Manifest {
            base: "app/web 1/20261130".into(),
            suffix: ".log.gz".into(),
            codec: crate::compress::Codec::Gzip,
            raw_total: Some(12 << 20),
            random_key: true,
            parquet: Some((
                crate::compress::Codec::Snappy,
                vec!["HOST".into(), "PID:int32".into()],
            )),
            seq: 3,
            key: Some("app/web 1/20261130-2.log.gz".into()),
            upload_id: Some("u-1".into()),
            parts: vec![(1, "\"e1\"".into(), 5 << 20)],
            complete: true,
        };
        m.save(&p.meta()).unwrap();
        assert_eq!(Manifest::load(&p.meta()).unwrap(), m);
        assert_eq!(scan(&dir).unwrap(), vec![("abc".to_string(), vec![1])]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
