//! The config as parsed: after `@include`, `@define`, backtick substitution and SCL
//! block expansion, so only core drivers remain. Every node keeps its span. The
//! typed view of a driver's options (paths, sizes, templates) is built from this by
//! `config::schema`; nothing here knows what an option means.

use super::source::Span;

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

impl Ident {
    /// The name with `_` folded to `-`, the form option tables use.
    pub fn key(&self) -> String {
        self.name.replace('_', "-")
    }
}

/// A whole config file with everything it includes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// `@version: X.Y` of the main file.
    pub version: Option<(String, Span)>,
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `options { name(value); ... };`
    Options { opts: Vec<Opt>, span: Span },
    /// `source NAME { ... };`, `destination NAME { ... };`, `parser`.
    Object(Object),
    /// `filter NAME { EXPR; };`
    Filter(FilterDef),
    /// `log { ... };`
    Log(LogPath),
    /// `template NAME { template("..."); };` or `template NAME "...";`
    Template(TemplateDef),
}

/// A named template; the short form `template NAME "TEXT";` is read as
/// `template NAME { template("TEXT"); };`.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateDef {
    pub name: Ident,
    /// `template(...)` and `template-escape(...)`.
    pub opts: Vec<Opt>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Source,
    Destination,
    Filter,
    Parser,
}

impl ObjectKind {
    pub fn keyword(self) -> &'static str {
        match self {
            ObjectKind::Source => "source",
            ObjectKind::Destination => "destination",
            ObjectKind::Filter => "filter",
            ObjectKind::Parser => "parser",
        }
    }
}

/// A named source, destination, filter or parser: a list of driver calls.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    pub kind: ObjectKind,
    pub name: Ident,
    /// Each driver call (`network(...)`, `file(...)`), SCL blocks already expanded.
    pub drivers: Vec<Opt>,
    pub span: Span,
}

/// `name(args...)`: a driver call or an option. Arguments are values
/// (positional, as in `file("/path")`) and nested options, in written order.
#[derive(Clone, Debug, PartialEq)]
pub struct Opt {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

impl Opt {
    /// The positional values (not nested options), in order.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.args.iter().filter_map(|a| match a {
            Arg::Value(v) => Some(v),
            Arg::Opt(_) => None,
        })
    }

    /// The nested options, in order.
    pub fn opts(&self) -> impl Iterator<Item = &Opt> {
        self.args.iter().filter_map(|a| match a {
            Arg::Opt(o) => Some(o),
            Arg::Value(_) => None,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Value(Value),
    Opt(Opt),
}

/// A scalar as written: a quoted string (escapes resolved) or a bare word such as
/// `yes`, `tcp`, `5514`, `100MiB`, `5m`. Typing happens in `config::schema`.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub text: String,
    pub quoted: bool,
    pub span: Span,
}

/// `log { source(a); destination(b); flags(flow-control); };`
#[derive(Clone, Debug, PartialEq)]
pub struct LogPath {
    pub items: Vec<LogItem>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LogItem {
    /// `source(name);`, `destination(name);`, `filter(name);`, `parser(name);`
    Ref { kind: ObjectKind, name: Ident },
    /// `destination { file(...); };` inside the log path: an anonymous object,
    /// given a generated name unique in the config.
    Inline(Object),
    /// `flags(flow-control final ...);`
    Flags(Vec<Ident>, Span),
    /// `filter { EXPR; };` inside the log path. Boxed, as in [`FilterDef`].
    InlineFilter(Box<FilterExpr>, Span),
    /// A nested `log { ... };`
    Log(LogPath),
}

/// `filter NAME { EXPR; };`
#[derive(Clone, Debug, PartialEq)]
pub struct FilterDef {
    pub name: Ident,
    /// Boxed: a comparison is 120 bytes, and every item and log path element
    /// would be that large in a config of thousands of them.
    pub expr: Box<FilterExpr>,
    pub span: Span,
}

/// A filter expression: calls such as `facility(auth, authpriv)` or
/// `program("^sshd$")`, comparisons of templates, and `and`/`or`/`not`.
/// Parentheses leave no node of their own.
#[derive(Clone, Debug, PartialEq)]
pub enum FilterExpr {
    Call(Opt),
    /// `"${HOST}" == "web1"`, `"$PID" lt "100"`: both sides are templates.
    Compare {
        left: Value,
        op: Ident,
        right: Value,
    },
    /// Two or more terms.
    And(Vec<FilterExpr>),
    /// Two or more terms.
    Or(Vec<FilterExpr>),
    Not(Box<FilterExpr>, Span),
}
