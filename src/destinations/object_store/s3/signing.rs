//! SigV4 signing of a ready request, shared by S3 and STS.

use crate::destinations::retry::Failure;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::Request;
use std::time::SystemTime;

/// The payload's part in the signature.
pub(crate) enum PayloadHash {
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// Lowercase hex SHA-256 of the body.
    Sha256(String),
}

/// Adds `x-amz-date`, `authorization` (and the session token) to `req`.
/// `s3` selects S3's canonical form: the path used as given (already encoded
/// once), no path normalisation, and an `x-amz-content-sha256` header.
pub(crate) fn sign_request(
    req: &mut Request<Bytes>,
    creds: &Credentials,
    region: &str,
    service: &str,
    payload: PayloadHash,
    now: SystemTime,
) -> Result<(), Failure> {
    let identity: Identity = creds.clone().into();
    let mut settings = SigningSettings::default();
    if service == "s3" {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let failed =
        |e: &dyn std::fmt::Display| Failure::permanent(format!("signing {}: {e}", req.uri()));
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let body = match payload {
        PayloadHash::Unsigned => SignableBody::UnsignedPayload,
        PayloadHash::Sha256(hex) => SignableBody::Precomputed(hex),
    };
    let uri = req.uri().to_string();
    let signed = SignableRequest::new(
        req.method().as_str(),
        uri.as_str(),
        req.headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
        body,
    )
    .and_then(|s| sign(s, &params))
    .map_err(|e| failed(&e))?;
    let (instructions, _signature) = signed.into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}
