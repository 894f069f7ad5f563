//! The file path of a live run: `segflow tail`'s engine following a directory, timed
//! from appending a line to seeing its effect in the change log.
//!
//! [`run_tail`] runs in a thread over the same backfill as the rest of the bench,
//! following a scratch directory with the defaults of `segflow tail` (event clock, no
//! allowed lateness, 1 ms between empty polls). The bench appends one event line at a
//! time — an event of a user the run has never seen, so that it enters the segments an
//! event alone can open — and tails the change log until that user's change appears,
//! or, for catalogs where it changes nothing, until a progress record shows the line
//! was read. Throughput: one large append of recent events, timed until the progress
//! record that covers its last line.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;

use crate::catalog::ir::Catalog;
use crate::engine::batch::{BatchInput, OnError};
use crate::engine::cluster::Workers;
use crate::engine::tail::{run_tail, TailError, TailOptions, TailSummary};
use crate::live::changelog::LogFormat;
use crate::live::follow::Position;
use crate::live::frontier::{parse_tick, ClockKind, TICKS_PER_SECOND};

use super::measure::{Latencies, LatencySummary};
use super::workload::{event_line, Workload};

/// The followed file.
const LIVE_FILE: &str = "live.jsonl";
/// Longest wait for one record to show in the change log.
const PATIENCE: Duration = Duration::from_secs(120);
/// Longest wait for the backfill.
const BACKFILL_PATIENCE: Duration = Duration::from_secs(3_600);

/// What the file path section measured.
#[derive(Clone, Debug, Serialize)]
pub struct FilePath {
    /// From starting the live run to its first progress record.
    pub backfill_seconds: f64,
    pub probes: u64,
    /// Probes whose user appeared in the change log (the rest were timed to the
    /// progress record covering their line).
    pub probes_with_change: u64,
    /// From the append to the change log, per probe.
    pub latency: LatencySummary,
    pub throughput: Throughput,
    /// Live records the run applied and set aside.
    pub records: u64,
    pub rejected: u64,
}

/// One large append, until its progress record.
#[derive(Clone, Debug, Serialize)]
pub struct Throughput {
    pub events: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub events_per_second: f64,
}

/// Runs the live run over `backfill` and measures `probes` single appends and one
/// append of `batch` events.
pub fn measure(
    catalog: &Catalog,
    backfill: Arc<dyn BatchInput>,
    workload: &mut Workload,
    probes: usize,
    batch: usize,
    workers: Workers,
) -> anyhow::Result<FilePath> {
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let stop = Arc::new(AtomicBool::new(false));
    let (options, live) = live_options(scratch.path(), stop.clone())?;
    let changes = options.changes.clone();
    let started = Instant::now();
    let owned = catalog.clone();
    let run = std::thread::spawn(move || run_tail(&owned, Some(backfill), options, workers));
    let mut session = Session {
        log: LogTail::new(changes),
        run,
    };
    let first = session.wait(BACKFILL_PATIENCE, |record| match record {
        Record::Progress { tick, .. } => Some(*tick),
        Record::Change { .. } => None,
    })?;
    let backfill_seconds = started.elapsed().as_secs_f64();
    // Every line is stamped with the first live second, so that no probe closes a
    // second (and with it windows): each one measures the same path.
    let second = first.0 / TICKS_PER_SECOND;

    let mut file = OpenOptions::new().append(true).open(&live)?;
    let mut latencies = Latencies::default();
    let mut with_change = 0;
    for probe in 0..probes {
        // A random phase against the run's polling, as arrivals have.
        std::thread::sleep(Duration::from_micros(workload.below(2_000)));
        let user = format!("segflow-bench-{probe}");
        let line = event_line(catalog, workload.row(), &user, second);
        let appended = Instant::now();
        file.write_all(line.as_bytes())?;
        file.flush()?;
        let target = probe as u64 + 1;
        let (changed, seen) = session.wait(PATIENCE, |record| match record {
            Record::Change { user: changed } if *changed == user => Some(true),
            Record::Progress {
                line: Some(read), ..
            } if *read >= target => Some(false),
            _ => None,
        })?;
        latencies.record(seen - appended);
        with_change += u64::from(changed);
    }

    let mut bytes = Vec::new();
    for _ in 0..batch {
        let row = workload.row();
        bytes.extend_from_slice(event_line(catalog, row, &row.user_id, second).as_bytes());
    }
    let target = (probes + batch) as u64;
    let appended = Instant::now();
    file.write_all(&bytes)?;
    file.flush()?;
    let (_, seen) = session.wait(PATIENCE, |record| match record {
        Record::Progress {
            line: Some(read), ..
        } if *read >= target => Some(()),
        _ => None,
    })?;
    let seconds = (seen - appended).as_secs_f64();

    stop.store(true, Ordering::Relaxed);
    let summary = session.finish()?;
    Ok(FilePath {
        backfill_seconds,
        probes: probes as u64,
        probes_with_change: with_change,
        latency: latencies.summary(),
        throughput: Throughput {
            events: batch as u64,
            bytes: bytes.len() as u64,
            seconds,
            events_per_second: batch as f64 / seconds,
        },
        records: summary.records,
        rejected: summary.rejected,
    })
}

/// `segflow tail`'s defaults over a followed directory in `scratch` holding one empty
/// file, which is returned with the options.
pub(super) fn live_options(
    scratch: &Path,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(TailOptions, PathBuf)> {
    let follow = scratch.join("follow");
    std::fs::create_dir(&follow)?;
    let live = follow.join(LIVE_FILE);
    File::create(&live)?;
    let options = TailOptions {
        follow,
        changes: scratch.join("changes.csv"),
        format: LogFormat::Csv,
        rejects: scratch.join("rejects.csv"),
        clock: ClockKind::Event,
        lateness: 0,
        on_error: OnError::Stop,
        once: false,
        poll_interval: Duration::from_millis(1),
        status_every: None,
        stop,
        progress: None,
        publish: None,
        serving: false,
        sources: Vec::new(),
    };
    Ok((options, live))
}

type RunOutcome = Result<Option<TailSummary>, TailError>;

/// The live run's thread and its change log.
struct Session {
    log: LogTail,
    run: JoinHandle<RunOutcome>,
}

impl Session {
    /// Tails the log until `found` accepts a record; returns its answer and when it
    /// was seen. Fails if the run ends or nothing is found within `patience`.
    fn wait<T>(
        &mut self,
        patience: Duration,
        mut found: impl FnMut(&Record) -> Option<T>,
    ) -> anyhow::Result<(T, Instant)> {
        let started = Instant::now();
        loop {
            for record in self.log.poll()? {
                if let Some(answer) = found(&record) {
                    return Ok((answer, Instant::now()));
                }
            }
            if self.run.is_finished() {
                bail!("the live run stopped early");
            }
            if started.elapsed() > patience {
                bail!("the change log showed nothing new for {patience:?}");
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    fn finish(self) -> anyhow::Result<TailSummary> {
        let outcome = self
            .run
            .join()
            .map_err(|_| anyhow::anyhow!("the live run panicked"))?;
        outcome?.context("the live run returned no summary")
    }
}

/// A record of the change log that the bench looks for.
#[derive(Debug, PartialEq, Eq)]
enum Record {
    Change {
        user: String,
    },
    /// A progress record, with how far the followed file had been read.
    Progress {
        tick: u64,
        line: Option<u64>,
    },
}

/// Reads the complete lines appended to the change log since the last poll.
struct LogTail {
    path: PathBuf,
    file: Option<File>,
    partial: Vec<u8>,
}

impl LogTail {
    fn new(path: PathBuf) -> LogTail {
        LogTail {
            path,
            file: None,
            partial: Vec::new(),
        }
    }

    fn poll(&mut self) -> anyhow::Result<Vec<Record>> {
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(file) => self.file = Some(file),
                Err(_) => return Ok(Vec::new()),
            }
        }
        let file = self.file.as_mut().expect("opened above");
        file.read_to_end(&mut self.partial)
            .with_context(|| format!("reading {}", self.path.display()))?;
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Ok(Vec::new());
        };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        Ok(String::from_utf8_lossy(&complete)
            .lines()
            .filter_map(parse_record)
            .collect())
    }
}

/// A change (`time,segment,user_id,diff`) or progress (`# progress T {positions}`)
/// line of a CSV change log; `None` for other lines.
fn parse_record(line: &str) -> Option<Record> {
    if let Some(rest) = line.strip_prefix("# progress ") {
        let (tick, positions) = rest.split_once(' ')?;
        let positions: BTreeMap<String, Position> = serde_json::from_str(positions).ok()?;
        return Some(Record::Progress {
            tick: parse_tick(tick)?,
            line: positions.get(LIVE_FILE).map(|p| p.line),
        });
    }
    if line.starts_with('#') {
        return None;
    }
    let (change, _diff) = line.rsplit_once(',')?;
    let (_time, change) = change.split_once(',')?;
    let (_segment, user) = change.split_once(',')?;
    Some(Record::Change {
        user: user.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_and_progress_lines_are_recognised() {
        assert_eq!(
            parse_record("1700000001.000002,active_30d,segflow-bench-3,1"),
            Some(Record::Change {
                user: "segflow-bench-3".into()
            })
        );
        assert_eq!(
            parse_record(r#"# progress 1700000001.000003 {"live.jsonl":{"offset":88,"line":1}}"#),
            Some(Record::Progress {
                tick: 1_700_000_001_000_003,
                line: Some(1)
            })
        );
        assert_eq!(
            parse_record("# progress 1700000001 {}"),
            Some(Record::Progress {
                tick: 1_700_000_001_000_000,
                line: None
            })
        );
        assert_eq!(parse_record("# definition s 0123"), None);
    }
}
