//! `format(parquet)` end to end: syslog over TCP into `s3()`, each object one
//! Parquet file read back with the parquet crate's reader and with what users
//! open them with (pyarrow, DuckDB, Spark), however many parts it was uploaded in
//! and whether or not the daemon was killed while writing it.

use crate::harness::*;
use crate::objects::objects;
use crate::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// A Parquet file's rows as the parquet crate reads them: column name to
/// value as text, `null` for a null.
pub fn parquet_rows(bytes: Vec<u8>) -> (usize, Vec<BTreeMap<String, String>>) {
    let r = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("a valid Parquet file");
    let groups = r.metadata().num_row_groups();
    let rows = r
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            row.unwrap()
                .get_column_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Field::Str(s) => s.clone(),
                        Field::Null => "null".into(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .collect();
    (groups, rows)
}

/// RFC 5424 messages whose status is not a number every seventh message
/// (null in an int64 column), with hex padding so that objects take parts.
fn messages(n: usize, pad_words: usize) -> Vec<String> {
    let mut noise = HexNoise::default();
    (0..n)
        .map(|i| {
            let pad = noise.words(pad_words);
            let status = if i % 7 == 0 {
                "n/a".to_string()
            } else {
                (200 + i % 300).to_string()
            };
            format!(
                "<13>1 2026-11-23T14:07:{:02}Z web-1 app {} ID7 [req@32473 status=\"{status}\" ms=\"{}.25\"] m{i} {pad}",
                i % 60,
                1000 + i % 5000,
                i % 100
            )
        })
        .collect()
}

/// A fresh S3 server with a bucket `logs`, a free port, and a config of one
/// TCP source on that port into `s3(... opts)` named `name` on the bucket.
fn one_s3(name: &str, opts: &str) -> (S3Server, u16, String) {
    let server = S3Server::start(&["logs"]);
    let port = free_port();
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         destination {name} {{ s3(url(\"{}\") bucket(\"logs\") access-key(\"{ACCESS_KEY}\") \
           secret-key(\"{SECRET_KEY}\") {opts}); }};\n\
         log {{ source(s); destination({name}); flags(flow-control); }};\n",
        server.endpoint
    );
    (server, port, conf)
}

const COLUMNS: &str = "columns(\"HOST\", \"PID:int32\", \".SDATA.req@32473.status:int64\", \
    \".SDATA.req@32473.ms:double\", \"MESSAGE\", \"__time__:int64\", \"MSGID:string\")";

/// Checks one object's rows against the messages sent: every message once,
/// in order, with typed values and nulls where they failed to convert.
fn assert_rows(rows: &[BTreeMap<String, String>], n: usize) {
    assert_eq!(rows.len(), n);
    for (i, row) in rows.iter().enumerate() {
        let status = if i % 7 == 0 {
            "null".to_string()
        } else {
            (200 + i % 300).to_string()
        };
        assert_eq!(row["HOST"], "web-1", "row {i}");
        assert_eq!(row["PID"], (1000 + i % 5000).to_string(), "row {i}");
        assert_eq!(row[".SDATA.req@32473.status"], status, "row {i}");
        assert_eq!(
            row[".SDATA.req@32473.ms"],
            format!("{}.25", i % 100),
            "row {i}"
        );
        assert_eq!(row["__time__"], (1_795_442_820 + i % 60).to_string());
        assert_eq!(row["MSGID"], "ID7");
        let word = row["MESSAGE"].split(' ').next().unwrap();
        assert_eq!(word, format!("m{i}"), "row {i}");
    }
}

/// A Parquet object of several row groups uploaded in several multipart
/// parts to a real S3 server is one valid file: the parquet crate, pyarrow,
/// DuckDB and Spark read every message from it once, with its values typed and a
/// value that does not convert as null (and counted).
#[test]
fn parquet_in_multipart_parts_reads_back_with_parquet_pyarrow_duckdb_and_spark() {
    if !crate::moto::required() {
        return;
    }
    let (server, port, conf) = one_s3(
        "pq",
        &format!(
            "object-key(\"pq/${{HOST}}\") format(parquet) {COLUMNS} compression(snappy) \
             parquet-row-group-size(2MiB) chunk-size(5MiB) upload-threads(2)"
        ),
    );
    let d = Daemon::start(&conf);
    const N: usize = 100_000;
    send_tcp(port, messages(N, 6));
    d.await_stat("destination.pq#0.written", N as u64, WAIT);
    let nulls = (0..N).filter(|i| i % 7 == 0).count() as u64;
    assert_eq!(d.stat("destination.pq#0.null_values"), nulls);
    d.stop();
    let keys: Vec<String> = objects(&server.root.join("logs")).into_keys().collect();
    assert_eq!(keys, ["pq/web-1.snappy.parquet"]);
    let path = server.object_path("logs", "pq/web-1.snappy.parquet");
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.len() > 6 << 20,
        "{} bytes, not several parts",
        bytes.len()
    );
    let (groups, rows) = parquet_rows(bytes);
    assert!(groups > 3, "{groups} row groups");
    assert_rows(&rows, N);

    let script = "import pyarrow.parquet as pq, duckdb\n\
        t = pq.read_table(path)\n\
        print(t.num_rows, t.column('.SDATA.req@32473.status').null_count, t.schema.field('PID').type, t.schema.field('.SDATA.req@32473.ms').type)\n\
        q = duckdb.sql(f\"select count(*), count(distinct MESSAGE), sum(PID), sum(\\\"__time__\\\") from read_parquet('{path}')\").fetchall()[0]\n\
        print(*q)";
    let got = String::from_utf8(crate::moto::python_reader(script, &path)).unwrap();
    let pid_sum: u64 = (0..N).map(|i| 1000 + (i % 5000) as u64).sum();
    let time_sum: u64 = (0..N).map(|i| 1_795_442_820 + (i % 60) as u64).sum();
    assert_eq!(
        got,
        format!("{N} {nulls} int32 double\n{N} {N} {pid_sum} {time_sum}\n")
    );

    // Spark, the reader of Hive-style tables of these objects.
    let got = crate::moto::spark_reader(SPARK_SUMS, &[&path]);
    assert_eq!(
        got,
        format!("web-1.snappy.parquet {N} {N} {pid_sum} {time_sum} {nulls} int double\n")
    );
}

/// Booleans, floats, columns that are null in every row and a row group of
/// several pages (20,000 rows each), as our page writer lays them out: pyarrow
/// and DuckDB read the same values that were sent.
#[test]
fn parquet_booleans_floats_and_empty_columns_read_back_with_pyarrow_and_duckdb() {
    if !crate::moto::required() {
        return;
    }
    let (server, port, conf) = one_s3(
        "pt",
        "object-key(\"pt/${HOST}\") format(parquet) compression(gzip) \
         columns(\"HOST\", \".SDATA.req@32473.ok:boolean\", \".SDATA.req@32473.ratio:float\", \
         \"absent\", \"gone:int64\", \"MESSAGE\") parquet-row-group-size(64MiB)",
    );
    let d = Daemon::start(&conf);
    const N: usize = 45_000;
    let lines: Vec<String> = (0..N)
        .map(|i| {
            let ok = if i % 3 == 0 { "yes" } else { "no" };
            format!(
                "<13>1 2026-11-23T14:07:00Z web-1 app 1 ID7 [req@32473 ok=\"{ok}\" ratio=\"{}.5\"] m{i}",
                i % 10
            )
        })
        .collect();
    send_tcp(port, lines);
    d.await_stat("destination.pt#0.written", N as u64, WAIT);
    d.stop();
    let path = server.object_path("logs", "pt/web-1.gz.parquet");
    // Row by row: a value read into the wrong row shows as a mismatch.
    let script = "import pyarrow.parquet as pq, duckdb\n\
        t = pq.read_table(path)\n\
        f = pq.ParquetFile(path)\n\
        rows = zip(t.column('MESSAGE').to_pylist(), t.column('.SDATA.req@32473.ok').to_pylist(), t.column('.SDATA.req@32473.ratio').to_pylist())\n\
        bad = sum(1 for m, ok, r in rows if ok != (int(m[1:]) % 3 == 0) or r != int(m[1:]) % 10 + 0.5)\n\
        print(t.num_rows, f.metadata.num_row_groups, t.schema.field('.SDATA.req@32473.ok').type, bad, \
              t.column('absent').null_count, t.column('gone').null_count)\n\
        q = duckdb.sql(f\"select count(*), count(*) filter (where \\\"{'.SDATA.req@32473.ok'}\\\" != (substr(MESSAGE, 2)::int % 3 = 0)), count(absent), count(gone), count(distinct HOST) from read_parquet('{path}')\").fetchall()[0]\n\
        print(*q)";
    let got = String::from_utf8(crate::moto::python_reader(script, &path)).unwrap();
    assert_eq!(got, format!("{N} 1 bool 0 {N} {N}\n{N} 0 0 0 1\n"));
}

/// Per file: its name, rows, distinct messages, the sums of PID and
/// `__time__`, the null statuses, and the types Spark gives PID and `ms`.
const SPARK_SUMS: &str = r#"
import os
for p in paths:
    df = spark.read.parquet(p)
    status = F.col("`.SDATA.req@32473.status`")
    r = df.agg(F.count(F.lit(1)), F.countDistinct("MESSAGE"), F.sum("PID"),
               F.sum("__time__"), F.sum(status.isNull().cast("int"))).first()
    types = dict(df.dtypes)
    print(os.path.basename(p), *r, types["PID"], types[".SDATA.req@32473.ms"])
"#;

/// Each column compression gives a file named as Spark and Log Service name
/// them, which reads back whole, with our reader and with Spark's codecs; a
/// few messages.
#[test]
fn parquet_column_compressions_name_and_read_back() {
    if !crate::moto::required() {
        return;
    }
    let server = S3Server::start(&["logs"]);
    let port = free_port();
    let store_dir = server.root.join("logs");
    let store = store_dir.as_path();
    let dest = |name: &str, compression: &str| {
        format!(
            "destination {name} {{ s3(url(\"{}\") bucket(\"logs\") access-key(\"{ACCESS_KEY}\") \
               secret-key(\"{SECRET_KEY}\") object-key(\"{name}/${{HOST}}\") \
               format(parquet) {COLUMNS} compression({compression})); }};\n",
            server.endpoint
        )
    };
    let names = ["plain", "gz", "zst", "snappy"];
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         {}{}{}{}\
         log {{ source(s); destination(plain); destination(gz); destination(zst); destination(snappy); flags(flow-control); }};\n",
        dest("plain", "none"),
        dest("gz", "gzip"),
        dest("zst", "zstd"),
        dest("snappy", "snappy"),
    );
    let d = Daemon::start(&conf);
    const N: usize = 300;
    send_tcp(port, messages(N, 1));
    for name in names {
        let stat = format!("destination.{name}#0.written");
        d.await_stat(&stat, N as u64, WAIT);
    }
    d.stop();
    let found = objects(store);
    let keys: Vec<&String> = found.keys().collect();
    assert_eq!(
        keys,
        [
            "gz/web-1.gz.parquet",
            "plain/web-1.parquet",
            "snappy/web-1.snappy.parquet",
            "zst/web-1.zst.parquet"
        ]
    );
    for (key, bytes) in &found {
        let (_, rows) = parquet_rows(bytes.clone());
        assert_eq!(rows.len(), N, "{key}");
        assert_rows(&rows, N);
    }
    // Spark's own codecs read every compression.
    let paths: Vec<std::path::PathBuf> = found.keys().map(|k| store.join(k)).collect();
    let got = crate::moto::spark_reader(
        SPARK_SUMS,
        &paths.iter().map(|p| p.as_path()).collect::<Vec<_>>(),
    );
    let pid_sum: u64 = (0..N).map(|i| 1000 + (i % 5000) as u64).sum();
    let time_sum: u64 = (0..N).map(|i| 1_795_442_820 + (i % 60) as u64).sum();
    let nulls = (0..N).filter(|i| i % 7 == 0).count();
    let want: String = found
        .keys()
        .map(|k| {
            let name = k.rsplit('/').next().unwrap_or(k);
            format!("{name} {N} {N} {pid_sum} {time_sum} {nulls} int double\n")
        })
        .collect();
    assert_eq!(got, want);
}

/// kill -9 with row groups spooled and rows waiting for the next one: the
/// restart finishes the file from the spool, and it holds every message once.
#[test]
fn a_parquet_object_left_open_by_kill_9_is_finished_whole() {
    let (server, port, conf) = one_s3(
        "d",
        &format!(
            "object-key(\"app\") format(parquet) {COLUMNS} compression(zstd) \
             parquet-row-group-size(256KiB)"
        ),
    );
    let d = Daemon::start(&conf);
    const N: usize = 20_000;
    send_tcp(port, messages(N, 1));
    d.await_stat("destination.d#0.written", N as u64, WAIT);
    let d = Daemon::start_in(d.crash(), &conf).unwrap();
    let path = server.object_path("logs", "app.zst.parquet");
    assert!(wait_until(WAIT, || path.exists()), "{}", d.log());
    d.stop();
    let (groups, rows) = parquet_rows(std::fs::read(&path).unwrap());
    assert!(groups > 1, "{groups} row groups");
    assert_rows(&rows, N);
}

/// JSON and CSV objects, plain, gzip and zstd, as DuckDB reads them (it
/// tells the compression by the suffix): every message once, with its
/// values. Snappy objects are Log Service's raw layout, which python-snappy
/// reads (see objects.rs).
#[test]
fn duckdb_reads_json_and_csv_objects_in_every_compression() {
    if !crate::moto::required() {
        return;
    }
    let server = S3Server::start(&["logs"]);
    let port = free_port();
    let store_dir = server.root.join("logs");
    let store = store_dir.as_path();
    let mut dests = String::new();
    let mut names = Vec::new();
    for (format, opts) in [
        (
            "json",
            "format(json) json-options(\"--scope none --key HOST --key PID --key MESSAGE\")",
        ),
        ("csv", "format(csv) columns(HOST, PID, MESSAGE) header(yes)"),
    ] {
        for codec in ["none", "gzip", "zstd"] {
            let name = format!("{format}_{codec}");
            dests += &format!(
                "destination {name} {{ s3(url(\"{}\") bucket(\"logs\") access-key(\"{ACCESS_KEY}\") \
                   secret-key(\"{SECRET_KEY}\") object-key(\"{name}/${{HOST}}\") \
                   {opts} compression({codec})); }};\n",
                server.endpoint
            );
            names.push(name);
        }
    }
    let conf = format!(
        "@include \"scl.conf\"\n\
         source s {{ network(ip(\"127.0.0.1\") port({port})); }};\n\
         {dests}\
         log {{ source(s); {} flags(flow-control); }};\n",
        names
            .iter()
            .map(|n| format!("destination({n});"))
            .collect::<String>()
    );
    let d = Daemon::start(&conf);
    const N: usize = 500;
    send_tcp(port, messages(N, 1));
    for name in &names {
        let stat = format!("destination.{name}#0.written");
        d.await_stat(&stat, N as u64, WAIT);
    }
    d.stop();
    let keys: Vec<String> = objects(store).into_keys().collect();
    assert_eq!(
        keys,
        [
            "csv_gzip/web-1.csv.gz",
            "csv_none/web-1.csv",
            "csv_zstd/web-1.csv.zst",
            "json_gzip/web-1.gz",
            "json_none/web-1",
            "json_zstd/web-1.zst",
        ]
    );
    let script = "import duckdb, os\n\
        for key in sorted(os.listdir(path)):\n\
        \x20   for f in sorted(os.listdir(os.path.join(path, key))):\n\
        \x20       p = os.path.join(path, key, f)\n\
        \x20       if key.startswith('json'):\n\
        \x20           rel = f\"read_json('{p}', format='newline_delimited', columns={{'HOST': 'VARCHAR', 'PID': 'BIGINT', 'MESSAGE': 'VARCHAR'}})\"\n\
        \x20       else:\n\
        \x20           rel = f\"read_csv('{p}', header=true)\"\n\
        \x20       q = duckdb.sql(f\"select count(*), count(distinct MESSAGE), sum(PID), min(HOST) from {rel}\").fetchall()[0]\n\
        \x20       print(key, *q)";
    let got = String::from_utf8(crate::moto::python_reader(script, store)).unwrap();
    let pid_sum: u64 = (0..N).map(|i| 1000 + (i % 5000) as u64).sum();
    let want: String = names
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .iter()
        .map(|n| format!("{n} {N} {N} {pid_sum} web-1\n"))
        .collect();
    assert_eq!(got, want);
}

/// Thirty-two hosts, an open Parquet object each, none with a row group's
/// worth of rows: past four row groups' worth in all, the biggest holders
/// write smaller row groups, so memory does not grow with the number of
/// open objects. Every message lands once, in its host's file, in order.
#[test]
fn many_open_parquet_objects_share_a_bounded_row_budget() {
    let (server, port, conf) = one_s3(
        "d",
        "object-key(\"many/${HOST}\") format(parquet) columns(\"HOST\", \"MESSAGE\") \
         parquet-row-group-size(64KiB) flush-grace-period(1s)",
    );
    let d = Daemon::start(&conf);
    const HOSTS: usize = 32;
    const EACH: usize = 300;
    let pad = "y".repeat(80);
    let msgs = (0..EACH).flat_map(|i| {
        let pad = pad.clone();
        (0..HOSTS).map(move |h| format!("<13>Nov 23 14:07:17 host-{h:02} app: m{i} {pad}"))
    });
    send_tcp(port, msgs);
    d.await_stat("destination.d#0.objects", HOSTS as u64, WAIT);
    d.stop();
    let found = objects(&server.root.join("logs"));
    assert_eq!(found.len(), HOSTS, "{:?}", found.keys());
    let mut groups = 0;
    for (key, bytes) in found {
        let host = key
            .trim_start_matches("many/")
            .trim_end_matches(".parquet")
            .to_string();
        let (g, rows) = parquet_rows(bytes);
        groups += g;
        let got: Vec<String> = rows
            .iter()
            .map(|r| {
                assert_eq!(r["HOST"], host);
                r["MESSAGE"].split(' ').next().unwrap().to_string()
            })
            .collect();
        let want: Vec<String> = (0..EACH).map(|i| format!("m{i}")).collect();
        assert_eq!(got, want, "{key}");
    }
    // About 30 KiB of rows per host, 960 KiB in all against a 256 KiB
    // budget: without it, one row group each.
    assert!(groups > HOSTS, "{groups} row groups for {HOSTS} files");
}
