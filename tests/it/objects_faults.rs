//! Object-store destinations when things go wrong: a store that refuses,
//! resets, throttles or hangs, a full spool, ten thousand keys, a missing
//! bucket, two instances racing for one key, and the options `-s` rejects.
//! Each test asserts what a user would see: every message in the store exactly
//! once, under the keys expected, the daemon's memory and log bounded, errors
//! naming the file, the line and the problem.

use crate::fault_proxy::FaultProxy;
use crate::harness::*;
use crate::moto::{self, Moto};
use crate::objects::objects;
use crate::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// The daemon's peak resident memory (VmHWM), in KiB.
fn vm_hwm_kib(d: &Daemon) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// An RFC 3164 line whose `${MESSAGE}` is `m{n}`, then a space and `pad`
/// when there is one.
fn msg(host: &str, n: usize, pad: &str) -> String {
    if pad.is_empty() {
        format!("<13>Nov 23 14:07:17 {host} app: m{n}")
    } else {
        format!("<13>Nov 23 14:07:17 {host} app: m{n} {pad}")
    }
}

/// How often each message number `0..n` occurs in `objs` (lines `m{n} ...`);
/// a line that is not such a message fails the test.
fn occurrences(objs: &BTreeMap<String, Vec<u8>>, n: usize) -> Vec<u32> {
    let mut seen = vec![0u32; n];
    for (k, v) in objs {
        for l in String::from_utf8_lossy(v).lines() {
            let num = l
                .split(' ')
                .next()
                .and_then(|w| w.strip_prefix('m'))
                .and_then(|w| w.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("{k} holds a line that is no message: {l:?}"));
            assert!(num < n, "{k} holds m{num}, never sent");
            seen[num] += 1;
        }
    }
    seen
}

/// Messages in `objs`, counting lines.
fn total(objs: &BTreeMap<String, Vec<u8>>) -> usize {
    objs.values()
        .map(|v| v.iter().filter(|&&b| b == b'\n').count())
        .sum()
}

/// Asserts every message `0..n` is in `objs` exactly once.
fn assert_exactly_once(objs: &BTreeMap<String, Vec<u8>>, n: usize) {
    let seen = occurrences(objs, n);
    let wrong: Vec<(usize, u32)> = (0..n)
        .filter(|&i| seen[i] != 1)
        .map(|i| (i, seen[i]))
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "not exactly once (message, times): {wrong:?} in {:?}",
        objs.keys().collect::<Vec<_>>()
    );
}

/// A config with one TCP source on `port` and `s3()` on the in-process
/// server's credentials, bucket `logs`, plus `extra` options.
fn s3_conf(port: u16, endpoint: &str, extra: &str, global: &str) -> String {
    format!(
        "@include \"scl.conf\"\n\
         options {{ {global} }};\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ s3(url(\"{endpoint}\") bucket(\"logs\") access-key(\"{ACCESS_KEY}\") \
           secret-key(\"{SECRET_KEY}\") {extra}); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n"
    )
}

/// The lost-reply scene: a store behind a fault proxy, whose first PutObject
/// of `small/` and first CompleteMultipartUpload have their replies lost
/// (`hold`: held back for good) after the store carried them out; a daemon
/// that sends 300 small lines to `small/x` and 6 MiB (two parts) to `big/x`.
struct LostReply {
    server: S3Server,
    proxy: FaultProxy,
    conf: String,
}

const LOST_REPLY_LINES: usize = 6600;

impl LostReply {
    fn start(hold: bool) -> (LostReply, Daemon) {
        let server = S3Server::start(&["logs"]);
        let proxy = FaultProxy::start(&server.endpoint);
        for (method, needle) in [("PUT", "/small/"), ("POST", "uploadId=")] {
            if hold {
                proxy.hold_reply(method, needle, 1);
            } else {
                proxy.lose_reply(method, needle, 1);
            }
        }
        let port = free_port();
        let extra = "object-key(\"${HOST}/x\") flush-grace-period(1s)";
        let conf = s3_conf(port, &proxy.endpoint, extra, "");
        let daemon = Daemon::start(&conf);
        let pad = "p".repeat(1000);
        send_tcp(
            port,
            (0..300)
                .map(|i| msg("small", i, ""))
                .chain((300..LOST_REPLY_LINES).map(|i| msg("big", i, &pad))),
        );
        let scene = LostReply {
            server,
            proxy,
            conf,
        };
        (scene, daemon)
    }

    fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        objects(&self.server.root.join("logs"))
    }

    /// One object per key, no index, every line once.
    fn assert_delivered_once(&self) {
        let got = self.objects();
        assert_eq!(
            got.keys().map(String::as_str).collect::<Vec<_>>(),
            ["big/x.log", "small/x.log"]
        );
        assert_exactly_once(&got, LOST_REPLY_LINES);
    }
}

/// A write lands in the store but its reply is lost: the retry finds the key
/// taken, by our own write. Nothing may go up twice under the next index.
#[test]
fn a_lost_reply_neither_duplicates_nor_moves_the_object() {
    let (t, d) = LostReply::start(false);
    assert!(
        wait_until(WAIT, || total(&t.objects()) >= LOST_REPLY_LINES),
        "{:?}\n{}",
        t.objects().keys().collect::<Vec<_>>(),
        d.log()
    );
    // Long enough for a wrong retry to show.
    std::thread::sleep(Duration::from_secs(2));
    let log = d.log();
    d.stop();
    assert_eq!(log.matches("reply was lost").count(), 2, "{log}");
    let seen = t.proxy.seen();
    let heads = seen.iter().filter(|r| r.starts_with("HEAD")).count();
    assert!(heads >= 2, "each retry looked first: {seen:?}");
    t.assert_delivered_once();
}

/// The same after kill -9: the daemon dies waiting for the reply of a
/// PutObject and of a CompleteMultipartUpload the store carried out. The
/// restarted daemon finds both objects by the keys the spool recorded, and
/// writes neither again.
#[test]
fn kill_9_while_a_landed_write_awaits_its_reply_duplicates_nothing() {
    let (t, d) = LostReply::start(true);
    // Both writes have landed; their replies never come.
    assert!(
        wait_until(WAIT, || t.objects().len() == 2),
        "{:?}\n{}",
        t.proxy.seen(),
        d.log()
    );
    let d = Daemon::start_in(d.crash(), &t.conf).unwrap();
    assert!(
        wait_until(WAIT, || d.log().matches("already in the store").count()
            == 2),
        "{}",
        d.log()
    );
    assert!(
        wait_until(WAIT, || metas(&d.dir.join("state/spool")) == 0),
        "the spool empties: {}",
        d.log()
    );
    d.stop();
    t.assert_delivered_once();
}

/// Manifests in a spool directory: objects not yet in the store.
fn metas(spool: &Path) -> usize {
    let Ok(dirs) = std::fs::read_dir(spool) else {
        return 0;
    };
    dirs.flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .filter(|f| f.path().extension().is_some_and(|e| e == "meta"))
        .count()
}

/// Lines of the daemon's log that report a failed upload attempt.
fn failure_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("failed, will retry"))
        .collect()
}

/// A minute of refused connections (backoff grown to its 30 s cap, one log
/// line per power of two), then resets, then three 503 SlowDown answers, then the store is back: every message is in the bucket
/// exactly once, under the keys a run without faults would have used, and the
/// log reports the failures once per burst, not once per retry.
#[test]
fn an_outage_then_resets_then_slow_down_loses_nothing_and_logs_once_per_burst() {
    let server = S3Server::start(&["logs"]);
    let proxy = FaultProxy::start(&server.endpoint);
    let port = free_port();
    let conf = s3_conf(
        port,
        &proxy.endpoint,
        "object-key(\"app/${HOST}\") flush-grace-period(1s)",
        "",
    );
    let d = Daemon::start(&conf);
    let bucket = server.root.join("logs");
    let mut sent = 0;
    let mut batch = |host: &str, n: usize| {
        send_tcp(port, (sent..sent + n).map(|i| msg(host, i, "")));
        sent += n;
        sent
    };
    // One object per host first: a daemon that has been running knows its
    // keys' indexes, so each object of the outage retries on its own.
    batch("r", 1);
    batch("x", 1);
    let warm = batch("s", 1);
    assert!(
        wait_until(WAIT, || objects(&bucket).len() == 3),
        "{}",
        d.log()
    );

    // A minute without a store.
    proxy.refuse();
    let outage = Instant::now();
    batch("r", 500);
    std::thread::sleep(Duration::from_secs(30));
    let during = batch("r", 500);
    std::thread::sleep(Duration::from_secs(60).saturating_sub(outage.elapsed()));
    // Accepted and spooled all along; nothing reached the store.
    assert_eq!(d.stat("destination.d#0.written"), during as u64);
    assert_eq!(objects(&bucket).len(), 3);
    assert_eq!(total(&objects(&bucket)), warm);

    let before = proxy.requests();
    proxy.reset();
    batch("x", 500);
    assert!(
        wait_until(WAIT, || proxy.requests() >= before + 3),
        "no request met the resets: {:?}\n{}",
        proxy.seen(),
        d.log()
    );

    let before = proxy.requests();
    proxy.slow_down(3);
    let all = batch("s", 500);
    assert!(
        wait_until(WAIT, || proxy.requests() >= before + 3),
        "no request met SlowDown: {:?}\n{}",
        proxy.seen(),
        d.log()
    );
    proxy.pass();
    // The oldest upload may be in a backoff step of up to 30 s.
    assert!(
        wait_until(Duration::from_secs(60), || total(&objects(&bucket)) >= all),
        "{}",
        d.log()
    );
    let log = d.log();
    d.stop();

    let got = objects(&bucket);
    assert_exactly_once(&got, all);
    let keys: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "app/r-1.log",
            "app/r-2.log",
            "app/r.log",
            "app/s-1.log",
            "app/s.log",
            "app/x-1.log",
            "app/x.log",
        ]
    );
    // Each fault is named in the log...
    let failures = failure_lines(&log);
    for want in ["refused", "reset", "SlowDown"] {
        assert!(
            failures.iter().any(|l| l.contains(want)),
            "no failure line names {want:?}:\n{}",
            failures.join("\n")
        );
    }
    // ...but not once per retry: four objects failed, the oldest for a minute
    // and more (its tenth attempt or so), and each logs its 1st, 2nd, 4th, 8th...
    let attempts: Vec<u32> = failures
        .iter()
        .filter_map(|l| {
            let a = l.split("attempt=").nth(1)?;
            a.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        })
        .collect();
    assert!(
        attempts.iter().any(|&a| a >= 8),
        "the oldest upload retried fewer than 8 times: {attempts:?}"
    );
    assert!(
        attempts.iter().all(|a| a.is_power_of_two()),
        "a retry that is no power of two was logged: {attempts:?}"
    );
    assert!(
        failures.len() <= 16,
        "{} failure lines for 4 objects:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(log.contains("recovered"), "{log}");
}

/// Sends `n` messages of about 160 bytes on one connection from a thread.
fn sender(port: u16, n: usize) -> std::thread::JoinHandle<()> {
    let pad = "p".repeat(150);
    sender_padded(port, n, move || pad.clone())
}

/// Sends `n` messages padded by `pad` on one connection from a thread.
fn sender_padded(
    port: u16,
    n: usize,
    mut pad: impl FnMut() -> String + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut buf = Vec::new();
        for i in 0..n {
            buf.extend_from_slice(msg("h", i, &pad()).as_bytes());
            buf.push(b'\n');
            if buf.len() > 1 << 20 {
                s.write_all(&buf).unwrap();
                buf.clear();
            }
        }
        s.write_all(&buf).unwrap();
    })
}

/// Bytes of `m{n} ppp...\n` as written into an object.
fn line_bytes(n: usize) -> u64 {
    format!("m{n} {}\n", "p".repeat(150)).len() as u64
}

const SPOOL_1MIB: &str = "object-key(\"app\") spool-size(1MiB) max-object-size(256KiB) \
                          flush-grace-period(1s)";

/// spool-full(block), the default: with the store hung, the spool fills to
/// its 1 MiB and no further, the sender is held back (flow control), and
/// once the store is back everything arrives, once.
#[test]
fn a_full_spool_blocks_the_sender_and_loses_nothing() {
    let server = S3Server::start(&["logs"]);
    let proxy = FaultProxy::start(&server.endpoint);
    let port = free_port();
    let conf = s3_conf(port, &proxy.endpoint, SPOOL_1MIB, "log-fifo-size(1000);");
    let d = Daemon::start(&conf);
    proxy.hang();
    // About 20 MB: more than the queue and every socket buffer hold.
    const N: usize = 120_000;
    let send = sender(port, N);
    let written = || d.stat("destination.d#0.written");
    // Written stops once the spool is full...
    let mut last = u64::MAX;
    let settled = wait_until(WAIT, || {
        std::thread::sleep(Duration::from_millis(500));
        let now = written();
        std::mem::replace(&mut last, now) == now && now > 0
    });
    assert!(settled, "written never stopped: {}\n{}", written(), d.log());
    // ...at about the spool's size: one TCP read (256 KiB) past it at most.
    let bytes = last * line_bytes(N / 2);
    assert!(
        (768 << 10..=(1 << 20) + (320 << 10)).contains(&bytes),
        "{last} messages, {bytes} bytes written into a 1 MiB spool"
    );
    assert!(!send.is_finished(), "the sender was not held back");
    assert_eq!(d.stat("destination.d#0.dropped"), 0);
    assert!(objects(&server.root.join("logs")).is_empty());

    // The store restarts: hung connections drop, requests are answered.
    proxy.pass();
    proxy.cut();
    let bucket = server.root.join("logs");
    assert!(
        wait_until(Duration::from_secs(60), || total(&objects(&bucket)) >= N),
        "{} of {N} in the bucket\n{}",
        total(&objects(&bucket)),
        d.log()
    );
    send.join().unwrap();
    assert_eq!(written(), N as u64);
    d.stop();
    assert_exactly_once(&objects(&bucket), N);
}

/// spool-full(drop-newest): with the store hung and the spool full, new
/// messages are dropped and counted instead of holding the sender back (even
/// on a flow-controlled path), and exactly what was counted written arrives.
#[test]
fn a_full_spool_with_drop_newest_drops_counts_and_delivers_what_it_wrote() {
    let server = S3Server::start(&["logs"]);
    let proxy = FaultProxy::start(&server.endpoint);
    let port = free_port();
    let conf = s3_conf(
        port,
        &proxy.endpoint,
        &format!("{SPOOL_1MIB} spool-full(drop-newest)"),
        "log-fifo-size(1000);",
    );
    let d = Daemon::start(&conf);
    proxy.hang();
    const N: usize = 60_000;
    let send = sender(port, N);
    assert!(
        wait_until(WAIT, || send.is_finished()),
        "the sender is held back: written {}, dropped {}\n{}",
        d.stat("destination.d#0.written"),
        d.stat("destination.d#0.dropped"),
        d.log()
    );
    send.join().unwrap();
    let (written, dropped) = (
        d.stat("destination.d#0.written"),
        d.stat("destination.d#0.dropped"),
    );
    assert!(
        wait_until(WAIT, || {
            d.stat("destination.d#0.written") + d.stat("destination.d#0.dropped") == N as u64
        }),
        "written {written} + dropped {dropped} != {N}"
    );
    let (written, dropped) = (
        d.stat("destination.d#0.written"),
        d.stat("destination.d#0.dropped"),
    );
    assert!(dropped > 0, "nothing dropped");
    assert!(
        written * line_bytes(N / 2) <= (1 << 20) + (320 << 10),
        "{written} written into a 1 MiB spool"
    );

    proxy.pass();
    proxy.cut();
    let bucket = server.root.join("logs");
    assert!(
        wait_until(Duration::from_secs(60), || total(&objects(&bucket))
            >= written as usize),
        "{}",
        d.log()
    );
    d.stop();
    // The spool filled and never drained while hung: what was written is
    // the first messages, each once, and nothing dropped shows up.
    let got = objects(&bucket);
    assert_eq!(total(&got), written as usize);
    let seen = occurrences(&got, N);
    let first_missing = seen.iter().position(|&c| c == 0).unwrap_or(N);
    assert_eq!(first_missing as u64, written, "not the first {written}");
    assert!(seen.iter().all(|&c| c <= 1), "a message twice");
}

/// Wrong object-store options fail `sluice -s` with the file, the line and
/// what is wrong (the choices, the range, the missing option).
/// The disk under the spool fills up before `spool-size()` does (a 1 MiB
/// tmpfs): spool writes fail half way and are cut back, the sender is held
/// back, and once the store takes objects and so frees the disk, every
/// message arrives exactly once, in objects that are whole (one stream
/// each, with the right checksum and length, in every compression).
#[test]
fn a_full_disk_under_the_spool_holds_the_sender_and_loses_nothing() {
    for compression in ["none", "gzip", "zstd", "snappy", "parquet"] {
        let server = S3Server::start(&["logs"]);
        let proxy = FaultProxy::start(&server.endpoint);
        let port = free_port();
        // Parquet: rows and row groups (64 KiB of rows each) in the spool.
        let format = match compression {
            "parquet" => "format(parquet) columns(\"MESSAGE\") parquet-row-group-size(64KiB)",
            c => &format!("compression({c})"),
        };
        let extra = format!(
            "object-key(\"app\") spool-dir(\"{{small}}\") spool-size(64MiB) \
             max-object-size(256KiB) flush-grace-period(1s) {format}"
        );
        let conf = s3_conf(port, &proxy.endpoint, &extra, "log-fifo-size(1000);");
        let d = Daemon::start_with_small_disk(&conf, 1024);
        proxy.hang();
        // About 10 MB of lines that gzip halves at best: ten disks' worth.
        const N: usize = 60_000;
        let mut noise = HexNoise::default();
        let send = sender_padded(port, N, move || noise.words(9));
        assert!(
            // Either the disk said so, or the spool saw it coming: it keeps
            // room for finishing what it holds.
            wait_until(WAIT, || {
                let log = d.log();
                log.contains("No space left on device") || log.contains("the disk is full")
            }),
            "{compression}: the disk never filled\n{}",
            d.log()
        );
        assert!(
            !send.is_finished(),
            "{compression}: the sender was not held back"
        );
        assert!(objects(&server.root.join("logs")).is_empty());

        proxy.pass();
        proxy.cut();
        let bucket = server.root.join("logs");
        let plain = || -> BTreeMap<String, Vec<u8>> {
            objects(&bucket)
                .into_iter()
                .map(|(k, v)| match compression {
                    "gzip" => (k, crate::objects::gunzip(&v).into_bytes()),
                    "zstd" => (k, zstd::stream::decode_all(&v[..]).expect("a zstd stream")),
                    "snappy" => (
                        k,
                        snap::raw::Decoder::new()
                            .decompress_vec(&v)
                            .expect("a raw snappy buffer"),
                    ),
                    "parquet" => {
                        let (_, rows) = crate::parquet_objects::parquet_rows(v);
                        let lines: String =
                            rows.iter().map(|r| format!("{}\n", r["MESSAGE"])).collect();
                        (k, lines.into_bytes())
                    }
                    _ => (k, v),
                })
                .collect()
        };
        assert!(
            wait_until(Duration::from_secs(90), || total(&plain()) >= N),
            "{compression}: {} of {N} in the bucket\n{}",
            total(&plain()),
            d.log()
        );
        send.join().unwrap();
        assert_eq!(d.stat("destination.d#0.written"), N as u64);
        assert_eq!(d.stat("destination.d#0.dropped"), 0);
        d.stop();
        assert_exactly_once(&plain(), N);
    }
}

#[test]
fn syntax_only_rejects_bad_object_store_options() {
    let dir = TempDir::new("objects-syntax");
    let s3_at = |url: &str, opts: &str| {
        format!(
            "@include \"scl.conf\"\n\
             source s {{ network(port(5514)); }};\n\
             destination d {{\n  s3(url(\"{url}\") bucket(\"logs\")\n    {opts});\n}};\n\
             log {{ source(s); destination(d); }};\n"
        )
    };
    let s3 = |opts: &str| s3_at("http://127.0.0.1:9000", opts);
    let key = "object-key(\"app\")";
    // An option passed through s3()'s `__VARARGS__` is reported where the
    // block expands it, with a note naming the user's file and the line of
    // the call, as syslog-ng does.
    let expanded = |problem: &'static [&'static str]| {
        let mut w = vec!["s3.conf:12:", "bad.conf:4:3: note: in block `s3`"];
        w.extend_from_slice(problem);
        w
    };
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "compresslevel",
            s3(&format!("{key} compresslevel(10)")),
            expanded(&["compresslevel(10) is out of range: 0 to 9"]),
        ),
        (
            "chunk-size",
            s3(&format!("{key} chunk-size(1MiB)")),
            expanded(&["chunk-size(1MiB) is out of range: 5MiB to 5GiB"]),
        ),
        (
            "compression",
            s3(&format!("{key} compression(lz4)")),
            expanded(&["compression() takes one of no, none, yes, gzip, zstd, snappy, not `lz4`"]),
        ),
        (
            "format",
            s3(&format!("{key} format(orc)")),
            expanded(&["format() takes one of template, json, csv, parquet, not `orc`"]),
        ),
        (
            "parquet type",
            s3(&format!("{key} format(parquet) columns(\"HOST\", \"PID:int128\")")),
            expanded(&[
                "column \"PID:int128\": unknown type \"int128\"; the types are string, boolean, int32, int64, float, double",
            ]),
        ),
        (
            "parquet without columns",
            s3(&format!("{key} format(parquet)")),
            expanded(&["format(parquet) needs columns(\"name:type\" ...)"]),
        ),
        (
            "parquet row group size",
            s3(&format!("{key} format(parquet) columns(HOST) parquet-row-group-size(1)")),
            expanded(&["parquet-row-group-size(1) is out of range: 1KiB to 1GiB"]),
        ),
        (
            "partition-format slash",
            s3(&format!("{key} partition-format(\"/%Y/%m\")")),
            expanded(&["partition-format(\"/%Y/%m\") cannot start or end with /"]),
        ),
        (
            "partition-time",
            s3(&format!("{key} partition-format(\"%Y\") partition-time(sent)")),
            expanded(&["partition-time() takes one of received, message, not `sent`"]),
        ),
        (
            "csv without columns",
            s3(&format!("{key} format(csv)")),
            expanded(&["format(csv) needs columns()"]),
        ),
        (
            "csv delimiter",
            s3(&format!("{key} format(csv) columns(HOST) delimiter(\"ab\")")),
            expanded(&["delimiter() takes a single character"]),
        ),
        (
            "spool-full",
            s3(&format!("{key} spool-full(maybe)")),
            expanded(&["spool-full() takes one of block, drop-newest, not `maybe`"]),
        ),
        (
            "object-key",
            s3("compression(yes)"),
            expanded(&["object-store() needs object-key()"]),
        ),
        (
            "url",
            s3_at("ftp://127.0.0.1", key),
            expanded(&["url(\"ftp://127.0.0.1\"): expected http://, https:// or file://"]),
        ),
        (
            "secret-key",
            s3(&format!("{key} access-key(\"AK\")")),
            expanded(&["access-key() and secret-key() go together"]),
        ),
        (
            "kms-key",
            s3(&format!("{key} kms-key(\"alias/logs\")")),
            expanded(&["kms-key() needs server-side-encryption(\"aws:kms\")"]),
        ),
        (
            "persist-name",
            "@include \"scl.conf\"\n\
             source s { network(port(5514)); };\n\
             destination d1 { s3(url(\"file:///tmp/a\") object-key(\"a\") persist-name(\"p\")); };\n\
             destination d2 { s3(url(\"file:///tmp/b\") object-key(\"b\") persist-name(\"p\")); };\n\
             log { source(s); destination(d1); destination(d2); };\n"
                .into(),
            vec![
                "bad.conf:4:13: error: destination `d2` would share its spool with `d1`",
                "give one of them its own persist-name()",
            ],
        ),
    ];
    let mut failed = Vec::new();
    for (what, text, wants) in &cases {
        let conf = dir.write("bad.conf", text);
        let (code, err) = syntax_check(&conf);
        if code != Some(1) {
            failed.push(format!("{what}: exit {code:?}, stderr:\n{err}"));
            continue;
        }
        for want in wants {
            if !err.contains(want) {
                failed.push(format!("{what}: missing {want:?} in:\n{err}"));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// Ten thousand keys: `max-open-objects()` (1024) keeps that many open and
/// completes the least recently written, every message lands once, and the
/// daemon's peak memory stays bounded. A memory check, not a timing one: the
/// state and the store live in /dev/shm when there is one, so 60,000 fsyncs
/// do not dominate the run.
#[test]
fn ten_thousand_keys_complete_least_recent_first_in_bounded_memory() {
    let hwm = ten_thousand_keys(false);
    // Measured about 54 MiB in a debug build (13 MiB idle): each object
    // waiting for an upload slot holds its task, under a kilobyte while it
    // waits (about 80 MiB when a waiting task held its largest future).
    assert!(hwm < 96 << 10, "VmHWM {hwm} KiB");
}

/// The same with compression(yes): the open objects share one deflate state
/// (each held its own, megabytes, before: 1.8 to 2.7 GiB at 10,000 keys).
#[test]
fn ten_thousand_gzip_keys_stay_in_bounded_memory() {
    let hwm = ten_thousand_keys(true);
    assert!(hwm < 96 << 10, "VmHWM {hwm} KiB");
}

/// Sends messages `m0` ... `m9999`, each its own key, and checks the least
/// recently written objects complete first and all arrive once; returns the
/// daemon's VmHWM in KiB.
fn ten_thousand_keys(gzip: bool) -> u64 {
    let shm = Path::new("/dev/shm");
    let parent = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = TempDir::new_in(&parent, "objects-10k");
    let store_dir = TempDir::new_in(&parent, "objects-10k-store");
    let store = store_dir.path().to_path_buf();
    let port = free_port();
    // A directory per key: choosing a new key's index lists the directory it
    // is in, so 10,000 keys in one directory would make this quadratic (a
    // minute here), which is a speed matter and not what this test measures.
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ s3(url(\"file://{}\") object-key(\"${{MSG}}/k\") \
           compression({})); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n",
        store.display(),
        if gzip { "yes" } else { "no" }
    );
    let suffix = if gzip { ".log.gz" } else { ".log" };
    let d = Daemon::start_in(dir, &conf).unwrap();
    const N: usize = 10_000;
    const OPEN: usize = 1024;
    // The message is the key: m0 ... m9999, one message each.
    send_tcp(port, (0..N).map(|i| msg("h", i, "")));
    assert!(
        wait_until(Duration::from_secs(60), || d
            .stat("destination.d#0.written")
            == N as u64),
        "{}",
        d.log()
    );
    // The default grace period is an hour: only max-open-objects() completes
    // objects, the least recently written first.
    let done = N - OPEN;
    assert!(
        wait_until(Duration::from_secs(60), || objects(&store).len() >= done),
        "{} objects\n{}",
        objects(&store).len(),
        d.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    let got = objects(&store);
    let want: Vec<String> = (0..done).map(|i| format!("m{i}/k{suffix}")).collect();
    let mut keys: Vec<&String> = got.keys().collect();
    keys.sort_by_key(|k| {
        k[1..k.len() - 2 - suffix.len()]
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    assert_eq!(keys.len(), done, "objects beyond the least recent");
    assert!(
        keys.iter().zip(&want).all(|(k, w)| *k == w),
        "not the least recent: first keys {:?}",
        &keys[..5]
    );
    let hwm = vm_hwm_kib(&d);
    eprintln!("10,000 keys (gzip {gzip}): VmHWM {hwm} KiB");
    // Stopping completes the 1024 still open.
    assert!(d.stop().success());
    let mut got = objects(&store);
    assert_eq!(got.len(), N);
    if gzip {
        for v in got.values_mut() {
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&v[..]), &mut plain)
                .expect("a valid gzip stream");
            *v = plain;
        }
    }
    assert_exactly_once(&got, N);
    hwm
}

/// A slow store (1 MB/s): the backlog waits on disk, in the spool, and the
/// daemon's memory stays bounded by the parts in flight (upload-threads() of
/// chunk-size() each), not by the backlog; once the store is fast again
/// everything arrives once.
#[test]
fn a_slow_store_keeps_the_backlog_on_disk_and_memory_bounded() {
    let server = S3Server::start(&["logs"]);
    let proxy = FaultProxy::start(&server.endpoint);
    let port = free_port();
    let conf = s3_conf(
        port,
        &proxy.endpoint,
        "object-key(\"app\") chunk-size(5MiB) upload-threads(2) flush-grace-period(1s)",
        "",
    );
    let d = Daemon::start(&conf);
    proxy.throttle(1_000_000);
    // About 80 MiB.
    const N: usize = 520_000;
    let send = sender(port, N);
    let slow = Instant::now();
    assert!(
        wait_until(Duration::from_secs(60), || d
            .stat("destination.d#0.written")
            == N as u64),
        "{}",
        d.log()
    );
    send.join().unwrap();
    let spooled: u64 = walk_sizes(&d.dir.join("state/spool"));
    let uploaded = slow.elapsed().as_secs() * 1_000_000;
    eprintln!(
        "slow store: spool {spooled} bytes after {:?}",
        slow.elapsed()
    );
    // Everything not yet uploaded (at most 1 MB/s so far) is on disk.
    let sent: u64 = (0..N).map(line_bytes).sum();
    assert!(
        spooled + uploaded >= sent,
        "spool {spooled} + uploaded {uploaded} < sent {sent}"
    );
    // Let the parts trickle a while longer with the backlog in place.
    std::thread::sleep(Duration::from_secs(3));
    let hwm = vm_hwm_kib(&d);
    eprintln!("slow store: VmHWM {hwm} KiB");
    proxy.pass();
    let bucket = server.root.join("logs");
    assert!(
        wait_until(Duration::from_secs(60), || total(&objects(&bucket)) >= N),
        "{}",
        d.log()
    );
    d.stop();
    assert_exactly_once(&objects(&bucket), N);
    // Measured 28 to 50 MiB: the idle daemon (about 13 MiB), reading at full
    // speed, two 5 MiB parts in flight; holding the 80 MiB backlog in memory
    // would take over 90.
    assert!(hwm < 64 << 10, "VmHWM {hwm} KiB");
}

/// Bytes of the files under `dir`.
fn walk_sizes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_sizes(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}

/// Every object in `bucket` of the S3 server at `endpoint`, read back with
/// boto3.
fn boto3_objects(endpoint: &str, bucket: &str) -> BTreeMap<String, Vec<u8>> {
    let out = moto::python_at(
        endpoint,
        &format!(
            "for page in s3.get_paginator('list_objects_v2').paginate(Bucket='{bucket}'):\n    \
                 for o in page.get('Contents', []):\n        \
                     body = s3.get_object(Bucket='{bucket}', Key=o['Key'])['Body'].read()\n        \
                     print(o['Key'], body.hex())\n"
        ),
    );
    out.lines()
        .map(|l| {
            let (k, hex) = l.rsplit_once(' ').unwrap();
            let body = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (k.to_string(), body)
        })
        .collect()
}

/// A missing bucket: the log names moto's NoSuchBucket with a hint, the
/// daemon does not spin on it, and nothing is lost; once the bucket exists,
/// `sluice-ctl retry` delivers everything once.
#[test]
fn moto_missing_bucket_is_reported_kept_and_delivered_after_retry() {
    if !moto::required() {
        return;
    }
    let moto = Moto::start();
    let port = free_port();
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ s3(url(\"{}\") bucket(\"late-bucket\") access-key(\"{}\") \
           secret-key(\"{}\") object-key(\"app\") flush-grace-period(1s)); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n",
        moto.endpoint,
        moto::ACCESS_KEY,
        moto::SECRET_KEY
    );
    let d = Daemon::start(&conf);
    const N: usize = 200;
    send_tcp(port, (0..N).map(|i| msg("h", i, "")));
    assert!(
        wait_until(WAIT, || d.log().contains("NoSuchBucket")),
        "{}",
        d.log()
    );
    assert_eq!(d.stat("destination.d#0.written"), N as u64);
    let log = d.log();
    let line = log.lines().find(|l| l.contains("NoSuchBucket")).unwrap();
    assert!(
        line.contains("bucket missing or in another region"),
        "no hint: {line}"
    );
    // Parked, not spinning: no request reaches moto until asked.
    let requests = || moto.log().matches("HTTP/1.1\"").count();
    let parked = requests();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(requests(), parked, "{}", moto.log());
    assert_eq!(log.matches("NoSuchBucket").count(), 1, "{log}");

    moto.create_bucket("late-bucket");
    assert!(d.ctl(&["retry"]).status.success());
    let got = || boto3_objects(&moto.endpoint, "late-bucket");
    assert!(wait_until(WAIT, || total(&got()) >= N), "{}", d.log());
    d.stop();
    let got = got();
    assert_eq!(got.keys().collect::<Vec<_>>(), ["app.log"]);
    assert_exactly_once(&got, N);
}

/// Two instances (own state directories) writing the same object-key to one
/// bucket at the same moment: both list the bucket before either writes
/// (every answer is held 1 s), both pick `app.log`, the second write is
/// refused by If-None-Match and goes to the next index. Nothing overwritten,
/// every message once.
#[test]
fn moto_two_instances_racing_for_one_key_overwrite_nothing() {
    if !moto::required() {
        return;
    }
    let moto = Moto::start();
    moto.create_bucket("shared");
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.delay(Duration::from_secs(1));
    let conf = |port: u16| {
        format!(
            "@include \"scl.conf\"\n\
             source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
             destination d {{ s3(url(\"{}\") bucket(\"shared\") access-key(\"{}\") \
               secret-key(\"{}\") object-key(\"app\") flush-grace-period(1s)); }};\n\
             log {{ source(s); destination(d); flags(flow-control); }};\n",
            proxy.endpoint,
            moto::ACCESS_KEY,
            moto::SECRET_KEY
        )
    };
    let (pa, pb) = (free_port(), free_port());
    let a = Daemon::start(&conf(pa));
    let b = Daemon::start(&conf(pb));
    const N: usize = 300;
    let ta = std::thread::spawn(move || send_tcp(pa, (0..N / 2).map(|i| msg("a", i, ""))));
    send_tcp(pb, (N / 2..N).map(|i| msg("b", i, "")));
    ta.join().unwrap();
    let got = || boto3_objects(&moto.endpoint, "shared");
    assert!(
        wait_until(WAIT, || total(&got()) >= N),
        "a:\n{}\nb:\n{}",
        a.log(),
        b.log()
    );
    let (la, lb) = (a.log(), b.log());
    a.stop();
    b.stop();
    let got = got();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["app-1.log", "app.log"],
        "a:\n{la}\nb:\n{lb}"
    );
    assert_exactly_once(&got, N);
    // Each object is one instance's messages.
    for v in got.values() {
        let text = String::from_utf8_lossy(v);
        let firsts: std::collections::BTreeSet<bool> = text
            .lines()
            .map(|l| l[1..].split(' ').next().unwrap().parse::<usize>().unwrap() < N / 2)
            .collect();
        assert_eq!(firsts.len(), 1, "an object mixes instances");
    }
    assert!(
        la.contains("key taken meanwhile") || lb.contains("key taken meanwhile"),
        "no race happened (both saw the other's object):\na:\n{la}\nb:\n{lb}"
    );
}
