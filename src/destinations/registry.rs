//! The destination drivers the config language knows, each with one `build` that
//! turns its checked options into a [`Destination`] or every problem with them.
//!
//! Adding a driver is adding an entry to [`KINDS`]; the planner has no match on
//! driver names.

use super::worker::{StartContext, Worker};
use crate::config::schema::{DriverSpec, Kind, OptionSpec, TimeUnit, Values};
use crate::template::RenderContext;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;

/// One destination driver of the config language.
pub struct DestinationKind {
    pub spec: &'static DriverSpec,
    /// Options that, left out, take the global option of that name.
    pub from_global: &'static [&'static str],
    /// Builds the destination from its checked options (globals filled in).
    pub build: fn(&Values) -> Built,
}

/// What a driver's `build` returns: the destination, or every problem found.
pub type Built = Result<Arc<dyn Destination>, Vec<BuildError>>;

/// Options every destination takes, written once for all of their tables.
pub const FRAC_DIGITS: OptionSpec = OptionSpec {
    name: "frac-digits",
    kind: Kind::Int { min: 0, max: 9 },
    default: "",
    doc: "Digits of the fraction of a second in this destination's timestamps; defaults to the global frac-digits().",
};
pub const TIME_ZONE: OptionSpec = OptionSpec {
    name: "time-zone",
    kind: Kind::Zone,
    default: "",
    doc: "Render dates in this zone instead of the global time-zone().",
};
pub const LOG_FIFO_SIZE: OptionSpec = OptionSpec {
    name: "log-fifo-size",
    kind: Kind::Int {
        min: 1,
        max: 100_000_000,
    },
    default: "",
    doc: "Messages the destination's queue holds; defaults to the global log-fifo-size().",
};
pub const LOG_FIFO_BYTES: OptionSpec = OptionSpec {
    name: "log-fifo-bytes",
    kind: Kind::Size {
        min: 1 << 20,
        max: 4 << 30,
    },
    default: "",
    doc: "Bytes of messages the destination's queue holds; defaults to the global log-fifo-bytes().",
};

/// `time-reopen()` of the destinations that reach a server.
pub const TIME_REOPEN: OptionSpec = OptionSpec {
    name: "time-reopen",
    kind: Kind::Duration {
        bare: TimeUnit::Seconds,
        min_ms: 100,
        max_ms: 86_400_000,
    },
    default: "60",
    doc: "The longest wait before trying a server again after a failure (seconds when bare): the first wait is short (a second for a connection, 100 ms for an HTTP request) and each next one twice as long, up to this; defaults to the global time-reopen().",
};

/// Every destination driver.
pub const KINDS: &[DestinationKind] = &[
    super::file::KIND,
    super::object_store::KIND,
    super::network::NETWORK,
    super::network::SYSLOG,
    super::http::KIND,
];

/// The driver `name`, if there is one.
pub fn kind(name: &str) -> Option<&'static DestinationKind> {
    KINDS.iter().find(|k| k.spec.name == name)
}

/// A problem with a destination's options that the option schema cannot see
/// (a missing required value, two options that contradict each other).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    /// The option at fault; the error points at the whole call when `None`.
    pub option: Option<&'static str>,
    pub message: String,
    pub help: Option<String>,
}

impl BuildError {
    pub fn new(option: Option<&'static str>, message: impl Into<String>) -> BuildError {
        BuildError {
            option,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> BuildError {
        self.help = Some(help.into());
        self
    }
}

/// A planned destination: typed options, ready to start.
pub trait Destination: Send + Sync + fmt::Debug {
    /// Feeds every option that changes what the destination does. Equal
    /// fingerprints across a reload keep the running worker.
    fn fingerprint(&self, fp: &mut Fingerprint);

    /// What the destination owns on disk (its spool), when anything: two
    /// destinations may not own the same, and a destination replaced on reload
    /// hands it to the one that owns it next.
    fn owner(&self) -> Option<String> {
        None
    }

    /// `log-fifo-size()` and `log-fifo-bytes()` when set on the destination.
    fn queue_limits(&self) -> QueueLimits;

    /// Starts the worker thread.
    fn start(&self, cx: StartContext, render: RenderContext) -> std::io::Result<Worker>;
}

/// A destination's own queue bounds; the globals apply where `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueLimits {
    pub messages: Option<usize>,
    pub bytes: Option<usize>,
}

impl QueueLimits {
    pub fn from_values(v: &Values) -> QueueLimits {
        QueueLimits {
            messages: v.int("log-fifo-size").map(|n| n as usize),
            bytes: v.size("log-fifo-bytes").map(|n| n as usize),
        }
    }
}

/// A digest of a destination's options, fed field by field. Explicit rather
/// than derived from `Debug`, so a secret never passes through a formatter and
/// a field that does not matter (a source span) never forces a restart.
pub struct Fingerprint(Sha256);

impl Fingerprint {
    pub fn new(driver: &str) -> Fingerprint {
        let mut fp = Fingerprint(Sha256::new());
        fp.add("driver", driver);
        fp
    }

    /// One named value; names and values are length-prefixed so that no two
    /// different sequences feed the same bytes.
    pub fn add(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Fingerprint {
        for part in [name.as_bytes(), value.as_ref()] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
        self
    }

    /// A value with a plain-data `Debug` (numbers, enums, options of those).
    pub fn add_debug(&mut self, name: &str, value: &impl fmt::Debug) -> &mut Fingerprint {
        self.add(name, format!("{value:?}"))
    }

    pub fn finish(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
