//! The log message as it moves through the pipeline.
//!
//! A message borrows its text from the frame it was parsed from: `raw` is a
//! reference-counted slice of the connection's read buffer, and every field is a
//! [`Slot`] (a byte range) into `raw` or into the message's own `extra` buffer for
//! values that had to be built (unescaped structured-data values, name-value pairs
//! set later). Parsing therefore allocates nothing per field, and cloning a message
//! for fan-out is cheap. This module owns the message shape only; parsing lives in
//! `parse/`, rendering in `template/`.

mod origin;
mod time;

pub use origin::{Origin, OriginId, Proto};
pub use time::{Timestamp, Zone};
pub(crate) use time::{civil_from_days, days_from_civil};

use bytes::Bytes;
use std::net::SocketAddr;

/// The `N` bytes of `s` at `at`, as an array (a word to test or compare at
/// once); panics past the end, as indexing does.
#[inline]
pub fn bytes_at<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
    let mut w = [0; N];
    w.copy_from_slice(&s[at..at + N]);
    w
}

/// Appends `s` from `i` on, sixteen bytes at a time, up to the first byte
/// `mask` marks (bit k of its answer: byte k of the sixteen). Each sixteen
/// go out whole and are cut back at a marked byte: one pass, and no call
/// to copy memory per run, where finding a run and then copying it were
/// two. `Ok(at)`: `s[at]` is marked; `Err(at)`: fewer than sixteen bytes
/// are left from `at`, unlooked at.
#[inline(always)]
pub fn copy_until(
    s: &[u8],
    mut i: usize,
    out: &mut Vec<u8>,
    mask: impl Fn([u8; 16]) -> u32,
) -> Result<usize, usize> {
    while i + 16 <= s.len() {
        let w = bytes_at::<16>(s, i);
        let m = mask(w);
        out.extend_from_slice(&w);
        if m != 0 {
            let k = m.trailing_zeros() as usize;
            out.truncate(out.len() - (16 - k));
            return Ok(i + k);
        }
        i += 16;
    }
    Err(i)
}

/// Appends `s[from..to]`. A run of up to sixteen bytes (a key, a value
/// between two quotes) goes as two words of four or eight bytes, the first
/// cut back where the second overlaps it, so that no copy has a length
/// known only at run time: a call to copy memory per short run was most of
/// the cost. A longer run is one copy.
#[inline(always)]
pub fn copy_run(s: &[u8], from: usize, to: usize, out: &mut Vec<u8>) {
    let len = to - from;
    match len {
        0 => {}
        1..=3 => {
            out.push(s[from]);
            out.extend_from_slice(&s[from + 1..to]);
        }
        4..=8 => {
            out.extend_from_slice(&bytes_at::<4>(s, from));
            out.truncate(out.len() - (8 - len));
            out.extend_from_slice(&bytes_at::<4>(s, to - 4));
        }
        9..=16 => {
            out.extend_from_slice(&bytes_at::<8>(s, from));
            out.truncate(out.len() - (16 - len));
            out.extend_from_slice(&bytes_at::<8>(s, to - 8));
        }
        _ => out.extend_from_slice(&s[from..to]),
    }
}

/// `a == b` for the short byte strings messages are made of (names, hosts,
/// numbers, months): two or four overlapping words, or three bytes, rather
/// than a call to compare memory.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let same4 = |at: usize| bytes_at::<4>(a, at) == bytes_at::<4>(b, at);
    let same8 = |at: usize| bytes_at::<8>(a, at) == bytes_at::<8>(b, at);
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => same4(0) && same4(n - 4),
        8..=16 => same8(0) && same8(n - 8),
        17..=32 => same8(0) && same8(8) && same8(n - 16) && same8(n - 8),
        _ => a == b,
    }
}

/// A byte range of a message value, in `raw` or in `extra`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    start: u32,
    end: u32,
    in_extra: bool,
}

impl Slot {
    /// A range of the raw frame.
    pub fn raw(start: usize, end: usize) -> Slot {
        debug_assert!(start <= end);
        Slot {
            start: start as u32,
            end: end as u32,
            in_extra: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
}

/// Per-message markers that templates (`$TAGS`) and counters read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(u8);

impl Flags {
    /// The frame did not parse as syslog; `MESSAGE` holds the whole raw text.
    pub const PARSE_ERROR: Flags = Flags(1);
    /// The frame was longer than `log-msg-size()` and was cut.
    pub const TRUNCATED: Flags = Flags(2);
    /// The frame is a continuation of an oversize message that was split.
    pub const CONTINUATION: Flags = Flags(4);
    /// The message carried a UTF-8 BOM before MSG (RFC 5424).
    pub const UTF8_BOM: Flags = Flags(8);
    /// HOST holds a chain `sender/relay/...` (chain-hostnames()): `${HOST}`
    /// shows its first name, `${FULLHOST}` all of it.
    pub const CHAINED: Flags = Flags(16);
    /// `flags(store-raw-message)`: `${RAWMSG}` shows the frame.
    pub const RAW_KEPT: Flags = Flags(32);

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    pub fn bits(self) -> u8 {
        self.0
    }
}

/// A well-known field of a message; the parsers fill these, templates read them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Host,
    Program,
    Pid,
    MsgId,
    Message,
    /// The structured-data element text as received (`[id k="v"]...`).
    Sdata,
    /// An RFC 3164 header from the program name to MESSAGE exactly as sent
    /// (`prog[12]: `, `prog[]:`, `prog `): syslog-ng's `LEGACY_MSGHDR`, which
    /// `MSGHDR` prefers to rebuilding the header.
    LegacyMsgHdr,
}

const FIELDS: usize = 7;

/// One log message. See the module documentation for the storage model.
#[derive(Clone, Debug, Default)]
pub struct Message {
    raw: Bytes,
    extra: Vec<u8>,
    fields: [Option<Slot>; FIELDS],
    /// Name-value pairs beyond the well-known fields (`.SDATA.id.param`, ...):
    /// (name, value), both slots.
    pairs: Vec<(Slot, Slot)>,
    /// `facility * 8 + severity`; syslog-ng's default for unparsed input is 13
    /// (user.notice).
    pub pri: u8,
    /// The time the sender stamped (S_ macros); the receive time when absent.
    pub stamp: Timestamp,
    /// The time Sluice received the message (R_ macros).
    pub recvd: Timestamp,
    /// The peer the message came from (SOURCEIP, HOST_FROM).
    pub peer: Option<SocketAddr>,
    /// The source driver it came in through (SOURCE, PROTO, DESTIP, TAGS).
    pub origin: OriginId,
    /// The peer's resolved name (use-dns()); HOST_FROM shows the address without it.
    pub host_from: Option<std::sync::Arc<str>>,
    /// The receipt id of use-rcptid() (RCPTID, UNIQID); 0 when not numbered.
    pub rcptid: u64,
    pub flags: Flags,
    /// Why parsing failed, when `flags` holds `PARSE_ERROR`.
    pub error: Option<&'static str>,
}

impl Message {
    /// The default priority syslog-ng assigns when none was sent: user.notice.
    pub const DEFAULT_PRI: u8 = 13;

    /// A message over `raw` with no fields set yet.
    pub fn new(raw: Bytes, recvd: Timestamp) -> Message {
        Message {
            raw,
            pri: Self::DEFAULT_PRI,
            stamp: recvd,
            recvd,
            ..Message::default()
        }
    }

    /// Roughly the memory this message keeps alive: its frame (a share of the
    /// read block), its own buffers and itself. What queues are bounded by.
    pub fn held_bytes(&self) -> usize {
        std::mem::size_of::<Message>()
            + self.raw.len()
            + self.extra.capacity()
            + self.pairs.capacity() * std::mem::size_of::<(Slot, Slot)>()
    }

    /// The frame as received.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The bytes of a slot.
    pub fn slot(&self, slot: Slot) -> &[u8] {
        let (s, e) = (slot.start as usize, slot.end as usize);
        if slot.in_extra {
            &self.extra[s..e]
        } else {
            &self.raw[s..e]
        }
    }

    /// Stores bytes that are not part of the raw frame and returns their slot.
    pub fn store(&mut self, bytes: &[u8]) -> Slot {
        let start = self.extra.len();
        self.extra.extend_from_slice(bytes);
        Slot {
            start: start as u32,
            end: self.extra.len() as u32,
            in_extra: true,
        }
    }

    /// Makes room for `bytes` more bytes of built values and pair names and for
    /// `pairs` more pairs, for a parser that knows what it is about to add.
    pub fn reserve(&mut self, bytes: usize, pairs: usize) {
        self.extra.reserve(bytes);
        self.pairs.reserve(pairs);
    }

    pub fn set(&mut self, field: Field, slot: Slot) {
        self.fields[field as usize] = Some(slot);
    }

    /// Sets a field to bytes that are not part of the raw frame.
    pub fn set_owned(&mut self, field: Field, bytes: &[u8]) {
        let slot = self.store(bytes);
        self.set(field, slot);
    }

    /// Forgets a field (keep-hostname(no) drops the sender's HOST).
    pub fn clear(&mut self, field: Field) {
        self.fields[field as usize] = None;
    }

    /// A field's value, `None` when the message did not carry it.
    pub fn get(&self, field: Field) -> Option<&[u8]> {
        self.fields[field as usize].map(|s| self.slot(s))
    }

    /// Adds a name-value pair; a later pair with the same name shadows an earlier one.
    pub fn push_pair(&mut self, name: &[u8], value: Slot) {
        let name = self.store(name);
        self.pairs.push((name, value));
    }

    /// Adds a name-value pair whose value is not part of the raw frame.
    pub fn push_owned_pair(&mut self, name: &[u8], value: &[u8]) {
        let value = self.store(value);
        self.push_pair(name, value);
    }

    /// The value of a name-value pair (`.SDATA.meta.seq`), the last one set wins.
    pub fn pair(&self, name: &[u8]) -> Option<&[u8]> {
        // Names of one message often share a prefix and a length
        // (`.nginx.method`, `.nginx.status`): the last byte tells most apart
        // before a full compare.
        let last = name.last();
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| {
                n.end - n.start == name.len() as u32 && {
                    let s = self.slot(*n);
                    s.last() == last && same_bytes(s, name)
                }
            })
            .map(|(_, v)| self.slot(*v))
    }

    /// The value of the `i`th name-value pair in the order of [`Message::pairs`].
    pub fn pair_at(&self, i: usize) -> Option<&[u8]> {
        self.pairs.get(i).map(|(_, v)| self.slot(*v))
    }

    /// How many name-value pairs the message has.
    pub fn pair_count(&self) -> usize {
        self.pairs.len()
    }

    /// The names of [`Message::pairs`], without resolving their values.
    pub fn pair_names(&self) -> impl Iterator<Item = &[u8]> {
        self.pairs.iter().map(|(n, _)| self.slot(*n))
    }

    /// Every name-value pair in the order they were added.
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs
            .iter()
            .map(|(n, v)| (self.slot(*n), self.slot(*v)))
    }

    pub fn facility(&self) -> u8 {
        self.pri >> 3
    }

    pub fn severity(&self) -> u8 {
        self.pri & 7
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_tells_every_difference_at_every_length() {
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for n in 0..=40 {
            let a = &base[..n];
            let copy = a.to_vec();
            assert!(same_bytes(a, &copy), "equal at {n}");
            if n > 0 {
                assert!(!same_bytes(a, &base[..n - 1]), "shorter at {n}");
            }
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert!(!same_bytes(a, &b), "byte {at} of {n}");
            }
        }
    }

    #[test]
    fn fields_and_pairs_read_back_from_raw_and_extra() {
        let mut m = Message::new(
            Bytes::from_static(b"<13>host prog: hi"),
            Timestamp::default(),
        );
        m.set(Field::Host, Slot::raw(4, 8));
        m.set_owned(Field::Program, b"prog");
        m.push_pair(b".SDATA.a.b", Slot::raw(15, 17));
        m.push_owned_pair(b".SDATA.a.b", b"later");
        assert_eq!(m.get(Field::Host), Some(&b"host"[..]));
        assert_eq!(m.get(Field::Program), Some(&b"prog"[..]));
        assert_eq!(m.get(Field::Pid), None);
        assert_eq!(m.pair(b".SDATA.a.b"), Some(&b"later"[..]));
        assert_eq!(m.pairs().count(), 2);
        assert_eq!((m.facility(), m.severity()), (1, 5));
    }
}
