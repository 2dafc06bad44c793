//! How an object's bytes are made from rendered messages: as they are, or as
//! one gzip stream across all parts of the object.
//!
//! The gzip stream is raw deflate between a header and a trailer we write
//! ourselves. Each spooled record ends with a sync flush, so the bytes on disk
//! always end on a deflate block boundary with no final block: after a crash a
//! new compressor can carry on (or finish) the stream where the spool ends,
//! and the trailer's CRC32 and length come from the spool's records, not from
//! reading the object back.

use super::spool::RawState;
use flate2::{Compress, Compression, FlushCompress, Status};

/// The 10-byte gzip header: deflate, no name, no mtime, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

pub enum Encoder {
    Plain(RawState),
    Gzip {
        deflate: Box<Compress>,
        crc: crc32fast::Hasher,
        total: u64,
        started: bool,
    },
}

impl Encoder {
    /// A new object: plain, or gzip at `level` (0-9).
    pub fn new(gzip: Option<u32>) -> Encoder {
        Encoder::resume(gzip, None)
    }

    /// An object whose spool already holds records up to `state`.
    pub fn resume(gzip: Option<u32>, state: Option<RawState>) -> Encoder {
        let s = state.unwrap_or_default();
        match gzip {
            None => Encoder::Plain(s),
            Some(level) => Encoder::Gzip {
                deflate: Box::new(Compress::new(Compression::new(level), false)),
                crc: crc32fast::Hasher::new_with_initial_len(s.crc, s.total),
                total: s.total,
                started: state.is_some(),
            },
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

    /// Appends to `out` the object bytes for `raw`, flushed so that they can
    /// be stored as they are; returns the running state after them.
    pub fn encode(&mut self, raw: &[u8], out: &mut Vec<u8>) -> RawState {
        match self {
            Encoder::Plain(s) => {
                out.extend_from_slice(raw);
                s.total += raw.len() as u64;
                *s
            }
            Encoder::Gzip {
                deflate,
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
                run(deflate, raw, out, FlushCompress::Sync);
                RawState {
                    crc: crc.clone().finalize(),
                    total: *total,
                }
            }
        }
    }

    /// Appends what ends the object: for gzip, the final block and the trailer.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if let Encoder::Gzip {
            deflate,
            crc,
            total,
            started,
        } = self
        {
            if !*started {
                out.extend_from_slice(&GZIP_HEADER);
                *started = true;
            }
            run(deflate, &[], out, FlushCompress::Finish);
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
        let mut e = Encoder::new(Some(6));
        let mut obj = Vec::new();
        let mut state = RawState::default();
        for i in 0..100 {
            state = e.encode(format!("line {i}\n").as_bytes(), &mut obj);
        }
        // The process dies here; a new encoder carries on from the spool.
        let mut e = Encoder::resume(Some(6), Some(state));
        for i in 100..150 {
            e.encode(format!("line {i}\n").as_bytes(), &mut obj);
        }
        e.finish(&mut obj);
        let want: String = (0..150).map(|i| format!("line {i}\n")).collect();
        assert_eq!(String::from_utf8(gunzip(&obj)).unwrap(), want);
    }

    #[test]
    fn an_empty_gzip_object_is_still_valid_and_plain_passes_through() {
        let mut e = Encoder::new(Some(1));
        let mut obj = Vec::new();
        e.finish(&mut obj);
        assert!(gunzip(&obj).is_empty());
        let mut p = Encoder::new(None);
        let mut obj = Vec::new();
        let s = p.encode(b"abc", &mut obj);
        p.finish(&mut obj);
        assert_eq!((obj.as_slice(), s.total), (&b"abc"[..], 3));
    }
}
