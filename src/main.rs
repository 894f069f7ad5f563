//! The `segflow` command line.

use std::process::ExitCode;

use clap::Parser;

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
