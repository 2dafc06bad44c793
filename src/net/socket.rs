//! Socket options both ends of a syslog connection set, through libc where
//! std and tokio have no setter.

use crate::config::schema::{Kind, OptionSpec, TimeUnit};
use std::time::Duration;

/// `tcp-keepalive-time()`, `tcp-keepalive-intvl()` and `tcp-keepalive-probes()`,
/// as network() sources and destinations both take them.
pub const KEEPALIVE_OPTIONS: [OptionSpec; 3] = [
    OptionSpec {
        name: "tcp-keepalive-time",
        kind: Kind::Duration {
            bare: TimeUnit::Seconds,
            min_ms: 1000,
            max_ms: 32_767_000,
        },
        default: "60",
        doc: "Idle time before the first keepalive probe (seconds when bare).",
    },
    OptionSpec {
        name: "tcp-keepalive-intvl",
        kind: Kind::Duration {
            bare: TimeUnit::Seconds,
            min_ms: 1000,
            max_ms: 32_767_000,
        },
        default: "10",
        doc: "Time between keepalive probes (seconds when bare).",
    },
    OptionSpec {
        name: "tcp-keepalive-probes",
        kind: Kind::Int { min: 1, max: 127 },
        default: "6",
        doc: "Unanswered probes after which the connection is closed.",
    },
];

/// Sets `SO_RCVBUF` when asked to; the kernel may round or cap it.
pub fn set_rcvbuf(fd: std::os::fd::RawFd, size: usize) {
    set_buffer(fd, libc::SO_RCVBUF, "so-rcvbuf", size);
}

/// Sets `SO_SNDBUF` when asked to; the kernel may round or cap it.
pub fn set_sndbuf(fd: std::os::fd::RawFd, size: usize) {
    set_buffer(fd, libc::SO_SNDBUF, "so-sndbuf", size);
}

fn set_buffer(fd: std::os::fd::RawFd, option: libc::c_int, name: &str, size: usize) {
    if size == 0 {
        return;
    }
    let size = size.min(i32::MAX as usize) as libc::c_int;
    if let Err(e) = setsockopt(fd, libc::SOL_SOCKET, option, size) {
        tracing::warn!("{name}({size}) was refused: {e}");
    }
}

/// Turns on TCP keepalive with the given timing on a connection.
pub fn set_keepalive(fd: std::os::fd::RawFd, (idle, interval, probes): (Duration, Duration, u32)) {
    let secs = |d: Duration| d.as_secs().clamp(1, i32::MAX as u64) as libc::c_int;
    let result = setsockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)
        .and_then(|()| setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs(idle)))
        .and_then(|()| setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, secs(interval)))
        .and_then(|()| {
            setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_KEEPCNT,
                probes as libc::c_int,
            )
        });
    if let Err(e) = result {
        tracing::debug!("keepalive could not be set: {e}");
    }
}

pub fn setsockopt(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: fd is an open socket owned by the caller; the option value is a
    // c_int that lives across the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Bytes written to a TCP socket that the peer has not acknowledged yet
/// (`SIOCOUTQ`): what a connection that died may not have delivered. It still
/// answers after a reset, until the socket is closed.
pub fn unacked(fd: std::os::fd::RawFd) -> std::io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: fd is an open socket owned by the caller; SIOCOUTQ (TIOCOUTQ)
    // writes one c_int.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n as *mut libc::c_int) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n.max(0) as usize)
}
