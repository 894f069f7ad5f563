//! Command-line interface: `segflow run`, `tail`, `check`, `gen`, `sql`, `bench`, `cluster`.

mod cluster_args;
mod launch;
mod tail;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::catalog;
use crate::engine::batch::{run_files, OnError};
use crate::io::load::DataFiles;
use crate::io::output::{sizes_table, write_results};
use crate::plan::{describe, Plan};

pub use cluster_args::ClusterArgs;
pub use launch::{LaunchArgs, PORT_TAKEN};

#[derive(Parser, Debug)]
#[command(
    name = "segflow",
    version,
    about = "Every segment of a catalog maintained by one incremental dataflow"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Evaluate every segment of a catalog over a data directory, as of one time.
    Run(RunArgs),
    /// Load a backfill, then follow live JSON-lines files and append every membership
    /// change to a change log.
    Tail(tail::TailArgs),
    /// Check catalog files and print the plan: segments, kinds, dependencies, sharing.
    Check(CheckArgs),
    /// Write deterministic synthetic users.csv, events.csv and scores.csv.
    Gen(GenArgs),
    /// Compile a catalog into one SQL query (DuckDB) giving (segment, user_id) rows.
    Sql(crate::sql::SqlArgs),
    /// Measure backfill throughput, live update latency and from-scratch peers of a
    /// catalog, in one report.
    Bench(crate::bench::BenchArgs),
    /// Run a command as a job of several processes on this machine.
    ///
    /// For example `segflow cluster -n 2 -w 1 -- run --catalog C --data D`.
    Cluster(LaunchArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Catalog file(s) of segment definitions; repeat to combine several.
    #[arg(long = "catalog", short = 'c', required = true, value_name = "FILE")]
    pub catalogs: Vec<PathBuf>,
    /// Directory holding users.csv, events.csv and/or scores.csv.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Logical time (seconds since the Unix epoch) to evaluate at; default: the
    /// greatest event or score `ts` in the inputs.
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(..=crate::value::MAX_TIME))]
    pub as_of: Option<u64>,
    /// Output directory for `members/<segment>.csv`, `sizes.csv` and `rejects.csv`.
    #[arg(long, default_value = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// What to do with a malformed input row.
    #[arg(long, value_enum, default_value_t = OnError::Stop)]
    pub on_error: OnError,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Catalog file(s).
    #[arg(required = true, value_name = "CATALOG")]
    pub catalogs: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct GenArgs {
    /// Number of users in users.csv.
    #[arg(long, default_value_t = 1000)]
    pub users: u64,
    /// Number of rows in events.csv.
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Random seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run_batch(args),
        Command::Tail(args) => tail::tail(args),
        Command::Check(args) => {
            let catalog = catalog::load(&args.catalogs)?;
            print!("{}", describe(&catalog, &Plan::new(&catalog)));
            Ok(())
        }
        Command::Gen(args) => {
            let options = crate::gen::GenOptions::new(args.users, args.events, args.seed);
            let summary = crate::gen::generate(&options, &args.out)?;
            println!(
                "wrote {} users, {} events, {} scores to {} (ts {}..{})",
                summary.users,
                summary.events,
                summary.scores,
                args.out.display(),
                summary.min_ts,
                summary.max_ts
            );
            Ok(())
        }
        Command::Sql(args) => crate::sql::run(args),
        Command::Bench(args) => crate::bench::run(args),
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

fn run_batch(args: RunArgs) -> anyhow::Result<()> {
    let workers = args.cluster.config()?;
    let catalog = catalog::load(&args.catalogs)?;
    let files = DataFiles::open(&args.data, &catalog)?;
    let Some(result) = run_files(&catalog, files, args.as_of, args.on_error, workers)? else {
        println!(
            "process {} of {} done; process 0 writes the results",
            args.cluster.process, args.cluster.processes
        );
        return Ok(());
    };
    write_results(&args.out, &catalog, &result).context("writing results")?;

    let stats = &result.stats;
    println!(
        "as of {}: {} users, {} events, {} scores read and fed in {:.2}s, results complete {:.2}s later",
        result.as_of,
        stats.users,
        stats.events,
        stats.scores,
        stats.load.as_secs_f64(),
        stats.finish.as_secs_f64()
    );
    if stats.after_as_of > 0 {
        println!(
            "{} events/scores after the as-of time were not counted",
            stats.after_as_of
        );
    }
    if !result.rejects.is_empty() {
        println!(
            "{} bad row(s) set aside in {}",
            result.rejects.len(),
            args.out.join("rejects.csv").display()
        );
    }
    print!("{}", sizes_table(&catalog, &result));
    println!("members written to {}", args.out.join("members").display());
    Ok(())
}
