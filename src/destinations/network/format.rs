//! How a message becomes bytes on the wire, byte for byte as syslog-ng 3.38's
//! writer (`lib/logwriter.c`) makes them: `syslog()`'s RFC 5424 frames with
//! octet counting (RFC 6587/5425), and `network()`'s RFC 3164 lines.
//!
//! It owns no socket and keeps no state between messages; the sender decides
//! where the bytes go.

use crate::message::{Field, Flags, Message};
use crate::template::{RenderContext, Template};

/// What the frame body is.
#[derive(Clone, Debug)]
pub enum Body {
    /// The RFC 5424 header the writer builds, then `template()` (or MESSAGE,
    /// when none is given) as MSG: `syslog()`, and `network()` with
    /// `flags(syslog-protocol)`.
    Rfc5424 { msg: Option<Template> },
    /// `template()` alone, as written (no line end added): `network()` with a
    /// template.
    Template(Template),
    /// syslog-ng's legacy line, `<PRI>Mmm dd HH:MM:SS HOST MSGHDRMSG\n`:
    /// `network()` without a template.
    Legacy,
}

/// Turns messages into frames.
#[derive(Clone, Debug)]
pub struct Framer {
    body: Body,
    /// `LEN SP` before each body (syslog() over TCP and TLS).
    octet_counted: bool,
    /// `flags(no-multi-line)`: CR, LF and NUL become spaces, but the last byte.
    no_multi_line: bool,
    /// `truncate-size()`: bodies are cut to this many bytes.
    truncate: Option<usize>,
    stamp_iso: Template,
    stamp_bsd: Template,
    host: Template,
    scratch: Vec<u8>,
}

/// syslog-ng's longest octet-counted frame (`logproto-framed-client.c`).
const MAX_FRAME: usize = 9_999_999;
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Framer {
    pub fn new(
        body: Body,
        octet_counted: bool,
        no_multi_line: bool,
        truncate: Option<usize>,
    ) -> Framer {
        // Fixed texts, known to compile.
        let fixed = |t| Template::compile(t).expect("built-in template compiles");
        Framer {
            body,
            octet_counted,
            no_multi_line,
            truncate,
            stamp_iso: fixed("${S_ISODATE}"),
            stamp_bsd: fixed("${S_DATE}"),
            // The whole HOST value (a chain stays a chain), as the writer reads it.
            host: fixed("${FULLHOST}"),
            scratch: Vec::new(),
        }
    }

    /// Appends `msg`'s frame to `out`.
    pub fn frame(&mut self, msg: &Message, ctx: &RenderContext, out: &mut Vec<u8>) {
        if !self.octet_counted {
            let start = out.len();
            self.body(msg, ctx, out);
            self.finish(out, start);
            return;
        }
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        self.body(msg, ctx, &mut body);
        self.finish(&mut body, 0);
        if body.len() > MAX_FRAME {
            body.truncate(MAX_FRAME);
        }
        crate::template::push_u64(out, body.len() as u64);
        out.push(b' ');
        out.extend_from_slice(&body);
        self.scratch = body;
    }

    fn finish(&self, out: &mut Vec<u8>, start: usize) {
        if self.no_multi_line && out.len() > start + 1 {
            let last = out.len() - 1;
            for b in &mut out[start..last] {
                if matches!(*b, b'\r' | b'\n' | 0) {
                    *b = b' ';
                }
            }
        }
        if let Some(max) = self.truncate {
            out.truncate(start + (out.len() - start).min(max));
        }
    }

    fn body(&self, msg: &Message, ctx: &RenderContext, out: &mut Vec<u8>) {
        match &self.body {
            Body::Template(t) => t.render(msg, ctx, out),
            Body::Legacy => {
                out.push(b'<');
                crate::template::push_u64(out, msg.pri as u64);
                out.push(b'>');
                self.stamp_bsd.render(msg, ctx, out);
                out.push(b' ');
                self.host.render(msg, ctx, out);
                out.push(b' ');
                crate::template::push_msghdr(msg, out);
                if let Some(m) = msg.get(Field::Message) {
                    out.extend_from_slice(m);
                }
                out.push(b'\n');
            }
            Body::Rfc5424 { msg: template } => {
                out.extend_from_slice(b"<");
                crate::template::push_u64(out, msg.pri as u64);
                out.extend_from_slice(b">1 ");
                self.stamp_iso.render(msg, ctx, out);
                out.push(b' ');
                let at = out.len();
                self.host.render(msg, ctx, out);
                nil_or_first_word(out, at);
                for field in [Field::Program, Field::Pid, Field::MsgId] {
                    let at = out.len();
                    if let Some(v) = msg.get(field) {
                        out.extend_from_slice(v);
                    }
                    nil_or_first_word(out, at);
                }
                match msg.get(Field::Sdata).filter(|s| !s.is_empty()) {
                    Some(sd) => out.extend_from_slice(sd),
                    None => out.push(b'-'),
                }
                out.push(b' ');
                let utf8 = msg.flags.contains(Flags::UTF8_BOM);
                match template {
                    Some(t) => {
                        if utf8 {
                            out.extend_from_slice(BOM);
                        }
                        t.render(msg, ctx, out);
                    }
                    // The BOM only before a MSG that is there.
                    None => {
                        if let Some(m) = msg.get(Field::Message).filter(|m| !m.is_empty()) {
                            if utf8 {
                                out.extend_from_slice(BOM);
                            }
                            out.extend_from_slice(m);
                        }
                    }
                }
                out.push(b'\n');
            }
        }
    }
}

/// An RFC 5424 header field as syslog-ng's writer puts it: `-` when empty,
/// else cut at its first space (which would end the field); then a space.
fn nil_or_first_word(out: &mut Vec<u8>, at: usize) {
    if out.len() == at {
        out.push(b'-');
    } else if let Some(sp) = memchr::memchr(b' ', &out[at..]) {
        out.truncate(at + sp);
    }
    out.push(b' ');
}
