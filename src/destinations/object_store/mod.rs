//! Object-store destinations: `object-store()`, the core driver under the
//! shipped `s3()` block (and any `minio()` or `wasabi()` a user writes), for
//! S3 and S3-compatible stores and for a local directory (`url("file:///dir")`).
//!
//! The data path, one module each: messages are rendered into the open object
//! their key names ([`driver`]: keys and rollover, with [`key`] for indexes),
//! encoded ([`encode`]: plain or one gzip stream), appended to a crash-safe
//! [`spool`] and acknowledged once synced; parts then go to the store through
//! the [`upload`] pool, over [`store`]: the [`s3`] wire client (with [`http`])
//! or the [`local`] directory.

pub mod driver;
pub mod key;
pub mod local;
mod row_groups;
pub mod s3;
pub mod spool;
pub mod store;
mod sync;
pub mod upload;

use crate::compress::Codec;
use crate::config::schema::{DriverSpec, Kind, OptionSpec, TimeUnit, Values, parse_bool};
use crate::destinations::registry::{
    self, BuildError, Built, Destination, DestinationKind, Fingerprint, QueueLimits,
};
use crate::destinations::worker::{self, StartContext, Worker};
use crate::encode::{CsvOptions, Encoder, Parquet};
use crate::message::Zone;
use crate::template::{RenderContext, Template};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::Store;

/// `object-store()` in the registry.
pub const KIND: DestinationKind = DestinationKind {
    spec: &SPEC,
    from_global: &[],
    build,
};

const TLS: DriverSpec = DriverSpec {
    name: "tls",
    context: "object-store",
    doc: "TLS settings of the connection to the store.",
    positional: None,
    options: &[OptionSpec {
        name: "ca-file",
        kind: Kind::Str,
        default: "",
        doc: "CA certificates (PEM) trusted besides the system's, for a store with a private CA.",
    }],
};

/// The options, with syslog-ng's s3() names and defaults where it has them.
pub const SPEC: DriverSpec = DriverSpec {
    name: "object-store",
    context: "destination",
    doc: "Writes messages into objects of an S3-compatible store or a local directory, through a crash-safe spool. The s3() block of scl.conf is this driver with S3's defaults.",
    positional: None,
    options: &[
        OptionSpec {
            name: "url",
            kind: Kind::Str,
            default: "",
            doc: "The store: http(s)://host[:port] of an S3-compatible service, or file:///dir for a local directory. Empty means AWS S3 in region().",
        },
        OptionSpec {
            name: "bucket",
            kind: Kind::Str,
            default: "",
            doc: "The bucket (required for S3; for file:// a subdirectory, optional).",
        },
        OptionSpec {
            name: "region",
            kind: Kind::Str,
            default: "us-east-1",
            doc: "The bucket's region, for signing.",
        },
        OptionSpec {
            name: "access-key",
            kind: Kind::Str,
            default: "",
            doc: "Access key id; without it the AWS chain is used (environment, ~/.aws files with AWS_PROFILE, web identity, the ECS endpoint, IMDSv2).",
        },
        OptionSpec {
            name: "secret-key",
            kind: Kind::Str,
            default: "",
            doc: "Secret access key, with access-key().",
        },
        OptionSpec {
            name: "session-token",
            kind: Kind::Str,
            default: "",
            doc: "Session token of temporary credentials.",
        },
        OptionSpec {
            name: "role",
            kind: Kind::Str,
            default: "",
            doc: "A role ARN to assume (STS AssumeRole) with the credentials found; refreshed before it expires.",
        },
        OptionSpec {
            name: "object-key",
            kind: Kind::Template,
            default: "",
            doc: "The key of the objects, as a template (required). Values from messages cannot leave its prefix.",
        },
        OptionSpec {
            name: "object-key-timestamp",
            kind: Kind::Template,
            default: "",
            doc: "A template appended to the key; a message with a newer value completes the object and starts one under the new key; an older one starts a new indexed object.",
        },
        OptionSpec {
            name: "object-key-suffix",
            kind: Kind::Str,
            default: ".log",
            doc: "Appended after the index (-1, -2, ...); the compression's suffix (.gz, .zst, .snappy) follows it. By default .log, none for format(json) and .csv for format(csv), which goes after .snappy as Log Service names it.",
        },
        OptionSpec {
            name: "template",
            kind: Kind::Template,
            default: "${MESSAGE}\\n",
            doc: "How each message is written into the object.",
        },
        OptionSpec {
            name: "partition-format",
            kind: Kind::Str,
            default: "",
            doc: "Log Service's layout: keys become OBJECT-KEY/PARTITION_RANDOMID[.suffix], PARTITION being this strftime format (%Y/%m/%d/%H/%M, year=%Y/mon=%m, ...) of partition-time(); each message goes to the object of its own partition, and an object never moves to an index.",
        },
        OptionSpec {
            name: "partition-time",
            kind: Kind::Enum(&["received", "message"]),
            default: "received",
            doc: "The time partition-format() formats: when the message was received, or the time it carries.",
        },
        OptionSpec {
            name: "format",
            kind: Kind::Enum(crate::encode::FORMATS),
            default: "template",
            doc: "How messages are written: template() per message; json, one JSON object per line with Log Service's __time__, __topic__ and __source__ and the json-options() selection; csv, the columns() of each message; parquet, typed columns() in one Parquet file per object, compression() applying inside it.",
        },
        OptionSpec {
            name: "json-options",
            kind: Kind::Str,
            default: "--scope rfc5424 --scope nv-pairs",
            doc: "format(json): which name-value pairs each object holds, in $(format-json)'s words (--scope, --key, --exclude, --pair, --rekey ...).",
        },
        OptionSpec {
            name: "topic",
            kind: Kind::Str,
            default: "",
            doc: "The __topic__ of format(json) and of a __topic__ column.",
        },
        OptionSpec {
            name: "columns",
            kind: Kind::List,
            default: "",
            doc: "format(csv) and format(parquet): the columns in order, each a macro (HOST, PID), a name-value pair (.SDATA.meta.seq) or __time__, __source__, __topic__; for parquet, with a type after a colon: string (the default), boolean, int32, int64, float or double (\"PID:int32\"). A value that does not convert is null, and counted in the destination's null_values.",
        },
        OptionSpec {
            name: "parquet-row-group-size",
            kind: Kind::Size {
                min: 1 << 10,
                max: 1 << 30,
            },
            default: "8MiB",
            doc: "format(parquet): an object's rows become a row group when they reach this size before encoding, and when the object completes; they wait in the spool (and in memory) meanwhile. All open objects together hold at most four times this in memory: past it, the object holding the most writes a smaller row group.",
        },
        OptionSpec {
            name: "delimiter",
            kind: Kind::Str,
            default: ",",
            doc: "format(csv): the character between columns.",
        },
        OptionSpec {
            name: "quote",
            kind: Kind::Str,
            default: "\"",
            doc: "format(csv): the character around a value holding the delimiter, a quote or a line break.",
        },
        OptionSpec {
            name: "escape",
            kind: Kind::Str,
            default: "",
            doc: "format(csv): the character before a quote inside a quoted value; by default the quote itself (doubled, as RFC 4180 says).",
        },
        OptionSpec {
            name: "null-value",
            kind: Kind::Str,
            default: "",
            doc: "format(csv): written for a column the message lacks.",
        },
        OptionSpec {
            name: "header",
            kind: Kind::Bool,
            default: "no",
            doc: "format(csv): start each object with a line of the column names.",
        },
        OptionSpec {
            name: "compression",
            kind: Kind::Enum(crate::compress::Codec::CHOICES),
            default: "no",
            doc: "Compress each object as one stream: gzip (yes), zstd, or snappy (the whole object as one raw snappy buffer, as Log Service writes it); no or none to store as written.",
        },
        OptionSpec {
            name: "compresslevel",
            kind: Kind::Int { min: 0, max: 9 },
            default: "6",
            doc: "The gzip level, 0 (store) to 9 (smallest); for zstd, 1 to 9, and 0 for zstd's default (3).",
        },
        OptionSpec {
            name: "chunk-size",
            kind: Kind::Size {
                min: 5 << 20,
                max: 5 << 30,
            },
            default: "5MiB",
            doc: "The size of each uploaded part; S3 requires at least 5 MiB. An object smaller than one part is written with one PutObject.",
        },
        OptionSpec {
            name: "max-object-size",
            kind: Kind::Size {
                min: 1,
                max: 5120 << 30,
            },
            default: "5120GiB",
            doc: "Complete an object at this size and continue with the next index.",
        },
        OptionSpec {
            name: "upload-threads",
            kind: Kind::Int { min: 1, max: 64 },
            default: "8",
            doc: "Parts of one object uploaded at once.",
        },
        OptionSpec {
            name: "max-pending-uploads",
            kind: Kind::Int { min: 1, max: 1024 },
            default: "32",
            doc: "Objects uploaded at once.",
        },
        OptionSpec {
            name: "flush-grace-period",
            kind: Kind::Duration {
                bare: TimeUnit::Minutes,
                min_ms: 1000,
                max_ms: 7 * 86_400_000,
            },
            default: "60",
            doc: "Complete an object no message was written to for this long (minutes when bare); the next message starts an indexed one.",
        },
        OptionSpec {
            name: "shipping-format",
            kind: Kind::Enum(&["json", "csv", "parquet"]),
            default: "",
            doc: "sls-shipper(): Log Service's storage format; sets format().",
        },
        OptionSpec {
            name: "shipping-compression",
            kind: Kind::Enum(&["none", "snappy"]),
            default: "",
            doc: "sls-shipper(): Log Service's compression; sets compression().",
        },
        OptionSpec {
            name: "shipping-size",
            kind: Kind::Int { min: 5, max: 256 },
            default: "",
            doc: "sls-shipper(): Log Service's shipping size in MB, 5 to 256; sets max-object-size().",
        },
        OptionSpec {
            name: "shipping-time",
            kind: Kind::Int { min: 300, max: 900 },
            default: "",
            doc: "sls-shipper(): Log Service's shipping time in seconds, 300 to 900; sets max-object-age().",
        },
        OptionSpec {
            name: "rotation-strategy",
            kind: Kind::Enum(&["size", "time", "size_and_time"]),
            default: "size_and_time",
            doc: "Which of max-object-size() and max-object-age() complete an object: size, time, or both (size_and_time), as logstash-output-oss's rotation_strategy.",
        },
        OptionSpec {
            name: "max-object-age",
            kind: Kind::Duration {
                bare: TimeUnit::Minutes,
                min_ms: 0,
                max_ms: 7 * 86_400_000,
            },
            default: "0",
            doc: "Complete an object this long after it was opened, however busy (minutes when bare; 0: never); the next message starts an indexed one. logstash-output-oss's time_rotate.",
        },
        OptionSpec {
            name: "storage-class",
            kind: Kind::Enum(&[
                "STANDARD",
                "REDUCED_REDUNDANCY",
                "STANDARD_IA",
                "ONEZONE_IA",
                "INTELLIGENT_TIERING",
                "GLACIER",
                "DEEP_ARCHIVE",
                "GLACIER_IR",
                "OUTPOSTS",
                "SNOW",
                "EXPRESS_ONEZONE",
            ]),
            default: "",
            doc: "The storage class of new objects; the bucket's default when empty.",
        },
        OptionSpec {
            name: "canned-acl",
            kind: Kind::Enum(&[
                "private",
                "public-read",
                "public-read-write",
                "aws-exec-read",
                "authenticated-read",
                "bucket-owner-read",
                "bucket-owner-full-control",
                "log-delivery-write",
            ]),
            default: "",
            doc: "A canned ACL for new objects.",
        },
        OptionSpec {
            name: "server-side-encryption",
            kind: Kind::Enum(&["AES256", "aws:kms"]),
            default: "",
            doc: "Server-side encryption of new objects.",
        },
        OptionSpec {
            name: "kms-key",
            kind: Kind::Str,
            default: "",
            doc: "The KMS key of server-side-encryption(aws:kms); the bucket's default key when empty.",
        },
        OptionSpec {
            name: "content-type",
            kind: Kind::Str,
            default: "",
            doc: "The Content-Type of new objects.",
        },
        OptionSpec {
            name: "use-checksum",
            kind: Kind::Enum(&["when_supported", "when_required", "sha256", "md5", "none"]),
            default: "when_supported",
            doc: "How the store checks each body: when_supported signs the SHA-256 over plain http to other hosts and relies on TLS otherwise; sha256 and md5 always send that digest; when_required and none send none.",
        },
        OptionSpec {
            name: "https",
            kind: Kind::Enum(&["auto", "yes", "no", "true", "false", "on", "off"]),
            default: "auto",
            doc: "For a url() given as host[:port] without a scheme: https (yes) or http (no); auto takes the url()'s own scheme. A scheme that contradicts it is an error. oss()'s secure-connection-enabled().",
        },
        OptionSpec {
            name: "max-connections",
            kind: Kind::Int {
                min: 1,
                max: 65_535,
            },
            default: "1024",
            doc: "Requests to the store in flight at once, each on a connection of its own.",
        },
        OptionSpec {
            name: "path-style",
            kind: Kind::Enum(&["yes", "no", "auto"]),
            default: "auto",
            doc: "Address the bucket in the path (yes) or the host name (no); auto uses the path for custom endpoints.",
        },
        OptionSpec {
            name: "tls",
            kind: Kind::Group(&TLS),
            default: "",
            doc: "TLS settings of the connection to the store.",
        },
        OptionSpec {
            name: "persist-name",
            kind: Kind::Str,
            default: "",
            doc: "Names the spool; by default it is made of the url, bucket and object key, so renaming the destination keeps its spool.",
        },
        OptionSpec {
            name: "spool-dir",
            kind: Kind::Str,
            default: "",
            doc: "Where the spool lives (an absolute path; the destination takes a directory of its own in it); by default under the state directory.",
        },
        OptionSpec {
            name: "recover",
            kind: Kind::Bool,
            default: "yes",
            doc: "At start, upload what an earlier run left in the spool; no deletes it instead (logged with its size), as logstash-output-oss's recover => false.",
        },
        OptionSpec {
            name: "spool-size",
            kind: Kind::Size {
                min: 1 << 20,
                max: 1 << 50,
            },
            default: "",
            doc: "Bytes the spool may hold; by default a quarter of the free space of the state directory when the destination starts.",
        },
        OptionSpec {
            name: "spool-full",
            kind: Kind::Enum(&["block", "drop-newest"]),
            default: "block",
            doc: "What a full spool does: block holds the sources back (flow control), drop-newest drops and counts new messages.",
        },
        OptionSpec {
            name: "max-open-objects",
            kind: Kind::Int {
                min: 1,
                max: 1_000_000,
            },
            default: "1024",
            doc: "Objects open at once; beyond it the least recently written is completed.",
        },
        registry::FRAC_DIGITS,
        registry::TIME_ZONE,
        registry::LOG_FIFO_SIZE,
        registry::LOG_FIFO_BYTES,
    ],
};

/// Where the objects go.
#[derive(Clone, Debug)]
pub enum Target {
    Local(PathBuf),
    S3(Box<S3Target>),
}

/// An S3-compatible store and how to write to it.
#[derive(Clone, Debug)]
pub struct S3Target {
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub access_key: Option<String>,
    pub secret_key: Option<Secret>,
    pub session_token: Option<Secret>,
    pub role: Option<String>,
    pub path_style: s3::PathStyle,
    pub ca_file: Option<PathBuf>,
    pub storage_class: Option<String>,
    pub canned_acl: Option<String>,
    pub sse: Option<s3::Sse>,
    pub content_type: Option<String>,
    pub checksum: s3::Checksum,
    pub max_connections: usize,
}

/// A credential: never printed, compared only through the fingerprint.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// `object-store()`'s options, typed.
#[derive(Clone, Debug)]
pub struct ObjectOptions {
    pub target: Target,
    pub object_key: Template,
    pub object_key_timestamp: Option<Template>,
    /// `partition-format()` as a `$(strftime)` template of `partition-time()`.
    pub partition: Option<Template>,
    /// `object-key-suffix()` when set.
    pub object_key_suffix: Option<String>,
    pub encoder: Encoder,
    /// The compression of the object's stream (none for Parquet, which
    /// compresses inside the file).
    pub codec: Codec,
    pub row_group_size: u64,
    pub compress_level: u32,
    pub chunk_size: u64,
    pub max_object_size: u64,
    pub upload_threads: usize,
    pub max_pending_uploads: usize,
    pub flush_grace: Duration,
    /// `max-object-age()`; `None` when 0.
    pub max_age: Option<Duration>,
    pub persist_name: String,
    /// `spool-dir()`, when set.
    pub spool_dir: Option<PathBuf>,
    /// `recover()`: upload what an earlier run left (else delete it).
    pub recover: bool,
    /// `None`: a quarter of the free space at start.
    pub spool_size_option: Option<u64>,
    /// Resolved at start.
    pub spool_size: u64,
    pub spool_full_drops: bool,
    pub max_open_objects: usize,
    pub time_zone: Option<Zone>,
    pub frac_digits: Option<u8>,
    pub queue: QueueLimits,
}

impl ObjectOptions {
    /// What follows the index in a key.
    pub fn suffix(&self) -> String {
        if let Some(p) = self.encoder.parquet() {
            // Spark's and Log Service's names: .snappy.parquet.
            let s = self.object_key_suffix.as_deref();
            return format!(
                "{}{}",
                p.compression().suffix(),
                s.unwrap_or(self.encoder.default_suffix())
            );
        }
        match &self.object_key_suffix {
            Some(s) => format!("{s}{}", self.codec.suffix()),
            // Log Service's names: .snappy.csv.
            None if self.encoder.tabular() && self.codec == Codec::Snappy => {
                format!("{}{}", self.codec.suffix(), self.encoder.default_suffix())
            }
            None => format!("{}{}", self.encoder.default_suffix(), self.codec.suffix()),
        }
    }
}

/// `url()` with the scheme `https()` gives one without, and an Alibaba OSS
/// endpoint (`oss-<region>[-internal].aliyuncs.com`, as logstash-output-oss
/// takes it) turned into its S3-compatible twin (`s3.oss-...`), with the
/// region it names for signing.
fn endpoint(url: &str, https: Option<&str>) -> Result<(String, Option<String>), String> {
    let with_scheme = match (url.split_once("://"), https) {
        (_, _) if url.is_empty() => return Ok((String::new(), None)),
        (None, Some("yes")) => format!("https://{url}"),
        (None, Some("no")) => format!("http://{url}"),
        (Some(("http", _)), Some("yes")) => {
            return Err(format!(
                "url(\"{url}\") is plain http, but https(yes) (secure-connection-enabled) asks for TLS"
            ));
        }
        (Some(("https", _)), Some("no")) => {
            return Err(format!(
                "url(\"{url}\") is https, but https(no) (secure-connection-enabled) asks for plain http"
            ));
        }
        _ => url.to_string(),
    };
    let Some((scheme, rest)) = with_scheme.split_once("://") else {
        return Ok((with_scheme, None));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || p.is_empty() => (h, Some(p)),
        _ => (authority, None),
    };
    let region = host
        .strip_suffix(".aliyuncs.com")
        .and_then(|h| h.strip_prefix("oss-"))
        .filter(|r| !r.contains('.'))
        .map(|r| r.strip_suffix("-internal").unwrap_or(r).to_string());
    match region {
        Some(region) => {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            Ok((format!("{scheme}://s3.{host}{port}{path}"), Some(region)))
        }
        None => Ok((with_scheme, None)),
    }
}

/// `partition-format()` and `partition-time()`, as a template.
fn partition(v: &Values) -> Result<Option<Template>, BuildError> {
    let Some(format) = v.str("partition-format").filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    let err = |m: String| BuildError::new(Some("partition-format"), m);
    if format.starts_with('/') || format.ends_with('/') {
        return Err(err(format!(
            "partition-format(\"{format}\") cannot start or end with /"
        )));
    }
    if format.contains(['"', '\\']) {
        return Err(err(format!(
            "partition-format(\"{format}\") cannot hold a quote or a backslash"
        )));
    }
    if v.template("object-key-timestamp").is_some() {
        return Err(err(
            "partition-format() and object-key-timestamp() exclude each other".into(),
        ));
    }
    let from = match v.str("partition-time") {
        Some("message") => "--stamp",
        _ => "--recvd",
    };
    Template::compile(&format!("$(strftime {from} \"{format}\")"))
        .map(Some)
        .map_err(|e| err(format!("partition-format(\"{format}\"): {e}")))
}

/// `format()`, or sls-shipper()'s `shipping-format()`.
fn format_of(v: &Values) -> &str {
    v.str("shipping-format")
        .or(v.str("format"))
        .unwrap_or("template")
}

/// `compression()`, or sls-shipper()'s `shipping-compression()`.
fn codec_of(v: &Values) -> Codec {
    v.str("shipping-compression")
        .or(v.str("compression"))
        .and_then(Codec::from_name)
        .unwrap_or_default()
}

/// The `format()` and its options.
fn encoder(v: &Values) -> Result<Encoder, BuildError> {
    let topic = v.str("topic").unwrap_or("");
    match format_of(v) {
        "parquet" => {
            let codec = codec_of(v);
            Parquet::new(v.flags("columns"), codec, topic)
                .map(|p| Encoder::Parquet(Box::new(p)))
                .map_err(|e| BuildError::new(Some("columns"), e))
        }
        "json" => Encoder::json(
            v.str("json-options")
                .unwrap_or("--scope rfc5424 --scope nv-pairs"),
            topic,
        )
        .map_err(|e| BuildError::new(Some("json-options"), e)),
        "csv" => {
            let char_of = |name: &'static str, default: u8| -> Result<u8, BuildError> {
                match v.str(name).map(str::as_bytes) {
                    None | Some([]) => Ok(default),
                    Some([c]) => Ok(*c),
                    Some(_) => Err(BuildError::new(
                        Some(name),
                        format!("{name}() takes a single character"),
                    )),
                }
            };
            let quote = char_of("quote", b'"')?;
            let options = CsvOptions {
                columns: v.flags("columns").to_vec(),
                delimiter: char_of("delimiter", b',')?,
                quote,
                escape: char_of("escape", quote)?,
                null_value: v.str("null-value").unwrap_or("").to_string(),
                header: v.bool("header").unwrap_or(false),
                topic: topic.to_string(),
            };
            Encoder::csv(options).map_err(|e| BuildError::new(Some("columns"), e))
        }
        _ => Ok(Encoder::Template(match v.template("template") {
            Some(t) => t.clone(),
            None => Template::compile("${MESSAGE}\n").expect("built-in template compiles"),
        })),
    }
}

fn build(v: &Values) -> Built {
    let mut errors = Vec::new();
    // yes, no or auto, the boolean words read as every yes/no option's.
    let https = v.str("https").map(|w| match parse_bool(w) {
        Some(true) => "yes",
        Some(false) => "no",
        None => w,
    });
    let (url, oss_region) = match endpoint(v.str("url").unwrap_or(""), https) {
        Ok(u) => u,
        Err(e) => return Err(vec![BuildError::new(Some("url"), e)]),
    };
    let url = url.as_str();
    let target = if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            errors.push(BuildError::new(Some("url"), format!("url(\"{url}\"): a file:// url needs an absolute path, as in file:///var/spool/objects")));
        }
        let mut root = PathBuf::from(path);
        if let Some(b) = v.str("bucket").filter(|b| !b.is_empty()) {
            root.push(b);
        }
        Target::Local(root)
    } else {
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            errors.push(BuildError::new(
                Some("url"),
                format!("url(\"{url}\"): expected http://, https:// or file://"),
            ));
        }
        let bucket = v.str("bucket").unwrap_or("").to_string();
        if bucket.is_empty() {
            errors.push(BuildError::new(
                None,
                "object-store() needs bucket() for an S3 store",
            ));
        }
        let nonempty = |name: &str| v.str(name).filter(|s| !s.is_empty()).map(str::to_string);
        let (ak, sk) = (nonempty("access-key"), nonempty("secret-key"));
        if ak.is_some() != sk.is_some() {
            errors.push(BuildError::new(
                Some(if ak.is_some() {
                    "access-key"
                } else {
                    "secret-key"
                }),
                "access-key() and secret-key() go together",
            ));
        }
        let sse = match v.str("server-side-encryption") {
            Some("AES256") => Some(s3::Sse::Aes256),
            Some("aws:kms") => Some(s3::Sse::Kms {
                key_id: nonempty("kms-key"),
            }),
            _ => None,
        };
        if sse.is_none() && nonempty("kms-key").is_some() {
            errors.push(BuildError::new(
                Some("kms-key"),
                "kms-key() needs server-side-encryption(\"aws:kms\")",
            ));
        }
        Target::S3(Box::new(S3Target {
            endpoint: (!url.is_empty()).then(|| url.to_string()),
            bucket,
            region: (v.str("region").map(str::to_string))
                .or(oss_region)
                .unwrap_or_else(|| "us-east-1".into()),
            access_key: ak,
            secret_key: sk.map(Secret),
            session_token: nonempty("session-token").map(Secret),
            role: nonempty("role"),
            path_style: match v.str("path-style") {
                Some("yes") => s3::PathStyle::Yes,
                Some("no") => s3::PathStyle::No,
                _ => s3::PathStyle::Auto,
            },
            ca_file: v
                .group("tls")
                .and_then(|t| t.str("ca-file"))
                .map(PathBuf::from),
            storage_class: nonempty("storage-class"),
            canned_acl: nonempty("canned-acl"),
            sse,
            content_type: nonempty("content-type"),
            max_connections: v.int("max-connections").unwrap_or(1024) as usize,
            checksum: match v.str("use-checksum") {
                Some("sha256") => s3::Checksum::Sha256,
                Some("md5") => s3::Checksum::Md5,
                Some("none") | Some("when_required") => s3::Checksum::None,
                _ => s3::Checksum::Auto,
            },
        }))
    };
    let Some(object_key) = v.template("object-key").cloned() else {
        errors.push(BuildError::new(
            None,
            "object-store() needs object-key(), as in object-key(\"logs/${HOST}\")",
        ));
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let persist_name = match v.str("persist-name").filter(|p| !p.is_empty()) {
        Some(p) => p.to_string(),
        None => format!(
            "object-store,{url},{},{}",
            v.str("bucket").unwrap_or(""),
            object_key.text()
        ),
    };
    let partition = match partition(v) {
        Ok(p) => p,
        Err(e) => return Err(vec![e]),
    };
    let encoder = match encoder(v) {
        Ok(e) => e,
        Err(e) => return Err(vec![e]),
    };
    let rotation = v.str("rotation-strategy").unwrap_or("size_and_time");
    let spool_dir = match v.str("spool-dir").filter(|d| !d.is_empty()) {
        Some(d) if !d.starts_with('/') => {
            return Err(vec![BuildError::new(
                Some("spool-dir"),
                format!("spool-dir(\"{d}\") needs an absolute path"),
            )]);
        }
        d => d.map(PathBuf::from),
    };
    Ok(Arc::new(ObjectOptions {
        target,
        object_key,
        object_key_timestamp: v.template("object-key-timestamp").cloned(),
        partition,
        object_key_suffix: v.str("object-key-suffix").map(str::to_string),
        codec: match encoder {
            Encoder::Parquet(_) => Codec::None,
            _ => codec_of(v),
        },
        encoder,
        row_group_size: v.size("parquet-row-group-size").unwrap_or(8 << 20),
        compress_level: v.int("compresslevel").unwrap_or(6) as u32,
        chunk_size: v.size("chunk-size").unwrap_or(5 << 20),
        max_object_size: match (rotation, v.int("shipping-size")) {
            ("time", _) => 5120 << 30,
            (_, Some(mb)) => mb as u64 * 1_000_000,
            _ => v.size("max-object-size").unwrap_or(5120 << 30),
        },
        upload_threads: v.int("upload-threads").unwrap_or(8) as usize,
        max_pending_uploads: v.int("max-pending-uploads").unwrap_or(32) as usize,
        max_age: (v
            .int("shipping-time")
            .map(|s| Duration::from_secs(s as u64)))
        .or(v.duration("max-object-age"))
        .filter(|d| !d.is_zero() && rotation != "size"),
        flush_grace: v
            .duration("flush-grace-period")
            .unwrap_or(Duration::from_secs(3600)),
        persist_name,
        spool_dir,
        recover: v.bool("recover").unwrap_or(true),
        spool_size_option: v.size("spool-size"),
        spool_size: 0,
        spool_full_drops: v.str("spool-full") == Some("drop-newest"),
        max_open_objects: v.int("max-open-objects").unwrap_or(1024) as usize,
        time_zone: v.zone("time-zone").cloned(),
        frac_digits: v.int("frac-digits").map(|n| n as u8),
        queue: QueueLimits::from_values(v),
    }))
}

impl Destination for ObjectOptions {
    fn fingerprint(&self, fp: &mut Fingerprint) {
        match &self.target {
            Target::Local(root) => {
                fp.add("local", root.as_os_str().as_encoded_bytes());
            }
            Target::S3(t) => {
                fp.add_debug("endpoint", &t.endpoint)
                    .add("bucket", &t.bucket)
                    .add("region", &t.region)
                    .add_debug("access-key", &t.access_key)
                    // Secrets feed the digest as bytes, never through a formatter.
                    .add(
                        "secret-key",
                        t.secret_key.as_ref().map_or("", |s| s.0.as_str()),
                    )
                    .add(
                        "session-token",
                        t.session_token.as_ref().map_or("", |s| s.0.as_str()),
                    )
                    .add_debug("role", &t.role)
                    .add_debug("path-style", &t.path_style)
                    .add_debug("ca-file", &t.ca_file)
                    .add_debug("storage-class", &t.storage_class)
                    .add_debug("canned-acl", &t.canned_acl)
                    .add_debug("sse", &t.sse)
                    .add_debug("content-type", &t.content_type)
                    .add_debug("checksum", &t.checksum);
            }
        }
        fp.add("object-key", self.object_key.text())
            .add(
                "object-key-timestamp",
                self.object_key_timestamp.as_ref().map_or("", |t| t.text()),
            )
            .add(
                "partition",
                self.partition.as_ref().map_or("", |t| t.text()),
            )
            .add("object-key-suffix", self.suffix())
            .add_debug("format", &self.encoder)
            .add_debug("compression", &(self.codec, self.compress_level))
            .add_debug("sizes", &(self.chunk_size, self.max_object_size))
            .add_debug("uploads", &(self.upload_threads, self.max_pending_uploads))
            .add_debug("flush-grace-period", &self.flush_grace)
            .add_debug("max-object-age", &self.max_age)
            .add("persist-name", &self.persist_name)
            .add_debug("spool-dir", &(&self.spool_dir, self.recover))
            .add_debug("spool", &(self.spool_size_option, self.spool_full_drops))
            .add_debug("max-open-objects", &self.max_open_objects)
            .add_debug("time-zone", &self.time_zone)
            .add_debug("frac-digits", &self.frac_digits)
            .add_debug("queue", &self.queue);
    }

    fn queue_limits(&self) -> QueueLimits {
        self.queue
    }

    fn owner(&self) -> Option<String> {
        Some(format!("spool:{}", self.persist_name))
    }

    fn start(&self, cx: StartContext, render: RenderContext) -> std::io::Result<Worker> {
        let dir = crate::destinations::spool_dir(
            "object-store",
            self.spool_dir
                .as_deref()
                .unwrap_or(&cx.state_dir.join("spool")),
            &self.persist_name,
        );
        let mut opts = self.clone();
        opts.spool_size = self
            .spool_size_option
            .unwrap_or_else(|| free_space(&cx.state_dir) / 4)
            .max(1 << 20);
        let opts = Arc::new(opts);
        let id = cx.id.clone();
        let stats = cx.stats.store.get_or_init(Default::default).clone();
        worker::spawn(cx, move || {
            let store = make_store(&opts)?;
            // The spool is counted afresh by the driver that opens it.
            stats.spool_bytes.sub(stats.spool_bytes.get());
            let pool = Arc::new(upload::Pool::new(
                store,
                id.clone(),
                opts.upload_threads,
                opts.max_pending_uploads,
                opts.chunk_size,
                stats.clone(),
            ));
            driver::ObjectDriver::start(opts.clone(), render.clone(), dir.clone(), pool)
        })
    }
}

fn make_store(opts: &ObjectOptions) -> Result<Store, crate::destinations::Failure> {
    use crate::destinations::Failure;
    match &opts.target {
        Target::Local(root) => Ok(Store::Local(local::LocalStore::new(root.clone()))),
        Target::S3(t) => {
            let creds = s3::credentials::Options {
                access_key: t.access_key.clone(),
                secret_key: t.secret_key.as_ref().map(|s| s.0.clone()),
                session_token: t.session_token.as_ref().map(|s| s.0.clone()),
                role: t.role.clone().map(s3::credentials::AssumeRole::new),
                region: t.region.clone(),
            };
            let provider =
                s3::credentials::Provider::new(creds, s3::credentials::Inputs::from_process())
                    .map_err(|e| Failure::permanent(e.to_string()))?;
            let mut config = s3::Config::new(t.bucket.clone(), Arc::new(provider));
            config.endpoint = t.endpoint.clone();
            config.region = t.region.clone();
            config.path_style = t.path_style;
            config.ca_file = t.ca_file.clone();
            config.storage_class = t.storage_class.clone();
            config.canned_acl = t.canned_acl.clone();
            config.server_side_encryption = t.sse.clone();
            config.content_type = t.content_type.clone();
            config.checksum = t.checksum;
            config.max_connections = t.max_connections;
            let client = s3::Client::new(config).map_err(|e| Failure::Parked {
                code: None,
                message: e.to_string(),
                hint: None,
            })?;
            Ok(Store::S3(client))
        }
    }
}

/// A fresh opaque id (spool objects, local uploads, temporary files).
pub(crate) fn random_id() -> String {
    let mut b = [0u8; 12];
    // Without randomness ids still differ by time and pid; uniqueness matters,
    // not secrecy.
    if getrandom::getrandom(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b[..8].copy_from_slice(&(t as u64).to_le_bytes());
        b[8..].copy_from_slice(&std::process::id().to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Free bytes on the file system of `dir`; 4 GiB when it cannot be told.
pub(crate) fn free_space(dir: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    const UNKNOWN: u64 = 4 << 30;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return UNKNOWN;
    };
    // SAFETY: statvfs only writes into the struct we pass; the path is
    // NUL-terminated.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return UNKNOWN;
    }
    (s.f_bavail as u64).saturating_mul(s.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn oss_endpoints_become_their_s3_twins_and_name_the_region() {
        let e = |url: &str, https: Option<&str>| endpoint(url, https);
        assert_eq!(
            e("http://oss-cn-hangzhou-internal.aliyuncs.com", Some("no")),
            Ok((
                "http://s3.oss-cn-hangzhou-internal.aliyuncs.com".into(),
                Some("cn-hangzhou".into())
            ))
        );
        assert_eq!(
            e("oss-eu-central-1.aliyuncs.com", Some("yes")),
            Ok((
                "https://s3.oss-eu-central-1.aliyuncs.com".into(),
                Some("eu-central-1".into())
            ))
        );
        // Other hosts stay as they are, with the scheme https() gives.
        assert_eq!(
            e("minio.example:9000", Some("no")),
            Ok(("http://minio.example:9000".into(), None))
        );
        assert_eq!(
            e("https://s3.oss-cn-beijing.aliyuncs.com", Some("auto")),
            Ok(("https://s3.oss-cn-beijing.aliyuncs.com".into(), None))
        );
        assert_eq!(e("", Some("yes")), Ok((String::new(), None)));
        assert!(e("https://oss-cn-hangzhou.aliyuncs.com", Some("no")).is_err());
        assert!(e("http://oss-cn-hangzhou.aliyuncs.com", Some("yes")).is_err());
    }
}
