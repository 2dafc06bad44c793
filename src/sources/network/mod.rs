//! `network()`: syslog over TCP and UDP.
//!
//! `mod.rs` holds the user-facing options; `framing.rs` splits a TCP stream into
//! frames; `tcp.rs` and `udp.rs` are the running listeners.

pub mod framing;
pub mod hostname;
pub mod tcp;
pub mod tls;
pub mod udp;

use crate::config::schema::{DriverSpec, Kind, OptionSpec, TimeUnit, Values};
use crate::logpath::Routes;
use crate::message::Zone;
use crate::parse::ParseOptions;
use crate::telemetry::SourceStats;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const SPEC: DriverSpec = DriverSpec {
    name: "network",
    context: "source",
    doc: "Receives syslog over TCP, TLS or UDP. Framing (RFC 6587 octet counting or newline) is detected per connection; RFC 3164 and RFC 5424 are told apart per message. syslog-ng's older tcp(), udp(), tcp6() and udp6() sources are read as network() with that transport.",
    positional: None,
    options: &[
        OptionSpec {
            name: "transport",
            kind: Kind::Enum(&["tcp", "udp", "tls", "framed"]),
            default: "tcp",
            doc: "tcp, udp, tls (RFC 5425; configure it with tls()), or framed (TCP with RFC 6587 octet counting only, as syslog-ng's).",
        },
        OptionSpec {
            name: "tls",
            kind: Kind::Group(&tls::SPEC),
            default: "",
            doc: "Key, certificate and client verification of transport(\"tls\").",
        },
        OptionSpec {
            name: "ip",
            kind: Kind::Str,
            default: "0.0.0.0",
            doc: "The address to listen on (IPv4 or IPv6).",
        },
        OptionSpec {
            name: "port",
            kind: Kind::Int { min: 0, max: 65535 },
            default: "514",
            doc: "The port to listen on.",
        },
        OptionSpec {
            name: "max-connections",
            kind: Kind::Int {
                min: 1,
                max: 1_000_000,
            },
            default: "10",
            doc: "TCP connections accepted at once; further ones are closed and counted as rejected.",
        },
        OptionSpec {
            name: "log-msg-size",
            kind: Kind::Size {
                min: 64,
                max: 256 << 20,
            },
            default: "64KiB",
            doc: "The longest message; longer ones are split, or cut with trim-large-messages(yes), and counted as oversize.",
        },
        OptionSpec {
            name: "trim-large-messages",
            kind: Kind::Bool,
            default: "no",
            doc: "Cut oversize messages at log-msg-size() and discard the rest, instead of splitting them.",
        },
        OptionSpec {
            name: "framing",
            kind: Kind::Enum(&["auto", "octet-counted", "newline"]),
            default: "auto",
            doc: "TCP framing: auto detects RFC 6587 octet counting from the first byte of a connection.",
        },
        OptionSpec {
            name: "flags",
            kind: Kind::Flags(&[
                "no-parse",
                "no-hostname",
                "syslog-protocol",
                "no-multi-line",
                "store-raw-message",
            ]),
            default: "",
            doc: "no-parse: keep each frame whole as MESSAGE; no-hostname: never read a HOST field (RFC 3164); no-multi-line: line breaks in a message become spaces; store-raw-message: keep the frame for ${RAWMSG}; syslog-protocol is accepted for compatibility (RFC 5424 is recognised on every source).",
        },
        OptionSpec {
            name: "time-zone",
            kind: Kind::Zone,
            default: "",
            doc: "The zone of timestamps that carry none (RFC 3164); defaults to the global recv-time-zone(), else local time.",
        },
        OptionSpec {
            name: "so-rcvbuf",
            kind: Kind::Size {
                min: 0,
                max: 1 << 30,
            },
            default: "0",
            doc: "Kernel receive buffer of the socket (0 leaves the system default); useful for UDP bursts.",
        },
        OptionSpec {
            name: "keep-hostname",
            kind: Kind::Bool,
            default: "",
            doc: "Overrides the global keep-hostname() for this source.",
        },
        OptionSpec {
            name: "chain-hostnames",
            kind: Kind::Bool,
            default: "",
            doc: "Overrides the global chain-hostnames() for this source.",
        },
        OptionSpec {
            name: "use-dns",
            kind: Kind::Enum(&["yes", "no", "persist-only"]),
            default: "",
            doc: "Overrides the global use-dns() for this source.",
        },
        OptionSpec {
            name: "use-fqdn",
            kind: Kind::Bool,
            default: "",
            doc: "Overrides the global use-fqdn() for this source.",
        },
        OptionSpec {
            name: "normalize-hostnames",
            kind: Kind::Bool,
            default: "",
            doc: "Overrides the global normalize-hostnames() for this source.",
        },
        OptionSpec {
            name: "dns-cache",
            kind: Kind::Bool,
            default: "",
            doc: "Overrides the global dns-cache() for this source.",
        },
        OptionSpec {
            name: "so-keepalive",
            kind: Kind::Bool,
            default: "yes",
            doc: "TCP keepalive on accepted connections, so a peer that vanished without closing (a half-open connection) frees its max-connections() slot.",
        },
        OptionSpec {
            name: "idle-timeout",
            kind: Kind::Duration {
                bare: TimeUnit::Seconds,
                min_ms: 0,
                max_ms: 86_400_000,
            },
            default: "0",
            doc: "Close a TCP connection that sent nothing for this long, freeing its max-connections() slot (seconds when bare; 0, the default, never).",
        },
        crate::net::socket::KEEPALIVE_OPTIONS[0],
        crate::net::socket::KEEPALIVE_OPTIONS[1],
        crate::net::socket::KEEPALIVE_OPTIONS[2],
        OptionSpec {
            name: "log-iw-size",
            kind: Kind::Int {
                min: 1,
                max: 100_000_000,
            },
            default: "",
            doc: "Accepted for syslog-ng compatibility; flow control in Sluice is bounded by the destination's log-fifo-size().",
        },
        OptionSpec {
            name: "log-fetch-limit",
            kind: Kind::Int {
                min: 1,
                max: 100_000_000,
            },
            default: "",
            doc: "Accepted for syslog-ng compatibility; Sluice reads as much as one buffer holds.",
        },
    ],
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Udp,
}

/// `network()`'s options, typed.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkOptions {
    pub transport: Transport,
    pub addr: SocketAddr,
    pub max_connections: usize,
    pub log_msg_size: usize,
    pub trim_large_messages: bool,
    pub framing: framing::Mode,
    pub no_parse: bool,
    pub no_hostname: bool,
    pub no_multi_line: bool,
    pub store_raw_message: bool,
    pub time_zone: Option<Zone>,
    pub so_rcvbuf: usize,
    /// Per-source hostname options; unset ones take the global option.
    pub keep_hostname: Option<bool>,
    pub chain_hostnames: Option<bool>,
    pub use_dns: Option<hostname::UseDns>,
    pub use_fqdn: Option<bool>,
    pub normalize_hostnames: Option<bool>,
    pub dns_cache: Option<bool>,
    /// Close a connection silent this long (`idle-timeout()`); `None` never.
    pub idle_timeout: Option<Duration>,
    /// TCP keepalive on accepted connections: (idle, interval, probes).
    pub keepalive: Option<(Duration, Duration, u32)>,
    /// transport("tls"): TCP with a TLS session on every connection.
    pub tls: Option<tls::TlsOptions>,
}

impl NetworkOptions {
    /// Builds the options from checked values; an error names the option it is
    /// about, for the caret.
    pub fn from_values(
        v: &Values,
        default_msg_size: usize,
    ) -> Result<NetworkOptions, (&'static str, String)> {
        let ip_text = v.str("ip").unwrap_or("0.0.0.0");
        let ip: IpAddr = ip_text.parse().map_err(|_| {
            (
                "ip",
                format!("ip() takes an IPv4 or IPv6 address, not `{ip_text}`"),
            )
        })?;
        let flags = v.flags("flags");
        let transport = v.str("transport").unwrap_or("tcp");
        let tls = match (transport, v.group("tls")) {
            ("tls", Some(t)) => Some(tls::TlsOptions::from_values(t).map_err(|e| ("tls", e))?),
            ("tls", None) => {
                return Err((
                    "transport",
                    "transport(\"tls\") needs tls(key-file(\"...\") cert-file(\"...\"))".into(),
                ));
            }
            (other, Some(_)) => {
                return Err((
                    "tls",
                    format!("tls() is for transport(\"tls\"), and this source is {other}"),
                ));
            }
            (_, None) => None,
        };
        Ok(NetworkOptions {
            transport: match transport {
                "udp" => Transport::Udp,
                _ => Transport::Tcp,
            },
            tls,
            addr: SocketAddr::new(ip, v.int("port").unwrap_or(514) as u16),
            max_connections: v.int("max-connections").unwrap_or(10) as usize,
            log_msg_size: v
                .size("log-msg-size")
                .map_or(default_msg_size, |s| s as usize),
            trim_large_messages: v.bool("trim-large-messages").unwrap_or(false),
            framing: match (v.str("framing"), transport) {
                (Some("octet-counted"), _) | (None, "framed") => framing::Mode::OctetCounted,
                (Some("newline"), _) => framing::Mode::Newline,
                _ => framing::Mode::Auto,
            },
            no_parse: flags.iter().any(|f| f == "no-parse"),
            no_hostname: flags.iter().any(|f| f == "no-hostname"),
            no_multi_line: flags.iter().any(|f| f == "no-multi-line"),
            store_raw_message: flags.iter().any(|f| f == "store-raw-message"),
            time_zone: v.zone("time-zone").cloned(),
            so_rcvbuf: v.size("so-rcvbuf").unwrap_or(0) as usize,
            keep_hostname: v.bool("keep-hostname"),
            chain_hostnames: v.bool("chain-hostnames"),
            use_dns: v.str("use-dns").map(hostname::UseDns::parse),
            use_fqdn: v.bool("use-fqdn"),
            normalize_hostnames: v.bool("normalize-hostnames"),
            dns_cache: v.bool("dns-cache"),
            idle_timeout: v.duration("idle-timeout").filter(|d| !d.is_zero()),
            keepalive: v.bool("so-keepalive").unwrap_or(true).then(|| {
                (
                    v.duration("tcp-keepalive-time")
                        .unwrap_or(Duration::from_secs(60)),
                    v.duration("tcp-keepalive-intvl")
                        .unwrap_or(Duration::from_secs(10)),
                    v.int("tcp-keepalive-probes").unwrap_or(6) as u32,
                )
            }),
        })
    }
}

/// What a running listener needs, swapped as a whole on reload.
#[derive(Debug)]
pub struct ListenerConfig {
    /// `s_net#0`: the source name and driver index, for counters and logs.
    pub id: String,
    pub options: NetworkOptions,
    pub parse: ParseOptions,
    pub routes: Routes,
    pub stats: Arc<SourceStats>,
    /// SOURCE, PROTO and DESTIP/DESTPORT of its messages.
    pub origin: crate::message::OriginId,
    /// keep-hostname(), use-dns() and friends, globals and overrides merged.
    pub host: hostname::HostOptions,
    /// use-rcptid(): number every message.
    pub rcptid: bool,
    /// The TLS session of transport("tls"), built from the files when the
    /// config was applied.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

/// A listener at work (TCP accepting, or UDP receiving): its task, and the
/// channel that hands it new settings on reload. Dropping it stops the listener;
/// open TCP connections close after their current batch.
pub struct Listener {
    local_addr: SocketAddr,
    config: watch::Sender<Arc<ListenerConfig>>,
    task: JoinHandle<()>,
}

impl Listener {
    /// Wraps a spawned listener task; `config` is the sender of the watch
    /// channel the task reads its settings from.
    fn new(
        local_addr: SocketAddr,
        config: watch::Sender<Arc<ListenerConfig>>,
        task: JoinHandle<()>,
    ) -> Listener {
        {
            let c = config.borrow();
            tracing::info!(source = %c.id, addr = %local_addr, transport = c.options.label(), "listening");
        }
        Listener {
            local_addr,
            config,
            task,
        }
    }

    /// New settings for the listener and its open connections (on reload).
    pub fn update(&self, config: Arc<ListenerConfig>) {
        self.config.send_replace(config);
    }

    /// `tls 127.0.0.1:6514`: the transport under the current config, and the address.
    pub fn describe(&self) -> String {
        format!(
            "{} {}",
            self.config.borrow().options.label(),
            self.local_addr
        )
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl NetworkOptions {
    /// `tcp`, `udp` or `tls`, as the config and the logs name the transport.
    pub fn label(&self) -> &'static str {
        match (self.transport, &self.tls) {
            (Transport::Udp, _) => "udp",
            (Transport::Tcp, Some(_)) => "tls",
            (Transport::Tcp, None) => "tcp",
        }
    }
}

/// The socket identity that survives a reload.
pub fn listen_key(o: &NetworkOptions) -> (Transport, SocketAddr) {
    (o.transport, o.addr)
}
