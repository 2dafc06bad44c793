//! The running `file()` driver: renders each batch into one buffer per output file
//! and appends each buffer with as few `write` calls as the kernel allows.
//!
//! A templated path (`${HOST}.log`) can name more files than the process may
//! hold open: at most `max-open-files()` stay open, the least recently used are
//! closed first, and an open that fails for want of descriptors (EMFILE,
//! ENFILE) closes the older half and tries again. A closed file keeps its
//! pending bytes in memory, so closing one early never loses a message.

use super::FileOptions;
use crate::destinations::{Driver, WriteError};
use crate::message::Message;
use crate::template::RenderContext;
use std::collections::HashMap;
use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path};
use std::time::Instant;

struct Output {
    path: Vec<u8>,
    file: Option<File>,
    /// Rendered, not yet written.
    pending: Vec<u8>,
    pending_msgs: usize,
    last_used: Instant,
}

pub struct FileDriver {
    opts: FileOptions,
    ctx: RenderContext,
    outputs: Vec<Output>,
    by_path: HashMap<Vec<u8>, usize>,
    path_buf: Vec<u8>,
    /// Files open now (outputs whose `file` is set).
    open_files: usize,
    /// `max-open-files()`, within a quarter of the descriptor limit.
    max_open: usize,
    /// Messages given up since the last report (bad path, permission denied).
    dropped: usize,
    last_error: Option<String>,
}

impl FileDriver {
    pub fn new(opts: FileOptions, ctx: RenderContext) -> FileDriver {
        let mut ctx = ctx;
        if let Some(zone) = &opts.time_zone {
            ctx.zone = Some(zone.clone());
        }
        if let Some(digits) = opts.frac_digits {
            ctx.frac_digits = digits;
        }
        let max_open = opts.max_open_files.min(descriptor_limit() / 4).max(1);
        FileDriver {
            opts,
            ctx,
            outputs: Vec::new(),
            by_path: HashMap::new(),
            path_buf: Vec::new(),
            open_files: 0,
            max_open,
            dropped: 0,
            last_error: None,
        }
    }

    /// Closes the least recently used open files, `keep` of them staying open.
    /// Their pending bytes stay in memory for the next flush.
    fn close_oldest(&mut self, keep: usize) {
        let mut open: Vec<(Instant, usize)> = self
            .outputs
            .iter()
            .enumerate()
            .filter(|(_, o)| o.file.is_some())
            .map(|(i, o)| (o.last_used, i))
            .collect();
        if open.len() <= keep {
            return;
        }
        open.sort_unstable();
        for &(_, i) in &open[..open.len() - keep] {
            self.outputs[i].file = None;
        }
        self.open_files = keep;
    }

    /// Makes sure output `i` has its file open, within the cap.
    fn ensure_open(&mut self, i: usize) -> std::io::Result<()> {
        if self.outputs[i].file.is_some() {
            return Ok(());
        }
        if self.open_files >= self.max_open {
            // A quarter at a time keeps eviction off the per-open path.
            self.close_oldest(self.max_open - self.max_open.div_ceil(4));
        }
        let file = match Self::open(&self.opts, &self.outputs[i].path) {
            Err(e) if out_of_descriptors(&e) && self.open_files > 0 => {
                self.close_oldest(self.open_files / 2);
                Self::open(&self.opts, &self.outputs[i].path)?
            }
            other => other?,
        };
        self.outputs[i].file = Some(file);
        self.open_files += 1;
        Ok(())
    }

    /// The output a message goes to, created on first use.
    fn output_for(&mut self, msg: &Message, now: Instant) -> usize {
        self.path_buf.clear();
        match self.opts.path.literal() {
            Some(p) => self.path_buf.extend_from_slice(p),
            None => self.opts.path.render(msg, &self.ctx, &mut self.path_buf),
        }
        if let Some(&i) = self.by_path.get(&self.path_buf) {
            return i;
        }
        self.outputs.push(Output {
            path: self.path_buf.clone(),
            file: None,
            pending: Vec::new(),
            pending_msgs: 0,
            last_used: now,
        });
        let i = self.outputs.len() - 1;
        self.by_path.insert(self.path_buf.clone(), i);
        i
    }

    fn open(opts: &FileOptions, raw: &[u8]) -> std::io::Result<File> {
        let path = Path::new(std::ffi::OsStr::from_bytes(raw));
        // syslog-ng refuses "spurious" paths too: a macro value must not walk out
        // of the directory the template names.
        if raw.is_empty()
            || raw.contains(&0)
            || path.components().any(|c| c == Component::ParentDir)
        {
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "refusing a path that is empty, has a NUL byte or a `..` component",
            ));
        }
        let open = || {
            OpenOptions::new()
                .append(true)
                .create(true)
                .mode(opts.perm.unwrap_or(0o600))
                .open(path)
        };
        let file = match open() {
            Err(e) if e.kind() == ErrorKind::NotFound && opts.create_dirs => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    create_dirs(opts, dir)?;
                }
                open()?
            }
            other => other?,
        };
        // As syslog-ng does on every open, whatever the umask, but only for
        // regular files: a FIFO or /dev/console keeps its own.
        if file.metadata().is_ok_and(|m| m.is_file())
            && let Err(e) = set_owner_and_mode(&file, opts.owner, opts.group, opts.perm)
        {
            // The messages still get written; only the ownership is off.
            tracing::warn!(path = %path.display(), "cannot set the owner or mode of the file: {e}");
        }
        Ok(file)
    }
}

/// chown and chmod through an open descriptor, so a path swapped for a symlink
/// meanwhile cannot redirect them. `None` leaves that part alone.
fn set_owner_and_mode(
    file: &File,
    owner: Option<u32>,
    group: Option<u32>,
    mode: Option<u32>,
) -> std::io::Result<()> {
    if owner.is_some() || group.is_some() {
        std::os::unix::fs::fchown(file, owner, group)?;
    }
    if let Some(mode) = mode {
        file.set_permissions(Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Creates the missing directories above a file top-down, so that each new one
/// gets `dir-perm()`, `dir-owner()` and `dir-group()`.
fn create_dirs(opts: &FileOptions, dir: &Path) -> std::io::Result<()> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .collect();
    for d in missing.iter().rev() {
        match DirBuilder::new()
            .mode(opts.dir_perm.unwrap_or(0o700))
            .create(d)
        {
            Ok(()) => {
                let fixed = OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
                    .open(d)
                    .and_then(|dir| {
                        set_owner_and_mode(&dir, opts.dir_owner, opts.dir_group, opts.dir_perm)
                    });
                if let Err(e) = fixed {
                    tracing::warn!(path = %d.display(), "cannot set the owner or mode of the directory: {e}");
                }
            }
            // Another writer made it first.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The process is out of descriptors (EMFILE) or the system is (ENFILE).
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// The soft limit on open descriptors (RLIMIT_NOFILE).
fn descriptor_limit() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc != 0 || lim.rlim_cur == libc::RLIM_INFINITY {
        return usize::MAX;
    }
    usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX)
}

/// Errors that retrying cannot fix: the messages for that path are given up.
fn is_permanent(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::NotFound
            | ErrorKind::PermissionDenied
            | ErrorKind::InvalidInput
            | ErrorKind::IsADirectory
            | ErrorKind::NotADirectory
            | ErrorKind::InvalidFilename
    )
}

/// Appends all of `buf`, keeping in it whatever was not written when an error
/// stops us, so a retry never writes a byte twice.
fn write_out(file: &mut File, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut done = 0;
    let result = loop {
        if done == buf.len() {
            break Ok(());
        }
        match file.write(&buf[done..]) {
            Ok(0) => break Err(std::io::Error::from(ErrorKind::WriteZero)),
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    buf.drain(..done);
    result
}

impl Driver for FileDriver {
    fn write(&mut self, messages: &[Message]) -> Result<(), WriteError> {
        let now = Instant::now();
        let mut last: Option<usize> = None;
        let literal = self.opts.path.literal().is_some();
        for msg in messages {
            let i = match last {
                Some(i) if literal => i,
                _ => self.output_for(msg, now),
            };
            last = Some(i);
            let out = &mut self.outputs[i];
            self.opts.template.render(msg, &self.ctx, &mut out.pending);
            out.pending_msgs += 1;
            out.last_used = now;
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<(), WriteError> {
        let mut transient = None;
        for i in 0..self.outputs.len() {
            if self.outputs[i].pending.is_empty() {
                continue;
            }
            let fsync = self.opts.fsync;
            let result = self.ensure_open(i).and_then(|()| {
                let Output { file, pending, .. } = &mut self.outputs[i];
                let Some(f) = file.as_mut() else {
                    return Ok(());
                };
                write_out(f, pending)?;
                if fsync {
                    f.sync_data()?;
                }
                Ok(())
            });
            let out = &mut self.outputs[i];
            match result {
                Ok(()) => out.pending_msgs = 0,
                Err(e) => {
                    let what = format!("{}: {e}", String::from_utf8_lossy(&out.path));
                    // An open that can never succeed gives its messages up; a failed
                    // write (disk full, I/O error) keeps them for the retry.
                    if out.file.is_none() && is_permanent(&e) {
                        self.dropped += out.pending_msgs;
                        out.pending.clear();
                        out.pending_msgs = 0;
                        self.last_error = Some(what);
                    } else {
                        // Reopen on retry: the file may have been replaced.
                        if out.file.take().is_some() {
                            self.open_files -= 1;
                        }
                        transient = Some(what);
                    }
                }
            }
        }
        if let Some(error) = transient {
            return Err(WriteError::Transient(error));
        }
        if self.dropped > 0 {
            let dropped = std::mem::take(&mut self.dropped);
            let error = self.last_error.take().unwrap_or_default();
            return Err(WriteError::Permanent { error, dropped });
        }
        Ok(())
    }

    fn tick(&mut self, now: Instant) {
        if self.opts.path.literal().is_some() {
            return;
        }
        let reap = self.opts.time_reap;
        let before = self.outputs.len();
        self.outputs
            .retain(|o| !o.pending.is_empty() || now.duration_since(o.last_used) < reap);
        self.open_files = self.outputs.iter().filter(|o| o.file.is_some()).count();
        if self.outputs.len() != before {
            self.by_path = self
                .outputs
                .iter()
                .enumerate()
                .map(|(i, o)| (o.path.clone(), i))
                .collect();
        }
    }

    fn reopen(&mut self) {
        for out in &mut self.outputs {
            out.file = None;
        }
        self.open_files = 0;
    }
}
