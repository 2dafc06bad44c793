//! network() sources into file() destinations, over real sockets.

use crate::harness::*;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn tcp_to_file(port: u16, template: &str, extra: &str) -> String {
    format!(
        "@version: 1.0\n\
         source s {{ network(ip(\"127.0.0.1\") port({port}) transport(\"tcp\") max-connections(20) {extra}); \
         network(ip(\"127.0.0.1\") port({port}) transport(\"udp\")); }};\n\
         destination d {{ file(\"out.log\" template(\"{template}\")); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n"
    )
}

/// Asserts that `lines` holds `prefix-C-N` for every connection C < conns and
/// N < per_conn, each exactly once.
fn assert_exactly_once(lines: &[String], conns: usize, per_conn: usize) {
    let mut seen = HashSet::new();
    for l in lines {
        assert!(seen.insert(l.clone()), "duplicate line: {l}");
    }
    for c in 0..conns {
        for n in 0..per_conn {
            let want = format!("msg-{c}-{n}");
            assert!(seen.contains(&want), "missing {want}");
        }
    }
    assert_eq!(lines.len(), conns * per_conn);
}

#[test]
fn hundred_thousand_messages_over_four_connections_arrive_exactly_once() {
    let port = free_port();
    let d = Daemon::start(&tcp_to_file(port, "${MESSAGE}\\n", ""));
    let senders: Vec<_> = (0..4)
        .map(|c| {
            std::thread::spawn(move || {
                send_tcp(
                    port,
                    (0..25_000)
                        .map(move |n| format!("<13>Nov 23 14:07:17 host prog[1]: msg-{c}-{n}")),
                )
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let got = wait_lines(&d.dir.join("out.log"), 100_000, WAIT);
    assert_exactly_once(&got, 4, 25_000);
    assert_eq!(d.stat("source.s#0.received"), 100_000);
    assert_eq!(d.stat("destination.d#0.written"), 100_000);
    assert_eq!(d.stat("destination.d#0.dropped"), 0);
    assert!(d.stop().success());
}

#[test]
fn rfc5424_octet_counted_and_rfc3164_render_through_the_template() {
    let port = free_port();
    let d = Daemon::start(&tcp_to_file(
        port,
        "${HOST}|${PROGRAM}|${PID}|${MSGID}|${.SDATA.req@32473.status}|${FACILITY}.${SEVERITY}|${MESSAGE}\\n",
        "",
    ));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let m1 = "<165>1 2026-11-23T14:07:17.003Z web1 nginx 4242 ID47 [req@32473 status=\"503\" path=\"/a\\\"b\"] upstream timed out";
    let m2 = "<13>1 2026-11-23T14:07:18Z web2 app - - - plain";
    let framed = format!("{} {m1}{} {m2}", m1.len(), m2.len());
    s.write_all(framed.as_bytes()).unwrap();
    drop(s);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"<38>Nov  3 09:01:02 db1 sshd[77]: Accepted publickey\n")
        .unwrap();
    drop(s);
    let got = wait_lines(&d.dir.join("out.log"), 3, WAIT);
    let got: HashSet<String> = got.into_iter().collect();
    for want in [
        "web1|nginx|4242|ID47|503|local4.notice|upstream timed out",
        "web2|app||||user.notice|plain",
        "db1|sshd|77|||auth.info|Accepted publickey",
    ] {
        assert!(got.contains(want), "missing `{want}` in {got:?}");
    }
}

#[test]
fn util_linux_logger_over_tcp_and_udp() {
    if !require("logger") {
        return;
    }
    let port = free_port();
    let d = Daemon::start(&tcp_to_file(port, "${PROGRAM}: ${MESSAGE}\\n", ""));
    let p = port.to_string();
    for (args, msg) in [
        (vec!["--tcp", "--octet-count"], "octet counted over tcp"),
        (vec!["--udp", "--rfc5424"], "rfc5424 over udp"),
        (vec!["--tcp", "--rfc3164"], "rfc3164 over tcp"),
    ] {
        let o = Command::new("logger")
            .args(["--server", "127.0.0.1", "--port", &p, "-t", "itest"])
            .args(&args)
            .arg(msg)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "logger {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let got = wait_lines(&d.dir.join("out.log"), 3, WAIT);
    let got: HashSet<String> = got.into_iter().collect();
    for want in [
        "itest: octet counted over tcp",
        "itest: rfc5424 over udp",
        "itest: rfc3164 over tcp",
    ] {
        assert!(got.contains(want), "missing `{want}` in {got:?}");
    }
}

#[test]
fn syslog_ng_loggen_stream_arrives_whole() {
    if !require("loggen") {
        return;
    }
    let port = free_port();
    let d = Daemon::start(&tcp_to_file(port, "${MESSAGE}\\n", ""));
    loggen(&["--inet", "--stream"], 20_000, port);
    let got = wait_lines(&d.dir.join("out.log"), 20_000, WAIT);
    assert_eq!(got.len(), 20_000);
    // loggen numbers its messages: every sequence number once.
    let seqs: HashSet<&str> = got
        .iter()
        .filter_map(|l| l.split("seq: ").nth(1)?.split(',').next())
        .collect();
    assert_eq!(seqs.len(), 20_000);
}

#[test]
fn malformed_frames_are_kept_tagged_and_counted() {
    let port = free_port();
    let d = Daemon::start(&tcp_to_file(port, "${TAGS}|${MSGHDR}${MESSAGE}\\n", ""));
    // A newline-framed connection with syntactically broken syslog.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"<999>not a priority\n<13>1 2026-13-45T99:99:99Z h a - - - bad stamp\n<13>1 2026-11-23T14:07:17Z h a - - [unterminated sd\n\x00\xff\xfe binary junk\n<13>Nov 23 14:07:17 h p: fine line\n").unwrap();
    drop(s);
    // An octet-counted connection whose count turns into garbage.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"9 <13>hello12x garbage here\n7 <13>end")
        .unwrap();
    drop(s);
    let got = wait_lines(&d.dir.join("out.log"), 8, WAIT);
    assert_eq!(got.len(), 8, "{got:#?}");
    let joined = got.join("\n");
    for want in [
        "not a priority",
        "bad stamp",
        "unterminated sd",
        "binary junk",
        "fine line",
        "hello",
        "garbage here",
        "end",
    ] {
        assert!(joined.contains(want), "missing `{want}` in:\n{joined}");
    }
    assert!(
        d.stat("source.s#0.malformed") >= 4,
        "{}",
        String::from_utf8_lossy(&d.ctl(&["stats"]).stdout)
    );
    assert!(
        got.iter().filter(|l| l.contains("parse_error")).count() >= 4,
        "{joined}"
    );
    // The connection did not stall: the daemon still takes new messages.
    send_tcp(port, [sl("after")]);
    let got = wait_lines(&d.dir.join("out.log"), 9, WAIT);
    assert!(got.iter().any(|l| l.ends_with("|app: after")), "{got:#?}");
}

#[test]
fn oversize_messages_are_split_or_truncated_and_counted() {
    let port = free_port();
    let d = Daemon::start(&tcp_to_file(
        port,
        "${MESSAGE}\\n",
        "log-msg-size(100) flags(no-parse)",
    ));
    let long = "x".repeat(250);
    send_tcp(port, [long.clone(), "short".to_string()]);
    let got = wait_lines(&d.dir.join("out.log"), 4, WAIT);
    assert_eq!(
        got.join(""),
        format!("{long}short"),
        "split keeps every byte: {got:?}"
    );
    assert_eq!(got.len(), 4, "250 bytes split into 100 + 100 + 50: {got:?}");
    assert_eq!(d.stat("source.s#0.oversize"), 1, "one oversize message");

    let port2 = free_port();
    let d2 = Daemon::start(&tcp_to_file(
        port2,
        "${MESSAGE}\\n",
        "log-msg-size(100) trim-large-messages(yes) flags(no-parse)",
    ));
    send_tcp(port2, [long, "short".to_string()]);
    let got = wait_lines(&d2.dir.join("out.log"), 2, WAIT);
    assert_eq!(got, vec!["x".repeat(100), "short".to_string()]);
    assert_eq!(d2.stat("source.s#0.oversize"), 1);
}

#[test]
fn udp_datagrams_arrive() {
    let port = free_port();
    let d = Daemon::start(&tcp_to_file(port, "${HOST}:${MESSAGE}\\n", ""));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for n in 0..200 {
        sock.send_to(
            format!("<13>Nov 23 14:07:17 udphost app: dgram-{n}").as_bytes(),
            ("127.0.0.1", port),
        )
        .unwrap();
        if n % 50 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let got = wait_lines(&d.dir.join("out.log"), 200, WAIT);
    let set: HashSet<String> = got.into_iter().collect();
    assert_eq!(set.len(), 200);
    assert!(set.contains("udphost:dgram-199"));
}

#[test]
fn templated_paths_create_directories_per_host() {
    let port = free_port();
    let conf = format!(
        "source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ file(\"hosts/${{HOST}}/${{S_YEAR}}${{S_MONTH}}.log\" create-dirs(yes) template(\"${{MESSAGE}}\\n\")); }};\n\
         log {{ source(s); destination(d); }};\n"
    );
    let d = Daemon::start(&conf);
    send_tcp(
        port,
        [
            "<13>1 2026-11-23T14:07:17Z alpha app - - - one".to_string(),
            "<13>1 2026-12-01T00:00:00Z beta app - - - two".to_string(),
            "<13>1 2026-11-23T14:07:18Z alpha app - - - three".to_string(),
            "<13>1 2026-11-23T14:07:18Z ../../escape app - - - nope".to_string(),
        ],
    );
    let a = wait_lines(&d.dir.join("hosts/alpha/202611.log"), 2, WAIT);
    assert_eq!(a, vec!["one", "three"]);
    assert_eq!(
        wait_lines(&d.dir.join("hosts/beta/202612.log"), 1, WAIT),
        vec!["two"]
    );
    // A hostile HOST cannot climb out of the directory, and its message is kept.
    assert_eq!(
        wait_lines(&d.dir.join("hosts/.._.._escape/202611.log"), 1, WAIT),
        vec!["nope"]
    );
    assert_eq!(d.stat("destination.d#0.dropped"), 0);
    assert!(!d.dir.path().parent().unwrap().join("escape").exists());
}

/// Every file under `dir`, by path relative to it, with its lines.
fn files_under(dir: &std::path::Path) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        // Not there yet: nothing written.
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                found.push((rel, lines(&p)));
            }
        }
    }
    found.sort();
    found
}

/// Values from the message cannot lead a templated path out of the directory its
/// text names: syslog-ng drops such messages ("Spurious path"); Sluice writes each
/// once, under a neutralised name (template/confine.rs).
#[test]
fn hostile_host_names_are_written_under_neutralised_names() {
    let dir = TempDir::new("confine");
    let port = free_port();
    let base = dir.path().display().to_string();
    let conf = format!(
        "source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d_flat {{ file(\"{base}/logs/${{HOST}}.log\" create-dirs(yes) template(\"${{MESSAGE}}\\n\")); }};\n\
         destination d_tree {{ file(\"{base}/tree/${{HOST}}/x.log\" create-dirs(yes) template(\"${{MESSAGE}}\\n\")); }};\n\
         log {{ source(s); destination(d_flat); destination(d_tree); }};\n"
    );
    let d = Daemon::start_in(dir, &conf).unwrap();
    let long = "a".repeat(255);
    let hosts = [
        "../../escape",
        "a/b",
        "..",
        ".",
        "/etc/passwd",
        "a/../../b",
        "web-1",
        &long,
    ];
    let lines: Vec<String> = hosts
        .iter()
        .enumerate()
        .map(|(n, h)| format!("<13>1 2026-11-23T14:07:17Z {h} app - - - m{n}"))
        .collect();
    send_tcp(port, lines);
    let want = |names: [&str; 8]| {
        let mut want: Vec<(String, Vec<String>)> = names
            .iter()
            .enumerate()
            .map(|(n, name)| (name.to_string(), vec![format!("m{n}")]))
            .collect();
        want.sort();
        want
    };
    // The 255-byte name plus ".log" is cut back to 255 bytes.
    let flat = want([
        ".._.._escape.log",
        "a_b.log",
        "...log",
        "..log",
        "_etc_passwd.log",
        "a_.._.._b.log",
        "web-1.log",
        &long,
    ]);
    let long_dir = format!("{long}/x.log");
    let tree = want([
        ".._.._escape/x.log",
        "a_b/x.log",
        "__/x.log",
        "_/x.log",
        "_etc_passwd/x.log",
        "a_.._.._b/x.log",
        "web-1/x.log",
        &long_dir,
    ]);
    let (logs, trees) = (d.dir.join("logs"), d.dir.join("tree"));
    let mut got = (Vec::new(), Vec::new());
    let arrived = wait_until(WAIT, || {
        got = (files_under(&logs), files_under(&trees));
        got.0
            .iter()
            .chain(&got.1)
            .map(|(_, l)| l.len())
            .sum::<usize>()
            == 16
    });
    assert!(arrived, "{got:?}");
    assert_eq!(got.0, flat);
    assert_eq!(got.1, tree);
    for name in ["escape", "escape.log", "b", "b.log"] {
        assert!(!d.dir.join(name).exists(), "{name}");
    }
    let above = d.dir.path().parent().unwrap();
    assert!(!above.join("escape").exists() && !above.join("escape.log").exists());
    assert_eq!(d.stat("destination.d_flat#0.dropped"), 0);
    assert_eq!(d.stat("destination.d_tree#0.dropped"), 0);
}

/// Global options set the defaults of every file(): permissions of files and
/// created directories, and (where we may chown) their owner and group.
#[test]
fn global_file_options_set_modes_and_owners() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let port = free_port();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let (uid, gid) = if root {
        (4242, 4343)
    } else {
        (u32::MAX, u32::MAX)
    };
    let owners = if root {
        format!("owner({uid}); group({gid}); dir-owner({uid}); dir-group({gid});")
    } else {
        String::new()
    };
    let conf = format!(
        "options {{ perm(0600); dir-perm(0700); }};\n\
         options {{ create-dirs(yes); perm(0640); dir-perm(0750); {owners} }};\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ file(\"logs/${{HOST}}/x.log\" template(\"${{MESSAGE}}\\n\")); }};\n\
         destination d_own {{ file(\"own.log\" perm(0604) template(\"${{MESSAGE}}\\n\")); }};\n\
         destination d_keep {{ file(\"keep.log\" perm(-1) template(\"${{MESSAGE}}\\n\")); }};\n\
         log {{ source(s); destination(d); destination(d_own); destination(d_keep); }};\n"
    );
    let dir = TempDir::new("file-modes");
    let keep = dir.write("keep.log", "");
    std::fs::set_permissions(&keep, std::fs::Permissions::from_mode(0o644)).unwrap();
    let d = Daemon::start_in(dir, &conf).unwrap();
    send_tcp(port, [sl("hello")]);
    assert_eq!(wait_lines(&d.dir.join("keep.log"), 1, WAIT), ["hello"]);
    assert_eq!(
        wait_lines(&d.dir.join("logs/host/x.log"), 1, WAIT),
        ["hello"]
    );
    assert_eq!(wait_lines(&d.dir.join("own.log"), 1, WAIT), ["hello"]);
    let meta = |p: &str| std::fs::metadata(d.dir.join(p)).unwrap();
    assert_eq!(meta("logs/host/x.log").permissions().mode() & 0o7777, 0o640);
    assert_eq!(meta("logs/host").permissions().mode() & 0o7777, 0o750);
    assert_eq!(meta("logs").permissions().mode() & 0o7777, 0o750);
    // A driver's own option beats the global one; -1 leaves the mode alone.
    assert_eq!(meta("own.log").permissions().mode() & 0o7777, 0o604);
    assert_eq!(meta("keep.log").permissions().mode() & 0o7777, 0o644);
    if root {
        for p in ["logs", "logs/host", "logs/host/x.log", "own.log"] {
            assert_eq!((meta(p).uid(), meta(p).gid()), (uid, gid), "{p}");
        }
    }
}

#[test]
fn unknown_users_and_groups_are_config_errors() {
    let dir = TempDir::new("bad-owner");
    let conf = dir.write(
        "bad.conf",
        "destination d { file(\"x\" owner(\"no-such-user-here\") group(nosuchgroup)); };\n",
    );
    let (code, err) = syntax_check(&conf);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("bad.conf:1:32: error: owner(): no user `no-such-user-here` on this system"),
        "{err}"
    );
    assert!(
        err.contains("group(): no group `nosuchgroup` on this system"),
        "{err}"
    );
}

/// A named pipe as the file: nothing reads it at first, so the destination
/// blocks; with flow control the source stops reading and TCP pushes back on
/// the sender; once a reader appears, everything arrives exactly once.
#[test]
fn flow_control_pushes_back_on_the_sender_and_loses_nothing() {
    let port = free_port();
    let dir = TempDir::new("fifo");
    let fifo = dir.fifo("pipe");
    let conf = format!(
        "options {{ log-fifo-size(1000); }};\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ file(\"{}\" template(\"${{MESSAGE}}\\n\")); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n",
        fifo.display()
    );
    let d = Daemon::start_in(dir, &conf).unwrap();
    const N: usize = 200_000;
    let sender = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut buf = Vec::new();
        for n in 0..N {
            buf.extend_from_slice(
                format!("<13>Nov 23 14:07:17 h p: msg-0-{n} {}\n", "p".repeat(150)).as_bytes(),
            );
        }
        s.write_all(&buf).unwrap();
    });
    // Nobody reads the pipe: the sender must get stuck well before the end.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !sender.is_finished(),
        "40 MB went through a destination nobody reads"
    );
    // The queue, plus the one read (256 KiB, under 1,500 of these lines) that
    // the driver took and is stuck writing.
    let queued = d.stat("destination.d#0.queued");
    assert!(queued <= 2500, "{queued} held > log-fifo-size and one read");
    assert_eq!(d.stat("destination.d#0.dropped"), 0);
    // Now read: everything arrives, once.
    let mut reader = std::fs::File::open(d.dir.join("pipe")).unwrap();
    let mut text = String::new();
    let collect = std::thread::spawn(move || {
        let mut chunk = vec![0u8; 1 << 16];
        let (mut all, mut lines) = (Vec::new(), 0);
        while lines < N {
            let n = reader.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&chunk[..n]);
            lines += chunk[..n].iter().filter(|&&b| b == b'\n').count();
        }
        all
    });
    sender.join().unwrap();
    let all = collect.join().unwrap();
    text.push_str(&String::from_utf8_lossy(&all));
    let got: Vec<String> = text
        .lines()
        .map(|l| l.split(' ').next().unwrap_or("").to_string())
        .collect();
    assert_exactly_once(&got, 1, N);
}

#[test]
fn without_flow_control_a_full_queue_drops_and_counts() {
    let port = free_port();
    let dir = TempDir::new("fifo-drop");
    let fifo = dir.fifo("pipe");
    let conf = format!(
        "options {{ log-fifo-size(500); }};\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ file(\"{}\"); }};\n\
         log {{ source(s); destination(d); }};\n",
        fifo.display()
    );
    let d = Daemon::start_in(dir, &conf).unwrap();
    send_tcp(
        port,
        (0..20_000).map(|n| format!("<13>Nov 23 14:07:17 h p: m{n}")),
    );
    assert!(wait_until(WAIT, || d.stat("source.s#0.received") == 20_000));
    let dropped = d.stat("destination.d#0.dropped");
    // Nothing reads the pipe: beyond the queue and the read the driver is stuck
    // writing, everything is dropped, and counted, and nothing is unaccounted.
    assert!(dropped >= 10_000, "dropped {dropped}");
    assert_eq!(d.stat("source.s#0.dropped"), dropped);
    assert_eq!(dropped + d.stat("destination.d#0.queued"), 20_000);
}

/// A full disk (/dev/full answers every write with ENOSPC) is a transient
/// error: the batch is retried with backoff, counted, reported with the path
/// and the reason, and never dropped; a stop says loudly what it could not write.
#[test]
fn a_full_disk_is_retried_and_reported_not_dropped() {
    let port = free_port();
    let mut d = Daemon::start(&format!(
        "source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ file(\"/dev/full\" template(\"${{MESSAGE}}\\n\")); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n"
    ));
    send_tcp(port, (0..10).map(|n| sl(&format!("m{n}"))));
    assert!(
        wait_until(WAIT, || d.stat("destination.d#0.errors") >= 3),
        "{}",
        d.log()
    );
    assert_eq!(d.stat("destination.d#0.dropped"), 0);
    assert_eq!(d.stat("destination.d#0.written"), 0);
    assert_eq!(d.stat("destination.d#0.queued"), 10);
    let log = d.log();
    assert!(log.contains("No space left on device"), "{log}");
    assert!(log.contains("/dev/full"), "{log}");
    // Backoff, not a busy loop: a handful of attempts in the time, not thousands.
    assert!(d.stat("destination.d#0.errors") < 50);
    assert!(d.terminate().success());
    assert!(
        d.log().contains("stopping with unwritten messages"),
        "{}",
        d.log()
    );
}

/// A sender that stops mid-frame holds up nobody else; when it finally hangs
/// up, its unterminated last line is delivered, as syslog-ng does.
#[test]
fn a_hung_sender_does_not_stall_other_connections() {
    let port = free_port();
    let d = Daemon::start(&tcp_to_file(port, "${MESSAGE}\\n", ""));
    let mut hung = TcpStream::connect(("127.0.0.1", port)).unwrap();
    hung.write_all(sl("half a li").as_bytes()).unwrap();
    send_tcp(port, (0..100).map(|n| sl(&format!("msg-0-{n}"))));
    let got = wait_lines(&d.dir.join("out.log"), 100, WAIT);
    assert_exactly_once(&got, 1, 100);
    drop(hung);
    let got = wait_lines(&d.dir.join("out.log"), 101, WAIT);
    assert_eq!(got.last().map(String::as_str), Some("half a li"));
}

/// options { bad-hostname() } keeps a word out of HOST, as syslog-ng does for
/// programs that log without a hostname.
#[test]
fn bad_hostname_keeps_program_names_out_of_host() {
    let port = free_port();
    let d = Daemon::start(&format!(
        "options {{ bad-hostname(\"^gconfd$\"); }};\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ file(\"out.log\" template(\"${{HOST}}|${{PROGRAM}}|${{MESSAGE}}\\n\")); }};\n\
         log {{ source(s); destination(d); }};\n"
    ));
    send_tcp(
        port,
        [
            "<13>Nov 23 14:07:17 gconfd (user-1234): saved".to_string(),
            "<13>Nov 23 14:07:17 web1 app: hello".to_string(),
        ],
    );
    let got = wait_lines(&d.dir.join("out.log"), 2, WAIT);
    assert_eq!(
        got,
        ["127.0.0.1|gconfd|(user-1234): saved", "web1|app|hello"]
    );
}

#[test]
fn blank_lines_become_no_messages() {
    // Regression: blank TCP lines and empty datagrams were logged as empty
    // messages; syslog-ng drops them, and so does Sluice (counted as empty).
    let port = free_port();
    let d = Daemon::start(&tcp_to_file(port, "${MSGHDR}${MESSAGE}\\n", ""));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"\n<13>one\n\r\n\n\0\n<13>two\n\n").unwrap();
    drop(s);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"9 <13>three0 0 8 <13>four\n").unwrap();
    drop(s);
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(b"", ("127.0.0.1", port)).unwrap();
    u.send_to(b"<13>five", ("127.0.0.1", port)).unwrap();
    let got = wait_lines(&d.dir.join("out.log"), 5, WAIT);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, ["five", "four", "one", "three", "two"], "{got:?}");
    assert!(wait_until(WAIT, || d.stat("source.s#0.empty") == 8));
    assert_eq!(d.stat("source.s#1.empty"), 1);
    assert_eq!(d.stat("source.s#0.received"), 4);
}

#[test]
fn a_connection_whose_first_line_starts_with_a_digit_stays_newline_framed() {
    // Regression: framing was chosen from the first byte, so these connections
    // were read as octet counted and their later lines swallowed.
    let port = free_port();
    let d = Daemon::start(&tcp_to_file(port, "${MSGHDR}${MESSAGE}\\n", ""));
    for first in ["2026-11-23T14:07:17Z myhost prog: first", "12345 hello"] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(format!("{first}\n<13>p: second\n<13>p: third\n").as_bytes())
            .unwrap();
    }
    let mut got = wait_lines(&d.dir.join("out.log"), 6, WAIT);
    got.sort();
    assert_eq!(
        got,
        [
            "12345 hello",
            "p: second",
            "p: second",
            "p: third",
            "p: third",
            "prog: first"
        ]
    );
    assert_eq!(d.stat("source.s#0.malformed"), 0);
}

/// 50,000 octet-counted RFC 5424 messages in one burst from one socket.
fn burst_5424(from: usize, to: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    for n in from..to {
        let m = format!("<13>1 2026-11-23T14:07:17Z host app {n} ID - msg-0-{n}");
        buf.extend_from_slice(format!("{} {m}", m.len()).as_bytes());
    }
    buf
}

#[test]
fn a_burst_without_flow_control_loses_nothing() {
    // Regression: syslog-ng 3.38 writes all of such a burst; Sluice dropped
    // 3,000-12,000 because the reader parsed a socket buffer at a time faster
    // than the writer rendered, and a full queue dropped at once.
    // A template that renders slower than the source parses makes the writer
    // fall behind for certain, in a debug build too.
    const N: usize = 50_000;
    for reload in [false, true] {
        let port = free_port();
        let d = Daemon::start(&format!(
            "source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
             destination d {{ file(\"out.log\" template(\"${{MESSAGE}} $(format-json --scope rfc5424)\\n\")); }};\n\
             log {{ source(s); destination(d); }};\n"
        ));
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&burst_5424(0, N / 2)).unwrap();
        if reload {
            d.signal(SIGHUP);
        }
        s.write_all(&burst_5424(N / 2, N)).unwrap();
        drop(s);
        let got = wait_lines(&d.dir.join("out.log"), N, WAIT);
        assert_eq!(d.stat("destination.d#0.dropped"), 0, "reload: {reload}");
        let got: Vec<String> = got
            .iter()
            .map(|l| l.split(' ').next().unwrap_or("").to_string())
            .collect();
        assert_exactly_once(&got, 1, N);
    }
}

/// Sends one line from each of `hosts` distinct hostnames over one connection.
fn from_hosts(port: u16, hosts: usize, tag: &str) {
    send_tcp(
        port,
        (0..hosts).map(|h| format!("<13>Nov 23 14:07:17 host{h} p: {tag}-{h}")),
    );
}

#[test]
fn more_hosts_than_descriptors_keeps_serving() {
    // Regression: with more per-host files than the descriptor limit, open
    // failed with EMFILE for ever, flow control stopped every source and the
    // control socket stopped answering. Files are now capped per destination,
    // least recently used closed first.
    let port = free_port();
    let d = Daemon::start_with_nofile(
        &format!(
            "source s {{ network(ip(\"127.0.0.1\") port({port}) max-connections(100)); }};\n\
             destination d {{ file(\"hosts/${{HOST}}.log\" create-dirs(yes) template(\"${{MESSAGE}}\\n\")); }};\n\
             log {{ source(s); destination(d); flags(flow-control); }};\n"
        ),
        64,
    );
    from_hosts(port, 300, "a");
    from_hosts(port, 300, "b");
    assert!(
        wait_until(WAIT, || d.stat("destination.d#0.written") == 600),
        "written {}:\n{}",
        d.stat("destination.d#0.written"),
        d.log()
    );
    for h in [0, 150, 299] {
        // Two connections: their order in a file is not fixed.
        let mut got = lines(&d.dir.join(&format!("hosts/host{h}.log")));
        got.sort();
        assert_eq!(got, [format!("a-{h}"), format!("b-{h}")]);
    }
}

#[test]
fn a_write_retried_for_want_of_descriptors_recovers() {
    // Regression: a destination retrying a failed open never ran its
    // housekeeping, so the idle files that held the descriptors were never
    // closed and it never recovered. Here idle clients hold most descriptors
    // while messages for many hosts arrive; stats must answer meanwhile, and
    // everything is written once the clients leave.
    let port = free_port();
    let d = Daemon::start_with_nofile(
        &format!(
            "source s {{ network(ip(\"127.0.0.1\") port({port}) max-connections(200)); }};\n\
             destination d {{ file(\"hosts/${{HOST}}.log\" create-dirs(yes) time-reap(1) template(\"${{MESSAGE}}\\n\")); }};\n\
             log {{ source(s); destination(d); flags(flow-control); }};\n"
        ),
        64,
    );
    let mut idle = Vec::new();
    while let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
        idle.push(s);
        if idle.len() == 60 {
            break;
        }
    }
    // Wait until the daemon has taken what it can of them.
    std::thread::sleep(Duration::from_millis(300));
    let sender = std::thread::spawn(move || {
        // Connecting may have to wait until a descriptor is free.
        for _ in 0..100 {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let mut buf = Vec::new();
                for h in 0..100 {
                    buf.extend_from_slice(
                        format!("<13>Nov 23 14:07:17 host{h} p: m-{h}\n").as_bytes(),
                    );
                }
                if s.write_all(&buf).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let o = d.ctl(&["stats"]);
    assert!(
        o.status.success(),
        "stats while out of descriptors: {:?}",
        o
    );
    drop(idle);
    sender.join().unwrap();
    assert!(
        wait_until(WAIT, || d.stat("destination.d#0.written") == 100),
        "written {}:\n{}",
        d.stat("destination.d#0.written"),
        d.log()
    );
    let warnings = d.log().matches("accept failed").count();
    assert!(warnings <= 2, "accept failures not throttled: {warnings}");
}

#[test]
fn accepted_connections_have_keepalive() {
    // Regression: a half-open connection (a peer gone without a FIN) held its
    // max-connections() slot for ever; keepalive probes now find it.
    if !require("ss") {
        return;
    }
    for (opts, want) in [
        (
            "tcp-keepalive-time(30) tcp-keepalive-intvl(5) tcp-keepalive-probes(3)",
            true,
        ),
        ("so-keepalive(no)", false),
    ] {
        let port = free_port();
        let _d = Daemon::start(&tcp_to_file(port, "${MESSAGE}\\n", opts));
        let _s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut shown = String::new();
        let seen = wait_until(WAIT, || {
            let o = Command::new("ss")
                .args(["-tnoH", "state", "established"])
                .arg(format!("( sport = :{port} )"))
                .output()
                .unwrap();
            shown = String::from_utf8_lossy(&o.stdout).into_owned();
            !shown.trim().is_empty()
        });
        assert!(seen, "ss shows no connection on {port}");
        assert_eq!(shown.contains("timer:(keepalive"), want, "{opts}: {shown}");
        if want {
            // The first probe is due within tcp-keepalive-time().
            let secs: u64 = shown
                .split("timer:(keepalive,")
                .nth(1)
                .and_then(|t| t.split("sec").next())
                .and_then(|t| {
                    t.trim_end_matches(|c: char| !c.is_ascii_digit())
                        .parse()
                        .ok()
                })
                .unwrap_or(u64::MAX);
            assert!(secs <= 30, "{shown}");
        }
    }
}

#[test]
fn receipt_ids_and_identity_macros() {
    let port = free_port();
    let d = Daemon::start(&format!(
        "options {{ use-uniqid(yes); }};\n\
         source s_in {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ file(\"out.log\" template(\"${{RCPTID}} ${{UNIQID}} ${{HOSTID}} ${{RUNID}} ${{SOURCE}} ${{PROTO}} ${{DESTIP}}:${{DESTPORT}} ${{TAGS}}\\n\")); }};\n\
         log {{ source(s_in); destination(d); }};\n"
    ));
    send_tcp(port, (0..3).map(|n| sl(&format!("m{n}"))));
    let got = wait_lines(&d.dir.join("out.log"), 3, WAIT);
    assert_eq!(got.len(), 3, "{got:?}");
    let hostid = got[0].split(' ').nth(2).unwrap().to_string();
    assert_eq!(hostid.len(), 8, "{hostid}");
    for (n, line) in got.iter().enumerate() {
        let id = n as u64 + 1;
        assert_eq!(
            *line,
            format!("{id} {hostid}@{id:016x} {hostid} 1 s_in 6 127.0.0.1:{port} .source.s_in")
        );
    }
    let persisted = std::fs::read_to_string(d.dir.join("state/sluice.persist")).unwrap();
    assert!(
        persisted.contains(&format!("hostid {hostid}\nrunid 1\n")),
        "{persisted}"
    );
}

#[test]
fn legacy_tcp_and_udp_source_drivers_listen_like_network() {
    let port = free_port();
    let d = Daemon::start(&format!(
        "source s {{ tcp(ip(\"127.0.0.1\") port({port})); udp(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ file(\"out.log\" template(\"${{PROTO}} ${{MESSAGE}}\\n\")); }};\n\
         log {{ source(s); destination(d); }};\n"
    ));
    send_tcp(port, [sl("over tcp")]);
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(sl("over udp").as_bytes(), ("127.0.0.1", port))
        .unwrap();
    let mut got = wait_lines(&d.dir.join("out.log"), 2, WAIT);
    got.sort();
    assert_eq!(got, ["17 over udp", "6 over tcp"]);
}

#[test]
fn idle_timeout_closes_silent_connections_and_frees_their_slot() {
    let port = free_port();
    let d = Daemon::start(&tcp_to_file(
        port,
        "${MESSAGE}\\n",
        "idle-timeout(1) max-connections(1)",
    ));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(sl("before going quiet").as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = std::time::Instant::now();
    let closed = matches!(s.read(&mut [0u8; 16]), Ok(0) | Err(_));
    assert!(closed, "the idle connection stayed open");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // Its slot is free again: a new client gets in under max-connections(1).
    assert!(wait_until(WAIT, || d.stat("source.s#0.open") == 0));
    send_tcp(port, [sl("after")]);
    assert_eq!(
        wait_lines(&d.dir.join("out.log"), 2, WAIT),
        ["before going quiet", "after"]
    );
}
