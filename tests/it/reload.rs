//! SIGHUP reloads, SIGTERM flushes, SIGUSR1 reopens.

use crate::harness::*;
use std::collections::HashSet;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn config(port: u16, template: &str) -> String {
    format!(
        "source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ file(\"out.log\" template(\"{template}\")); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n"
    )
}

#[test]
fn reload_in_the_middle_of_a_stream_loses_nothing() {
    let port = free_port();
    let d = Daemon::start(&config(port, "old ${MESSAGE}\\n"));
    const N: usize = 60_000;
    let sender = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for chunk in 0..60 {
            let mut buf = String::new();
            for n in chunk * 1000..(chunk + 1) * 1000 {
                buf.push_str(&format!("<13>Nov 23 14:07:17 h p: seq-{n}\n"));
            }
            s.write_all(buf.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    // Reload twice while the connection streams: a changed template (a new
    // destination worker) and then a second destination.
    std::thread::sleep(Duration::from_millis(150));
    d.rewrite(&config(port, "new ${MESSAGE}\\n"));
    d.signal(SIGHUP);
    std::thread::sleep(Duration::from_millis(150));
    d.rewrite(&format!(
        "{}destination d2 {{ file(\"copy.log\" template(\"${{MESSAGE}}\\n\")); }};\nlog {{ source(s); destination(d2); }};\n",
        config(port, "new ${MESSAGE}\\n")
    ));
    d.signal(SIGHUP);
    sender.join().unwrap();
    let got = wait_lines(&d.dir.join("out.log"), N, WAIT);
    let mut seen = HashSet::new();
    for l in &got {
        let seq = l.split(' ').nth(1).unwrap_or_default().to_string();
        assert!(seen.insert(seq), "duplicate: {l}");
    }
    assert_eq!(
        seen.len(),
        N,
        "every message exactly once across the reloads"
    );
    assert!(got.first().unwrap().starts_with("old "), "{}", got[0]);
    assert!(got.last().unwrap().starts_with("new "), "{}", got[N - 1]);
    assert!(
        d.log().matches("config reloaded").count() == 2,
        "{}",
        d.log()
    );
    // The second destination got the tail of the stream.
    assert!(!lines(&d.dir.join("copy.log")).is_empty());
}

#[test]
fn a_broken_config_on_reload_keeps_the_old_one_serving() {
    let port = free_port();
    let d = Daemon::start(&config(port, "${MESSAGE}\\n"));
    d.rewrite("source s { network(port(5514) bogus(1)); };\n");
    // Through the control socket, the error comes back with file and line.
    let o = d.ctl(&["reload"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("sluice.conf:1:31: error: unknown option `bogus` of network()"),
        "{err}"
    );
    // Through SIGHUP, it is logged.
    d.signal(SIGHUP);
    assert!(
        wait_until(WAIT, || d.log().matches("reload failed").count() >= 2),
        "{}",
        d.log()
    );
    send_tcp(port, [sl("still here")]);
    assert_eq!(
        wait_lines(&d.dir.join("out.log"), 1, WAIT),
        vec!["still here"]
    );
}

/// 3,000 nested `log {}` passed `-s` but overflowed the stack of the thread a
/// reload parses on, killing the daemon; exponential defines and blocks ate
/// gigabytes. Each is now an error on reload too, and the old config serves.
#[test]
fn a_config_that_passed_syntax_only_no_longer_kills_the_daemon_on_sighup() {
    let port = free_port();
    let d = Daemon::start(&config(port, "${MESSAGE}\\n"));
    let mut defines = String::from("@define a0 \"x\"\n");
    for n in 1..=22 {
        defines += &format!("@define a{n} \"`a{}``a{}`\"\n", n - 1, n - 1);
    }
    let bad = [
        (
            format!("{}{}", "log { ".repeat(3000), "};".repeat(3000)),
            "log paths nested more than 64 deep",
        ),
        (defines, "substitution makes this string longer than 64 KiB"),
        (
            "block source r(a(\"x\")) { r(a(\"`a``a`\")); };\nsource s { r(); };\n".into(),
            "block `r` expands to more than 1 MiB",
        ),
    ];
    for (n, (text, want)) in bad.iter().enumerate() {
        d.rewrite(text);
        let o = d.ctl(&["reload"]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{err}");
        assert!(err.len() < 20_000, "{} bytes of errors", err.len());
        d.signal(SIGHUP);
        assert!(
            wait_until(WAIT, || d.log().matches("reload failed").count()
                >= 2 * (n + 1)),
            "{}",
            d.log()
        );
    }
    send_tcp(port, [sl("still here")]);
    assert_eq!(
        wait_lines(&d.dir.join("out.log"), 1, WAIT),
        vec!["still here"]
    );
}

#[test]
fn a_reload_that_cannot_bind_keeps_the_old_config() {
    let port = free_port();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let d = Daemon::start(&config(port, "${MESSAGE}\\n"));
    d.rewrite(&format!(
        "{}source s2 {{ network(ip(\"127.0.0.1\") port({busy_port})); }};\nlog {{ source(s2); destination(d); }};\n",
        config(port, "${MESSAGE}\\n")
    ));
    let o = d.ctl(&["reload"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains(&format!("cannot listen on tcp 127.0.0.1:{busy_port}"))
    );
    send_tcp(port, [sl("old path works")]);
    assert_eq!(
        wait_lines(&d.dir.join("out.log"), 1, WAIT),
        vec!["old path works"]
    );
}

#[test]
fn reload_moves_a_listener_to_a_new_port() {
    let (p1, p2) = (free_port(), free_port());
    let d = Daemon::start(&config(p1, "${MESSAGE}\\n"));
    d.rewrite(&config(p2, "${MESSAGE}\\n"));
    assert!(d.ctl(&["reload"]).status.success(), "{}", d.log());
    // The old port is closed; another test's listener may take it at once,
    // so what proves it is that nothing sent there reaches Sluice.
    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", p1)) {
        let _ = s.write_all(format!("{}\n", sl("to the old port")).as_bytes());
    }
    send_tcp(p2, [sl("on the new port")]);
    assert_eq!(
        wait_lines(&d.dir.join("out.log"), 1, WAIT),
        vec!["on the new port"]
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&d.dir.join("out.log")), vec!["on the new port"]);
}

#[test]
fn sigterm_writes_everything_it_accepted_before_exiting() {
    let port = free_port();
    let d = Daemon::start(&config(port, "${MESSAGE}\\n"));
    send_tcp(
        port,
        (0..30_000).map(|n| format!("<13>Nov 23 14:07:17 h p: m{n}")),
    );
    assert!(wait_until(WAIT, || d.stat("source.s#0.received") == 30_000));
    let mut d = d;
    assert!(d.terminate().success());
    let got = lines(&d.dir.join("out.log"));
    assert_eq!(got.len(), 30_000);
}

#[test]
fn sigusr1_reopens_files_after_rotation() {
    let port = free_port();
    let d = Daemon::start(&config(port, "${MESSAGE}\\n"));
    send_tcp(port, [sl("before")]);
    let out = d.dir.join("out.log");
    assert_eq!(wait_lines(&out, 1, WAIT), vec!["before"]);
    std::fs::rename(&out, d.dir.join("out.log.1")).unwrap();
    d.signal(SIGUSR1);
    assert!(wait_until(WAIT, || d
        .log()
        .contains("reopening destination files")));
    // The worker notices the reopen before its next batch.
    std::thread::sleep(Duration::from_millis(1200));
    send_tcp(port, [sl("after")]);
    assert_eq!(wait_lines(&out, 1, WAIT), vec!["after"]);
    assert_eq!(lines(&d.dir.join("out.log.1")), vec!["before"]);
}

/// `internal()` carries Sluice's own log through a log path: start-up, and a
/// failed reload with the error's file and line, filtered by level.
#[test]
fn internal_source_logs_start_up_and_failed_reloads() {
    let port = free_port();
    let conf = format!(
        "source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         source s_self {{ internal(); }};\n\
         destination d {{ file(\"out.log\" template(\"${{MESSAGE}}\\n\")); }};\n\
         destination d_self {{ file(\"sluice.log\" template(\"${{PROGRAM}} ${{LEVEL}} ${{MESSAGE}}\\n\")); }};\n\
         destination d_err {{ file(\"errors.log\" template(\"${{MESSAGE}}\\n\")); }};\n\
         log {{ source(s); destination(d); }};\n\
         log {{ source(s_self); destination(d_self); filter {{ level(err..emerg) }}; destination(d_err); }};\n"
    );
    let d = Daemon::start(&conf);
    assert!(
        wait_until(WAIT, || lines(&d.dir.join("sluice.log"))
            .iter()
            .any(|l| l.starts_with("sluice info sluice started"))),
        "{:?}",
        lines(&d.dir.join("sluice.log"))
    );
    let good = std::fs::read_to_string(&d.conf).unwrap();
    d.rewrite(&format!(
        "{good}destination broken {{ file(\"x\" nosuch(1)); }};\n"
    ));
    d.signal(SIGHUP);
    assert!(
        wait_until(WAIT, || lines(&d.dir.join("errors.log"))
            .iter()
            .any(|l| l.contains("reload failed"))),
        "{}",
        d.log()
    );
    let errors = std::fs::read_to_string(d.dir.join("errors.log")).unwrap();
    assert!(
        errors.contains("sluice.conf:8:31: error: unknown option `nosuch` of file()"),
        "{errors}"
    );
    assert!(!errors.contains("sluice started"), "{errors}");
    assert_eq!(d.stat("source.s_self#0.dropped"), 0);
    // The internal() routes must not hold the destinations open at exit.
    let mut d = d;
    assert!(d.terminate().success());
    assert!(!d.log().contains("did not drain"), "{}", d.log());
}

/// internal() into a destination that fails on every batch (its directory is
/// missing) must not feed itself: the failure is reported once per interval,
/// not once per internal message it causes.
#[test]
fn a_failing_internal_destination_does_not_feed_itself() {
    let conf = "source s_self { internal(); };\n\
         destination d_self { file(\"missing/dir/sluice.log\"); };\n\
         log { source(s_self); destination(d_self); };\n";
    let d = Daemon::start(conf);
    assert!(
        wait_until(WAIT, || d.log().contains("giving up messages")),
        "{}",
        d.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    let reports = d.log().matches("giving up messages").count();
    assert!(reports <= 2, "{reports} reports in 2 s:\n{}", d.log());
    let received = d.stat("source.s_self#0.received");
    assert!(
        received < 50,
        "internal() received {received} messages: a feedback loop"
    );
}
