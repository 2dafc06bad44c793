//! `oss()`: logstash-output-oss's parameters under their names, mapped onto
//! the object-store driver; checked in the expanded config and in the
//! objects a real S3 server (s3s-fs) receives.

use crate::harness::*;
use crate::objects::{gunzip, objects};
use crate::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Each of `cases` (options for `call`, and the error they must give) fails
/// `sluice -s` with that error, placed at the call in the user's file.
fn refused(dir: &TempDir, call: impl Fn(&str) -> String, cases: &[(&str, &str)]) {
    let mut failed = Vec::new();
    for (opts, want) in cases {
        let conf = dir.write("bad.conf", &call(opts));
        let (code, err) = syntax_check(&conf);
        if code != Some(1) || !err.contains(want) || !err.contains("bad.conf:4:3") {
            failed.push(format!("{opts}: exit {code:?}, want {want:?} in:\n{err}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// The seed's pipeline, as an `oss()` call, expands into the object-store
/// options each parameter stands for.
#[test]
fn oss_parameters_expand_to_the_object_store_options_they_mean() {
    let dir = TempDir::new("oss-pre");
    let conf = dir.write(
        "oss.conf",
        "@include \"scl.conf\"\n\
         source s { network(port(5514)); };\n\
         destination d { oss(endpoint(\"http://oss-cn-hangzhou-internal.aliyuncs.com\") \
           bucket(\"zl-log-output-test\") access-key-id(\"LTAIaxxxxx\") access-key-secret(\"zuxxxx8h\") \
           prefix(\"oss/database\") recover(true) rotation-strategy(\"size_and_time\") \
           time-rotate(1) size-rotate(1000) temporary-directory(\"/var/spool/sluice-oss\") \
           encoding(\"gzip\") upload-workers-count(4) upload-queue-size(16) \
           max-connections-to-oss(1024) secure-connection-enabled(false) \
           server-side-encryption-algorithm(\"AES256\")); };\n\
         log { source(s); destination(d); };\n",
    );
    let o = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--include-path"])
        .arg(repo().join("scl"))
        .args(["--preprocess-into", "-", "-f"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    for want in [
        "object-store(url(\"http://oss-cn-hangzhou-internal.aliyuncs.com\") https(false) path-style(no)",
        "bucket(\"zl-log-output-test\") access-key(\"LTAIaxxxxx\") secret-key(\"zuxxxx8h\")",
        "object-key(\"oss/database\") object-key-suffix(\".data\")",
        "recover(true) spool-dir(\"/var/spool/sluice-oss\")",
        "rotation-strategy(\"size_and_time\") max-object-size(1000) max-object-age(1)",
        "upload-threads(4) max-pending-uploads(16) max-connections(1024)",
        "compression(\"gzip\") server-side-encryption(\"AES256\")",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // And it is a valid config as it stands.
    let (code, err) = syntax_check(&conf);
    assert_eq!(code, Some(0), "{err}");
}

/// A value outside a parameter's set or range names the valid ones, and the
/// user's file and line.
#[test]
fn oss_parameter_errors_name_the_choices() {
    let dir = TempDir::new("oss-syntax");
    let call = |opts: &str| {
        format!(
            "@include \"scl.conf\"\n\
             source s {{ network(port(5514)); }};\n\
             destination d {{\n  oss(bucket(\"b\") {opts});\n}};\n\
             log {{ source(s); destination(d); }};\n"
        )
    };
    let cases = [
        (
            "rotation-strategy(\"sometimes\")",
            "rotation-strategy() takes one of size, time, size_and_time, not `sometimes`",
        ),
        (
            "encoding(\"lz4\")",
            "compression() takes one of no, none, yes, gzip, zstd, snappy, not `lz4`",
        ),
        (
            "server-side-encryption-algorithm(\"DES\")",
            "server-side-encryption() takes one of AES256, aws:kms, not `DES`",
        ),
        (
            "upload-workers-count(0)",
            "upload-threads(0) is out of range: 1 to 64",
        ),
        (
            "endpoint(\"http://oss-cn-hangzhou.aliyuncs.com\") secure-connection-enabled(yes)",
            "is plain http, but https(yes) (secure-connection-enabled) asks for TLS",
        ),
    ];
    refused(&dir, call, &cases);
}

/// Objects through `oss()`: size rotation with gzip encoding gives
/// `PREFIX.data.gz`, `PREFIX-1.data.gz`, ... that gunzip to every message
/// once, the spool lives in temporary-directory(); rotation-strategy("time")
/// ignores size-rotate.
#[test]
fn oss_rotates_and_encodes_as_logstash_output_oss_is_told_to() {
    let server = S3Server::start(&["logs"]);
    let port = free_port();
    let tmp = TempDir::new("oss-tmp");
    // path-style(yes): the test server has no wildcard DNS name for
    // virtual-hosted style, which oss() asks for.
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination size {{ oss(endpoint(\"{0}\") bucket(\"logs\") access-key-id(\"{ACCESS_KEY}\") \
           access-key-secret(\"{SECRET_KEY}\") prefix(\"size/${{HOST}}\") encoding(\"gzip\") \
           rotation-strategy(\"size\") size-rotate(100) time-rotate(\"1s\") \
           temporary-directory(\"{1}\") path-style(yes) flush-grace-period(1s)); }};\n\
         destination time {{ oss(endpoint(\"{0}\") bucket(\"logs\") access-key-id(\"{ACCESS_KEY}\") \
           access-key-secret(\"{SECRET_KEY}\") prefix(\"time/${{HOST}}\") \
           rotation-strategy(\"time\") size-rotate(100) time-rotate(\"1h\") \
           path-style(yes) flush-grace-period(1s)); }};\n\
         log {{ source(s); destination(size); destination(time); flags(flow-control); }};\n",
        server.endpoint,
        tmp.path().display()
    );
    let d = Daemon::start(&conf);
    const N: usize = 300;
    // Three bursts, each its own batch at least: size-rotate(100) completes
    // an object after each.
    for burst in 0..3 {
        send_tcp(
            port,
            (burst * 100..burst * 100 + 100).map(|n| sl(&format!("m{n}"))),
        );
        for name in ["size", "time"] {
            let stat = format!("destination.{name}#0.written");
            d.await_stat(&stat, burst as u64 * 100 + 100, WAIT);
        }
    }
    // The spool is in temporary-directory(), in a directory of its own.
    let spools: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        spools.len() == 1 && spools[0].starts_with("object-store-"),
        "{spools:?}"
    );
    assert!(
        wait_until(WAIT, || d.stat("destination.time#0.objects") == 1
            && d.stat("destination.size#0.objects") > 2),
        "{}",
        d.log()
    );
    d.stop();
    let found = objects(&server.root.join("logs"));
    let time: Vec<&String> = found.keys().filter(|k| k.starts_with("time/")).collect();
    assert_eq!(time, ["time/host.data"], "size-rotate is ignored with time");
    let mut size: Vec<(&String, &Vec<u8>)> = found
        .iter()
        .filter(|(k, _)| k.starts_with("size/"))
        .collect();
    // size/host.data.gz, size/host-1.data.gz, ... in index order.
    size.sort_by_key(|(k, _)| {
        k.trim_start_matches("size/host")
            .trim_end_matches(".data.gz")
            .trim_start_matches('-')
            .parse::<u32>()
            .unwrap_or(0)
    });
    assert!(size.len() > 2, "{:?}", found.keys());
    let mut text = String::new();
    for (i, (key, bytes)) in size.iter().enumerate() {
        let want = if i == 0 {
            "size/host.data.gz".to_string()
        } else {
            format!("size/host-{i}.data.gz")
        };
        assert_eq!(**key, want);
        text += &gunzip(bytes);
    }
    let want: String = (0..N).map(|n| format!("m{n}\n")).collect();
    assert_eq!(text, want);
    assert_eq!(
        String::from_utf8_lossy(&found["time/host.data"]),
        want,
        "one object with every message"
    );
}

/// recover(no): what a crash left in the spool is deleted at the next start,
/// said in the log, and never uploaded.
#[test]
fn oss_recover_no_deletes_what_a_crash_left() {
    let store = TempDir::new("oss-recover-store");
    let port = free_port();
    let conf = |recover: &str| {
        format!(
            "@include \"scl.conf\"\n\
             source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
             destination d {{ oss(endpoint(\"file://{}\") bucket(\"logs\") prefix(\"app\") \
               recover({recover})); }};\n\
             log {{ source(s); destination(d); flags(flow-control); }};\n",
            store.path().display()
        )
    };
    let d = Daemon::start(&conf("no"));
    send_tcp(port, (0..50).map(|n| sl(&format!("m{n}"))));
    d.await_stat("destination.d#0.written", 50, WAIT);
    // Open for time-rotate (15 minutes): only in the spool when killed.
    let d = Daemon::start_in(d.crash(), &conf("no")).unwrap();
    assert!(
        wait_until(WAIT, || d.log().contains("recover(no): deleted")),
        "{}",
        d.log()
    );
    d.stop();
    assert!(
        objects(store.path()).is_empty(),
        "{:?}",
        objects(store.path()).keys()
    );
}

/// `sls-shipper()`: Log Service's shipping rule in one line. Out-of-range
/// sizes and times, and formats and compressions it does not ship, are
/// errors naming what it takes.
#[test]
fn sls_shipper_checks_log_service_ranges() {
    let dir = TempDir::new("sls-syntax");
    let call = |opts: &str| {
        format!(
            "@include \"scl.conf\"\n\
             source s {{ network(port(5514)); }};\n\
             destination d {{\n  sls-shipper(endpoint(\"oss-cn-hangzhou.aliyuncs.com\") bucket(\"b\") prefix(\"sls\") {opts});\n}};\n\
             log {{ source(s); destination(d); }};\n"
        )
    };
    let cases = [
        (
            "shipping-size(4)",
            "shipping-size(4) is out of range: 5 to 256",
        ),
        (
            "shipping-size(300)",
            "shipping-size(300) is out of range: 5 to 256",
        ),
        (
            "shipping-time(100)",
            "shipping-time(100) is out of range: 300 to 900",
        ),
        (
            "format(\"xml\")",
            "shipping-format() takes one of json, csv, parquet, not `xml`",
        ),
        (
            "compression(\"gzip\")",
            "shipping-compression() takes one of none, snappy, not `gzip`",
        ),
        ("format(\"csv\")", "format(csv) needs columns()"),
    ];
    refused(&dir, call, &cases);
    let good = dir.write("good.conf", &call("format(\"parquet\") columns(\"HOST\", \"PID:int32\") compression(\"snappy\") shipping-size(5) shipping-time(900)"));
    let (code, err) = syntax_check(&good);
    assert_eq!(code, Some(0), "{err}");
}

/// Objects through `sls-shipper()` take Log Service's layout: the partition
/// of each message's own day, `_<random id>`, `.snappy`, and raw snappy JSON
/// lines inside.
#[test]
fn sls_shipper_writes_log_service_partitions() {
    let store = TempDir::new("sls-store");
    let port = free_port();
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ sls-shipper(endpoint(\"file://{}\") bucket(\"logs\") prefix(\"sls/data\") \
           partition-format(\"year=%Y/mon=%m/day=%d\") partition-time(message) \
           format(\"json\") compression(\"snappy\") flush-grace-period(1s)); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n",
        store.path().display()
    );
    let d = Daemon::start(&conf);
    let msgs: Vec<String> = (0..40)
        .map(|n| {
            let day = if n % 2 == 0 { 22 } else { 23 };
            format!("<13>1 2026-11-{day}T10:00:00Z web-1 app - - - m{n}")
        })
        .collect();
    send_tcp(port, msgs);
    d.await_stat("destination.d#0.objects", 2, WAIT);
    d.stop();
    let found = objects(&store.path().join("logs"));
    let mut days = Vec::new();
    for (key, bytes) in &found {
        let (partition, rest) = key.split_once('_').expect("PARTITION_RANDOMID");
        assert!(
            rest.ends_with(".snappy") && rest.len() > ".snappy".len(),
            "{key}"
        );
        days.push(partition.to_string());
        let text = snap::raw::Decoder::new().decompress_vec(bytes).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert_eq!(text.lines().count(), 20, "{key}");
        assert!(
            text.lines().all(|l| l.starts_with("{\"__time__\":")),
            "{text}"
        );
    }
    days.sort();
    assert_eq!(
        days,
        [
            "sls/data/year=2026/mon=11/day=22",
            "sls/data/year=2026/mon=11/day=23"
        ]
    );
}

/// max-connections-to-oss(1): however many parts are ready and however many
/// upload workers there are, one request is in flight at a time (a proxy in
/// front of the store counts them); the same destination without it sends
/// several at once.
#[test]
fn max_connections_bounds_requests_in_flight() {
    let server = S3Server::start(&["logs"]);
    let (one, many) = (
        crate::fault_proxy::FaultProxy::start(&server.endpoint),
        crate::fault_proxy::FaultProxy::start(&server.endpoint),
    );
    // Slow replies, so that parts wait for each other.
    one.delay(Duration::from_millis(150));
    many.delay(Duration::from_millis(150));
    let port = free_port();
    let dest = |name: &str, endpoint: &str, extra: &str| {
        format!(
            "destination {name} {{ oss(endpoint(\"{endpoint}\") bucket(\"logs\") \
               access-key-id(\"{ACCESS_KEY}\") access-key-secret(\"{SECRET_KEY}\") \
               prefix(\"{name}\") upload-workers-count(4) {extra} path-style(yes) \
               chunk-size(5MiB) flush-grace-period(1s)); }};\n"
        )
    };
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         {}{}\
         log {{ source(s); destination(one); destination(many); flags(flow-control); }};\n",
        dest("one", &one.endpoint, "max-connections-to-oss(1)"),
        dest("many", &many.endpoint, ""),
    );
    let d = Daemon::start(&conf);
    // About 24 MiB: four parts or more each.
    const N: usize = 120_000;
    let pad = "x".repeat(180);
    send_tcp(port, (0..N).map(|n| sl(&format!("m{n} {pad}"))));
    for name in ["one", "many"] {
        let stat = format!("destination.{name}#0.objects");
        assert!(
            wait_until(Duration::from_secs(120), || d.stat(&stat) == 1),
            "{name}: {}",
            d.log()
        );
    }
    d.stop();
    assert_eq!(one.max_in_flight(), 1, "max-connections-to-oss(1)");
    assert!(
        many.max_in_flight() > 1,
        "{} without it",
        many.max_in_flight()
    );
    let found = objects(&server.root.join("logs"));
    for key in ["one.data", "many.data"] {
        let text = String::from_utf8_lossy(&found[key]);
        assert_eq!(text.lines().count(), N, "{key}");
    }
}
