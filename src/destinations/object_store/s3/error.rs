//! What an S3 request can fail with, and what each failure means for the data.
//!
//! The two outcomes the driver acts on itself have their own variants:
//! [`S3Error::KeyExists`] (If-None-Match lost: move to the next object index)
//! and [`S3Error::NoSuchUpload`] (restart the upload). Everything else converts
//! into a [`Failure`] by the server's code, never by matching message text.

use crate::destinations::retry::Failure;
use http::StatusCode;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum S3Error {
    /// `PreconditionFailed` on a write with `If-None-Match: *`: an object with
    /// this key already exists and was not overwritten.
    #[error("PreconditionFailed: object {key} already exists")]
    KeyExists { key: String },
    /// The multipart upload is gone (completed, aborted, or expired by a
    /// lifecycle rule).
    #[error("NoSuchUpload: upload {upload_id} of {key}: {message}")]
    NoSuchUpload {
        key: String,
        upload_id: String,
        message: String,
    },
    /// The server answered with an error.
    #[error("{0}")]
    Service(ServiceError),
    /// No usable answer: the connection, the deadline, the credentials, or a
    /// body we could not read; already classified.
    #[error("{0}")]
    Transport(Failure),
}

/// An error response from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceError {
    pub status: StatusCode,
    /// `NoSuchBucket`, `SlowDown`... For a HEAD (no body) it is derived from
    /// the status.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    /// `x-amz-bucket-region`, sent with redirects and region errors.
    pub bucket_region: Option<String>,
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} (HTTP {}",
            self.code,
            self.message,
            self.status.as_u16()
        )?;
        if let Some(id) = &self.request_id {
            write!(f, ", request id {id}")?;
        }
        f.write_str(")")
    }
}

impl From<Failure> for S3Error {
    fn from(f: Failure) -> S3Error {
        S3Error::Transport(f)
    }
}

impl S3Error {
    /// The server's error code, when the server answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            S3Error::KeyExists { .. } => Some("PreconditionFailed"),
            S3Error::NoSuchUpload { .. } => Some("NoSuchUpload"),
            S3Error::Service(e) => Some(&e.code),
            S3Error::Transport(f) => f.code(),
        }
    }

    /// What this failure means for the data (see the module doc).
    pub fn failure(&self) -> Failure {
        match self {
            S3Error::KeyExists { .. } | S3Error::NoSuchUpload { .. } => Failure::Permanent {
                code: self.code().map(str::to_owned),
                message: self.to_string(),
                hint: None,
            },
            S3Error::Service(e) => classify(e),
            S3Error::Transport(f) => f.clone(),
        }
    }
}

impl From<S3Error> for Failure {
    fn from(e: S3Error) -> Failure {
        match e {
            S3Error::Transport(f) => f,
            other => other.failure(),
        }
    }
}

/// Codes that say "try again" whatever their status.
const TRANSIENT: &[&str] = &[
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "RequestThrottled",
    "OperationAborted",
    // A concurrent conditional write on the same key; the loser may retry.
    "ConditionalRequestConflict",
];

fn classify(e: &ServiceError) -> Failure {
    let code = Some(e.code.clone());
    let message = e.to_string_without_code();
    // 501: the store lacks the operation (s3s-fs has no ListMultipartUploads);
    // asking again will not grow it.
    let unsupported = e.code == "NotImplemented" || e.status == StatusCode::NOT_IMPLEMENTED;
    if !unsupported
        && (TRANSIENT.contains(&e.code.as_str())
            || e.status.is_server_error()
            || e.status == StatusCode::TOO_MANY_REQUESTS)
    {
        return Failure::Retry {
            code,
            message,
            retry_after: e.retry_after,
        };
    }
    if let Some(hint) = parked_hint(e) {
        return Failure::Parked {
            code,
            message,
            hint: Some(hint),
        };
    }
    Failure::Permanent {
        code,
        message,
        hint: None,
    }
}

/// Failures an operator must fix (credentials, bucket, region, key policy):
/// the data waits in the spool meanwhile. The hint names the option to check.
fn parked_hint(e: &ServiceError) -> Option<String> {
    let region = || match &e.bucket_region {
        Some(r) => format!("set region(\"{r}\"), the bucket's region"),
        None => "set region() to the bucket's region".to_owned(),
    };
    let hint = match e.code.as_str() {
        "NoSuchBucket" => "bucket missing or in another region".to_owned(),
        "SignatureDoesNotMatch" => "check secret-key()".to_owned(),
        // s3s answers an unknown access key with NotSignedUp.
        "InvalidAccessKeyId" | "NotSignedUp" => "check access-key()".to_owned(),
        "AccessDenied" | "AllAccessDisabled" | "AccountProblem" => {
            "the credentials lack permission for this bucket and key".to_owned()
        }
        "ExpiredToken" | "TokenRefreshRequired" | "InvalidToken" => {
            "the session token expired or is invalid; check session-token() or the credential source"
                .to_owned()
        }
        "PermanentRedirect" | "AuthorizationHeaderMalformed" | "IllegalLocationConstraintException" => {
            region()
        }
        "RequestTimeTooSkewed" => "the system clock is off; synchronise it (NTP)".to_owned(),
        "InvalidStorageClass" => "check storage-class()".to_owned(),
        "KMS.NotFoundException" | "KMS.DisabledException" | "KMS.KMSInvalidStateException"
        | "KMSAccessDenied" => "check kms-key() and its key policy".to_owned(),
        "InvalidBucketName" => "check bucket()".to_owned(),
        _ => return None,
    };
    Some(hint)
}

impl ServiceError {
    fn to_string_without_code(&self) -> String {
        let mut s = format!("{} (HTTP {}", self.message, self.status.as_u16());
        if let Some(id) = &self.request_id {
            s.push_str(", request id ");
            s.push_str(id);
        }
        s.push(')');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str) -> S3Error {
        S3Error::Service(ServiceError {
            status: StatusCode::from_u16(status).unwrap(),
            code: code.into(),
            message: "m".into(),
            request_id: None,
            retry_after: Some(Duration::from_secs(3)),
            bucket_region: None,
        })
    }

    #[test]
    fn transient_codes_retry_with_retry_after() {
        for (status, code) in [
            (503, "SlowDown"),
            (400, "RequestTimeout"),
            (500, "Whatever"),
            (429, "X"),
        ] {
            match service(status, code).failure() {
                Failure::Retry {
                    code: c,
                    retry_after,
                    ..
                } => {
                    assert_eq!(c.as_deref(), Some(code));
                    assert_eq!(retry_after, Some(Duration::from_secs(3)));
                }
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn operator_errors_park_with_a_hint() {
        for (code, hint) in [
            ("NoSuchBucket", "bucket missing or in another region"),
            ("SignatureDoesNotMatch", "check secret-key()"),
            ("InvalidAccessKeyId", "check access-key()"),
            (
                "AuthorizationHeaderMalformed",
                "set region() to the bucket's region",
            ),
        ] {
            match service(403, code).failure() {
                Failure::Parked { hint: Some(h), .. } => assert_eq!(h, hint),
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn other_client_errors_are_permanent() {
        let f = service(400, "InvalidArgument").failure();
        assert!(matches!(f, Failure::Permanent { .. }), "{f:?}");
        assert_eq!(f.code(), Some("InvalidArgument"));
    }
}
