//! `segflow bench`: backfill throughput, live update latency and from-scratch peers of
//! one catalog over one data set, in one process and one report.
//!
//! The sections run in order, each on what the previous left:
//! 1. a parse-only pass over the files (the parse side of the backfill's split) and a
//!    sample of recent events to draw updates from (`inputs`, `workload`);
//! 2. the backfill and the update loops on the live run's engine parts (`engine`,
//!    `driver`, `loops`);
//! 3. with `--tail`, the live run's file path and the memory windows hold
//!    (`file_path`, `windows`); with `--serve`, the service's API under load while
//!    events are ingested (`serve`);
//! 4. the from-scratch peers (`peers`);
//! 5. the table, the JSON report and the chart (`report`, `svg`).

mod driver;
mod engine;
mod file_path;
mod inputs;
mod loops;
mod measure;
mod peers;
mod report;
mod serve;
mod svg;
mod windows;
mod workload;

pub use peers::{python, python_with_duckdb};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

use crate::catalog;
use crate::engine::cluster::Workers;
use crate::gen::{generate, GenOptions};
use crate::io::load::DataFiles;

use loops::Schedule;
use measure::load_average;
use report::{BackfillReport, Live, Peers, Report, Setup};
use workload::Workload;

/// What `segflow bench` measures, and over which data.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Catalog files of segment definitions, combined.
    pub catalogs: Vec<PathBuf>,
    /// The data to backfill and draw updates from.
    pub data: BenchData,
    /// Write the report as JSON to this file.
    pub out: Option<PathBuf>,
    /// Draw latency against throughput as SVG into this file.
    pub svg: Option<PathBuf>,
    /// Short loops and one peer run each: a smoke test, not a measurement.
    pub quick: bool,
    /// Also measure the live run's file path and the memory windows hold.
    pub tail: bool,
    /// Also measure `segflow serve`'s API under load while events are ingested.
    pub serve: bool,
    /// Measure the from-scratch peers (reference evaluator and DuckDB).
    pub peers: bool,
    /// Where the workers run.
    pub workers: Workers,
}

/// The data a bench runs over.
#[derive(Clone, Debug)]
pub enum BenchData {
    /// A directory of users.csv, events.csv and scores.csv.
    Dir(PathBuf),
    /// Data generated as `segflow gen` does, into a temporary directory.
    Generated {
        /// Rows of `users.csv`.
        users: u64,
        /// Rows of `events.csv`, duplicates included.
        events: u64,
        /// Seed of the generator: the same seed gives the same data.
        seed: u64,
    },
}

/// Seed of the updates drawn outside the engine section (file path, reference peer).
const SEED: u64 = 0xb3c4;

/// How much of the sections after the update loops to run.
struct Extent {
    /// Single appends timed on the file path, and events in its one large append.
    probes: usize,
    append: usize,
    /// Events backfilled (twice) to weigh what windows hold.
    window_events: usize,
    /// Recomputations by the reference evaluator (at most; see [`peers::reference`])
    /// and evaluations by DuckDB.
    reference_runs: usize,
    duckdb_runs: usize,
    /// The API's loads.
    serve: serve::ServeExtent,
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
                serve: serve::ServeExtent {
                    closed_requests: 200,
                    rates: [1_000, 10_000],
                    open_seconds: 0.5,
                    ingest_per_second: 100_000,
                },
            }
        } else {
            Extent {
                probes: 500,
                append: 1_000_000,
                window_events: 1_000_000,
                reference_runs: 3,
                duckdb_runs: 5,
                serve: serve::ServeExtent {
                    closed_requests: 5_000,
                    rates: [1_000, 10_000],
                    open_seconds: 10.0,
                    ingest_per_second: 100_000,
                },
            }
        }
    }
}

/// Time the reference evaluator may take for its recomputations (at least one runs).
const REFERENCE_BUDGET: Duration = Duration::from_secs(60);

/// Runs the bench, prints the table and writes the report and the chart where asked.
/// Only process 0 reports; the others lend their workers to the engine section.
pub fn run(options: BenchOptions) -> anyhow::Result<()> {
    let workers = options.workers.clone();
    let (process, processes, threads) = (workers.process(), workers.processes(), workers.threads());
    if (options.tail || options.serve) && processes > 1 {
        bail!("--tail and --serve measure a live run of one process: leave out --processes");
    }
    let sources = catalog::read_sources(&options.catalogs)?;
    let catalog = catalog::check_texts(sources.clone())?;
    let load_before = load_average();
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let extent = Extent::new(options.quick);
    let (data, _generated, data_label) = data_dir(&options.data)?;
    let files = Arc::new(DataFiles::open(&data, &catalog)?);

    // Only process 0 reports; the others lend their workers to the engine section.
    let (parse, templates) = if process == 0 {
        let (parse, templates) = prepare(&files, &data, threads)?;
        (Some(parse), templates)
    } else {
        (None, Vec::new())
    };
    let templates = Arc::new(templates);

    progress("backfill, then the update loops");
    let schedule = Schedule::new(options.quick);
    let figures = engine::measure(
        &catalog,
        files.clone(),
        templates.clone(),
        schedule,
        workers.clone(),
    )?;
    let (Some(figures), Some(parse)) = (figures, parse) else {
        println!("process {process} of {processes} done; process 0 writes the report");
        return Ok(());
    };
    let mut workload = Workload::new(templates, SEED);

    let file_path = if options.tail {
        progress("the live run's file path");
        let backfill = files.clone();
        let (probes, append) = (extent.probes, extent.append);
        let path = file_path::measure(
            &catalog,
            backfill,
            &mut workload,
            probes,
            append,
            workers.clone(),
        );
        Some(path?)
    } else {
        None
    };
    let serve = if options.serve {
        progress("the service's API under load");
        let figures = serve::measure(
            &catalog,
            sources,
            files.clone(),
            &mut workload,
            extent.serve,
            workers.clone(),
        );
        Some(figures?)
    } else {
        None
    };
    let (mut peers, windows) = if options.tail || options.peers {
        progress("loading the data set in memory");
        let mut dataset = inputs::load_dataset(&files);
        drop(files);
        let windows = if options.tail {
            progress("window memory");
            let events = &dataset.events[..dataset.events.len().min(extent.window_events)];
            let time = dataset.max_ts().unwrap_or(0);
            windows::probe(&catalog, events, time, workers)?
        } else {
            None
        };
        let mut peers = Peers::default();
        if options.peers {
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
    if options.peers {
        progress("DuckDB");
        match peers::duckdb(&options.catalogs, &data, extent.duckdb_runs) {
            Ok(duckdb) => peers.duckdb = Some(duckdb),
            Err(reason) => peers.skipped.push(format!("DuckDB peer: {reason}")),
        }
    } else {
        peers.skipped.push("peers: --no-peers".into());
    }

    let mut report = Report {
        segflow_bench: 1,
        setup: Setup {
            version: env!("CARGO_PKG_VERSION").into(),
            catalogs: options
                .catalogs
                .iter()
                .map(|c| c.display().to_string())
                .collect(),
            data: data_label,
            users: parse.users,
            events: parse.events,
            scores: parse.scores,
            processes,
            workers: threads,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            quick: options.quick,
            started,
            load_before,
            load_after: load_average(),
        },
        backfill: BackfillReport::new(figures.backfill, &parse),
        peers: peers.with_ratios(&figures.closed_loop),
        closed_loop: figures.closed_loop,
        batch_sweep: figures.batch_sweep,
        open_loop: figures.open_loop,
        model_switches: figures.model_switches,
        live: file_path.map(|file_path| Live { file_path, windows }),
        serve,
        targets: Vec::new(),
    };
    report.check_targets();
    write_report(&report, &options)
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
fn write_report(report: &Report, options: &BenchOptions) -> anyhow::Result<()> {
    print!("{}", report.table());
    if let Some(out) = &options.out {
        let json = serde_json::to_string_pretty(report)? + "\n";
        std::fs::write(out, json).with_context(|| format!("writing {}", out.display()))?;
        println!("report written to {}", out.display());
    }
    if let Some(path) = &options.svg {
        std::fs::write(path, svg::chart(report))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("chart written to {}", path.display());
    }
    Ok(())
}

/// The data directory, the temporary directory holding generated data (kept until
/// the bench ends), and how the report names the data.
fn data_dir(data: &BenchData) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>, String)> {
    let (users, events, seed) = match data {
        BenchData::Dir(dir) => return Ok((dir.clone(), None, dir.display().to_string())),
        BenchData::Generated {
            users,
            events,
            seed,
        } => (*users, *events, *seed),
    };
    let scratch = tempfile::tempdir().context("creating a directory for generated data")?;
    progress(&format!("generating {users} users and {events} events"));
    generate(&GenOptions::new(users, events, seed), scratch.path())?;
    let label = format!("segflow gen --users {users} --events {events} --seed {seed}");
    Ok((scratch.path().to_path_buf(), Some(scratch), label))
}

/// One line on stderr as each section starts: a full run takes minutes.
fn progress(what: &str) {
    eprintln!("bench: {what}...");
}
