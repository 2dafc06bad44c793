//! `file()`: appends rendered messages to files whose path is itself a template
//! (`/var/log/${HOST}/${R_YEAR}${R_MONTH}.log`).
//!
//! This module holds the user-facing options; `writer.rs` the running driver.

mod writer;

pub use writer::FileDriver;

use crate::config::schema::{Account, DriverSpec, Kind, OptionSpec, TimeUnit, Values};
use crate::destinations::registry::{
    self, BuildError, Built, Destination, DestinationKind, Fingerprint, QueueLimits,
};
use crate::destinations::worker::{self, StartContext, Worker};
use crate::message::Zone;
use crate::template::{RenderContext, Template};
use std::sync::Arc;
use std::time::Duration;

/// `file()` in the registry.
pub const KIND: DestinationKind = DestinationKind {
    spec: &SPEC,
    from_global: FROM_GLOBAL,
    build,
};

fn build(v: &Values) -> Built {
    match FileOptions::from_values(v) {
        Some(opts) => Ok(Arc::new(opts)),
        None => Err(vec![BuildError::new(
            None,
            "file() needs a path, as in file(\"/var/log/messages\")",
        )]),
    }
}

/// The options of `file()`, in the order the man page lists them.
pub const SPEC: DriverSpec = DriverSpec {
    name: "file",
    context: "destination",
    doc: "Appends messages to a file. The path is a template, so one destination can write a file per host or per day.",
    positional: Some("path"),
    options: &[
        OptionSpec {
            name: "path",
            kind: Kind::Template,
            default: "",
            doc: "The file to write, as a template; given as the first, unnamed argument. Values from the message cannot lead out of the directory its text names (see PATHS AND OBJECT KEYS FROM MESSAGES).",
        },
        OptionSpec {
            name: "template",
            kind: Kind::Template,
            default: "${DATE} ${HOST} ${MSGHDR}${MESSAGE}\\n",
            doc: "How each message is written. The default is syslog-ng's file format; with ts-format(iso) it starts with ${ISODATE}.",
        },
        OptionSpec {
            name: "ts-format",
            kind: Kind::Enum(&["rfc3164", "bsd", "rfc3339", "iso", "unix"]),
            default: "rfc3164",
            doc: "The date format of the default template: rfc3164 (bsd) writes ${DATE}, rfc3339 (iso) ${ISODATE}, unix ${UNIXTIME}.",
        },
        OptionSpec {
            name: "create-dirs",
            kind: Kind::Bool,
            default: "no",
            doc: "Create missing directories of the path.",
        },
        OptionSpec {
            name: "dir-perm",
            kind: Kind::Octal { max: 0o7777 },
            default: "0700",
            doc: "Permission bits of directories this destination creates (octal); -1 leaves them to the umask.",
        },
        OptionSpec {
            name: "perm",
            kind: Kind::Octal { max: 0o7777 },
            default: "0600",
            doc: "Permission bits of the files this destination writes (octal), set on every open; -1 leaves them alone.",
        },
        OptionSpec {
            name: "owner",
            kind: Kind::Account(Account::User),
            default: "",
            doc: "User (name or id) that files this destination opens are given; needs the privilege to chown. Empty leaves it as created.",
        },
        OptionSpec {
            name: "group",
            kind: Kind::Account(Account::Group),
            default: "",
            doc: "Group (name or id) that files this destination opens are given.",
        },
        OptionSpec {
            name: "dir-owner",
            kind: Kind::Account(Account::User),
            default: "",
            doc: "User that directories this destination creates are given.",
        },
        OptionSpec {
            name: "dir-group",
            kind: Kind::Account(Account::Group),
            default: "",
            doc: "Group that directories this destination creates are given.",
        },
        OptionSpec {
            name: "fsync",
            kind: Kind::Bool,
            default: "no",
            doc: "Sync each batch to disk before acknowledging it. Slower; survives power loss.",
        },
        OptionSpec {
            name: "time-reap",
            kind: Kind::Duration {
                bare: TimeUnit::Seconds,
                min_ms: 1000,
                max_ms: 86_400_000,
            },
            default: "60",
            doc: "Close a file of a templated path after it was unused this long (seconds when bare).",
        },
        OptionSpec {
            name: "max-open-files",
            kind: Kind::Int {
                min: 1,
                max: 1_000_000,
            },
            default: "256",
            doc: "Files of a templated path held open at once, and never more than a quarter of the process's descriptor limit; beyond it the least recently used are closed (and reopened when written again).",
        },
        registry::FRAC_DIGITS,
        registry::TIME_ZONE,
        registry::LOG_FIFO_SIZE,
        registry::LOG_FIFO_BYTES,
        OptionSpec {
            name: "flush-lines",
            kind: Kind::Int {
                min: 0,
                max: 1_000_000,
            },
            default: "0",
            doc: "Accepted for syslog-ng compatibility; Sluice always writes a whole batch with one write.",
        },
    ],
};

/// Options that, left out of a `file()`, take the global option of that name.
pub const FROM_GLOBAL: &[&str] = &[
    "create-dirs",
    "ts-format",
    "perm",
    "dir-perm",
    "owner",
    "group",
    "dir-owner",
    "dir-group",
];

/// `file()`'s options, typed.
#[derive(Clone, Debug)]
pub struct FileOptions {
    pub path: Template,
    pub template: Template,
    pub create_dirs: bool,
    /// Modes of created directories and of files; `None` (`-1`) leaves them
    /// as the umask makes them.
    pub dir_perm: Option<u32>,
    pub perm: Option<u32>,
    /// Ids to chown files and created directories to; `None` leaves them.
    pub owner: Option<u32>,
    pub group: Option<u32>,
    pub dir_owner: Option<u32>,
    pub dir_group: Option<u32>,
    pub fsync: bool,
    pub time_reap: Duration,
    /// Open files a templated path may hold at once.
    pub max_open_files: usize,
    pub time_zone: Option<Zone>,
    pub frac_digits: Option<u8>,
    pub queue: QueueLimits,
}

impl FileOptions {
    /// Builds the options from checked values; `None` when the required path is
    /// missing (already reported by the caller's check).
    pub fn from_values(v: &Values) -> Option<FileOptions> {
        let path = v.template("path")?.clone();
        let template = match v.template("template") {
            Some(t) => t.clone(),
            None => default_template(v.str("ts-format").unwrap_or("rfc3164")),
        };
        Some(FileOptions {
            path,
            template,
            create_dirs: v.bool("create-dirs").unwrap_or(false),
            dir_perm: mode(v, "dir-perm", 0o700),
            perm: mode(v, "perm", 0o600),
            owner: account(v, "owner"),
            group: account(v, "group"),
            dir_owner: account(v, "dir-owner"),
            dir_group: account(v, "dir-group"),
            fsync: v.bool("fsync").unwrap_or(false),
            time_reap: v.duration("time-reap").unwrap_or(Duration::from_secs(60)),
            max_open_files: v.int("max-open-files").unwrap_or(256) as usize,
            time_zone: v.zone("time-zone").cloned(),
            frac_digits: v.int("frac-digits").map(|n| n as u8),
            queue: QueueLimits::from_values(v),
        })
    }
}

impl Destination for FileOptions {
    fn fingerprint(&self, fp: &mut Fingerprint) {
        fp.add("path", self.path.text())
            .add("template", self.template.text())
            .add_debug("create-dirs", &self.create_dirs)
            .add_debug("dir-perm", &self.dir_perm)
            .add_debug("perm", &self.perm)
            .add_debug("owner", &self.owner)
            .add_debug("group", &self.group)
            .add_debug("dir-owner", &self.dir_owner)
            .add_debug("dir-group", &self.dir_group)
            .add_debug("fsync", &self.fsync)
            .add_debug("time-reap", &self.time_reap)
            .add_debug("max-open-files", &self.max_open_files)
            .add_debug("time-zone", &self.time_zone)
            .add_debug("frac-digits", &self.frac_digits)
            .add_debug("queue", &self.queue);
    }

    fn queue_limits(&self) -> QueueLimits {
        self.queue
    }

    fn start(&self, cx: StartContext, render: RenderContext) -> std::io::Result<Worker> {
        let opts = self.clone();
        worker::spawn(cx, move || {
            Ok(FileDriver::new(opts.clone(), render.clone()))
        })
    }
}

/// Permission bits; -1 means "leave as it is".
fn mode(v: &Values, name: &str, default: u32) -> Option<u32> {
    match v.int(name) {
        Some(-1) => None,
        Some(n) => u32::try_from(n).ok(),
        None => Some(default),
    }
}

/// A resolved user or group id; -1 (or unset) means "leave as it is".
fn account(v: &Values, name: &str) -> Option<u32> {
    v.int(name).and_then(|id| u32::try_from(id).ok())
}

/// syslog-ng's file format with the date in the `ts-format()` asked for.
pub fn default_template(ts_format: &str) -> Template {
    let text = match ts_format {
        "iso" | "rfc3339" => "${ISODATE} ${HOST} ${MSGHDR}${MESSAGE}\n",
        "unix" => "${UNIXTIME} ${HOST} ${MSGHDR}${MESSAGE}\n",
        _ => "${DATE} ${HOST} ${MSGHDR}${MESSAGE}\n",
    };
    // The texts above are fixed and known to compile.
    Template::compile(text).expect("built-in template compiles")
}
