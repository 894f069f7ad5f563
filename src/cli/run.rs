//! `segflow run`: every segment's members over a data directory, as of one time.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::catalog;
use crate::engine::batch::{run_files, OnError};
use crate::io::load::DataFiles;
use crate::io::output::{check_out_dir, sizes_table, write_results};

use super::choices;
use super::ClusterArgs;

/// The arguments of `segflow run`.
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
    #[arg(long, value_parser = choices::on_error(), default_value_t = OnError::Stop)]
    pub on_error: OnError,
    /// Where the workers run.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs the catalog over the data and writes the results.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let workers = args.cluster.config()?;
    let catalog = catalog::load(&args.catalogs)?;
    let files = DataFiles::open(&args.data, &catalog)?;
    if args.cluster.process == 0 {
        check_out_dir(&args.out)?;
    }
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
            "{} rows (events, scores, timed users rows, model switches) after the as-of time were not counted",
            stats.after_as_of
        );
    }
    if stats.duplicates > 0 {
        println!(
            "{} duplicate event(s) set aside: another event of the same user has the same event_id",
            stats.duplicates
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
