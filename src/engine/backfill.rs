//! Loading a live run's backfill: every worker feeds its part of the files at the
//! backfill's time, as a batch run does, and worker 0 gets the fingerprint of every
//! event so that a later `retract_event` can be checked against what exists.

use std::sync::Arc;

use timely::worker::Worker;

use crate::dataflow::{Event, Ids, ModelRecord, ScoreRecord, Timing, UserKey, UserRecord};
use crate::io::error::InputError;
use crate::io::load::RowSink;
use crate::io::scored::ScoredVersions;
use crate::live::frontier::{MAX_LIVE_SECONDS, TICKS_PER_SECOND};
use crate::live::ledger::fingerprint;
use crate::plan::Plan;
use crate::value::Text;

use super::batch::{BatchInput, OnError};
use super::control::{Command, Control};
use super::gather::{all_gather, gather_to_first};
use super::loading::{Counts, Loading, Progress};
use super::segmentation::{InputsKept, Segmentation};

/// Why a backfill stopped.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// A backfill row was malformed and `--on-error` is `stop`.
    #[error("{first}\n({count} bad row(s) in the backfill; rerun with --on-error skip to set them aside)")]
    BadRows {
        /// The first bad row, in file and line order.
        first: InputError,
        /// Bad rows in the whole backfill.
        count: usize,
    },
    /// The backfill's greatest `ts` is beyond [`MAX_LIVE_SECONDS`].
    #[error("backfill time {0} is out of range: live runs accept times up to {MAX_LIVE_SECONDS}")]
    TimeOutOfRange(u64),
}

/// What the backfill left for worker 0.
pub struct Loaded {
    /// The backfill's time in seconds.
    pub time: Option<u64>,
    pub rows: u64,
    /// Fingerprints of the backfill's events, for checking `retract_event`s.
    pub fingerprints: Vec<u64>,
    /// The versions of the backfill's scores, for checking `model` records.
    pub scored: ScoredVersions,
    pub rejects: Vec<InputError>,
}

/// Builds the live dataflow and loads this worker's part of `backfill`; then every
/// worker but 0 keeps working on its share of the dataflow until worker 0 stops the
/// run (`control`) and returns `None`. Worker 0 gets the dataflow and what the
/// backfill left, to go on with live input. A failed backfill stops every worker.
/// `ids` says whether the dataflow reports known ids and `keep` whether it keeps its
/// inputs (a service needs both); the other workers build what worker 0 defines later.
#[allow(clippy::too_many_arguments)]
pub fn backfill_then_serve(
    worker: &mut Worker,
    control: &mut Control,
    plan: &Plan,
    backfill: Option<&dyn BatchInput>,
    on_error: OnError,
    progress: Option<Arc<Progress>>,
    ids: Ids,
    keep: InputsKept,
) -> Result<Option<(Segmentation, Loaded)>, BackfillError> {
    let timing = Timing::open(TICKS_PER_SECOND);
    let mut segmentation = Segmentation::build(worker, plan, timing, ids, keep);
    let loaded = match load_backfill(worker, &mut segmentation, backfill, on_error, progress) {
        Ok(loaded) => loaded,
        Err(error) => {
            control.stop(worker);
            return Err(error);
        }
    };
    if worker.index() != 0 {
        let mut kept = segmentation.into_kept();
        control.wait(worker, |worker, command| {
            let Some(kept) = &mut kept else { return };
            match command {
                Some(Command::Define { version, build }) => kept.build(worker, version, &build),
                Some(Command::Stop) => {}
                None => kept.compact(),
            }
        });
        return Ok(None);
    }
    Ok(Some((segmentation, loaded)))
}

/// Loads this worker's part of the backfill at the backfill's time.
pub fn load_backfill(
    worker: &mut Worker,
    segmentation: &mut Segmentation,
    backfill: Option<&dyn BatchInput>,
    on_error: OnError,
    progress: Option<Arc<Progress>>,
) -> Result<Loaded, BackfillError> {
    let (index, peers) = (worker.index(), worker.peers());
    let Some(input) = backfill else {
        return Ok(Loaded {
            time: None,
            rows: 0,
            fingerprints: Vec::new(),
            scored: ScoredVersions::default(),
            rejects: Vec::new(),
        });
    };
    let time = all_gather(worker, input.max_ts(index, peers))
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
    if time > MAX_LIVE_SECONDS {
        return Err(BackfillError::TimeOutOfRange(time));
    }
    let tick = time * TICKS_PER_SECOND;
    let mut sink = Fingerprinting {
        loading: Loading {
            feed: segmentation.feed(tick, time),
            worker,
            counts: Counts::default(),
            progress: progress.clone(),
        },
        fingerprints: Vec::new(),
        scored: ScoredVersions::default(),
    };
    let rejects = input.read(index, peers, &mut sink);
    let Fingerprinting {
        loading,
        fingerprints,
        scored,
    } = sink;
    let counts = loading.counts;
    let summaries = all_gather(
        worker,
        (
            rejects,
            counts.users + counts.events + counts.scores + counts.models,
        ),
    );
    if let Some(progress) = &progress {
        progress
            .done
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let mut rejects: Vec<InputError> = summaries.iter().flat_map(|(r, _)| r.clone()).collect();
    rejects.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    if on_error == OnError::Stop && !rejects.is_empty() {
        let count = rejects.len();
        return Err(BackfillError::BadRows {
            first: rejects.swap_remove(0),
            count,
        });
    }
    let fingerprints = gather_to_first(worker, fingerprints).unwrap_or_default();
    let scored = gather_to_first(worker, scored.pairs()).unwrap_or_default();
    Ok(Loaded {
        time: Some(time),
        rows: summaries.iter().map(|(_, n)| n).sum(),
        fingerprints,
        scored: scored.into_iter().collect(),
        rejects,
    })
}

/// A backfill sink that also notes each event's fingerprint and each score's version.
struct Fingerprinting<'a, 'w> {
    loading: Loading<'a, 'w>,
    fingerprints: Vec<u64>,
    scored: ScoredVersions,
}

impl RowSink for Fingerprinting<'_, '_> {
    fn user(&mut self, user: UserKey, record: UserRecord) {
        self.loading.user(user, record);
    }
    fn event(&mut self, user: UserKey, event: Event, id: Option<Text>) {
        self.fingerprints
            .push(fingerprint(user, &event, id.as_deref()));
        self.loading.event(user, event, id);
    }
    fn score(&mut self, user: UserKey, record: ScoreRecord) {
        if let Some(version) = &record.version {
            self.scored.note(&record.model, version);
        }
        self.loading.score(user, record);
    }
    fn model(&mut self, model: Text, record: ModelRecord) {
        self.loading.model(model, record);
    }
    fn name(&mut self, user: UserKey, id: String) {
        self.loading.name(user, id);
    }
}
