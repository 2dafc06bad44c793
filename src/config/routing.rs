//! Log paths into routing: for every source instance, the destinations it may
//! reach and the [`Path`] program that picks among them per message.
//!
//! Paths are resolved once (references checked, filters compiled, every error
//! reported), then instantiated per source, since each source numbers its own
//! routes. Two paths naming one destination deliver twice, as in syslog-ng.

use super::ast::{FilterDef, FilterExpr, Ident, LogItem, LogPath, Object, ObjectKind};
use super::diagnostic::{Diagnostic, nearest};
use crate::logpath::{Filter, Path, Step, filter};
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
    for f in names.filters {
        if !r.compiled.contains_key(&f.name.name) {
            // Unused filters are still checked, so errors show up before use.
            r.named(&f.name, diags);
        }
    }
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
