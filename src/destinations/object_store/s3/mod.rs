//! The S3 wire client: the requests an object-store driver needs, signed with
//! SigV4, over the shared pooled [`HttpClient`].
//!
//! It does not retry, spool or decide object keys: each call is one request
//! (or one paginated listing) and says what happened through [`S3Error`].
//!
//! # Payload integrity
//! Hashing the payload is most of an upload client's CPU (see PERF.md), so
//! `use-checksum()` ([`Checksum`]) picks how the store checks a body:
//! - `sha256`: the body's SHA-256 is signed (`x-amz-content-sha256`); the store
//!   rejects a body that does not match, and nobody on the path can alter it.
//!   With SHA-NI it costs ~0.8 ms/MiB, less than MD5.
//! - `md5`: `UNSIGNED-PAYLOAD` plus `Content-MD5`, for stores whose support of
//!   the newer headers is unknown; every S3-compatible store checks it.
//! - `none`: `UNSIGNED-PAYLOAD` alone.
//! - `auto` (the default): `none` over https, where TLS records already carry a
//!   MAC, and over plain http to a loopback address, where nobody is on the
//!   path; `sha256` over plain http elsewhere, where signing the payload is
//!   the only protection the body has.
//!
//! Metadata requests (listings, CompleteMultipartUpload's small XML) always
//! sign their body's hash. Bodies are [`Bytes`] from the caller to the socket,
//! never copied.
//!
//! # Addressing
//! Keys are arbitrary UTF-8: every byte but `A-Z a-z 0-9 - . _ ~ /` is
//! percent-encoded once, which is both the wire path and SigV4's canonical URI
//! for S3 (signed with single encoding and no path normalisation, so `a//b` and
//! `./x` stay what they are). [`PathStyle::Auto`] uses virtual-hosted style
//! (`bucket.s3.region.amazonaws.com`) only on AWS endpoints with a bucket name
//! that is a valid DNS label (no dots over https, whose wildcard certificate
//! would not match), and path style (`host/bucket/key`) for everything else:
//! IP addresses, localhost, custom ports and other S3-compatible stores.

pub mod credentials;
mod error;
mod signing;
mod xml;

pub use error::{S3Error, ServiceError};

use crate::destinations::retry::Failure;
use crate::net::http::{BuildError, HttpClient, Response};
use bytes::Bytes;
use credentials::Provider;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use sha2::Digest;
use signing::PayloadHash;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How bucket and key map onto the URL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PathStyle {
    /// `https://host/bucket/key`.
    Yes,
    /// `https://bucket.host/key`.
    No,
    /// See the module doc.
    #[default]
    Auto,
}

/// The user metadata naming the writer of an object: the spool object it
/// was uploaded from. A write retried after its reply was lost finds the key
/// taken; this tells its own earlier success from another writer's object.
pub const WRITER: &str = "sluice-object";
const WRITER_HEADER: &str = "x-amz-meta-sluice-object";

/// How the store checks a payload's integrity (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Checksum {
    #[default]
    Auto,
    Sha256,
    Md5,
    None,
}

/// Server-side encryption of new objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sse {
    /// `AES256`: keys managed by S3.
    Aes256,
    /// `aws:kms`, with the given key or the bucket's default KMS key.
    Kms { key_id: Option<String> },
}

/// What the client needs to know; the driver fills it from the s3() options.
#[derive(Clone, Debug)]
pub struct Config {
    /// `http(s)://host[:port][/prefix]`; `None` means
    /// `https://s3.<region>.amazonaws.com`.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub path_style: PathStyle,
    pub credentials: Arc<Provider>,
    /// Extra CA certificates (PEM) trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    pub storage_class: Option<String>,
    pub canned_acl: Option<String>,
    pub server_side_encryption: Option<Sse>,
    pub content_type: Option<String>,
    pub checksum: Checksum,
    /// Deadline of one request, from connecting to the last response byte.
    pub timeout: Duration,
    /// Entries per listing page (`max-keys`, `max-parts`, `max-uploads`);
    /// `None` leaves the store's default (1000).
    pub list_page_size: Option<u32>,
    /// Requests in flight at once, each holding a connection
    /// (`max-connections()`).
    pub max_connections: usize,
}

impl Config {
    /// A config with the defaults: AWS endpoint, `us-east-1`, auto addressing,
    /// auto checksum, 60 s per request.
    pub fn new(bucket: impl Into<String>, credentials: Arc<Provider>) -> Config {
        Config {
            endpoint: None,
            bucket: bucket.into(),
            region: "us-east-1".into(),
            path_style: PathStyle::Auto,
            credentials,
            ca_file: None,
            storage_class: None,
            canned_acl: None,
            server_side_encryption: None,
            content_type: None,
            checksum: Checksum::Auto,
            timeout: Duration::from_secs(60),
            list_page_size: None,
            max_connections: 1024,
        }
    }
}

/// Why a [`Config`] cannot make a client.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("url(\"{url}\"): {reason}")]
    Endpoint { url: String, reason: String },
    #[error("bucket(\"{0}\"): not a valid bucket name")]
    Bucket(String),
    #[error(transparent)]
    Tls(#[from] BuildError),
}

/// A part of a multipart upload, as ListParts reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    /// Empty when the store does not report it (s3s-fs does not).
    pub etag: String,
    pub size: u64,
}

/// An unfinished multipart upload, as ListMultipartUploads reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub key: String,
    pub upload_id: String,
    /// As the store wrote it (ISO 8601).
    pub initiated: String,
}

/// An object, as ListObjectsV2 reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub size: u64,
}

/// The S3 client. Cheap to clone; clones share connections and credentials.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    http: HttpClient,
    /// `scheme://authority` requests go to.
    origin: String,
    /// Path before the key: `/prefix/bucket/` (path style) or `/prefix/`.
    base_path: String,
    sign_payload: bool,
    /// One permit per request in flight: `max-connections()`.
    connections: tokio::sync::Semaphore,
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl Client {
    pub fn new(config: Config) -> Result<Client, ConfigError> {
        let http = HttpClient::new(config.ca_file.as_deref())?;
        Client::with_http(config, http)
    }

    /// A client sharing `http`'s connection pool (its CA file wins over the
    /// config's).
    pub fn with_http(config: Config, http: HttpClient) -> Result<Client, ConfigError> {
        if !valid_bucket(&config.bucket) {
            return Err(ConfigError::Bucket(config.bucket.clone()));
        }
        let url = config
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", config.region));
        let bad = |reason: &str| ConfigError::Endpoint {
            url: url.clone(),
            reason: reason.into(),
        };
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if uri.query().is_some() {
            return Err(bad("a query string has no place in an endpoint"));
        }
        let host = authority.host();
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        let path_style = match config.path_style {
            PathStyle::Yes => true,
            PathStyle::No => false,
            PathStyle::Auto => {
                // AWS, and Alibaba OSS, which takes virtual-hosted style only.
                let aws = host.ends_with(".amazonaws.com")
                    || host.ends_with(".amazonaws.com.cn")
                    || host.ends_with(".aliyuncs.com");
                // Capitals, underscores (old buckets) and, over https, dots
                // make a host name the wildcard certificate does not cover.
                let dns_label = config.bucket.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b == b'-'
                        || (b == b'.' && !https)
                });
                !(aws && ip.is_none() && authority.port().is_none() && dns_label)
            }
        };
        let scheme = if https { "https" } else { "http" };
        let origin = if path_style {
            format!("{scheme}://{authority}")
        } else {
            format!("{scheme}://{}.{authority}", config.bucket)
        };
        let mut base_path = uri.path().trim_end_matches('/').to_owned();
        base_path.push('/');
        if path_style {
            base_path.push_str(&encode_key(&config.bucket));
            base_path.push('/');
        }
        let loopback =
            ip.is_some_and(|ip| ip.is_loopback()) || host.eq_ignore_ascii_case("localhost");
        let sign_payload = match config.checksum {
            Checksum::Sha256 => true,
            Checksum::Md5 | Checksum::None => false,
            Checksum::Auto => !https && !loopback,
        };
        let connections = tokio::sync::Semaphore::new(config.max_connections.max(1));
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                http,
                origin,
                base_path,
                sign_payload,
                connections,
            }),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.inner.config.bucket
    }

    /// Checks at start-up that the bucket exists and the credentials reach it.
    pub async fn head_bucket(&self) -> Result<(), S3Error> {
        let req = self.request(Method::HEAD, None, &[]);
        self.send(req, Payload::Empty).await.map(drop)
    }

    /// Writes a whole object, naming its `writer` in its metadata ([`WRITER`]).
    /// With `if_none_match`, an existing object is left alone and
    /// [`S3Error::KeyExists`] returned.
    pub async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        writer: &str,
        if_none_match: bool,
    ) -> Result<(), S3Error> {
        let mut req = self.request(Method::PUT, Some(key), &[]);
        self.object_headers(&mut req.headers, writer);
        if if_none_match {
            req.headers
                .insert(http::header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        }
        self.send(req, Payload::Data(body))
            .await
            .map_err(|e| precondition(e, key))
            .map(drop)
    }

    /// Starts a multipart upload of an object naming its `writer`; returns
    /// the upload id.
    pub async fn create_multipart_upload(
        &self,
        key: &str,
        writer: &str,
    ) -> Result<String, S3Error> {
        let mut req = self.request(Method::POST, Some(key), &[("uploads", "")]);
        self.object_headers(&mut req.headers, writer);
        let resp = self.send(req, Payload::Empty).await?;
        let root = parse_xml(&resp.body)?;
        Ok(root.require("UploadId").map_err(malformed)?.to_owned())
    }

    /// The writer an object names ([`WRITER`]): `Ok(None)` when there is no
    /// such object, `Some("")` when it names none.
    pub async fn object_writer(&self, key: &str) -> Result<Option<String>, S3Error> {
        let req = self.request(Method::HEAD, Some(key), &[]);
        match self.send(req, Payload::Empty).await {
            Ok(resp) => Ok(Some(
                resp.headers
                    .get(WRITER_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
            )),
            Err(S3Error::Service(e)) if e.status == StatusCode::NOT_FOUND => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Uploads part `part_number` (1..=10000); returns its ETag.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Bytes,
    ) -> Result<String, S3Error> {
        let number = part_number.to_string();
        let req = self.request(
            Method::PUT,
            Some(key),
            &[("partNumber", &number), ("uploadId", upload_id)],
        );
        let resp = self
            .send(req, Payload::Data(body))
            .await
            .map_err(|e| no_such_upload(e, key, upload_id))?;
        resp.headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| malformed(xml::XmlError("UploadPart answer has no ETag".into())))
    }

    /// Completes a multipart upload from `parts` (number, ETag), in order.
    /// With `if_none_match`, an existing object is left alone and
    /// [`S3Error::KeyExists`] returned (the upload stays open).
    pub async fn complete_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        if_none_match: bool,
    ) -> Result<(), S3Error> {
        let mut req = self.request(Method::POST, Some(key), &[("uploadId", upload_id)]);
        req.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        if if_none_match {
            req.headers
                .insert(http::header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        }
        let body = Bytes::from(xml::complete_multipart_upload(parts));
        let result = async {
            let resp = self.send(req, Payload::Metadata(body)).await?;
            // A 200 can still carry an <Error>: S3 commits to the status
            // before the (slow) assembly of the parts has finished.
            let root = parse_xml(&resp.body)?;
            if root.name == "Error" {
                return Err(service_error(&resp, Some(&root)));
            }
            Ok(())
        };
        result
            .await
            .map_err(|e| precondition(no_such_upload(e, key, upload_id), key))
    }

    /// Abandons a multipart upload and frees its parts.
    pub async fn abort_multipart_upload(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        let req = self.request(Method::DELETE, Some(key), &[("uploadId", upload_id)]);
        self.send(req, Payload::Empty)
            .await
            .map_err(|e| no_such_upload(e, key, upload_id))
            .map(drop)
    }

    /// Every part uploaded so far, by part number.
    pub async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<Part>, S3Error> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.page_size();
            let mut query = vec![("uploadId", upload_id)];
            if let Some(p) = &page {
                query.push(("max-parts", p));
            }
            if let Some(m) = &marker {
                query.push(("part-number-marker", m));
            }
            let req = self.request(Method::GET, Some(key), &query);
            let resp = self
                .send(req, Payload::Empty)
                .await
                .map_err(|e| no_such_upload(e, key, upload_id))?;
            let root = parse_xml(&resp.body)?;
            for p in root.children("Part") {
                parts.push(Part {
                    number: p.number("PartNumber").map_err(malformed)?,
                    etag: p.text_of("ETag").unwrap_or_default().to_owned(),
                    size: p.number("Size").map_err(malformed)?,
                });
            }
            match next_marker(&root, "NextPartNumberMarker", &marker)? {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    /// Unfinished multipart uploads of keys starting with `prefix`.
    pub async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<Upload>, S3Error> {
        let mut uploads = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let page = self.page_size();
            let mut query = vec![("uploads", ""), ("prefix", prefix)];
            if let Some(p) = &page {
                query.push(("max-uploads", p));
            }
            if let Some((key, id)) = &markers {
                query.push(("key-marker", key));
                query.push(("upload-id-marker", id));
            }
            let req = self.request(Method::GET, None, &query);
            let resp = self.send(req, Payload::Empty).await?;
            let root = parse_xml(&resp.body)?;
            for u in root.children("Upload") {
                uploads.push(Upload {
                    key: u.require("Key").map_err(malformed)?.to_owned(),
                    upload_id: u.require("UploadId").map_err(malformed)?.to_owned(),
                    initiated: u.text_of("Initiated").unwrap_or_default().to_owned(),
                });
            }
            if !root.flag("IsTruncated") {
                break;
            }
            let next = (
                root.text_of("NextKeyMarker").unwrap_or_default().to_owned(),
                root.text_of("NextUploadIdMarker")
                    .unwrap_or_default()
                    .to_owned(),
            );
            if next.0.is_empty() || markers.as_ref() == Some(&next) {
                return Err(malformed(xml::XmlError(
                    "ListMultipartUploads is truncated but gives no new marker".into(),
                )));
            }
            markers = Some(next);
        }
        Ok(uploads)
    }

    /// Objects whose keys start with `prefix` (ListObjectsV2), in key order.
    pub async fn list_objects(&self, prefix: &str) -> Result<Vec<Object>, S3Error> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.page_size();
            let mut query = vec![("list-type", "2"), ("prefix", prefix)];
            if let Some(p) = &page {
                query.push(("max-keys", p));
            }
            if let Some(t) = &token {
                query.push(("continuation-token", t));
            }
            let req = self.request(Method::GET, None, &query);
            let resp = self.send(req, Payload::Empty).await?;
            let root = parse_xml(&resp.body)?;
            for c in root.children("Contents") {
                objects.push(Object {
                    key: c.require("Key").map_err(malformed)?.to_owned(),
                    size: c.number("Size").map_err(malformed)?,
                });
            }
            match next_marker(&root, "NextContinuationToken", &token)? {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(objects)
    }

    fn page_size(&self) -> Option<String> {
        self.inner.config.list_page_size.map(|n| n.to_string())
    }

    /// Headers that describe a new object (PutObject, CreateMultipartUpload).
    fn object_headers(&self, headers: &mut HeaderMap, writer: &str) {
        let config = &self.inner.config;
        if let Ok(v) = HeaderValue::from_str(writer) {
            headers.insert(HeaderName::from_static(WRITER_HEADER), v);
        }
        let mut set = |name: &'static str, value: &str| {
            // Option values were validated at config load; a value that is
            // not a valid header is left out rather than sent mangled.
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        if let Some(v) = &config.storage_class {
            set("x-amz-storage-class", v);
        }
        if let Some(v) = &config.canned_acl {
            set("x-amz-acl", v);
        }
        match &config.server_side_encryption {
            Some(Sse::Aes256) => set("x-amz-server-side-encryption", "AES256"),
            Some(Sse::Kms { key_id }) => {
                set("x-amz-server-side-encryption", "aws:kms");
                if let Some(k) = key_id {
                    set("x-amz-server-side-encryption-aws-kms-key-id", k);
                }
            }
            None => {}
        }
        if let Some(v) = &config.content_type {
            set("content-type", v);
        }
    }

    fn request(&self, method: Method, key: Option<&str>, query: &[(&str, &str)]) -> Draft {
        let mut url = String::with_capacity(128);
        url.push_str(&self.inner.origin);
        url.push_str(&self.inner.base_path);
        if let Some(key) = key {
            url.push_str(&encode_key(key));
        }
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(&encode_component(value));
        }
        Draft {
            method,
            url,
            headers: HeaderMap::new(),
        }
    }

    /// Signs and sends; a non-2xx answer becomes [`S3Error::Service`].
    async fn send(&self, draft: Draft, payload: Payload) -> Result<Response, S3Error> {
        let inner = &self.inner;
        // Taken before signing, so a wait does not age the signature; never
        // closed, the semaphore lives as long as the client.
        let _connection = inner.connections.acquire().await;
        let creds = inner.config.credentials.credentials().await?;
        let Draft {
            method,
            url,
            mut headers,
        } = draft;
        let (body, hash) = match payload {
            Payload::Empty => (Bytes::new(), EMPTY_SHA256.to_owned()),
            Payload::Metadata(body) => {
                let hash = hex(&sha2::Sha256::digest(&body));
                (body, hash)
            }
            Payload::Data(body) => {
                if inner.sign_payload {
                    let hash = hex(&sha2::Sha256::digest(&body));
                    (body, hash)
                } else {
                    if inner.config.checksum == Checksum::Md5 {
                        let md5 = base64(&md5::Md5::digest(&body));
                        if let Ok(v) = HeaderValue::from_str(&md5) {
                            headers.insert(HeaderName::from_static("content-md5"), v);
                        }
                    }
                    (body, "UNSIGNED-PAYLOAD".to_owned())
                }
            }
        };
        let mut request = Request::builder()
            .method(method)
            .uri(url.as_str())
            .body(body)
            .map_err(|e| S3Error::Transport(Failure::permanent(format!("request {url}: {e}"))))?;
        *request.headers_mut() = headers;
        let payload = if hash == "UNSIGNED-PAYLOAD" {
            PayloadHash::Unsigned
        } else {
            PayloadHash::Sha256(hash)
        };
        let region = &inner.config.region;
        signing::sign_request(
            &mut request,
            &creds,
            region,
            "s3",
            payload,
            SystemTime::now(),
        )?;
        let resp = inner.http.send(request, inner.config.timeout).await?;
        if resp.status.is_success() {
            return Ok(resp);
        }
        let root = xml::parse(&resp.body).ok();
        let err = service_error(&resp, root.as_ref());
        if let S3Error::Service(e) = &err
            && matches!(
                e.code.as_str(),
                "ExpiredToken" | "InvalidToken" | "TokenRefreshRequired"
            )
        {
            // The store judged the cached session stale before its stated
            // expiry; the next request fetches fresh credentials.
            inner.config.credentials.invalidate().await;
        }
        Err(err)
    }
}

/// A request before signing.
struct Draft {
    method: Method,
    url: String,
    headers: HeaderMap,
}

enum Payload {
    Empty,
    /// A small body we always sign (listings, CompleteMultipartUpload).
    Metadata(Bytes),
    /// Object data, checked per [`Checksum`].
    Data(Bytes),
}

fn parse_xml(body: &[u8]) -> Result<xml::Element, S3Error> {
    xml::parse(body).map_err(malformed)
}

/// A 2xx body we cannot read is most likely cut short on the way: retry.
fn malformed(e: xml::XmlError) -> S3Error {
    S3Error::Transport(Failure::Retry {
        code: Some("MalformedResponse".into()),
        message: e.to_string(),
        retry_after: None,
    })
}

fn next_marker(
    root: &xml::Element,
    name: &str,
    previous: &Option<String>,
) -> Result<Option<String>, S3Error> {
    if !root.flag("IsTruncated") {
        return Ok(None);
    }
    match root.text_of(name) {
        Some(m) if !m.is_empty() && previous.as_deref() != Some(m) => Ok(Some(m.to_owned())),
        _ => Err(malformed(xml::XmlError(format!(
            "<{}> is truncated but gives no new <{name}>",
            root.name
        )))),
    }
}

fn service_error(resp: &Response, root: Option<&xml::Element>) -> S3Error {
    let header = |name: &str| {
        resp.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let error = root.filter(|r| r.name == "Error");
    let code = error
        .and_then(|e| e.text_of("Code"))
        .map(str::to_owned)
        .unwrap_or_else(|| code_for_status(resp.status).to_owned());
    let message = error
        .and_then(|e| e.text_of("Message"))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            resp.status
                .canonical_reason()
                .unwrap_or("unexpected status")
                .to_owned()
        });
    S3Error::Service(ServiceError {
        status: resp.status,
        code,
        message,
        request_id: error
            .and_then(|e| e.text_of("RequestId"))
            .map(str::to_owned)
            .or_else(|| header("x-amz-request-id")),
        retry_after: header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now())),
        bucket_region: header("x-amz-bucket-region")
            .or_else(|| error.and_then(|e| e.text_of("Region")).map(str::to_owned)),
    })
}

/// A HEAD answer has no body, so no code: the status is all there is.
fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        301 | 307 => "PermanentRedirect",
        400 => "BadRequest",
        403 => "AccessDenied",
        404 => "NoSuchBucket",
        412 => "PreconditionFailed",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "UnexpectedStatus",
    }
}

/// Retry-After: seconds, or an HTTP date.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when: SystemTime = chrono::DateTime::parse_from_rfc2822(value).ok()?.into();
    Some(when.duration_since(now).unwrap_or_default())
}

fn precondition(e: S3Error, key: &str) -> S3Error {
    match e {
        S3Error::Service(s)
            if s.code == "PreconditionFailed" || s.status == StatusCode::PRECONDITION_FAILED =>
        {
            S3Error::KeyExists {
                key: key.to_owned(),
            }
        }
        other => other,
    }
}

fn no_such_upload(e: S3Error, key: &str, upload_id: &str) -> S3Error {
    match e {
        S3Error::Service(s) if s.code == "NoSuchUpload" => S3Error::NoSuchUpload {
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            message: s.message,
        },
        other => other,
    }
}

/// S3 bucket names: 3-63 of `a-z 0-9 . -` (older buckets may have capitals
/// and underscores, which path style still reaches).
fn valid_bucket(bucket: &str) -> bool {
    (3..=255).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// URI-encodes a key for the path: every byte but the unreserved set and `/`.
pub fn encode_key(key: &str) -> String {
    encode(key, true)
}

pub(crate) fn encode_component(value: &str) -> String {
    encode(value, false)
}

fn encode(value: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    crate::template::base64(bytes.iter().copied(), &mut out);
    // The alphabet is ASCII.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_encode_once_keeping_slashes() {
        assert_eq!(encode_key("a b/c+d/é~_.-"), "a%20b/c%2Bd/%C3%A9~_.-");
        assert_eq!(encode_component("x/y=z&"), "x%2Fy%3Dz%26");
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        // 2023-11-14T22:13:30Z is 10 s after `now`.
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    fn client(endpoint: Option<&str>, bucket: &str, style: PathStyle) -> Client {
        let mut c = Config::new(bucket, Arc::new(Provider::fixed("ak", "sk", None)));
        c.endpoint = endpoint.map(str::to_owned);
        c.region = "eu-west-1".into();
        c.path_style = style;
        Client::with_http(c, HttpClient::system()).unwrap()
    }

    #[test]
    fn auto_addressing_picks_virtual_hosts_only_on_aws() {
        let aws = client(None, "logs", PathStyle::Auto);
        assert_eq!(
            aws.request(Method::GET, Some("k"), &[]).url,
            "https://logs.s3.eu-west-1.amazonaws.com/k"
        );
        let legacy = client(None, "Old_Logs", PathStyle::Auto);
        assert_eq!(
            legacy.request(Method::GET, None, &[]).url,
            "https://s3.eu-west-1.amazonaws.com/Old_Logs/"
        );
        let dotted = client(None, "my.logs", PathStyle::Auto);
        assert_eq!(
            dotted.request(Method::GET, Some("k"), &[]).url,
            "https://s3.eu-west-1.amazonaws.com/my.logs/k"
        );
        let local = client(Some("http://127.0.0.1:9000/"), "logs", PathStyle::Auto);
        assert_eq!(
            local
                .request(Method::GET, Some("a b"), &[("uploads", "")])
                .url,
            "http://127.0.0.1:9000/logs/a%20b?uploads="
        );
        let forced = client(Some("https://minio.example:9000/s3"), "logs", PathStyle::No);
        assert_eq!(
            forced.request(Method::GET, None, &[]).url,
            "https://logs.minio.example:9000/s3/"
        );
        // OSS takes virtual-hosted style only.
        let oss = client(
            Some("https://s3.oss-cn-hangzhou.aliyuncs.com"),
            "logs",
            PathStyle::Auto,
        );
        assert_eq!(
            oss.request(Method::PUT, Some("k"), &[]).url,
            "https://logs.s3.oss-cn-hangzhou.aliyuncs.com/k"
        );
    }

    #[test]
    fn auto_checksum_signs_only_plain_http_off_loopback() {
        assert!(!client(None, "logs", PathStyle::Auto).inner.sign_payload);
        assert!(
            !client(Some("http://localhost:9000"), "logs", PathStyle::Auto)
                .inner
                .sign_payload
        );
        assert!(
            client(Some("http://10.1.2.3:9000"), "logs", PathStyle::Auto)
                .inner
                .sign_payload
        );
    }

    #[test]
    fn rejects_bad_endpoints_and_buckets() {
        let mk = |url: &str, bucket: &str| {
            let mut c = Config::new(bucket, Arc::new(Provider::fixed("ak", "sk", None)));
            c.endpoint = Some(url.into());
            Client::with_http(c, HttpClient::system()).map(drop)
        };
        assert!(matches!(
            mk("ftp://x", "logs"),
            Err(ConfigError::Endpoint { .. })
        ));
        assert!(matches!(mk("http://x", "a/b"), Err(ConfigError::Bucket(_))));
        assert!(mk("http://x:1", "logs").is_ok());
    }
}
