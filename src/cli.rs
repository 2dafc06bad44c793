//! The daemon's command line: every flag is written once, as data, and `--help`
//! and the man page's synopsis come from that table. Parsing is two steps, as in
//! ripgrep: raw arguments into [`Settings`], then the daemon checks them.

use std::ffi::OsString;
use std::path::PathBuf;

/// One flag: its names, its value's name (if it takes one), and its help line.
pub struct Flag {
    pub short: Option<char>,
    pub long: &'static str,
    pub value: Option<&'static str>,
    pub help: &'static str,
}

pub const FLAGS: &[Flag] = &[
    Flag {
        short: Some('f'),
        long: "cfgfile",
        value: Some("PATH"),
        help: "config file (default /etc/sluice/sluice.conf)",
    },
    Flag {
        short: Some('s'),
        long: "syntax-only",
        value: None,
        help: "parse and validate the config, print every error, exit 0 or 1",
    },
    Flag {
        short: None,
        long: "preprocess-into",
        value: Some("PATH"),
        help: "write the config with includes, defines and SCL blocks expanded to PATH (- for stdout), then exit",
    },
    Flag {
        short: Some('F'),
        long: "foreground",
        value: None,
        help: "do not daemonize (systemd runs it this way)",
    },
    Flag {
        short: Some('R'),
        long: "persist-file",
        value: Some("PATH"),
        help: "persistent state file (its directory is the state directory)",
    },
    Flag {
        short: None,
        long: "state-dir",
        value: Some("DIR"),
        help: "where spool and persistent state live (default /var/lib/sluice)",
    },
    Flag {
        short: Some('c'),
        long: "control",
        value: Some("PATH"),
        help: "control socket (default /run/sluice/sluice.ctl)",
    },
    Flag {
        short: None,
        long: "control-group",
        value: Some("GROUP"),
        help: "make the control socket 0660 and give it to GROUP (default: 0600, the daemon's user only)",
    },
    Flag {
        short: Some('p'),
        long: "pidfile",
        value: Some("PATH"),
        help: "pid file (default /run/sluice/sluice.pid)",
    },
    Flag {
        short: Some('e'),
        long: "stderr",
        value: None,
        help: "internal log to stderr",
    },
    Flag {
        short: Some('v'),
        long: "verbose",
        value: None,
        help: "more internal log (info)",
    },
    Flag {
        short: Some('d'),
        long: "debug",
        value: None,
        help: "even more internal log (debug; twice for trace)",
    },
    Flag {
        short: Some('D'),
        long: "define",
        value: Some("NAME=VALUE"),
        help: "set a backtick name for the config; wins over an @define of the same name",
    },
    Flag {
        short: None,
        long: "include-path",
        value: Some("DIRS"),
        help: "colon-separated SCL search path (default /etc/sluice/scl.d:/usr/share/sluice/scl)",
    },
    Flag {
        short: None,
        long: "list-options",
        value: None,
        help: "print every driver and option with its default and meaning, then exit",
    },
    Flag {
        short: Some('V'),
        long: "version",
        value: None,
        help: "print the version and exit",
    },
    Flag {
        short: Some('h'),
        long: "help",
        value: None,
        help: "print this help and exit",
    },
];

pub const DEFAULT_CONFIG: &str = "/etc/sluice/sluice.conf";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/sluice";
pub const DEFAULT_CONTROL: &str = "/run/sluice/sluice.ctl";
pub const DEFAULT_PIDFILE: &str = "/run/sluice/sluice.pid";
pub const DEFAULT_INCLUDE_PATH: &str = "/etc/sluice/scl.d:/usr/share/sluice/scl";

/// What to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Run,
    SyntaxOnly,
    Preprocess(PathBuf),
    ListOptions,
    Version,
    Help,
}

/// The parsed command line.
#[derive(Clone, Debug)]
pub struct Settings {
    pub mode: Mode,
    pub cfgfile: PathBuf,
    pub foreground: bool,
    pub state_dir: PathBuf,
    pub control: PathBuf,
    /// `--control-group`: the group that may use the control socket too.
    pub control_group: Option<String>,
    pub pidfile: PathBuf,
    pub stderr: bool,
    /// 0 warnings, 1 info (-v), 2 debug (-d), 3 trace (-dd).
    pub verbosity: u8,
    pub include_path: Vec<PathBuf>,
    /// `--define NAME=VALUE`, in order.
    pub defines: Vec<(String, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Run,
            cfgfile: DEFAULT_CONFIG.into(),
            foreground: false,
            state_dir: DEFAULT_STATE_DIR.into(),
            control: DEFAULT_CONTROL.into(),
            control_group: None,
            pidfile: DEFAULT_PIDFILE.into(),
            stderr: false,
            verbosity: 0,
            include_path: default_include_path(),
            defines: Vec::new(),
        }
    }
}

/// The shipped include path; a debug build also searches the source tree's
/// `scl/`, so tests and `cargo run` from a checkout find its snippets. A release
/// build never does: an installed daemon must not read includes from whatever
/// (possibly world-writable) folder it was built in.
pub fn default_include_path() -> Vec<PathBuf> {
    let mut path: Vec<PathBuf> = DEFAULT_INCLUDE_PATH.split(':').map(PathBuf::from).collect();
    if cfg!(debug_assertions) {
        path.push(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scl")));
    }
    path
}

/// Parses the full argument list, program name first.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Settings, lexopt::Error> {
    use lexopt::prelude::*;
    let mut s = Settings::default();
    let mut p = lexopt::Parser::from_iter(args);
    while let Some(arg) = p.next()? {
        match arg {
            Short('f') | Long("cfgfile") => s.cfgfile = p.value()?.into(),
            Short('s') | Long("syntax-only") => s.mode = Mode::SyntaxOnly,
            Long("preprocess-into") => s.mode = Mode::Preprocess(p.value()?.into()),
            Short('F') | Long("foreground") => s.foreground = true,
            Short('R') | Long("persist-file") => {
                let file = PathBuf::from(p.value()?);
                s.state_dir = file
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), |d| d.to_path_buf());
            }
            Long("state-dir") => s.state_dir = p.value()?.into(),
            Short('c') | Long("control") => s.control = p.value()?.into(),
            Long("control-group") => s.control_group = Some(p.value()?.string()?),
            Short('p') | Long("pidfile") => s.pidfile = p.value()?.into(),
            Short('e') | Long("stderr") => s.stderr = true,
            Short('v') | Long("verbose") => s.verbosity = s.verbosity.max(1),
            Short('d') | Long("debug") => s.verbosity = (s.verbosity.max(1) + 1).min(3),
            Long("include-path") => {
                let dirs: String = p.value()?.string()?;
                s.include_path = dirs
                    .split(':')
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .collect();
            }
            Short('D') | Long("define") => {
                let def: String = p.value()?.string()?;
                let Some((name, value)) = def.split_once('=').filter(|(n, _)| !n.is_empty()) else {
                    return Err(lexopt::Error::Custom(
                        format!("--define takes NAME=VALUE, not `{def}`").into(),
                    ));
                };
                s.defines.push((name.to_string(), value.to_string()));
            }
            Long("list-options") => s.mode = Mode::ListOptions,
            Short('V') | Long("version") => s.mode = Mode::Version,
            Short('h') | Long("help") => s.mode = Mode::Help,
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(s)
}

/// `--help`, from [`FLAGS`].
pub fn help() -> String {
    let mut out = format!(
        "sluice {} - a log destination server configured in syslog-ng's language\n\nUsage: sluice [OPTIONS]\n\nOptions:\n",
        env!("CARGO_PKG_VERSION")
    );
    for f in FLAGS {
        let names = match (f.short, f.value) {
            (Some(c), Some(v)) => format!("-{c}, --{} {v}", f.long),
            (Some(c), None) => format!("-{c}, --{}", f.long),
            (None, Some(v)) => format!("    --{} {v}", f.long),
            (None, None) => format!("    --{}", f.long),
        };
        out.push_str(&format!("  {names:<30} {}\n", f.help));
    }
    out.push_str(
        "\nSignals: SIGHUP reloads, SIGTERM/SIGINT stop after flushing, SIGUSR1 reopens files.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        std::iter::once("sluice")
            .chain(a.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn syslog_ng_style_flags() {
        let s = parse(args(&[
            "-F",
            "-f",
            "my.conf",
            "-R",
            "/tmp/st/persist",
            "-c",
            "c.ctl",
            "-e",
            "-d",
        ]))
        .unwrap();
        assert!(s.foreground && s.stderr);
        assert_eq!(s.cfgfile, PathBuf::from("my.conf"));
        assert_eq!(s.state_dir, PathBuf::from("/tmp/st"));
        assert_eq!(s.control, PathBuf::from("c.ctl"));
        assert_eq!(s.verbosity, 2);
        let s = parse(args(&["--preprocess-into", "-", "--include-path", "/a:/b"])).unwrap();
        assert_eq!(s.mode, Mode::Preprocess("-".into()));
        assert_eq!(
            s.include_path,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert!(parse(args(&["--bogus"])).is_err());
    }

    #[test]
    fn help_lists_every_flag() {
        let h = help();
        for f in FLAGS {
            assert!(h.contains(&format!("--{}", f.long)), "{}", f.long);
        }
    }
}
