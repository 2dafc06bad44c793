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

/// Lines that compress, and some that do not, over several records, some of
/// them larger than snappy's 64 KiB blocks.
fn records() -> Vec<Vec<u8>> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                b'a' + (seed % 26) as u8
            })
            .collect()
    };
    let mut out = Vec::new();
    for r in 0..12 {
        let mut rec = Vec::new();
        for i in 0..(r * 400) {
            rec.extend_from_slice(format!("record {r} line {i} ").as_bytes());
            rec.extend_from_slice(&noise(i % 50));
            rec.push(b'\n');
        }
        out.push(rec);
    }
    out
}

/// Encodes `recs` for one object, with other objects' records through the
/// same shared state in between, and a restart after the first half.
fn object(codec: Codec, recs: &[Vec<u8>]) -> Vec<u8> {
    let mut shared = Shared::new(6);
    let mut s = Stream::new(codec);
    let mut other = Stream::new(codec);
    let mut obj = Vec::new();
    // The spool's state: none until a first record.
    let mut state = None;
    let half = recs.len() / 2;
    for r in &recs[..half] {
        state = Some(s.encode(r, &mut obj, &mut shared));
        other.encode(b"another object's line\n", &mut Vec::new(), &mut shared);
    }
    // The process dies here; a new stream goes on from the spool's state.
    let mut shared = Shared::new(6);
    let mut s = Stream::resume(codec, state);
    for r in &recs[half..] {
        state = Some(s.encode(r, &mut obj, &mut shared));
    }
    s.finish(&mut obj, &mut shared);
    let state = state.unwrap_or_default();
    assert_eq!(
        state.total,
        recs.iter().map(|r| r.len() as u64).sum::<u64>()
    );
    if codec.head_at_end() {
        let mut whole = snappy_preamble(state.total);
        whole.extend_from_slice(&obj);
        return whole;
    }
    obj
}

#[test]
fn gzip_is_one_stream_across_records_and_a_restart() {
    let recs = records();
    let obj = object(Codec::Gzip, &recs);
    assert_eq!(gunzip(&obj), recs.concat());
}

#[test]
fn zstd_frames_join_into_one_stream() {
    let recs = records();
    let obj = object(Codec::Zstd, &recs);
    assert!(obj.len() < recs.concat().len() / 2, "it compresses");
    assert_eq!(zstd::stream::decode_all(&obj[..]).unwrap(), recs.concat());
}

#[test]
fn snappy_records_join_into_one_raw_buffer() {
    let recs = records();
    let obj = object(Codec::Snappy, &recs);
    assert!(obj.len() < recs.concat().len(), "it compresses");
    let mut d = snap::raw::Decoder::new();
    assert_eq!(d.decompress_vec(&obj).unwrap(), recs.concat());
    // The framed format is a different thing: this is not it.
    assert!(!obj.starts_with(b"\xff\x06\x00\x00sNaPpY"));
}

#[test]
fn empty_objects_are_valid_in_every_codec() {
    assert!(gunzip(&object(Codec::Gzip, &[])).is_empty());
    assert!(
        zstd::stream::decode_all(&object(Codec::Zstd, &[])[..])
            .unwrap()
            .is_empty()
    );
    let snappy = object(Codec::Snappy, &[]);
    assert_eq!(snappy, [0]);
    assert!(
        snap::raw::Decoder::new()
            .decompress_vec(&snappy)
            .unwrap()
            .is_empty()
    );
    assert!(object(Codec::None, &[]).is_empty());
}

#[test]
fn plain_passes_through_and_names_and_suffixes_round_trip() {
    let mut p = Stream::new(Codec::None);
    assert_eq!(p.pass_through(3).map(|s| s.total), Some(3));
    assert!(Stream::new(Codec::Zstd).pass_through(3).is_none());
    for name in Codec::CHOICES {
        let c = Codec::from_name(name).unwrap();
        assert_eq!(Codec::from_name(c.name()), Some(c));
    }
    let suffixes: Vec<&str> = ["no", "gzip", "zstd", "snappy"]
        .iter()
        .map(|n| Codec::from_name(n).unwrap().suffix())
        .collect();
    assert_eq!(suffixes, ["", ".gz", ".zst", ".snappy"]);
    assert_eq!(snappy_preamble(300), [0xac, 0x02]);
}
