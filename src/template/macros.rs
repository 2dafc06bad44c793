//! The macro table: names, ids, and their expansion into a render buffer.
//!
//! Date macros are defined once ([`DateMacro`]) and stamped out for the unprefixed
//! and `S_` (sender's stamp), `R_` (received) and `C_` (current time) families, as
//! syslog-ng does. Expansion appends bytes by hand; it must not allocate (IPv6 peer
//! addresses aside) or go through `format!`.

use super::RenderContext;
use super::date::{self, Broken};
use crate::message::{Field, Flags, Message, Timestamp, Zone, copy_run};
use std::cell::Cell;
use std::net::IpAddr;

/// Which timestamp a date macro reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    /// Unprefixed and `S_`: the sender's stamp.
    Stamp = 0,
    /// `R_`: the time Sluice received the message.
    Recvd = 1,
    /// `C_`: the time of rendering.
    Current = 2,
}

pub(super) const FAMILIES: [(&str, Family); 4] = [
    ("", Family::Stamp),
    ("S_", Family::Stamp),
    ("R_", Family::Recvd),
    ("C_", Family::Current),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DateMacro {
    Year,
    YearDay,
    Month,
    MonthWeek,
    MonthAbbrev,
    MonthName,
    Day,
    Hour,
    Hour12,
    Min,
    Sec,
    Msec,
    Usec,
    Ampm,
    WeekDayAbbrev,
    WeekDay,
    WeekDayName,
    Week,
    IsoWeek,
    TzOffset,
    UnixTime,
    Stamp,
    IsoDate,
    FullDate,
    Date,
}

pub(super) const DATE_MACROS: &[(&str, DateMacro)] = &[
    ("YEAR", DateMacro::Year),
    ("YEAR_DAY", DateMacro::YearDay),
    ("MONTH", DateMacro::Month),
    ("MONTH_WEEK", DateMacro::MonthWeek),
    ("MONTH_ABBREV", DateMacro::MonthAbbrev),
    ("MONTH_NAME", DateMacro::MonthName),
    ("DAY", DateMacro::Day),
    ("HOUR", DateMacro::Hour),
    ("HOUR12", DateMacro::Hour12),
    ("MIN", DateMacro::Min),
    ("SEC", DateMacro::Sec),
    ("MSEC", DateMacro::Msec),
    ("USEC", DateMacro::Usec),
    ("AMPM", DateMacro::Ampm),
    // WEEKDAY is syslog-ng's deprecated spelling of WEEK_DAY_ABBREV.
    ("WEEKDAY", DateMacro::WeekDayAbbrev),
    ("WEEK_DAY", DateMacro::WeekDay),
    ("WEEK_DAY_ABBREV", DateMacro::WeekDayAbbrev),
    ("WEEK_DAY_NAME", DateMacro::WeekDayName),
    ("WEEK", DateMacro::Week),
    ("ISOWEEK", DateMacro::IsoWeek),
    ("TZOFFSET", DateMacro::TzOffset),
    ("TZ", DateMacro::TzOffset),
    ("UNIXTIME", DateMacro::UnixTime),
    ("STAMP", DateMacro::Stamp),
    ("ISODATE", DateMacro::IsoDate),
    ("FULLDATE", DateMacro::FullDate),
    ("DATE", DateMacro::Date),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Macro {
    Host,
    HostFrom,
    SourceIp,
    LogHost,
    Program,
    Pid,
    MsgHdr,
    LegacyMsgHdr,
    Message,
    MsgId,
    Sdata,
    RawMsg,
    Facility,
    FacilityNum,
    Severity,
    SeverityNum,
    Pri,
    Tag,
    BsdTag,
    Tags,
    Source,
    FullHost,
    FullHostFrom,
    DestIp,
    DestPort,
    Proto,
    SeqNum,
    RcptId,
    UniqId,
    HostId,
    RunId,
    Date(Family, DateMacro),
}

pub(super) const MACROS: &[(&str, Macro)] = &[
    ("HOST", Macro::Host),
    ("HOST_FROM", Macro::HostFrom),
    ("SOURCEIP", Macro::SourceIp),
    ("LOGHOST", Macro::LogHost),
    ("PROGRAM", Macro::Program),
    ("PID", Macro::Pid),
    ("MSGHDR", Macro::MsgHdr),
    ("LEGACY_MSGHDR", Macro::LegacyMsgHdr),
    ("MESSAGE", Macro::Message),
    ("MSG", Macro::Message),
    ("MSGID", Macro::MsgId),
    ("SDATA", Macro::Sdata),
    ("RAWMSG", Macro::RawMsg),
    ("FACILITY", Macro::Facility),
    ("FACILITY_NUM", Macro::FacilityNum),
    ("SEVERITY", Macro::Severity),
    ("SEVERITY_NUM", Macro::SeverityNum),
    // PRIORITY and LEVEL are syslog-ng's deprecated aliases of SEVERITY.
    ("PRIORITY", Macro::Severity),
    ("LEVEL", Macro::Severity),
    ("LEVEL_NUM", Macro::SeverityNum),
    ("PRI", Macro::Pri),
    ("TAG", Macro::Tag),
    ("BSDTAG", Macro::BsdTag),
    ("TAGS", Macro::Tags),
    ("SOURCE", Macro::Source),
    // MSGONLY is syslog-ng's older name of MESSAGE.
    ("MSGONLY", Macro::Message),
    ("FULLHOST", Macro::FullHost),
    ("FULLHOST_FROM", Macro::FullHostFrom),
    ("DESTIP", Macro::DestIp),
    ("DESTPORT", Macro::DestPort),
    ("PROTO", Macro::Proto),
    ("SEQNUM", Macro::SeqNum),
    ("RCPTID", Macro::RcptId),
    ("UNIQID", Macro::UniqId),
    ("HOSTID", Macro::HostId),
    ("RUNID", Macro::RunId),
];

/// This process's HOSTID (random, kept in the state directory) and RUNID
/// (counts the daemon's starts), set once at start-up.
static IDENTITY: std::sync::OnceLock<(u32, u64)> = std::sync::OnceLock::new();

/// Sets HOSTID and RUNID for the life of the process.
pub fn set_identity(hostid: u32, runid: u64) {
    let _ = IDENTITY.set((hostid, runid));
}

/// The macro a name denotes; `None` means a name-value pair lookup.
pub(super) fn lookup(name: &str) -> Option<Macro> {
    if let Some((_, m)) = MACROS.iter().find(|(n, _)| *n == name) {
        return Some(*m);
    }
    let (family, rest) = match name.as_bytes() {
        [b'S', b'_', ..] => (Family::Stamp, &name[2..]),
        [b'R', b'_', ..] => (Family::Recvd, &name[2..]),
        [b'C', b'_', ..] => (Family::Current, &name[2..]),
        _ => (Family::Stamp, name),
    };
    DATE_MACROS
        .iter()
        .find(|(n, _)| *n == rest)
        .map(|(_, d)| Macro::Date(family, *d))
}

/// The known macro name nearest to `name`, when one is close enough to be
/// what was meant.
pub(super) fn nearest_name(name: &str) -> Option<String> {
    let names: Vec<String> = all_names().map(|(n, _)| n).collect();
    crate::config::diagnostic::nearest(name, names.iter().map(String::as_str)).map(str::to_string)
}

/// Every macro name, date families stamped out (format-json's `all-macros`).
pub(super) fn all_names() -> impl Iterator<Item = (String, Macro)> {
    MACROS
        .iter()
        .map(|(n, m)| (n.to_string(), *m))
        .chain(FAMILIES.iter().flat_map(|(p, f)| {
            DATE_MACROS
                .iter()
                .map(move |(n, d)| (format!("{p}{n}"), Macro::Date(*f, *d)))
        }))
}

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// `(flag, tag)` pairs rendered by `$TAGS`, comma separated.
const TAGS: [(Flags, &str); 3] = [
    (Flags::PARSE_ERROR, ".sluice.parse_error"),
    (Flags::TRUNCATED, ".sluice.truncated"),
    (Flags::CONTINUATION, ".sluice.continuation"),
];

impl Macro {
    /// The message field whose bytes the macro is, as they are.
    pub(in crate::template) fn field(self) -> Option<Field> {
        match self {
            Macro::Program => Some(Field::Program),
            Macro::Pid => Some(Field::Pid),
            Macro::MsgId => Some(Field::MsgId),
            Macro::Message => Some(Field::Message),
            _ => None,
        }
    }

    /// Whether the expansion is always text JSON needs no escape for:
    /// numbers, dates, level and facility names, addresses. `$(format-json)`
    /// writes such a value straight into its output.
    pub(in crate::template) fn plain(self) -> bool {
        matches!(
            self,
            Macro::Facility
                | Macro::FacilityNum
                | Macro::Severity
                | Macro::SeverityNum
                | Macro::Pri
                | Macro::Tag
                | Macro::BsdTag
                | Macro::SourceIp
                | Macro::DestIp
                | Macro::DestPort
                | Macro::SeqNum
                | Macro::RcptId
                | Macro::UniqId
                | Macro::HostId
                | Macro::Date(..)
        )
    }
}

/// Broken-down dates of one render, computed on first use per family.
#[derive(Default)]
pub(super) struct Dates {
    cache: [Option<Broken>; 3],
}

impl Dates {
    pub fn get(&mut self, family: Family, msg: &Message, zone: Option<&Zone>) -> &Broken {
        let slot = &mut self.cache[family as usize];
        slot.get_or_insert_with(|| match family {
            Family::Stamp => date::broken(&msg.stamp, zone),
            Family::Recvd => date::broken(&msg.recvd, zone),
            // With no zone configured, the current time is shown in the machine's zone.
            Family::Current => date::broken(
                &Timestamp::now(&Zone::UTC),
                Some(zone.unwrap_or(&Zone::Local)),
            ),
        })
    }
}

thread_local! {
    /// The last address [`push_ip`] wrote, and its text: the messages of a
    /// connection share their peer, and IPv6 text is a formatter call.
    static LAST_IP: Cell<Option<(IpAddr, [u8; 45], u8)>> = const { Cell::new(None) };
}

/// An address as syslog-ng shows it (a v4-mapped v6 address as v4).
/// MSGHDR: the header as sent when there was one (RFC 3164), as syslog-ng
/// does; otherwise rebuilt from PROGRAM and PID (`prog[pid]: `), or nothing.
pub fn push_msghdr(msg: &Message, out: &mut Vec<u8>) {
    if let Some(h) = msg.get(Field::LegacyMsgHdr).filter(|h| !h.is_empty()) {
        out.extend_from_slice(h);
    } else if let Some(p) = msg.get(Field::Program).filter(|p| !p.is_empty()) {
        out.extend_from_slice(p);
        if let Some(pid) = msg.get(Field::Pid).filter(|p| !p.is_empty()) {
            out.push(b'[');
            out.extend_from_slice(pid);
            out.push(b']');
        }
        out.extend_from_slice(b": ");
    }
}

pub(crate) fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    if let Some((last, text, n)) = LAST_IP.get()
        && last == ip
    {
        // As words, not a call to copy memory (this runs per message).
        copy_run(&text, 0, usize::from(n), out);
        return;
    }
    let start = out.len();
    format_ip(out, ip);
    let written = &out[start..];
    if written.len() <= 45 {
        let mut text = [0; 45];
        text[..written.len()].copy_from_slice(written);
        LAST_IP.set(Some((ip, text, written.len() as u8)));
    }
}

fn format_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        // Built on the stack and copied once: this runs per message for
        // SOURCEIP, HOST_FROM and `__source__`.
        IpAddr::V4(v4) => {
            let mut buf = [0u8; 15];
            let mut n = 0;
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                if o >= 100 {
                    buf[n] = b'0' + o / 100;
                    n += 1;
                }
                if o >= 10 {
                    buf[n] = b'0' + o / 10 % 10;
                    n += 1;
                }
                buf[n] = b'0' + o % 10;
                n += 1;
            }
            out.extend_from_slice(&buf[..n]);
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format_ip(out, IpAddr::V4(v4)),
            None => {
                use std::io::Write;
                let _ = write!(out, "{v6}");
            }
        },
    }
}

/// HOST_FROM (and FULLHOST_FROM): the peer's resolved name (use-dns()), else
/// its address.
pub(super) fn push_host_from(out: &mut Vec<u8>, msg: &Message) {
    match (&msg.host_from, msg.peer) {
        (Some(name), _) => out.extend_from_slice(name.as_bytes()),
        (None, Some(peer)) => push_ip(out, peer.ip()),
        (None, None) => out.extend_from_slice(b"localhost"),
    }
}

/// Appends the value of `m` for `msg`.
pub(super) fn expand(
    m: Macro,
    msg: &Message,
    ctx: &RenderContext,
    zone: Option<&Zone>,
    dates: &mut Dates,
    out: &mut Vec<u8>,
) {
    let field = |f: Field, out: &mut Vec<u8>| {
        if let Some(v) = msg.get(f) {
            out.extend_from_slice(v);
        }
    };
    match m {
        Macro::Host => match msg.get(Field::Host) {
            // A chain (chain-hostnames()) shows its first name.
            Some(h) if !h.is_empty() && msg.flags.contains(Flags::CHAINED) => {
                out.extend_from_slice(h.split(|&c| c == b'/').next().unwrap_or(h))
            }
            Some(h) if !h.is_empty() => out.extend_from_slice(h),
            _ => push_host_from(out, msg),
        },
        Macro::HostFrom => push_host_from(out, msg),
        Macro::SourceIp => match msg.peer {
            Some(peer) => push_ip(out, peer.ip()),
            None => out.extend_from_slice(b"127.0.0.1"),
        },
        Macro::LogHost => out.extend_from_slice(ctx.hostname.as_bytes()),
        Macro::Program => field(Field::Program, out),
        Macro::Pid => field(Field::Pid, out),
        Macro::MsgId => field(Field::MsgId, out),
        Macro::Message => field(Field::Message, out),
        Macro::Sdata => field(Field::Sdata, out),
        // Empty unless the source keeps it (flags(store-raw-message)), as in syslog-ng.
        Macro::RawMsg => {
            if msg.flags.contains(Flags::RAW_KEPT) {
                let raw = msg.pair(crate::parse::RAWMSG_PAIR).unwrap_or(msg.raw());
                out.extend_from_slice(raw)
            }
        }
        Macro::LegacyMsgHdr => field(Field::LegacyMsgHdr, out),
        // The header as sent when there was one (RFC 3164), as syslog-ng does;
        // otherwise rebuilt from PROGRAM and PID.
        Macro::MsgHdr => push_msghdr(msg, out),
        Macro::Facility => match FACILITIES.get(msg.facility() as usize) {
            Some(n) => out.extend_from_slice(n.as_bytes()),
            None => push_hex(out, msg.facility(), 1),
        },
        Macro::FacilityNum => date::push_u64(out, msg.facility() as u64),
        Macro::Severity => out.extend_from_slice(SEVERITIES[msg.severity() as usize].as_bytes()),
        Macro::SeverityNum => date::push_u64(out, msg.severity() as u64),
        Macro::Pri => date::push_u64(out, msg.pri as u64),
        Macro::Tag => push_hex(out, msg.pri, 2),
        Macro::BsdTag => {
            date::push_u64(out, msg.severity() as u64);
            out.push(b'A' + msg.facility());
        }
        Macro::Source => {
            if let Some(o) = msg.origin.get() {
                out.extend_from_slice(o.source.as_bytes());
            }
        }
        Macro::FullHost => match msg.get(Field::Host) {
            Some(h) if !h.is_empty() => out.extend_from_slice(h),
            _ => push_host_from(out, msg),
        },
        Macro::FullHostFrom => push_host_from(out, msg),
        Macro::DestIp => {
            if let Some(local) = msg.origin.get().and_then(|o| o.local) {
                push_ip(out, local.ip());
            }
        }
        Macro::DestPort => {
            if let Some(local) = msg.origin.get().and_then(|o| o.local) {
                date::push_u64(out, local.port() as u64);
            }
        }
        Macro::Proto => {
            if let Some(n) = msg.origin.get().and_then(|o| o.proto.number()) {
                date::push_u64(out, n as u64);
            }
        }
        // syslog-ng reads SEQNUM from the message's meta.sequenceId (Cisco's
        // sequence number, or RFC 5424 [meta sequenceId=...]).
        Macro::SeqNum => {
            if let Some(v) = msg.pair(b".SDATA.meta.sequenceId") {
                out.extend_from_slice(v);
            }
        }
        Macro::RcptId => {
            if msg.rcptid != 0 {
                date::push_u64(out, msg.rcptid);
            }
        }
        Macro::UniqId => {
            if msg.rcptid != 0
                && let Some((hostid, _)) = IDENTITY.get()
            {
                use std::io::Write;
                let _ = write!(out, "{hostid:08x}@{:016x}", msg.rcptid);
            }
        }
        Macro::HostId => {
            if let Some((hostid, _)) = IDENTITY.get() {
                use std::io::Write;
                let _ = write!(out, "{hostid:08x}");
            }
        }
        Macro::RunId => {
            if let Some((_, runid)) = IDENTITY.get() {
                date::push_u64(out, *runid);
            }
        }
        Macro::Tags => {
            let mut first = true;
            // syslog-ng tags every message with its source first.
            if let Some(o) = msg.origin.get() {
                out.extend_from_slice(b".source.");
                out.extend_from_slice(o.source.as_bytes());
                first = false;
            }
            for (flag, tag) in TAGS {
                if msg.flags.contains(flag) {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(tag.as_bytes());
                }
            }
        }
        Macro::Date(family, d) => {
            let b = dates.get(family, msg, zone);
            expand_date(d, b, ctx.frac_digits, out);
        }
    }
}

/// Lowercase hex, at least `width` digits (syslog-ng's `format_uint32_padded`).
fn push_hex(out: &mut Vec<u8>, v: u8, width: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if v >= 16 || width >= 2 {
        out.push(HEX[(v >> 4) as usize]);
    }
    out.push(HEX[(v & 15) as usize]);
}

#[inline]
fn put2(buf: &mut [u8], at: usize, v: u8) {
    buf[at] = b'0' + v / 10 % 10;
    buf[at + 1] = b'0' + v % 10;
}

/// The time part shared by DATE, FULLDATE and ISODATE: `HH:MM:SS`.
fn push_hms(out: &mut Vec<u8>, b: &Broken) {
    date::push2(out, b.hour);
    out.push(b':');
    date::push2(out, b.min);
    out.push(b':');
    date::push2(out, b.sec);
}

/// `.` and the first `digits` digits of the fraction of the second.
fn push_frac(out: &mut Vec<u8>, b: &Broken, digits: u8) {
    if digits == 0 {
        return;
    }
    let digits = digits.min(9);
    out.push(b'.');
    let v = b.nanos / 10u32.pow(9 - u32::from(digits));
    date::push_padded(out, u64::from(v), usize::from(digits));
}

fn month_abbrev(b: &Broken) -> &'static [u8] {
    &MONTHS[(b.month as usize - 1) % 12].as_bytes()[..3]
}

/// `frac` is `frac-digits()`: that many digits of the second's fraction follow
/// the seconds of the full timestamps (DATE, STAMP, FULLDATE, ISODATE,
/// UNIXTIME), as in syslog-ng.
pub(super) fn expand_date(d: DateMacro, b: &Broken, frac: u8, out: &mut Vec<u8>) {
    match d {
        DateMacro::Year => date::push_year(out, b.year),
        DateMacro::YearDay => date::push3(out, b.yday as u32 + 1),
        DateMacro::Month => date::push2(out, b.month),
        DateMacro::MonthWeek => {
            let (mday, wday) = (b.day, b.wday);
            let w = mday / 7 + u8::from(wday > 0 && mday % 7 >= wday);
            date::push_u64(out, w as u64);
        }
        DateMacro::MonthAbbrev => out.extend_from_slice(month_abbrev(b)),
        DateMacro::MonthName => {
            out.extend_from_slice(MONTHS[(b.month as usize - 1) % 12].as_bytes())
        }
        DateMacro::Day => date::push2(out, b.day),
        DateMacro::Hour => date::push2(out, b.hour),
        DateMacro::Hour12 => {
            let h = b.hour % 12;
            date::push2(out, if h == 0 { 12 } else { h });
        }
        DateMacro::Min => date::push2(out, b.min),
        DateMacro::Sec => date::push2(out, b.sec),
        DateMacro::Msec => date::push3(out, b.nanos / 1_000_000),
        DateMacro::Usec => date::push_padded(out, (b.nanos / 1000) as u64, 6),
        DateMacro::Ampm => out.extend_from_slice(if b.hour < 12 { b"AM" } else { b"PM" }),
        DateMacro::WeekDayAbbrev => {
            out.extend_from_slice(&WEEKDAYS[b.wday as usize % 7].as_bytes()[..3])
        }
        DateMacro::WeekDay => date::push_u64(out, b.wday as u64 + 1),
        DateMacro::WeekDayName => out.extend_from_slice(WEEKDAYS[b.wday as usize % 7].as_bytes()),
        DateMacro::Week => {
            // syslog-ng: weeks starting on Monday, as strftime's %W.
            let w = (b.yday as i32 - (b.wday as i32 - 1 + 7) % 7 + 7) / 7;
            date::push2(out, w as u8);
        }
        DateMacro::IsoWeek => date::push2(out, b.iso_week()),
        DateMacro::TzOffset => date::push_tzoffset(out, b.offset),
        DateMacro::UnixTime => {
            date::push_i64(out, b.secs);
            push_frac(out, b, frac);
        }
        // STAMP follows ts-format(), whose default (rfc3164) is DATE's format.
        DateMacro::Date | DateMacro::Stamp => {
            out.extend_from_slice(month_abbrev(b));
            out.push(b' ');
            date::push2_space(out, b.day);
            out.push(b' ');
            push_hms(out, b);
            push_frac(out, b, frac);
        }
        DateMacro::FullDate => {
            date::push_year(out, b.year);
            out.push(b' ');
            out.extend_from_slice(month_abbrev(b));
            out.push(b' ');
            date::push2_space(out, b.day);
            out.push(b' ');
            push_hms(out, b);
            push_frac(out, b, frac);
        }
        DateMacro::IsoDate => {
            if (0..=9999).contains(&b.year) && frac == 0 {
                // The hot path of every line template: one copy of a stack buffer.
                let mut buf = *b"0000-00-00T00:00:00+00:00";
                let y = b.year as u16;
                put2(&mut buf, 0, (y / 100) as u8);
                put2(&mut buf, 2, (y % 100) as u8);
                put2(&mut buf, 5, b.month);
                put2(&mut buf, 8, b.day);
                put2(&mut buf, 11, b.hour);
                put2(&mut buf, 14, b.min);
                put2(&mut buf, 17, b.sec);
                let a = b.offset.unsigned_abs();
                buf[19] = if b.offset < 0 { b'-' } else { b'+' };
                put2(&mut buf, 20, (a / 3600).min(99) as u8);
                put2(&mut buf, 23, (a % 3600 / 60) as u8);
                out.extend_from_slice(&buf);
            } else {
                date::push_year(out, b.year);
                out.push(b'-');
                date::push2(out, b.month);
                out.push(b'-');
                date::push2(out, b.day);
                out.push(b'T');
                push_hms(out, b);
                push_frac(out, b, frac);
                date::push_tzoffset(out, b.offset);
            }
        }
    }
}
