//! The plan: the typed, validated config the daemon runs. Built from the AST with
//! no I/O, so `--syntax-only` checks exactly what a start or reload would run,
//! and every error is reported at once.

use super::ast::{
    Arg, Config, FilterDef, Ident, Item, LogItem, LogPath, Object, ObjectKind, Opt, Value,
};
use super::diagnostic::{Diagnostic, nearest};
use super::routing::{self, Names};
pub use super::routing::{Connection, SourceRouting};
use super::schema::{self, Account, DriverSpec, Kind, OptionSpec, TimeUnit};
use super::source::{SourceMap, Span};
use super::unsupported::{self, Place};
use crate::destinations::{self, Destination, Fingerprint};
use crate::message::Zone;
use crate::parse::HostPattern;
use crate::sources::internal;
use crate::sources::network::hostname::{HostOptions, UseDns};
use crate::sources::network::{self, NetworkOptions};
use std::collections::HashMap;
use std::sync::Arc;

/// The source drivers; destinations are in [`destinations::KINDS`].
const SOURCES: &[&DriverSpec] = &[&network::SPEC, &internal::SPEC];

/// Every driver Sluice has, for lookups, suggestions and the man page.
pub fn drivers() -> impl Iterator<Item = &'static DriverSpec> {
    SOURCES
        .iter()
        .copied()
        .chain(destinations::KINDS.iter().map(|k| k.spec))
}

/// `options { ... };`
pub const GLOBAL_SPEC: DriverSpec = DriverSpec {
    name: "options",
    context: "global",
    doc: "Settings for the whole daemon; drivers may override some of them.",
    positional: None,
    options: &[
        OptionSpec {
            name: "time-zone",
            kind: Kind::Zone,
            default: "",
            doc: "Render dates in templates in this zone; by default a timestamp keeps the zone it was written in.",
        },
        OptionSpec {
            name: "time-reopen",
            kind: Kind::Duration {
                bare: TimeUnit::Seconds,
                min_ms: 100,
                max_ms: 86_400_000,
            },
            default: "60",
            doc: "The longest wait between a forwarding destination's attempts to connect (seconds when bare); each destination may set its own.",
        },
        OptionSpec {
            name: "recv-time-zone",
            kind: Kind::Zone,
            default: "",
            doc: "The zone of received timestamps that carry none (RFC 3164); local time by default.",
        },
        OptionSpec {
            name: "log-fifo-size",
            kind: Kind::Int {
                min: 1,
                max: 100_000_000,
            },
            default: "10000",
            doc: "Messages each destination queue holds. On flow-controlled paths a full queue stops the sources; on others, new messages are dropped and counted.",
        },
        OptionSpec {
            name: "log-fifo-bytes",
            kind: Kind::Size {
                min: 1 << 20,
                max: 4 << 30,
            },
            default: "32MiB",
            doc: "Bytes of messages each destination queue holds (a held message keeps its read buffer alive), as a second bound beside log-fifo-size(); a full queue acts as for log-fifo-size().",
        },
        OptionSpec {
            name: "log-msg-size",
            kind: Kind::Size {
                min: 64,
                max: 256 << 20,
            },
            default: "64KiB",
            doc: "The default longest message of sources.",
        },
        OptionSpec {
            name: "create-dirs",
            kind: Kind::Bool,
            default: "no",
            doc: "Default of file()'s create-dirs().",
        },
        OptionSpec {
            name: "ts-format",
            kind: Kind::Enum(&["rfc3164", "bsd", "rfc3339", "iso", "unix"]),
            default: "rfc3164",
            doc: "Default of file()'s ts-format().",
        },
        OptionSpec {
            name: "frac-digits",
            kind: Kind::Int { min: 0, max: 9 },
            default: "0",
            doc: "Digits of the fraction of a second in timestamps (DATE, ISODATE, UNIXTIME, ...): 3 for milliseconds, 6 for microseconds.",
        },
        OptionSpec {
            name: "perm",
            kind: Kind::Octal { max: 0o7777 },
            default: "0600",
            doc: "Default of file()'s perm().",
        },
        OptionSpec {
            name: "dir-perm",
            kind: Kind::Octal { max: 0o7777 },
            default: "0700",
            doc: "Default of file()'s dir-perm().",
        },
        OptionSpec {
            name: "owner",
            kind: Kind::Account(Account::User),
            default: "",
            doc: "Default of file()'s owner().",
        },
        OptionSpec {
            name: "group",
            kind: Kind::Account(Account::Group),
            default: "",
            doc: "Default of file()'s group().",
        },
        OptionSpec {
            name: "dir-owner",
            kind: Kind::Account(Account::User),
            default: "",
            doc: "Default of file()'s dir-owner().",
        },
        OptionSpec {
            name: "dir-group",
            kind: Kind::Account(Account::Group),
            default: "",
            doc: "Default of file()'s dir-group().",
        },
        OptionSpec {
            name: "dns-cache",
            kind: Kind::Bool,
            default: "yes",
            doc: "Cache resolved peer names (1007 names, an hour; failures a minute), as syslog-ng does.",
        },
        OptionSpec {
            name: "dns-cache-hosts",
            kind: Kind::Str,
            default: "",
            doc: "A file in /etc/hosts format whose names are used before DNS, and alone with use-dns(persist-only).",
        },
        OptionSpec {
            name: "bad-hostname",
            kind: Kind::Str,
            default: "",
            doc: "A regular expression: an RFC 3164 word in the hostname's place that matches is not taken as the hostname, but as the program.",
        },
        OptionSpec {
            name: "keep-hostname",
            kind: Kind::Bool,
            default: "yes",
            doc: "HOST is the hostname the sender wrote (HOST_FROM when it wrote none); with no, HOST is always HOST_FROM. syslog-ng's default is no.",
        },
        OptionSpec {
            name: "use-dns",
            kind: Kind::Enum(&["yes", "no", "persist-only"]),
            default: "no",
            doc: "HOST_FROM is the peer's name by reverse lookup (yes), or from the dns-cache-hosts() file only (persist-only), instead of its address. syslog-ng's default is yes.",
        },
        OptionSpec {
            name: "use-fqdn",
            kind: Kind::Bool,
            default: "no",
            doc: "HOST_FROM keeps the domain of a resolved name (FULLHOST_FROM always does).",
        },
        OptionSpec {
            name: "normalize-hostnames",
            kind: Kind::Bool,
            default: "no",
            doc: "Lowercase resolved names.",
        },
        OptionSpec {
            name: "chain-hostnames",
            kind: Kind::Bool,
            default: "no",
            doc: "HOST becomes SENT/HOST_FROM (HOST_FROM/HOST_FROM when none was sent): ${HOST} shows the first name, ${FULLHOST} the chain.",
        },
        OptionSpec {
            name: "use-rcptid",
            kind: Kind::Bool,
            default: "no",
            doc: "Number every received message (RCPTID), counting on across restarts.",
        },
        OptionSpec {
            name: "use-uniqid",
            kind: Kind::Bool,
            default: "no",
            doc: "Give every message a UNIQID (HOSTID@RCPTID); implies use-rcptid().",
        },
        OptionSpec {
            name: "stats-freq",
            kind: Kind::Duration {
                bare: TimeUnit::Seconds,
                min_ms: 0,
                max_ms: 86_400_000,
            },
            default: "0",
            doc: "Accepted for syslog-ng compatibility; read counters with sluice-ctl stats.",
        },
        OptionSpec {
            name: "flush-lines",
            kind: Kind::Int {
                min: 0,
                max: 1_000_000,
            },
            default: "0",
            doc: "Accepted for syslog-ng compatibility; destinations write whole batches.",
        },
        OptionSpec {
            name: "threaded",
            kind: Kind::Bool,
            default: "yes",
            doc: "Accepted for syslog-ng compatibility; Sluice is always threaded.",
        },
    ],
};

/// Flags a log path accepts.

#[derive(Clone, Debug, PartialEq)]
pub struct GlobalOptions {
    pub time_zone: Option<Zone>,
    pub recv_time_zone: Option<Zone>,
    pub log_fifo_size: usize,
    pub log_fifo_bytes: usize,
    pub log_msg_size: usize,
    pub frac_digits: u8,
    pub bad_hostname: Option<HostPattern>,
    /// keep-hostname(), use-dns() and friends, before per-source overrides.
    pub host: HostOptions,
    /// use-rcptid() or use-uniqid().
    pub rcptid: bool,
}

impl Default for GlobalOptions {
    fn default() -> Self {
        GlobalOptions {
            time_zone: None,
            recv_time_zone: None,
            log_fifo_size: 10_000,
            log_fifo_bytes: 32 << 20,
            log_msg_size: 64 * 1024,
            frac_digits: 0,
            bad_hostname: None,
            host: HostOptions {
                keep_hostname: true,
                dns_cache: true,
                ..HostOptions::default()
            },
            rcptid: false,
        }
    }
}

impl GlobalOptions {
    /// A source's hostname options: its own where set, else the global ones.
    pub fn host_options(&self, o: &NetworkOptions) -> HostOptions {
        let g = &self.host;
        HostOptions {
            keep_hostname: o.keep_hostname.unwrap_or(g.keep_hostname),
            chain_hostnames: o.chain_hostnames.unwrap_or(g.chain_hostnames),
            use_dns: o.use_dns.unwrap_or(g.use_dns),
            use_fqdn: o.use_fqdn.unwrap_or(g.use_fqdn),
            normalize_hostnames: o.normalize_hostnames.unwrap_or(g.normalize_hostnames),
            dns_cache: o.dns_cache.unwrap_or(g.dns_cache),
            hosts_file: g.hosts_file.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub enum SourceDriver {
    Network(Box<NetworkOptions>),
    /// `internal()`: Sluice's own log.
    Internal,
}

/// One driver of a source object, named `object#index` in counters and logs.
#[derive(Clone, Debug)]
pub struct SourceInstance {
    pub id: String,
    pub object: String,
    pub driver: SourceDriver,
}

#[derive(Clone, Debug)]
pub struct DestinationInstance {
    pub id: String,
    pub object: String,
    pub driver: Arc<dyn Destination>,
    /// Equal fingerprints mean a reload can keep the running destination.
    pub fingerprint: String,
}

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub options: GlobalOptions,
    pub sources: Vec<SourceInstance>,
    pub destinations: Vec<DestinationInstance>,
    /// Per source instance (same index as `sources`): where its messages go.
    pub routing: Vec<SourceRouting>,
    /// Things worth telling the user that do not stop the config (an unused destination).
    pub warnings: Vec<Diagnostic>,
}

/// Checks a parsed config and turns it into a plan, or returns every error.
pub fn build(config: &Config, map: &SourceMap) -> Result<Plan, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut plan = Plan::default();
    let _named = crate::template::named::Scope::enter(named_templates(config, map, &mut diags));
    // Each named template compiles, used or not (their references may nest).
    for item in &config.items {
        let Item::Template(t) = item else { continue };
        for v in t
            .opts
            .iter()
            .filter(|o| o.name.name == "template")
            .filter_map(|o| o.values().next())
        {
            if let Err(e) = crate::template::Template::compile(&v.text) {
                diags.push(schema::template_diagnostic(v, &e, map));
            }
        }
    }
    // Every options { } block, merged: later ones win, as in syslog-ng.
    let mut globals = schema::Values::default();
    for item in &config.items {
        if let Item::Options { opts, span } = item {
            let call = Opt {
                name: super::ast::Ident {
                    name: "options".into(),
                    span: *span,
                },
                args: opts.iter().cloned().map(super::ast::Arg::Opt).collect(),
                span: *span,
            };
            globals.extend(schema::check(&call, &GLOBAL_SPEC, map, &mut diags));
        }
    }
    let o = &mut plan.options;
    o.time_zone = globals.zone("time-zone").cloned();
    o.recv_time_zone = globals.zone("recv-time-zone").cloned();
    if let Some(n) = globals.int("log-fifo-size") {
        o.log_fifo_size = n as usize;
    }
    if let Some(n) = globals.size("log-fifo-bytes") {
        o.log_fifo_bytes = n as usize;
    }
    if let Some(n) = globals.size("log-msg-size") {
        o.log_msg_size = n as usize;
    }
    if let Some(n) = globals.int("frac-digits") {
        o.frac_digits = n as u8;
    }
    let h = &mut o.host;
    h.keep_hostname = globals.bool("keep-hostname").unwrap_or(h.keep_hostname);
    h.chain_hostnames = globals.bool("chain-hostnames").unwrap_or(h.chain_hostnames);
    h.use_dns = globals.str("use-dns").map_or(h.use_dns, UseDns::parse);
    h.use_fqdn = globals.bool("use-fqdn").unwrap_or(h.use_fqdn);
    h.normalize_hostnames = globals
        .bool("normalize-hostnames")
        .unwrap_or(h.normalize_hostnames);
    h.dns_cache = globals.bool("dns-cache").unwrap_or(h.dns_cache);
    h.hosts_file = globals.str("dns-cache-hosts").map(std::path::PathBuf::from);
    o.rcptid = globals.bool("use-rcptid") == Some(true) || globals.bool("use-uniqid") == Some(true);
    if let (Some(text), Some(span)) = (globals.str("bad-hostname"), globals.span_of("bad-hostname"))
    {
        match regex::bytes::Regex::new(text) {
            Ok(re) => o.bad_hostname = Some(HostPattern(re)),
            Err(e) => diags.push(Diagnostic::error(
                span,
                format!(
                    "bad-hostname(): invalid regular expression: {}",
                    crate::logpath::filter::regex_reason(&e)
                ),
            )),
        }
    }

    // Objects by kind and name; inline objects of log paths join them.
    let mut objects: Vec<&Object> = Vec::new();
    let mut paths: Vec<&LogPath> = Vec::new();
    let mut filters: Vec<&FilterDef> = Vec::new();
    for item in &config.items {
        match item {
            Item::Object(o) => objects.push(o),
            Item::Filter(f) => {
                if let Some(prev) = filters.iter().find(|p| p.name.name == f.name.name) {
                    diags.push(
                        Diagnostic::error(
                            f.name.span,
                            format!("filter `{}` is defined twice", f.name.name),
                        )
                        .with_help(format!(
                            "the first definition is at {}",
                            map.location(prev.name.span)
                        )),
                    );
                }
                filters.push(f);
            }
            Item::Log(p) => {
                collect_inline(p, &mut objects);
                paths.push(p);
            }
            Item::Options { .. } | Item::Template(_) => {}
        }
    }
    let mut by_name: HashMap<(ObjectKind, &str), &Object> = HashMap::new();
    for o in &objects {
        if let Some(prev) = by_name.insert((o.kind, o.name.name.as_str()), o) {
            diags.push(
                Diagnostic::error(
                    o.name.span,
                    format!("{} `{}` is defined twice", o.kind.keyword(), o.name.name),
                )
                .with_help(format!(
                    "the first definition is at {}",
                    map.location(prev.name.span)
                )),
            );
        }
        if o.kind == ObjectKind::Parser {
            diags.push(Diagnostic::error(
                o.span,
                format!(
                    "`{}`: {}",
                    o.kind.keyword(),
                    unsupported::reason(Place::Statement, o.kind.keyword())
                        .unwrap_or("not supported")
                ),
            ));
        }
    }

    // Drivers, in definition order, so instance ids are stable across reloads.
    let mut first_instance: HashMap<(ObjectKind, &str), Vec<usize>> = HashMap::new();
    let mut listen_at: HashMap<(network::Transport, std::net::SocketAddr), Span> = HashMap::new();
    let mut internal_at: Option<Span> = None;
    for o in &objects {
        for (i, call) in o.drivers.iter().enumerate() {
            let id = format!("{}#{i}", o.name.name);
            let legacy = legacy_driver(o.kind, call);
            let call = legacy.as_ref().unwrap_or(call);
            let Some(spec) =
                drivers().find(|s| s.context == o.kind.keyword() && s.name == call.name.key())
            else {
                let names = drivers()
                    .filter(|s| s.context == o.kind.keyword())
                    .map(|s| s.name);
                let place = match o.kind {
                    ObjectKind::Source => Some(Place::Source),
                    ObjectKind::Destination => Some(Place::Destination),
                    _ => None,
                };
                let known = place.and_then(|p| unsupported::reason(p, &call.name.name));
                let d = match known {
                    Some(why) => Diagnostic::error(
                        call.name.span,
                        format!("{} driver `{}`: {why}", o.kind.keyword(), call.name.name),
                    ),
                    None => {
                        let d = Diagnostic::error(
                            call.name.span,
                            format!("unknown {} driver `{}`", o.kind.keyword(), call.name.name),
                        );
                        match nearest(&call.name.name, names) {
                            Some(n) => d.with_help(format!("did you mean `{n}`?")),
                            None => d,
                        }
                    }
                };
                diags.push(d);
                continue;
            };
            let before = diags.len();
            let values = schema::check(call, spec, map, &mut diags);
            if diags.len() > before {
                continue;
            }
            warn_unknown_macros(&values, &mut plan.warnings);
            match (o.kind, spec.name) {
                (ObjectKind::Source, "network") => {
                    match NetworkOptions::from_values(&values, plan.options.log_msg_size) {
                        Ok(opts) => {
                            let key = network::listen_key(&opts);
                            if let Some(prev) = listen_at.insert(key, call.span) {
                                diags.push(
                                    Diagnostic::error(
                                        call.span,
                                        format!("{} {} is already a source", opts.label(), key.1),
                                    )
                                    .with_help(format!(
                                        "also listened on at {}",
                                        map.location(prev)
                                    )),
                                );
                                continue;
                            }
                            let instances = first_instance
                                .entry((o.kind, o.name.name.as_str()))
                                .or_default();
                            add_source(
                                &mut plan,
                                instances,
                                id,
                                o,
                                SourceDriver::Network(Box::new(opts)),
                            );
                        }
                        Err((option, e)) => diags.push(Diagnostic::error(
                            values.span_of(option).unwrap_or(call.span),
                            e,
                        )),
                    }
                }
                (ObjectKind::Source, "internal") => {
                    if let Some(prev) = internal_at.replace(call.span) {
                        diags.push(
                            Diagnostic::error(call.span, "internal() is already a source")
                                .with_help(format!("also at {}", map.location(prev))),
                        );
                        continue;
                    }
                    let instances = first_instance
                        .entry((o.kind, o.name.name.as_str()))
                        .or_default();
                    add_source(&mut plan, instances, id, o, SourceDriver::Internal);
                }
                (ObjectKind::Destination, name) => {
                    let Some(kind) = destinations::registry::kind(name) else {
                        continue;
                    };
                    let values = values.with_defaults(&globals, kind.from_global);
                    let driver = match (kind.build)(&values) {
                        Ok(d) => d,
                        Err(errors) => {
                            for e in errors {
                                let span = e.option.and_then(|o| values.span_of(o));
                                let d = Diagnostic::error(span.unwrap_or(call.span), e.message);
                                diags.push(match e.help {
                                    Some(h) => d.with_help(h),
                                    None => d,
                                });
                            }
                            continue;
                        }
                    };
                    first_instance
                        .entry((o.kind, o.name.name.as_str()))
                        .or_default()
                        .push(plan.destinations.len());
                    // The driver's options, global defaults included, and the
                    // globals the destination renders and queues with (not the
                    // parse-only ones, so changing those reopens no file).
                    let g = &plan.options;
                    let mut fp = Fingerprint::new(name);
                    driver.fingerprint(&mut fp);
                    fp.add_debug("time-zone", &g.time_zone)
                        .add_debug("frac-digits", &g.frac_digits)
                        .add_debug("log-fifo-size", &g.log_fifo_size)
                        .add_debug("log-fifo-bytes", &g.log_fifo_bytes);
                    plan.destinations.push(DestinationInstance {
                        id,
                        object: o.name.name.clone(),
                        fingerprint: fp.finish(),
                        driver,
                    });
                }
                _ => {}
            }
        }
    }

    // One owner per spool: two destinations writing one would corrupt it.
    let mut owners: HashMap<String, &str> = HashMap::new();
    for d in &plan.destinations {
        if let Some(owner) = d.driver.owner()
            && let Some(first) = owners.insert(owner, &d.object)
        {
            let span = objects
                .iter()
                .find(|o| o.name.name == d.object)
                .map_or(Span::default(), |o| o.name.span);
            diags.push(
                Diagnostic::error(
                    span,
                    format!(
                        "destination `{}` would share its spool with `{first}`",
                        d.object
                    ),
                )
                .with_help("give one of them its own persist-name()"),
            );
        }
    }

    // Log paths.
    let mut used = std::collections::HashSet::new();
    let names = Names {
        instances: &first_instance,
        objects: &objects,
        filters: &filters,
        source_objects: plan.sources.iter().map(|s| s.object.as_str()).collect(),
    };
    plan.routing = routing::build(&paths, &names, &mut used, &mut diags);
    let defined = objects
        .iter()
        .filter(|o| matches!(o.kind, ObjectKind::Source | ObjectKind::Destination))
        .map(|o| (o.kind, &o.name))
        .chain(filters.iter().map(|f| (ObjectKind::Filter, &f.name)));
    for (kind, name) in defined {
        if !used.contains(&(kind, name.name.clone())) {
            plan.warnings.push(Diagnostic::error(
                name.span,
                format!(
                    "{} `{}` is not used by any log path",
                    kind.keyword(),
                    name.name
                ),
            ));
        }
    }
    if diags.is_empty() {
        Ok(plan)
    } else {
        Err(diags)
    }
}

/// Records a source instance of object `o`.
fn add_source(
    plan: &mut Plan,
    instances: &mut Vec<usize>,
    id: String,
    o: &Object,
    driver: SourceDriver,
) {
    instances.push(plan.sources.len());
    plan.sources.push(SourceInstance {
        id,
        object: o.name.name.clone(),
        driver,
    });
}

fn collect_inline<'a>(p: &'a LogPath, out: &mut Vec<&'a Object>) {
    for item in &p.items {
        match item {
            LogItem::Inline(o) => out.push(o),
            LogItem::Log(inner) => collect_inline(inner, out),
            _ => {}
        }
    }
}

/// A `${NAME}` that is no macro renders empty: worth a warning, not an error,
/// since syslog-ng reads it as a name-value pair.
fn warn_unknown_macros(values: &schema::Values, warnings: &mut Vec<Diagnostic>) {
    for (template, span) in values.templates() {
        for (name, near) in template.unknown_macros() {
            let mut d = Diagnostic::error(
                span,
                format!(
                    "unknown macro `${{{name}}}`: it is read as a name-value pair, and renders empty"
                ),
            );
            if let Some(n) = near {
                d = d.with_help(format!("did you mean `${{{n}}}`?"));
            }
            warnings.push(d);
        }
    }
}

/// The `template NAME {...};` statements as name to text, each checked.
fn named_templates(
    config: &Config,
    map: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> HashMap<String, String> {
    let mut named: HashMap<String, (String, Span)> = HashMap::new();
    for item in &config.items {
        let Item::Template(t) = item else { continue };
        let mut text = None;
        for o in &t.opts {
            match (o.name.name.replace('_', "-").as_str(), o.values().next()) {
                ("template", Some(v)) => text = Some(v.text.clone()),
                ("template-escape", Some(v)) => match schema::parse_bool(&v.text) {
                    Some(false) => {}
                    Some(true) => diags.push(Diagnostic::error(
                        o.span,
                        "template-escape(yes) is not supported: Sluice writes values as they are",
                    )),
                    None => diags.push(Diagnostic::error(
                        v.span,
                        format!("template-escape() takes yes or no, not `{}`", v.text),
                    )),
                },
                (other, _) => {
                    let mut d = Diagnostic::error(
                        o.name.span,
                        format!("unknown option `{other}()` in template `{}`", t.name.name),
                    );
                    if let Some(n) = nearest(other, ["template", "template-escape"]) {
                        d = d.with_help(format!("did you mean `{n}`?"));
                    }
                    diags.push(d);
                }
            }
        }
        let Some(text) = text else {
            diags.push(Diagnostic::error(
                t.span,
                format!("template `{}` needs template(\"...\")", t.name.name),
            ));
            continue;
        };
        if let Some((_, prev)) = named.insert(t.name.name.clone(), (text, t.name.span)) {
            diags.push(
                Diagnostic::error(
                    t.name.span,
                    format!("template `{}` is defined twice", t.name.name),
                )
                .with_help(format!("the first definition is at {}", map.location(prev))),
            );
        }
    }
    named.into_iter().map(|(n, (t, _))| (n, t)).collect()
}

/// syslog-ng's older drivers `tcp()`, `udp()`, `tcp6()` and `udp6()`:
/// `network()` with that transport, as syslog-ng reads them. The IPv6 ones
/// listen on `::` unless `ip()` is given (sources), or connect over IPv6
/// (destinations).
fn legacy_driver(kind: ObjectKind, call: &Opt) -> Option<Opt> {
    if !matches!(kind, ObjectKind::Source | ObjectKind::Destination) {
        return None;
    }
    let (transport, v6) = match call.name.key().as_str() {
        "tcp" => ("tcp", false),
        "udp" => ("udp", false),
        "tcp6" => ("tcp", true),
        "udp6" => ("udp", true),
        _ => return None,
    };
    let span = call.name.span;
    let opt = |name: &str, value: &str| {
        Arg::Opt(Opt {
            name: Ident {
                name: name.into(),
                span,
            },
            args: vec![Arg::Value(Value {
                text: value.into(),
                quoted: true,
                span,
            })],
            span,
        })
    };
    let mut args = vec![opt("transport", transport)];
    if v6 && kind == ObjectKind::Source && !call.opts().any(|o| o.name.key() == "ip") {
        args.push(opt("ip", "::"));
    }
    if v6 && kind == ObjectKind::Destination && !call.opts().any(|o| o.name.key() == "ip-protocol")
    {
        args.push(opt("ip-protocol", "6"));
    }
    args.extend(call.args.iter().cloned());
    Some(Opt {
        name: Ident {
            name: "network".into(),
            span,
        },
        args,
        span: call.span,
    })
}
