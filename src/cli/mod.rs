//! Command-line interface: `segflow run`, `tail`, `serve`, `check`, `gen`, `sql`, `bench`, `cluster`.
//!
//! Each command's flags and what it does with them are in a file of its own; the
//! library takes plain options, so clap is used here only.

mod bench;
mod check;
mod choices;
mod cluster_args;
mod gen;
mod launch;
mod memory;
mod run;
mod serve;
mod sql;
mod tail;

use clap::{Parser, Subcommand};

pub use bench::BenchArgs;
pub use check::CheckArgs;
pub use cluster_args::ClusterArgs;
pub use gen::GenArgs;
pub use launch::{LaunchArgs, PORT_TAKEN};
pub use memory::MemoryArgs;
pub use run::RunArgs;
pub use serve::ServeArgs;
pub use sql::SqlArgs;
pub use tail::TailArgs;

/// The whole `segflow` command line.
#[derive(Parser, Debug)]
#[command(
    name = "segflow",
    version,
    about = "Every segment of a catalog maintained by one incremental dataflow"
)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
    /// The process's memory limit.
    #[command(flatten)]
    pub memory: MemoryArgs,
}

/// A subcommand of `segflow`, with its arguments.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Evaluate every segment of a catalog over a data directory, as of one time.
    Run(RunArgs),
    /// Load a backfill, then follow live JSON-lines files and append every membership
    /// change to a change log.
    Tail(TailArgs),
    /// Run live as `tail` does and answer an HTTP/JSON API: which segments a user is
    /// in, paged members as of a time, sizes, overlaps, and posted records.
    Serve(ServeArgs),
    /// Check catalog files and print the plan: segments, kinds, dependencies, sharing.
    Check(CheckArgs),
    /// Write deterministic synthetic users.csv, events.csv and scores.csv.
    Gen(GenArgs),
    /// Compile a catalog into one SQL query (DuckDB) giving (segment, user_id) rows.
    Sql(SqlArgs),
    /// Measure backfill throughput, live update latency and from-scratch peers of a
    /// catalog, in one report.
    Bench(BenchArgs),
    /// Run a command as a job of several processes on this machine.
    ///
    /// For example `segflow cluster -n 2 -w 1 -- run --catalog C --data D`.
    Cluster(LaunchArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    launch::watch_launcher();
    memory::guard(&cli.memory);
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Tail(args) => tail::tail(args),
        Command::Serve(args) => serve::serve(args),
        Command::Check(args) => check::check(args),
        Command::Gen(args) => gen::gen(args),
        Command::Sql(args) => sql::sql(args),
        Command::Bench(args) => bench::bench(args),
        Command::Cluster(args) => launch::launch(&args),
    }
}

/// Whether a command failed only because its cluster port was taken (see [`PORT_TAKEN`]).
pub fn port_taken(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<crate::engine::batch::BatchError>(),
        Some(crate::engine::batch::BatchError::Cluster(cluster)) if cluster.is_port_taken()
    )
}
