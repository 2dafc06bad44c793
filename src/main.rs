//! The `sluice` daemon; everything lives in the library.

fn main() -> std::process::ExitCode {
    sluice::daemon::main(std::env::args_os().collect())
}
