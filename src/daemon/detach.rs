//! Running in the background without a service manager (no `-F`): fork, let the
//! parent wait until the child has started (so `sluice` exits 1 when the config
//! or a port is bad, as syslog-ng does), then detach from the terminal.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, IntoRawFd};

const READY: &str = "\0ready";

/// The child's end of the start-up report.
pub struct Started(File);

impl Started {
    /// Reports success (`None`) or the start-up error to the waiting parent.
    pub fn report(mut self, error: Option<&str>) {
        let _ = self.0.write_all(error.unwrap_or(READY).as_bytes());
    }
}

/// Forks. Returns in the child only; the parent exits with 0 once the child
/// reports success, or prints the child's error and exits with 1. Must be called
/// before any thread is started.
pub fn detach(keep_stderr: bool) -> std::io::Result<Started> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe() writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the process is still single-threaded, so fork() is sound.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            // SAFETY: fds[0] is ours to close; fds[1] is owned by the File from here.
            unsafe { libc::close(fds[0]) };
            let report = unsafe { File::from_raw_fd(fds[1]) };
            // SAFETY: plain syscalls on the child's own session and descriptors.
            unsafe { libc::setsid() };
            let null = File::options().read(true).write(true).open("/dev/null")?;
            let fd = null.into_raw_fd();
            unsafe {
                libc::dup2(fd, 0);
                libc::dup2(fd, 1);
                if !keep_stderr {
                    libc::dup2(fd, 2);
                }
                libc::close(fd);
            }
            Ok(Started(report))
        }
        _ => {
            // SAFETY: fds[1] belongs to the child now; fds[0] is owned by the File.
            unsafe { libc::close(fds[1]) };
            let mut from_child = unsafe { File::from_raw_fd(fds[0]) };
            let mut msg = String::new();
            let got = from_child.read_to_string(&mut msg);
            match got {
                Ok(_) if msg == READY => std::process::exit(0),
                Ok(_) if msg.is_empty() => {
                    eprintln!("sluice: the daemon exited during start-up");
                    std::process::exit(1)
                }
                _ => {
                    eprint!("{msg}");
                    if !msg.ends_with('\n') {
                        eprintln!();
                    }
                    std::process::exit(1)
                }
            }
        }
    }
}
