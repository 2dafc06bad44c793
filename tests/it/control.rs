//! sluice-ctl, daemon mode, pid file, start-up failures.

use crate::harness::*;
use std::process::Command;
use std::time::Duration;

fn config(port: u16) -> String {
    format!(
        "source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ file(\"out.log\" template(\"${{MESSAGE}}\\n\")); }};\n\
         log {{ source(s); destination(d); }};\n"
    )
}

#[test]
fn sluice_ctl_stats_healthcheck_and_stop() {
    let port = free_port();
    let d = Daemon::start(&config(port));
    send_tcp(port, (0..10).map(|n| sl(&format!("m{n}"))));
    assert!(wait_until(Duration::from_secs(30), || d
        .stat("destination.d#0.written")
        == 10));
    let o = d.ctl(&["stats"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("source.s#0.received 10\n"), "{text}");
    assert!(text.contains("source.s#0.connections 1\n"), "{text}");
    let o = d.ctl(&["stats", "--prometheus"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("# TYPE sluice_destination_written_total counter\n"),
        "{text}"
    );
    assert!(
        text.contains("sluice_destination_written_total{id=\"d#0\"} 10\n"),
        "{text}"
    );
    let o = d.ctl(&["healthcheck"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("healthy"));
    let o = d.ctl(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let mut d = d;
    assert!(d.ctl(&["stop"]).status.success());
    assert!(d.wait(Duration::from_secs(30)).success());
    assert!(!d.ctl.exists(), "control socket removed on exit");
    assert!(
        !d.dir.join("sluice.pid").exists(),
        "pid file removed on exit"
    );
    // Talking to a daemon that is gone fails clearly.
    let o = d.ctl(&["healthcheck"]);
    assert!(!o.status.success());
}

#[test]
fn without_foreground_it_daemonizes_and_reports_start_up_errors() {
    let port = free_port();
    let dir = TempDir::new("bg");
    let conf = dir.write("sluice.conf", &config(port));
    let run = |conf: &std::path::Path| {
        Command::new(SLUICE)
            .arg("-f")
            .arg(conf)
            .arg("-c")
            .arg(dir.join("ctl"))
            .arg("-p")
            .arg(dir.join("pid"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let o = run(&conf);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pid: i32 = std::fs::read_to_string(dir.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    send_tcp(port, [sl("in the background")]);
    assert_eq!(
        wait_lines(&dir.join("out.log"), 1, Duration::from_secs(30)),
        vec!["in the background"]
    );
    // A second instance on the same control socket refuses to start, loudly.
    let o = run(&conf);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another sluice is running"));
    let o = Command::new(SLUICE_CTL)
        .arg("-c")
        .arg(dir.join("ctl"))
        .arg("stop")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(wait_until(
        Duration::from_secs(30),
        || !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
    ));
}

#[test]
fn a_port_in_use_fails_the_start() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let err = Daemon::try_start(&config(port))
        .err()
        .expect("must not start");
    assert!(
        err.contains(&format!("cannot listen on tcp 127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn control_path_that_is_not_a_socket_is_refused_not_deleted() {
    // Regression: `-c PATH` deleted an existing regular file and put a socket there.
    let dir = TempDir::new("ctl-file");
    let conf = dir.write("sluice.conf", &config(free_port()));
    let precious = dir.write("precious", "do not delete me\n");
    let o = Command::new(SLUICE)
        .args(["-F", "-f"])
        .arg(&conf)
        .arg("-c")
        .arg(&precious)
        .arg("-p")
        .arg(dir.join("pid"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refusing to use") && err.contains("a regular file, not a socket"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&precious).unwrap(),
        "do not delete me\n"
    );
}

#[test]
fn control_socket_is_private_caps_connections_and_times_out_idle_ones() {
    // Regression: control connections had no read timeout and no cap, so idle
    // clients held a descriptor each for ever.
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;
    let d = Daemon::start(&config(free_port()));
    let mode = std::fs::metadata(&d.ctl).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let mut idle: Vec<UnixStream> = (0..100)
        .map(|_| UnixStream::connect(&d.ctl).unwrap())
        .collect();
    // Beyond the cap the oldest connections are closed, and stats answers.
    let o = d.ctl(&["stats"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let closed = |s: &mut UnixStream| {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        matches!(s.read(&mut [0u8; 16]), Ok(0) | Err(_))
    };
    let started = std::time::Instant::now();
    assert!(closed(&mut idle[0]), "the oldest connection stayed open");
    assert!(started.elapsed() < Duration::from_secs(1));
    // The newest idle one is cut off once its request is overdue.
    assert!(closed(&mut idle[99]));
    assert!(started.elapsed() < Duration::from_secs(9));
}

#[test]
fn control_group_makes_the_socket_0660_for_that_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = TempDir::new("ctl-group");
    let conf = dir.write("sluice.conf", &config(free_port()));
    let ctl = dir.join("sluice.ctl");
    // The daemon's own group: any other needs privileges the test may lack.
    let gid = std::fs::metadata(dir.path()).unwrap().gid();
    let mut child = Command::new(SLUICE)
        .args(["-F", "-f"])
        .arg(&conf)
        .arg("-c")
        .arg(&ctl)
        .args(["--control-group", &gid.to_string()])
        .arg("-p")
        .arg(dir.join("pid"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let up = wait_until(Duration::from_secs(20), || {
        Command::new(SLUICE_CTL)
            .arg("-c")
            .arg(&ctl)
            .arg("healthcheck")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let meta = std::fs::metadata(&ctl);
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "sluice did not come up");
    let meta = meta.unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), gid);
    // An unknown group is a start-up error that names it.
    let o = Command::new(SLUICE)
        .args(["-F", "-f"])
        .arg(&conf)
        .arg("-c")
        .arg(dir.join("other.ctl"))
        .args(["--control-group", "no-such-group-sluice"])
        .arg("-p")
        .arg(dir.join("pid2"))
        .arg("--state-dir")
        .arg(dir.join("state2"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("--control-group: no group `no-such-group-sluice`"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
