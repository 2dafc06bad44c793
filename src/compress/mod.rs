//! How an object's bytes are compressed, record by record, so that the spool
//! holds compressed bytes and every object is one stream its readers know.
//!
//! A destination appends records (one per batch of messages) to each open
//! object. Each record is compressed from a fresh state, with one state
//! ([`Shared`]) for all of a destination's objects: a state is megabytes, and
//! one per object would make memory grow with the number of keys. Records
//! still join into one stream, in a way that depends on the codec:
//! - **gzip**: raw deflate between a header and a trailer we write ourselves;
//!   each record ends with a sync flush (a block boundary, no final block), so
//!   records concatenate into one deflate stream, and the trailer's CRC32 and
//!   length come from the running [`RawState`] the spool keeps per record.
//! - **zstd**: each record is a whole zstd frame; concatenated frames are one
//!   valid zstd stream (`zstd -d`, `zstdcat`, libzstd's streaming decoder).
//! - **snappy**: Log Service's layout, the whole object as one raw (block)
//!   snappy buffer, which `snappy.uncompress` (python-snappy) and
//!   `Snappy.uncompress` (snappy-java) read; not the framed format. A raw
//!   buffer is a varint of the uncompressed length, then literal and copy
//!   elements whose copies point backwards into the output. Each record's
//!   elements only point into that record, so records concatenate; the length
//!   goes in front of the first record once the object is complete
//!   ([`snappy_preamble`]), which is why its first part is uploaded last.
//!
//! After a crash, the last whole record's [`RawState`] is all a stream needs
//! to go on or to be finished.

use flate2::{Compress, Compression, FlushCompress, Status};

/// The compressions an object-store destination writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Codec {
    #[default]
    None,
    Gzip,
    Zstd,
    Snappy,
}

impl Codec {
    /// `compression()` values: syslog-ng's `yes`/`no`/`gzip`, then ours.
    pub const CHOICES: &'static [&'static str] = &["no", "none", "yes", "gzip", "zstd", "snappy"];

    pub fn from_name(name: &str) -> Option<Codec> {
        Some(match name {
            "no" | "none" => Codec::None,
            "yes" | "gzip" => Codec::Gzip,
            "zstd" => Codec::Zstd,
            "snappy" => Codec::Snappy,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Snappy => "snappy",
        }
    }

    /// What follows an object's key for this compression.
    pub fn suffix(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Gzip => ".gz",
            Codec::Zstd => ".zst",
            Codec::Snappy => ".snappy",
        }
    }

    /// The most uncompressed bytes one object may hold: a raw snappy buffer
    /// states its length in 32 bits.
    pub fn max_raw(self) -> u64 {
        match self {
            Codec::Snappy => u64::from(u32::MAX),
            _ => u64::MAX,
        }
    }

    /// Whether the object's first bytes are known only once it is complete.
    pub fn head_at_end(self) -> bool {
        self == Codec::Snappy
    }
}

/// The running state of an object's uncompressed bytes after a record: what
/// a gzip trailer or a snappy preamble needs, kept with every spooled record
/// so that a restart can finish the stream without reading it back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawState {
    pub crc: u32,
    pub total: u64,
}

/// The 10-byte gzip header: deflate, no name, no mtime, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The compression state a destination's objects share, record by record.
pub struct Shared {
    level: u32,
    deflate: Option<Box<Compress>>,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    snappy: snap::raw::Encoder,
}

impl Shared {
    /// At `level`: gzip's 0 (store) to 9 (smallest); for zstd, 0 means its
    /// default (3) and 1 to 9 are its own levels.
    pub fn new(level: u32) -> Shared {
        Shared {
            level,
            deflate: None,
            zstd: None,
            snappy: snap::raw::Encoder::new(),
        }
    }

    fn deflate(&mut self) -> &mut Compress {
        let level = self.level;
        self.deflate
            .get_or_insert_with(|| Box::new(Compress::new(Compression::new(level), false)))
    }
}

/// One object's compressed stream.
pub enum Stream {
    Plain(RawState),
    Gzip {
        crc: crc32fast::Hasher,
        total: u64,
        started: bool,
    },
    Zstd(RawState),
    Snappy(RawState),
}

impl Stream {
    pub fn new(codec: Codec) -> Stream {
        Stream::resume(codec, None)
    }

    /// An object whose spool already holds records up to `state`.
    pub fn resume(codec: Codec, state: Option<RawState>) -> Stream {
        let s = state.unwrap_or_default();
        match codec {
            Codec::None => Stream::Plain(s),
            Codec::Gzip => Stream::Gzip {
                crc: crc32fast::Hasher::new_with_initial_len(s.crc, s.total),
                total: s.total,
                started: state.is_some(),
            },
            Codec::Zstd => Stream::Zstd(s),
            Codec::Snappy => Stream::Snappy(s),
        }
    }

    /// The running state so far.
    pub fn state(&self) -> RawState {
        match self {
            Stream::Plain(s) | Stream::Zstd(s) | Stream::Snappy(s) => *s,
            Stream::Gzip { crc, total, .. } => RawState {
                crc: crc.clone().finalize(),
                total: *total,
            },
        }
    }

    /// The uncompressed bytes so far; cheaper than [`Stream::state`], which
    /// finishes a CRC.
    pub fn raw_total(&self) -> u64 {
        match self {
            Stream::Plain(s) | Stream::Zstd(s) | Stream::Snappy(s) => s.total,
            Stream::Gzip { total, .. } => *total,
        }
    }

    /// For an uncompressed object, whose bytes are the raw bytes as they are:
    /// counts `len` more and returns the state after them. `None` when
    /// [`Stream::encode`] makes the bytes.
    pub fn pass_through(&mut self, len: usize) -> Option<RawState> {
        match self {
            Stream::Plain(s) => {
                s.total += len as u64;
                Some(*s)
            }
            _ => None,
        }
    }

    /// Appends to `out` the object bytes for `raw`, complete in themselves
    /// (see the module doc); returns the running state after them.
    pub fn encode(&mut self, raw: &[u8], out: &mut Vec<u8>, shared: &mut Shared) -> RawState {
        match self {
            Stream::Plain(s) => {
                out.extend_from_slice(raw);
                s.total += raw.len() as u64;
            }
            Stream::Gzip {
                crc,
                total,
                started,
            } => {
                if !*started {
                    out.extend_from_slice(&GZIP_HEADER);
                    *started = true;
                }
                crc.update(raw);
                *total += raw.len() as u64;
                let deflate = shared.deflate();
                deflate.reset();
                run(deflate, raw, out, FlushCompress::Sync);
            }
            Stream::Zstd(s) => {
                if !raw.is_empty() {
                    zstd_frame(shared, raw, out);
                }
                s.total += raw.len() as u64;
            }
            Stream::Snappy(s) => {
                if !raw.is_empty() {
                    snappy_elements(shared, raw, out);
                }
                s.total += raw.len() as u64;
            }
        }
        self.state()
    }

    /// Appends what ends the object: for gzip, the final block and the
    /// trailer; for an empty zstd object, one empty frame (no bytes at all
    /// are no zstd stream); nothing otherwise.
    pub fn finish(&mut self, out: &mut Vec<u8>, shared: &mut Shared) {
        if let Stream::Zstd(s) = self
            && s.total == 0
        {
            zstd_frame(shared, &[], out);
        }
        if let Stream::Gzip {
            crc,
            total,
            started,
        } = self
        {
            if !*started {
                out.extend_from_slice(&GZIP_HEADER);
                *started = true;
            }
            let deflate = shared.deflate();
            deflate.reset();
            run(deflate, &[], out, FlushCompress::Finish);
            out.extend_from_slice(&crc.clone().finalize().to_le_bytes());
            // ISIZE is the length modulo 2^32, as RFC 1952 says.
            out.extend_from_slice(&(*total as u32).to_le_bytes());
        }
    }
}

/// The bytes that go in front of a complete raw snappy object of `total`
/// uncompressed bytes: its length as a varint.
pub fn snappy_preamble(total: u64) -> Vec<u8> {
    let mut v = total;
    let mut out = Vec::with_capacity(5);
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Compresses `raw` as one zstd frame onto `out`.
fn zstd_frame(shared: &mut Shared, raw: &[u8], out: &mut Vec<u8>) {
    let level = match shared.level {
        0 => zstd::DEFAULT_COMPRESSION_LEVEL,
        l => l as i32,
    };
    let z = shared.zstd.get_or_insert_with(|| {
        zstd::bulk::Compressor::new(level).expect("zstd levels 1 to 9 are valid")
    });
    let start = out.len();
    out.resize(start + zstd::zstd_safe::compress_bound(raw.len()), 0);
    match z.compress_to_buffer(raw, &mut out[start..]) {
        Ok(n) => out.truncate(start + n),
        // Only a buffer below the bound fails, which compress_bound rules out.
        Err(e) => unreachable!("zstd into a buffer of its bound: {e}"),
    }
}

/// Compresses `raw` with raw snappy onto `out`, without its length preamble.
fn snappy_elements(shared: &mut Shared, raw: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + snap::raw::max_compress_len(raw.len()), 0);
    let n = shared
        .snappy
        .compress(raw, &mut out[start..])
        // Only an input over 2^32 - 1 bytes fails; records are far smaller.
        .unwrap_or_else(|e| unreachable!("snappy of a record: {e}"));
    // Drop the record's own length preamble: the object has one, in front.
    let preamble = snappy_preamble(raw.len() as u64).len();
    out.copy_within(start + preamble..start + n, start);
    out.truncate(start + n - preamble);
}

/// Compresses all of `input` into `out` with `flush`.
fn run(deflate: &mut Compress, mut input: &[u8], out: &mut Vec<u8>, flush: FlushCompress) {
    loop {
        out.reserve(input.len() / 2 + 64);
        let before = deflate.total_in();
        // Errors only on a misused stream (buffer error without progress);
        // more room is the cure.
        let status = deflate.compress_vec(input, out, flush);
        input = &input[(deflate.total_in() - before) as usize..];
        let room_left = out.capacity() > out.len();
        match status {
            Ok(Status::StreamEnd) => return,
            Ok(_) if input.is_empty() && room_left => return,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
