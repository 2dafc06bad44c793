//! `$(md5)`, `$(sha1)`, `$(sha256)`, `$(sha512)`, `$(hash)` (SHA-256) with
//! `--length N` (hex digits kept), and `$(uuid)`, as syslog-ng's `cryptofuncs`.
//!
//! The arguments are hashed as one byte stream, with nothing between them, as
//! syslog-ng does. `$(uuid)` is a random (version 4) UUID from the kernel's
//! random source.

use super::{Arg, Args, Function, options, templates};
use crate::template::{Template, TemplateError};
use sha2::Digest as _;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Uuid,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct Digest {
    pub args: Vec<Template>,
    kind: Kind,
    /// Hex digits to keep; never more than the digest has.
    length: usize,
}

pub(super) fn compile(
    name: &str,
    args: &[Arg],
    call: TemplateError,
) -> Result<Function, TemplateError> {
    let (kind, hex_len) = match name {
        "md5" => (Kind::Md5, 32),
        "sha1" => (Kind::Sha1, 40),
        "sha512" => (Kind::Sha512, 128),
        "uuid" => (Kind::Uuid, 36),
        _ => (Kind::Sha256, 64),
    };
    if matches!(kind, Kind::Uuid) {
        return Ok(Function::Digest(Digest {
            args: templates(args)?,
            kind,
            length: hex_len,
        }));
    }
    let (opts, rest) = options(name, args, &[("--length", true)])?;
    let mut length = hex_len;
    for (a, _, v) in opts {
        let n = v.and_then(|v| v.parse::<usize>().ok());
        let Some(n) = n else {
            return Err(a.error(format!("$({name}) --length needs a number of hex digits")));
        };
        // syslog-ng: 0 or more than the digest has means the whole digest.
        length = if n == 0 { hex_len } else { n.min(hex_len) };
    }
    if rest.is_empty() {
        return Err(TemplateError {
            message: format!("$({name}) needs something to hash, e.g. $({name} $MESSAGE)"),
            ..call
        });
    }
    Ok(Function::Digest(Digest {
        args: templates(rest)?,
        kind,
        length,
    }))
}

impl Digest {
    pub fn render(&self, a: &Args, out: &mut Vec<u8>) {
        fn feed<D: sha2::Digest>(mut d: D, a: &Args) -> sha2::digest::Output<D> {
            for arg in a.iter() {
                d.update(arg);
            }
            d.finalize()
        }
        let start = out.len();
        match self.kind {
            Kind::Md5 => hex(&feed(md5::Md5::new(), a), out),
            Kind::Sha1 => hex(&feed(sha1::Sha1::new(), a), out),
            Kind::Sha256 => hex(&feed(sha2::Sha256::new(), a), out),
            Kind::Sha512 => hex(&feed(sha2::Sha512::new(), a), out),
            Kind::Uuid => return uuid(out),
        }
        out.truncate(start + self.length);
    }
}

fn hex(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.extend_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
    }
}

/// A version 4 UUID, `xxxxxxxx-xxxx-4xxx-Yxxx-xxxxxxxxxxxx`.
fn uuid(out: &mut Vec<u8>) {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        return; // no random source: render nothing rather than a guessable id
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    for (i, chunk) in [&b[0..4], &b[4..6], &b[6..8], &b[8..10], &b[10..16]]
        .iter()
        .enumerate()
    {
        if i > 0 {
            out.push(b'-');
        }
        hex(chunk, out);
    }
}
