//! The S3 client against s3s-fs, a real S3 server, on loopback: bytes in the
//! bucket are compared with the files s3s-fs wrote.

use crate::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use bytes::Bytes;
use sluice::destinations::object_store::s3::credentials::Provider;
use sluice::destinations::object_store::s3::{Checksum, Client, Config, S3Error};
use sluice::destinations::retry::Failure;
use std::sync::Arc;
use std::time::Duration;

const BUCKET: &str = "logs";

fn client_with(server: &S3Server, bucket: &str, ak: &str, sk: &str, checksum: Checksum) -> Client {
    let mut config = Config::new(bucket, Arc::new(Provider::fixed(ak, sk, None)));
    config.endpoint = Some(server.endpoint.clone());
    config.checksum = checksum;
    config.timeout = Duration::from_secs(10);
    Client::new(config).expect("client")
}

fn client(server: &S3Server) -> Client {
    client_with(server, BUCKET, ACCESS_KEY, SECRET_KEY, Checksum::Auto)
}

/// Deterministic, incompressible-looking bytes.
fn data(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn parked(e: S3Error) -> (String, String, String) {
    match e.failure() {
        Failure::Parked {
            code,
            message,
            hint,
        } => (code.unwrap_or_default(), message, hint.unwrap_or_default()),
        other => panic!("expected Parked, got {other:?}"),
    }
}

#[tokio::test]
async fn put_object_lands_byte_exact_with_each_checksum_mode() {
    let server = S3Server::start(&[BUCKET]);
    for (i, mode) in [
        Checksum::Auto,
        Checksum::Sha256,
        Checksum::Md5,
        Checksum::None,
    ]
    .into_iter()
    .enumerate()
    {
        let c = client_with(&server, BUCKET, ACCESS_KEY, SECRET_KEY, mode);
        let body = data(300_000 + i, i as u64);
        let key = format!("host/app-{i}.log");
        c.put_object(&key, body.clone(), "it", false)
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(
            std::fs::read(server.object_path(BUCKET, &key)).unwrap(),
            body,
            "{mode:?}"
        );
    }
    client(&server).head_bucket().await.unwrap();
}

#[tokio::test]
async fn odd_keys_round_trip() {
    let server = S3Server::start(&[BUCKET]);
    let c = client_with(&server, BUCKET, ACCESS_KEY, SECRET_KEY, Checksum::Sha256);
    let key = "dir one/sub+dir/ünïcødé 日本 a+b=c&d;e,f@g(h)!~'.log";
    c.put_object(key, Bytes::from_static(b"odd"), "it", false)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(server.object_path(BUCKET, key)).unwrap(),
        b"odd"
    );
    let listed = c.list_objects("dir one/sub+dir/").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key);
    assert_eq!(listed[0].size, 3);
}

#[tokio::test]
async fn multipart_upload_round_trips_and_lists() {
    let server = S3Server::start(&[BUCKET]);
    let c = client(&server);
    let key = "2026/01/02/host-a.log";
    let chunks: Vec<Bytes> = (0..3)
        .map(|i| data(5 << 20, 10 + i))
        .chain([data(12_345, 99)])
        .collect();
    let id = c.create_multipart_upload(key, "it").await.unwrap();
    let mut parts = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let n = i as u32 + 1;
        parts.push((n, c.upload_part(key, &id, n, chunk.clone()).await.unwrap()));
    }
    let listed = c.list_parts(key, &id).await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.number).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        listed.iter().map(|p| p.size).collect::<Vec<_>>(),
        [5 << 20, 5 << 20, 5 << 20, 12_345]
    );
    // s3s-fs 0.14.1 reports parts without their ETag; real S3 sends it.
    assert!(
        listed
            .iter()
            .all(|p| p.etag.is_empty() || parts.iter().any(|(_, e)| *e == p.etag))
    );

    // s3s-fs does not implement ListMultipartUploads: the call reaches it and
    // comes back NotImplemented, as a classified error rather than a panic.
    match c.list_multipart_uploads("2026/").await {
        Ok(uploads) => assert!(uploads.iter().any(|u| u.upload_id == id && u.key == key)),
        Err(e) => {
            assert_eq!(e.code(), Some("NotImplemented"), "{e}");
            assert!(matches!(e.failure(), Failure::Permanent { .. }), "{e:?}");
        }
    }

    c.complete_multipart_upload(key, &id, &parts, true)
        .await
        .unwrap();
    let written = std::fs::read(server.object_path(BUCKET, key)).unwrap();
    assert_eq!(written.len(), chunks.iter().map(Bytes::len).sum::<usize>());
    assert!(written == chunks.concat(), "object differs from the parts");

    let objects = c.list_objects("2026/").await.unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!(
        (objects[0].key.as_str(), objects[0].size),
        (key, written.len() as u64)
    );
}

#[tokio::test]
async fn list_objects_paginates_and_filters_by_prefix() {
    let server = S3Server::start(&[BUCKET]);
    let c = client(&server);
    for k in ["a/1", "a/2", "b/1", "a/sub/3", "a/4", "a/5"] {
        c.put_object(k, Bytes::from_static(b"x"), "it", false)
            .await
            .unwrap();
    }
    // Two keys a page: four requests, each resuming from the last token.
    let mut config = Config::new(
        BUCKET,
        Arc::new(Provider::fixed(ACCESS_KEY, SECRET_KEY, None)),
    );
    config.endpoint = Some(server.endpoint.clone());
    config.list_page_size = Some(2);
    let paged = Client::new(config).unwrap();
    let keys: Vec<String> = paged
        .list_objects("a/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, ["a/1", "a/2", "a/4", "a/5", "a/sub/3"]);
    assert!(c.list_objects("zzz").await.unwrap().is_empty());
}

#[tokio::test]
async fn if_none_match_refuses_an_existing_key() {
    let server = S3Server::start(&[BUCKET]);
    let c = client(&server);
    c.put_object("k", Bytes::from_static(b"first"), "it", true)
        .await
        .unwrap();
    let err = c
        .put_object("k", Bytes::from_static(b"second"), "it", true)
        .await
        .unwrap_err();
    assert_eq!(err, S3Error::KeyExists { key: "k".into() });
    assert_eq!(
        std::fs::read(server.object_path(BUCKET, "k")).unwrap(),
        b"first"
    );

    // The same for a multipart upload completing onto an existing key.
    let id = c.create_multipart_upload("k", "it").await.unwrap();
    let etag = c
        .upload_part("k", &id, 1, Bytes::from_static(b"third"))
        .await
        .unwrap();
    let err = c
        .complete_multipart_upload("k", &id, &[(1, etag)], true)
        .await
        .unwrap_err();
    assert!(matches!(err, S3Error::KeyExists { .. }), "{err:?}");
    c.abort_multipart_upload("k", &id).await.unwrap();
    assert_eq!(
        std::fs::read(server.object_path(BUCKET, "k")).unwrap(),
        b"first"
    );
}

#[tokio::test]
async fn an_object_names_its_writer_whether_put_or_multipart() {
    let server = S3Server::start(&[BUCKET]);
    let c = client(&server);
    c.put_object("one", Bytes::from_static(b"x"), "spool-a", true)
        .await
        .unwrap();
    let id = c.create_multipart_upload("two", "spool-b").await.unwrap();
    let etag = c
        .upload_part("two", &id, 1, Bytes::from_static(b"y"))
        .await
        .unwrap();
    c.complete_multipart_upload("two", &id, &[(1, etag)], true)
        .await
        .unwrap();
    assert_eq!(
        c.object_writer("one").await.unwrap().as_deref(),
        Some("spool-a")
    );
    assert_eq!(
        c.object_writer("two").await.unwrap().as_deref(),
        Some("spool-b")
    );
    assert_eq!(c.object_writer("three").await.unwrap(), None);
}

#[tokio::test]
async fn wrong_secret_parks_with_signature_does_not_match() {
    let server = S3Server::start(&[BUCKET]);
    let c = client_with(&server, BUCKET, ACCESS_KEY, "wrong", Checksum::Auto);
    let err = c
        .put_object("k", Bytes::from_static(b"x"), "it", false)
        .await
        .unwrap_err();
    let (code, _, hint) = parked(err);
    assert_eq!(code, "SignatureDoesNotMatch");
    assert_eq!(hint, "check secret-key()");
}

#[tokio::test]
async fn unknown_access_key_parks() {
    let server = S3Server::start(&[BUCKET]);
    let c = client_with(&server, BUCKET, "AKIAUNKNOWN", SECRET_KEY, Checksum::Auto);
    let err = c.list_objects("").await.unwrap_err();
    let (code, _, hint) = parked(err);
    // AWS says InvalidAccessKeyId; s3s says NotSignedUp. Both park.
    assert_eq!(code, "NotSignedUp");
    assert_eq!(hint, "check access-key()");
}

#[tokio::test]
async fn missing_bucket_parks_with_a_hint() {
    let server = S3Server::start(&[BUCKET]);
    let c = client_with(&server, "absent", ACCESS_KEY, SECRET_KEY, Checksum::Auto);
    let (code, message, hint) = parked(c.list_objects("").await.unwrap_err());
    assert_eq!(code, "NoSuchBucket");
    assert!(message.contains("HTTP 404"), "{message}");
    assert_eq!(hint, "bucket missing or in another region");
    // HEAD answers carry no body: the code comes from the status.
    let (code, _, hint) = parked(c.head_bucket().await.unwrap_err());
    assert_eq!(code, "NoSuchBucket");
    assert_eq!(hint, "bucket missing or in another region");
}

#[tokio::test]
async fn connection_refused_is_retried() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = Config::new(
        BUCKET,
        Arc::new(Provider::fixed(ACCESS_KEY, SECRET_KEY, None)),
    );
    config.endpoint = Some(format!("http://127.0.0.1:{port}"));
    config.timeout = Duration::from_secs(5);
    let c = Client::new(config).unwrap();
    let err = c
        .put_object("k", Bytes::from_static(b"x"), "it", false)
        .await
        .unwrap_err();
    match Failure::from(err) {
        Failure::Retry { code, message, .. } => {
            assert_eq!(code.as_deref(), Some("ConnectFailed"));
            assert!(message.to_lowercase().contains("refused"), "{message}");
        }
        other => panic!("expected Retry, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_upload_is_reported() {
    let server = S3Server::start(&[BUCKET]);
    let c = client(&server);
    // s3s-fs answers an unknown (well-formed) upload id with AccessDenied
    // rather than NoSuchUpload; either way it is not a success.
    let err = c
        .upload_part(
            "k",
            "00000000-0000-0000-0000-000000000000",
            1,
            Bytes::from_static(b"x"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, S3Error::NoSuchUpload { .. }) || err.code() == Some("AccessDenied"),
        "{err:?}"
    );
}
