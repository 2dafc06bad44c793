//! Object-store destinations end to end: syslog over TCP into `s3()`, the
//! objects read back from a local directory store (`file://`) and from a real
//! S3 server checking SigV4 (s3s-fs), by key, byte for byte, decompressed.

use crate::harness::*;
use crate::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Every file under `root`, by path relative to it, skipping the stores' own
/// bookkeeping.
pub fn objects(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            // Sluice's and s3s-fs's bookkeeping (`.bucket-*`: object metadata).
            if name.starts_with(".sluice-")
                || name.starts_with(".s3s")
                || name.starts_with(".bucket-")
            {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

pub fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .expect("a valid gzip stream");
    out
}

/// RFC 3164 lines from `host` stamped on `day` of November.
fn lines(host: &str, day: u32, from: usize, to: usize) -> Vec<String> {
    (from..to)
        .map(|n| format!("<13>Nov {day} 14:07:17 {host} app: m{n}"))
        .collect()
}

/// The object holds `m0` to `m49`, a line each, once.
fn assert_fifty_lines(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let want: String = (0..50).map(|n| format!("m{n}\n")).collect();
    assert_eq!(text, want);
}

/// Where a test's objects go: a local directory (`file://`) or the bucket
/// `logs` on a real S3 server checking SigV4 (s3s-fs). The key and rollover
/// tests run on both.
enum Store {
    Dir(TempDir),
    S3(S3Server),
}

impl Store {
    fn both(name: &str) -> [Store; 2] {
        [
            Store::Dir(TempDir::new(name)),
            Store::S3(S3Server::start(&["logs"])),
        ]
    }

    /// The s3() options that point at it.
    fn options(&self) -> String {
        match self {
            Store::Dir(d) => format!("url(\"file://{}\")", d.path().join("bucket").display()),
            Store::S3(s) => format!(
                "url(\"{}\") bucket(\"logs\") access-key(\"{ACCESS_KEY}\") \
                 secret-key(\"{SECRET_KEY}\")",
                s.endpoint
            ),
        }
    }

    /// Its objects, by key.
    fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        let (all, bucket) = self.everything();
        all.into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(bucket)?.to_string(), v)))
            .collect()
    }

    /// Every file the store has, in its bucket and beside it, and the
    /// bucket's prefix in their names.
    fn everything(&self) -> (BTreeMap<String, Vec<u8>>, &'static str) {
        match self {
            Store::Dir(d) => (objects(d.path()), "bucket/"),
            Store::S3(s) => (objects(s.root.path()), "logs/"),
        }
    }
}

#[test]
fn keys_follow_timestamps_and_an_older_one_gets_an_index() {
    for store in Store::both("objects-ts-store") {
        let port = free_port();
        let dir = TempDir::new("objects-ts");
        let conf = format!(
            "@include \"scl.conf\"\n\
             source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
             destination d {{ s3({} object-key(\"logs/${{HOST}}/\") \
               object-key-timestamp(\"2026${{MONTH}}${{DAY}}\") template(\"${{MESSAGE}}\\n\")); }};\n\
             log {{ source(s); destination(d); flags(flow-control); }};\n",
            store.options()
        );
        let d = Daemon::start_in(dir, &conf).unwrap();
        // Day 23, then 24 (completes 23), then 23 again: never reopens the
        // completed object, starts 20261123-1 beside the open 20261124.
        let mut all = lines("web-1", 23, 0, 10);
        all.extend(lines("web-1", 24, 10, 20));
        all.extend(lines("web-1", 23, 20, 25));
        all.extend(lines("web-2", 24, 25, 30));
        send_tcp(port, all);
        assert!(
            wait_until(WAIT, || d.stat("destination.d#0.written") == 30),
            "{}",
            d.log()
        );
        d.stop();
        let got = store.objects();
        let keys: Vec<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "logs/web-1/20261123-1.log",
                "logs/web-1/20261123.log",
                "logs/web-1/20261124.log",
                "logs/web-2/20261124.log",
            ],
            "{}",
            store.options()
        );
        let text = |k: &str| String::from_utf8(got[k].clone()).unwrap();
        let want = |a: usize, b: usize| (a..b).map(|n| format!("m{n}\n")).collect::<String>();
        assert_eq!(text("logs/web-1/20261123.log"), want(0, 10));
        assert_eq!(text("logs/web-1/20261124.log"), want(10, 20));
        assert_eq!(text("logs/web-1/20261123-1.log"), want(20, 25));
        assert_eq!(text("logs/web-2/20261124.log"), want(25, 30));
    }
}

#[test]
fn size_rollover_and_a_restart_continue_the_index_and_lose_nothing() {
    for store in Store::both("objects-size-store") {
        size_rollover_and_a_restart(&store);
    }
}

fn size_rollover_and_a_restart(store: &Store) {
    let port = free_port();
    let dir = TempDir::new("objects-size");
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ s3({} object-key(\"app\") max-object-size(100) \
           flush-grace-period(1s)); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n",
        store.options()
    );
    let d = Daemon::start_in(dir, &conf).unwrap();
    send_tcp(port, lines("h", 23, 0, 200));
    assert!(
        wait_until(WAIT, || d.stat("destination.d#0.written") == 200),
        "{}",
        d.log()
    );
    // The grace period completes the last, partial object.
    let done = wait_until(WAIT, || {
        store.objects().values().map(Vec::len).sum::<usize>() >= 890
    });
    assert!(done, "{}", d.log());
    let dir = TempDir::new("objects-size-2");
    d.stop();
    // A second run, with an empty state directory (another instance, say):
    // its indexes continue after what the store holds.
    let d = Daemon::start_in(dir, &conf).unwrap();
    send_tcp(port, lines("h", 23, 200, 210));
    assert!(wait_until(WAIT, || d.stat("destination.d#0.written") == 10));
    d.stop();
    let got = store.objects();
    let mut indexes: Vec<u64> = got
        .keys()
        .map(|k| {
            let rest = k.strip_prefix("app").unwrap().strip_suffix(".log").unwrap();
            rest.strip_prefix('-').map_or(0, |n| n.parse().unwrap())
        })
        .collect();
    indexes.sort_unstable();
    let n = indexes.len() as u64;
    assert!(n >= 5, "100-byte objects of about 1 KB: {:?}", got.keys());
    assert_eq!(
        indexes,
        (0..n).collect::<Vec<_>>(),
        "no gaps, no overwrites"
    );
    for (k, v) in &got {
        assert!(v.len() <= 100 + 10, "{k} has {} bytes", v.len());
    }
    // Every message exactly once, in order within the store's key order.
    let mut all: Vec<String> = Vec::new();
    for i in 0..n {
        let k = if i == 0 {
            "app.log".to_string()
        } else {
            format!("app-{i}.log")
        };
        all.extend(
            String::from_utf8(got[&k].clone())
                .unwrap()
                .lines()
                .map(str::to_string),
        );
    }
    let want: Vec<String> = (0..210).map(|i| format!("m{i}")).collect();
    assert_eq!(all, want);
}

/// The three rollovers at once: size rolls day 23 over, day 24 completes
/// it, a late day-23 message starts the next index, and the grace period
/// completes that one so that the next message starts another.
#[test]
fn timestamp_size_and_grace_rollovers_together() {
    for store in Store::both("objects-all-store") {
        let port = free_port();
        let conf = format!(
            "@include \"scl.conf\"\n\
             source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
             destination d {{ s3({} object-key(\"app/\") \
               object-key-timestamp(\"2026${{MONTH}}${{DAY}}\") max-object-size(100) \
               flush-grace-period(1s) template(\"${{MESSAGE}}\\n\")); }};\n\
             log {{ source(s); destination(d); flags(flow-control); }};\n",
            store.options()
        );
        let d = Daemon::start(&conf);
        let mut first = lines("h", 23, 0, 40);
        first.extend(lines("h", 24, 40, 50));
        first.extend(lines("h", 23, 50, 60));
        send_tcp(port, first);
        let bytes = |a: usize, b: usize| (a..b).map(|n| format!("m{n}\n").len()).sum::<usize>();
        let all_in = wait_until(WAIT, || {
            store.objects().values().map(Vec::len).sum::<usize>() == bytes(0, 60)
        });
        assert!(all_in, "{:?}\n{}", store.objects().keys(), d.log());
        // The grace period has completed every object: one more message
        // starts an index of its own.
        send_tcp(port, lines("h", 23, 60, 61));
        assert!(wait_until(WAIT, || d.stat("destination.d#0.written") == 61));
        d.stop();
        let got = store.objects();
        let text = |k: &str| String::from_utf8(got[k].clone()).unwrap();
        assert_eq!(
            text("app/20261124.log"),
            (40..50).map(|n| format!("m{n}\n")).collect::<String>()
        );
        let day23: Vec<&String> = got
            .keys()
            .filter(|k| k.starts_with("app/20261123"))
            .collect();
        let index = |i: usize| match i {
            0 => "app/20261123.log".to_string(),
            i => format!("app/20261123-{i}.log"),
        };
        let mut joined = String::new();
        for i in 0..day23.len() {
            let k = index(i);
            assert!(got.contains_key(&k), "{k} missing: {day23:?}");
            assert!(got[&k].len() <= 100 + 4, "{k}: {} bytes", got[&k].len());
            joined.push_str(&text(&k));
        }
        let want: String = (0..40).chain(50..61).map(|n| format!("m{n}\n")).collect();
        assert_eq!(joined, want, "{}", store.options());
        assert!(
            day23.len() >= 4,
            "two by size, one late, one after the grace: {day23:?}"
        );
        assert_eq!(text(&index(day23.len() - 1)), "m60\n");
        // The late day-23 messages start an object: the completed one is
        // never reopened.
        let late = (0..day23.len())
            .map(index)
            .find(|k| text(k).contains("m50\n"));
        assert!(
            late.is_some_and(|k| text(&k).starts_with("m50\n")),
            "{got:?}"
        );
    }
}

/// A user's own block over s3(), as one drops into scl.d (a `minio()` with
/// the endpoint, addressing and credentials filled in): its objects land as
/// s3()'s own.
#[test]
fn a_user_block_over_s3_ships_as_s3_does() {
    let server = S3Server::start(&["logs"]);
    let port = free_port();
    let conf = format!(
        "@include \"scl.conf\"\n\
         block destination minio(bucket(\"logs\") ...) {{\n\
           s3(url(\"{}\") path-style(yes) bucket(`bucket`) access-key(\"{ACCESS_KEY}\") \
             secret-key(\"{SECRET_KEY}\") `__VARARGS__`);\n\
         }};\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ minio(object-key(\"m/${{HOST}}\") template(\"${{MESSAGE}}\\n\")); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n",
        server.endpoint
    );
    let d = Daemon::start(&conf);
    send_tcp(port, lines("web-1", 23, 0, 50));
    assert!(
        wait_until(WAIT, || d.stat("destination.d#0.written") == 50),
        "{}",
        d.log()
    );
    d.stop();
    assert_fifty_lines(&server.object_path("logs", "m/web-1.log"));
}

/// One stream of messages into three destinations, gzip, zstd and snappy,
/// each object several parts long: each decompresses, with a reader of its
/// own format, to every message once, in order, under the codec's suffix.
#[test]
fn compressed_multipart_objects_decompress_to_every_message_once() {
    let server = S3Server::start(&["logs"]);
    let port = free_port();
    let dest = |name: &str, compression: &str| {
        format!(
            "destination {name} {{ s3(url(\"{}\") bucket(\"logs\") access-key(\"{ACCESS_KEY}\") \
               secret-key(\"{SECRET_KEY}\") object-key(\"{name}/${{HOST}}\") {compression} \
               chunk-size(5MiB) upload-threads(2)); }};\n",
            server.endpoint
        )
    };
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         {}{}{}\
         log {{ source(s); destination(gz); destination(zst); destination(snappy); flags(flow-control); }};\n",
        // Level 0 stores: 14 MiB of gzip, three parts.
        dest("gz", "compression(yes) compresslevel(0)"),
        dest("zst", "compression(zstd)"),
        dest("snappy", "compression(snappy)"),
    );
    let d = Daemon::start(&conf);
    // Hex padding: half of it is entropy, so zstd and snappy objects are
    // megabytes too (two and three parts).
    const N: usize = 120_000;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut pad = move || {
        (0..6)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("{x:016x}")
            })
            .collect::<String>()
    };
    let lines: Vec<String> = (0..N)
        .map(|n| format!("<13>Nov 23 14:07:17 web-1 app: m{n} {}", pad()))
        .collect();
    send_tcp(port, lines);
    for name in ["gz", "zst", "snappy"] {
        let stat = format!("destination.{name}#0.written");
        assert!(
            wait_until(WAIT, || d.stat(&stat) == N as u64),
            "{name}: {}",
            d.log()
        );
    }
    d.stop();
    let read = |key: &str| {
        std::fs::read(server.object_path("logs", key)).unwrap_or_else(|e| {
            panic!(
                "no {key}: {e}; bucket holds {:?}",
                objects(&server.root.join("logs"))
                    .keys()
                    .collect::<Vec<_>>()
            )
        })
    };
    let want: Vec<String> = (0..N).map(|n| format!("m{n}")).collect();
    let decoded = [
        ("gz/web-1.log.gz", gunzip(&read("gz/web-1.log.gz"))),
        (
            "zst/web-1.log.zst",
            String::from_utf8(zstd::stream::decode_all(&read("zst/web-1.log.zst")[..]).unwrap())
                .unwrap(),
        ),
        (
            "snappy/web-1.log.snappy",
            String::from_utf8(
                snap::raw::Decoder::new()
                    .decompress_vec(&read("snappy/web-1.log.snappy"))
                    .unwrap(),
            )
            .unwrap(),
        ),
    ];
    for (key, text) in decoded {
        let size = read(key).len();
        assert!(size > 6 << 20, "{key}: {size} bytes, not several parts");
        let got: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(got, want, "{key}");
    }
}

#[test]
fn wrong_secret_keeps_everything_and_a_reload_with_the_right_one_delivers_it_once() {
    let server = S3Server::start(&["logs"]);
    let port = free_port();
    let conf = |secret: &str| {
        format!(
            "@include \"scl.conf\"\n\
             source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
             destination d {{ s3(url(\"{}\") bucket(\"logs\") access-key(\"{ACCESS_KEY}\") \
               secret-key(\"{secret}\") object-key(\"app\") flush-grace-period(1s)); }};\n\
             log {{ source(s); destination(d); flags(flow-control); }};\n",
            server.endpoint
        )
    };
    let d = Daemon::start(&conf("not-the-secret"));
    send_tcp(port, lines("h", 23, 0, 50));
    assert!(
        wait_until(WAIT, || d.log().contains("SignatureDoesNotMatch")),
        "{}",
        d.log()
    );
    assert_eq!(d.stat("destination.d#0.written"), 50, "spooled");
    assert!(!server.object_path("logs", "app.log").exists());
    // The operator sees why, and what waits.
    let uploads = String::from_utf8_lossy(&d.ctl(&["uploads"]).stdout).into_owned();
    assert!(uploads.contains("failing key=app"), "{uploads}");
    assert!(uploads.contains("SignatureDoesNotMatch"), "{uploads}");
    assert!(
        d.stat("destination.d#0.spool_bytes") > 50 * 4,
        "the data waits in the spool"
    );
    assert_eq!(d.stat("destination.d#0.objects"), 0);
    // It does not spin: parked until the operator acts.
    let failures = d.stat("destination.d#0.failures");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.stat("destination.d#0.failures"), failures);
    d.rewrite(&conf(SECRET_KEY));
    d.signal(libc::SIGHUP);
    let path = server.object_path("logs", "app.log");
    assert!(wait_until(WAIT, || path.exists()), "{}", d.log());
    assert!(wait_until(WAIT, || d.stat("destination.d#0.objects") == 1));
    assert_eq!(d.stat("destination.d#0.spool_bytes"), 0);
    let uploads = String::from_utf8_lossy(&d.ctl(&["uploads"]).stdout).into_owned();
    assert!(
        uploads.contains("completed key=app.log bytes="),
        "{uploads}"
    );
    d.stop();
    assert_fifty_lines(&path);
}

#[test]
fn a_hostile_host_cannot_leave_the_key_prefix() {
    for store in Store::both("objects-hostile-store") {
        let port = free_port();
        let conf = format!(
            "@include \"scl.conf\"\n\
             source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
             destination d {{ s3({} object-key(\"logs/${{HOST}}\") \
               template(\"${{MESSAGE}}\\n\")); }};\n\
             log {{ source(s); destination(d); flags(flow-control); }};\n",
            store.options()
        );
        let d = Daemon::start(&conf);
        let hosts = ["../../escape", "/etc/passwd", "..", "a/b", "web-1"];
        send_tcp(
            port,
            hosts
                .iter()
                .map(|h| format!("<13>1 2026-11-23T14:07:17Z {h} app - - - from {h}")),
        );
        assert!(
            wait_until(WAIT, || d.stat("destination.d#0.written") == 5),
            "{}",
            d.log()
        );
        d.stop();
        // Nothing outside the bucket's logs/ prefix, every message once.
        let (everything, bucket) = store.everything();
        assert!(
            everything
                .keys()
                .all(|k| k.starts_with(&format!("{bucket}logs/"))),
            "{:?}",
            everything.keys()
        );
        let got = store.objects();
        assert_eq!(got.len(), 5, "{:?}", got.keys());
        let text: String = got
            .values()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        for h in hosts {
            assert_eq!(
                text.matches(&format!("from {h}\n")).count(),
                1,
                "{h}: {got:?}"
            );
        }
        assert!(got.contains_key("logs/web-1.log"));
        assert!(
            got.keys()
                .all(|k| !k.split('/').any(|s| s == ".." || s == "."))
        );
    }
}

#[test]
fn kill_9_in_the_middle_of_multipart_uploads_loses_and_duplicates_nothing() {
    let server = S3Server::start(&["logs"]);
    let proxy = crate::fault_proxy::FaultProxy::start(&server.endpoint);
    let port = free_port();
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ s3(url(\"{}\") bucket(\"logs\") access-key(\"{ACCESS_KEY}\") \
           secret-key(\"{SECRET_KEY}\") object-key(\"app\") chunk-size(5MiB) \
           max-object-size(12MiB) upload-threads(2)); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n",
        proxy.endpoint
    );
    let d = Daemon::start(&conf);
    const N: usize = 200_000;
    let pad = "y".repeat(100);
    let line = |n: usize| format!("<13>Nov 23 14:07:17 h app: m{n} {pad}");
    // The first parts reach the store...
    send_tcp(port, (0..N / 2).map(line));
    assert!(
        wait_until(WAIT, || d.stat("destination.d#0.parts") >= 1),
        "{}",
        d.log()
    );
    // ...then it stops answering: the rest piles up in the spool, uploads
    // hang mid-object, and the process dies.
    proxy.hang();
    send_tcp(port, (N / 2..N).map(line));
    assert!(
        wait_until(WAIT, || d.stat("destination.d#0.written") == N as u64),
        "{}",
        d.log()
    );
    let dir = d.crash();
    proxy.pass();
    let d = Daemon::start_in(dir, &conf).unwrap();
    // Everything acknowledged before the crash arrives: about 22 MiB, so two
    // objects of at most 12 MiB each and a third.
    let bucket = server.root.join("logs");
    let total = |objs: &BTreeMap<String, Vec<u8>>| {
        objs.values()
            .map(|v| v.iter().filter(|&&b| b == b'\n').count())
            .sum::<usize>()
    };
    assert!(
        wait_until(Duration::from_secs(60), || total(&objects(&bucket)) >= N),
        "{}",
        d.log()
    );
    d.stop();
    let got = objects(&bucket);
    let mut seen = vec![0u32; N];
    for v in got.values() {
        for l in String::from_utf8_lossy(v).lines() {
            let n: usize = l.split(' ').next().unwrap()[1..].parse().unwrap();
            seen[n] += 1;
        }
    }
    let wrong: Vec<usize> = (0..N).filter(|&n| seen[n] != 1).take(10).collect();
    assert!(
        wrong.is_empty(),
        "not exactly once: {wrong:?} in {:?}",
        got.keys()
    );
}

/// s3() over https to a store whose certificate a private CA signed: with
/// that CA in `tls(ca-file())` the objects arrive; with another CA the
/// daemon says why, keeps everything, and a reload with the right CA
/// delivers it once.
#[test]
fn https_with_a_private_ca_and_a_wrong_one_then_fixed() {
    let pki_dir = TempDir::new("pki");
    let pki = crate::tls::make_pki(pki_dir.path());
    let server = S3Server::start_tls(&["logs"], &pki.server_cert, &pki.server_key);
    assert!(server.endpoint.starts_with("https://"));
    let port = free_port();
    let conf = |ca: &Path| {
        format!(
            "@include \"scl.conf\"\n\
             source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
             destination d {{ s3(url(\"{}\") bucket(\"logs\") access-key(\"{ACCESS_KEY}\") \
               secret-key(\"{SECRET_KEY}\") object-key(\"app\") flush-grace-period(1s) \
               tls(ca-file(\"{}\"))); }};\n\
             log {{ source(s); destination(d); flags(flow-control); }};\n",
            server.endpoint,
            ca.display()
        )
    };
    let d = Daemon::start(&conf(&pki.rogue_ca));
    send_tcp(port, lines("h", 23, 0, 50));
    assert!(
        wait_until(WAIT, || d.log().contains("UnknownIssuer")),
        "{}",
        d.log()
    );
    let log = d.log();
    assert!(log.contains("check tls(ca-file())"), "{log}");
    assert_eq!(d.stat("destination.d#0.written"), 50, "spooled");
    let path = server.object_path("logs", "app.log");
    assert!(!path.exists());
    // A certificate no retry can fix waits for the operator: no spinning.
    let failures = d.stat("destination.d#0.failures");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.stat("destination.d#0.failures"), failures);
    d.rewrite(&conf(&pki.ca));
    d.signal(libc::SIGHUP);
    assert!(wait_until(WAIT, || path.exists()), "{}", d.log());
    d.stop();
    assert_fifty_lines(&path);
}

/// A raw snappy object states its length first, so its first part goes up
/// last; kill -9 while it is open, and the restarted daemon finishes it
/// from the spool with the right length in front.
#[test]
fn a_snappy_object_left_open_by_kill_9_is_finished_whole() {
    let server = S3Server::start(&["logs"]);
    let port = free_port();
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ s3(url(\"{}\") bucket(\"logs\") access-key(\"{ACCESS_KEY}\") \
           secret-key(\"{SECRET_KEY}\") object-key(\"app\") compression(snappy) \
           chunk-size(5MiB)); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n",
        server.endpoint
    );
    let d = Daemon::start(&conf);
    const N: usize = 60_000;
    let pad: String = (0..60)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    send_tcp(
        port,
        (0..N).map(|n| format!("<13>Nov 23 14:07:17 web-1 app: m{n} {n:x}{pad}{}", n * 31)),
    );
    assert!(
        wait_until(WAIT, || d.stat("destination.d#0.written") == N as u64),
        "{}",
        d.log()
    );
    let d = Daemon::start_in(d.crash(), &conf).unwrap();
    let path = server.object_path("logs", "app.log.snappy");
    assert!(wait_until(WAIT, || path.exists()), "{}", d.log());
    d.stop();
    let body = std::fs::read(&path).unwrap();
    let text = String::from_utf8(snap::raw::Decoder::new().decompress_vec(&body).unwrap()).unwrap();
    // And as Log Service's users read it.
    let script =
        "import snappy\nsys.stdout.buffer.write(snappy.uncompress(open(path, 'rb').read()))";
    assert!(
        crate::moto::python_reader(script, &path) == text.as_bytes(),
        "python-snappy reads it otherwise"
    );
    let got: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    let want: Vec<String> = (0..N).map(|n| format!("m{n}")).collect();
    assert_eq!(got, want);
}

/// format(csv) and format(json) into the file:// store: the CSV (with a
/// header, snappy, Log Service's `.snappy.csv` name) reads back with the csv
/// crate, the JSON lines with Python's json module, each message once with
/// the values it was sent with, and a missing value as null-value().
#[test]
fn csv_and_json_objects_read_back_with_their_readers() {
    let port = free_port();
    let store_dir = TempDir::new("objects-formats");
    let store = store_dir.path();
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination csv {{ s3(url(\"file://{0}\") object-key(\"csv/${{HOST}}\") format(csv) \
           columns(\"__time__\", \"HOST\", \"PID\", \".SDATA.req@32473.status\", \"MESSAGE\", \"__topic__\") \
           header(yes) null-value(\"NULL\") topic(\"shop\") compression(snappy)); }};\n\
         destination json {{ s3(url(\"file://{0}\") object-key(\"json/${{HOST}}\") format(json) \
           json-options(\"--scope none --key HOST --key PID --key .SDATA.*\") topic(\"shop\")); }};\n\
         log {{ source(s); destination(csv); destination(json); flags(flow-control); }};\n",
        store.display()
    );
    let d = Daemon::start(&conf);
    const N: usize = 50;
    // Every third message has no PID; messages carry quotes, commas and a
    // delimiter-looking text that CSV must quote.
    let msgs: Vec<String> = (0..N)
        .map(|i| {
            let pid = if i % 3 == 0 { "-".to_string() } else { (1000 + i).to_string() };
            format!(
                "<13>1 2026-11-23T14:07:{:02}Z web-1 app {pid} ID7 [req@32473 status=\"{}\"] m{i} said \"hi\", then left",
                i % 60,
                200 + i
            )
        })
        .collect();
    send_tcp(port, msgs);
    for name in ["csv", "json"] {
        let stat = format!("destination.{name}#0.written");
        assert!(
            wait_until(WAIT, || d.stat(&stat) == N as u64),
            "{name}: {}",
            d.log()
        );
    }
    d.stop();
    let keys: Vec<String> = objects(store).into_keys().collect();
    assert_eq!(keys, ["csv/web-1.snappy.csv", "json/web-1"]);

    let snappy = std::fs::read(store.join("csv/web-1.snappy.csv")).unwrap();
    let text = snap::raw::Decoder::new().decompress_vec(&snappy).unwrap();
    let mut r = csv::Reader::from_reader(&text[..]);
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header,
        [
            "__time__",
            "HOST",
            "PID",
            ".SDATA.req@32473.status",
            "MESSAGE",
            "__topic__"
        ]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), N, "one header, then a row per message");
    for (i, row) in rows.iter().enumerate() {
        let pid = if i % 3 == 0 {
            "NULL".to_string()
        } else {
            (1000 + i).to_string()
        };
        let time = (1_795_442_820 + (i % 60)).to_string();
        let status = (200 + i).to_string();
        let message = format!("m{i} said \"hi\", then left");
        let want = [time.as_str(), "web-1", &pid, &status, &message, "shop"];
        assert_eq!(row.iter().collect::<Vec<_>>(), want, "row {i}");
    }

    let script = "import json\n\
        for line in open(path, 'rb'):\n\
        \x20   o = json.loads(line)\n\
        \x20   print(o['__time__'], o['__topic__'], o['__source__'], o['HOST'], o.get('PID', '-'), o['_SDATA']['req@32473']['status'])";
    let got = crate::moto::python_reader(script, &store.join("json/web-1"));
    let want: String = (0..N)
        .map(|i| {
            let pid = if i % 3 == 0 {
                "-".to_string()
            } else {
                (1000 + i).to_string()
            };
            format!(
                "{} shop 127.0.0.1 web-1 {pid} {}\n",
                1_795_442_820 + (i % 60),
                200 + i
            )
        })
        .collect();
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

/// Log Service's layout: `partition-format()` of the message time routes
/// each message to its own hour's object, a late one included, under keys
/// OBJECT-KEY/PARTITION_RANDOMID.snappy (JSON, snappy).
#[test]
fn partitions_route_late_messages_to_their_own_hour() {
    let port = free_port();
    let store_dir = TempDir::new("objects-partitions");
    let store = store_dir.path();
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ s3(url(\"file://{}\") object-key(\"sls/data\") format(json) \
           json-options(\"--scope none --key MESSAGE\") compression(snappy) \
           partition-format(\"year=%Y/mon=%m/day=%d/%H\") partition-time(message) \
           time-zone(\"UTC\") flush-grace-period(1s)); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n",
        store.display()
    );
    let d = Daemon::start(&conf);
    // Hours 10, 11, then a late 10, then 12.
    let hours = [10, 11, 10, 12];
    let msgs: Vec<String> = (0..40)
        .map(|i| {
            let h = hours[i / 10];
            format!(
                "<13>1 2026-11-22T{h}:00:{:02}Z web-1 app - - - m{i}",
                i % 60
            )
        })
        .collect();
    send_tcp(port, msgs);
    let done = || objects(store).len() == 3;
    assert!(
        wait_until(WAIT, done),
        "{:?}\n{}",
        objects(store).keys().collect::<Vec<_>>(),
        d.log()
    );
    d.stop();
    let got = objects(store);
    let mut by_hour = BTreeMap::new();
    for (key, body) in &got {
        let rest = key
            .strip_prefix("sls/data/year=2026/mon=11/day=22/")
            .unwrap_or_else(|| panic!("{key} is not under the partition"));
        let (hour, id) = rest
            .split_once('_')
            .unwrap_or_else(|| panic!("{key}: no _RANDOMID"));
        let id = id
            .strip_suffix(".snappy")
            .unwrap_or_else(|| panic!("{key}: not .snappy"));
        assert!(!id.is_empty() && !id.contains('/'), "{key}");
        let text =
            String::from_utf8(snap::raw::Decoder::new().decompress_vec(body).unwrap()).unwrap();
        let msgs: Vec<String> = text
            .lines()
            .map(|l| {
                let m = l
                    .split("\"MESSAGE\":\"")
                    .nth(1)
                    .unwrap_or_else(|| panic!("{l}"));
                m.trim_end_matches("\"}").to_string()
            })
            .collect();
        by_hour.insert(hour.to_string(), msgs);
    }
    let want = |r: std::ops::Range<usize>| r.map(|i| format!("m{i}")).collect::<Vec<_>>();
    let mut hour10 = want(0..10);
    hour10.extend(want(20..30));
    assert_eq!(by_hour["10"], hour10, "the late messages joined their hour");
    assert_eq!(by_hour["11"], want(10..20));
    assert_eq!(by_hour["12"], want(30..40));
}

/// `max-object-age()` completes an object that long after it opened, however
/// busy it is (flush-grace-period() never fires here): a steady trickle
/// over four seconds with an age of one second makes several objects, and
/// every message is in one of them once.
#[test]
fn max_object_age_rolls_a_busy_object_over() {
    let port = free_port();
    let store_dir = TempDir::new("objects-age");
    let store = store_dir.path();
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination d {{ s3(url(\"file://{}\") object-key(\"app\") max-object-age(1s)); }};\n\
         log {{ source(s); destination(d); flags(flow-control); }};\n",
        store.display()
    );
    let d = Daemon::start(&conf);
    const BATCHES: usize = 16;
    for b in 0..BATCHES {
        send_tcp(port, lines("web-1", 23, b * 10, b * 10 + 10));
        std::thread::sleep(Duration::from_millis(250));
    }
    let all = |objs: &BTreeMap<String, Vec<u8>>| {
        objs.values()
            .map(|v| v.iter().filter(|&&c| c == b'\n').count())
            .sum::<usize>()
    };
    assert!(
        wait_until(WAIT, || all(&objects(store)) == BATCHES * 10),
        "{:?}\n{}",
        objects(store).keys().collect::<Vec<_>>(),
        d.log()
    );
    d.stop();
    let got = objects(store);
    assert!(got.len() >= 3, "{:?}", got.keys().collect::<Vec<_>>());
    assert!(got.contains_key("app.log") && got.contains_key("app-1.log"));
    let mut seen: Vec<String> = got
        .values()
        .flat_map(|v| {
            String::from_utf8_lossy(v)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    seen.sort_by_key(|l| l[1..].parse::<usize>().unwrap());
    let want: Vec<String> = (0..BATCHES * 10).map(|n| format!("m{n}")).collect();
    assert_eq!(seen, want);
}
