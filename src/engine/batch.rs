//! Batch runs: every segment's members as of one logical time.
//!
//! Each worker parses its part of the inputs, the workers agree on the run's time (the
//! greatest `ts` unless `--as-of` is given) and on whether any row was bad, then the
//! whole history is fed at that one time: a backfill collapsed to its end. Events still
//! inside a window count at that time; their retractions at `ts + D` lie past the
//! run's horizon and are not produced ([`crate::dataflow::Timing`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::catalog::ir::Catalog;
use crate::data::Dataset;
use crate::dataflow::{Ids, Timing};
use crate::io::error::InputError;
use crate::io::load::{read_dataset_part, DataFiles, RowSink};
use crate::plan::Plan;
use crate::value::MAX_TIME;

use super::cluster::{execute, ClusterError, Workers};
use super::gather::all_gather;
use super::loading::{Counts, Loading};
use super::segmentation::{InputsKept, MembershipUpdate, Segmentation};

/// What to do with a malformed input row.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum OnError {
    /// Report the first bad row and stop without writing any output.
    #[default]
    Stop,
    /// Set bad rows aside (in `rejects.csv`), count them, and go on.
    Skip,
}

crate::named_choices!(OnError { Stop => "stop", Skip => "skip" });

/// The outcome of a batch run.
#[derive(Clone, Debug)]
pub struct BatchResult {
    /// The logical time the memberships hold at.
    pub as_of: u64,
    /// Members of each segment, in catalog order, sorted by user id.
    pub members: Vec<Vec<String>>,
    /// Rows set aside (with `OnError::Skip`), in file and line order.
    pub rejects: Vec<InputError>,
    /// Counts and timings.
    pub stats: BatchStats,
}

/// Counts and timings of a batch run.
#[derive(Clone, Debug, Default)]
pub struct BatchStats {
    /// `users` rows read.
    pub users: u64,
    /// Event rows read, those after `as_of` included.
    pub events: u64,
    /// Score rows read, those after `as_of` included.
    pub scores: u64,
    /// Events and scores after `as_of`, which a run as of that time does not see.
    pub after_as_of: u64,
    /// Events set aside as copies of another event of the same user with the same
    /// `event_id`.
    pub duplicates: u64,
    /// Wall time until every row was parsed and fed (the dataflow works meanwhile).
    pub load: Duration,
    /// Wall time from then until the results were complete.
    pub finish: Duration,
}

/// Why a batch run stopped.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A row was malformed and `--on-error` is `stop`.
    #[error("{first}\n({count} bad row(s) in all; rerun with --on-error skip to set them aside in rejects.csv)")]
    BadInput {
        /// The first bad row, in file and line order.
        first: InputError,
        /// Bad rows in all the inputs.
        count: usize,
    },
    /// Distinct user ids (listed, comma-separated) hash to the same internal key.
    #[error("user ids {0} hash to the same internal key; please report this")]
    Collision(String),
    /// The run's time, given or the greatest `ts`, is beyond [`MAX_TIME`].
    #[error("time {0} is out of range: logical times are at most {max}", max = crate::value::MAX_TIME)]
    TimeOutOfRange(u64),
    /// The processes of a cluster were started with different catalogs, `--as-of`,
    /// `--on-error` or data files.
    #[error(
        "the processes of this cluster were started for different jobs: start every process \
         with the same catalogs, --as-of and --on-error, over the same data files"
    )]
    Mismatch,
    /// The workers could not run to the end.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// Inputs a batch run reads; every worker reads its own part.
pub trait BatchInput: Send + Sync + 'static {
    /// What every process of a cluster must agree on about the input (a fingerprint).
    fn identity(&self) -> String;
    /// The greatest event or score time in part `index` of `parts`.
    fn max_ts(&self, index: usize, parts: usize) -> Option<u64>;
    /// Feeds part `index` of `parts` into `sink`; returns the rows that were bad.
    fn read(&self, index: usize, parts: usize, sink: &mut dyn RowSink) -> Vec<InputError>;
}

impl BatchInput for DataFiles {
    fn identity(&self) -> String {
        format!("{:?}", DataFiles::identity(self))
    }
    fn max_ts(&self, index: usize, parts: usize) -> Option<u64> {
        DataFiles::max_ts(self, index, parts)
    }
    fn read(&self, index: usize, parts: usize, sink: &mut dyn RowSink) -> Vec<InputError> {
        self.read_part(index, parts, sink)
    }
}

impl BatchInput for Dataset {
    fn identity(&self) -> String {
        let (users, events, scores) = (self.users.len(), self.events.len(), self.scores.len());
        let models = self.models.len();
        format!("{users} users, {events} events, {scores} scores, {models} models rows")
    }
    fn max_ts(&self, index: usize, parts: usize) -> Option<u64> {
        let mine = |i: &usize| i % parts == index;
        let events = self
            .events
            .iter()
            .enumerate()
            .filter(|(i, _)| mine(i))
            .map(|(_, e)| e.ts);
        let scores = self
            .scores
            .iter()
            .enumerate()
            .filter(|(i, _)| mine(i))
            .map(|(_, s)| s.ts);
        let users = (self.users.iter().enumerate())
            .filter(|(i, _)| mine(i))
            .filter_map(|(_, u)| u.ts);
        let models = (self.models.iter().enumerate())
            .filter(|(i, _)| mine(i))
            .map(|(_, m)| m.ts);
        events.chain(scores).chain(users).chain(models).max()
    }
    fn read(&self, index: usize, parts: usize, sink: &mut dyn RowSink) -> Vec<InputError> {
        read_dataset_part(self, index, parts, sink);
        Vec::new()
    }
}

/// Runs a catalog over the files of a data directory, on the workers of this process
/// (`timely::Config`) or as one process of a cluster ([`Workers`]). The result is
/// gathered on worker 0: processes that do not host it get `None`.
pub fn run_files(
    catalog: &Catalog,
    files: DataFiles,
    as_of: Option<u64>,
    on_error: OnError,
    workers: impl Into<Workers>,
) -> Result<Option<BatchResult>, BatchError> {
    run(catalog, workers.into(), as_of, on_error, Arc::new(files))
}

/// Runs a catalog over an in-memory dataset (tests, examples, library use) on the
/// worker threads of this process.
pub fn run_dataset(
    catalog: &Catalog,
    data: Arc<Dataset>,
    as_of: Option<u64>,
    config: timely::Config,
) -> Result<BatchResult, BatchError> {
    let result = run(catalog, config.into(), as_of, OnError::Stop, data)?;
    result.ok_or_else(|| {
        ClusterError::Setup("run_dataset needs worker 0 on this process".into()).into()
    })
}

/// What each worker tells the others after loading.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Summary {
    rejects: Vec<InputError>,
    counts: Counts,
}

/// What each worker returns from the timely execution.
type WorkerOutcome = Result<Option<BatchResult>, BatchError>;

fn run<I: BatchInput>(
    catalog: &Catalog,
    workers: Workers,
    as_of: Option<u64>,
    on_error: OnError,
    input: Arc<I>,
) -> Result<Option<BatchResult>, BatchError> {
    let plan = Arc::new(Plan::new(catalog));
    let segments = catalog.segments.len();
    let job = job_identity(catalog, as_of, on_error, input.as_ref());
    let started = Instant::now();
    let outcomes = execute(workers, move |worker| -> WorkerOutcome {
        let (index, peers) = (worker.index(), worker.peers());
        // Processes started with different catalogs or flags would build different
        // dataflows and misread each other's messages: check before building any.
        let jobs = all_gather(worker, job);
        if jobs.iter().any(|other| *other != job) {
            return Err(BatchError::Mismatch);
        }
        // The run's time must be known before any row is fed: windows and `now`
        // comparisons are relative to it.
        let time = match as_of {
            Some(time) => time,
            None => {
                let local = input.max_ts(index, peers);
                all_gather(worker, local)
                    .into_iter()
                    .flatten()
                    .max()
                    .unwrap_or(0)
            }
        };

        if time > MAX_TIME {
            return Err(BatchError::TimeOutOfRange(time));
        }
        let mut segmentation = Segmentation::build(
            worker,
            &plan,
            Timing::until(time),
            Ids::Omitted,
            InputsKept::No,
        );
        let mut loading = Loading {
            feed: segmentation.feed(time, time),
            worker,
            counts: Counts::default(),
            progress: None,
        };
        let rejects = input.read(index, peers, &mut loading);
        let (counts, skipped) = (loading.counts, loading.feed.skipped);
        let summaries = all_gather(worker, Summary { rejects, counts });
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
        let loaded = started.elapsed();
        let after_as_of = all_gather(
            worker,
            skipped.events + skipped.scores + skipped.users + skipped.models,
        )
        .iter()
        .sum();
        segmentation.complete_before(worker, time.saturating_add(1));

        let collisions = segmentation.take_collisions();
        let changes = segmentation.take_changes();
        let duplicates = (segmentation.take_duplicates().into_iter())
            .filter(|(t, _)| *t <= time)
            .map(|(_, diff)| diff)
            .sum::<isize>();
        // The run ends at `time`: drop the dataflows rather than let the worker go on
        // through every pending window retraction after it.
        for dataflow in worker.installed_dataflows() {
            worker.drop_dataflow(dataflow);
        }
        // Collisions are found on worker 0; every process must fail with it.
        let collision = all_gather(worker, collisions.into_iter().next());
        if let Some(ids) = collision.into_iter().flatten().next() {
            return Err(BatchError::Collision(ids.join(", ")));
        }
        if index != 0 {
            return Ok(None);
        }
        let members = members_at(changes, time, segments);
        let total = summaries
            .iter()
            .fold(Counts::default(), |a, s| a.plus(&s.counts));
        Ok(Some(BatchResult {
            as_of: time,
            members,
            rejects,
            stats: BatchStats {
                users: total.users,
                events: total.events,
                scores: total.scores,
                after_as_of,
                duplicates: duplicates as u64,
                load: loaded,
                finish: started.elapsed() - loaded,
            },
        }))
    })?;
    let mut result = None;
    for outcome in outcomes {
        result = result.or(outcome?);
    }
    Ok(result)
}

/// A fingerprint of everything the processes of a cluster must agree on.
fn job_identity<I: BatchInput>(
    catalog: &Catalog,
    as_of: Option<u64>,
    on_error: OnError,
    input: &I,
) -> u64 {
    let segments: Vec<(&str, &str)> = catalog
        .segments
        .iter()
        .map(|s| (s.name.as_str(), s.hash.as_str()))
        .collect();
    let identity = format!("{segments:?} {as_of:?} {on_error:?} {}", input.identity());
    xxhash_rust::xxh3::xxh3_64(identity.as_bytes())
}

/// Accumulates membership changes up to and including `time` into sorted member lists.
fn members_at(mut changes: Vec<MembershipUpdate>, time: u64, segments: usize) -> Vec<Vec<String>> {
    changes.retain(|(_, t, _)| *t <= time);
    changes.sort_unstable_by(|(a, _, _), (b, _, _)| a.cmp(b));
    let mut members = vec![Vec::new(); segments];
    let mut changes = changes.into_iter().peekable();
    while let Some(((segment, user), _, mut count)) = changes.next() {
        while let Some((_, _, more)) = changes.next_if(|((s, u), _, _)| *s == segment && *u == user)
        {
            count += more;
        }
        if count > 0 {
            members[segment as usize].push(user);
        }
    }
    members
}
