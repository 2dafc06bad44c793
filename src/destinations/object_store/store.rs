//! The store boundary: the few operations the upload pool needs, on S3 or on a
//! local directory, with the two outcomes the pool acts on itself typed apart
//! from every other failure.

use super::local::LocalStore;
use super::s3::{self, S3Error};
use crate::destinations::Failure;
use bytes::Bytes;

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A write with If-None-Match found the key taken: use the next index.
    #[error("object {0} already exists")]
    KeyExists(String),
    /// The multipart upload is gone: start it again.
    #[error("upload {upload_id} of {key} is gone")]
    NoSuchUpload { key: String, upload_id: String },
    #[error("{0}")]
    Failed(Failure),
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> StoreError {
        StoreError::Failed(f)
    }
}

/// One part of a multipart upload, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedPart {
    pub number: u32,
    pub etag: String,
    pub size: u64,
}

impl From<S3Error> for StoreError {
    fn from(e: S3Error) -> StoreError {
        match e {
            S3Error::KeyExists { key } => StoreError::KeyExists(key),
            S3Error::NoSuchUpload { key, upload_id, .. } => {
                StoreError::NoSuchUpload { key, upload_id }
            }
            other => StoreError::Failed(other.failure()),
        }
    }
}

/// Where objects go.
#[derive(Clone, Debug)]
pub enum Store {
    Local(LocalStore),
    S3(s3::Client),
}

impl Store {
    /// For log lines: `file:///var/spool/logs` or `s3://bucket`.
    pub fn describe(&self) -> String {
        match self {
            Store::Local(l) => l.describe(),
            Store::S3(c) => format!("s3://{}", c.bucket()),
        }
    }

    /// Writes a whole object naming its `writer` (the spool object it comes
    /// from), never over an existing object.
    pub async fn put_object(&self, key: &str, body: Bytes, writer: &str) -> Result<(), StoreError> {
        match self {
            Store::Local(l) => l.put_object(key, body, writer).await,
            Store::S3(c) => Ok(c.put_object(key, body, writer, true).await?),
        }
    }

    /// Starts an upload of an object naming its `writer`.
    pub async fn create_upload(&self, key: &str, writer: &str) -> Result<String, StoreError> {
        match self {
            Store::Local(l) => l.create_upload(key, writer).await,
            Store::S3(c) => Ok(c.create_multipart_upload(key, writer).await?),
        }
    }

    /// The writer the object at `key` names; `None` when there is no object
    /// or it names none. After a write whose reply was lost, the key is
    /// taken: by our own write when this is our name.
    pub async fn writer_of(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self {
            Store::Local(l) => l.writer_of(key).await,
            Store::S3(c) => Ok(c.object_writer(key).await?.filter(|w| !w.is_empty())),
        }
    }

    /// Uploads part `number` (from 1); returns its ETag.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
    ) -> Result<String, StoreError> {
        match self {
            Store::Local(l) => l.upload_part(key, upload_id, number, body).await,
            Store::S3(c) => Ok(c.upload_part(key, upload_id, number, body).await?),
        }
    }

    /// Completes an upload without overwriting an existing object.
    pub async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<(), StoreError> {
        match self {
            Store::Local(l) => l.complete_upload(key, upload_id, parts).await,
            Store::S3(c) => Ok(c
                .complete_multipart_upload(key, upload_id, parts, true)
                .await?),
        }
    }

    pub async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        match self {
            Store::Local(l) => l.abort_upload(key, upload_id).await,
            Store::S3(c) => Ok(c.abort_multipart_upload(key, upload_id).await?),
        }
    }

    pub async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<ListedPart>, StoreError> {
        match self {
            Store::Local(l) => l.list_parts(key, upload_id).await,
            Store::S3(c) => Ok(c
                .list_parts(key, upload_id)
                .await?
                .into_iter()
                .map(|p| ListedPart {
                    number: p.number,
                    etag: p.etag,
                    size: p.size,
                })
                .collect()),
        }
    }

    /// Keys of objects and of unfinished uploads starting with `prefix`: what an
    /// index must not collide with.
    pub async fn taken_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Local(l) => l.taken_keys(prefix).await,
            Store::S3(c) => {
                let mut keys: Vec<String> = c
                    .list_objects(prefix)
                    .await?
                    .into_iter()
                    .map(|o| o.key)
                    .collect();
                keys.extend(s3_uploads(c, prefix).await?.into_iter().map(|u| u.key));
                Ok(keys)
            }
        }
    }

    /// Upload ids of unfinished uploads of exactly `key`.
    pub async fn uploads_of(&self, key: &str) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Local(l) => l.uploads_of(key).await,
            Store::S3(c) => Ok(s3_uploads(c, key)
                .await?
                .into_iter()
                .filter(|u| u.key == key)
                .map(|u| u.upload_id)
                .collect()),
        }
    }
}

/// Unfinished uploads under `prefix`; none from a store that cannot list them
/// (s3s-fs answers NotImplemented), whose objects If-None-Match still guards.
async fn s3_uploads(c: &s3::Client, prefix: &str) -> Result<Vec<s3::Upload>, StoreError> {
    match c.list_multipart_uploads(prefix).await {
        Ok(u) => Ok(u),
        Err(e) if e.code() == Some("NotImplemented") => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}
