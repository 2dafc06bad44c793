//! `http()`: messages POSTed (or PUT) to HTTP endpoints in batches, with
//! syslog-ng's option names; `splunk-hec-event()` and `splunk-hec-raw()` are
//! SCL blocks over it (`scl/splunk/splunk.conf`).
//!
//! This module holds the options and what a response means; `driver.rs`
//! batches and sends.

mod driver;

use crate::config::schema::{DriverSpec, Kind, OptionSpec, TimeUnit, Values};
use crate::destinations::Failure;
use crate::destinations::registry::{
    self, BuildError, Built, Destination, DestinationKind, Fingerprint, QueueLimits,
};
use crate::destinations::worker::{self, StartContext, Worker};
use crate::message::Zone;
use crate::net::tls::{self, TlsClientOptions};
use crate::template::{RenderContext, Template};
use driver::HttpDriver;
use std::sync::Arc;
use std::time::Duration;

/// `http()` in the registry.
pub const KIND: DestinationKind = DestinationKind {
    spec: &SPEC,
    from_global: &["time-reopen"],
    build,
};

pub const SPEC: DriverSpec = DriverSpec {
    name: "http",
    context: "destination",
    doc: "Sends messages to HTTP endpoints, one per request or in batches (body-prefix, messages joined by delimiter, body-suffix), as syslog-ng's http() does. Each batch is acknowledged when the server answers 2xx; 5xx, 429 and timeouts are retried with backoff (honouring Retry-After), other 4xx drop the batch with an error and a count; response-action() changes that per status.",
    positional: None,
    options: &[
        OptionSpec {
            name: "url",
            kind: Kind::List,
            default: "",
            doc: "The endpoint; several are used in turn, and a failed request goes to the next one.",
        },
        OptionSpec {
            name: "method",
            kind: Kind::Enum(&["POST", "PUT", "post", "put"]),
            default: "POST",
            doc: "POST or PUT.",
        },
        OptionSpec {
            name: "headers",
            kind: Kind::Strings,
            default: "",
            doc: "Extra request headers, each a string \"Name: value\".",
        },
        OptionSpec {
            name: "user",
            kind: Kind::Str,
            default: "",
            doc: "User name for HTTP Basic authentication.",
        },
        OptionSpec {
            name: "password",
            kind: Kind::Str,
            default: "",
            doc: "Password for HTTP Basic authentication.",
        },
        OptionSpec {
            name: "user-agent",
            kind: Kind::Str,
            default: "sluice",
            doc: "The User-Agent header.",
        },
        OptionSpec {
            name: "body",
            kind: Kind::Template,
            default: "${MESSAGE}",
            doc: "Each message's part of a request body.",
        },
        OptionSpec {
            name: "body-prefix",
            kind: Kind::Str,
            default: "",
            doc: "Text before the messages of a request.",
        },
        OptionSpec {
            name: "body-suffix",
            kind: Kind::Str,
            default: "",
            doc: "Text after the messages of a request.",
        },
        OptionSpec {
            name: "delimiter",
            kind: Kind::Str,
            default: "\\n",
            doc: "Text between the messages of a request.",
        },
        OptionSpec {
            name: "batch-lines",
            kind: Kind::Int {
                min: 0,
                max: 1_000_000,
            },
            default: "0",
            doc: "Messages per request at most; 0 sends each message on its own.",
        },
        OptionSpec {
            name: "batch-bytes",
            kind: Kind::Size {
                min: 0,
                max: 1 << 30,
            },
            default: "0",
            doc: "A request is sent once its body reaches this size (it may pass it by one message); 0 sets no size.",
        },
        OptionSpec {
            name: "batch-timeout",
            kind: Kind::Int {
                min: -1,
                max: 86_400_000,
            },
            default: "-1",
            doc: "Milliseconds a batch may wait to fill; -1 sends what there is as soon as the queue is empty.",
        },
        OptionSpec {
            name: "workers",
            kind: Kind::Int { min: 1, max: 1024 },
            default: "1",
            doc: "Requests in flight at once.",
        },
        OptionSpec {
            name: "timeout",
            kind: Kind::Duration {
                bare: TimeUnit::Seconds,
                min_ms: 0,
                max_ms: 86_400_000,
            },
            default: "0",
            doc: "The longest a request may take, answer included (seconds when bare); 0 sets no limit. A request that times out is retried.",
        },
        OptionSpec {
            name: "retries",
            kind: Kind::Int {
                min: 1,
                max: 1_000_000,
            },
            default: "3",
            doc: "Attempts of a request that response-action() says to retry, before it is dropped. 5xx, 429 and transport errors are retried without limit.",
        },
        registry::TIME_REOPEN,
        OptionSpec {
            name: "content-compression",
            kind: Kind::Enum(&["identity", "gzip"]),
            default: "identity",
            doc: "gzip: request bodies are gzip-compressed, with Content-Encoding: gzip.",
        },
        OptionSpec {
            name: "response-action",
            kind: Kind::Strings,
            default: "",
            doc: "What a status means, as in syslog-ng: response-action(404 => drop, 429 => retry, 418 => success); actions are success, retry, drop and disconnect (retry on a new connection).",
        },
        OptionSpec {
            name: "tls",
            kind: Kind::Group(&tls::SPEC),
            default: "",
            doc: "CAs, client certificate and server verification of https:// endpoints.",
        },
        OptionSpec {
            name: "hec-ack",
            kind: Kind::Bool,
            default: "no",
            doc: "Splunk HEC indexer acknowledgement: each 2xx answer carries an ackId, the batch is acknowledged to its sources only once /services/collector/ack on the same server says it was indexed, and it is sent again when that has not happened within hec-ack-timeout(). Needs hec-channel() (splunk-hec-event(use-ack(yes) channel(...)) sets both).",
        },
        OptionSpec {
            name: "hec-channel",
            kind: Kind::Str,
            default: "",
            doc: "The HEC channel (a GUID), sent as X-Splunk-Request-Channel.",
        },
        OptionSpec {
            name: "hec-ack-interval",
            kind: Kind::Duration {
                bare: TimeUnit::Seconds,
                min_ms: 10,
                max_ms: 3_600_000,
            },
            default: "10",
            doc: "How often Splunk is asked about the batches waiting for its acknowledgement, all of a server's in one request (seconds when bare).",
        },
        OptionSpec {
            name: "hec-ack-timeout",
            kind: Kind::Duration {
                bare: TimeUnit::Seconds,
                min_ms: 100,
                max_ms: 86_400_000,
            },
            default: "300",
            doc: "A batch not acknowledged as indexed this long after it was taken is sent again (seconds when bare).",
        },
        OptionSpec {
            name: "accept-redirects",
            kind: Kind::Bool,
            default: "no",
            doc: "Accepted for syslog-ng compatibility; redirects are not followed, and a 3xx drops the batch with an error.",
        },
        registry::FRAC_DIGITS,
        registry::TIME_ZONE,
        registry::LOG_FIFO_SIZE,
        registry::LOG_FIFO_BYTES,
    ],
};

/// What a response (or a failed exchange) means for its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Success,
    /// Retry without limit (5xx, 429, transport errors).
    Retry,
    /// Retry up to `retries()` times (response-action(... => retry)).
    RetryCounted,
    Drop,
    /// Retry on a new connection.
    Disconnect,
}

/// `http()`'s options, typed.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    pub urls: Vec<http::Uri>,
    pub method: http::Method,
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub body: Template,
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
    pub delimiter: Vec<u8>,
    /// Messages per request (1 without batching).
    pub batch_lines: usize,
    pub batch_bytes: usize,
    /// `None`: send when the queue is empty.
    pub batch_timeout: Option<Duration>,
    pub workers: usize,
    pub timeout: Duration,
    pub retries: u32,
    pub time_reopen: Duration,
    pub gzip: bool,
    /// Splunk indexer acknowledgement: (poll interval, give-up time).
    pub hec_ack: Option<(Duration, Duration)>,
    pub actions: Vec<(u16, Action)>,
    pub tls: TlsClientOptions,
    pub time_zone: Option<Zone>,
    pub frac_digits: Option<u8>,
    pub queue: QueueLimits,
    /// The option text the fingerprint is made of (secrets hashed, never shown).
    text: Vec<(&'static str, String)>,
}

fn build(v: &Values) -> Built {
    HttpOptions::from_values(v)
        .map(|o| Arc::new(o) as Arc<dyn Destination>)
        .map_err(|e| vec![e])
}

impl HttpOptions {
    fn from_values(v: &Values) -> Result<HttpOptions, BuildError> {
        let urls: Vec<http::Uri> = v
            .flags("url")
            .iter()
            .map(|u| {
                let uri: http::Uri = u
                    .parse()
                    .map_err(|_| BuildError::new(Some("url"), format!("`{u}` is not a URL")))?;
                match uri.scheme_str() {
                    Some("http" | "https") if uri.host().is_some() => Ok(uri),
                    _ => Err(BuildError::new(
                        Some("url"),
                        format!("`{u}` is not an http:// or https:// URL"),
                    )),
                }
            })
            .collect::<Result<_, _>>()?;
        if urls.is_empty() {
            return Err(BuildError::new(
                None,
                "http() needs url(), as in http(url(\"https://collector.example.com/logs\"))",
            ));
        }
        let mut headers = Vec::new();
        for h in v.flags("headers") {
            let bad = || {
                BuildError::new(
                    Some("headers"),
                    format!("`{h}` is not a header; write \"Name: value\""),
                )
            };
            let (name, value) = h.split_once(':').ok_or_else(bad)?;
            let name = http::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
            let value = http::HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
            headers.push((name, value));
        }
        if let Some(user) = v.str("user").filter(|u| !u.is_empty()) {
            let pass = v.str("password").unwrap_or("");
            let mut value = b"Basic ".to_vec();
            crate::template::base64(format!("{user}:{pass}").bytes(), &mut value);
            let value = http::HeaderValue::from_bytes(&value)
                .map_err(|_| BuildError::new(Some("user"), "user() is not a valid header value"))?;
            headers.push((http::header::AUTHORIZATION, value));
        }
        let channel = v.str("hec-channel").filter(|c| !c.is_empty());
        if let Some(channel) = channel {
            let value = http::HeaderValue::from_str(channel).map_err(|_| {
                BuildError::new(
                    Some("hec-channel"),
                    "hec-channel() is not a valid header value",
                )
            })?;
            headers.push((
                http::HeaderName::from_static("x-splunk-request-channel"),
                value,
            ));
        }
        let hec_ack = v.bool("hec-ack").unwrap_or(false);
        if hec_ack && channel.is_none() {
            return Err(BuildError::new(
                Some("hec-ack"),
                "hec-ack(yes) needs hec-channel(): Splunk keeps acknowledgements per channel",
            ));
        }
        if let Some(agent) = v.str("user-agent").filter(|a| !a.is_empty()) {
            let value = http::HeaderValue::from_str(agent).map_err(|_| {
                BuildError::new(
                    Some("user-agent"),
                    "user-agent() is not a valid header value",
                )
            })?;
            headers.push((http::header::USER_AGENT, value));
        }
        let tls = match v.group("tls") {
            Some(t) => TlsClientOptions::from_values(t),
            None => TlsClientOptions::from_values(&Values::default()),
        }
        .map_err(|(_, e)| BuildError::new(Some("tls"), e))?;
        let method = match v.str("method").map(str::to_ascii_uppercase).as_deref() {
            Some("PUT") => http::Method::PUT,
            _ => http::Method::POST,
        };
        let body = match v.template("body") {
            Some(t) => t.clone(),
            // Fixed text, known to compile.
            None => Template::compile("${MESSAGE}").expect("built-in template compiles"),
        };
        let mut text = vec![
            ("url", v.flags("url").join(" ")),
            ("method", method.to_string()),
            ("headers", v.flags("headers").join("\n")),
            ("user", v.str("user").unwrap_or("").to_string()),
            ("password", v.str("password").unwrap_or("").to_string()),
            ("body", body.text().to_string()),
        ];
        let prefix = unescape(v.str("body-prefix").unwrap_or(""));
        let suffix = unescape(v.str("body-suffix").unwrap_or(""));
        let delimiter = unescape(v.str("delimiter").unwrap_or("\\n"));
        text.push(("body-prefix", String::from_utf8_lossy(&prefix).into_owned()));
        text.push(("body-suffix", String::from_utf8_lossy(&suffix).into_owned()));
        text.push((
            "delimiter",
            String::from_utf8_lossy(&delimiter).into_owned(),
        ));
        let actions = parse_actions(v.flags("response-action"))?;
        Ok(HttpOptions {
            urls,
            method,
            headers,
            body,
            prefix,
            suffix,
            delimiter,
            batch_lines: (v.int("batch-lines").unwrap_or(0) as usize).max(1),
            batch_bytes: v.size("batch-bytes").unwrap_or(0) as usize,
            batch_timeout: v
                .int("batch-timeout")
                .filter(|t| *t >= 0)
                .map(|t| Duration::from_millis(t as u64)),
            workers: v.int("workers").unwrap_or(1) as usize,
            timeout: match v.duration("timeout") {
                Some(d) if !d.is_zero() => d,
                _ => Duration::from_secs(86_400),
            },
            retries: v.int("retries").unwrap_or(3) as u32,
            time_reopen: v.duration("time-reopen").unwrap_or(Duration::from_secs(60)),
            gzip: v.str("content-compression") == Some("gzip"),
            hec_ack: hec_ack.then(|| {
                (
                    v.duration("hec-ack-interval")
                        .unwrap_or(Duration::from_secs(10)),
                    v.duration("hec-ack-timeout")
                        .unwrap_or(Duration::from_secs(300)),
                )
            }),
            actions,
            tls,
            time_zone: v.zone("time-zone").cloned(),
            frac_digits: v.int("frac-digits").map(|n| n as u8),
            queue: QueueLimits::from_values(v),
            text,
        })
    }

    /// What `status` means: response-action() first, then the defaults.
    pub fn action(&self, status: u16) -> Action {
        if let Some((_, a)) = self.actions.iter().find(|(s, _)| *s == status) {
            return *a;
        }
        match status {
            200..=299 => Action::Success,
            429 | 500..=599 => Action::Retry,
            _ => Action::Drop,
        }
    }
}

/// `404 => drop, 429 => retry`: the config lexer gives the words one by one.
fn parse_actions(words: &[String]) -> Result<Vec<(u16, Action)>, BuildError> {
    let words: Vec<&str> = words
        .iter()
        .flat_map(|w| w.split([',', ' ']))
        .filter(|w| !w.is_empty())
        .collect();
    let bad = |what: &str| {
        BuildError::new(
            Some("response-action"),
            format!("{what}; write response-action(404 => drop, 429 => retry)"),
        )
    };
    let mut out = Vec::new();
    for triple in words.chunks(3) {
        let [status, arrow, action] = triple else {
            return Err(bad("an action is cut short"));
        };
        let code: u16 = status
            .parse()
            .ok()
            .filter(|c| (100..=599).contains(c))
            .ok_or_else(|| bad(&format!("`{status}` is not an HTTP status")))?;
        if *arrow != "=>" {
            return Err(bad(&format!("`=>` expected after {status}")));
        }
        let action = match *action {
            "success" => Action::Success,
            "retry" => Action::RetryCounted,
            "drop" => Action::Drop,
            "disconnect" => Action::Disconnect,
            other => {
                return Err(bad(&format!(
                    "`{other}` is no action (success, retry, drop, disconnect)"
                )));
            }
        };
        out.push((code, action));
    }
    Ok(out)
}

/// The escapes syslog-ng reads in body-prefix(), body-suffix() and delimiter().
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.bytes();
    while let Some(c) = chars.next() {
        if c != b'\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            Some(other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    out
}

impl Destination for HttpOptions {
    fn fingerprint(&self, fp: &mut Fingerprint) {
        for (name, value) in &self.text {
            fp.add(name, value);
        }
        fp.add_debug("batch-lines", &self.batch_lines)
            .add_debug("batch-bytes", &self.batch_bytes)
            .add_debug("batch-timeout", &self.batch_timeout)
            .add_debug("workers", &self.workers)
            .add_debug("timeout", &self.timeout)
            .add_debug("retries", &self.retries)
            .add_debug("time-reopen", &self.time_reopen)
            .add_debug("gzip", &self.gzip)
            .add_debug("hec-ack", &self.hec_ack)
            .add_debug("response-action", &self.actions)
            .add_debug("tls", &self.tls)
            .add_debug("time-zone", &self.time_zone)
            .add_debug("frac-digits", &self.frac_digits)
            .add_debug("queue", &self.queue);
    }

    fn queue_limits(&self) -> QueueLimits {
        self.queue
    }

    fn start(&self, cx: StartContext, render: RenderContext) -> std::io::Result<Worker> {
        let opts = Arc::new(self.clone());
        let id = cx.id.clone();
        worker::spawn(cx, move || {
            // Certificates are read at every start, so a renewed one takes
            // effect with a reload.
            let tls = opts
                .tls
                .client_config()
                .map_err(|e| Failure::retry(format!("{e:#}")))?;
            HttpDriver::new(opts.clone(), &tls, render.clone(), id.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_actions_read_as_syslog_ng_writes_them() {
        let words: Vec<String> = [
            "404", "=>", "drop,", "429", "=>", "retry", "418", "=>", "success",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got = parse_actions(&words).unwrap();
        assert_eq!(
            got,
            [
                (404, Action::Drop),
                (429, Action::RetryCounted),
                (418, Action::Success)
            ]
        );
        assert!(parse_actions(&["404".into(), "=>".into()]).is_err());
        assert!(parse_actions(&["404".into(), "=>".into(), "maybe".into()]).is_err());
        assert!(parse_actions(&["99".into(), "=>".into(), "drop".into()]).is_err());
    }
}
