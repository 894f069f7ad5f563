//! `segflow bench`: its flags, turned into the bench's options.

use std::path::PathBuf;

use clap::Args;

use crate::bench::{BenchData, BenchOptions};

use super::ClusterArgs;

/// The arguments of `segflow bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Catalog file(s) of segment definitions; repeat to combine several.
    #[arg(long = "catalog", short = 'c', required = true, value_name = "FILE")]
    pub catalogs: Vec<PathBuf>,
    /// Data directory (users.csv, events.csv, scores.csv) to backfill and draw updates from.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "gen_users",
        conflicts_with = "gen_users"
    )]
    pub data: Option<PathBuf>,
    /// Generate this many users instead (as `segflow gen`, into a temporary directory).
    #[arg(long, value_name = "N", requires = "gen_events")]
    pub gen_users: Option<u64>,
    /// Events to generate with --gen-users.
    #[arg(long, value_name = "M", requires = "gen_users")]
    pub gen_events: Option<u64>,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Draw latency against throughput as SVG into this file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Short loops and one peer run each: a smoke test, not a measurement.
    #[arg(long)]
    pub quick: bool,
    /// Also measure the live run's file path (`segflow tail` over a followed
    /// directory) and the memory windows hold.
    #[arg(long)]
    pub tail: bool,
    /// Also measure `segflow serve`'s API (a user's segments, a page of members) in a
    /// closed loop and at 1,000 and 10,000 requests/s while 100k events/s are ingested.
    #[arg(long)]
    pub serve: bool,
    /// Skip the from-scratch peers (reference evaluator and DuckDB).
    #[arg(long)]
    pub no_peers: bool,
    /// Where the workers run.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs the bench the flags describe.
pub fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let workers = args.cluster.config()?;
    let data = match args.data {
        Some(dir) => BenchData::Dir(dir),
        // clap requires --gen-users and --gen-events together when --data is absent.
        None => BenchData::Generated {
            users: args.gen_users.unwrap_or(0),
            events: args.gen_events.unwrap_or(0),
            seed: args.seed,
        },
    };
    crate::bench::run(BenchOptions {
        catalogs: args.catalogs,
        data,
        out: args.out,
        svg: args.svg,
        quick: args.quick,
        tail: args.tail,
        serve: args.serve,
        peers: !args.no_peers,
        workers,
    })
}
