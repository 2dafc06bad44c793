//! `disk-buffer()`: a forwarding destination's queue on disk, so that what was
//! acknowledged to the sources survives a restart, kill -9 and (with
//! `reliable(yes)`, which syncs before acknowledging) power loss.
//!
//! The driver appends each delivery's frames as one record to the newest
//! segment file (`NNNNNNNNNNNNNNNN.dq`); the sender reads records in order
//! from its cursor. Everything before the confirmed position reached the peer
//! (its kernel acknowledged it); `head` keeps that position across restarts,
//! and segments wholly before it are deleted. A record is
//! `len u32, crc32 u32, frames u32, ends u32 x frames, bytes`, so a record torn
//! by a crash is found and cut off at start-up: it was never acknowledged.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where a frame starts: a record (by segment and offset) and a frame in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub seq: u64,
    pub offset: u64,
    pub frame: u32,
}

/// Frames read back from the queue, with where they start and where the next
/// record starts.
pub struct Read {
    pub bytes: Vec<u8>,
    pub ends: Vec<u32>,
    pub start: Pos,
    pub end: Pos,
}

const SEGMENT: u64 = 8 << 20;
const HEADER: usize = 8;
/// The position is saved at most this often (and when segments go): a crash
/// sends again what was confirmed since, never loses it.
const SAVE_EVERY: Duration = Duration::from_millis(200);

pub struct DiskQueue {
    dir: PathBuf,
    /// `reliable(yes)`: appends are synced before they are acknowledged.
    reliable: bool,
    /// `disk-buf-size()`.
    pub limit: u64,
    state: Mutex<State>,
}

struct State {
    tail: File,
    tail_seq: u64,
    tail_len: u64,
    /// Segment lengths by number.
    segments: BTreeMap<u64, u64>,
    read: Pos,
    confirmed: Pos,
    /// The position `head` holds, and when it was written.
    saved_pos: Pos,
    saved: Instant,
    /// The segment the reader has open.
    reading: Option<(u64, File)>,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.dq"))
}

impl DiskQueue {
    /// Opens (or creates) the queue in `dir`, cutting a torn record off the
    /// newest segment.
    pub fn open(dir: &Path, reliable: bool, limit: u64) -> io::Result<DiskQueue> {
        fs::create_dir_all(dir)?;
        let mut segments = BTreeMap::new();
        for e in fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name();
            let Some(seq) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".dq"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            segments.insert(seq, e.metadata()?.len());
        }
        let tail_seq = segments.keys().next_back().copied().unwrap_or(0);
        let tail = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(segment_path(dir, tail_seq))?;
        let whole = valid_length(&tail)?;
        if whole < tail.metadata()?.len() {
            tracing::warn!(dir = %dir.display(), segment = tail_seq, "cutting off a record torn by a crash (it was never acknowledged)");
            tail.set_len(whole)?;
        }
        segments.insert(tail_seq, whole);
        let first = *segments.keys().next().unwrap_or(&0);
        let confirmed = read_head(dir)
            .filter(|p| segments.get(&p.seq).is_some_and(|len| p.offset <= *len))
            .unwrap_or(Pos {
                seq: first,
                offset: 0,
                frame: 0,
            });
        let q = DiskQueue {
            dir: dir.to_path_buf(),
            reliable,
            limit,
            state: Mutex::new(State {
                tail,
                tail_seq,
                tail_len: whole,
                segments,
                read: confirmed,
                confirmed,
                saved_pos: confirmed,
                saved: Instant::now(),
                reading: None,
            }),
        };
        Ok(q)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain data that every holder leaves consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one record of frames; [`sync`](Self::sync) makes it durable.
    pub fn append(&self, bytes: &[u8], ends: &[u32]) -> io::Result<()> {
        let mut record = Vec::with_capacity(HEADER + 4 + ends.len() * 4 + bytes.len());
        record.extend_from_slice(&[0; HEADER]);
        record.extend_from_slice(&(ends.len() as u32).to_le_bytes());
        for e in ends {
            record.extend_from_slice(&e.to_le_bytes());
        }
        record.extend_from_slice(bytes);
        let payload = record.len() - HEADER;
        let crc = crc32fast::hash(&record[HEADER..]);
        record[..4].copy_from_slice(&(payload as u32).to_le_bytes());
        record[4..8].copy_from_slice(&crc.to_le_bytes());
        let mut s = self.lock();
        if s.tail_len > 0 && s.tail_len + record.len() as u64 > SEGMENT {
            if self.reliable {
                s.tail.sync_data()?;
            }
            let seq = s.tail_seq + 1;
            s.tail = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(segment_path(&self.dir, seq))?;
            s.tail_seq = seq;
            s.tail_len = 0;
            s.segments.insert(seq, 0);
        }
        if let Err(e) = s.tail.write_all(&record) {
            // A partial record would read as torn: cut it off now.
            let len = s.tail_len;
            let _ = s.tail.set_len(len);
            return Err(e);
        }
        s.tail_len += record.len() as u64;
        let (seq, len) = (s.tail_seq, s.tail_len);
        s.segments.insert(seq, len);
        Ok(())
    }

    /// Syncs the appended records when `reliable(yes)`.
    pub fn sync(&self) -> io::Result<()> {
        if self.reliable {
            self.lock().tail.sync_data()?;
        }
        Ok(())
    }

    /// Bytes not yet confirmed delivered.
    pub fn bytes(&self) -> u64 {
        let s = self.lock();
        s.segments
            .range(s.confirmed.seq..)
            .map(|(_, len)| *len)
            .sum::<u64>()
            .saturating_sub(s.confirmed.offset)
    }

    /// Reads records from the cursor on, up to about `limit` bytes.
    pub fn take(&self, limit: usize) -> io::Result<Vec<Read>> {
        let mut s = self.lock();
        let mut out: Vec<Read> = Vec::new();
        let mut taken = 0;
        while taken < limit {
            let pos = s.read;
            let len = s.segments.get(&pos.seq).copied().unwrap_or(0);
            if pos.offset >= len {
                // The end of a segment: the next one, if there is one.
                match s.segments.range(pos.seq + 1..).next() {
                    Some((&next, _)) => {
                        s.read = Pos {
                            seq: next,
                            offset: 0,
                            frame: 0,
                        };
                        continue;
                    }
                    None => break,
                }
            }
            if s.reading.as_ref().is_none_or(|(seq, _)| *seq != pos.seq) {
                let f = File::open(segment_path(&self.dir, pos.seq))?;
                s.reading = Some((pos.seq, f));
            }
            let (_, file) = s.reading.as_ref().expect("opened above");
            let (record_len, mut ends, bytes) = match read_record(file, pos.offset) {
                Ok(r) => r,
                Err(e) => {
                    // Damage the start-up check could not see (a segment
                    // before the newest): the rest of it cannot be read.
                    tracing::error!(dir = %self.dir.display(), segment = pos.seq, offset = pos.offset, "skipping the rest of a damaged disk-buffer segment: {e}");
                    s.read = Pos {
                        seq: pos.seq,
                        offset: len,
                        frame: 0,
                    };
                    if pos.seq == s.tail_seq {
                        break;
                    }
                    continue;
                }
            };
            let end = Pos {
                seq: pos.seq,
                offset: pos.offset + record_len,
                frame: 0,
            };
            s.read = end;
            // A cursor inside a record (frames sent again) skips the frames
            // before it.
            let skip = (pos.frame as usize).min(ends.len());
            let from = if skip == 0 { 0 } else { ends[skip - 1] };
            let bytes = bytes[from as usize..].to_vec();
            ends.drain(..skip);
            for e in &mut ends {
                *e -= from;
            }
            if ends.is_empty() {
                continue;
            }
            taken += bytes.len();
            out.push(Read {
                bytes,
                ends,
                start: pos,
                end,
            });
        }
        Ok(out)
    }

    /// Moves the cursor back to `to`, to send from there again.
    pub fn rewind(&self, to: Pos) {
        let mut s = self.lock();
        if to < s.read {
            s.read = to.max(s.confirmed);
        }
    }

    /// Everything before `to` reached the peer: forget it (segments wholly
    /// before it are deleted). The position is saved when `save_now`, when
    /// segments go, or when the last save is older than [`SAVE_EVERY`].
    pub fn confirm(&self, to: Option<Pos>, save_now: bool) {
        let mut s = self.lock();
        if let Some(to) = to.filter(|t| *t > s.confirmed) {
            s.confirmed = to;
        }
        let at = s.confirmed;
        let old: Vec<u64> = s.segments.range(..at.seq).map(|(k, _)| *k).collect();
        let due = save_now || !old.is_empty() || s.saved.elapsed() >= SAVE_EVERY;
        if s.saved_pos == at || !due {
            return;
        }
        // The position first, then the segments: a crash between them
        // leaves files that start-up ignores (they are before the head).
        if let Err(e) = write_head(&self.dir, at) {
            tracing::warn!(dir = %self.dir.display(), "cannot save the disk-buffer position: {e}");
            return;
        }
        s.saved = Instant::now();
        s.saved_pos = at;
        for seq in old {
            s.segments.remove(&seq);
            let _ = fs::remove_file(segment_path(&self.dir, seq));
        }
    }

    /// Whether a confirmed position waits to be saved.
    pub fn unsaved(&self) -> bool {
        let s = self.lock();
        s.saved_pos != s.confirmed
    }

    /// The cursor: everything before it was handed out.
    pub fn read_pos(&self) -> Pos {
        self.lock().read
    }

    /// Whether the cursor is at the end.
    pub fn drained(&self) -> bool {
        let s = self.lock();
        s.read.seq == s.tail_seq && s.read.offset >= s.tail_len
    }
}

/// Reads the record at `offset`: its length on disk, frame ends and bytes.
fn read_record(file: &File, offset: u64) -> io::Result<(u64, Vec<u32>, Vec<u8>)> {
    let mut header = [0u8; HEADER];
    file.read_exact_at(&mut header, offset)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut payload = vec![0u8; len];
    file.read_exact_at(&mut payload, offset + HEADER as u64)?;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "a corrupt disk-buffer record");
    if crc32fast::hash(&payload) != crc || len < 4 {
        return Err(bad());
    }
    let n = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]) as usize;
    let body = 4 + n * 4;
    if body > len {
        return Err(bad());
    }
    let ends: Vec<u32> = payload[4..body]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let bytes = payload[body..].to_vec();
    if ends.iter().any(|&e| e as usize > bytes.len()) {
        return Err(bad());
    }
    Ok(((HEADER + len) as u64, ends, bytes))
}

/// The length of the leading whole, intact records of a segment.
fn valid_length(file: &File) -> io::Result<u64> {
    let total = file.metadata()?.len();
    let mut at = 0;
    while at < total {
        match read_record(file, at) {
            Ok((len, _, _)) => at += len,
            Err(_) => break,
        }
    }
    Ok(at)
}

fn read_head(dir: &Path) -> Option<Pos> {
    let text = fs::read_to_string(dir.join("head")).ok()?;
    let mut it = text.split_whitespace().map(|w| w.parse::<u64>().ok());
    Some(Pos {
        seq: it.next()??,
        offset: it.next()??,
        frame: u32::try_from(it.next()??).ok()?,
    })
}

fn write_head(dir: &Path, p: Pos) -> io::Result<()> {
    let tmp = dir.join("head.tmp");
    fs::write(&tmp, format!("{} {} {}\n", p.seq, p.offset, p.frame))?;
    fs::rename(tmp, dir.join("head"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sluice-dq-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn texts(reads: &[Read]) -> Vec<String> {
        let mut out = Vec::new();
        for r in reads {
            let mut start = 0;
            for &e in &r.ends {
                out.push(String::from_utf8_lossy(&r.bytes[start..e as usize]).into_owned());
                start = e as usize;
            }
        }
        out
    }

    fn append(q: &DiskQueue, frames: &[&str]) {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for f in frames {
            bytes.extend_from_slice(f.as_bytes());
            ends.push(bytes.len() as u32);
        }
        q.append(&bytes, &ends).unwrap();
    }

    #[test]
    fn records_come_back_in_order_and_survive_a_reopen_from_the_confirmed_frame() {
        let d = dir("order");
        let q = DiskQueue::open(&d, true, 1 << 30).unwrap();
        append(&q, &["a\n", "b\n"]);
        append(&q, &["c\n", "d\n", "e\n"]);
        q.sync().unwrap();
        let got = q.take(1 << 20).unwrap();
        assert_eq!(texts(&got), ["a\n", "b\n", "c\n", "d\n", "e\n"]);
        assert!(q.drained());
        // Sent again from the middle of the second record.
        q.rewind(Pos {
            frame: 1,
            ..got[1].start
        });
        assert_eq!(texts(&q.take(1 << 20).unwrap()), ["d\n", "e\n"]);
        // Confirmed up to "d": a restart starts there.
        q.confirm(
            Some(Pos {
                frame: 1,
                ..got[1].start
            }),
            true,
        );
        drop(q);
        let q = DiskQueue::open(&d, true, 1 << 30).unwrap();
        assert_eq!(texts(&q.take(1 << 20).unwrap()), ["d\n", "e\n"]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_torn_record_is_cut_off_and_confirmed_segments_are_deleted() {
        let d = dir("torn");
        let q = DiskQueue::open(&d, false, 1 << 30).unwrap();
        let big = "x".repeat(1 << 20);
        for _ in 0..10 {
            append(&q, &[&big]);
        }
        append(&q, &["last\n"]);
        let all = q.take(usize::MAX).unwrap();
        assert_eq!(all.len(), 11);
        assert!(segment_path(&d, 1).exists(), "segments rolled");
        drop(q);
        // A crash in the middle of the last record.
        let tail = segment_path(&d, 1);
        let len = fs::metadata(&tail).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&tail)
            .unwrap()
            .set_len(len - 2)
            .unwrap();
        let q = DiskQueue::open(&d, false, 1 << 30).unwrap();
        let again = q.take(usize::MAX).unwrap();
        assert_eq!(
            again.len(),
            10,
            "the torn record is gone, the rest is whole"
        );
        q.confirm(Some(again[9].end), true);
        assert!(
            !segment_path(&d, 0).exists(),
            "a confirmed segment is deleted"
        );
        assert_eq!(q.bytes(), 0);
        fs::remove_dir_all(&d).unwrap();
    }
}
