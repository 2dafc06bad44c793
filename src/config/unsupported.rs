//! syslog-ng features Sluice does not implement, by where they are written, so
//! a syslog-ng config that uses one gets an error naming the feature and why,
//! not a generic "unknown statement".

/// Where a name was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A top-level statement (`rewrite r { ... };`).
    Statement,
    /// A source driver (`source s { system(); };`).
    Source,
    /// A destination driver (`destination d { program(...); };`).
    Destination,
    /// An element of a log path (`log { rewrite(r); };`).
    LogPath,
    /// A module named by `@module` or `@requires`.
    Module,
}

/// (place, syslog-ng name, what it is and why Sluice has none).
const FEATURES: &[(Place, &str, &str)] = &[
    (
        Place::Statement,
        "rewrite",
        "rewrite rules are not supported by Sluice: it delivers messages as they came",
    ),
    (
        Place::Statement,
        "parser",
        "parsers are not supported by Sluice yet (messages are parsed as syslog at the source)",
    ),
    (
        Place::Statement,
        "junction",
        "junctions are not supported by Sluice; nested log { } paths are",
    ),
    (
        Place::Statement,
        "channel",
        "channels are not supported by Sluice; nested log { } paths are",
    ),
    (
        Place::LogPath,
        "rewrite",
        "rewrite rules are not supported by Sluice: it delivers messages as they came",
    ),
    (
        Place::LogPath,
        "parser",
        "parsers are not supported by Sluice yet (messages are parsed as syslog at the source)",
    ),
    (
        Place::LogPath,
        "junction",
        "junctions are not supported by Sluice; use nested log { } paths",
    ),
    (
        Place::LogPath,
        "channel",
        "channels are not supported by Sluice; use nested log { } paths",
    ),
    (
        Place::Source,
        "system",
        "system() (the local log sockets and kernel log) is not supported: Sluice is a network log server; run it beside the system's own logger",
    ),
    (
        Place::Source,
        "file",
        "file() sources (following a file) are not supported: Sluice receives logs over the network",
    ),
    (
        Place::Source,
        "wildcard-file",
        "wildcard-file() is not supported: Sluice receives logs over the network",
    ),
    (
        Place::Source,
        "unix-stream",
        "unix-stream() sources are not supported: Sluice receives logs over the network",
    ),
    (
        Place::Source,
        "unix-dgram",
        "unix-dgram() sources are not supported: Sluice receives logs over the network",
    ),
    (
        Place::Source,
        "pipe",
        "pipe() sources are not supported: Sluice receives logs over the network",
    ),
    (
        Place::Source,
        "program",
        "program() sources are not supported: Sluice runs no external programs",
    ),
    (
        Place::Source,
        "systemd-journal",
        "systemd-journal() is not supported: Sluice receives logs over the network",
    ),
    (
        Place::Source,
        "python",
        "python() drivers are not supported: Sluice embeds no interpreter",
    ),
    (
        Place::Source,
        "java",
        "java() drivers are not supported: Sluice embeds no interpreter",
    ),
    (Place::Source, "snmptrap", "snmptrap() is not supported"),
    (
        Place::Destination,
        "program",
        "program() destinations are not supported: Sluice runs no external programs",
    ),
    (
        Place::Destination,
        "pipe",
        "pipe() destinations are not supported; file() writes to a named pipe",
    ),
    (
        Place::Destination,
        "usertty",
        "usertty() is not supported: Sluice writes to no terminals",
    ),
    (
        Place::Destination,
        "unix-stream",
        "unix-stream() destinations are not supported",
    ),
    (
        Place::Destination,
        "unix-dgram",
        "unix-dgram() destinations are not supported",
    ),
    (
        Place::Destination,
        "python",
        "python() drivers are not supported: Sluice embeds no interpreter",
    ),
    (
        Place::Destination,
        "java",
        "java() drivers are not supported: Sluice embeds no interpreter",
    ),
    (
        Place::Destination,
        "sql",
        "sql() destinations are not supported",
    ),
    (
        Place::Destination,
        "mongodb",
        "mongodb() destinations are not supported",
    ),
    (
        Place::Destination,
        "redis",
        "redis() destinations are not supported",
    ),
    (
        Place::Destination,
        "riemann",
        "riemann() destinations are not supported",
    ),
    (
        Place::Destination,
        "smtp",
        "smtp() destinations are not supported",
    ),
    (
        Place::Destination,
        "amqp",
        "amqp() destinations are not supported",
    ),
    (
        Place::Destination,
        "stomp",
        "stomp() destinations are not supported",
    ),
    (
        Place::Destination,
        "kafka",
        "kafka() destinations are not supported",
    ),
    (
        Place::Destination,
        "kafka-c",
        "kafka-c() destinations are not supported",
    ),
    (
        Place::Destination,
        "elasticsearch-http",
        "elasticsearch-http() destinations are not supported",
    ),
    (
        Place::Destination,
        "graphite",
        "graphite() destinations are not supported",
    ),
    (
        Place::Destination,
        "snmp",
        "snmp() destinations are not supported",
    ),
];

/// syslog-ng modules whose features Sluice has built in: `@module` or
/// `@requires` naming one is accepted.
const BUILT_IN_MODULES: &[&str] = &[
    "affile",
    "afsocket",
    "basicfuncs",
    "cef",
    "json-plugin",
    "syslogformat",
    "tfgetent",
];

/// Why `name` is not supported at `place`, when it is a known syslog-ng
/// feature Sluice does without.
pub fn reason(place: Place, name: &str) -> Option<&'static str> {
    let name = name.replace('_', "-");
    FEATURES
        .iter()
        .find(|(p, n, _)| *p == place && *n == name)
        .map(|(_, _, why)| *why)
}

/// Whether `@module NAME` / `@requires NAME` names a module Sluice has built in.
pub fn module_built_in(name: &str) -> bool {
    BUILT_IN_MODULES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_dashes_and_places_matter() {
        assert!(reason(Place::Destination, "program").is_some());
        assert!(reason(Place::Source, "unix_stream").is_some());
        assert!(reason(Place::Destination, "file").is_none());
        assert!(reason(Place::Source, "network").is_none());
        assert!(module_built_in("json-plugin"));
        assert!(!module_built_in("mod-python"));
    }
}
