//! `sluice-ctl`: talks to a running daemon over its control socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "Usage: sluice-ctl [-c PATH] VERB

Verbs:
  stats [--prometheus]   counters of every source and destination
  uploads                objects of object-store destinations: in flight, failing (with
                         the reason) and recently completed (key, bytes, parts, times)
  reload                 reload the config (the old one keeps running if the new one is bad)
  retry                  retry what destinations kept after errors retrying cannot fix
                         (wrong credentials, a missing bucket), once the cause is fixed
  stop                   stop the daemon after flushing
  healthcheck            exit 0 when the daemon answers

Options:
  -c, --control PATH     control socket (default /run/sluice/sluice.ctl)
  -h, --help             this help
";

fn main() -> ExitCode {
    let mut control = PathBuf::from(sluice::cli::DEFAULT_CONTROL);
    let mut words: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-c" | "--control" => match args.next() {
                Some(p) => control = p.into(),
                None => return usage_error("-c needs a path"),
            },
            "-h" | "--help" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--prometheus" => words.push("prometheus".into()),
            _ if a.starts_with('-') => return usage_error(&format!("unknown option {a}")),
            _ => words.push(a),
        }
    }
    match words.first().map(String::as_str) {
        Some(v) if sluice::daemon::VERBS.contains(&v) => {}
        Some(v) => return usage_error(&format!("unknown verb `{v}`")),
        None => return usage_error("no verb given"),
    }
    match request(&control, &words.join(" ")) {
        Ok(reply) => {
            let (status, body) = reply.split_once('\n').unwrap_or((&reply, ""));
            if let Some(rest) = status.strip_prefix("OK") {
                if body.is_empty() {
                    println!("{}", rest.trim());
                } else {
                    print!("{body}");
                }
                ExitCode::SUCCESS
            } else {
                eprintln!("sluice-ctl: {}", status.trim_start_matches("ERROR").trim());
                eprint!("{body}");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("sluice-ctl: {}: {e}", control.display());
            ExitCode::FAILURE
        }
    }
}

fn request(path: &PathBuf, line: &str) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(path)?;
    // A reload re-reads the config; anything slower than this is a hung daemon.
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(format!("{line}\n").as_bytes())?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    if reply.is_empty() {
        return Err(std::io::Error::other(
            "the daemon closed the connection without answering",
        ));
    }
    Ok(reply)
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("sluice-ctl: {msg}\n\n{USAGE}");
    ExitCode::from(2)
}
