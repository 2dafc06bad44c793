//! Log paths into routing: for every source instance, the destinations it may
//! reach and the [`Path`] program that picks among them per message.
//!
//! Paths are resolved once (references checked, filters compiled, every error
//! reported), then instantiated per source, since each source numbers its own
//! routes. Two paths naming one destination deliver twice, as in syslog-ng.

use super::ast::{FilterDef, FilterExpr, Ident, LogItem, LogPath, Object, ObjectKind};
use super::diagnostic::{Diagnostic, nearest};
use crate::logpath::{Filter, Path, Queue, Route, Routes, Step, filter};
use crate::template::RenderContext;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

const PATH_FLAGS: &[&str] = &["flow-control", "final", "fallback", "catchall", "catch-all"];

/// One destination instance a source's messages may go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub destination: usize,
    pub flow_control: bool,
}

/// What one source feeds.
#[derive(Clone, Debug, Default)]
pub struct SourceRouting {
    /// Route `n` of the source: one per destination step of every path it is in.
    pub connections: Vec<Connection>,
    pub paths: Vec<Path>,
}

impl SourceRouting {
    /// The runtime routes, given each destination instance's queue by index.
    pub fn routes(&self, queues: &[Queue], ctx: RenderContext) -> Routes {
        let routes = self
            .connections
            .iter()
            .map(|c| Route {
                queue: queues[c.destination].clone(),
                flow_control: c.flow_control,
            })
            .collect();
        Routes::new(routes, self.paths.clone(), ctx)
    }
}

/// What the checker needs to know of the rest of the config.
pub struct Names<'a> {
    /// Instance indexes of each source and destination object.
    pub instances: &'a HashMap<(ObjectKind, &'a str), Vec<usize>>,
    /// Every defined object, for "did you mean" and for objects whose drivers
    /// failed to check (known, but with no instances).
    pub objects: &'a [&'a Object],
    pub filters: &'a [&'a FilterDef],
    /// The object name of each source instance.
    pub source_objects: Vec<&'a str>,
}

/// A log path with its references resolved and filters compiled.
struct Node {
    sources: Vec<String>,
    catchall: bool,
    flow_control: bool,
    last: bool,
    fallback: bool,
    steps: Vec<NodeStep>,
}

enum NodeStep {
    Filter(Arc<Filter>),
    /// The instances of one destination object.
    Destination(Vec<usize>),
    Nested(Vec<Node>),
}

/// Builds the routing of every source, or reports into `diags`. `used` collects
/// the objects some path references.
pub fn build(
    paths: &[&LogPath],
    names: &Names,
    used: &mut HashSet<(ObjectKind, String)>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<SourceRouting> {
    let mut r = Resolver {
        names,
        compiled: HashMap::new(),
        used,
    };
    let nodes: Vec<Node> = paths
        .iter()
        .map(|p| r.node(p, false, true, diags))
        .collect();
    // Unused filters are still checked, so errors show up before use; what
    // only they reference stays unused for the warning.
    let used_by_paths = r.used.clone();
    for f in names.filters {
        if !r.compiled.contains_key(&f.name.name) {
            r.named(&f.name, diags);
        }
    }
    *r.used = used_by_paths;
    names
        .source_objects
        .iter()
        .map(|obj| {
            let mut routing = SourceRouting::default();
            for n in &nodes {
                if n.catchall || n.sources.iter().any(|s| s == obj) {
                    let path = instantiate(n, &mut routing.connections);
                    routing.paths.push(path);
                }
            }
            routing
        })
        .collect()
}

fn instantiate(n: &Node, connections: &mut Vec<Connection>) -> Path {
    let mut steps = Vec::new();
    for s in &n.steps {
        match s {
            NodeStep::Filter(f) => steps.push(Step::Filter(f.clone())),
            NodeStep::Destination(ix) => {
                for &d in ix {
                    connections.push(Connection {
                        destination: d,
                        flow_control: n.flow_control,
                    });
                    steps.push(Step::Deliver(connections.len() - 1));
                }
            }
            NodeStep::Nested(inner) => steps.push(Step::Nested(
                inner.iter().map(|i| instantiate(i, connections)).collect(),
            )),
        }
    }
    Path {
        steps,
        last: n.last,
        fallback: n.fallback,
    }
}

/// A named filter's state, so each is compiled once and cycles are caught.
enum Compiled {
    Compiling,
    Done(Arc<Filter>),
    Failed,
}

struct Resolver<'a, 'u> {
    names: &'a Names<'a>,
    compiled: HashMap<String, Compiled>,
    used: &'u mut HashSet<(ObjectKind, String)>,
}

impl Resolver<'_, '_> {
    fn node(&mut self, p: &LogPath, fc: bool, top: bool, diags: &mut Vec<Diagnostic>) -> Node {
        let mut n = Node {
            sources: Vec::new(),
            catchall: false,
            flow_control: fc,
            last: false,
            fallback: false,
            steps: Vec::new(),
        };
        // Flags hold for the whole path wherever they are written.
        for item in &p.items {
            if let LogItem::Flags(flags, _) = item {
                for f in flags {
                    match f.key().as_str() {
                        "flow-control" => n.flow_control = true,
                        "final" => n.last = true,
                        "fallback" => n.fallback = true,
                        "catchall" | "catch-all" => n.catchall = true,
                        other => {
                            let mut d = Diagnostic::error(
                                f.span,
                                format!("unknown log path flag `{other}`"),
                            );
                            if let Some(s) = nearest(other, PATH_FLAGS.iter().copied()) {
                                d = d.with_help(format!("did you mean `{s}`?"));
                            }
                            diags.push(d);
                        }
                    }
                }
            }
        }
        for item in &p.items {
            match item {
                LogItem::Ref { kind, name } => match kind {
                    ObjectKind::Source => self.source(&mut n, name, top, diags),
                    ObjectKind::Destination => {
                        if let Some(ix) = self.destination(name, diags) {
                            n.steps.push(NodeStep::Destination(ix));
                        }
                    }
                    ObjectKind::Filter => {
                        if let Some(f) = self.named(name, diags) {
                            n.steps.push(NodeStep::Filter(f));
                        }
                    }
                    ObjectKind::Parser => diags.push(Diagnostic::error(
                        name.span,
                        "parser references in log paths are not supported yet",
                    )),
                },
                LogItem::Inline(o) => match o.kind {
                    ObjectKind::Source => self.source(&mut n, &o.name, top, diags),
                    ObjectKind::Destination => {
                        if let Some(ix) = self.destination(&o.name, diags) {
                            n.steps.push(NodeStep::Destination(ix));
                        }
                    }
                    _ => {}
                },
                LogItem::InlineFilter(expr, _) => {
                    if let Some(f) = self.compile(expr, diags) {
                        n.steps.push(NodeStep::Filter(Arc::new(f)));
                    }
                }
                LogItem::Log(inner) => {
                    let child = self.node(inner, n.flow_control, false, diags);
                    // Consecutive nested paths form one group, so `final` in one
                    // keeps the message from its later siblings.
                    match n.steps.last_mut() {
                        Some(NodeStep::Nested(group)) => group.push(child),
                        _ => n.steps.push(NodeStep::Nested(vec![child])),
                    }
                }
                LogItem::Flags(..) => {}
            }
        }
        n
    }

    fn source(&mut self, n: &mut Node, name: &Ident, top: bool, diags: &mut Vec<Diagnostic>) {
        self.used.insert((ObjectKind::Source, name.name.clone()));
        if !top {
            diags.push(
                Diagnostic::error(
                    name.span,
                    "a nested log path takes its messages from the enclosing one",
                )
                .with_help("name the source in the outermost `log { }`"),
            );
            return;
        }
        if !self.known(ObjectKind::Source, name, diags) {
            return;
        }
        n.sources.push(name.name.clone());
    }

    fn destination(&mut self, name: &Ident, diags: &mut Vec<Diagnostic>) -> Option<Vec<usize>> {
        self.used
            .insert((ObjectKind::Destination, name.name.clone()));
        if !self.known(ObjectKind::Destination, name, diags) {
            return None;
        }
        self.names
            .instances
            .get(&(ObjectKind::Destination, name.name.as_str()))
            .cloned()
    }

    /// Whether the object exists; reports it when not.
    fn known(&self, kind: ObjectKind, name: &Ident, diags: &mut Vec<Diagnostic>) -> bool {
        let objects = self.names.objects.iter().filter(|o| o.kind == kind);
        if objects.clone().any(|o| o.name.name == name.name) {
            return true;
        }
        unknown(
            diags,
            kind,
            name,
            objects.map(|o| o.name.name.as_str()).collect(),
        );
        false
    }

    /// A named filter, compiled on first use.
    fn named(&mut self, name: &Ident, diags: &mut Vec<Diagnostic>) -> Option<Arc<Filter>> {
        self.used.insert((ObjectKind::Filter, name.name.clone()));
        match self.compiled.get(&name.name) {
            Some(Compiled::Done(f)) => return Some(f.clone()),
            // Reported where it failed.
            Some(Compiled::Failed) => return None,
            Some(Compiled::Compiling) => {
                diags.push(Diagnostic::error(
                    name.span,
                    format!("filter `{}` refers to itself", name.name),
                ));
                return None;
            }
            None => {}
        }
        let Some(def) = self.names.filters.iter().find(|f| f.name.name == name.name) else {
            let known = self
                .names
                .filters
                .iter()
                .map(|f| f.name.name.as_str())
                .collect();
            unknown(diags, ObjectKind::Filter, name, known);
            return None;
        };
        self.compiled.insert(name.name.clone(), Compiled::Compiling);
        let f = self.compile(&def.expr, diags).map(Arc::new);
        let state = f.clone().map_or(Compiled::Failed, Compiled::Done);
        self.compiled.insert(name.name.clone(), state);
        f
    }

    fn compile(&mut self, expr: &FilterExpr, diags: &mut Vec<Diagnostic>) -> Option<Filter> {
        filter::compile(expr, &mut |name, diags| self.named(name, diags), diags)
    }
}

fn unknown(diags: &mut Vec<Diagnostic>, kind: ObjectKind, r: &Ident, names: Vec<&str>) {
    let mut d = Diagnostic::error(r.span, format!("unknown {} `{}`", kind.keyword(), r.name));
    if let Some(n) = nearest(&r.name, names) {
        d = d.with_help(format!("did you mean `{n}`?"));
    }
    diags.push(d);
}

#[cfg(test)]
mod tests {
    use crate::config::{LoadOptions, diagnostic, load_str, plan};
    use crate::logpath::{Queue, QueueReceiver};
    use crate::message::{Field, Timestamp, Zone};
    use crate::parse::{ParseOptions, parse};
    use crate::telemetry::{DestinationStats, SourceStats};
    use crate::template::RenderContext;
    use bytes::Bytes;
    use std::sync::Arc;

    fn plan(text: &str) -> Result<plan::Plan, String> {
        let loaded =
            load_str("main.conf", text, &LoadOptions::default()).map_err(|e| e.to_string())?;
        plan::build(&loaded.config, &loaded.map)
            .map_err(|d| diagnostic::render_all(&d, &loaded.map))
    }

    /// Routes every line through source 0 of `text`'s plan; returns, per
    /// destination instance, the MESSAGE of what it received.
    async fn route(text: &str, lines: &[&str]) -> Vec<Vec<String>> {
        let p = plan(text).unwrap();
        let (queues, rxs): (Vec<Queue>, Vec<QueueReceiver>) = p
            .destinations
            .iter()
            .map(|_| Queue::new(1000, 64 << 20, Arc::new(DestinationStats::default())))
            .unzip();
        let routes = p.routing[0].routes(&queues, RenderContext::default());
        let msgs = lines
            .iter()
            .map(|l| {
                parse(
                    Bytes::from(l.to_string()),
                    Timestamp::now(&Zone::Local),
                    Some("10.1.2.3:514".parse().unwrap()),
                    &ParseOptions::default(),
                )
            })
            .collect();
        routes.dispatch(msgs, &SourceStats::default()).await;
        rxs.into_iter()
            .map(|mut rx| {
                let mut got = Vec::new();
                while let Ok(d) = rx.try_recv() {
                    for m in d.messages() {
                        let text = m.get(Field::Message).unwrap_or_default();
                        got.push(String::from_utf8_lossy(text).into_owned());
                    }
                    d.ack();
                }
                got
            })
            .collect()
    }

    const HEAD: &str = "source s { network(port(5514)); };\n\
        destination d_auth { file(\"/tmp/a\"); };\n\
        destination d_err { file(\"/tmp/e\"); };\n\
        destination d_cron { file(\"/tmp/c\"); };\n\
        destination d_rest { file(\"/tmp/r\"); };\n";

    const LINES: &[&str] = &[
        "<38>Nov 23 14:07:17 h sshd[1]: auth-info",
        "<11>Nov 23 14:07:17 h app: user-err",
        "<14>Nov 23 14:07:17 h cron: cron-info",
        "<13>Nov 23 14:07:17 h app: user-notice",
        "<35>Nov 23 14:07:17 h sshd: auth-err",
    ];

    #[tokio::test]
    async fn filters_final_and_fallback_pick_destinations_per_message() {
        let conf = format!(
            "{HEAD}filter f_auth {{ facility(auth, authpriv); }};\n\
             filter f_err {{ level(err..emerg) and not filter(f_auth); }};\n\
             log {{ source(s); filter(f_auth); destination(d_auth); flags(final); }};\n\
             log {{ source(s); filter(f_err); destination(d_err); }};\n\
             log {{ source(s); filter {{ program(\"^cron$\") }}; destination(d_cron); }};\n\
             log {{ source(s); destination(d_rest); flags(fallback); }};\n\
             log {{ source(s); filter {{ level(err) }}; destination(d_err); }};\n"
        );
        let got = route(&conf, LINES).await;
        assert_eq!(got[0], ["auth-info", "auth-err"], "d_auth");
        // user-err reaches d_err through two paths, so twice, as in syslog-ng;
        // auth-err never does: the final auth path took it.
        assert_eq!(got[1], ["user-err", "user-err"], "d_err");
        assert_eq!(got[2], ["cron-info"], "d_cron");
        assert_eq!(got[3], ["user-notice"], "d_rest");
    }

    #[tokio::test]
    async fn a_destination_before_a_filter_sees_what_the_filter_drops() {
        let conf = format!(
            "{HEAD}log {{ source(s); destination(d_auth); filter {{ netmask(\"10.0.0.0/8\") and \"$PROGRAM\" eq \"sshd\" }};\n\
                destination(d_err);\n\
                log {{ filter {{ message(\"ERR\" flags(ignore-case)) }}; destination(d_cron); flags(final); }};\n\
                log {{ destination(d_rest); }};\n\
             }};\n"
        );
        let got = route(&conf, LINES).await;
        assert_eq!(got[0].len(), 5, "d_auth takes all: {:?}", got[0]);
        assert_eq!(got[1], ["auth-info", "auth-err"], "d_err");
        assert_eq!(got[2], ["auth-err"], "d_cron");
        assert_eq!(got[3], ["auth-info"], "d_rest: after a final sibling");
    }

    /// A path whose nested paths all refuse a message did not take it: its
    /// `final` does not hold the message back, and the fallback gets it.
    #[tokio::test]
    async fn nested_paths_that_take_nothing_leave_the_message_to_the_fallback() {
        let conf = format!(
            "{HEAD}log {{ source(s);\n\
                 log {{ filter {{ program(\"sshd\") }}; destination(d_auth); }};\n\
                 log {{ filter {{ level(err..emerg) }}; destination(d_err); }};\n\
                 flags(final);\n\
             }};\n\
             log {{ source(s); destination(d_cron); }};\n\
             log {{ source(s); destination(d_rest); flags(fallback); }};\n"
        );
        let got = route(&conf, LINES).await;
        assert_eq!(got[0], ["auth-info", "auth-err"], "d_auth");
        assert_eq!(got[1], ["user-err", "auth-err"], "d_err");
        // Taken by neither nested path: on to the next path, which takes it,
        // so the fallback stays empty.
        assert_eq!(got[2], ["cron-info", "user-notice"], "d_cron");
        assert!(got[3].is_empty(), "d_rest: {:?}", got[3]);
        let conf = conf.replace("log { source(s); destination(d_cron); };\n", "");
        let got = route(&conf, LINES).await;
        assert_eq!(got[3], ["cron-info", "user-notice"], "d_rest");
    }

    #[tokio::test]
    async fn without_filters_every_message_shares_one_batch_per_route() {
        let conf = format!(
            "{HEAD}log {{ source(s); destination(d_auth); destination(d_err); flags(final); }};\n\
             log {{ source(s); destination(d_cron); }};\n\
             log {{ source(s); destination(d_rest); flags(fallback); }};\n"
        );
        let got = route(&conf, LINES).await;
        assert_eq!(got[0].len(), 5);
        assert_eq!(got[1].len(), 5);
        assert!(got[2].is_empty() && got[3].is_empty(), "{got:?}");
    }

    /// Generated configs write long chains; they must neither recurse per term
    /// nor be refused. Deep nesting is refused with a clear error instead.
    #[tokio::test]
    async fn long_filter_chains_work_and_deep_nesting_is_refused() {
        let hosts: Vec<String> = (0..20_000).map(|n| format!("host(\"^h{n}$\")")).collect();
        let conf = format!(
            "{HEAD}filter f {{ {} or program(\"^cron$\"); }};\n\
             log {{ source(s); filter(f); destination(d_cron); }};\n",
            hosts.join(" or ")
        );
        let got = route(&conf, LINES).await;
        assert_eq!(got[2], ["cron-info"]);
        let deep = format!("{}level(err){}", "(".repeat(100), ")".repeat(100));
        let e = plan(&format!("{HEAD}filter f {{ {deep}; }};\n")).unwrap_err();
        assert!(
            e.contains("filter expression nested more than 64 deep"),
            "{e}"
        );
        let e = plan(&format!(
            "{HEAD}filter f {{ {}level(err); }};\n",
            "not ".repeat(100)
        ))
        .unwrap_err();
        assert!(e.contains("nested more than 64 deep"), "{e}");
    }

    /// syslog-ng's spellings: match() without value() reads
    /// "$PROGRAM[$PID]: $MESSAGE", severity() is level(), icase is ignore-case.
    #[tokio::test]
    async fn syslog_ng_compatible_spellings() {
        let conf = format!(
            "{HEAD}log {{ source(s); filter {{ match(\"^sshd\\\\[1\\\\]: auth\" flags(icase, store-matches)) }}; destination(d_auth); }};\n\
             log {{ source(s); filter {{ severity(critical..emergency) or level(informational) }}; destination(d_err); }};\n\
             log {{ source(s); filter {{ match(\"h cron\" template(\"$HOST $PROGRAM\")) and netmask6(\"::ffff:10.0.0.0/104\") }}; destination(d_cron); }};\n"
        );
        let got = route(&conf, LINES).await;
        assert_eq!(got[0], ["auth-info"], "d_auth");
        assert_eq!(got[1], ["auth-info", "cron-info"], "d_err");
        assert_eq!(got[2], ["cron-info"], "d_cron");
    }

    #[test]
    fn filter_errors_name_the_place() {
        let e = plan(&format!(
            "{HEAD}filter f_a {{ program(\"(open\"); }};\n\
             filter f_b {{ filter(f_c) or level(nosuch); }};\n\
             filter f_c {{ filter(f_b); }};\n\
             log {{ source(s); filter(f_aa); filter(f_b); destination(d_auth); }};\n\
             log {{ source(s); filter {{ facilty(auth) }}; destination(d_rest); }};\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("main.conf:6:22: error: invalid regular expression: unclosed group"),
            "{e}"
        );
        assert!(e.contains("unknown filter `f_aa`"), "{e}");
        assert!(e.contains("did you mean `f_a`?"), "{e}");
        assert!(e.contains("unknown level `nosuch`"), "{e}");
        assert!(e.contains("filter `f_b` refers to itself"), "{e}");
        assert!(
            e.contains("main.conf:10:27: error: unknown filter function `facilty`"),
            "{e}"
        );
        assert!(e.contains("did you mean `facility`?"), "{e}");
        let e = plan(&format!(
            "{HEAD}log {{ source(s); log {{ source(s); destination(d_auth); }}; }};\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("a nested log path takes its messages from the enclosing one"),
            "{e}"
        );
    }
}
