//! `segflow tail`: backfill, then follow live files and append membership changes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::catalog;
use crate::catalog::ir::Catalog;
use crate::engine::batch::{BatchInput, OnError};
use crate::engine::cluster::Workers;
use crate::engine::tail::{run_tail, Progress, TailOptions, TailSummary};
use crate::io::load::DataFiles;
use crate::live::changelog::LogFormat;
use crate::live::claim::{claim, Claim};
use crate::live::frontier::{format_tick, ClockKind};

use super::choices;
use super::ClusterArgs;

/// The arguments of `segflow tail`.
#[derive(Args, Debug)]
pub struct TailArgs {
    /// Catalog file(s) of segment definitions; repeat to combine several.
    #[arg(long = "catalog", short = 'c', required = true, value_name = "FILE")]
    pub catalogs: Vec<PathBuf>,
    /// Directory of users.csv, events.csv and/or scores.csv loaded first, as of its
    /// greatest `ts`.
    #[arg(long, value_name = "DIR")]
    pub backfill: Option<PathBuf>,
    /// Directory whose `*.jsonl` files are followed (growing files and new ones).
    #[arg(long, value_name = "DIR")]
    pub follow: PathBuf,
    /// The change log to append to; an existing one is resumed after a restart.
    #[arg(long, value_name = "FILE")]
    pub changes: PathBuf,
    /// Record format of the change log.
    #[arg(long, value_parser = choices::log_format(), default_value_t = LogFormat::Csv)]
    pub format: LogFormat,
    /// Where bad lines are set aside [default: the change log's name + `.rejects.csv`].
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// What moves time: the greatest event time seen, or the machine's clock.
    #[arg(long, value_parser = choices::clock(), default_value_t = ClockKind::Event)]
    pub clock: ClockKind,
    /// How long a second stays open for out-of-order records (`0`, `30s`, `5m`, ...).
    #[arg(long, default_value = "0", value_parser = parse_lateness, value_name = "DURATION")]
    pub allowed_lateness: u64,
    /// What to do with a malformed backfill row (bad live lines are always set aside).
    #[arg(long, value_parser = choices::on_error(), default_value_t = OnError::Stop)]
    pub on_error: OnError,
    /// Read what the files hold now, then stop (for scripts and tests).
    #[arg(long)]
    pub once: bool,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Where the workers run.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

fn parse_lateness(text: &str) -> Result<u64, String> {
    if text == "0" {
        return Ok(0);
    }
    catalog::parse_duration(text).map_err(|reason| format!("bad duration `{text}`: {reason}"))
}

pub fn tail(args: TailArgs) -> anyhow::Result<()> {
    let live = args.prepare()?;
    if !args.quiet {
        eprintln!(
            "following {} into {} (Ctrl-C stops cleanly)",
            args.follow.display(),
            args.changes.display()
        );
    }
    let outcome = run_tail(
        &live.catalog,
        live.backfill.clone(),
        live.options.clone(),
        live.workers.clone(),
    );
    live.finish(&args, outcome.map_err(anyhow::Error::from))
}

/// A live run set up from the command line, ready to start.
pub(super) struct LiveRun {
    pub catalog: Catalog,
    pub backfill: Option<Arc<dyn BatchInput>>,
    pub options: TailOptions,
    pub workers: Workers,
    /// Rows the backfill is expected to hold.
    pub estimate: u64,
    /// The change log, held against a second writer until the run ends.
    _claim: Option<Claim>,
    progress: Option<(Arc<Progress>, std::thread::JoinHandle<()>)>,
}

impl TailArgs {
    /// Checks the arguments, loads the catalog and opens the backfill.
    pub(super) fn prepare(&self) -> anyhow::Result<LiveRun> {
        let workers = self.cluster.config()?;
        if !self.follow.is_dir() {
            anyhow::bail!(
                "live directory '{}' does not exist or is not a directory",
                self.follow.display()
            );
        }
        let sources = catalog::read_sources(&self.catalogs)?;
        let catalog = catalog::check_texts(sources.clone())?;
        let backfill_files = match &self.backfill {
            Some(dir) => Some(Arc::new(DataFiles::open(dir, &catalog)?)),
            None => None,
        };
        let estimate = backfill_files.as_ref().map_or(0, |f| f.rows_estimate());
        let rejects = self.rejects_path();
        // Process 0 writes the log and the rejects; it holds the log for the whole run.
        let claim = match self.cluster.process {
            0 => Some(claim(&self.follow, &self.changes, &rejects)?),
            _ => None,
        };
        let progress = match (&backfill_files, self.quiet) {
            (Some(_), false) => Some(progress_bar(estimate)),
            _ => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let handler_stop = stop.clone();
        ctrlc::set_handler(move || handler_stop.store(true, Ordering::Relaxed))?;
        let options = TailOptions {
            follow: self.follow.clone(),
            changes: self.changes.clone(),
            format: self.format,
            rejects,
            clock: self.clock,
            lateness: self.allowed_lateness,
            on_error: self.on_error,
            once: self.once,
            poll_interval: Duration::from_millis(1),
            status_every: (!self.quiet).then_some(Duration::from_secs(5)),
            stop,
            progress: progress.as_ref().map(|(progress, _)| progress.clone()),
            publish: None,
            serving: false,
            sources,
        };
        Ok(LiveRun {
            catalog,
            backfill: backfill_files.map(|files| files as Arc<dyn BatchInput>),
            options,
            workers,
            estimate,
            _claim: claim,
            progress,
        })
    }

    /// Where bad lines go: `--rejects`, or the change log's name + `.rejects.csv`.
    fn rejects_path(&self) -> PathBuf {
        self.rejects.clone().unwrap_or_else(|| {
            let mut name = self.changes.clone().into_os_string();
            name.push(".rejects.csv");
            PathBuf::from(name)
        })
    }
}

impl LiveRun {
    /// Ends the progress bar and reports how the run went.
    pub(super) fn finish(
        self,
        args: &TailArgs,
        outcome: anyhow::Result<Option<TailSummary>>,
    ) -> anyhow::Result<()> {
        if let Some((progress, bar)) = self.progress {
            progress.done.store(true, Ordering::Relaxed);
            bar.join().ok();
        }
        let Some(summary) = outcome? else {
            return Ok(());
        };
        if !args.quiet {
            if let Some(time) = summary.backfill_time {
                println!("backfill: {} rows as of {time}", summary.backfill_rows);
            }
            println!(
                "live: {} records ({} events, {} late, {} duplicates), {} rejected{}; {} changes written; complete before {}",
                summary.records,
                summary.events,
                summary.late,
                summary.duplicates,
                summary.rejected,
                if summary.rejected > 0 {
                    format!(" (see {})", self.options.rejects.display())
                } else {
                    String::new()
                },
                summary.changes_written,
                format_tick(summary.frontier),
            );
        }
        Ok(())
    }
}

/// Shows backfill progress on stderr (rows, rows/s, ETA) until loading is done.
fn progress_bar(total: u64) -> (Arc<Progress>, std::thread::JoinHandle<()>) {
    let progress = Arc::new(Progress::default());
    let shared = progress.clone();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "backfill [{bar:30}] {human_pos}/{human_len} rows, {per_sec}, ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let thread = std::thread::spawn(move || {
        while !shared.done.load(Ordering::Relaxed) {
            bar.set_position(shared.rows.load(Ordering::Relaxed).min(total));
            std::thread::sleep(Duration::from_millis(100));
        }
        bar.finish_and_clear();
    });
    (progress, thread)
}
