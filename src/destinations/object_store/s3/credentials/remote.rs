//! Credentials fetched over HTTP: STS (AssumeRole, AssumeRoleWithWebIdentity),
//! the ECS container endpoint and EC2 instance metadata (IMDSv2).

use super::{Credentials, json};
use crate::destinations::object_store::s3::encode_component;
use crate::destinations::object_store::s3::signing::{PayloadHash, sign_request};
use crate::destinations::object_store::s3::xml;
use crate::destinations::retry::Failure;
use crate::net::http::{HttpClient, Response};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use sha2::Digest;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

const STS_TIMEOUT: Duration = Duration::from_secs(10);
/// Short: on a machine that is not an EC2 instance nothing answers, and the
/// chain must not hold start-up for long.
const METADATA_TIMEOUT: Duration = Duration::from_secs(1);

fn parked(code: &str, message: String, hint: &str) -> Failure {
    Failure::Parked {
        code: Some(code.into()),
        message,
        hint: Some(hint.into()),
    }
}

fn form(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn post_form(endpoint: &str, body: String) -> Result<Request<Bytes>, Failure> {
    Request::builder()
        .method(Method::POST)
        .uri(endpoint)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(Bytes::from(body))
        .map_err(|e| {
            parked(
                "BadStsEndpoint",
                format!("STS endpoint {endpoint}: {e}"),
                "check AWS_ENDPOINT_URL_STS",
            )
        })
}

/// What to assume with STS.
pub(super) struct AssumeParams<'a> {
    pub endpoint: &'a str,
    pub region: &'a str,
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub external_id: Option<&'a str>,
    pub duration: Duration,
}

/// STS AssumeRole, signed with `source`.
pub(super) async fn assume_role(
    http: &HttpClient,
    p: &AssumeParams<'_>,
    source: &Credentials,
) -> Result<Credentials, Failure> {
    let duration = p.duration.as_secs().to_string();
    let mut params = vec![
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", p.role_arn),
        ("RoleSessionName", p.session_name),
        ("DurationSeconds", duration.as_str()),
    ];
    if let Some(id) = p.external_id {
        params.push(("ExternalId", id));
    }
    let body = form(&params);
    let hash = hex::sha256(body.as_bytes());
    let mut req = post_form(p.endpoint, body)?;
    sign_request(
        &mut req,
        source,
        p.region,
        "sts",
        PayloadHash::Sha256(hash),
        SystemTime::now(),
    )?;
    let resp = http.send(req, STS_TIMEOUT).await?;
    sts_credentials(&resp, "AssumeRole", p.role_arn)
}

/// STS AssumeRoleWithWebIdentity (unsigned: the token is the proof).
pub(super) async fn assume_role_with_web_identity(
    http: &HttpClient,
    p: &AssumeParams<'_>,
    token: &str,
) -> Result<Credentials, Failure> {
    let duration = p.duration.as_secs().to_string();
    let body = form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", p.role_arn),
        ("RoleSessionName", p.session_name),
        ("WebIdentityToken", token),
        ("DurationSeconds", duration.as_str()),
    ]);
    let req = post_form(p.endpoint, body)?;
    let resp = http.send(req, STS_TIMEOUT).await?;
    sts_credentials(&resp, "AssumeRoleWithWebIdentity", p.role_arn)
}

fn sts_credentials(resp: &Response, action: &str, role_arn: &str) -> Result<Credentials, Failure> {
    let root = xml::parse(&resp.body);
    if !resp.status.is_success() {
        let error = root.as_ref().ok().and_then(|r| r.child("Error"));
        let code = error
            .and_then(|e| e.text_of("Code"))
            .unwrap_or("UnexpectedStatus")
            .to_owned();
        let message = format!(
            "STS {action} of {role_arn}: {} (HTTP {})",
            error.and_then(|e| e.text_of("Message")).unwrap_or(""),
            resp.status.as_u16()
        );
        if resp.status.is_server_error()
            || resp.status == StatusCode::TOO_MANY_REQUESTS
            || matches!(
                code.as_str(),
                "Throttling" | "IDPCommunicationError" | "ServiceUnavailable"
            )
        {
            return Err(Failure::Retry {
                code: Some(code),
                message,
                retry_after: None,
            });
        }
        return Err(Failure::Parked {
            code: Some(code),
            message,
            hint: Some(
                "check role() and the role's trust policy, and the source credentials".into(),
            ),
        });
    }
    let malformed = |why: String| Failure::Retry {
        code: Some("MalformedResponse".into()),
        message: format!("STS {action}: {why}"),
        retry_after: None,
    };
    let root = root.map_err(|e| malformed(e.to_string()))?;
    let creds = root
        .child(&format!("{action}Result"))
        .and_then(|r| r.child("Credentials"))
        .ok_or_else(|| malformed("no <Credentials> in the answer".into()))?;
    let field = |name: &str| creds.require(name).map_err(|e| malformed(e.to_string()));
    Ok(Credentials::new(
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        Some(field("SessionToken")?.to_owned()),
        Some(parse_time(field("Expiration")?).map_err(malformed)?),
        "sts",
    ))
}

fn parse_time(text: &str) -> Result<SystemTime, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(SystemTime::from)
        .map_err(|e| format!("expiration {text:?}: {e}"))
}

/// The JSON both ECS and IMDS answer with.
fn json_credentials(
    body: &[u8],
    source: &str,
    provider: &'static str,
) -> Result<Credentials, Failure> {
    let malformed = |why: String| Failure::Retry {
        code: Some("MalformedResponse".into()),
        message: format!("{source}: {why}"),
        retry_after: None,
    };
    let text = std::str::from_utf8(body).map_err(|_| malformed("answer is not UTF-8".into()))?;
    let m = json::parse_object(text).map_err(malformed)?;
    if let Some(code) = m.get("Code").filter(|c| *c != "Success") {
        return Err(parked(
            code,
            format!("{source}: {}", m.get("Message").map_or("", String::as_str)),
            "the instance or task role cannot be used",
        ));
    }
    let field = |name: &str| {
        m.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| malformed(format!("no {name} in the answer")))
    };
    let expiry = match m.get("Expiration") {
        Some(t) => Some(parse_time(t).map_err(malformed)?),
        None => None,
    };
    Ok(Credentials::new(
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        m.get("Token").filter(|t| !t.is_empty()).cloned(),
        expiry,
        provider,
    ))
}

/// The ECS/EKS container credentials endpoint.
pub(super) async fn container(
    http: &HttpClient,
    url: &str,
    authorization: Option<String>,
) -> Result<Credentials, Failure> {
    let source = format!("container credentials endpoint {url}");
    let uri: http::Uri = url.parse().map_err(|_| {
        parked(
            "BadContainerEndpoint",
            format!("{source}: not a URL"),
            "check AWS_CONTAINER_CREDENTIALS_FULL_URI",
        )
    })?;
    // The AWS SDKs send the token only to endpoints that cannot be someone
    // else's: loopback, the ECS and EKS link-local addresses, or https.
    let host = uri
        .host()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']');
    let trusted = uri.scheme_str() == Some("https")
        || host == "localhost"
        || host.parse::<IpAddr>().is_ok_and(|ip| {
            ip.is_loopback()
                || ip.to_string() == "169.254.170.2"
                || ip.to_string() == "169.254.170.23"
                || ip.to_string() == "fd00:ec2::23"
        });
    if !trusted {
        return Err(parked(
            "BadContainerEndpoint",
            format!("{source}: plain http is allowed only to loopback or the ECS/EKS addresses"),
            "check AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ));
    }
    let mut req = Request::builder().method(Method::GET).uri(uri);
    if let Some(token) = authorization {
        let value = HeaderValue::from_str(token.trim()).map_err(|_| {
            parked(
                "BadContainerToken",
                format!("{source}: the authorization token is not a valid header"),
                "check AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)",
            )
        })?;
        req = req.header(http::header::AUTHORIZATION, value);
    }
    let req = req.body(Bytes::new()).map_err(|e| {
        parked(
            "BadContainerEndpoint",
            format!("{source}: {e}"),
            "check the container endpoint",
        )
    })?;
    let resp = http.send(req, STS_TIMEOUT).await?;
    check_status(&resp, &source)?;
    json_credentials(&resp.body, &source, "ecs")
}

fn check_status(resp: &Response, source: &str) -> Result<(), Failure> {
    if resp.status.is_success() {
        return Ok(());
    }
    let message = format!(
        "{source}: HTTP {} {}",
        resp.status.as_u16(),
        String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)])
    );
    if resp.status.is_server_error() || resp.status == StatusCode::TOO_MANY_REQUESTS {
        Err(Failure::Retry {
            code: Some(resp.status.as_u16().to_string()),
            message,
            retry_after: None,
        })
    } else {
        Err(parked(
            &resp.status.as_u16().to_string(),
            message,
            "the credential endpoint refused the request",
        ))
    }
}

/// IMDSv2. `Ok(None)` when nothing answers (not an EC2 instance).
pub(super) async fn instance_metadata(
    http: &HttpClient,
    endpoint: &str,
) -> Result<Option<Credentials>, Failure> {
    let base = endpoint.trim_end_matches('/');
    let source = format!("instance metadata {base}");
    let bad = |e: http::Error| {
        parked(
            "BadMetadataEndpoint",
            format!("{source}: {e}"),
            "check AWS_EC2_METADATA_SERVICE_ENDPOINT",
        )
    };
    let req = Request::builder()
        .method(Method::PUT)
        .uri(format!("{base}/latest/api/token"))
        .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
        .body(Bytes::new())
        .map_err(bad)?;
    let resp = match http.send(req, METADATA_TIMEOUT).await {
        Ok(r) => r,
        Err(Failure::Retry { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    check_status(&resp, &format!("{source} (token)"))?;
    let token = HeaderValue::from_maybe_shared(resp.body.clone()).map_err(|_| {
        parked(
            "MalformedResponse",
            format!("{source}: token is not a header value"),
            "the metadata service answered oddly",
        )
    })?;
    let get = |path: String| {
        Request::builder()
            .method(Method::GET)
            .uri(format!("{base}{path}"))
            .header("x-aws-ec2-metadata-token", token.clone())
            .body(Bytes::new())
            .map_err(bad)
    };
    let list = "/latest/meta-data/iam/security-credentials/";
    let resp = http.send(get(list.to_owned())?, METADATA_TIMEOUT).await?;
    if resp.status == StatusCode::NOT_FOUND {
        return Err(parked(
            "NoInstanceRole",
            format!("{source}: this instance has no IAM role"),
            "attach an instance profile, or configure credentials another way",
        ));
    }
    check_status(&resp, &source)?;
    let roles = String::from_utf8_lossy(&resp.body);
    let Some(role) = roles.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Err(parked(
            "NoInstanceRole",
            format!("{source}: empty role list"),
            "attach an instance profile",
        ));
    };
    let resp = http
        .send(
            get(format!("{list}{}", encode_component(role)))?,
            METADATA_TIMEOUT,
        )
        .await?;
    check_status(&resp, &source)?;
    json_credentials(&resp.body, &source, "imds").map(Some)
}

mod hex {
    use super::Digest;

    pub(super) fn sha256(data: &[u8]) -> String {
        sha2::Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
