//! `segflow bench`: backfill throughput, live update latency and from-scratch peers of
//! one catalog over one data set, in one process and one report.
//!
//! The sections run in order, each on what the previous left:
//! 1. a parse-only pass over the files (the parse side of the backfill's split) and a
//!    sample of recent events to draw updates from (`inputs`, `workload`);
//! 2. the backfill and the update loops on the live run's engine parts (`engine`,
//!    `loops`);
//! 3. with `--tail`, the live run's file path and the memory windows hold
//!    (`file_path`, `windows`);
//! 4. the from-scratch peers (`peers`);
//! 5. the table, the JSON report and the chart (`report`, `svg`).

mod engine;
mod file_path;
mod inputs;
mod loops;
mod measure;
mod peers;
mod report;
mod svg;
mod windows;
mod workload;

pub use peers::{python, python_with_duckdb};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Args;

use crate::catalog;
use crate::cli::ClusterArgs;
use crate::gen::{generate, GenOptions};
use crate::io::load::DataFiles;

use loops::Schedule;
use measure::load_average;
use report::{BackfillReport, Live, Peers, Report, Setup};
use workload::Workload;

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
    /// Skip the from-scratch peers (reference evaluator and DuckDB).
    #[arg(long)]
    pub no_peers: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Seed of the updates drawn outside the engine section (file path, reference peer).
const SEED: u64 = 0xb3c4;

/// How much of the sections after the update loops to run.
pub(crate) struct Extent {
    /// Single appends timed on the file path, and events in its one large append.
    probes: usize,
    append: usize,
    /// Events backfilled (twice) to weigh what windows hold.
    window_events: usize,
    /// Recomputations by the reference evaluator (at most; see [`peers::reference`])
    /// and evaluations by DuckDB.
    reference_runs: usize,
    duckdb_runs: usize,
}

impl Extent {
    fn new(quick: bool) -> Extent {
        if quick {
            Extent {
                probes: 20,
                append: 10_000,
                window_events: 10_000,
                reference_runs: 1,
                duckdb_runs: 2,
            }
        } else {
            Extent {
                probes: 500,
                append: 1_000_000,
                window_events: 1_000_000,
                reference_runs: 3,
                duckdb_runs: 5,
            }
        }
    }
}

/// Time the reference evaluator may take for its recomputations (at least one runs).
const REFERENCE_BUDGET: Duration = Duration::from_secs(60);

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let workers = args.cluster.config()?;
    if args.tail && args.cluster.processes > 1 {
        bail!("--tail measures a live run of one process: leave out --processes");
    }
    let catalog = catalog::load(&args.catalogs)?;
    let load_before = load_average();
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let extent = Extent::new(args.quick);
    let (data, _generated, data_label) = data_dir(&args)?;
    let files = Arc::new(DataFiles::open(&data, &catalog)?);

    // Only process 0 reports; the others lend their workers to the engine section.
    let (parse, templates) = if args.cluster.process == 0 {
        let (parse, templates) = prepare(&files, &data, args.cluster.workers)?;
        (Some(parse), templates)
    } else {
        (None, Vec::new())
    };
    let templates = Arc::new(templates);

    progress("backfill, then the update loops");
    let schedule = Schedule::new(args.quick);
    let figures = engine::measure(
        &catalog,
        files.clone(),
        templates.clone(),
        schedule,
        workers.clone(),
    )?;
    let (Some(figures), Some(parse)) = (figures, parse) else {
        println!(
            "process {} of {} done; process 0 writes the report",
            args.cluster.process, args.cluster.processes
        );
        return Ok(());
    };
    let mut workload = Workload::new(templates, SEED);

    let file_path = if args.tail {
        progress("the live run's file path");
        let backfill = files.clone();
        let path = file_path::measure(&catalog, backfill, &mut workload, &extent, workers.clone());
        Some(path?)
    } else {
        None
    };
    let (mut peers, windows) = if args.tail || !args.no_peers {
        progress("loading the data set in memory");
        let mut dataset = inputs::load_dataset(&files);
        drop(files);
        let windows = if args.tail {
            progress("window memory");
            let events = &dataset.events[..dataset.events.len().min(extent.window_events)];
            let time = dataset.max_ts().unwrap_or(0);
            windows::probe(&catalog, events, time, workers)?
        } else {
            None
        };
        let mut peers = Peers::default();
        if !args.no_peers {
            progress("the reference evaluator");
            let now = figures.backfill.time + 1;
            peers.reference = Some(peers::reference(
                &catalog,
                &mut dataset,
                &mut workload,
                now,
                extent.reference_runs,
                REFERENCE_BUDGET,
            ));
        }
        (peers, windows)
    } else {
        (Peers::default(), None)
    };
    if args.no_peers {
        peers.skipped.push("peers: --no-peers".into());
    } else {
        progress("DuckDB");
        match peers::duckdb(&args.catalogs, &data, extent.duckdb_runs) {
            Ok(duckdb) => peers.duckdb = Some(duckdb),
            Err(reason) => peers.skipped.push(format!("DuckDB peer: {reason}")),
        }
    }

    let mut report = Report {
        segflow_bench: 1,
        setup: Setup {
            version: env!("CARGO_PKG_VERSION").into(),
            catalogs: args
                .catalogs
                .iter()
                .map(|c| c.display().to_string())
                .collect(),
            data: data_label,
            users: parse.users,
            events: parse.events,
            scores: parse.scores,
            processes: args.cluster.processes,
            workers: args.cluster.workers,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            quick: args.quick,
            started,
            load_before,
            load_after: load_average(),
        },
        backfill: BackfillReport::new(figures.backfill, &parse),
        peers: peers.with_ratios(&figures.closed_loop),
        closed_loop: figures.closed_loop,
        batch_sweep: figures.batch_sweep,
        open_loop: figures.open_loop,
        live: file_path.map(|file_path| Live { file_path, windows }),
        targets: Vec::new(),
    };
    report.check_targets();
    write_report(&report, &args)
}

/// The parse-only pass and the events to draw updates from; fails on bad rows (the
/// backfill would stop on them) and on data without events.
fn prepare(
    files: &DataFiles,
    data: &Path,
    threads: usize,
) -> anyhow::Result<(inputs::ParsePass, Vec<crate::data::EventRow>)> {
    progress("parsing the data alone");
    let parse = inputs::parse_pass(files, threads);
    if parse.bad_rows > 0 {
        bail!(
            "{}: {} bad row(s); `segflow run` reports them",
            data.display(),
            parse.bad_rows
        );
    }
    let templates = inputs::recent_events(files);
    if templates.is_empty() {
        bail!("{}: no events to draw updates from", data.display());
    }
    Ok((parse, templates))
}

/// Prints the table and writes the JSON and the chart where asked.
fn write_report(report: &Report, args: &BenchArgs) -> anyhow::Result<()> {
    print!("{}", report.table());
    if let Some(out) = &args.out {
        let json = serde_json::to_string_pretty(report)? + "\n";
        std::fs::write(out, json).with_context(|| format!("writing {}", out.display()))?;
        println!("report written to {}", out.display());
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, svg::chart(report))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("chart written to {}", path.display());
    }
    Ok(())
}

/// The data directory, the temporary directory holding generated data (kept until
/// the bench ends), and how the report names the data.
fn data_dir(args: &BenchArgs) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>, String)> {
    if let Some(dir) = &args.data {
        return Ok((dir.clone(), None, dir.display().to_string()));
    }
    let (users, events) = (args.gen_users.unwrap_or(0), args.gen_events.unwrap_or(0));
    let scratch = tempfile::tempdir().context("creating a directory for generated data")?;
    progress(&format!("generating {users} users and {events} events"));
    generate(&GenOptions::new(users, events, args.seed), scratch.path())?;
    let label = format!(
        "segflow gen --users {users} --events {events} --seed {}",
        args.seed
    );
    Ok((scratch.path().to_path_buf(), Some(scratch), label))
}

/// One line on stderr as each section starts: a full run takes minutes.
fn progress(what: &str) {
    eprintln!("bench: {what}...");
}
