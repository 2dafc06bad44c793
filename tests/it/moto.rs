//! moto's S3 server as a test peer: the reference for the S3 APIs the in-process
//! server lacks (ListMultipartUploads, part ETags, NoSuchBucket), and boto3 as an
//! independent client to create buckets and read back what sluice uploaded.
//!
//! Both come from the venv that tests/run.sh installs; it exports SLUICE_MOTO
//! and SLUICE_PYTHON, and without them the venv's default place is tried. A test
//! that needs them fails when they are missing rather than passing untested.

#![allow(dead_code)]

use crate::harness::{TempDir, free_port, wait_until};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// moto accepts any credentials; these are what configs and boto3 use.
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";
pub const REGION: &str = "us-east-1";

/// A running `moto_server` on a free loopback port, killed when dropped.
pub struct Moto {
    /// `http://127.0.0.1:PORT`, for a destination's `url()`.
    pub endpoint: String,
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Moto {
    /// Starts moto's S3 server and waits until it answers HTTP.
    pub fn start() -> Moto {
        let moto = tool("SLUICE_MOTO", "moto_server");
        let mut last = String::new();
        // A port free when picked can be taken before moto binds it: try another.
        for _ in 0..3 {
            let dir = TempDir::new("moto");
            let log = dir.join("moto.log");
            let port = free_port();
            let child = Command::new(&moto)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", moto.display()));
            let mut m = Moto {
                endpoint: format!("http://127.0.0.1:{port}"),
                child,
                log,
                _dir: dir,
            };
            // Importing moto takes seconds on a loaded 2-core machine.
            wait_until(Duration::from_secs(60), || {
                matches!(m.child.try_wait(), Ok(Some(_))) || answers(port)
            });
            if answers(port) {
                return m;
            }
            let _ = m.child.kill();
            let _ = m.child.wait();
            last = m.log();
        }
        panic!("moto_server did not come up:\n{last}");
    }

    /// moto's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Creates bucket `name` (in us-east-1, moto's default).
    pub fn create_bucket(&self, name: &str) {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'),
            "not an S3 bucket name: {name}"
        );
        self.python(&format!("s3.create_bucket(Bucket='{name}')"));
    }

    /// Runs a Python script with boto3 against this server and returns its
    /// stdout; see `python_at`.
    pub fn python(&self, script: &str) -> String {
        python_at(&self.endpoint, script)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a Python script against the S3 endpoint `endpoint` (moto, or a fault
/// proxy in front of it) and returns its stdout; panics with its stderr if it
/// fails. The script starts with `boto3` imported, `endpoint` set, and `s3` a
/// path-style boto3 client with moto's credentials and standard retries.
pub fn python_at(endpoint: &str, script: &str) -> String {
    let python = tool("SLUICE_PYTHON", "python");
    let preamble = r#"import os, sys, boto3
from botocore.config import Config
endpoint = os.environ["SLUICE_S3_ENDPOINT"]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name=os.environ["AWS_DEFAULT_REGION"],
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    config=Config(
        s3={"addressing_style": "path"},
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=30,
    ),
)
"#;
    let mut cmd = Command::new(&python);
    cmd.arg("-c")
        .arg(format!("{preamble}{script}"))
        .env("SLUICE_S3_ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", REGION)
        // The developer's own AWS config must not change what the test does.
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::null());
    String::from_utf8_lossy(&checked(&mut cmd, script)).into_owned()
}

/// Runs a python command; its stdout, or a panic with its stderr and script.
fn checked(cmd: &mut Command, script: &str) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "python failed ({}):\n{}\nscript:\n{script}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// What a Python reader users have makes of `file`: runs `script` (with the
/// file's path in `path`) under the venv's python, returns its stdout.
pub fn python_reader(script: &str, file: &std::path::Path) -> Vec<u8> {
    let python = tool("SLUICE_PYTHON", "python");
    let mut cmd = Command::new(&python);
    cmd.arg("-c")
        .arg(format!("import sys\npath = sys.argv[1]\n{script}"))
        .arg(file)
        .stdin(Stdio::null());
    checked(&mut cmd, script)
}

/// What Spark (pyspark, on the machine's Java) makes of `files`: runs
/// `script` with a local one-thread session `spark` bound to the loopback
/// address and the files' paths in `paths`; returns its stdout.
pub fn spark_reader(script: &str, files: &[&std::path::Path]) -> String {
    let python = tool("SLUICE_PYTHON", "python");
    let preamble = r#"import sys
from pyspark.sql import SparkSession, functions as F
paths = sys.argv[1:]
spark = (SparkSession.builder.master("local[1]")
    .config("spark.ui.enabled", "false")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.sql.shuffle.partitions", "1")
    .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
"#;
    let mut cmd = Command::new(&python);
    cmd.arg("-c")
        .arg(format!("{preamble}{script}"))
        .args(files)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .stdin(Stdio::null());
    String::from_utf8_lossy(&checked(&mut cmd, script)).into_owned()
}

/// Whether moto and boto3 are installed; like `harness::require`, their absence
/// fails the test unless SLUICE_IT_SKIP_MISSING=1 asks to skip it.
pub fn required() -> bool {
    match find("SLUICE_MOTO", "moto_server").and(find("SLUICE_PYTHON", "python")) {
        Ok(_) => true,
        Err(_) if std::env::var("SLUICE_IT_SKIP_MISSING").as_deref() == Ok("1") => {
            eprintln!("skipping: moto and boto3 are not installed");
            false
        }
        Err(e) => panic!("{e}"),
    }
}

/// The venv tests/run.sh makes, for runs of plain `cargo test` after it.
fn venv_bin(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(
        PathBuf::from(home)
            .join(".cache/sluice/venv/bin")
            .join(name),
    )
}

fn find(var: &str, name: &str) -> Result<PathBuf, String> {
    let hint = "run the suite through tests/run.sh, which installs moto and boto3 in a venv";
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{var}={} does not exist; {hint}", p.display()))
        };
    }
    match venv_bin(name) {
        Some(p) if p.is_file() => Ok(p),
        _ => Err(format!(
            "{name} not found ({var} unset, no ~/.cache/sluice/venv); {hint}"
        )),
    }
}

fn tool(var: &str, name: &str) -> PathBuf {
    find(var, name).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether an HTTP server answers on the port, whatever the status.
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.")
}

/// moto comes up, takes a bucket, and boto3 sees it.
mod tests {
    use super::*;
    use crate::fault_proxy::FaultProxy;

    #[test]
    fn moto_creates_and_lists_buckets() {
        if !required() {
            return;
        }
        let moto = Moto::start();
        moto.create_bucket("sluice-it");
        let names = moto.python(
            "print(' '.join(b['Name'] for b in s3.list_buckets()['Buckets']))\n\
             s3.put_object(Bucket='sluice-it', Key='a/b.log', Body=b'hello\\n')\n\
             print(s3.get_object(Bucket='sluice-it', Key='a/b.log')['Body'].read().decode(), end='')",
        );
        assert_eq!(names, "sluice-it\nhello\n");
        // A missing bucket is moto's NoSuchBucket, which the in-process server lacks.
        let code = moto.python(
            "try:\n    s3.head_bucket(Bucket='absent')\nexcept s3.exceptions.ClientError as e:\n    print(e.response['Error']['Code'])",
        );
        assert_eq!(code.trim(), "404");
    }

    #[test]
    fn moto_behind_fault_proxy_retries_slow_down() {
        if !required() {
            return;
        }
        let moto = Moto::start();
        moto.create_bucket("retried");
        let proxy = FaultProxy::start(&moto.endpoint);
        proxy.slow_down(2);
        // boto3 sends PUTs with Expect: 100-continue, so an injected answer closes
        // the connection; the HEADs below meet it on a kept-alive one.
        python_at(
            &proxy.endpoint,
            "s3.put_object(Bucket='retried', Key='k1', Body=b'one')\n\
             s3.put_object(Bucket='retried', Key='k2', Body=b'two' * 100000)",
        );
        assert_eq!(proxy.count("PUT"), 4, "{:?}", proxy.seen());
        proxy.slow_down(1);
        let sizes = python_at(
            &proxy.endpoint,
            "for k in ('k1', 'k2'):\n    print(s3.head_object(Bucket='retried', Key=k)['ContentLength'])",
        );
        assert_eq!(proxy.count("HEAD"), 3, "{:?}", proxy.seen());
        assert_eq!(sizes, "3\n300000\n");
    }
}
