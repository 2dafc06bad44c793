//! `network()` and `syslog()` destinations: forwarding to syslog collectors and
//! SIEMs over TCP, UDP or TLS, with syslog-ng's option names, defaults and
//! bytes on the wire (`docs/research/forwarding-syslog-ng-3.38.md`).
//!
//! `syslog()` writes RFC 5424 with octet counting (RFC 6587, RFC 5425 over TLS);
//! `network()` writes syslog-ng's RFC 3164 lines. This module holds the options;
//! `format.rs` the frames, `sender.rs` the connection, `tls.rs` the client end
//! of TLS.

mod disk;
mod format;
mod sender;

use crate::config::schema::{DriverSpec, Kind, OptionSpec, TimeUnit, Values};
use crate::destinations::registry::{
    self, BuildError, Built, Destination, DestinationKind, Fingerprint, QueueLimits,
};
use crate::destinations::worker::{self, StartContext, TaskThreads, Worker};
use crate::destinations::{Driver, Failure};
use crate::logpath::{Ack, Delivery};
use crate::message::Zone;
use crate::net::tls::{self, TlsClientOptions};
use crate::template::{RenderContext, Template};
use disk::DiskQueue;
use format::{Body, Framer};
use sender::{Outbox, Segment, Target, Transport};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// `network()` in the registry.
pub const NETWORK: DestinationKind = DestinationKind {
    spec: &NETWORK_SPEC,
    from_global: FROM_GLOBAL,
    build: build_network,
};

/// `syslog()` in the registry.
pub const SYSLOG: DestinationKind = DestinationKind {
    spec: &SYSLOG_SPEC,
    from_global: FROM_GLOBAL,
    build: build_syslog,
};

const FROM_GLOBAL: &[&str] = &["time-reopen"];

pub const NETWORK_SPEC: DriverSpec = DriverSpec {
    name: "network",
    context: "destination",
    doc: "Forwards messages to a syslog server over TCP, UDP or TLS as syslog-ng's network() does: RFC 3164 lines (<PRI>Mmm dd HH:MM:SS HOST PROGRAM[PID]: MESSAGE), one per line, or RFC 5424 with flags(syslog-protocol). Port 514 by default. The older tcp(), udp(), tcp6() and udp6() destinations are read as network() with that transport.",
    positional: Some("host"),
    options: OPTIONS,
};

pub const SYSLOG_SPEC: DriverSpec = DriverSpec {
    name: "syslog",
    context: "destination",
    doc: "Forwards messages to a syslog server in RFC 5424 as syslog-ng's syslog() does: octet-counted frames (RFC 6587) over TCP (port 601) or TLS (RFC 5425, port 6514), one datagram per message over UDP (port 514).",
    positional: Some("host"),
    options: OPTIONS,
};

const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "host",
        kind: Kind::Str,
        default: "",
        doc: "The server: a host name or an address, given as the first, unnamed argument. A name is resolved at every connection.",
    },
    OptionSpec {
        name: "transport",
        kind: Kind::Enum(&["tcp", "udp", "tls"]),
        default: "tcp",
        doc: "tcp, udp, or tls (configure it with tls()).",
    },
    OptionSpec {
        name: "port",
        kind: Kind::Int { min: 1, max: 65535 },
        default: "",
        doc: "The server's port. network(): 514. syslog(): 601 over tcp, 6514 over tls, 514 over udp.",
    },
    OptionSpec {
        name: "destport",
        kind: Kind::Int { min: 1, max: 65535 },
        default: "",
        doc: "Another name of port().",
    },
    OptionSpec {
        name: "ip-protocol",
        kind: Kind::Enum(&["4", "6"]),
        default: "",
        doc: "Connect over IPv4 or IPv6 only; by default any address the host has, in the order the resolver gives them.",
    },
    OptionSpec {
        name: "localip",
        kind: Kind::Str,
        default: "",
        doc: "The local address to send from.",
    },
    OptionSpec {
        name: "localport",
        kind: Kind::Int { min: 0, max: 65535 },
        default: "0",
        doc: "The local port to send from; 0 lets the system choose.",
    },
    OptionSpec {
        name: "tls",
        kind: Kind::Group(&tls::SPEC),
        default: "",
        doc: "CAs, client certificate and server verification of transport(\"tls\").",
    },
    OptionSpec {
        name: "template",
        kind: Kind::Template,
        default: "",
        doc: "syslog(): the MSG part of each frame (the header is always written). network(): the whole line, as written (end it with \\n).",
    },
    OptionSpec {
        name: "flags",
        kind: Kind::Flags(&["syslog-protocol", "no-multi-line", "threaded"]),
        default: "",
        doc: "syslog-protocol: network() writes RFC 5424 (still one per line); no-multi-line: line breaks, carriage returns and NULs in a frame become spaces; threaded is accepted for syslog-ng compatibility (every destination has its own thread).",
    },
    OptionSpec {
        name: "ts-format",
        kind: Kind::Enum(&["rfc3164", "bsd", "rfc3339", "iso", "unix"]),
        default: "",
        doc: "Accepted for syslog-ng compatibility: as in syslog-ng, the default formats always write their own stamp (RFC 5424's ISO date, network()'s BSD date).",
    },
    registry::FRAC_DIGITS,
    registry::TIME_ZONE,
    OptionSpec {
        name: "truncate-size",
        kind: Kind::Int {
            min: -1,
            max: 1 << 30,
        },
        default: "-1",
        doc: "Cut each message's body (before octet counting) to this many bytes; -1 never.",
    },
    registry::TIME_REOPEN,
    OptionSpec {
        name: "so-keepalive",
        kind: Kind::Bool,
        default: "yes",
        doc: "TCP keepalive, so a server that vanished without closing is noticed.",
    },
    crate::net::socket::KEEPALIVE_OPTIONS[0],
    crate::net::socket::KEEPALIVE_OPTIONS[1],
    crate::net::socket::KEEPALIVE_OPTIONS[2],
    OptionSpec {
        name: "so-sndbuf",
        kind: Kind::Size {
            min: 0,
            max: 1 << 30,
        },
        default: "0",
        doc: "Kernel send buffer of the socket (0 leaves the system default).",
    },
    OptionSpec {
        name: "close-on-input",
        kind: Kind::Bool,
        default: "yes",
        doc: "Close the connection (and reconnect) when the server sends anything or closes its end; a syslog server only reads.",
    },
    OptionSpec {
        name: "keep-alive",
        kind: Kind::Bool,
        default: "yes",
        doc: "Accepted for syslog-ng compatibility: a destination a reload keeps always keeps its connection.",
    },
    OptionSpec {
        name: "failover",
        kind: Kind::Group(&FAILOVER_SPEC),
        default: "",
        doc: "Servers to try, in order, when the host cannot be reached; see failover(servers() failback()).",
    },
    OptionSpec {
        name: "failover-servers",
        kind: Kind::List,
        default: "",
        doc: "syslog-ng's older form of failover(servers()).",
    },
    OptionSpec {
        name: "disk-buffer",
        kind: Kind::Group(&DISK_BUFFER_SPEC),
        default: "",
        doc: "Keep the destination's queue on disk (under --state-dir, or dir()), so a restart, kill -9 or, with reliable(yes), power loss loses nothing; see disk-buffer(reliable() disk-buf-size() dir()).",
    },
    OptionSpec {
        name: "persist-name",
        kind: Kind::Str,
        default: "",
        doc: "Names the disk buffer; the default is made of the driver, server and port. Two destinations with disk buffers to the same server need a persist-name() each.",
    },
    registry::LOG_FIFO_SIZE,
    registry::LOG_FIFO_BYTES,
];

const DISK_BUFFER_SPEC: DriverSpec = DriverSpec {
    name: "disk-buffer",
    context: "destination network",
    doc: "The disk buffer of a forwarding destination.",
    positional: None,
    options: &[
        OptionSpec {
            name: "reliable",
            kind: Kind::Bool,
            default: "no",
            doc: "yes: every batch is synced to disk before the sources hear it was taken (survives power loss); no: written to the page cache (survives a restart and kill -9, not power loss), faster.",
        },
        OptionSpec {
            name: "disk-buf-size",
            kind: Kind::Size {
                min: 1 << 20,
                max: 1 << 50,
            },
            default: "",
            doc: "The most bytes the disk buffer holds (required); when it is full, the queue before it fills and flow control holds the sources back.",
        },
        OptionSpec {
            name: "dir",
            kind: Kind::Str,
            default: "",
            doc: "The directory the buffer's files go under; --state-dir's spool/ by default.",
        },
        OptionSpec {
            name: "mem-buf-size",
            kind: Kind::Size {
                min: 0,
                max: 1 << 40,
            },
            default: "",
            doc: "Accepted for syslog-ng compatibility: the disk buffer holds everything, and the kernel's page cache keeps what is read soon.",
        },
        OptionSpec {
            name: "mem-buf-length",
            kind: Kind::Int {
                min: 0,
                max: 1 << 40,
            },
            default: "",
            doc: "Accepted for syslog-ng compatibility, as mem-buf-size().",
        },
        OptionSpec {
            name: "qout-size",
            kind: Kind::Int {
                min: 0,
                max: 1 << 40,
            },
            default: "",
            doc: "Accepted for syslog-ng compatibility, as mem-buf-size().",
        },
        OptionSpec {
            name: "compaction",
            kind: Kind::Bool,
            default: "no",
            doc: "Accepted for syslog-ng compatibility; delivered segments are deleted as they are passed.",
        },
        OptionSpec {
            name: "truncate-size-ratio",
            kind: Kind::Str,
            default: "",
            doc: "Accepted for syslog-ng compatibility, as compaction().",
        },
    ],
};

/// `disk-buffer()`'s options, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DiskBuffer {
    reliable: bool,
    size: u64,
    dir: Option<PathBuf>,
}

const FAILOVER_SPEC: DriverSpec = DriverSpec {
    name: "failover",
    context: "destination network",
    doc: "Secondary servers of a network() or syslog() destination.",
    positional: None,
    options: &[
        OptionSpec {
            name: "servers",
            kind: Kind::List,
            default: "",
            doc: "The secondary servers, tried in order after the host; the port, transport and TLS settings are the destination's.",
        },
        OptionSpec {
            name: "failback",
            kind: Kind::Group(&FAILBACK_SPEC),
            default: "",
            doc: "Go back to the host once it answers again. Without it, the destination stays with the server that works, and moves on in the list only when that one fails.",
        },
    ],
};

const FAILBACK_SPEC: DriverSpec = DriverSpec {
    name: "failback",
    context: "destination network",
    doc: "Return to the primary server.",
    positional: None,
    options: &[
        OptionSpec {
            name: "tcp-probe-interval",
            kind: Kind::Duration {
                bare: TimeUnit::Seconds,
                min_ms: 100,
                max_ms: 86_400_000,
            },
            default: "60",
            doc: "How often the primary server is probed with a TCP connection while a secondary one is in use (seconds when bare).",
        },
        OptionSpec {
            name: "successful-probes-required",
            kind: Kind::Int {
                min: 1,
                max: 1_000_000,
            },
            default: "3",
            doc: "Probes in a row that must succeed before the destination switches back.",
        },
    ],
};

/// Which of the two drivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Network,
    Syslog,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire {
    Tcp,
    Udp,
    Tls,
}

/// The options of `network()` and `syslog()`, typed.
#[derive(Clone, Debug)]
pub struct ForwardOptions {
    flavour: Flavour,
    /// The host, then the failover servers.
    servers: Vec<String>,
    wire: Wire,
    port: u16,
    ip_protocol: Option<u8>,
    local: Option<SocketAddr>,
    tls: Option<TlsClientOptions>,
    template: Option<Template>,
    syslog_protocol: bool,
    no_multi_line: bool,
    truncate: Option<usize>,
    time_zone: Option<Zone>,
    frac_digits: Option<u8>,
    time_reopen: Duration,
    keepalive: Option<(Duration, Duration, u32)>,
    sndbuf: usize,
    close_on_input: bool,
    failback: Option<(Duration, u32)>,
    disk_buffer: Option<DiskBuffer>,
    persist_name: String,
    queue: QueueLimits,
}

fn build_network(v: &Values) -> Built {
    build(v, Flavour::Network)
}

fn build_syslog(v: &Values) -> Built {
    build(v, Flavour::Syslog)
}

fn build(v: &Values, flavour: Flavour) -> Built {
    ForwardOptions::from_values(v, flavour)
        .map(|o| Arc::new(o) as Arc<dyn Destination>)
        .map_err(|e| vec![e])
}

impl ForwardOptions {
    fn from_values(v: &Values, flavour: Flavour) -> Result<ForwardOptions, BuildError> {
        let name = match flavour {
            Flavour::Network => "network",
            Flavour::Syslog => "syslog",
        };
        let Some(host) = v.str("host").filter(|h| !h.is_empty()) else {
            return Err(BuildError::new(
                None,
                format!("{name}() needs the server, as in {name}(\"10.0.0.5\")"),
            ));
        };
        let wire = match v.str("transport") {
            Some("udp") => Wire::Udp,
            Some("tls") => Wire::Tls,
            _ => Wire::Tcp,
        };
        let tls = match (wire, v.group("tls")) {
            (Wire::Tls, Some(t)) => Some(
                TlsClientOptions::from_values(t)
                    .map_err(|(_, e)| BuildError::new(Some("tls"), e))?,
            ),
            (Wire::Tls, None) => {
                // Without options: the system's CAs and the host name check.
                Some(
                    TlsClientOptions::from_values(&Values::default())
                        .map_err(|(_, e)| BuildError::new(Some("transport"), e))?,
                )
            }
            (_, Some(_)) => {
                return Err(BuildError::new(
                    Some("tls"),
                    "tls() is for transport(\"tls\")",
                ));
            }
            (_, None) => None,
        };
        let port = match v.int("port").or(v.int("destport")) {
            Some(p) => p as u16,
            None => match (flavour, wire) {
                (Flavour::Syslog, Wire::Tcp) => 601,
                (Flavour::Syslog, Wire::Tls) => 6514,
                _ => 514,
            },
        };
        let local = match v.str("localip") {
            Some(ip) => Some(SocketAddr::new(
                ip.parse::<IpAddr>().map_err(|_| {
                    BuildError::new(Some("localip"), format!("`{ip}` is not an IP address"))
                })?,
                v.int("localport").unwrap_or(0) as u16,
            )),
            None => v
                .int("localport")
                .filter(|p| *p != 0)
                .map(|p| SocketAddr::from(([0, 0, 0, 0], p as u16))),
        };
        let mut servers = vec![host.to_string()];
        servers.extend(
            v.group("failover")
                .map(|f| f.flags("servers"))
                .unwrap_or_default()
                .iter()
                .chain(v.flags("failover-servers"))
                .cloned(),
        );
        let failback = v
            .group("failover")
            .and_then(|f| f.group("failback"))
            .map(|b| {
                (
                    b.duration("tcp-probe-interval")
                        .unwrap_or(Duration::from_secs(60)),
                    b.int("successful-probes-required").unwrap_or(3) as u32,
                )
            });
        let flags = v.flags("flags");
        let disk_buffer = match v.group("disk-buffer") {
            None => None,
            Some(d) => Some(DiskBuffer {
                reliable: d.bool("reliable").unwrap_or(false),
                size: d.size("disk-buf-size").ok_or_else(|| {
                    BuildError::new(
                        Some("disk-buffer"),
                        "disk-buffer() needs disk-buf-size(), as in disk-buffer(disk-buf-size(1GiB))",
                    )
                })?,
                dir: d.str("dir").filter(|d| !d.is_empty()).map(PathBuf::from),
            }),
        };
        let persist_name = match v.str("persist-name").filter(|p| !p.is_empty()) {
            Some(p) => p.to_string(),
            None => format!("{name},{host},{port}"),
        };
        Ok(ForwardOptions {
            flavour,
            servers,
            wire,
            port,
            ip_protocol: v.str("ip-protocol").and_then(|p| p.parse().ok()),
            local,
            tls,
            template: v.template("template").cloned(),
            syslog_protocol: flags.iter().any(|f| f == "syslog-protocol"),
            no_multi_line: flags.iter().any(|f| f == "no-multi-line"),
            truncate: v
                .int("truncate-size")
                .filter(|n| *n >= 0)
                .map(|n| n as usize),
            time_zone: v.zone("time-zone").cloned(),
            frac_digits: v.int("frac-digits").map(|n| n as u8),
            time_reopen: v.duration("time-reopen").unwrap_or(Duration::from_secs(60)),
            keepalive: v.bool("so-keepalive").unwrap_or(true).then(|| {
                (
                    v.duration("tcp-keepalive-time")
                        .unwrap_or(Duration::from_secs(60)),
                    v.duration("tcp-keepalive-intvl")
                        .unwrap_or(Duration::from_secs(10)),
                    v.int("tcp-keepalive-probes").unwrap_or(6) as u32,
                )
            }),
            sndbuf: v.size("so-sndbuf").unwrap_or(0) as usize,
            close_on_input: v.bool("close-on-input").unwrap_or(true),
            failback,
            disk_buffer,
            persist_name,
            queue: QueueLimits::from_values(v),
        })
    }

    fn framer(&self) -> Framer {
        let rfc5424 = self.flavour == Flavour::Syslog || self.syslog_protocol;
        let body = match (rfc5424, &self.template) {
            (true, t) => Body::Rfc5424 { msg: t.clone() },
            (false, Some(t)) => Body::Template(t.clone()),
            (false, None) => Body::Legacy,
        };
        // Octet counting is syslog()'s stream framing; network() and UDP
        // send bare bodies.
        let octets = self.flavour == Flavour::Syslog && self.wire != Wire::Udp;
        Framer::new(body, octets, self.no_multi_line, self.truncate)
    }

    fn target(&self) -> anyhow::Result<Target> {
        let transport = match (&self.wire, &self.tls) {
            (Wire::Tls, Some(t)) => Transport::Tls(t.client_config()?),
            (Wire::Udp, _) => Transport::Udp,
            _ => Transport::Tcp,
        };
        Ok(Target {
            servers: self.servers.clone(),
            port: self.port,
            transport,
            ip_protocol: self.ip_protocol,
            local: self.local,
            keepalive: self.keepalive,
            sndbuf: self.sndbuf,
            close_on_input: self.close_on_input,
            time_reopen: self.time_reopen,
            failback: self.failback,
        })
    }
}

impl Destination for ForwardOptions {
    fn fingerprint(&self, fp: &mut Fingerprint) {
        fp.add_debug("flavour", &self.flavour)
            .add_debug("servers", &self.servers)
            .add_debug("wire", &self.wire)
            .add_debug("port", &self.port)
            .add_debug("ip-protocol", &self.ip_protocol)
            .add_debug("local", &self.local)
            .add_debug("tls", &self.tls)
            .add("template", self.template.as_ref().map_or("", |t| t.text()))
            .add_debug("syslog-protocol", &self.syslog_protocol)
            .add_debug("no-multi-line", &self.no_multi_line)
            .add_debug("truncate-size", &self.truncate)
            .add_debug("time-zone", &self.time_zone)
            .add_debug("frac-digits", &self.frac_digits)
            .add_debug("time-reopen", &self.time_reopen)
            .add_debug("keepalive", &self.keepalive)
            .add_debug("so-sndbuf", &self.sndbuf)
            .add_debug("close-on-input", &self.close_on_input)
            .add_debug("failback", &self.failback)
            .add_debug("disk-buffer", &self.disk_buffer)
            .add("persist-name", &self.persist_name)
            .add_debug("queue", &self.queue);
    }

    fn owner(&self) -> Option<String> {
        self.disk_buffer
            .as_ref()
            .map(|_| format!("disk-buffer:{}", self.persist_name))
    }

    fn queue_limits(&self) -> QueueLimits {
        self.queue
    }

    fn start(&self, cx: StartContext, render: RenderContext) -> std::io::Result<Worker> {
        let opts = self.clone();
        let id = cx.id.clone();
        let disk_dir = self.disk_buffer.as_ref().map(|d| {
            crate::destinations::spool_dir(
                "disk-buffer",
                d.dir.as_deref().unwrap_or(&cx.state_dir.join("spool")),
                &self.persist_name,
            )
        });
        worker::spawn(cx, move || {
            // Certificates are read at every start, so a renewed one takes
            // effect with a reload.
            let target = opts
                .target()
                .map_err(|e| Failure::retry(format!("{e:#}")))?;
            let disk = match (&opts.disk_buffer, &disk_dir) {
                (Some(d), Some(dir)) => {
                    Some(DiskQueue::open(dir, d.reliable, d.size).map_err(|e| {
                        Failure::retry(format!("disk-buffer {}: {e}", dir.display()))
                    })?)
                }
                _ => None,
            };
            ForwardDriver::new(&opts, target, disk, render.clone(), id.clone())
        })
    }
}

/// Rendered bytes the driver keeps ahead of the connection; past them the
/// destination's queue holds messages back (and flow control the sources).
const OUTBOX_BYTES: usize = 4 << 20;

/// The running `network()` / `syslog()` destination: renders each delivery
/// into frames for the sender task, which acknowledges them once written; or,
/// with a disk buffer, appends them to it and acknowledges them once synced.
pub struct ForwardDriver {
    framer: Framer,
    ctx: RenderContext,
    outbox: Arc<Outbox>,
    task: JoinHandle<()>,
    /// Deliveries in the disk buffer, not yet synced.
    held: Vec<Ack>,
    /// Frames the disk buffer could not take (a full disk), to append again.
    stalled: Option<(Vec<u8>, Vec<u32>, Ack)>,
    /// Where the sender task runs: it writes (and encrypts) while this
    /// thread renders the next frames.
    _threads: TaskThreads,
}

impl ForwardDriver {
    fn new(
        opts: &ForwardOptions,
        target: Target,
        disk: Option<DiskQueue>,
        ctx: RenderContext,
        id: String,
    ) -> Result<ForwardDriver, Failure> {
        let outbox = Outbox::new(disk);
        let threads = TaskThreads::new("sender", 1)?;
        let task = threads
            .handle()
            .spawn(sender::run(outbox.clone(), target, id));
        Ok(ForwardDriver {
            framer: opts.framer(),
            ctx: ctx.with_overrides(opts.time_zone.as_ref(), opts.frac_digits),
            outbox,
            task,
            held: Vec::new(),
            stalled: None,
            _threads: threads,
        })
    }

    /// Appends what is stalled to the disk buffer.
    fn append(&mut self) -> Result<(), Failure> {
        let (Some(disk), Some((bytes, ends, _))) = (&self.outbox.disk, &self.stalled) else {
            return Ok(());
        };
        disk.append(bytes, ends)
            .map_err(|e| Failure::retry(format!("cannot write the disk buffer: {e}")))?;
        if let Some((_, _, ack)) = self.stalled.take() {
            self.held.push(ack);
        }
        self.outbox.notify();
        Ok(())
    }
}

impl Driver for ForwardDriver {
    fn accept(&mut self, delivery: Delivery, _now: Instant) -> Result<(), Failure> {
        let mut bytes = Vec::with_capacity(delivery.batch.bytes() + 64 * delivery.len());
        let mut ends = Vec::with_capacity(delivery.len());
        for m in delivery.messages() {
            self.framer.frame(m, &self.ctx, &mut bytes);
            ends.push(bytes.len() as u32);
        }
        let ack = delivery.release();
        if self.outbox.disk.is_some() {
            self.stalled = Some((bytes, ends, ack));
            return self.append();
        }
        self.outbox.push(Segment {
            bytes,
            ends,
            ack: Some(ack),
            from: None,
        });
        Ok(())
    }

    fn retry(&mut self, now: Instant) -> Result<(), Failure> {
        self.append()?;
        self.sync(now)
    }

    fn sync(&mut self, _now: Instant) -> Result<(), Failure> {
        if let Some(disk) = &self.outbox.disk
            && !self.held.is_empty()
        {
            disk.sync()
                .map_err(|e| Failure::retry(format!("cannot sync the disk buffer: {e}")))?;
            for ack in self.held.drain(..) {
                ack.ack();
            }
        }
        Ok(())
    }

    fn ready(&self) -> bool {
        match &self.outbox.disk {
            Some(disk) => disk.bytes() < disk.limit,
            None => self.outbox.bytes() < OUTBOX_BYTES,
        }
    }

    fn wakeup(&self) -> Option<Arc<Notify>> {
        Some(self.outbox.room.clone())
    }

    async fn close(&mut self, deadline: Instant) {
        self.outbox.close();
        if tokio::time::timeout_at(deadline, &mut self.task)
            .await
            .is_err()
        {
            if self.outbox.disk.is_some() {
                tracing::warn!(
                    "stopping before the server took every message; the rest stays in the disk buffer for the next start"
                );
            } else {
                let left = self.outbox.bytes();
                tracing::error!(
                    bytes = left,
                    "stopping before the server took every message; the rest is lost"
                );
            }
            self.task.abort();
        }
    }
}
