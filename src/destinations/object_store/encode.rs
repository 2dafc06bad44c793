//! How an object's bytes are made from rendered messages: as they are, or as
//! one gzip stream across all parts of the object.
//!
//! The gzip stream is raw deflate between a header and a trailer we write
//! ourselves. Each spooled record is compressed from a fresh deflate state and
//! ends with a sync flush, so the bytes on disk always end on a deflate block
//! boundary with no final block, and records concatenate into one stream.
//! That lets one [`Deflater`] serve every open object of a destination (its
//! state is megabytes: one per object would make memory grow with the number
//! of keys), and lets a restart finish the stream where the spool ends; the
//! trailer's CRC32 and length come from the spool's records, not from reading
//! the object back.

use super::spool::RawState;
use flate2::{Compress, Compression, FlushCompress, Status};

/// The 10-byte gzip header: deflate, no name, no mtime, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The deflate state a destination's gzip objects share, record by record.
pub struct Deflater(Box<Compress>);

impl Deflater {
    /// At `level` (0-9).
    pub fn new(level: u32) -> Deflater {
        Deflater(Box::new(Compress::new(Compression::new(level), false)))
    }
}

pub enum Encoder {
    Plain(RawState),
    Gzip {
        crc: crc32fast::Hasher,
        total: u64,
        started: bool,
    },
}

impl Encoder {
    /// A new object, plain or gzip.
    pub fn new(gzip: bool) -> Encoder {
        Encoder::resume(gzip, None)
    }

    /// An object whose spool already holds records up to `state`.
    pub fn resume(gzip: bool, state: Option<RawState>) -> Encoder {
        let s = state.unwrap_or_default();
        if !gzip {
            return Encoder::Plain(s);
        }
        Encoder::Gzip {
            crc: crc32fast::Hasher::new_with_initial_len(s.crc, s.total),
            total: s.total,
            started: state.is_some(),
        }
    }

    /// The running state so far.
    pub fn state(&self) -> RawState {
        match self {
            Encoder::Plain(s) => *s,
            Encoder::Gzip { crc, total, .. } => RawState {
                crc: crc.clone().finalize(),
                total: *total,
            },
        }
    }

    /// For a plain object, whose bytes are the raw bytes as they are: counts
    /// `len` more and returns the state after them. `None` for gzip, whose
    /// bytes [`Encoder::encode`] makes.
    pub fn pass_through(&mut self, len: usize) -> Option<RawState> {
        match self {
            Encoder::Plain(s) => {
                s.total += len as u64;
                Some(*s)
            }
            Encoder::Gzip { .. } => None,
        }
    }

    /// Appends to `out` the object bytes for `raw`, flushed so that they can
    /// be stored as they are; returns the running state after them.
    pub fn encode(&mut self, raw: &[u8], out: &mut Vec<u8>, deflater: &mut Deflater) -> RawState {
        match self {
            Encoder::Plain(s) => {
                out.extend_from_slice(raw);
                s.total += raw.len() as u64;
                *s
            }
            Encoder::Gzip {
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
                deflater.0.reset();
                run(&mut deflater.0, raw, out, FlushCompress::Sync);
                RawState {
                    crc: crc.clone().finalize(),
                    total: *total,
                }
            }
        }
    }

    /// Appends what ends the object: for gzip, the final block and the trailer.
    pub fn finish(&mut self, out: &mut Vec<u8>, deflater: &mut Deflater) {
        if let Encoder::Gzip {
            crc,
            total,
            started,
        } = self
        {
            if !*started {
                out.extend_from_slice(&GZIP_HEADER);
                *started = true;
            }
            deflater.0.reset();
            run(&mut deflater.0, &[], out, FlushCompress::Finish);
            out.extend_from_slice(&crc.clone().finalize().to_le_bytes());
            // ISIZE is the length modulo 2^32, as RFC 1952 says.
            out.extend_from_slice(&(*total as u32).to_le_bytes());
        }
    }
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
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;
    use std::io::Read;

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // One member: a single-member reader must see all of it.
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        let mut multi = Vec::new();
        MultiGzDecoder::new(b).read_to_end(&mut multi).unwrap();
        assert_eq!(out, multi, "one gzip member, nothing after it");
        out
    }

    #[test]
    fn one_gzip_stream_across_records_and_across_a_restart() {
        let mut d = Deflater::new(6);
        let mut e = Encoder::new(true);
        // Another object's records through the same deflater in between.
        let mut other = Encoder::new(true);
        let mut other_obj = Vec::new();
        let mut obj = Vec::new();
        let mut state = RawState::default();
        for i in 0..100 {
            state = e.encode(format!("line {i}\n").as_bytes(), &mut obj, &mut d);
            other.encode(b"other\n", &mut other_obj, &mut d);
        }
        // The process dies here; a new encoder carries on from the spool.
        let mut d = Deflater::new(6);
        let mut e = Encoder::resume(true, Some(state));
        for i in 100..150 {
            e.encode(format!("line {i}\n").as_bytes(), &mut obj, &mut d);
        }
        e.finish(&mut obj, &mut d);
        other.finish(&mut other_obj, &mut d);
        assert_eq!(gunzip(&other_obj), "other\n".repeat(100).into_bytes());
        let want: String = (0..150).map(|i| format!("line {i}\n")).collect();
        assert_eq!(String::from_utf8(gunzip(&obj)).unwrap(), want);
    }

    #[test]
    fn an_empty_gzip_object_is_still_valid_and_plain_passes_through() {
        let mut d = Deflater::new(1);
        let mut e = Encoder::new(true);
        let mut obj = Vec::new();
        e.finish(&mut obj, &mut d);
        assert!(gunzip(&obj).is_empty());
        let mut p = Encoder::new(false);
        let mut obj = Vec::new();
        let s = p.encode(b"abc", &mut obj, &mut d);
        p.finish(&mut obj, &mut d);
        assert_eq!((obj.as_slice(), s.total), (&b"abc"[..], 3));
    }
}
