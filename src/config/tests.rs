//! End-to-end tests of the config front-end: text in, AST or rendered errors out.

use super::ast::*;
use super::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the heap each test thread holds, so tests can bound the memory a
/// config costs to load.
struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = HELD.try_with(|h| {
        let now = h.get() + delta;
        h.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The most heap `f` held at once on this thread, beyond what was held before.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = HELD.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get) - base;
    (peak.max(0) as usize, out)
}

fn opts() -> LoadOptions {
    LoadOptions::default()
}

fn ok(text: &str) -> Config {
    match load_str("main.conf", text, &opts()) {
        Ok(l) => l.config,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn err(text: &str) -> String {
    err_with(text, &opts())
}

fn err_with(text: &str, o: &LoadOptions) -> String {
    match load_str("main.conf", text, o) {
        Ok(l) => panic!("expected errors, got {:#?}", l.config),
        Err(e) => e.to_string(),
    }
}

/// A fresh empty directory for file-based tests.
fn tmpdir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sluice-config-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, text: &str) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

fn object<'a>(c: &'a Config, name: &str) -> &'a Object {
    c.items
        .iter()
        .find_map(|i| match i {
            Item::Object(o) if o.name.name == name => Some(o),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no object {name} in {c:#?}"))
}

/// A driver or option as compact text, e.g. `file("/x" create-dirs(yes))`.
fn show(o: &Opt) -> String {
    print::opt(o)
}

fn drivers(c: &Config, name: &str) -> Vec<String> {
    object(c, name).drivers.iter().map(show).collect()
}

// --- spans stripped, for comparing ASTs of different texts ---

fn z(s: &mut Span) {
    *s = Span::default();
}

fn strip_opt(o: &mut Opt) {
    z(&mut o.span);
    z(&mut o.name.span);
    for a in &mut o.args {
        match a {
            Arg::Value(v) => z(&mut v.span),
            Arg::Opt(o) => strip_opt(o),
        }
    }
}

fn strip_obj(o: &mut Object) {
    z(&mut o.span);
    z(&mut o.name.span);
    o.drivers.iter_mut().for_each(strip_opt);
}

fn strip_log(l: &mut LogPath) {
    z(&mut l.span);
    for i in &mut l.items {
        match i {
            LogItem::Ref { name, .. } => z(&mut name.span),
            LogItem::Inline(o) => strip_obj(o),
            LogItem::Flags(f, s) => {
                z(s);
                f.iter_mut().for_each(|f| z(&mut f.span));
            }
            LogItem::InlineFilter(e, s) => {
                z(s);
                strip_filter(e);
            }
            LogItem::Log(l) => strip_log(l),
        }
    }
}

fn strip_filter(e: &mut FilterExpr) {
    match e {
        FilterExpr::Call(o) => strip_opt(o),
        FilterExpr::Compare { left, op, right } => {
            z(&mut left.span);
            z(&mut op.span);
            z(&mut right.span);
        }
        FilterExpr::And(terms) | FilterExpr::Or(terms) => terms.iter_mut().for_each(strip_filter),
        FilterExpr::Not(a, s) => {
            z(s);
            strip_filter(a);
        }
    }
}

fn strip(mut c: Config) -> Config {
    if let Some((_, s)) = &mut c.version {
        z(s);
    }
    for i in &mut c.items {
        match i {
            Item::Options { opts, span } => {
                z(span);
                opts.iter_mut().for_each(strip_opt);
            }
            Item::Object(o) => strip_obj(o),
            Item::Filter(f) => {
                z(&mut f.span);
                z(&mut f.name.span);
                strip_filter(&mut f.expr);
            }
            Item::Log(l) => strip_log(l),
            Item::Template(t) => {
                z(&mut t.span);
                z(&mut t.name.span);
                t.opts.iter_mut().for_each(strip_opt);
            }
        }
    }
    c
}

const DESIGN: &str = r#"@version: 1.0
@define bucket "app-logs"

options { time-zone("UTC"); };

source s_net {
  network(transport("tcp") ip("0.0.0.0") port(5514));
  network(transport("udp") port(5514));
};

destination d_s3 {
  s3(url("https://s3.eu-west-1.amazonaws.com") bucket("`bucket`")
     object-key("${HOST}/app") template("${ISODATE} ${HOST} ${MSGHDR}${MESSAGE}\n")
     max-object-size(100MiB) flush-grace-period(5m) compression("gzip"));
};

log { source(s_net); destination(d_s3); flags(flow-control); };
"#;

#[test]
fn parses_the_design_example() {
    let c = ok(DESIGN);
    assert_eq!(c.version.as_ref().map(|v| v.0.as_str()), Some("1.0"));
    assert_eq!(c.items.len(), 4);
    let Item::Options { opts, .. } = &c.items[0] else {
        panic!()
    };
    assert_eq!(show(&opts[0]), r#"time-zone("UTC")"#);
    assert_eq!(
        drivers(&c, "s_net"),
        [
            r#"network(transport("tcp") ip("0.0.0.0") port(5514))"#,
            r#"network(transport("udp") port(5514))"#
        ]
    );
    let s3 = &object(&c, "d_s3").drivers[0];
    let bucket = s3.opts().find(|o| o.name.name == "bucket").unwrap();
    assert_eq!(bucket.values().next().unwrap().text, "app-logs");
    let size = s3
        .opts()
        .find(|o| o.name.key() == "max-object-size")
        .unwrap();
    let v = size.values().next().unwrap();
    assert_eq!((v.text.as_str(), v.quoted), ("100MiB", false));
    let tpl = s3.opts().find(|o| o.name.name == "template").unwrap();
    assert!(tpl.values().next().unwrap().text.ends_with("${MESSAGE}\n"));
    let Item::Log(log) = &c.items[3] else {
        panic!()
    };
    assert!(
        matches!(&log.items[0], LogItem::Ref { kind: ObjectKind::Source, name } if name.name == "s_net")
    );
    assert!(matches!(&log.items[2], LogItem::Flags(f, _) if f[0].name == "flow-control"));
}

#[test]
fn values_words_strings_and_separators() {
    let c = ok(r#"
# a comment with "quotes" and `ticks`
destination d {
    x(::1 0.0.0.0 -1 a/b*c 'raw\n' "esc\x41\t" "a" "b");   # trailing
    y(a, b; c); z(); flags(a, b);
};"#);
    let d = &object(&c, "d").drivers;
    let vals: Vec<(&str, bool)> = d[0].values().map(|v| (v.text.as_str(), v.quoted)).collect();
    assert_eq!(
        vals,
        [
            ("::1", false),
            ("0.0.0.0", false),
            ("-1", false),
            ("a/b*c", false),
            ("raw\\n", true),
            ("escA\t", true),
            ("a", true),
            ("b", true),
        ]
    );
    assert_eq!(d[1].values().count(), 3);
    assert_eq!(show(&d[2]), "z()");
    assert_eq!(show(&d[3]), "flags(a b)");
}

#[test]
fn names_keep_spelling_and_fold_dashes() {
    let c = ok("destination d { file(\"/x\" create_dirs(yes)); };");
    let o = object(&c, "d").drivers[0].opts().next().unwrap().clone();
    assert_eq!(o.name.name, "create_dirs");
    assert_eq!(o.name.key(), "create-dirs");
}

#[test]
fn version_only_from_main_file() {
    let dir = tmpdir("version");
    write(&dir.join("inc.conf"), "@version: 4.0\n");
    let main = dir.join("main.conf");
    write(&main, "@version: 3.38\n@include \"inc.conf\"\n");
    let l = load_file(&main, &opts()).unwrap();
    assert_eq!(l.config.version.unwrap().0, "3.38");
}

#[test]
fn include_file_directory_glob_and_include_path() {
    let dir = tmpdir("include");
    write(
        &dir.join("conf.d/20-b.conf"),
        "destination b { file(\"/b\"); };",
    );
    write(
        &dir.join("conf.d/10-a.conf"),
        "destination a { file(\"/a\"); };",
    );
    write(&dir.join("conf.d/.hidden"), "garbage {");
    write(&dir.join("conf.d/30-c.conf~"), "garbage {");
    write(&dir.join("glob/x.conf"), "source x { network(); };");
    write(&dir.join("glob/y.conf"), "source y { network(); };");
    write(&dir.join("glob/z.txt"), "garbage {");
    write(&dir.join("lib/scl.conf"), "source lib { network(); };");
    let main = dir.join("main.conf");
    write(
        &main,
        "@include \"conf.d\"\n@include \"glob/*.conf\"\n@include \"scl.conf\"\n@include \"none/*.conf\"\n",
    );
    let o = LoadOptions {
        include_path: vec![dir.join("lib")],
        ..opts()
    };
    let l = load_file(&main, &o).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = l
        .config
        .items
        .iter()
        .map(|i| match i {
            Item::Object(o) => o.name.name.as_str(),
            _ => "?",
        })
        .collect();
    assert_eq!(names, ["a", "b", "x", "y", "lib"]);
    // Each included file is its own source, recording where it was included.
    let a = object(&l.config, "a");
    match &l.map.get(a.span.source).origin {
        source::Origin::File {
            path,
            included_at: Some(at),
        } => {
            assert!(path.ends_with("conf.d/10-a.conf"));
            assert_eq!(l.map.location(*at), format!("{}:1:1", main.display()));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn many_included_files_may_all_use_references() {
    let dir = tmpdir("many");
    for i in 0..150 {
        write(
            &dir.join(format!("conf.d/{i:03}.conf")),
            &format!("source s{i} {{ network(port(`port`)); }};"),
        );
    }
    let main = dir.join("main.conf");
    write(&main, "@define port 514\n@include \"conf.d/*.conf\"\n");
    let l = load_file(&main, &opts()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.config.items.len(), 150);
}

#[test]
fn missing_include_is_an_error_at_the_directive() {
    let text = err("source s { network(); };\n  @include \"nope.conf\"\n");
    assert!(
        text.starts_with("main.conf:2:3: error: cannot find included file `nope.conf`"),
        "{text}"
    );
}

#[test]
fn include_cycle_names_the_chain() {
    let dir = tmpdir("cycle");
    write(&dir.join("a.conf"), "@include \"b.conf\"\n");
    write(
        &dir.join("b.conf"),
        "source s { network(); };\n@include \"a.conf\"\n",
    );
    let e = load_file(&dir.join("a.conf"), &opts()).unwrap_err();
    let text = e.to_string();
    let canon = std::fs::canonicalize(&dir).unwrap();
    let chain = format!(
        "include cycle: {0}/a.conf -> {0}/b.conf -> {0}/a.conf",
        canon.display()
    );
    assert!(text.contains(&chain), "{text}");
    assert!(
        text.starts_with(&format!(
            "{}:2:1: error: include cycle",
            dir.join("b.conf").display()
        )),
        "{text}"
    );
    assert!(text.contains("note: included from here"), "{text}");
    assert_eq!(e.diagnostics.len(), 1);
}

#[test]
fn defines_substitute_outside_and_inside_strings() {
    let o = LoadOptions {
        defines: vec![("cli".into(), "from-cli".into())],
        ..opts()
    };
    let text = r#"
@define port 5514
@define net_opts "transport(\"tcp\") port(`port`)"
source s { network(`net_opts` ip("`cli`-``x``") path("`PATH`")); };
"#;
    let c = load_str("main.conf", text, &o)
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
    let path = std::env::var("PATH").unwrap_or_default();
    assert_eq!(
        drivers(&c, "s"),
        [format!(
            r#"network(transport("tcp") port(5514) ip("from-cli-``x``") path({}))"#,
            print::quote(&path)
        )]
    );
    let ip = object(&c, "s").drivers[0].opts().nth(2).unwrap().clone();
    assert_eq!(ip.values().next().unwrap().text, "from-cli-`x`");
}

#[test]
fn command_line_defines_win_over_define_and_environment() {
    // `--define` overrides a config's @define (its default), which overrides
    // the environment.
    let o = LoadOptions {
        defines: vec![("PATH".into(), "cli".into()), ("x".into(), "cli".into())],
        ..opts()
    };
    let c = load_str(
        "m",
        "@define x \"file\"\n@define y \"file\"\nsource s { a(`x` `y` \"`PATH`\"); };",
        &o,
    )
    .unwrap()
    .config;
    assert_eq!(drivers(&c, "s"), [r#"a(cli file "cli")"#]);
}

#[test]
fn undefined_name_is_reported_at_the_reference() {
    let text = err("source s {\n  a(\"x`nope`\") `also`;\n};\n");
    assert!(
        text.starts_with("main.conf:2:7: error: undefined name `nope`"),
        "{text}"
    );
    assert!(
        text.contains("main.conf:2:16: error: undefined name `also`"),
        "{text}"
    );
}

const S3_BLOCK: &str = r#"block destination s3(
    url("")
    bucket()
    object_key("default-key")
    max-object-size(100MiB) ...
) {
    http(url("`url`") bucket("`bucket`") key("`object-key`") size(`max_object_size`) `__VARARGS__`);
};
"#;

#[test]
fn error_in_substituted_text_is_placed_at_the_reference() {
    let text = err("@define o \"port(1 {\"\nsource s {\n  network(`o`);\n};\n");
    assert!(
        text.starts_with(
            "main.conf:3:11: error: expected a value or `)` closing `port(`, found `{`"
        ),
        "{text}"
    );
}

#[test]
fn block_expansion_with_defaults_and_varargs() {
    let c = ok(&format!(
        "{S3_BLOCK}destination d {{ s3(bucket(\"b\") object-key(\"k\") extra(1 \"two\") more()); file(\"/f\"); }};"
    ));
    assert_eq!(
        drivers(&c, "d"),
        [
            r#"http(url("") bucket("b") key("k") size(100MiB) extra(1 "two") more())"#,
            r#"file("/f")"#
        ]
    );
}

#[test]
fn nested_blocks_expand_recursively() {
    let c = ok(&format!(
        r#"{S3_BLOCK}
block destination my_store(bucket("logs") zone() ...) {{
    s3(bucket(`bucket`) url("https://`zone`.example") `__VARARGS__`);
}};
destination d {{ my-store(zone(eu) level(9)); }};
"#
    ));
    assert_eq!(
        drivers(&c, "d"),
        [
            r#"http(url("https://eu.example") bucket("logs") key("default-key") size(100MiB) level(9))"#
        ]
    );
}

#[test]
fn blocks_of_other_kinds_and_contexts() {
    let c = ok(r#"
block root pair(name()) {
    source `name` { network(); };
    log { source(`name`); destination(d); };
};
block log via(dest()) { destination(`dest`); flags(final); };
block options defaults() { time-zone("UTC"); };
block source tcp_in(port(514)) { network(port(`port`)); };
options { defaults(); };
destination d { file("/d"); };
pair(name(s_a));
log { source { tcp-in(port(6514)); }; via(dest(d)); };
destination e { tcp_in(); };
"#);
    let Item::Options { opts, .. } = &c.items[0] else {
        panic!("{c:#?}")
    };
    assert_eq!(show(&opts[0]), r#"time-zone("UTC")"#);
    assert_eq!(drivers(&c, "s_a"), ["network()"]);
    let Item::Log(log) = &c.items[4] else {
        panic!("{c:#?}")
    };
    let LogItem::Inline(src) = &log.items[0] else {
        panic!()
    };
    assert_eq!(show(&src.drivers[0]), "network(port(6514))");
    assert!(
        matches!(&log.items[1], LogItem::Ref { kind: ObjectKind::Destination, name } if name.name == "d")
    );
    assert!(matches!(&log.items[2], LogItem::Flags(..)));
    // A source block is not called from a destination: it stays a driver call.
    assert_eq!(drivers(&c, "e"), ["tcp_in()"]);
}

#[test]
fn a_block_without_varargs_rejects_an_unknown_argument() {
    // Regression: every block took extra arguments; syslog-ng takes them only
    // when the parameter list ends with `...`.
    let text = err(
        "block destination d(dir(\"/tmp\")) { file(\"`dir`/x\"); };\ndestination x { d(dri(\"/a\") perm(0600)); };\n",
    );
    assert!(
        text.starts_with("main.conf:2:17: error: unknown argument `dri()` to block `d` (defined at main.conf:1:19; its parameter list has no `...`)"),
        "{text}"
    );
    assert!(text.contains("did you mean `dir`?"), "{text}");
    assert!(text.contains("unknown argument `perm()`"), "{text}");
    // ... and with `...` they are passed on through `__VARARGS__`.
    let c = ok(
        "block destination d(dir(\"/tmp\") ...) { file(\"`dir`/x\" `__VARARGS__`); };\ndestination x { d(dir(\"/a\") perm(0600)); };\n",
    );
    assert_eq!(drivers(&c, "x"), [r#"file("/a/x" perm(0600))"#]);
}

#[test]
fn a_parameter_without_default_is_mandatory() {
    let text = err(
        "block destination d(dir(\"/tmp\") req()) { file(\"`dir`/`req`\"); };\ndestination x { d(dir(\"/a\")); };\n",
    );
    assert!(
        text.starts_with("main.conf:2:17: error: block `d` needs `req(...)`: the parameter has no default (defined at main.conf:1:19)"),
        "{text}"
    );
    // an empty default is a default
    ok("block destination d(req(\"\")) { file(\"/x`req`\"); };\ndestination x { d(); };\n");
}

#[test]
fn varargs_must_end_the_parameter_list() {
    let text = err("block destination d(... dir(\"/tmp\")) { file(\"`dir`\"); };\n");
    assert!(
        text.starts_with("main.conf:1:21: error: `...` must end the block's parameter list"),
        "{text}"
    );
}

#[test]
fn block_call_takes_named_arguments_only() {
    let text = err(&format!("{S3_BLOCK}destination d {{ s3(\"b\"); }};"));
    assert!(
        text.starts_with("main.conf:9:20: error: block `s3` takes named arguments only"),
        "{text}"
    );
}

#[test]
fn lexical_error_in_block_body_is_reported_once() {
    let text = err("block source a() { x(% 1); };\nsource s { a(); a(); };\n");
    assert!(
        text.starts_with("main.conf:1:22: error: unexpected character `%`"),
        "{text}"
    );
    assert_eq!(text.matches("error:").count(), 1, "{text}");
}

#[test]
fn duplicate_block_names_both_places() {
    let text = err("block source a() { x(); };\nblock source a() { y(); };\n");
    assert!(
        text.starts_with(
            "main.conf:2:14: error: block source `a` is already defined at main.conf:1:14"
        ),
        "{text}"
    );
}

#[test]
fn recursive_block_hits_depth_limit() {
    let text = err("block source r() { r(); };\nsource s { r(); };\n");
    assert!(text.contains("nested more than 32 deep"), "{text}");
    assert_eq!(text.matches("error:").count(), 1, "{text}");
}

#[test]
fn self_doubling_definitions_stop_at_the_budget() {
    let text = err("@define a \"``a`` ``a``\"\nsource s { x(`a`); };\n");
    assert!(text.contains("expands into itself"), "{text}");
    assert_eq!(text.matches("error:").count(), 1, "{text}");
    let text = err("block source r() { r(); r(); };\nsource s { r(); };\n");
    assert!(text.contains("nested more than 32 deep"), "{text}");
    // The 31 identical recursive call notes are folded into one.
    assert_eq!(text.matches("note: in block `r`").count(), 2, "{text}");
    assert!(text.contains("(30 more like this)"), "{text}");
}

#[test]
fn error_inside_block_names_block_line_and_call_site() {
    let dir = tmpdir("blockerr");
    write(
        &dir.join("scl/s3.conf"),
        "# s3 wrapper\nblock destination s3(bucket()) {\n    http(\n        {} bucket(`bucket`)\n    );\n};\n",
    );
    let main = dir.join("main.conf");
    write(
        &main,
        "@include \"scl/s3.conf\"\n\ndestination d {\n    s3(bucket(\"b\"));\n};\n",
    );
    let e = load_file(&main, &opts()).unwrap_err();
    let text = e.to_string();
    let scl = dir.join("scl/s3.conf");
    assert!(
        text.starts_with(&format!(
            "{}:4:9: error: expected a value or `)` closing `http(`, found `{{`",
            scl.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}:4:5: note: in block `s3` defined at {}:2:33, called here\n    4 |     s3(bucket(\"b\"));\n      |     ^^^^^^^^^^^^^^",
            main.display(),
            scl.display()
        )),
        "{text}"
    );
}

#[test]
fn missing_semicolon_points_after_previous_token() {
    let text = err("destination d { file(\"/x\"); }\nlog { destination(d); };\n");
    assert!(
        text.starts_with("main.conf:1:30: error: missing `;` after `}`"),
        "{text}"
    );
    let text = err("destination d {\n    file(\"/x\")\n};\n");
    assert!(
        text.starts_with("main.conf:2:15: error: missing `;` after driver"),
        "{text}"
    );
    assert_eq!(text.matches("error:").count(), 1, "{text}");
}

#[test]
fn unknown_statement_suggests_nearest_keyword_and_recovers() {
    let text = err("destinaton d { file(\"/x\"); };\nsource s { network() };\n");
    assert!(
        text.starts_with("main.conf:1:1: error: unknown statement `destinaton`"),
        "{text}"
    );
    assert!(text.contains("help: did you mean `destination`?"), "{text}");
    // The second statement is still parsed, and its error reported.
    assert!(
        text.contains("main.conf:2:21: error: missing `;`"),
        "{text}"
    );
}

#[test]
fn filter_expressions_parse_with_precedence_and_print_back() {
    let text = "filter f { level(err..emerg) and not program(\"^cron$\" flags(ignore-case)) or \"${HOST}\" == web1; };\n\
                log { filter(f); filter { facility(auth, authpriv) and (host(\"a\") or host(\"b\")) }; };\n";
    let c = ok(text);
    let Item::Filter(f) = &c.items[0] else {
        panic!("{:?}", c.items[0]);
    };
    // `and` binds tighter than `or`; `not` applies to the call after it.
    let FilterExpr::Or(terms) = &*f.expr else {
        panic!("{:?}", f.expr);
    };
    let [left, right] = &terms[..] else {
        panic!("{terms:?}")
    };
    assert!(
        matches!(right, FilterExpr::Compare { op, right, .. } if op.name == "==" && right.text == "web1")
    );
    let FilterExpr::And(terms) = left else {
        panic!("{left:?}");
    };
    let [level, not] = &terms[..] else {
        panic!("{terms:?}")
    };
    assert!(matches!(level, FilterExpr::Call(o) if o.name.name == "level"));
    assert!(
        matches!(not, FilterExpr::Not(inner, _) if matches!(&**inner, FilterExpr::Call(o) if o.name.name == "program"))
    );
    let Item::Log(log) = &c.items[1] else {
        panic!()
    };
    assert!(
        matches!(&log.items[0], LogItem::Ref { kind: ObjectKind::Filter, name } if name.name == "f")
    );
    assert!(matches!(
        &log.items[1],
        LogItem::InlineFilter(e, _) if matches!(**e, FilterExpr::And(..))
    ));
    let printed = print(&c);
    assert!(
        printed.contains("filter f { (level(err..emerg) and not program(\"^cron$\" flags(ignore-case))) or \"${HOST}\" == web1; };"),
        "{printed}"
    );
    assert_eq!(strip(ok(&printed)), strip(c));
}

#[test]
fn filter_syntax_errors_point_at_the_token_and_parsing_continues() {
    let text = err("filter f { level(err) and ; };\nsource s { x( };\n");
    assert!(
        text.starts_with("main.conf:1:27: error: expected a filter"),
        "{text}"
    );
    assert!(
        text.contains("main.conf:2:15: error: expected a value or `)`"),
        "{text}"
    );
    let text = err("filter f { \"$HOST\" web1 };\n");
    assert!(
        text.starts_with("main.conf:1:20: error: expected a comparison (`==`"),
        "{text}"
    );
}

#[test]
fn unterminated_string_points_at_opening_quote() {
    let text = err("source s {\n    file(\"/var/log\n);\n");
    assert!(
        text.starts_with("main.conf:2:10: error: unterminated string"),
        "{text}"
    );
}

#[test]
fn inline_objects_get_unique_names() {
    let c = ok(r#"
log {
    source { network(); };
    log { destination { file("/a"); }; };
    destination { file("/b"); };
    flags(flow-control final);
};"#);
    let Item::Log(log) = &c.items[0] else {
        panic!()
    };
    let mut names = vec![];
    for i in &log.items {
        match i {
            LogItem::Inline(o) => names.push(o.name.name.clone()),
            LogItem::Log(l) => {
                if let LogItem::Inline(o) = &l.items[0] {
                    names.push(o.name.name.clone())
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        names,
        [
            "#anon-source-1",
            "#anon-destination-2",
            "#anon-destination-3"
        ]
    );
}

#[test]
fn print_round_trips() {
    let text = format!(
        "{S3_BLOCK}{DESIGN}\nlog {{ source {{ x(\"q\\\"\\\\`` \\x01\" 'single' y(z)); }}; log {{ destination(d_s3); }}; }};\n\
         template t_a \"${{MSG}}\\n\";\ntemplate t_b {{ template(\"x\"); template-escape(no); }};\n"
    );
    let first = ok(&text);
    let printed = print(&first);
    assert!(printed.starts_with("# Sluice configuration, preprocessed\n@version: 1.0\n"));
    assert!(printed.contains(
        "\nsource s_net {\n    network(transport(\"tcp\") ip(\"0.0.0.0\") port(5514));\n"
    ));
    let second = ok(&printed);
    assert_eq!(strip(first), strip(second.clone()));
    assert_eq!(print(&second), printed);
}

#[test]
fn garbled_input_never_panics() {
    let base = format!(
        "{S3_BLOCK}{DESIGN}\nblock root r(a()) {{ source `a` {{ x(); }}; }};\nr(a(q));\n@include \"/nonexistent/*.conf\"\n"
    );
    let chars: Vec<char> = base.chars().collect();
    let mut variants = Vec::new();
    for cut in (0..chars.len()).step_by(3) {
        variants.push(chars[..cut].iter().collect::<String>());
        let mut dropped = chars.clone();
        dropped.remove(cut);
        variants.push(dropped.into_iter().collect());
    }
    for junk in [
        "\"", "`", "{", "}", "(", ")", ";", "@", "'", "\\", "é", "`x",
    ] {
        for at in (0..chars.len()).step_by(17) {
            let mut v = chars.clone();
            v.insert(at, junk.chars().next().unwrap_or(' '));
            variants.push(v.into_iter().collect());
        }
    }
    for v in &variants {
        if let Err(e) = load_str("g.conf", v, &opts()) {
            let _ = e.to_string();
        }
    }
}

#[test]
fn grammar_file_names_every_statement() {
    let ebnf = include_str!("../../grammar/sluice.ebnf");
    for word in [
        "options",
        "source",
        "destination",
        "filter",
        "parser",
        "log",
        "block",
        "flags",
        "@include",
        "@define",
        "@version",
        "root",
        "and",
        "or",
        "not",
        "==",
        "ge",
    ] {
        assert!(
            ebnf.contains(&format!("\"{word}\"")),
            "grammar lacks {word}"
        );
    }
    for f in crate::logpath::filter::FUNCTIONS {
        assert!(
            ebnf.contains(&format!("{f}(")),
            "grammar lacks filter {f}()"
        );
    }
}

// --- limits: no config may crash or exhaust the process that loads it ---

/// Runs `f` on a thread with tokio's default stack (2 MiB), the stack a reload
/// parses on; a stack overflow aborts the whole test binary.
fn on_reload_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// Loads, plans and prints `text` on the reload stack; the rendered errors, if any.
fn load_on_reload_stack(text: String) -> Result<String, String> {
    on_reload_stack(move || {
        let loaded = load_str("main.conf", &text, &opts()).map_err(|e| e.to_string())?;
        let printed = print(&loaded.config);
        plan::build(&loaded.config, &loaded.map)
            .map_err(|d| diagnostic::render_all(&d, &loaded.map))?;
        Ok(printed)
    })
}

const LIMIT: usize = parser::MAX_NESTING as usize;

#[test]
fn three_thousand_nested_log_paths_passed_syntax_only_and_killed_reload() {
    let deep = format!("{}{}", "log { ".repeat(3000), "};".repeat(3000));
    let text = load_on_reload_stack(deep).unwrap_err();
    assert!(
        text.starts_with("main.conf:1:385: error: log paths nested more than 64 deep"),
        "{text}"
    );
    assert_eq!(text.matches("error:").count(), 1, "{text}");
}

#[test]
fn deep_option_parentheses_are_refused_before_the_stack_runs_out() {
    let deep = format!(
        "destination d {{ file({}{}); }};\n",
        "a(".repeat(20_000),
        ")".repeat(20_000)
    );
    let text = load_on_reload_stack(deep).unwrap_err();
    assert!(
        text.starts_with("main.conf:1:148: error: option arguments nested more than 64 deep"),
        "{text}"
    );
    assert_eq!(text.matches("error:").count(), 1, "{text}");
}

#[test]
fn deep_filter_parentheses_and_nots_are_refused() {
    for deep in [
        format!("{}program(x){}", "(".repeat(20_000), ")".repeat(20_000)),
        format!("{}program(x)", "not ".repeat(20_000)),
        format!("program({}{})", "a(".repeat(20_000), ")".repeat(20_000)),
    ] {
        let text = load_on_reload_stack(format!("filter f {{ {deep}; }};\n")).unwrap_err();
        assert!(text.contains("nested more than 64 deep"), "{text}");
        assert_eq!(text.matches("error:").count(), 1, "{text}");
    }
}

/// Everything at the limit at once still loads, plans and prints back on the
/// reload stack: the limits are low enough, not just present.
#[test]
fn nesting_at_every_limit_at_once_loads_plans_and_prints_on_the_reload_stack() {
    let filter = format!(
        "{}program(\"x\"){}",
        "(".repeat(LIMIT - 1),
        ")".repeat(LIMIT - 1)
    );
    let text = format!(
        "source s {{ network(port(5514)); }};\ndestination d {{ file(\"/tmp/x\"); }};\n\
         destination e {{ file(\"/tmp/y\" {}y{}); }};\n\
         log {{ source(s); {} filter {{ {filter} }}; destination(d); {} }};\n",
        "a(".repeat(LIMIT - 1),
        ")".repeat(LIMIT - 1),
        "log { ".repeat(LIMIT - 1),
        "};".repeat(LIMIT - 1)
    );
    if let Err(e) = load_on_reload_stack(text) {
        // Only planning may object (file() has no option `a`).
        assert!(!e.contains("nested more than"), "{e}");
    }
    let one_more = format!("{}{}", "log { ".repeat(LIMIT + 1), "};".repeat(LIMIT + 1));
    assert!(load_on_reload_stack(one_more).is_err());
}

#[test]
fn include_chains_deeper_than_the_limit_are_refused() {
    let dir = tmpdir("deepinclude");
    let n = preprocess::MAX_INCLUDE_DEPTH + 5;
    for i in 0..n {
        write(
            &dir.join(format!("f{i}.conf")),
            &format!("@include \"f{}.conf\"\n", i + 1),
        );
    }
    write(&dir.join(format!("f{n}.conf")), "");
    let e = load_file(&dir.join("f0.conf"), &opts()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("error: `@include` nested more than 64 files deep"),
        "{text}"
    );
    assert_eq!(text.matches("error:").count(), 1, "{text}");
}

#[test]
fn errors_on_one_long_line_print_kilobytes_not_the_line_squared() {
    // 7,000 errors on a 21 KB line printed 7,000 copies of the line (300 MB).
    let line = "x; ".repeat(7000);
    let text = err(&line);
    assert!(text.len() < 20_000, "{} bytes", text.len());
    assert_eq!(text.matches(": error: ").count(), 50, "{text}");
    assert!(text.ends_with("... and 6950 more errors\n"), "{text}");
    let second = text.lines().nth(3).unwrap_or_default();
    assert!(
        second.starts_with("main.conf:1:4: error: unknown statement `x`"),
        "{text}"
    );
    assert!(
        text.contains("    1 | ...x; x; x; "),
        "a cut line starts with `...`: {text}"
    );
}

#[test]
fn a_megabyte_word_is_shortened_in_the_message() {
    let word = "w".repeat(1 << 20);
    let text = err(&format!("{word};\nsource s {{ {word} }};\n"));
    assert!(text.len() < 5_000, "{} bytes", text.len());
    assert!(text.contains("error: unknown statement `www"), "{text}");
}

#[test]
fn a_big_config_is_not_lexed_into_a_token_vector_twenty_times_its_size() {
    // 400 KB of `;` were 400,000 tokens of 48 bytes before the first was parsed.
    let text = ";".repeat(400_000);
    let (peak, loaded) = peak_heap(|| load_str("main.conf", &text, &opts()).is_ok());
    assert!(loaded);
    assert!(
        peak < 4 * text.len(),
        "{peak} bytes held for {} bytes",
        text.len()
    );
}

#[test]
fn a_megabyte_of_mistakes_keeps_a_thousand_errors_and_counts_the_rest() {
    let text = "% x; ".repeat(50_000);
    let (peak, e) = peak_heap(|| load_str("main.conf", &text, &opts()).unwrap_err());
    assert!(e.diagnostics.len() <= 1001, "{}", e.diagnostics.len());
    assert_eq!(e.diagnostics.len() + e.unkept, 100_000);
    assert!(
        peak < 10 * text.len(),
        "{peak} bytes held for {} bytes",
        text.len()
    );
    assert!(e.to_string().ends_with("... and 99950 more errors\n"));
}

/// `@define aN "`aN-1``aN-1`"` for N up to 22.
fn doubling_defines(levels: usize, sep: &str) -> String {
    let mut text = String::from("@define a0 \"x\"\n");
    for n in 1..=levels {
        text += &format!("@define a{n} \"`a{}`{sep}`a{}`\"\n", n - 1, n - 1);
    }
    text + &format!("source s {{ x(`a{levels}`); }};\n")
}

#[test]
fn twenty_two_doubling_defines_took_gigabytes() {
    for sep in ["", " "] {
        let text = doubling_defines(22, sep);
        let (peak, e) = peak_heap(|| err(&text));
        assert!(peak < 4 << 20, "{peak} bytes");
        let (line, used) = if sep.is_empty() { (18, 16) } else { (17, 15) };
        assert!(
            e.starts_with(&format!(
                "main.conf:{line}:13: error: substitution makes this string longer than 64 KiB: \
                 it uses `a{used}` ("
            )),
            "{e}"
        );
        assert!(
            e.contains(&format!("defined at main.conf:{}:9) 2 times", line - 1)),
            "{e}"
        );
        assert_eq!(e.matches("error:").count(), 1, "{e}");
    }
}

#[test]
fn a_block_calling_itself_with_doubled_arguments_needed_4_gib() {
    let text = "block source r(a(\"x\")) { r(a(\"`a``a`\")); };\nsource s { r(); };\n";
    let (peak, e) = peak_heap(|| err(text));
    assert!(peak < 32 << 20, "{peak} bytes");
    assert!(
        e.starts_with("main.conf:1:26: error: block `r` expands to more than 1 MiB here"),
        "{e}"
    );
    assert!(
        e.contains("help: its longest argument, `a()`, is 524290 bytes"),
        "{e}"
    );
    assert!(
        e.contains("note: in block `r` defined at main.conf:1:25, called here"),
        "{e}"
    );
    assert!(e.contains("main.conf:2:12: note: in block `r`"), "{e}");
    assert_eq!(e.matches("error:").count(), 1, "{e}");
}

#[test]
fn substitutions_stop_at_the_generated_text_limit() {
    // Each name is a few bytes, but the 60 KB value at the bottom of the chain
    // is substituted 2^30 times.
    let mut text = format!("@define b0 \"'{}'\"\n", "x".repeat(60_000));
    for n in 1..=30 {
        text += &format!("@define b{n} \"``b{}`` ``b{}``\"\n", n - 1, n - 1);
    }
    text += "source s { x(`b30`); };\n";
    let (peak, e) = peak_heap(|| err(&text));
    assert!(peak < 96 << 20, "{peak} bytes");
    assert!(
        e.contains("error: substitutions and block expansions produced more than 32 MiB of text"),
        "{e}"
    );
    assert!(e.contains("note: from `b1` substituted here"), "{e}");
    assert_eq!(e.matches("error:").count(), 1, "{e}");
}

#[test]
fn a_value_from_outside_longer_than_the_limit_is_refused() {
    let o = LoadOptions {
        defines: vec![("big".into(), "y ".repeat(40_000))],
        ..opts()
    };
    let e = err_with("source s { x(`big`); };\n", &o);
    assert!(
        e.starts_with(
            "main.conf:1:14: error: `big` (given to the loader) is 80000 bytes long, more than the 64 KiB a value may be"
        ),
        "{e}"
    );
}

// --- fuzzing: random and mutated configs through the whole front end ---

/// A deterministic xorshift generator, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Pieces of config, valid and not, that random texts are made of.
const PIECES: &[&str] = &[
    "source",
    "destination",
    "filter",
    "parser",
    "log",
    "options",
    "block",
    "root",
    "flags",
    "flow-control",
    "file",
    "network",
    "port(5514)",
    "s",
    "d",
    "r",
    "a",
    "x",
    "and",
    "or",
    "not",
    "==",
    "!=",
    "lt",
    "{",
    "}",
    "(",
    ")",
    ";",
    ",",
    " ",
    "\n",
    "\t",
    "# comment\n",
    "\"",
    "'",
    "`",
    "``",
    "`a`",
    "`b`",
    "`__VARARGS__`",
    "...",
    "@define",
    "@include",
    "@version:",
    "@",
    "\"str\"",
    "'raw'",
    "\"a\\\"b\"",
    "\"\\x41\\x4\"",
    "\"\\\\\"",
    "\"\\\n\"",
    "\"`a``a`\"",
    "\"``\"",
    "program(\"^x$\")",
    "level(err)",
    "a(b(c(d)))",
    "é",
    "\u{0}",
    "\r",
    "\u{feff}",
    "1.0",
    "100MiB",
    "::1",
    "/tmp/x",
];

/// Structures the random texts put the pieces in.
fn fragment(rng: &mut Rng, out: &mut String) {
    match rng.below(12) {
        0 => {
            let n = rng.below(3 * parser::MAX_NESTING as usize);
            let open = rng.pick(&["log { ", "(", "a(", "not ", "{"]);
            out.push_str(&open.repeat(n));
            out.push_str(rng.pick(PIECES));
            out.push_str(&rng.pick(&["};", ")", "}"]).repeat(n));
        }
        1 => {
            let (a, b) = (rng.pick(&["a", "b", "x"]), rng.pick(&["a", "b", "x"]));
            let sep = rng.pick(&["", " ", "``"]);
            out.push_str(&format!("@define {a} \"`{b}`{sep}`{b}`\"\n"));
        }
        2 => {
            let kind = rng.pick(&["source", "destination", "root", "log", "options", "parser"]);
            let body = rng.pick(&[
                "r(a(\"`a``a`\"));",
                "r(); r();",
                "file(`a`) `__VARARGS__`;",
                "x(\"`a`\");",
                "`b`",
                "source s { r(); };",
            ]);
            out.push_str(&format!("block {kind} r(a(\"x\") b() ...) {{ {body} }};\n"));
        }
        3 => {
            let ctx = rng.pick(&[
                "source s { ",
                "destination d { ",
                "",
                "log { ",
                "options { ",
            ]);
            let arg = rng.pick(&["a(\"y\")", "b(1) a(2)", "", "a(", "q(x)"]);
            out.push_str(&format!("{ctx}r({arg}); }};\n"));
        }
        4 => {
            // A long line.
            let piece = rng.pick(PIECES);
            out.push_str(&piece.repeat(1 + rng.below(20_000 / piece.len().max(1))));
        }
        5 => {
            // Garbage bytes, as characters.
            for _ in 0..rng.below(64) {
                let c = char::from_u32((rng.next() % 0x11_0000) as u32).unwrap_or('\u{fffd}');
                out.push(c);
            }
        }
        6 => out.push_str("@include \"/nonexistent/*.conf\"\n@include \"nope.conf\"\n"),
        _ => {
            for _ in 0..rng.below(30) {
                out.push_str(rng.pick(PIECES));
                if rng.below(2) == 0 {
                    out.push(' ');
                }
            }
        }
    }
}

/// `base` with a few random edits: pieces and fragments inserted, spans
/// deleted or duplicated.
fn mutate(rng: &mut Rng, base: &str) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 => {
                let end = (at + rng.below(40)).min(chars.len());
                chars.drain(at..end);
            }
            1 => {
                let end = (at + rng.below(200)).min(chars.len());
                let copy: Vec<char> = chars[at..end].to_vec();
                let times = 1 + rng.below(8);
                for _ in 0..times {
                    chars.splice(at..at, copy.iter().copied());
                }
            }
            2 => {
                let mut s = String::new();
                fragment(rng, &mut s);
                chars.splice(at..at, s.chars());
            }
            _ => {
                let piece = rng.pick(PIECES);
                chars.splice(at..at, piece.chars());
            }
        }
    }
    chars.into_iter().collect()
}

/// Loads `text` and renders what comes out; checks the output and memory
/// bounds. Returns whether it loaded.
fn survive(text: &str) -> bool {
    let (peak, (loaded, rendered)) = peak_heap(|| match load_str("fuzz.conf", text, &opts()) {
        Ok(l) => {
            let rendered = match plan::build(&l.config, &l.map) {
                Ok(_) => print(&l.config),
                Err(d) => diagnostic::render_all(&d, &l.map),
            };
            (true, rendered)
        }
        Err(e) => (false, e.to_string()),
    });
    let excerpt: String = text.chars().take(300).collect();
    // Expanded text may reach MAX_GENERATED; beyond that, a small multiple of
    // the input.
    let allowed = preprocess::MAX_GENERATED * 3 + 64 * text.len() + (1 << 20);
    assert!(peak < allowed, "{peak} bytes held for:\n{excerpt}");
    if !loaded {
        let notes = 64 * 4;
        let lines = rendered.lines().count();
        assert!(
            lines <= diagnostic::MAX_SHOWN * (5 + notes) + 1,
            "{lines} lines for:\n{excerpt}"
        );
        let longest = rendered
            .lines()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        assert!(longest <= 700, "a {longest}-character line for:\n{excerpt}");
    }
    loaded
}

/// 1.5 s of cases by default (about 1,000 in a debug build); `SLUICE_FUZZ_MS`
/// and `SLUICE_FUZZ_SEED` run it longer or elsewhere.
#[test]
fn random_and_mutated_configs_never_panic_and_stay_bounded() {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let budget = std::time::Duration::from_millis(env("SLUICE_FUZZ_MS").unwrap_or(1500));
    let mut rng = Rng(env("SLUICE_FUZZ_SEED").unwrap_or(0x2545_f491_4f6c_dd1d) | 1);
    let seeds = [
        DESIGN.to_string(),
        format!("{S3_BLOCK}destination d {{ s3(bucket(\"b\") url(\"u\")); }};\n"),
        "block root r(a(\"x\")) { source `a` { x(); }; };\nr(a(q));\n".to_string(),
        "filter f { (program(\"a\") and not level(err)) or \"$HOST\" == \"h\"; };\n\
         log { source(s); filter(f); log { destination(d); flags(final); }; };\n"
            .to_string(),
    ];
    let start = std::time::Instant::now();
    let (mut cases, mut loaded) = (0, 0);
    while start.elapsed() < budget {
        let text = if rng.below(3) == 0 {
            let mut t = String::new();
            for _ in 0..1 + rng.below(8) {
                fragment(&mut rng, &mut t);
            }
            t
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, seed)
        };
        let mut scratch = Vec::new();
        let _ = lexer::lex(&text, source::SourceId(0), 0, &mut scratch);
        let t0 = std::time::Instant::now();
        loaded += usize::from(survive(&text));
        // `SLUICE_FUZZ_SLOW=DIR` keeps the cases that took long, to look at.
        if let Ok(dir) = std::env::var("SLUICE_FUZZ_SLOW")
            && t0.elapsed() > std::time::Duration::from_millis(300)
        {
            let _ = std::fs::write(format!("{dir}/slow-{cases}.conf"), &text);
        }
        cases += 1;
    }
    eprintln!("{cases} cases, {loaded} loaded, in {:?}", start.elapsed());
    // Enough cases ran, and some got through, so the generator is not all noise.
    assert!(cases >= 300, "only {cases} cases in the time");
    assert!(loaded > 0, "none of {cases} cases loaded");
}

#[test]
fn lexical_errors_repeated_by_expansions_are_dropped_without_quadratic_time() {
    // Found by the fuzz test: each repeated error was compared with every kept
    // one by rendered location, 16 s for this 10 KB config.
    let text = format!(
        "block root r() {{ {} }};\n{}",
        "``".repeat(500),
        "r();\n".repeat(30)
    );
    let start = std::time::Instant::now();
    let e = load_str("main.conf", &text, &opts()).unwrap_err();
    assert!(
        start.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // Reported where the block is defined, not again per call.
    assert_eq!(e.diagnostics.len() + e.unkept, 500);
}

/// sluice.conf(5) states every limit with the value the code uses.
#[test]
fn man_page_states_the_limits() {
    let page = include_str!("../../man/sluice.conf.5").replace("\\-", "-");
    let section = &page[page.find(".SS Limits").expect("no Limits section")..];
    for stated in [
        format!("{} levels of nesting", parser::MAX_NESTING),
        format!("{} files deep", preprocess::MAX_INCLUDE_DEPTH),
        preprocess::size(preprocess::MAX_VALUE),
        preprocess::size(preprocess::MAX_EXPANSION),
        format!("{} SCL blocks deep", parser::MAX_BLOCK_DEPTH),
        format!(
            "and {} of text",
            preprocess::size(preprocess::MAX_GENERATED)
        ),
        format!("At most {} errors", diagnostic::MAX_SHOWN),
    ] {
        assert!(section.contains(&stated), "sluice.conf(5) lacks `{stated}`");
    }
}

#[test]
fn a_config_of_many_small_statements_parses_in_a_small_multiple_of_its_size() {
    // 5 MB of log paths held 127 MB after parsing: a growth reserve of 136-byte
    // elements in every log path, and every item as large as a comparison.
    let text = format!(
        "source s {{ network(port(5514)); }};\ndestination d {{ file(\"/tmp/x\"); }};\n{}",
        "log { source(s); destination(d); };\n".repeat(15_000)
    );
    let (peak, loaded) = peak_heap(|| load_str("main.conf", &text, &opts()).is_ok());
    assert!(loaded);
    assert!(
        peak < 12 * text.len(),
        "{peak} bytes held for {} bytes",
        text.len()
    );
}
