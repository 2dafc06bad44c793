//! The `sluice` daemon; everything lives in the library.

fn main() -> std::process::ExitCode {
    tune_allocator();
    sluice::daemon::main(std::env::args_os().collect())
}

/// glibc gives the free top of a thread's heap back to the kernel past a
/// threshold that follows the largest block freed so far: here the 256 KiB
/// blocks TCP connections read into. Each new block was then faulted in again
/// page by page, a fifth of the daemon's system time on a busy connection.
/// Fixed thresholds keep up to 8 MiB free per heap for reuse; blocks of 4 MiB
/// and more (part bodies, which are pooled) still get mappings of their own.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called before any other thread exists; mallopt only sets
    // allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 8 << 20);
    }
}
