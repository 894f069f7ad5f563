//! Batch runs: every segment's members as of one logical time.
//!
//! Each worker parses its part of the inputs, the workers agree on the run's time (the
//! greatest `ts` unless `--as-of` is given) and on whether any row was bad, then the
//! whole history is fed at that one time: a backfill collapsed to its end. Events still
//! inside a window are inserted with their retraction scheduled at `ts + D`, so the same
//! dataflow could go on over live input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::catalog::ir::Catalog;
use crate::data::Dataset;
use crate::io::error::InputError;
use crate::io::load::{DataFiles, Parsed, Rows};
use crate::plan::Plan;

use super::gather::all_gather;
use super::segmentation::{Segmentation, Skipped};

/// What to do with a malformed input row.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnError {
    /// Report the first bad row and stop without writing any output.
    #[default]
    Stop,
    /// Set bad rows aside (in `rejects.csv`), count them, and go on.
    Skip,
}

/// The outcome of a batch run.
#[derive(Clone, Debug)]
pub struct BatchResult {
    /// The logical time the memberships hold at.
    pub as_of: u64,
    /// Members of each segment, in catalog order, sorted by user id.
    pub members: Vec<Vec<String>>,
    /// Rows set aside (with `OnError::Skip`), in file and line order.
    pub rejects: Vec<InputError>,
    pub stats: BatchStats,
}

/// Counts and timings of a batch run.
#[derive(Clone, Debug, Default)]
pub struct BatchStats {
    pub users: u64,
    pub events: u64,
    pub scores: u64,
    /// Events and scores after `as_of`, which a run as of that time does not see.
    pub after_as_of: u64,
    /// Wall time until every worker had parsed its part and the workers agreed.
    pub parse: Duration,
    /// Wall time of building and running the dataflow.
    pub dataflow: Duration,
}

/// Why a batch run stopped.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{first}\n({count} bad row(s) in all; rerun with --on-error skip to set them aside in rejects.csv)")]
    BadInput { first: InputError, count: usize },
    #[error("user ids {0} hash to the same internal key; please report this")]
    Collision(String),
    #[error("{0}")]
    Cluster(String),
}

/// Runs a catalog over the files of a data directory.
pub fn run_files(
    catalog: &Catalog,
    files: DataFiles,
    as_of: Option<u64>,
    on_error: OnError,
    config: timely::Config,
) -> Result<BatchResult, BatchError> {
    let files = Arc::new(files);
    run(catalog, config, as_of, on_error, move |index, peers| {
        files.parse_part(index, peers)
    })
}

/// Runs a catalog over an in-memory dataset (tests, examples, library use).
pub fn run_dataset(
    catalog: &Catalog,
    data: Arc<Dataset>,
    as_of: Option<u64>,
    config: timely::Config,
) -> Result<BatchResult, BatchError> {
    run(
        catalog,
        config,
        as_of,
        OnError::Stop,
        move |index, peers| {
            let rows = Rows::from_dataset(&data, index, peers);
            let max_ts = rows
                .events
                .iter()
                .map(|(_, e)| e.ts)
                .chain(rows.scores.iter().map(|(_, s)| s.ts))
                .max();
            Parsed {
                rows,
                rejects: Vec::new(),
                max_ts,
            }
        },
    )
}

/// What each worker tells the others after parsing.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Summary {
    max_ts: Option<u64>,
    rejects: Vec<InputError>,
    counts: [u64; 3],
}

/// What each worker returns from the timely execution.
type WorkerOutcome = Result<Option<BatchResult>, BatchError>;

fn run<L>(
    catalog: &Catalog,
    config: timely::Config,
    as_of: Option<u64>,
    on_error: OnError,
    load: L,
) -> Result<BatchResult, BatchError>
where
    L: Fn(usize, usize) -> Parsed + Send + Sync + 'static,
{
    let plan = Arc::new(Plan::new(catalog));
    let segments = catalog.segments.len();
    let started = Instant::now();
    let guards = timely::execute(config, move |worker| -> WorkerOutcome {
        let (index, peers) = (worker.index(), worker.peers());
        let parsed = load(index, peers);
        let counts = [
            parsed.rows.users.len(),
            parsed.rows.events.len(),
            parsed.rows.scores.len(),
        ]
        .map(|n| n as u64);
        let summaries = all_gather(
            worker,
            Summary {
                max_ts: parsed.max_ts,
                rejects: parsed.rejects,
                counts,
            },
        );
        let mut rejects: Vec<InputError> = summaries
            .iter()
            .flat_map(|s| s.rejects.iter().cloned())
            .collect();
        rejects.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        if on_error == OnError::Stop && !rejects.is_empty() {
            let count = rejects.len();
            return Err(BatchError::BadInput {
                first: rejects.swap_remove(0),
                count,
            });
        }
        let time = as_of
            .or_else(|| summaries.iter().filter_map(|s| s.max_ts).max())
            .unwrap_or(0);
        let parse = started.elapsed();

        let mut segmentation = Segmentation::build(worker, &plan);
        let Skipped { events, scores } = segmentation.feed(parsed.rows, time, time);
        let after_as_of = all_gather(worker, events + scores).iter().sum();
        segmentation.complete_before(worker, time.saturating_add(1));

        if let Some(ids) = segmentation.take_collisions().first() {
            return Err(BatchError::Collision(ids.join(", ")));
        }
        if index != 0 {
            return Ok(None);
        }
        let members = members_at(segmentation.take_changes(), time, segments);
        let total = |i: usize| summaries.iter().map(|s| s.counts[i]).sum();
        Ok(Some(BatchResult {
            as_of: time,
            members,
            rejects,
            stats: BatchStats {
                users: total(0),
                events: total(1),
                scores: total(2),
                after_as_of,
                parse,
                dataflow: started.elapsed() - parse,
            },
        }))
    })
    .map_err(BatchError::Cluster)?;

    let mut result = None;
    for outcome in guards.join() {
        match outcome.map_err(BatchError::Cluster)? {
            Ok(Some(r)) => result = Some(r),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
    }
    result.ok_or_else(|| BatchError::Cluster("worker 0 produced no result".into()))
}

/// Accumulates membership changes up to and including `time` into sorted member lists.
fn members_at(
    changes: Vec<super::segmentation::Change>,
    time: u64,
    segments: usize,
) -> Vec<Vec<String>> {
    let mut counts: BTreeMap<(u32, String), isize> = BTreeMap::new();
    for ((segment, user), t, diff) in changes {
        if t <= time {
            *counts.entry((segment, user)).or_default() += diff;
        }
    }
    let mut members = vec![BTreeSet::new(); segments];
    for ((segment, user), count) in counts {
        if count > 0 {
            members[segment as usize].insert(user);
        }
    }
    members
        .into_iter()
        .map(|set| set.into_iter().collect())
        .collect()
}
