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
            // Catalog diagnostics carry their own `error:` headers and source excerpts.
            match error.downcast_ref::<segflow::catalog::CatalogError>() {
                Some(invalid @ segflow::catalog::CatalogError::Invalid(_)) => {
                    eprintln!("{invalid}")
                }
                Some(other) => eprintln!("error: {other}"),
                None => eprintln!("error: {error:#}"),
            }
            if segflow::cli::port_taken(&error) {
                ExitCode::from(segflow::cli::PORT_TAKEN)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
