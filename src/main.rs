//! The `segflow` command line.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: loading tens of millions of rows makes
/// every worker thread allocate heavily at once, where glibc's allocator returns memory
/// to the kernel and faults it back in, serialising the threads on page faults.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = segflow::cli::Cli::parse();
    match segflow::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
