//! Side by side with syslog-ng 3.38: the same bytes sent to both daemons over
//! newline-framed TCP, octet-counted TCP and UDP, written by both with the same
//! templates, must give the same fields. Where Sluice differs on purpose, the
//! difference is listed in [`DELIBERATE`] with its reason (and in sluice.conf(5)).
//!
//! The corpus is our own: RFC 3164 and 5424 variants, Cisco and ISO stamps,
//! structured data with escapes, junk, blank lines and multi-message streams.

use crate::harness::*;
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const WAIT: Duration = Duration::from_secs(20);

/// Where Sluice differs from syslog-ng on purpose: the input that shows it, and
/// why. Inputs listed here are sent to Sluice alone and checked against the
/// stated behaviour, not against syslog-ng.
pub const DELIBERATE: &[(&str, &str)] = &[
    (
        "<999>Nov 23 14:07:17 h p: x",
        "A PRI above 191 (facility above 23) is no valid PRI in RFC 3164 or 5424: Sluice keeps the frame whole as MESSAGE with pri 13, tagged .sluice.parse_error and counted as malformed; syslog-ng reads facility 124.",
    ),
    (
        "<0013>Nov 23 14:07:17 h p: x",
        "A PRI has at most three digits (RFC 5424): kept whole and tagged, as above; syslog-ng reads 13.",
    ),
    (
        "<13>1 2026-13-45T99:99:99Z h a - - - bad stamp",
        "An impossible date is a parse error (kept whole and tagged); syslog-ng rolls it over into another date (2027-02-22T03:40:39).",
    ),
    (
        "<abc>not a pri",
        "A frame that does not parse: syslog-ng replaces it with its own message (PROGRAM syslog-ng, pri 43, \"Error processing log message: FRAME\"); Sluice keeps the sender's frame whole as MESSAGE with pri 13, tagged .sluice.parse_error and counted as malformed.",
    ),
    (
        "<13",
        "As above: an unclosed PRI (syslog-ng writes an empty MESSAGE).",
    ),
    (
        "<13>1 2026-11-23T14:07:17Z h a - - [unterminated sd",
        "As above: structured data that does not close.",
    ),
    (
        "<13>1 2026-11-23T14:07:17Z h a - - [a b=c] unquoted value",
        "As above: an unquoted SD value.",
    ),
    (
        "<13>1 2026-11-23T14:07:17Z h app - - [a b=\"x]y\"] inner bracket",
        "As above: an unescaped `]` in an SD value.",
    ),
    (
        "<13>1 2026-11-23T14:07:17Z h app - - [a b=\"c\"]no space",
        "As above: no space between structured data and MSG.",
    ),
    (
        "${PROTO} over transport(\"framed\")",
        "syslog-ng shows 0 for its framed transport; Sluice shows 6, the TCP it came over (not compared on that wire).",
    ),
    (
        "a NUL byte inside a value, in string functions",
        "syslog-ng's string and list functions read values as C strings and stop at a NUL; Sluice's keep every byte (not compared for such input).",
    ),
    (
        "$(indent-multi-line)",
        "syslog-ng's rewrites MESSAGE itself, so every ${MESSAGE} of the same template shows the indentation too; Sluice's leaves the message alone (compared in unit tests, not here).",
    ),
    (
        "../../escape as HOST in file(\"logs/${HOST}.log\")",
        "syslog-ng refuses a file path with `../` or `/..` in it (\"Spurious path\") and drops the message, and lets a value's `/` make directories; Sluice neutralises the values in a path (template/confine.rs) and writes the message to logs/.._.._escape.log (checked in network.rs, not here).",
    ),
    (
        "syslog() and network() destinations after a lost connection",
        "Sluice sends again every frame the peer's kernel had not acknowledged, and those written in the last second (a receiver that stops drops what it had not read yet); syslog-ng sends neither again. A few duplicates after a reconnect are the price (checked in forward.rs).",
    ),
    (
        "tls() of a destination without ca-file() or ca-dir()",
        "Sluice verifies the server against the system's CAs; syslog-ng's refuses every server.",
    ),
    (
        "a server certificate naming its host only in its CN",
        "Sluice checks the host name against subjectAltName only (RFC 6125); syslog-ng falls back to the most specific CN.",
    ),
    (
        "time-reopen() of a destination",
        "The first reconnect comes after a second, then after twice as long each time up to time-reopen(); syslog-ng waits time-reopen() each time.",
    ),
    (
        "ip-protocol() of a destination",
        "Unset, every address the host resolves to is tried, IPv4 or IPv6; syslog-ng's default is 4.",
    ),
    (
        "internal() messages forwarded with syslog()",
        "syslog-ng adds [meta sequenceId=\"N\"] to its own messages; Sluice forwards its internal() messages' structured data as it is.",
    ),
    (
        "http() answered 4xx",
        "Sluice drops the batch with an error naming the status and counts it (429 is retried); syslog-ng 3.38 retries most 4xx (400, 401, 403, 404) without end. response-action() sets either way (checked in http.rs).",
    ),
    (
        "http() without batching",
        "syslog-ng adds X-Syslog-Host, X-Syslog-Program, X-Syslog-Facility and X-Syslog-Level to requests of one message; Sluice sends the headers() asked for.",
    ),
    (
        "network() without flags(syslog-protocol)",
        "Sluice tells RFC 5424 from RFC 3164 per message on every network() source, and detects octet counting per connection (`LEN SP <`); syslog-ng needs flags(syslog-protocol) and transport(\"framed\") for that. The comparison gives syslog-ng those options.",
    ),
];

/// The fields compared, one macro or template function each.
const FIELDS: &[&str] = &[
    "${PRI}",
    "${FACILITY}",
    "${FACILITY_NUM}",
    "${SEVERITY}",
    "${LEVEL_NUM}",
    "${HOST}",
    "${HOST_FROM}",
    "${SOURCEIP}",
    "${PROGRAM}",
    "${PID}",
    "${MSGID}",
    "${MSGHDR}",
    "${LEGACY_MSGHDR}",
    "${MESSAGE}",
    "${SDATA}",
    "${TAG}",
    "${BSDTAG}",
    "${S_UNIXTIME}",
    "${S_ISODATE}",
    "${S_STAMP}",
    "${S_DATE}",
    "${S_FULLDATE}",
    "${S_YEAR}-${S_MONTH}-${S_DAY} ${S_HOUR}:${S_MIN}:${S_SEC} ${S_TZOFFSET} ${S_WEEKDAY} ${S_MONTH_ABBREV}",
    "${S_MSEC} ${S_USEC}",
    "$(format-json --scope rfc5424 --exclude DATE)",
    "$(format-json --scope sdata)",
    "$(format-json msg=${MESSAGE} host=${HOST} p=${PROGRAM})",
    "${TAGS}",
    "${SOURCE}",
    "${MSGONLY}",
    "${FULLHOST}",
    "${FULLHOST_FROM}",
    "${DESTIP}",
    "${PROTO}",
    "${SEQNUM}|${RCPTID}|${UNIQID}",
    "$(format-json --scope nv-pairs)",
    "$(format-json --scope all-nv-pairs)",
    "$(format-json --scope selected-macros --exclude DATE)",
    "$(format-json n=int(${PRI}) b=boolean(true) p=string(${PID}) --rekey .* --shift 1 --omit-empty-values --scope sdata)",
    "$(format-flat-json --scope rfc5424 --exclude DATE)",
    "$(format-welf --scope rfc5424 --exclude DATE)",
    "$(format-cef-extension --scope rfc5424 --exclude DATE)",
    "$(format-cef-extension --subkeys .SDATA.)|$(format-json --subkeys .SDATA.meta.)",
    "$(substr ${MESSAGE} 2 5)|$(strip ${MSGID})|$(length ${MESSAGE})",
    "$(sanitize ${HOST} ${PROGRAM})|$(sanitize --ctrl-chars --replacement . ${MESSAGE})",
    "$(padding ${PID} 8 0)|$(replace-delimiter ' ' - ${MESSAGE})",
    "$(or ${PID} ${MSGID} none)|$(ipv4-to-int ${SOURCEIP})",
    "$(md5 ${MESSAGE})|$(sha1 ${MESSAGE})|$(sha256 ${MESSAGE})|$(hash --length 8 ${MESSAGE})",
    "$(base64-encode ${MESSAGE})|$(url-encode ${MESSAGE})|$(url-decode ${MESSAGE})",
    "$(+ ${PRI} 1)|$(- ${PRI} 200)|$(* ${FACILITY_NUM} 3)|$(/ ${PRI} 4)|$(% ${PRI} 7)",
    "$(explode ' ' ${MESSAGE})|$(list-count $(explode ' ' ${MESSAGE}))|$(list-nth 1 $(explode ' ' ${MESSAGE}))",
    "$(implode - $(explode ' ' ${MESSAGE}))|$(list-concat ${PROGRAM} ${HOST})",
    "$(grep program(p) ${MSG})|$(grep --max-count 1 facility(user) ${PID} ${MSGID})|$(grep ('$PROGRAM' eq 'app') x)|$(grep 'level(err..emerg) or host(web)' y)",
];

/// Fields whose value is a receive time when the message carries no stamp;
/// the two daemons receive at slightly different times.
const DATE_FIELDS: std::ops::Range<usize> = 17..24;
const UNIXTIME_FIELD: usize = 17;

/// Between fields and after each record: bytes no corpus line contains.
const SEP: &str = "\u{1f}";
const END: &str = "\u{1e}";

fn template() -> String {
    template_of(FIELDS)
}

fn template_of(fields: &[&str]) -> String {
    let mut t = fields.join(SEP);
    t.push_str(END);
    t.push_str("\\n");
    t
}

/// The corpus: RFC 3164 lines as real senders write them.
const BSD: &[&str] = &[
    "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "<13>Nov 23 14:07:17 h prog[abc][def]: x",
    "<13>Nov 23 14:07:17 h prog[]: x",
    "<13>Nov 23 14:07:17 h prog message",
    "<13>Nov 23 14:07:17 h prog[123]:x",
    "<13>Nov 23 14:07:17 h prog:  two spaces",
    "<13>Nov 23 14:07:17 h [x]: y",
    "<13>Nov 23 14:07:17 h :nothing",
    "<14>Nov 23 14:07:17 h prog[12] no colon",
    "<13>Nov  3 04:07:17 h prog: single digit day",
    "<13>Nov 23 14:07:17.123 h p: msec",
    "<13>Nov 23 14:07:17.123456 h p: usec",
    "<13>2026-11-23T14:07:17.123+01:00 h p[1]: iso stamp",
    "<13>2026-11-23T14:07:17Z h p: iso zulu",
    "<13>2026-11-23T14:07:17 h p: iso without zone",
    "<13>Nov 23 14:07:17 h  p: two spaces after host",
    "<13>Nov 23 14:07:17 h last message repeated 3 times",
    "<13>Nov 23 14:07:17 Message forwarded from aixhost: prog: aix",
    "<13>Nov 23 14:07:17 2001:db8::1 p: v6 host",
    "<13>Nov 23 14:07:17 h.example.com p: fqdn host",
    "<13>Nov 23 14:07:17 h p: unicode \u{fc}n\u{ef}c\u{f6}d\u{e9}",
    "<13>Nov 23 14:07:17 h p: trailing spaces   ",
    "<13>Nov 23 14:07:17 h p:\ttab",
    "<191>Nov 23 14:07:17 h p: local7.debug",
    "<0>Nov 23 14:07:17 h p: kern.emerg",
    "<13>Nov 23 14:07:17 h p[1]: [bracket] in message",
    "<13>Nov 23 14:07:17 h p: a=b c=\"d e\"",
    "<187>58: *Mar  1 00:00:00.123: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
    "<187>59: .Mar  1 00:00:01.456: %LINEPROTO-5-UPDOWN: Line protocol on Interface Gi0/1",
    "<187>Mar  1 00:00:02: %SYS-5-CONFIG_I: Configured from console",
    "<13>hello world",
    "<13>prog: no stamp",
    "<13>prog[42]: no stamp with pid",
    "12345 hello",
    "2026-11-23T14:07:17Z myhost prog: stamp without pri",
    "no pri at all",
    "<13>",
    "<13>Nov 23 14:07:17 h p: nul\0inside",
    "<13>\0 \0Nov 23 14:07:17 \0h \0p: nuls between fields",
];

/// RFC 5424 lines, and broken ones.
const IETF: &[&str] = &[
    "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event log entry",
    "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
    "<13>1 2026-11-23T14:07:17.123456+05:30 h app 12 ID1 [a b=\"c\\\"d\" e=\"f\\\\g\" h=\"i\\]j\"] escapes",
    "<13>1 2026-11-23T14:07:17Z h app - - [x@1 a=\"1\"][y@2 b=\"2\" c=\"3\"] two elements",
    "<13>1 2026-11-23T14:07:17Z h app - - [meta sequenceId=\"7\"] meta",
    "<13>1 - - - - - -",
    "<13>1 - - - - - - nil header",
    "<13>1 2026-11-23T14:07:17Z h app 12 ID1 - \u{feff}bom message",
    "<13>1 2026-11-23T14:07:17Z h app 12 ID1 -",
    "<13>1 2026-11-23T14:07:17Z h app 12 ID1 - ",
    "<13>1 2026-11-23T14:07:17Z h app - - [a b=\"x\\y\"] lone backslash",
    "<13>1 2026-11-23T14:07:17Z h app - - [a@1][b@2 x=\"1\"] empty element",
];

/// A running syslog-ng with its own persist file, pid file and control socket,
/// writing into `out.log` in its directory.
pub struct SyslogNg {
    child: Child,
    pub dir: TempDir,
}

impl SyslogNg {
    /// Starts syslog-ng on `config`, where `OUT` stands for its output file, and
    /// waits until `probe_port` accepts.
    pub fn start(config: &str, probe_port: u16) -> SyslogNg {
        let dir = TempDir::new("syslog-ng");
        let out = dir.join("out.log");
        let conf = dir.write(
            "syslog-ng.conf",
            &config.replace("OUT", &out.display().to_string()),
        );
        let child = Command::new("syslog-ng")
            .args(["-F", "--no-caps", "-f"])
            .arg(&conf)
            .arg("-R")
            .arg(dir.join("persist"))
            .arg("-p")
            .arg(dir.join("pid"))
            .arg("-c")
            .arg(dir.join("ctl"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .expect("run syslog-ng");
        let mut s = SyslogNg { child, dir };
        let up = wait_until(WAIT, || {
            matches!(s.child.try_wait(), Ok(Some(_)))
                || TcpStream::connect(("127.0.0.1", probe_port)).is_ok()
        });
        if !up || !matches!(s.child.try_wait(), Ok(None)) {
            panic!(
                "syslog-ng did not come up:\n{}",
                std::fs::read_to_string(s.dir.join("stderr")).unwrap_or_default()
            );
        }
        s
    }
}

impl SyslogNg {
    /// The file `OUT` in the config stands for.
    pub fn out(&self) -> std::path::PathBuf {
        self.dir.join("out.log")
    }

    /// Stops syslog-ng as a service stop does (SIGTERM): it writes out what
    /// it has read before it exits.
    pub fn stop(mut self) {
        signal_pid(self.child.id(), SIGTERM);
        let _ = self.child.wait();
    }

    /// What syslog-ng wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }
}

impl Drop for SyslogNg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the corpus travels.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Wire {
    Newline,
    Octet,
    Udp,
}

impl Wire {
    /// The messages a frame becomes (the same in both daemons): syslog-ng's
    /// text framing also ends a line at NUL, and drops blank lines and empty
    /// datagrams.
    fn messages(self, frame: &[u8]) -> Vec<&[u8]> {
        match self {
            Wire::Udp | Wire::Octet => vec![frame],
            Wire::Newline => frame
                .split(|&c| c == 0)
                .filter(|l| !l.iter().all(|&c| c == b'\r'))
                .collect(),
        }
        .into_iter()
        .filter(|f| !f.is_empty())
        .collect()
    }
}

/// Sends `frames` (then a sentinel) to `port` framed as `wire`.
fn send(wire: Wire, port: u16, frames: &[Vec<u8>], sentinel: &str) {
    let all = frames
        .iter()
        .map(Vec::as_slice)
        .chain([sentinel.as_bytes()]);
    if wire == Wire::Udp {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        for f in all {
            s.send_to(f, ("127.0.0.1", port)).unwrap();
            // Loopback keeps order, but a burst could overflow a receive buffer.
            std::thread::sleep(Duration::from_millis(2));
        }
        return;
    }
    let mut buf = Vec::new();
    for f in all {
        if wire == Wire::Octet {
            buf.extend_from_slice(format!("{} ", f.len()).as_bytes());
            buf.extend_from_slice(f);
        } else {
            buf.extend_from_slice(f);
            buf.push(b'\n');
        }
    }
    // One write: a multi-message stream, as a busy sender's segments are.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&buf).unwrap();
}

/// The records of an output file, each split into its fields.
fn records(path: &Path) -> Vec<Vec<String>> {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
    text.split(&format!("{END}\n"))
        .filter(|r| !r.is_empty())
        .map(|r| r.split(SEP).map(str::to_string).collect())
        .collect()
}

/// Waits for the record holding `sentinel` and returns the records after
/// `skip` and before it, and where the next wire's records start.
fn collect(path: &Path, skip: usize, sentinel: &str, who: &str) -> (Vec<Vec<String>>, usize) {
    let find = |got: &[Vec<String>]| {
        got.iter()
            .position(|r| r.iter().any(|f| f.contains(sentinel)))
    };
    let mut got = Vec::new();
    let done = wait_until(WAIT, || {
        got = records(path);
        find(&got).is_some()
    });
    assert!(
        done,
        "{who} never wrote the sentinel {sentinel}; got {got:#?}"
    );
    let at = find(&got).unwrap_or(got.len());
    (got[skip.min(at)..at].to_vec(), at + 1)
}

/// A message without a stamp is dated when received: the two daemons differ by
/// milliseconds there, so such dates are compared as "receive time".
fn normalise(mut r: Vec<String>) -> Vec<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let recent = r
        .get(UNIXTIME_FIELD)
        .and_then(|u| u.parse::<i64>().ok())
        .is_some_and(|t| (now - t).abs() < 600);
    if recent {
        for i in DATE_FIELDS {
            if let Some(f) = r.get_mut(i) {
                *f = "<receive time>".into();
            }
        }
    }
    r
}

/// The corpus as frames for one wire: every line, plus what only that wire
/// can carry (blank lines in a stream, empty datagrams, embedded newlines).
fn corpus(wire: Wire) -> Vec<Vec<u8>> {
    let mut frames: Vec<Vec<u8>> = BSD
        .iter()
        .chain(IETF)
        .map(|l| l.as_bytes().to_vec())
        .collect();
    frames.push(b"\x00\xff\xfe binary junk".to_vec());
    frames.push(b" ".to_vec());
    match wire {
        Wire::Newline => {
            for blank in [&b""[..], b"\r", b"\x00", b"", b"\r\x00"] {
                frames.insert(frames.len() / 2, blank.to_vec());
            }
            frames.push(b"<13>Nov 23 14:07:17 h p: crlf ended\r".to_vec());
        }
        Wire::Octet => {
            frames.push(b"<13>Nov 23 14:07:17 h p: line one\nline two".to_vec());
            frames.push(b"<13>1 2026-11-23T14:07:17Z h app - - - multi\nline\n".to_vec());
        }
        Wire::Udp => {
            frames.insert(3, Vec::new());
            frames.push(b"\n".to_vec());
            frames.push(b"<13>Nov 23 14:07:17 h p: newline ended\n".to_vec());
        }
    }
    frames
}

#[test]
fn same_bytes_in_same_fields_out_as_syslog_ng() {
    if !require("syslog-ng") {
        return;
    }
    let (newline, octet) = (free_port(), free_port());
    let (sng_newline, sng_octet) = (free_port(), free_port());
    let t = template();
    let globals = "options { keep-hostname(yes); use-dns(no); time-zone(\"UTC\"); recv-time-zone(\"UTC\"); };";
    let sng = SyslogNg::start(
        &format!(
            r#"@version: 3.38
{globals}
source s_net {{
    network(ip("127.0.0.1") port({sng_newline}) transport("tcp") flags(syslog-protocol));
    network(ip("127.0.0.1") port({sng_newline}) transport("udp") flags(syslog-protocol));
    network(ip("127.0.0.1") port({sng_octet}) transport("framed") flags(syslog-protocol));
}};
destination d {{ file("OUT" template("{t}")); }};
log {{ source(s_net); destination(d); }};
"#
        ),
        sng_newline,
    );
    let sluice = Daemon::start(&format!(
        r#"{globals}
source s_net {{
    network(ip("127.0.0.1") port({newline}) transport("tcp"));
    network(ip("127.0.0.1") port({newline}) transport("udp"));
    network(ip("127.0.0.1") port({octet}) transport("tcp"));
}};
destination d {{ file("out.log" template("{t}")); }};
log {{ source(s_net); destination(d); }};
"#
    ));
    let (sng_out, sluice_out) = (sng.dir.join("out.log"), sluice.dir.join("out.log"));
    let mut diffs = Vec::new();
    let (mut sng_seen, mut sluice_seen) = (0, 0);
    for wire in [Wire::Newline, Wire::Octet, Wire::Udp] {
        let frames = corpus(wire);
        let marker = format!("sentinel-{wire:?}");
        let sentinel = format!("<13>Nov 23 14:07:17 h p: {marker}");
        let (sng_port, sluice_port) = match wire {
            Wire::Octet => (sng_octet, octet),
            _ => (sng_newline, newline),
        };
        send(wire, sng_port, &frames, &sentinel);
        send(wire, sluice_port, &frames, &sentinel);
        let (want, n) = collect(&sng_out, sng_seen, &marker, "syslog-ng");
        sng_seen = n;
        let (got, n) = collect(&sluice_out, sluice_seen, &marker, "sluice");
        sluice_seen = n;
        let inputs: Vec<&[u8]> = frames.iter().flat_map(|f| wire.messages(f)).collect();
        assert_eq!(
            want.len(),
            inputs.len(),
            "syslog-ng wrote {} records for {} {wire:?} frames (blank ones dropped): {want:#?}",
            want.len(),
            inputs.len()
        );
        if got.len() != want.len() {
            diffs.push(format!(
                "{wire:?}: syslog-ng wrote {} records, sluice {}:\n  syslog-ng: {want:?}\n  sluice:    {got:?}",
                want.len(),
                got.len()
            ));
            continue;
        }
        for ((input, w), g) in inputs.iter().zip(want).zip(got) {
            let (w, g) = (normalise(w), normalise(g));
            for (i, field) in FIELDS.iter().enumerate() {
                if wire == Wire::Octet && *field == "${PROTO}" {
                    continue; // see DELIBERATE
                }
                if input.contains(&0) && field.starts_with("$(") && !field.starts_with("$(format-")
                {
                    continue; // see DELIBERATE
                }
                let (wv, gv) = (w.get(i), g.get(i));
                if wv != gv {
                    diffs.push(format!(
                        "{wire:?} {:?}\n    {field}\n    syslog-ng: {wv:?}\n    sluice:    {gv:?}",
                        String::from_utf8_lossy(input)
                    ));
                }
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences from syslog-ng:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn deliberate_differences_behave_as_documented() {
    let port = free_port();
    let d = Daemon::start(&format!(
        r#"source s {{ network(ip("127.0.0.1") port({port})); }};
destination d {{ file("out.log" template("${{PRI}}|${{TAGS}}|${{MESSAGE}}\n")); }};
log {{ source(s); destination(d); }};
"#
    ));
    let lines: Vec<String> = DELIBERATE
        .iter()
        .filter(|(input, _)| input.starts_with('<'))
        .map(|(input, _)| input.to_string())
        .collect();
    send_tcp(port, lines.clone());
    let got = wait_lines(&d.dir.join("out.log"), lines.len(), WAIT);
    let want: Vec<String> = lines
        .iter()
        .map(|l| format!("13|.source.s,.sluice.parse_error|{l}"))
        .collect();
    assert_eq!(got, want);
}

/// keep-hostname(), chain-hostnames(), use-dns() (127.0.0.1 resolves through
/// /etc/hosts to localhost), use-fqdn() and normalize-hostnames(), globally and
/// per source, against syslog-ng.
#[test]
fn host_options_match_syslog_ng() {
    if !require("syslog-ng") {
        return;
    }
    const HOST_FIELDS: &[&str] = &[
        "${HOST}",
        "${FULLHOST}",
        "${HOST_FROM}",
        "${FULLHOST_FROM}",
        "$(format-json --scope nv-pairs --exclude SOURCE)",
    ];
    let lines: Vec<Vec<u8>> = [
        "<13>Nov 23 14:07:17 Web01.Example.COM p: sent fqdn",
        "<13>Nov 23 14:07:17 h2 p: sent short",
        "<13>p: none sent",
        "<13>Nov 23 14:07:17 a/b p: sent chain",
    ]
    .iter()
    .map(|l| l.as_bytes().to_vec())
    .collect();
    let hosts_dir = TempDir::new("hosts");
    let hosts = hosts_dir.write("hosts", "127.0.0.1 Relay.Example.ORG relay\n");
    let mut diffs = Vec::new();
    for (globals, source_opts) in [
        ("use-dns(no); keep-hostname(yes);", ""),
        ("use-dns(no); keep-hostname(no);", ""),
        ("use-dns(no); keep-hostname(no); chain-hostnames(yes);", ""),
        ("use-dns(yes); keep-hostname(no); chain-hostnames(yes);", ""),
        (
            "use-dns(yes); keep-hostname(yes); use-fqdn(yes); normalize-hostnames(yes);",
            "",
        ),
        ("use-dns(persist-only); keep-hostname(no);", ""),
        (
            "use-dns(persist-only); keep-hostname(no); dns-cache-hosts(\"HOSTS\");",
            "",
        ),
        (
            "use-dns(yes); keep-hostname(no); use-fqdn(no); dns-cache-hosts(\"HOSTS\");",
            "",
        ),
        (
            "use-dns(no); keep-hostname(yes);",
            "keep-hostname(no) use-dns(yes)",
        ),
        ("use-dns(yes); keep-hostname(no);", "chain-hostnames(yes)"),
    ] {
        let globals = globals.replace("HOSTS", &hosts.display().to_string());
        let (port, sng_port) = (free_port(), free_port());
        let t = template_of(HOST_FIELDS);
        let sng = SyslogNg::start(
            &format!(
                "@version: 3.38\noptions {{ {globals} }};\n\
                 source s {{ network(ip(\"127.0.0.1\") port({sng_port}) transport(\"tcp\") {source_opts}); }};\n\
                 destination d {{ file(\"OUT\" template(\"{t}\")); }};\nlog {{ source(s); destination(d); }};\n"
            ),
            sng_port,
        );
        let sluice = Daemon::start(&format!(
            "options {{ {globals} }};\n\
             source s {{ network(ip(\"127.0.0.1\") port({port}) transport(\"tcp\") {source_opts}); }};\n\
             destination d {{ file(\"out.log\" template(\"{t}\")); }};\nlog {{ source(s); destination(d); }};\n"
        ));
        let sentinel = "<13>Nov 23 14:07:17 h p: sentinel-hosts";
        send(Wire::Newline, sng_port, &lines, sentinel);
        send(Wire::Newline, port, &lines, sentinel);
        let (want, _) = collect(&sng.dir.join("out.log"), 0, "sentinel-hosts", "syslog-ng");
        let (got, _) = collect(&sluice.dir.join("out.log"), 0, "sentinel-hosts", "sluice");
        assert_eq!(want.len(), lines.len(), "{want:?}");
        if want != got {
            diffs.push(format!(
                "options {{ {globals} }} source {{ {source_opts} }}\n  syslog-ng: {want:?}\n  sluice:    {got:?}"
            ));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn every_deliberate_difference_is_in_the_man_page() {
    let man = std::fs::read_to_string(repo().join("man/sluice.conf.5")).unwrap();
    let plain = man.replace("\\-", "-");
    // "As above" entries share the man page's entry before them.
    for (input, _) in DELIBERATE
        .iter()
        .filter(|(_, why)| !why.starts_with("As above"))
    {
        assert!(
            plain.contains(&format!(".B {input}\n")),
            "sluice.conf(5) does not list the difference `{input}`"
        );
    }
}

/// Named templates (both forms, `template(NAME)` and `$(template NAME)`),
/// transport("framed"), flags(no-multi-line) and flags(store-raw-message),
/// against syslog-ng.
#[test]
fn named_templates_and_source_flags_match_syslog_ng() {
    if !require("syslog-ng") {
        return;
    }
    let body = |port: u16, out: &str| {
        format!(
            "options {{ keep-hostname(yes); use-dns(no); }};\n\
             template t_pid \"${{PID}}\";\n\
             template t_short \"${{PROGRAM}}[$(template t_pid)]\";\n\
             template t_line {{ template(\"${{HOST}} ${{MSG}}|$(template t_short)|${{RAWMSG}}\\n\"); template-escape(no); }};\n\
             source s {{ network(ip(\"127.0.0.1\") port({port}) transport(\"framed\") flags(no-multi-line, store-raw-message)); }};\n\
             destination d {{ file(\"{out}\" template(t_line)); }};\n\
             log {{ source(s); destination(d); }};\n"
        )
    };
    let (port, sng_port) = (free_port(), free_port());
    let sng = SyslogNg::start(
        &format!("@version: 3.38\n{}", body(sng_port, "OUT")),
        sng_port,
    );
    let sluice = Daemon::start(&body(port, "out.log"));
    // RFC 5424 is left out: syslog-ng reads it only with flags(syslog-protocol).
    let frames: Vec<Vec<u8>> = vec![
        b"<13>Nov 23 14:07:17 h p[1]: one\ntwo\r\nthree".to_vec(),
        b"<13>Nov 23 14:07:17 h p: a\rb".to_vec(),
    ];
    let sentinel = "<13>Nov 23 14:07:17 h p: sentinel-named";
    send(Wire::Octet, sng_port, &frames, sentinel);
    send(Wire::Octet, port, &frames, sentinel);
    let read = |p: &Path| {
        let mut got = String::new();
        wait_until(WAIT, || {
            got = std::fs::read_to_string(p).unwrap_or_default();
            got.contains("sentinel-named|p[]|")
        });
        got
    };
    let want = read(&sng.dir.join("out.log"));
    let got = read(&sluice.dir.join("out.log"));
    assert!(want.contains("sentinel-named"), "{want:?}");
    assert_eq!(got, want);
}
