//! Filters in log paths, end to end: real senders, real sockets, real files.

use crate::harness::*;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// The classic syslog-ng layout: auth to one file (and nowhere else), errors to
/// another, what no path took to a catch-all; `logger -p` sets the priority.
#[test]
fn facility_level_and_program_filters_split_one_stream() {
    if !require("logger") {
        return;
    }
    let port = free_port();
    let d = Daemon::start(&format!(
        "@version: 1.0\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         filter f_auth {{ facility(auth, authpriv); }};\n\
         filter f_err {{ level(err..emerg); }};\n\
         destination d_auth {{ file(\"auth.log\" template(\"$FACILITY.$LEVEL $MESSAGE\\n\")); }};\n\
         destination d_err {{ file(\"error.log\" template(\"$FACILITY.$LEVEL $MESSAGE\\n\")); }};\n\
         destination d_cron {{ file(\"cron.log\" template(\"$MESSAGE\\n\")); }};\n\
         destination d_rest {{ file(\"messages\" template(\"$MESSAGE\\n\")); }};\n\
         log {{ source(s); filter(f_auth); destination(d_auth); flags(final); }};\n\
         log {{ source(s); filter(f_err); destination(d_err); }};\n\
         log {{ source(s); filter {{ program(\"cron\" type(string)) }}; destination(d_cron); }};\n\
         log {{ source(s); destination(d_rest); flags(fallback); }};\n"
    ));
    let p = port.to_string();
    for (prio, tag, msg) in [
        ("auth.info", "sshd", "accepted key"),
        ("authpriv.err", "sudo", "bad password"),
        ("daemon.err", "app", "disk failing"),
        ("cron.info", "cron", "job ran"),
        ("user.notice", "app", "plain note"),
        ("local0.crit", "cron", "cron crashed"),
    ] {
        let o = Command::new("logger")
            .args([
                "--server",
                "127.0.0.1",
                "--port",
                &p,
                "--tcp",
                "--octet-count",
            ])
            .args(["-p", prio, "-t", tag, msg])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let dir = d.dir.path().to_path_buf();
    wait_lines(&dir.join("messages"), 1, WAIT);
    wait_lines(&dir.join("auth.log"), 2, WAIT);
    wait_lines(&dir.join("error.log"), 2, WAIT);
    wait_lines(&dir.join("cron.log"), 2, WAIT);
    let mut d = d;
    assert!(d.terminate().success());
    assert_eq!(
        lines(&dir.join("auth.log")),
        ["auth.info accepted key", "authpriv.err bad password"]
    );
    // authpriv.err is an error too, but the final auth path kept it.
    assert_eq!(
        lines(&dir.join("error.log")),
        ["daemon.err disk failing", "local0.crit cron crashed"]
    );
    assert_eq!(lines(&dir.join("cron.log")), ["job ran", "cron crashed"]);
    assert_eq!(lines(&dir.join("messages")), ["plain note"]);
}

#[test]
fn a_bad_filter_names_file_line_and_column() {
    let dir = TempDir::new("bad-filter");
    let conf = dir.write(
        "bad.conf",
        "source s { network(port(5514)); };\n\
         destination d { file(\"x\"); };\n\
         filter f { level(warning..err) and program(\"[unclosed\"); };\n\
         log { source(s); filter(f); destination(d); };\n",
    );
    let (code, err) = syntax_check(&conf);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("bad.conf:3:44: error: invalid regular expression"),
        "{err}"
    );
    assert!(
        err.contains("^^^^^^^^^^^"),
        "a caret under the pattern:\n{err}"
    );
}
