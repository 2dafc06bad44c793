//! The running `file()` driver: renders each batch into one buffer per output file
//! and appends each buffer with as few `write` calls as the kernel allows.
//!
//! A templated path (`${HOST}.log`) can name more files than the process may
//! hold open: at most `max-open-files()` stay open, the least recently used are
//! closed first, and an open that fails for want of descriptors (EMFILE,
//! ENFILE) closes the older half and tries again. A closed file keeps its
//! pending bytes in memory, so closing one early never loses a message.

use super::FileOptions;
use crate::destinations::timers::Deadlines;
use crate::destinations::{Driver, Failure};
use crate::logpath::{Ack, Delivery};
use crate::message::Message;
use crate::template::RenderContext;
use std::collections::HashMap;
use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use tokio::time::Instant;

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
    /// By a stable id; `None` is a free slot (see `free`).
    outputs: Vec<Option<Output>>,
    free: Vec<usize>,
    by_path: HashMap<Vec<u8>, usize>,
    /// Outputs with pending bytes.
    dirty: Vec<usize>,
    /// When each output of a templated path is next checked for `time-reap()`.
    idle: Deadlines<usize>,
    path_buf: Vec<u8>,
    /// Files open now (outputs whose `file` is set).
    open_files: usize,
    /// `max-open-files()`, within a quarter of the descriptor limit.
    max_open: usize,
    /// Deliveries rendered but not yet written (and synced).
    held: Vec<Ack>,
    /// Messages given up since the held deliveries were taken (bad path,
    /// permission denied).
    dropped: usize,
    last_error: Option<String>,
}

impl FileDriver {
    pub fn new(opts: FileOptions, ctx: RenderContext) -> FileDriver {
        let ctx = ctx.with_overrides(opts.time_zone.as_ref(), opts.frac_digits);
        let max_open = opts.max_open_files.min(descriptor_limit() / 4).max(1);
        FileDriver {
            opts,
            ctx,
            outputs: Vec::new(),
            free: Vec::new(),
            by_path: HashMap::new(),
            dirty: Vec::new(),
            idle: Deadlines::default(),
            path_buf: Vec::new(),
            open_files: 0,
            max_open,
            held: Vec::new(),
            dropped: 0,
            last_error: None,
        }
    }

    fn out(&mut self, i: usize) -> &mut Output {
        self.outputs[i].as_mut().expect("live output id")
    }

    /// Closes the least recently used open files, `keep` of them staying open.
    /// Their pending bytes stay in memory for the next flush.
    fn close_oldest(&mut self, keep: usize) {
        let mut open: Vec<(Instant, usize)> = self
            .outputs
            .iter()
            .enumerate()
            .filter_map(|(i, o)| {
                o.as_ref()
                    .filter(|o| o.file.is_some())
                    .map(|o| (o.last_used, i))
            })
            .collect();
        if open.len() <= keep {
            return;
        }
        open.sort_unstable();
        for &(_, i) in &open[..open.len() - keep] {
            self.out(i).file = None;
        }
        self.open_files = keep;
    }

    /// Makes sure output `i` has its file open, within the cap.
    fn ensure_open(&mut self, i: usize) -> std::io::Result<()> {
        if self.out(i).file.is_some() {
            return Ok(());
        }
        if self.open_files >= self.max_open {
            // A quarter at a time keeps eviction off the per-open path.
            self.close_oldest(self.max_open - self.max_open.div_ceil(4));
        }
        let path = std::mem::take(&mut self.out(i).path);
        let opened = match Self::open(&self.opts, &path) {
            Err(e) if out_of_descriptors(&e) && self.open_files > 0 => {
                self.close_oldest(self.open_files / 2);
                Self::open(&self.opts, &path)
            }
            other => other,
        };
        let out = self.out(i);
        out.path = path;
        out.file = Some(opened?);
        self.open_files += 1;
        Ok(())
    }

    /// The output a message goes to, created on first use.
    fn output_for(&mut self, msg: &Message, now: Instant) -> usize {
        self.path_buf.clear();
        match self.opts.path.literal() {
            Some(p) => self.path_buf.extend_from_slice(p),
            // A value cannot lead out of the directory the template names:
            // it is neutralised (template/confine.rs), never refused.
            None => self
                .opts
                .path
                .render_confined(msg, &self.ctx, &mut self.path_buf),
        }
        if let Some(&i) = self.by_path.get(&self.path_buf) {
            return i;
        }
        let out = Output {
            path: self.path_buf.clone(),
            file: None,
            pending: Vec::new(),
            pending_msgs: 0,
            last_used: now,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.outputs[i] = Some(out);
                i
            }
            None => {
                self.outputs.push(Some(out));
                self.outputs.len() - 1
            }
        };
        self.by_path.insert(self.path_buf.clone(), i);
        if self.opts.path.literal().is_none() {
            self.idle.set(i, now + self.opts.time_reap);
        }
        i
    }

    /// Forgets output `i`, closing its file.
    fn remove(&mut self, i: usize) {
        if let Some(out) = self.outputs[i].take() {
            if out.file.is_some() {
                self.open_files -= 1;
            }
            self.by_path.remove(&out.path);
            self.free.push(i);
        }
    }

    /// Writes every output with pending bytes; settles the held deliveries
    /// once nothing is left pending.
    fn flush(&mut self) -> Result<(), Failure> {
        let mut transient = None;
        let mut still_dirty = Vec::new();
        for i in std::mem::take(&mut self.dirty) {
            let fsync = self.opts.fsync;
            let result = self.ensure_open(i).and_then(|()| {
                let Output { file, pending, .. } = self.out(i);
                let Some(f) = file.as_mut() else {
                    return Ok(());
                };
                write_out(f, pending)?;
                if fsync {
                    f.sync_data()?;
                }
                Ok(())
            });
            let Err(e) = result else {
                self.out(i).pending_msgs = 0;
                continue;
            };
            let out = self.outputs[i].as_mut().expect("live output id");
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
                still_dirty.push(i);
                transient = Some(what);
            }
        }
        self.dirty = still_dirty;
        if let Some(error) = transient {
            return Err(Failure::retry(error));
        }
        // Everything held is written or given up: settle, the given-up
        // messages counted against the first deliveries (the count is what
        // matters; the source hears of the failure either way).
        let mut lost = std::mem::take(&mut self.dropped);
        for ack in self.held.drain(..) {
            let here = lost.min(ack.len());
            lost -= here;
            ack.settle_partly(here);
        }
        match self.last_error.take() {
            Some(error) => Err(Failure::permanent(error)),
            None => Ok(()),
        }
    }

    fn open(opts: &FileOptions, raw: &[u8]) -> std::io::Result<File> {
        let path = Path::new(std::ffi::OsStr::from_bytes(raw));
        // Only a template without any text renders empty (a value that renders
        // empty leaves `_`); its messages have nowhere to go.
        if raw.is_empty() {
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "refusing an empty path",
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
    fn accept(&mut self, delivery: Delivery, now: Instant) -> Result<(), Failure> {
        let mut last: Option<usize> = None;
        let literal = self.opts.path.literal().is_some();
        for msg in delivery.messages() {
            let i = match last {
                Some(i) if literal => i,
                _ => self.output_for(msg, now),
            };
            last = Some(i);
            let out = self.outputs[i].as_mut().expect("live output id");
            if out.pending.is_empty() {
                self.dirty.push(i);
            }
            self.opts.template.render(msg, &self.ctx, &mut out.pending);
            out.pending_msgs += 1;
            out.last_used = now;
        }
        self.held.push(delivery.release());
        self.flush()
    }

    fn retry(&mut self, _now: Instant) -> Result<(), Failure> {
        self.flush()
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.idle.next()
    }

    /// Closes the files of a templated path unused for `time-reap()`.
    fn on_time(&mut self, now: Instant) {
        let reap = self.opts.time_reap;
        while let Some(i) = self.idle.pop_due(now) {
            let Some(out) = self.outputs[i].as_ref() else {
                continue;
            };
            let idle_until = out.last_used + reap;
            if !out.pending.is_empty() {
                // Unwritten bytes wait for the retry; look again later.
                self.idle.set(i, now + reap);
            } else if idle_until <= now {
                self.remove(i);
            } else {
                self.idle.set(i, idle_until);
            }
        }
    }

    fn reopen(&mut self, _now: Instant) {
        for out in self.outputs.iter_mut().flatten() {
            out.file = None;
        }
        self.open_files = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logpath::{Batch, Queue};
    use crate::message::{Timestamp, Zone};
    use crate::parse::{ParseOptions, parse};
    use crate::telemetry::DestinationStats;
    use crate::template::Template;
    use bytes::Bytes;
    use std::sync::Arc;
    use std::time::Duration;

    fn options(dir: &Path, path: &str) -> FileOptions {
        let text = format!("{}/{path}", dir.display());
        FileOptions {
            path: Template::compile(&text).unwrap(),
            template: Template::compile("${MESSAGE}\n").unwrap(),
            create_dirs: false,
            dir_perm: None,
            perm: None,
            owner: None,
            group: None,
            dir_owner: None,
            dir_group: None,
            fsync: false,
            time_reap: Duration::from_secs(60),
            max_open_files: 256,
            time_zone: None,
            frac_digits: None,
            queue: Default::default(),
        }
    }

    async fn deliver(driver: &mut FileDriver, hosts: &[&str], now: Instant) {
        let stats = Arc::new(DestinationStats::default());
        let (q, mut rx) = Queue::new(100, 1 << 20, stats);
        let msgs = hosts
            .iter()
            .map(|h| {
                let line = format!("<13>Nov 23 14:07:17 {h} app: hello");
                parse(
                    Bytes::from(line),
                    Timestamp::now(&Zone::Local),
                    None,
                    &ParseOptions::default(),
                )
            })
            .collect();
        assert!(q.send(&Arc::new(Batch::new(msgs)), true).await);
        driver.accept(rx.try_recv().unwrap(), now).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn idle_files_of_a_templated_path_close_after_time_reap() {
        let dir = std::env::temp_dir().join(format!("sluice-reap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut d = FileDriver::new(options(&dir, "${HOST}.log"), RenderContext::default());
        let t0 = Instant::now();
        let s = Duration::from_secs;
        deliver(&mut d, &["a", "b"], t0).await;
        assert_eq!(d.open_files, 2);
        deliver(&mut d, &["a"], t0 + s(30)).await;
        assert_eq!(
            d.next_deadline(),
            Some(t0 + s(60)),
            "time-reap(60) by default"
        );
        d.on_time(t0 + s(60));
        assert_eq!((d.open_files, d.by_path.len()), (1, 1), "b was idle 60 s");
        assert_eq!(d.next_deadline(), Some(t0 + s(90)), "a was written at 30 s");
        d.on_time(t0 + s(90));
        assert_eq!((d.open_files, d.by_path.len()), (0, 0));
        assert_eq!(d.next_deadline(), None);
        // A slot freed by the reap is reused, and the file appended to.
        deliver(&mut d, &["b"], t0 + s(100)).await;
        let b = std::fs::read_to_string(dir.join("b.log")).unwrap();
        assert_eq!(b, "hello\nhello\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
