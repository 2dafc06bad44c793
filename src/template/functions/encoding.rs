//! `$(base64-encode)`, `$(url-encode)` and `$(url-decode)`, as syslog-ng's
//! `basicfuncs`: base64 of the arguments as one stream (standard alphabet,
//! padded, no line breaks); URL encoding per argument with glib's unreserved set
//! (`A-Z a-z 0-9 - . _ ~`), upper-case hex; decoding drops an argument that holds
//! a bad escape or a NUL, as glib's `g_uri_unescape_string` refuses it.

use super::{Arg, Args, Function, templates};
use crate::template::{Template, TemplateError};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Base64,
    UrlEncode,
    UrlDecode,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct Encoding {
    pub args: Vec<Template>,
    kind: Kind,
}

pub(super) fn compile(
    name: &str,
    args: &[Arg],
    _call: TemplateError,
) -> Result<Function, TemplateError> {
    let kind = match name {
        "base64-encode" => Kind::Base64,
        "url-encode" => Kind::UrlEncode,
        _ => Kind::UrlDecode,
    };
    Ok(Function::Encoding(Encoding {
        args: templates(args)?,
        kind,
    }))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

impl Encoding {
    pub fn render(&self, a: &Args, out: &mut Vec<u8>) {
        match self.kind {
            Kind::Base64 => base64(a.iter().flatten().copied(), out),
            Kind::UrlEncode => {
                for c in a.iter().flatten() {
                    if c.is_ascii_alphanumeric() || b"-._~".contains(c) {
                        out.push(*c);
                    } else {
                        out.extend_from_slice(&[
                            b'%',
                            HEX[(c >> 4) as usize],
                            HEX[(c & 15) as usize],
                        ]);
                    }
                }
            }
            Kind::UrlDecode => {
                for arg in a.iter() {
                    let start = out.len();
                    if !url_decode(arg, out) {
                        out.truncate(start);
                    }
                }
            }
        }
    }
}

fn url_decode(s: &[u8], out: &mut Vec<u8>) -> bool {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'%' {
            let hexval = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
            let (Some(h), Some(l)) = (hexval(s.get(i + 1)), hexval(s.get(i + 2))) else {
                return false;
            };
            let b = (h * 16 + l) as u8;
            if b == 0 {
                return false;
            }
            out.push(b);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    true
}

/// Appends `bytes` in base64 (RFC 4648, padded): $(base64-encode), Basic
/// authentication, Content-MD5.
pub fn base64(bytes: impl Iterator<Item = u8>, out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut acc, mut n) = (0u32, 0);
    let put = |acc: u32, k: usize, out: &mut Vec<u8>| {
        for i in 0..4 {
            if i <= k {
                out.push(ALPHABET[((acc >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    };
    for b in bytes {
        acc = acc << 8 | u32::from(b);
        n += 1;
        if n == 3 {
            put(acc, 3, out);
            acc = 0;
            n = 0;
        }
    }
    if n > 0 {
        put(acc << (8 * (3 - n)), n, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            base64(i.bytes(), &mut out);
            assert_eq!(out, o.as_bytes(), "{i}");
        }
    }
}
