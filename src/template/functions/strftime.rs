//! `$(strftime [--recvd] FORMAT)`: the sender's stamp (or, with `--recvd`, the
//! receive time) formatted with strftime items parsed once, at compile time.

use super::Arg;
use crate::message::{Message, Zone};
use crate::template::TemplateError;
use crate::template::macros::{Dates, Family};
use chrono::format::{Item, StrftimeItems};

#[derive(Clone, Debug)]
pub(in crate::template) struct Strftime {
    items: Vec<Item<'static>>,
    family: Family,
}

impl Strftime {
    /// Which time it formats.
    pub fn family(&self) -> Family {
        self.family
    }

    pub fn compile(args: &[Arg], call: TemplateError) -> Result<Strftime, TemplateError> {
        let mut family = Family::Stamp;
        let mut format = None;
        for a in args {
            match a.raw.as_str() {
                "--recvd" => family = Family::Recvd,
                "--stamp" => family = Family::Stamp,
                "--now" => family = Family::Current,
                o if o.starts_with("--") => {
                    return Err(a.error(format!(
                        "unknown $(strftime) option {o:?}; expected --recvd, --stamp or --now"
                    )));
                }
                _ if format.is_some() => {
                    return Err(a.error("$(strftime) takes a single FORMAT argument"));
                }
                _ => format = Some(a),
            }
        }
        let Some(format) = format else {
            return Err(TemplateError {
                message: "$(strftime) needs a FORMAT argument, e.g. $(strftime %Y-%m-%d)".into(),
                ..call
            });
        };
        let items = StrftimeItems::new(&format.text)
            .parse_to_owned()
            .map_err(|_| format.error(format!("invalid strftime format {:?}", format.text)))?;
        Ok(Strftime { items, family })
    }

    pub fn render(&self, msg: &Message, zone: Option<&Zone>, dates: &mut Dates, out: &mut Vec<u8>) {
        use std::io::Write;
        let b = dates.get(self.family, msg, zone);
        let (Some(utc), Some(off)) = (
            chrono::DateTime::from_timestamp(b.secs, b.nanos),
            chrono::FixedOffset::east_opt(b.offset),
        ) else {
            return;
        };
        let _ = write!(
            out,
            "{}",
            utc.with_timezone(&off).format_with_items(self.items.iter())
        );
    }
}
