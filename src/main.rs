//! The `sluice` daemon; everything lives in the library.

fn main() -> std::process::ExitCode {
    bound_malloc_arenas();
    sluice::daemon::main(std::env::args_os().collect())
}

/// Upload part bodies and spool reads are megabytes, allocated and freed on
/// several threads (upload workers, blocking-pool readers). glibc gives each
/// thread its own arena and keeps what is freed there resident, so peak memory
/// grew with the number of threads that had held a part; two arenas bound it
/// (throttled store: 88 -> 65 MiB) without the page-fault cost of mmapping
/// every buffer.
fn bound_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc tunable; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
