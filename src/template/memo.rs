//! Skipping a render when nothing it reads has changed. An object key is
//! rendered for every message, yet a run of messages from one sender nearly
//! always gives the key of the message before; comparing the few inputs the
//! key reads is cheaper than rendering, confining and looking it up again.

use super::functions::Function;
use super::macros::{DateMacro, Family, Macro};
use super::{Element, Template};
use crate::message::{Field, Message, Timestamp, same_bytes};
use std::net::SocketAddr;

/// One thing about a message that a template's output depends on.
#[derive(Clone, Debug, PartialEq)]
enum Input {
    Field(Field),
    Pri,
    Flags,
    Peer,
    HostFrom,
    Origin,
    /// A timestamp; `fine` when a macro shows fractions of the second.
    Stamp {
        fine: bool,
    },
    Recvd {
        fine: bool,
    },
    Pair(Box<[u8]>),
}

/// Remembers the inputs of the last message rendered through a set of
/// templates.
#[derive(Debug)]
pub struct Memo {
    inputs: Vec<Input>,
    /// The last message's inputs, encoded.
    last: Vec<u8>,
    primed: bool,
}

impl Memo {
    /// A memo for `templates`; `None` when one of them reads something that
    /// changes from one render to the next (the current time, a template
    /// function, a receipt id) or the raw frame.
    pub fn new(templates: &[&Template]) -> Option<Memo> {
        let mut inputs = Vec::new();
        for t in templates {
            for e in &t.elems {
                element_inputs(e, &mut inputs)?;
            }
        }
        Some(Memo {
            inputs,
            last: Vec::new(),
            primed: false,
        })
    }

    /// Whether every input of `msg` equals the last message's; `msg` becomes
    /// the last message either way.
    pub fn unchanged(&mut self, msg: &Message) -> bool {
        if self.primed {
            // Compared in place: the common answer costs no copy.
            let mut cmp = Compare {
                last: &self.last,
                at: 0,
                same: true,
            };
            for input in &self.inputs {
                encode(input, msg, &mut cmp);
            }
            if cmp.same && cmp.at == self.last.len() {
                return true;
            }
        }
        self.last.clear();
        for input in &self.inputs {
            encode(input, msg, &mut self.last);
        }
        self.primed = true;
        false
    }

    /// Forgets the last message: the next one counts as changed.
    pub fn forget(&mut self) {
        self.primed = false;
    }
}

fn element_inputs(e: &Element, out: &mut Vec<Input>) -> Option<()> {
    let mut add = |i: Input| {
        if !out.contains(&i) {
            out.push(i);
        }
    };
    match e {
        Element::Literal { .. } => {}
        Element::Pair(name) => add(Input::Pair(name.clone())),
        Element::Default { value, .. } => element_inputs(value, out)?,
        // $(strftime) reads one time (to the second at most, but %f exists).
        Element::Function(f) => match &**f {
            Function::Strftime(s) => match s.family() {
                Family::Stamp => add(Input::Stamp { fine: true }),
                Family::Recvd => add(Input::Recvd { fine: true }),
                Family::Current => return None,
            },
            _ => return None,
        },
        Element::Macro(m) => {
            for i in macro_inputs(*m)? {
                add(i);
            }
        }
    }
    Some(())
}

/// What a macro reads (see `macros::expand`); `None` for what changes on
/// every render or message.
fn macro_inputs(m: Macro) -> Option<Vec<Input>> {
    use Input as I;
    Some(match m {
        Macro::Host | Macro::FullHost => {
            vec![I::Field(Field::Host), I::Flags, I::Peer, I::HostFrom]
        }
        Macro::HostFrom | Macro::FullHostFrom => vec![I::Peer, I::HostFrom],
        Macro::SourceIp => vec![I::Peer],
        Macro::LogHost | Macro::HostId | Macro::RunId => vec![],
        Macro::Program => vec![I::Field(Field::Program)],
        Macro::Pid => vec![I::Field(Field::Pid)],
        Macro::MsgId => vec![I::Field(Field::MsgId)],
        Macro::Message => vec![I::Field(Field::Message)],
        Macro::Sdata => vec![I::Field(Field::Sdata)],
        Macro::LegacyMsgHdr => vec![I::Field(Field::LegacyMsgHdr)],
        Macro::MsgHdr => vec![
            I::Field(Field::LegacyMsgHdr),
            I::Field(Field::Program),
            I::Field(Field::Pid),
        ],
        Macro::Facility
        | Macro::FacilityNum
        | Macro::Severity
        | Macro::SeverityNum
        | Macro::Pri
        | Macro::Tag
        | Macro::BsdTag => vec![I::Pri],
        Macro::Source | Macro::DestIp | Macro::DestPort | Macro::Proto => vec![I::Origin],
        Macro::Tags => vec![I::Origin, I::Flags],
        Macro::SeqNum => vec![I::Pair(b".SDATA.meta.sequenceId".to_vec().into())],
        Macro::RawMsg | Macro::RcptId | Macro::UniqId => return None,
        Macro::Date(Family::Current, _) => return None,
        Macro::Date(family, d) => {
            let fine = matches!(
                d,
                DateMacro::Msec
                    | DateMacro::Usec
                    | DateMacro::UnixTime
                    | DateMacro::Stamp
                    | DateMacro::IsoDate
                    | DateMacro::FullDate
                    | DateMacro::Date
            );
            match family {
                Family::Recvd => vec![I::Recvd { fine }],
                _ => vec![I::Stamp { fine }],
            }
        }
    })
}

/// Where encoded inputs go: a buffer, or a comparison with the last ones.
trait Sink {
    fn put(&mut self, b: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

struct Compare<'a> {
    last: &'a [u8],
    at: usize,
    same: bool,
}

impl Sink for Compare<'_> {
    fn put(&mut self, b: &[u8]) {
        let end = self.at + b.len();
        self.same &= self
            .last
            .get(self.at..end)
            .is_some_and(|l| same_bytes(l, b));
        self.at = end;
    }
}

/// Puts `input`'s value in `msg`, framed so that different values never
/// encode alike.
fn encode(input: &Input, msg: &Message, out: &mut impl Sink) {
    fn bytes(v: Option<&[u8]>, out: &mut impl Sink) {
        match v {
            Some(v) => {
                out.put(&(v.len() as u32).to_le_bytes());
                out.put(v);
            }
            None => out.put(&u32::MAX.to_le_bytes()),
        }
    }
    fn time(t: &Timestamp, fine: bool, out: &mut impl Sink) {
        out.put(&t.secs.to_le_bytes());
        out.put(&t.offset.to_le_bytes());
        if fine {
            out.put(&t.nanos.to_le_bytes());
        }
    }
    match input {
        Input::Field(f) => bytes(msg.get(*f), out),
        Input::Pri => out.put(&[msg.pri]),
        Input::Flags => out.put(&[msg.flags.bits()]),
        Input::Peer => match msg.peer {
            None => out.put(&[0]),
            Some(SocketAddr::V4(a)) => {
                out.put(&[4]);
                out.put(&a.ip().octets());
                out.put(&a.port().to_le_bytes());
            }
            Some(SocketAddr::V6(a)) => {
                out.put(&[6]);
                out.put(&a.ip().octets());
                out.put(&a.port().to_le_bytes());
            }
        },
        Input::HostFrom => bytes(msg.host_from.as_deref().map(str::as_bytes), out),
        Input::Origin => out.put(&msg.origin.index().to_le_bytes()),
        Input::Stamp { fine } => time(&msg.stamp, *fine, out),
        Input::Recvd { fine } => time(&msg.recvd, *fine, out),
        Input::Pair(name) => bytes(msg.pair(name), out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::RenderContext;

    fn msg(host: &str, stamp: i64) -> Message {
        let raw = bytes::Bytes::from(format!("<13>x {host}"));
        let mut m = Message::new(
            raw,
            Timestamp {
                secs: stamp,
                nanos: 0,
                offset: 0,
            },
        );
        m.set_owned(Field::Host, host.as_bytes());
        m
    }

    #[test]
    fn a_changed_input_is_noticed_and_an_unread_one_is_not() {
        let t = Template::compile("app/${HOST}/${S_YEAR}${S_MONTH}${S_DAY}").unwrap();
        let mut memo = Memo::new(&[&t]).unwrap();
        let a = msg("web-1", 1_700_000_000);
        assert!(!memo.unchanged(&a), "the first message is never unchanged");
        assert!(memo.unchanged(&a));
        let mut b = msg("web-1", 1_700_000_000);
        b.pri = 3; // not read by the template
        assert!(memo.unchanged(&b));
        assert!(!memo.unchanged(&msg("web-2", 1_700_000_000)));
        assert!(!memo.unchanged(&msg("web-2", 1_700_000_001)));
        // Equal inputs render equally: the memo's promise.
        let ctx = RenderContext::default();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        t.render(&msg("web-2", 1_700_000_001), &ctx, &mut x);
        t.render(&msg("web-2", 1_700_000_001), &ctx, &mut y);
        assert_eq!(x, y);
        memo.forget();
        assert!(!memo.unchanged(&msg("web-2", 1_700_000_001)));
    }

    #[test]
    fn values_that_change_on_every_render_have_no_memo() {
        for text in [
            "${C_DAY}",
            "${RCPTID}",
            "$(echo ${HOST})",
            "${RAWMSG}",
            "$(strftime --now %H)",
        ] {
            let t = Template::compile(text).unwrap();
            assert!(Memo::new(&[&t]).is_none(), "{text}");
        }
        let t = Template::compile("${HOST:-none}/${.SDATA.a.b}").unwrap();
        assert!(Memo::new(&[&t]).is_some());
        // $(strftime) reads the stamp: a new second is a change.
        let t = Template::compile("$(strftime %Y/%H)").unwrap();
        let mut memo = Memo::new(&[&t]).unwrap();
        memo.unchanged(&msg("a", 1_700_000_000));
        assert!(memo.unchanged(&msg("a", 1_700_000_000)));
        assert!(!memo.unchanged(&msg("a", 1_700_003_600)));
    }

    #[test]
    fn field_boundaries_do_not_alias() {
        let t = Template::compile("${HOST}${PROGRAM}").unwrap();
        let mut memo = Memo::new(&[&t]).unwrap();
        let mut a = msg("ab", 0);
        a.set_owned(Field::Program, b"c");
        let mut b = msg("a", 0);
        b.set_owned(Field::Program, b"bc");
        memo.unchanged(&a);
        assert!(!memo.unchanged(&b));
    }
}
