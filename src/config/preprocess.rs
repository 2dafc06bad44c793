//! The token stream the parser reads: a stack of lexed sources (the main file,
//! included files, substituted text, SCL expansions). It owns `@include`,
//! `@define`, `@version`, backtick lookup and include-cycle detection. It hands out
//! tokens either expanded (references resolved, directives executed) or raw (for
//! SCL block definitions, whose text is kept verbatim). It knows nothing of the
//! grammar above the token level.

use super::LoadOptions;
use super::diagnostic::Diagnostic;
use super::lexer::{self, Seg, Tok, Token};
use super::source::{Origin, SourceId, SourceMap, Span};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Substitutions nested deeper than this are assumed to refer to themselves.
const MAX_SUBST_DEPTH: usize = 64;

/// Files included inside included files deeper than this are refused (syslog-ng
/// allows 256): every frame keeps its include chain, so a generated chain of
/// thousands of files would cost memory quadratic in its length.
pub const MAX_INCLUDE_DEPTH: usize = 64;

/// Substitutions and SCL expansions allowed in one load: a reference or block
/// that expands into two copies of itself would otherwise grow exponentially
/// while staying under every depth limit.
const EXPANSION_BUDGET: usize = 20_000;

/// The most text substitution may add to one string, a `@define` included,
/// and the longest value a backtick may substitute: room for a long template.
/// Without a cap, 22 defines that each use the previous one twice took 2.6 GB.
pub const MAX_VALUE: usize = 64 << 10;

/// The most text one SCL block call may expand to: a block calling itself with
/// its argument doubled needed more than 4 GiB within the depth limit.
pub const MAX_EXPANSION: usize = 1 << 20;

/// The most text substitution and SCL expansion may produce in one load, all
/// together. Expanded text is kept for diagnostics, so this bounds memory.
pub const MAX_GENERATED: usize = 32 << 20;

/// A size for a message: `64 KiB`, `1 MiB`, `300 bytes`.
pub fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// Diagnostics kept per load; more are only counted. Rendering shows fewer
/// still, but a megabyte of mistakes must not become a million kept errors.
const MAX_KEPT: usize = 1000;

/// One source being read, lexed a token at a time: a token vector of a 5 MB
/// file took 20 times its size.
struct Frame {
    source: SourceId,
    /// Byte offset lexing goes on from.
    pos: usize,
    /// The SCL expansion depth its tokens carry.
    depth: u8,
    /// An SCL expansion: its text was lexed once already where the block was
    /// defined, so a lexical error it repeats at the same place is dropped.
    expansion: bool,
    /// The include chain that led to this frame (canonical paths), for cycles.
    chain: Vec<PathBuf>,
    /// Directory relative includes are resolved against.
    dir: PathBuf,
    /// Only the main file's `@version` counts.
    main: bool,
    /// How many backtick substitutions deep this frame is.
    subst: usize,
}

pub struct Stream<'o> {
    pub map: SourceMap,
    pub diags: Vec<Diagnostic>,
    /// Errors past [`MAX_KEPT`], counted only.
    pub unkept: usize,
    /// Lexical errors kept, by message and place: an SCL expansion lexes text
    /// that was lexed once where the block was defined, so the same complaint
    /// at the same place is not news. (Comparing with every kept error instead
    /// was quadratic.)
    lexed: HashSet<(String, String, usize, usize)>,
    pub version: Option<(String, Span)>,
    frames: Vec<Frame>,
    /// `@define`d values, with the span of the name they were defined under.
    defines: HashMap<String, (String, Span)>,
    opts: &'o LoadOptions,
    last: Span,
    budget: usize,
    /// Bytes of text substitution and expansion produced so far.
    generated: usize,
}

impl<'o> Stream<'o> {
    /// A stream reading `text`, already added to `map` as `id`.
    pub fn new(
        map: SourceMap,
        id: SourceId,
        path: Option<PathBuf>,
        opts: &'o LoadOptions,
    ) -> Stream<'o> {
        let dir = path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let chain = path
            .map(|p| vec![std::fs::canonicalize(&p).unwrap_or(p)])
            .unwrap_or_default();
        Stream {
            map,
            diags: Vec::new(),
            unkept: 0,
            lexed: HashSet::new(),
            version: None,
            frames: vec![Frame {
                source: id,
                pos: 0,
                depth: 0,
                expansion: false,
                chain,
                dir,
                main: true,
                subst: 0,
            }],
            defines: HashMap::new(),
            opts,
            last: Span::new(id, 0, 0),
            budget: EXPANSION_BUDGET,
            generated: 0,
        }
    }

    pub fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, msg));
    }

    /// Takes one expansion from the budget; false (reported once) when spent.
    pub fn spend(&mut self, at: Span) -> bool {
        match self.budget {
            0 => false,
            1 => {
                self.budget = 0;
                self.error(
                    at,
                    format!(
                        "more than {EXPANSION_BUDGET} substitutions and block expansions: \
                         a definition probably expands into itself"
                    ),
                );
                false
            }
            _ => {
                self.budget -= 1;
                true
            }
        }
    }

    /// Counts `bytes` of generated text against [`MAX_GENERATED`]; false
    /// (reported once, and no more expansion after it) past the limit.
    pub fn charge(&mut self, bytes: usize, at: Span) -> bool {
        if self.budget == 0 {
            return false;
        }
        if self.generated + bytes > MAX_GENERATED {
            self.budget = 0;
            self.error(
                at,
                format!(
                    "substitutions and block expansions produced more than {} of text: \
                     a definition probably expands into several copies of itself",
                    size(MAX_GENERATED)
                ),
            );
            return false;
        }
        self.generated += bytes;
        true
    }

    /// Where `` `name` `` gets its value: a `@define`'s location, or the place
    /// outside the config.
    pub fn origin_of(&self, name: &str) -> String {
        if let Some((_, at)) = self.defines.get(name) {
            format!("defined at {}", self.map.location(*at))
        } else if self.opts.defines.iter().any(|(n, _)| n == name) {
            "given to the loader".into()
        } else {
            "from the environment".into()
        }
    }

    pub fn undefined(&mut self, at: Span, name: &str) {
        self.diags.push(
            Diagnostic::error(at, format!("undefined name `{name}`")).with_help(format!(
                "define it with `@define {name} \"...\"` or in the environment"
            )),
        );
    }

    /// The value of `` `name` `` outside any block: the command line's
    /// `--define` first (so a config's @define is a default it can override),
    /// then @define, then the environment.
    pub fn lookup(&self, name: &str) -> Option<String> {
        if let Some((_, v)) = self.opts.defines.iter().rev().find(|(n, _)| n == name) {
            return Some(v.clone());
        }
        if let Some((v, _)) = self.defines.get(name) {
            return Some(v.clone());
        }
        std::env::var(name).ok()
    }

    /// The next token of the top frame without consuming it, raw. `None` when the
    /// top frame is exhausted.
    pub fn peek_top_raw(&self) -> Option<Token> {
        let f = self.frames.last()?;
        let text = &self.map.get(f.source).text;
        // Its errors are reported when it is taken.
        let mut scratch = Vec::new();
        lexer::next_token(text, f.pos, f.source, f.depth, &mut scratch).0
    }

    fn take_top(&mut self) -> Option<Token> {
        let f = self.frames.last_mut()?;
        let text = &self.map.get(f.source).text;
        let mut found = Vec::new();
        let (t, pos) = lexer::next_token(text, f.pos, f.source, f.depth, &mut found);
        f.pos = pos;
        let expansion = f.expansion;
        for d in found {
            if self.diags.len() >= MAX_KEPT {
                self.unkept += 1;
                continue;
            }
            let (name, line, col) = self.map.place(d.span.source, d.span.start, 0);
            let fresh = self.lexed.insert((d.message.clone(), name, line, col));
            if fresh || !expansion {
                self.diags.push(d);
            }
        }
        if self.diags.len() > MAX_KEPT {
            self.unkept += self.diags.len() - MAX_KEPT;
            self.diags.truncate(MAX_KEPT);
        }
        t
    }

    fn eof(&self) -> Token {
        Token {
            tok: Tok::Eof,
            span: Span {
                start: self.last.end,
                ..self.last
            },
            depth: 0,
        }
    }

    /// The next token; with `expand`, references are substituted and directives
    /// executed, so only grammar tokens come out.
    pub fn next(&mut self, expand: bool) -> Token {
        loop {
            if self.frames.is_empty() {
                return self.eof();
            }
            let Some(tok) = self.take_top() else {
                if self.frames.len() == 1 {
                    return self.eof();
                }
                self.frames.pop();
                continue;
            };
            self.last = tok.span;
            if !expand {
                return tok;
            }
            match tok.tok {
                Tok::Tick(ref name) => self.substitute(name, tok.span, tok.depth),
                Tok::Directive(ref d) => self.directive(d, tok.span),
                Tok::Str { .. } => return self.resolve_str(tok),
                _ => return tok,
            }
        }
    }

    /// Pushes the value of `` `name` `` as a new source.
    fn substitute(&mut self, name: &str, at: Span, depth: u8) {
        let subst = self.frames.last().map_or(0, |f| f.subst) + 1;
        if subst > MAX_SUBST_DEPTH {
            if self.budget > 0 {
                self.error(at, format!("`{name}` expands into itself too deeply"));
            }
            // Further substitution would only repeat this error.
            self.budget = 0;
            return;
        }
        if !self.spend(at) {
            return;
        }
        let Some(value) = self.lookup(name) else {
            self.undefined(at, name);
            return;
        };
        if value.len() > MAX_VALUE {
            let origin = self.origin_of(name);
            self.error(
                at,
                format!(
                    "`{name}` ({origin}) is {} long, more than the {} a value may be",
                    size(value.len()),
                    size(MAX_VALUE)
                ),
            );
            return;
        }
        if !self.charge(value.len(), at) {
            return;
        }
        let id = self.map.add(
            Origin::Substitution {
                name: name.to_string(),
                at,
            },
            value,
        );
        self.push_derived(id, depth, false);
        if let Some(f) = self.frames.last_mut() {
            f.subst = subst;
        }
    }

    /// Pushes a source derived from the top frame (substitution or expansion);
    /// its tokens carry `depth`.
    pub fn push_derived(&mut self, source: SourceId, depth: u8, expansion: bool) {
        let (chain, dir, subst) = self
            .frames
            .last()
            .map(|f| (f.chain.clone(), f.dir.clone(), f.subst))
            .unwrap_or_default();
        self.frames.push(Frame {
            source,
            pos: 0,
            depth,
            expansion,
            chain,
            dir,
            main: false,
            subst,
        });
    }

    /// A string token with its `` `name` `` references replaced. Past
    /// [`MAX_VALUE`] of substituted text the string is refused, naming what
    /// made it long, and comes out empty.
    fn resolve_str(&mut self, mut tok: Token) -> Token {
        let Tok::Str { segs, .. } = &mut tok.tok else {
            return tok;
        };
        if !segs.iter().any(|s| matches!(s, Seg::Ref(..))) {
            return tok;
        }
        let mut text = String::new();
        let mut added = 0usize;
        // Each name used, with its length and how often, for the error.
        let mut used: Vec<(String, usize, usize)> = Vec::new();
        for seg in segs.iter() {
            match seg {
                Seg::Text(t) => text.push_str(t),
                Seg::Ref(name, span) => match self.lookup(name) {
                    Some(v) => {
                        added += v.len();
                        match used.iter_mut().find(|u| u.0 == *name) {
                            Some(u) => u.2 += 1,
                            None => used.push((name.clone(), v.len(), 1)),
                        }
                        if added <= MAX_VALUE {
                            text.push_str(&v);
                        }
                    }
                    None => self.undefined(*span, name),
                },
            }
        }
        if added > MAX_VALUE || !self.charge(added.min(MAX_VALUE), tok.span) {
            if added > MAX_VALUE {
                used.sort_by_key(|u| std::cmp::Reverse(u.1 * u.2));
                let parts: Vec<String> = used
                    .iter()
                    .take(3)
                    .map(|(name, len, n)| {
                        let times = if *n == 1 {
                            String::new()
                        } else {
                            format!(" {n} times")
                        };
                        format!("`{name}` ({}, {}){times}", size(*len), self.origin_of(name))
                    })
                    .collect();
                self.error(
                    tok.span,
                    format!(
                        "substitution makes this string longer than {}: it uses {}",
                        size(MAX_VALUE),
                        parts.join(", ")
                    ),
                );
            }
            text.clear();
        }
        *segs = vec![Seg::Text(text)];
        tok
    }

    /// The argument of a directive: the next token of the same frame.
    fn directive_arg(&mut self, d: &str, at: Span) -> Option<Token> {
        match self.take_top() {
            Some(t) if matches!(t.tok, Tok::Word(_) | Tok::Str { .. }) => {
                self.last = t.span;
                Some(self.resolve_str(t))
            }
            Some(t) => {
                let msg = format!("expected a value after `@{d}`, found {}", t.tok.describe());
                self.error(t.span, msg);
                None
            }
            None => {
                self.error(at, format!("expected a value after `@{d}`"));
                None
            }
        }
    }

    fn directive(&mut self, d: &str, at: Span) {
        match d {
            "version" => {
                let Some(t) = self.directive_arg(d, at) else {
                    return;
                };
                let text = match &t.tok {
                    Tok::Word(w) => w.clone(),
                    other => other.str_text().unwrap_or_default(),
                };
                if self.frames.last().is_some_and(|f| f.main) && self.version.is_none() {
                    self.version = Some((text, t.span));
                }
            }
            "define" => {
                let Some(name) = self.directive_arg(d, at) else {
                    return;
                };
                let name_span = name.span;
                let Tok::Word(name) = name.tok else {
                    self.error(name_span, "expected a name after `@define`");
                    return;
                };
                let Some(v) = self.directive_arg(d, at) else {
                    return;
                };
                let v = match v.tok {
                    Tok::Word(w) => w,
                    other => other.str_text().unwrap_or_default(),
                };
                self.defines.insert(name, (v, name_span));
            }
            // syslog-ng's module loading: the modules whose drivers Sluice has
            // built in are fine; any other names what is missing.
            "module" | "requires" => {
                let Some(t) = self.directive_arg(d, at) else {
                    return;
                };
                let name = match &t.tok {
                    Tok::Word(w) => w.clone(),
                    other => other.str_text().unwrap_or_default(),
                };
                if !super::unsupported::module_built_in(&name) {
                    self.error(
                        at.to(t.span),
                        format!("the syslog-ng module `{name}` is not part of Sluice: the features Sluice has are built in, and this one is not among them"),
                    );
                }
            }
            "include" => {
                let Some(t) = self.directive_arg(d, at) else {
                    return;
                };
                let pat = match &t.tok {
                    Tok::Word(w) => w.clone(),
                    other => other.str_text().unwrap_or_default(),
                };
                self.include(&pat, at.to(t.span));
            }
            other => {
                let mut diag = Diagnostic::error(at, format!("unknown directive `@{other}`"));
                if let Some(n) = super::diagnostic::nearest(
                    other,
                    ["version", "include", "define", "module", "requires"],
                ) {
                    diag = diag.with_help(format!("did you mean `@{n}`?"));
                }
                self.diags.push(diag);
            }
        }
    }

    fn include(&mut self, pat: &str, at: Span) {
        let (chain, dir) = self
            .frames
            .last()
            .map(|f| (f.chain.clone(), f.dir.clone()))
            .unwrap_or_default();
        if chain.len() >= MAX_INCLUDE_DEPTH {
            self.error(
                at,
                format!("`@include` nested more than {MAX_INCLUDE_DEPTH} files deep"),
            );
            return;
        }
        let is_glob = pat.contains(['*', '?', '[']);
        let given = Path::new(pat);
        let mut bases = vec![];
        if given.is_absolute() {
            bases.push(given.to_path_buf());
        } else {
            bases.push(dir.join(given));
            bases.extend(self.opts.include_path.iter().map(|d| d.join(given)));
        }
        let mut files = None;
        if is_glob {
            // A glob gathers from every folder of the include path, in order,
            // so drop-ins in /etc/sluice/scl.d join the shipped blocks; a file
            // found twice is read once, and the file holding the glob is not
            // read again (scl.conf may include "*.conf" beside itself).
            let mut found: Vec<PathBuf> = Vec::new();
            let mut seen: Vec<PathBuf> = chain.last().cloned().into_iter().collect();
            for base in &bases {
                let Ok(paths) = glob::glob(&base.to_string_lossy()) else {
                    self.error(at, format!("invalid include pattern `{pat}`"));
                    return;
                };
                for p in paths.filter_map(Result::ok) {
                    if !p.is_file() || skipped_name(&p) {
                        continue;
                    }
                    let canon = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
                    if !seen.contains(&canon) {
                        seen.push(canon);
                        found.push(p);
                    }
                }
            }
            if !found.is_empty() {
                files = Some(found);
            }
        }
        for base in bases.iter().filter(|_| !is_glob) {
            if base.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(base)
                    .into_iter()
                    .flatten()
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file() && !skipped_name(p))
                    .collect();
                found.sort();
                files = Some(found);
                break;
            } else if base.is_file() {
                files = Some(vec![base.clone()]);
                break;
            }
        }
        let Some(files) = files else {
            // An empty `conf.d/*.conf` is normal; a missing named file is not.
            if !is_glob {
                let searched: Vec<String> = bases.iter().map(|b| b.display().to_string()).collect();
                self.diags.push(
                    Diagnostic::error(at, format!("cannot find included file `{pat}`"))
                        .with_help(format!("searched {}", searched.join(", "))),
                );
            }
            return;
        };
        let mut frames = Vec::new();
        for path in files {
            let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if chain.contains(&canon) {
                let mut names: Vec<String> =
                    chain.iter().map(|p| p.display().to_string()).collect();
                let first = chain.iter().position(|p| *p == canon).unwrap_or(0);
                names.drain(..first);
                names.push(canon.display().to_string());
                self.error(at, format!("include cycle: {}", names.join(" -> ")));
                continue;
            }
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    self.error(at, format!("cannot read `{}`: {e}", path.display()));
                    continue;
                }
            };
            let id = self.map.add(
                Origin::File {
                    path: path.clone(),
                    included_at: Some(at),
                },
                text,
            );
            let mut chain = chain.clone();
            chain.push(canon);
            frames.push(Frame {
                source: id,
                pos: 0,
                depth: 0,
                expansion: false,
                chain,
                dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                main: false,
                subst: 0,
            });
        }
        // The first file must be read first: it goes on top.
        frames.reverse();
        self.frames.extend(frames);
    }
}

/// Hidden files and editor backups are never included from a directory.
fn skipped_name(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.starts_with('.') || name.ends_with('~')
}
