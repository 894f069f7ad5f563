//! The `segflow` command line.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: loading tens of millions of rows makes
/// every worker thread allocate heavily at once, where glibc's allocator returns memory
/// to the kernel and faults it back in, serialising the threads on page faults.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (its index in mimalloc v3's `mi_option_e`, which
/// `libmimalloc-sys` builds by default but does not name; the test below checks it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory in the process instead of returning it to the kernel.
///
/// Loading a data set frees and reallocates gigabytes in short order. By default
/// mimalloc hands freed memory back to the kernel after a second, and the kernel must
/// zero it again (as 2 MiB pages) when it is reused: a tenth of the CPU time of the
/// reference workload (docs/BENCHMARKS.md). The price is that a process keeps the
/// memory of its peak until it exits, which batch runs do at once and live runs
/// would approach again at their next large backfill anyway.
fn keep_freed_memory() {
    // SAFETY: sets a plain integer option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

fn main() -> ExitCode {
    keep_freed_memory();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // mimalloc v3 sets purge_delay to 1000 ms by default (src/options.c); no other
        // option defaults to 1000, so this fails if the index points elsewhere.
        // SAFETY: reads an integer option.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, 1000);
    }
}
