//! `sluice -s`, `--preprocess-into`, diagnostics, and every example config the
//! repository ships.

use crate::harness::*;
use std::path::Path;
use std::process::{Command, Output};

fn sluice(dir: &Path, args: &[&str]) -> Output {
    Command::new(SLUICE)
        .args(args)
        .arg("--include-path")
        .arg(repo().join("scl"))
        .current_dir(dir)
        .output()
        .expect("run sluice")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Config examples in README.md (```conf fences) and the man pages (.EX/.EE
/// blocks that hold a log path, block or @version line).
fn doc_examples() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap_or_default();
    let mut cur: Option<String> = None;
    for (i, line) in readme.lines().enumerate() {
        match (&mut cur, line.trim_start()) {
            (None, l) if l.starts_with("```conf") => cur = Some(String::new()),
            (Some(text), l) if l.starts_with("```") => {
                out.push((format!("README.md:{}", i + 1), std::mem::take(text)));
                cur = None;
            }
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    for page in ["man/sluice.conf.5", "man/sluice.8", "man/sluice-ctl.8"] {
        let roff = std::fs::read_to_string(repo().join(page)).unwrap_or_default();
        let mut cur: Option<String> = None;
        for (i, line) in roff.lines().enumerate() {
            match (&mut cur, line) {
                (None, ".EX") => cur = Some(String::new()),
                (Some(text), ".EE") => {
                    let t = std::mem::take(text);
                    if t.contains("log {") || t.contains("@version") || t.contains("block ") {
                        out.push((format!("{page}:{}", i + 1), t));
                    }
                    cur = None;
                }
                (Some(text), l) => {
                    text.push_str(
                        &l.replace("\\e", "\\")
                            .replace("\\-", "-")
                            .replace("\\(dq", "\"")
                            .replace("\\&", ""),
                    );
                    text.push('\n');
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn every_shipped_and_documented_config_validates() {
    let dir = TempDir::new("examples");
    let mut checked = 0;
    {
        let shipped = "packaging/sluice.conf";
        let o = sluice(
            dir.path(),
            &["-s", "-f", repo().join(shipped).to_str().unwrap()],
        );
        assert!(o.status.success(), "{shipped}:\n{}", stderr(&o));
        checked += 1;
    }
    let examples = doc_examples();
    assert!(
        examples.len() >= 4,
        "the docs should carry config examples, found {}",
        examples.len()
    );
    for (origin, text) in examples {
        let path = dir.write("example.conf", &text);
        let o = sluice(dir.path(), &["-s", "-f", path.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "example at {origin} does not validate:\n{text}\n{}",
            stderr(&o)
        );
        checked += 1;
    }
    // Every shipped SCL block is reachable through scl.conf.
    let o = sluice(
        dir.path(),
        &[
            "--preprocess-into",
            "-",
            "-f",
            repo().join("packaging/sluice.conf").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(checked >= 5);
}

#[test]
fn unknown_option_names_file_line_column_and_suggests() {
    let dir = TempDir::new("diag");
    dir.write(
        "my.conf",
        "@version: 1.0\nsource s { network(port(5514)); };\ndestination d { file(\"out.log\" templat(\"${MESSAGE}\\n\")); };\nlog { source(s); destination(d); };\n",
    );
    let o = sluice(dir.path(), &["-s", "-f", "my.conf"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("my.conf:3:32: error: unknown option `templat` of file()"),
        "{err}"
    );
    assert!(
        err.contains("    3 | destination d { file(\"out.log\" templat(\"${MESSAGE}\\n\")); };\n"),
        "{err}"
    );
    assert!(
        err.contains("\n      |                                ^^^^^^^\n"),
        "{err}"
    );
    assert!(err.contains("did you mean `template`?"), "{err}");
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let dir = TempDir::new("diag-all");
    dir.write(
        "bad.conf",
        "source s { network(port(70000) transport(\"tcpp\")); };\ndestination d { file(\"x\" create-dirs(maybe)); };\nlog { source(s); destination(dd); flags(flow-contrl); };\n",
    );
    let o = sluice(dir.path(), &["-s", "-f", "bad.conf"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    for want in [
        "bad.conf:1:25: error: port(70000) is out of range: 0 to 65535",
        "bad.conf:1:42: error: transport() takes one of tcp, udp, tls, framed, not `tcpp`",
        "bad.conf:2:38: error: create-dirs() takes yes or no, not `maybe`",
        "bad.conf:3:30: error: unknown destination `dd`",
        "did you mean `d`?",
        "bad.conf:3:41: error: unknown log path flag `flow-contrl`",
        "did you mean `flow-control`?",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
}

#[test]
fn preprocess_expands_includes_defines_and_blocks() {
    let dir = TempDir::new("pre");
    dir.write(
        "conf.d/dest.conf",
        "destination d { archive(dir(\"`base`/arch\") fsync(yes)); };\n",
    );
    dir.write(
        "main.conf",
        "@version: 1.0\n@include \"scl.conf\"\n@define base \"/srv/logs\"\nsource s { syslog(port(6601)); };\n@include \"conf.d\"\nlog { source(s); destination(d); };\n",
    );
    let o = sluice(dir.path(), &["--preprocess-into", "-", "-f", "main.conf"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        text.contains("file(\"/srv/logs/arch/${HOST}/${R_YEAR}-${R_MONTH}-${R_DAY}.log\""),
        "{text}"
    );
    assert!(text.contains("fsync(yes)"), "{text}");
    assert!(
        text.contains("network(ip(\"0.0.0.0\") port(6601) transport(\"tcp\")"),
        "{text}"
    );
    assert!(
        !text.contains('`') && !text.contains("archive(") && !text.contains("@include"),
        "{text}"
    );
    // The expanded text is itself a valid config.
    dir.write("expanded.conf", &text);
    let o = sluice(dir.path(), &["-s", "-f", "expanded.conf"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn error_inside_a_block_names_the_block_and_the_call_site() {
    let dir = TempDir::new("blockerr");
    dir.write(
        "scl/mine.conf",
        "block destination mine(path(\"x\")) {\n    file(\"`path`\"\n         fsink(yes));\n};\n",
    );
    dir.write(
        "main.conf",
        "@include \"scl/mine.conf\"\nsource s { network(port(6000)); };\ndestination d {\n    mine(path(\"y\"));\n};\nlog { source(s); destination(d); };\n",
    );
    let o = sluice(dir.path(), &["-s", "-f", "main.conf"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("scl/mine.conf:3:10: error: unknown option `fsink` of file()"),
        "{err}"
    );
    assert!(err.contains("did you mean `fsync`?"), "{err}");
    assert!(
        err.contains("main.conf:4:5"),
        "the call site is named:\n{err}"
    );
}

#[test]
fn missing_config_and_bad_flags_fail_clearly() {
    let dir = TempDir::new("missing");
    let o = sluice(dir.path(), &["-s", "-f", "nope.conf"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nope.conf"), "{}", stderr(&o));
    let o = sluice(dir.path(), &["--frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = sluice(dir.path(), &["--version"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("sluice "));
}

/// sluice.conf(5)'s DRIVERS AND OPTIONS section is generated from the option
/// tables; `SLUICE_BLESS=1 cargo test man_page_options` rewrites it.
#[test]
fn man_page_options_section_matches_the_option_tables() {
    let path = repo().join("man/sluice.conf.5");
    let page = std::fs::read_to_string(&path).unwrap();
    let (start, end) = (".SH DRIVERS AND OPTIONS\n", ".SH EXAMPLES\n");
    let a = page.find(start).expect("no DRIVERS AND OPTIONS section") + start.len();
    let b = page.find(end).expect("no EXAMPLES section");
    let want = sluice::config::man_options();
    if std::env::var("SLUICE_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, format!("{}{want}{}", &page[..a], &page[b..])).unwrap();
        return;
    }
    assert!(
        page[a..b] == want,
        "man/sluice.conf.5 is out of date; run SLUICE_BLESS=1 cargo test man_page_options"
    );
}

/// The man pages stay true: every flag and every driver option is documented.
#[test]
fn man_pages_document_every_flag_and_option() {
    let read = |p: &str| {
        std::fs::read_to_string(repo().join(p))
            .unwrap()
            .replace("\\-", "-")
    };
    let daemon = read("man/sluice.8");
    for f in sluice::cli::FLAGS {
        assert!(
            daemon.contains(&format!("--{}", f.long)),
            "man/sluice.8 lacks --{}",
            f.long
        );
    }
    let conf = read("man/sluice.conf.5");
    for spec in
        std::iter::once(&sluice::config::plan::GLOBAL_SPEC).chain(sluice::config::plan::drivers())
    {
        if spec.name != "options" {
            assert!(
                conf.contains(&format!(".SS {}()", spec.name)),
                "man/sluice.conf.5 has no section for {}()",
                spec.name
            );
        }
        for o in spec.options {
            if let sluice::config::schema::Kind::Group(group) = o.kind {
                for n in group.options {
                    assert!(
                        conf.contains(&format!("{}({}())", o.name, n.name)),
                        "man/sluice.conf.5 lacks {}({}())",
                        o.name,
                        n.name
                    );
                }
            }
            assert!(
                conf.contains(&format!("{}()", o.name)),
                "man/sluice.conf.5 lacks {}() of {}",
                o.name,
                spec.name
            );
        }
    }
    let ctl = read("man/sluice-ctl.8");
    for verb in sluice::daemon::VERBS {
        assert!(ctl.contains(verb), "man/sluice-ctl.8 lacks {verb}");
    }
}

/// The Debian package ships what the repository has: every asset it lists
/// exists, and every shipped SCL snippet and man page is listed (a new snippet
/// cannot be forgotten by the package).
#[test]
fn package_metadata_lists_every_shipped_file() {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let assets: Vec<String> = manifest
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("[\""))
        .filter_map(|l| l.split('"').nth(1).map(str::to_string))
        .collect();
    assert!(assets.len() >= 8, "{assets:?}");
    for a in &assets {
        if !a.starts_with("target/") {
            assert!(
                repo().join(a).is_file(),
                "Cargo.toml ships {a}, which is missing"
            );
        }
    }
    let mut shipped = vec![
        "packaging/sluice.conf".to_string(),
        "scl/scl.conf".to_string(),
    ];
    for dir in std::fs::read_dir(repo().join("scl")).unwrap() {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            for f in std::fs::read_dir(&dir).unwrap() {
                let f = f.unwrap().path();
                let rel = f
                    .strip_prefix(repo())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                shipped.push(rel);
            }
        }
    }
    for f in std::fs::read_dir(repo().join("man")).unwrap() {
        let f = f.unwrap().path();
        shipped.push(
            f.strip_prefix(repo())
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
    }
    for f in &shipped {
        assert!(
            assets.contains(f),
            "{f} is not in [package.metadata.deb] assets"
        );
    }
}

#[test]
fn scl_drop_ins_load_from_every_include_path_folder() {
    // Regression: scl.conf's `@include "*/*.conf"` stopped at the first folder
    // of the include path that matched (the shipped one), so blocks dropped
    // into /etc/sluice/scl.d were never loaded. The installed layout:
    let root = TempDir::new("layout");
    let shipped = root.join("usr/share/sluice/scl");
    for f in ["scl.conf", "archive/archive.conf", "syslog/syslog.conf"] {
        let text = std::fs::read_to_string(repo().join("scl").join(f)).unwrap();
        root.write(&format!("usr/share/sluice/scl/{f}"), &text);
    }
    root.write(
        "etc/sluice/scl.d/mine.conf",
        "block destination mine(path(\"/tmp/mine.log\") ...) { file(\"`path`\" `__VARARGS__`); };\n",
    );
    root.write(
        "etc/sluice/scl.d/nested/nested.conf",
        "block destination nested(path()) { file(\"`path`\"); };\n",
    );
    let conf = root.write(
        "etc/sluice/sluice.conf",
        "@include \"scl.conf\"\n\
         destination d { archive(dir(\"/tmp/a\")); mine(fsync(yes)); nested(path(\"/tmp/n.log\")); };\n\
         log { destination(d); };\n",
    );
    let path = format!(
        "{}:{}",
        root.join("etc/sluice/scl.d").display(),
        shipped.display()
    );
    let o = Command::new(SLUICE)
        .args(["--include-path", &path, "--preprocess-into", "-", "-f"])
        .arg(&conf)
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{err}");
    for want in [
        "file(\"/tmp/mine.log\" fsync(yes))",
        "file(\"/tmp/n.log\")",
        "/tmp/a/${HOST}",
    ] {
        assert!(out.contains(want), "missing {want} in:\n{out}");
    }
}

#[test]
fn an_unknown_macro_is_a_warning_with_a_suggestion() {
    // Regression: `${HOTS}` silently rendered empty.
    let dir = TempDir::new("macro-typo");
    let conf = dir.write(
        "t.conf",
        "source s { network(port(5514)); };\n\
         destination d { file(\"/tmp/x\" template(\"${HOTS} ${MESSAGE} ${.SDATA.meta.x} ${MY_FIELD}\\n\")); };\n\
         log { source(s); destination(d); };\n",
    );
    let (code, err) = syntax_check(&conf);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("t.conf:2:31: warning: unknown macro `${HOTS}`"),
        "{err}"
    );
    assert!(err.contains("did you mean `${HOST}`?"), "{err}");
    assert!(err.contains("unknown macro `${MY_FIELD}`"), "{err}");
    assert!(!err.contains("unknown macro `${.SDATA"), "{err}");
    assert_eq!(err.matches("warning:").count(), 2, "{err}");
}

#[test]
fn named_template_errors_are_clear() {
    let dir = TempDir::new("named-templates");
    let conf = dir.write(
        "t.conf",
        "template t_one \"${MSG}\\n\";\n\
         template t_two { template-escape(yes); };\n\
         template t_one { template(\"again\"); };\n\
         source s { network(port(5514)); };\n\
         destination d { file(\"/tmp/x\" template(\"$(template t_on)\")); };\n\
         log { source(s); destination(d); };\n",
    );
    let (code, err) = syntax_check(&conf);
    assert_eq!(code, Some(1), "{err}");
    for want in [
        "t.conf:2:18: error: template-escape(yes) is not supported",
        "t.conf:2:1: error: template `t_two` needs template(\"...\")",
        "t.conf:3:10: error: template `t_one` is defined twice",
        "no template named \"t_on\"; did you mean \"t_one\"?",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // A template that includes itself is stopped, not followed for ever.
    let conf = dir.write(
        "loop.conf",
        "template t_a \"$(template t_a)\";\n\
         source s { network(port(5514)); };\n\
         destination d { file(\"/tmp/x\" template(t_a)); };\n\
         log { source(s); destination(d); };\n",
    );
    let (code, err) = syntax_check(&conf);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("nests more than 16 deep"), "{err}");
}

/// Config examples in the style of syslog-ng's administration guide that use
/// only what Sluice implements: each must pass `sluice -s` unchanged.
const ADMIN_GUIDE_EXAMPLES: &[&str] = &[
    "@version: 3.38\n@include \"scl.conf\"\n\
     options { use-dns(no); keep-hostname(yes); create-dirs(yes); ts-format(iso); };\n\
     source s_network { network(ip(\"127.0.0.1\") port(1999)); };\n\
     destination d_local { file(\"/var/log/messages\"); };\n\
     log { source(s_network); destination(d_local); };\n",
    "source s_tcp { network(transport(\"tcp\") port(1999) max-connections(100) keep-hostname(yes)); };\n\
     destination d_file { file(\"/var/log/${YEAR}.${MONTH}.${DAY}/messages\" template(\"${HOUR}:${MIN}:${SEC} ${TZ} ${HOST} [${LEVEL}] ${MSG}\\n\") create-dirs(yes)); };\n\
     log { source(s_tcp); destination(d_file); };\n",
    "source s_all { network(ip(\"0.0.0.0\") transport(\"udp\") port(514)); network(ip(\"0.0.0.0\") transport(\"tcp\") port(514)); };\n\
     filter f_iptables { facility(kern) and message(\"IN=\") and message(\"OUT=\"); };\n\
     filter f_auth { facility(auth, authpriv); };\n\
     filter f_not_debug { not level(debug); };\n\
     destination d_iptables { file(\"/var/log/iptables.log\"); };\n\
     destination d_auth { file(\"/var/log/auth.log\" perm(0640)); };\n\
     log { source(s_all); filter(f_iptables); destination(d_iptables); flags(final); };\n\
     log { source(s_all); filter(f_auth); filter(f_not_debug); destination(d_auth); };\n",
    "template t_demo_filetemplate { template(\"${ISODATE} ${HOST} ${MSGHDR}${MESSAGE}\\n\"); template-escape(no); };\n\
     source s { network(port(5514)); };\n\
     destination d_file { file(\"/var/log/messages\" template(t_demo_filetemplate)); };\n\
     log { source(s); destination(d_file); };\n",
    "source s_syslog { network(transport(\"tls\") port(6514) tls(key-file(\"/etc/syslog-ng/key.d/syslog-ng.key\") cert-file(\"/etc/syslog-ng/cert.d/syslog-ng.cert\") ca-dir(\"/etc/syslog-ng/ca.d\") peer-verify(optional-untrusted))); };\n\
     destination d_json { file(\"/var/log/json.log\" template(\"$(format-json --scope rfc5424 --scope nv-pairs --exclude DATE --key ISODATE)\\n\")); };\n\
     log { source(s_syslog); destination(d_json); flags(flow-control); };\n",
    "source s_net { network(port(1514) flags(syslog-protocol) log-msg-size(65536) so-rcvbuf(1048576)); network(port(1514) transport(\"udp\") flags(no-multi-line)); };\n\
     destination d_host { file(\"/var/log/hosts/$(sanitize ${HOST})/${R_YEAR}-${R_MONTH}-${R_DAY}.log\" create-dirs(yes) dir-perm(0750) perm(0640) time-reap(30)); };\n\
     log { source(s_net); destination(d_host); };\n",
    "options { chain-hostnames(yes); use-fqdn(yes); use-dns(persist-only); dns-cache-hosts(\"/etc/hosts\"); normalize-hostnames(yes); frac-digits(3); };\n\
     source s { network(port(5514)); };\n\
     destination d { file(\"/var/log/all.log\" template(\"${FULLHOST} ${ISODATE} $(format-json --scope selected-macros --scope nv-pairs)\\n\")); };\n\
     log { source(s); destination(d); };\n",
    "source s { network(port(5514)); };\n\
     destination d { file(\"/var/log/cef.log\" template(\"$(format-cef-extension --subkeys .cef.)\\n\")); };\n\
     destination d_welf { file(\"/var/log/welf.log\" template(\"$(format-welf --scope rfc3164)\\n\")); };\n\
     log { source(s); log { filter { program(\"^sshd$\"); }; destination(d); }; log { destination(d_welf); }; };\n",
    "source s_old { tcp(ip(\"127.0.0.1\") port(1999) max-connections(10)); udp(ip(\"127.0.0.1\") port(1999)); tcp6(port(2000)); };\n\
     destination d { file(\"/var/log/old\"); };\n\
     log { source(s_old); destination(d); };\n",
    "@requires json-plugin\n@module syslogformat\n\
     source s { network(port(5514)); };\n\
     destination d { file(\"/var/log/x\" template(\"$(if (\\\"${PRI}\\\" > \\\"100\\\") high low) $(uppercase ${PROGRAM}) ${MSG}\\n\")); };\n\
     log { source(s); destination(d); };\n",
];

#[test]
fn syslog_ng_admin_guide_examples_validate() {
    let dir = TempDir::new("admin-guide");
    for (i, text) in ADMIN_GUIDE_EXAMPLES.iter().enumerate() {
        let conf = dir.write(&format!("example{i}.conf"), text);
        let (code, err) = syntax_check(&conf);
        assert_eq!(code, Some(0), "example {i}:\n{text}\n{err}");
    }
}

#[test]
fn unsupported_syslog_ng_features_are_named() {
    let dir = TempDir::new("unsupported");
    for (text, want) in [
        (
            "rewrite r { subst(\"IP\", \"IP-Address\", value(\"MESSAGE\")); };\n",
            "`rewrite`: rewrite rules are not supported by Sluice",
        ),
        (
            "parser p { csv-parser(columns(\"a\", \"b\")); };\n",
            "`parser`: parsers are not supported by Sluice yet",
        ),
        (
            "destination d { program(\"/bin/cat\"); };\n",
            "destination driver `program`: program() destinations are not supported",
        ),
        (
            "destination d { python(class(\"x\")); };\n",
            "python() drivers are not supported",
        ),
        (
            "source s { system(); };\n",
            "source driver `system`: system() (the local log sockets",
        ),
        (
            "source s { file(\"/var/log/x.log\"); };\n",
            "file() sources (following a file) are not supported",
        ),
        (
            "destination d { network(\"10.1.1.1\" port(514) tls(ca-file(\"/x\"))); };\n",
            "tls() is for transport(\"tls\")",
        ),
        (
            "destination d { syslog(port(514)); };\n",
            "syslog() needs the server, as in syslog(\"10.0.0.5\")",
        ),
        (
            "destination d { syslog(\"h\" transport(\"tls\") tls(cert-file(\"/c.pem\"))); };\n",
            "cert-file() needs key-file()",
        ),
        (
            "destination d { tcp(\"h\" ip-protocol(5)); };\n",
            "ip-protocol",
        ),
        (
            "@module mod-python\n",
            "the syslog-ng module `mod-python` is not part of Sluice",
        ),
        (
            "log { junction { channel { }; }; };\n",
            "`junction`: junctions are not supported by Sluice",
        ),
        (
            "log { rewrite(r); };\n",
            "`rewrite`: rewrite rules are not supported by Sluice",
        ),
    ] {
        let conf = dir.write("u.conf", text);
        let (code, err) = syntax_check(&conf);
        assert_eq!(code, Some(1), "{text}\n{err}");
        assert!(err.contains(want), "{text}: missing {want:?} in:\n{err}");
    }
}

/// `-s` and start-up refuse what a reload refuses (`reload.rs`): 10,500 nested
/// log paths overflowed even `-s`, and a one-line config of 57,000 errors
/// tried to print 11 GB.
#[test]
fn syntax_only_refuses_deep_nesting_and_prints_bounded_errors() {
    let dir = TempDir::new("limits");
    let deep = dir.write(
        "deep.conf",
        &format!("{}{}\n", "log { ".repeat(20_000), "};".repeat(20_000)),
    );
    let (code, err) = syntax_check(&deep);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.starts_with(&format!(
            "{}:1:385: error: log paths nested more than 64 deep",
            deep.display()
        )),
        "{err}"
    );
    let long = dir.write("long.conf", &format!("{}\n", "x; ".repeat(57_000)));
    let (code, err) = syntax_check(&long);
    assert_eq!(code, Some(1));
    assert!(err.len() < 20_000, "{} bytes", err.len());
    assert!(err.ends_with("... and 56950 more errors\n"), "{err}");
    let o = sluice(dir.path(), &["-F", "-f", deep.to_str().unwrap_or_default()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("nested more than 64 deep"),
        "{}",
        stderr(&o)
    );
}
