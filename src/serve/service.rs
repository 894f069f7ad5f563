//! The service's shared state: the definitions as the API shows them, the membership
//! index the live run publishes into, and the run's counts.
//!
//! Worker 0 publishes each round under the index's write lock (and a round that
//! changed the definitions swaps in their new [`View`] under it too); request handlers
//! read under its read lock, so an answer always comes from one round's state, never
//! from half of one. Definition changes go the other way: a handler queues the edit,
//! worker 0 applies it between rounds and answers once the log holds it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::catalog::ir::Catalog;
use crate::dataflow::UserKey;
use crate::engine::tail::{Ask, Attached, Edited, Progress, Published, TailSummary};
use crate::live::definitions::{Definitions, Edit, EditError};
use crate::plan::{summaries, Plan};
use crate::value::Value;

use super::index::Index;
use super::metrics::RequestMetrics;
use super::records::RecordFile;

/// A segment as the API describes it.
#[derive(Clone, Debug)]
pub struct SegmentInfo {
    /// The segment's name.
    pub name: String,
    /// `rule`, `time-based`, `score-based`, `model-based` or `hybrid` (as `segflow
    /// check` says).
    pub kind: &'static str,
    /// The definition's content hash.
    pub hash: String,
    /// The definition as written.
    pub definition: String,
    /// The segments its definition names.
    pub depends_on: Vec<String>,
    /// The segments whose definitions name it.
    pub used_by: Vec<String>,
    /// The features (or expressions) it reads.
    pub features: Vec<String>,
    /// The inputs it reads.
    pub inputs: Vec<&'static str>,
    /// The output its memberships are indexed under.
    pub output: u32,
}

/// The definitions in effect, as the API shows them.
#[derive(Debug)]
pub struct View {
    /// The catalog in effect.
    pub catalog: Catalog,
    /// The files it is checked from.
    pub sources: Vec<(String, Vec<u8>)>,
    /// The segment definitions they hold that it leaves out (replaced or deleted).
    pub dropped: Vec<(usize, String)>,
    /// Each segment's description, in catalog order.
    pub segments: Vec<SegmentInfo>,
    /// The name of each output of the index.
    pub outputs: Vec<String>,
}

impl View {
    /// The view of `definitions`.
    pub fn new(definitions: &Definitions) -> View {
        let catalog = definitions.catalog().clone();
        let outputs = definitions.outputs().to_vec();
        let segments = describe(&catalog, &outputs);
        View {
            catalog,
            sources: definitions.sources().to_vec(),
            dropped: definitions.dropped().to_vec(),
            segments,
            outputs,
        }
    }

    /// The catalog index of the segment named `name`.
    pub fn segment(&self, name: &str) -> Option<usize> {
        self.catalog.segment_index(name)
    }
}

/// How the live run is doing, as of its last round.
#[derive(Clone, Debug, Default)]
pub struct RunStatus {
    /// The run's counts.
    pub summary: TailSummary,
    /// Rounds published.
    pub rounds: u64,
}

/// Everything the request handlers share.
#[derive(Debug)]
pub struct Service {
    /// The plan of the run's own dataflow: operand indices in answers refer to it.
    pub plan: Plan,
    /// The definitions in effect (swapped under the index's write lock).
    pub view: RwLock<Arc<View>>,
    /// Memberships now and within the history window, by output.
    pub index: RwLock<Index>,
    /// The live run's counts.
    pub status: Mutex<RunStatus>,
    /// Request latencies.
    pub requests: RequestMetrics,
    /// Where posted records go.
    pub records: RecordFile,
    /// Backfill progress, while it loads.
    pub progress: Option<Arc<Progress>>,
    /// Rows the backfill is expected to hold (for its progress).
    pub backfill_estimate: u64,
    /// Worker threads per process, and processes.
    pub workers: (usize, usize),
    /// When the service started.
    pub started: Instant,
    /// Questions about users' values for the live run to ask.
    pub questions: Mutex<Vec<(u64, Ask)>>,
    /// Where each question's answer goes; `None` once the live run has stopped.
    pub replies: Mutex<Option<HashMap<u64, oneshot::Sender<Values>>>>,
    /// The next question's id.
    pub next_question: AtomicU64,
    /// Definition changes for the live run to apply, by request id.
    pub edits: Mutex<Vec<(u64, Edit)>>,
    /// Where each definition change's outcome goes; `None` once the live run stopped.
    pub edit_replies: Mutex<Option<HashMap<u64, oneshot::Sender<EditOutcome>>>>,
}

/// What became of a definition change.
pub type EditOutcome = Result<Edited, EditError>;

/// Values as the dataflow answered them: the tick they are before, and
/// `(user, operand, value)` triples.
pub type Values = (u64, Vec<(UserKey, u32, Value)>);

impl Service {
    /// The definitions in effect.
    pub fn view(&self) -> Arc<View> {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Queues a definition change for the live run; the outcome comes on the receiver.
    pub fn submit(&self, edit: Edit) -> oneshot::Receiver<EditOutcome> {
        let request = self.next_question.fetch_add(1, Ordering::Relaxed);
        let (reply, outcome) = oneshot::channel();
        if let Some(replies) = lock(&self.edit_replies).as_mut() {
            replies.insert(request, reply);
            lock(&self.edits).push((request, edit));
        }
        outcome
    }

    /// The index, for reading.
    pub fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the live run for values; the answer comes on the receiver.
    pub fn ask(&self, ask: Ask) -> oneshot::Receiver<Values> {
        let query = self.next_question.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        // After the run stopped the reply is dropped here: the asker hears at once.
        if let Some(replies) = lock(&self.replies).as_mut() {
            replies.insert(query, reply);
            lock(&self.questions).push((query, ask));
        }
        answer
    }

    /// Drops every question not yet answered, and every later one: their askers learn
    /// that the run stopped.
    pub fn abandon_questions(&self) {
        *lock(&self.replies) = None;
        lock(&self.questions).clear();
        *lock(&self.edit_replies) = None;
        lock(&self.edits).clear();
    }

    /// The live run's status as of its last round.
    pub fn run_status(&self) -> RunStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Attached for Service {
    fn publish(&self, round: Published<'_>) {
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        if let Some(definitions) = round.definitions {
            index.add_outputs(definitions.outputs().len());
            *self.view.write().unwrap_or_else(|p| p.into_inner()) =
                Arc::new(View::new(definitions));
        }
        index.apply(round.frontier, round.changes, round.known);
        drop(index);
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.summary = round.summary;
        status.rounds += 1;
    }

    fn take_questions(&self) -> Vec<(u64, Ask)> {
        std::mem::take(&mut *lock(&self.questions))
    }

    fn answer(&self, query: u64, at: u64, values: Vec<(UserKey, u32, Value)>) {
        let reply = lock(&self.replies).as_mut().and_then(|r| r.remove(&query));
        if let Some(reply) = reply {
            // The asker may have given up waiting.
            reply.send((at, values)).ok();
        }
    }

    fn take_edits(&self) -> Vec<(u64, Edit)> {
        std::mem::take(&mut *lock(&self.edits))
    }

    fn edited(&self, request: u64, outcome: EditOutcome) {
        let reply = lock(&self.edit_replies)
            .as_mut()
            .and_then(|r| r.remove(&request));
        if let Some(reply) = reply {
            reply.send(outcome).ok();
        }
    }

    fn members(&self, output: u32) -> Vec<String> {
        self.read().all_members(output as usize)
    }
}

/// The API's description of each segment of `catalog`, indexed under `outputs`.
fn describe(catalog: &Catalog, outputs: &[String]) -> Vec<SegmentInfo> {
    let plan = Plan::new(catalog);
    let names = |indices: &[usize]| -> Vec<String> {
        indices
            .iter()
            .map(|&i| catalog.segments[i].name.clone())
            .collect()
    };
    let referenced: Vec<Vec<usize>> = catalog
        .segments
        .iter()
        .map(|segment| {
            let mut out = Vec::new();
            segment.pred.referenced_segments(&mut out);
            out
        })
        .collect();
    catalog
        .segments
        .iter()
        .zip(summaries(catalog, &plan))
        .enumerate()
        .map(|(index, (segment, summary))| {
            let used_by: Vec<usize> = (0..catalog.segments.len())
                .filter(|&other| referenced[other].contains(&index))
                .collect();
            SegmentInfo {
                name: segment.name.clone(),
                kind: summary.kind,
                hash: segment.hash.clone(),
                definition: segment.text.clone(),
                depends_on: names(&referenced[index]),
                used_by: names(&used_by),
                features: summary.features,
                inputs: summary.inputs,
                output: (outputs.iter())
                    .position(|name| *name == segment.name)
                    .expect("every segment has an output") as u32,
            }
        })
        .collect()
}

/// Locks a mutex, whether or not a holder panicked (the data stays consistent: every
/// holder here only pushes, takes or inserts).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
