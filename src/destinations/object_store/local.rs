//! `url("file:///dir")`: a local directory as an object store, with the same
//! keys, rollover and crash safety as S3. A key is a path under the directory.
//! Objects appear whole or not at all (written aside, synced, then linked into
//! place), and never over an existing file: linking fails where renaming would
//! overwrite, which is this store's `If-None-Match: *`.
//!
//! Unfinished multipart uploads live in `.sluice-uploads/<id>/` (the key in
//! `key`, parts as `NNNNN.part`), so a restart finds and resumes them as it
//! would on S3.

use super::store::{ListedPart, StoreError};
use crate::destinations::Failure;
use bytes::Bytes;
use md5::{Digest, Md5};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

const UPLOADS: &str = ".sluice-uploads";
const TMP: &str = ".sluice-tmp";
/// The extended attribute naming an object's writer (see `s3::WRITER`).
const WRITER_XATTR: &str = "user.sluice-object";

fn c_path(path: &Path) -> Option<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes()).ok()
}

/// Names the writer of a file about to be published. Best effort: where the
/// file system keeps no user attributes, a retried write after a crash moves
/// to the next index as it would for any taken key.
fn set_writer(path: &Path, writer: &str) {
    let (Some(p), Ok(name)) = (c_path(path), std::ffi::CString::new(WRITER_XATTR)) else {
        return;
    };
    // SAFETY: both strings are NUL-terminated and the value's pointer and
    // length describe a live slice.
    unsafe {
        libc::setxattr(
            p.as_ptr(),
            name.as_ptr(),
            writer.as_ptr().cast(),
            writer.len(),
            0,
        );
    }
}

fn get_writer(path: &Path) -> Option<String> {
    let (p, name) = (c_path(path)?, std::ffi::CString::new(WRITER_XATTR).ok()?);
    let mut buf = [0u8; 256];
    // SAFETY: as in set_writer; the kernel writes at most `buf.len()` bytes.
    let n = unsafe {
        libc::getxattr(
            p.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).ok()?;
    String::from_utf8(buf[..n].to_vec()).ok()
}

#[derive(Clone, Debug)]
pub struct LocalStore {
    root: Arc<PathBuf>,
}

/// An I/O error as a store failure: a full or failing disk is retried, a
/// directory we may not write is parked until the operator fixes it.
fn failure(what: &str, path: &Path, e: &std::io::Error) -> StoreError {
    let message = format!("{what} {}: {e}", path.display());
    StoreError::Failed(match e.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem | ErrorKind::NotADirectory => {
            Failure::Parked {
                code: None,
                message,
                hint: Some("check the directory's permissions".into()),
            }
        }
        _ => Failure::retry(message),
    })
}

/// Runs blocking file work off the worker's thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Failure::retry(format!("store task failed: {e}")).into()))
}

impl LocalStore {
    /// A store rooted at `root`, created if missing.
    pub fn new(root: PathBuf) -> LocalStore {
        LocalStore {
            root: Arc::new(root),
        }
    }

    pub fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    /// The file of `key`; keys are confined before they get here, and a key
    /// that would still leave the root is refused.
    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        let rel = Path::new(key);
        let normal = rel.components().all(|c| matches!(c, Component::Normal(_)));
        if key.is_empty() || !normal || key.starts_with('.') {
            return Err(
                Failure::permanent(format!("key {key:?} is not a plain relative path")).into(),
            );
        }
        Ok(self.root.join(rel))
    }

    fn upload_dir(&self, upload_id: &str) -> PathBuf {
        self.root.join(UPLOADS).join(upload_id)
    }

    /// Writes `chunks` to a new temporary file, synced.
    fn write_aside(&self, chunks: impl IntoIterator<Item = Bytes>) -> Result<PathBuf, StoreError> {
        let dir = self.root.join(TMP);
        fs::create_dir_all(&dir).map_err(|e| failure("cannot create", &dir, &e))?;
        let tmp = dir.join(super::random_id());
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| failure("cannot create", &tmp, &e))?;
        for c in chunks {
            f.write_all(&c)
                .map_err(|e| failure("cannot write", &tmp, &e))?;
        }
        f.sync_all().map_err(|e| failure("cannot sync", &tmp, &e))?;
        Ok(tmp)
    }

    /// Links a synced temporary file into place, never over an existing object.
    fn publish(&self, tmp: &Path, key: &str) -> Result<(), StoreError> {
        let dest = self.path_of(key)?;
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).map_err(|e| failure("cannot create", dir, &e))?;
        }
        let linked = fs::hard_link(tmp, &dest);
        let _ = fs::remove_file(tmp);
        match linked {
            Ok(()) => {
                if let Some(dir) = dest.parent() {
                    sync_dir(dir);
                }
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                Err(StoreError::KeyExists(key.into()))
            }
            Err(e) => Err(failure("cannot link", &dest, &e)),
        }
    }

    pub async fn put_object(&self, key: &str, body: Bytes, writer: &str) -> Result<(), StoreError> {
        let (this, key, writer) = (self.clone(), key.to_string(), writer.to_string());
        blocking(move || {
            let tmp = this.write_aside([body])?;
            set_writer(&tmp, &writer);
            this.publish(&tmp, &key)
        })
        .await
    }

    pub async fn create_upload(&self, key: &str, writer: &str) -> Result<String, StoreError> {
        let (this, key, writer) = (self.clone(), key.to_string(), writer.to_string());
        blocking(move || {
            this.path_of(&key)?;
            let id = super::random_id();
            let dir = this.upload_dir(&id);
            fs::create_dir_all(&dir).map_err(|e| failure("cannot create", &dir, &e))?;
            for (name, value) in [("writer", writer), ("key", key)] {
                let tmp = this.write_aside([Bytes::from(value.into_bytes())])?;
                let dest = dir.join(name);
                fs::rename(&tmp, &dest).map_err(|e| failure("cannot write", &dest, &e))?;
            }
            sync_dir(&dir);
            Ok(id)
        })
        .await
    }

    /// The writer an object names, kept in its `user.sluice-object` extended
    /// attribute; `None` when there is no object or no attribute (a file
    /// system without user attributes, a file someone else put there).
    pub async fn writer_of(&self, key: &str) -> Result<Option<String>, StoreError> {
        let path = self.path_of(key)?;
        blocking(move || Ok(get_writer(&path))).await
    }

    fn upload_key(&self, upload_id: &str, key: &str) -> Result<PathBuf, StoreError> {
        let dir = self.upload_dir(upload_id);
        match fs::read(dir.join("key")) {
            Ok(k) if k == key.as_bytes() => Ok(dir),
            _ => Err(StoreError::NoSuchUpload {
                key: key.into(),
                upload_id: upload_id.into(),
            }),
        }
    }

    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
    ) -> Result<String, StoreError> {
        let (this, key, id) = (self.clone(), key.to_string(), upload_id.to_string());
        blocking(move || {
            let dir = this.upload_key(&id, &key)?;
            let etag = format!("\"{:x}\"", Md5::digest(&body));
            let tmp = this.write_aside([body])?;
            let dest = dir.join(format!("{number:05}.part"));
            fs::rename(&tmp, &dest).map_err(|e| failure("cannot write", &dest, &e))?;
            Ok(etag)
        })
        .await
    }

    pub async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<(), StoreError> {
        let (this, key, id) = (self.clone(), key.to_string(), upload_id.to_string());
        let numbers: Vec<u32> = parts.iter().map(|(n, _)| *n).collect();
        blocking(move || {
            let dir = this.upload_key(&id, &key)?;
            let mut chunks = Vec::with_capacity(numbers.len());
            for n in numbers {
                let p = dir.join(format!("{n:05}.part"));
                let data = fs::read(&p).map_err(|e| failure("cannot read", &p, &e))?;
                chunks.push(Bytes::from(data));
            }
            let tmp = this.write_aside(chunks)?;
            if let Ok(writer) = fs::read_to_string(dir.join("writer")) {
                set_writer(&tmp, &writer);
            }
            this.publish(&tmp, &key)?;
            let _ = fs::remove_dir_all(&dir);
            Ok(())
        })
        .await
    }

    pub async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        let (this, key, id) = (self.clone(), key.to_string(), upload_id.to_string());
        blocking(move || {
            let dir = this.upload_key(&id, &key)?;
            fs::remove_dir_all(&dir).map_err(|e| failure("cannot remove", &dir, &e))
        })
        .await
    }

    pub async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<ListedPart>, StoreError> {
        let (this, key, id) = (self.clone(), key.to_string(), upload_id.to_string());
        blocking(move || {
            let dir = this.upload_key(&id, &key)?;
            let mut parts = Vec::new();
            let entries = fs::read_dir(&dir).map_err(|e| failure("cannot list", &dir, &e))?;
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(n) = name
                    .to_str()
                    .and_then(|n| n.strip_suffix(".part"))
                    .and_then(|n| n.parse().ok())
                else {
                    continue;
                };
                let data = fs::read(entry.path())
                    .map_err(|e| failure("cannot read", &entry.path(), &e))?;
                parts.push(ListedPart {
                    number: n,
                    etag: format!("\"{:x}\"", Md5::digest(&data)),
                    size: data.len() as u64,
                });
            }
            parts.sort_by_key(|p| p.number);
            Ok(parts)
        })
        .await
    }

    /// Every unfinished upload: (key, id).
    fn uploads(&self) -> Vec<(String, String)> {
        let Ok(entries) = fs::read_dir(self.root.join(UPLOADS)) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let key = fs::read_to_string(e.path().join("key")).ok()?;
                Some((key, e.file_name().to_str()?.to_string()))
            })
            .collect()
    }

    pub async fn taken_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let (this, prefix) = (self.clone(), prefix.to_string());
        blocking(move || {
            let mut keys: Vec<String> = this
                .uploads()
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| k.starts_with(&prefix))
                .collect();
            // Only the directory the prefix ends in can hold its keys.
            let (dir_part, _) = prefix.rsplit_once('/').unwrap_or(("", &prefix));
            let dir = this.root.join(dir_part);
            if let Ok(entries) = fs::read_dir(&dir) {
                for e in entries.flatten() {
                    let Some(name) = e.file_name().to_str().map(str::to_string) else {
                        continue;
                    };
                    let key = if dir_part.is_empty() {
                        name
                    } else {
                        format!("{dir_part}/{name}")
                    };
                    if key.starts_with(&prefix) && !key.starts_with(".sluice-") {
                        keys.push(key);
                    }
                }
            }
            Ok(keys)
        })
        .await
    }

    pub async fn uploads_of(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let (this, key) = (self.clone(), key.to_string());
        blocking(move || {
            Ok(this
                .uploads()
                .into_iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, id)| id)
                .collect())
        })
        .await
    }
}

/// Makes a directory entry durable (a new link or rename in it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_object_names_its_writer_whether_put_or_multipart() {
        let dir = std::env::temp_dir().join(format!("sluice-local-{}", super::super::random_id()));
        let store = LocalStore::new(dir.clone());
        store
            .put_object("a/one", Bytes::from_static(b"x"), "spool-a")
            .await
            .unwrap();
        let id = store.create_upload("a/two", "spool-b").await.unwrap();
        let etag = store
            .upload_part("a/two", &id, 1, Bytes::from_static(b"y"))
            .await
            .unwrap();
        store
            .complete_upload("a/two", &id, &[(1, etag)])
            .await
            .unwrap();
        let writer = |k: &'static str| store.writer_of(k);
        assert_eq!(writer("a/one").await.unwrap().as_deref(), Some("spool-a"));
        assert_eq!(writer("a/two").await.unwrap().as_deref(), Some("spool-b"));
        assert_eq!(writer("a/three").await.unwrap(), None);
        // The key stays taken for anyone else.
        let again = store
            .put_object("a/one", Bytes::from_static(b"z"), "spool-c")
            .await;
        assert_eq!(again, Err(StoreError::KeyExists("a/one".into())));
        let _ = fs::remove_dir_all(dir);
    }
}
