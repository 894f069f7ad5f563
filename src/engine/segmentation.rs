//! One worker's segmentation dataflow: input sessions in, named membership changes out.
//!
//! Used by batch and live runs: inputs may be fed at any time at or after the sessions'
//! current time, and every change to a membership arrives at worker 0 as
//! `((segment, user_id), time, diff)`.
//!
//! Erasing a user (`delete_user`) marks its key erased in the names collection (a row
//! with the id and `true`): the naming operator then ends every membership of the key at
//! once, and the id in the marker still takes part in collision detection. Records that arrive for
//! the same id afterwards use a fresh key (see [`crate::dataflow::user_key_in`]), so a
//! returning user starts from nothing and the erased key's state can never resurface.

use std::cell::RefCell;
use std::rc::Rc;

use differential_dataflow::input::{Input, InputSession};
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::{Exchange, Inspect, Probe};
use timely::worker::Worker;

use crate::dataflow::{
    deduplicate, name_memberships, render, Answer, Event, Ids, Inputs, ModelRecord, Named,
    Question, ScoreRecord, Timing, UserKey, UserRecord,
};
use crate::io::load::RowSink;
use crate::live::definitions::Build;
use crate::plan::Plan;
use crate::value::Text;

use super::versions::{KeptInputs, ToKeep};

/// Whether a dataflow keeps its inputs arranged, so that segments defined while it
/// runs can be computed from them (see `engine::versions`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum InputsKept {
    /// Only the catalog's segments, ever.
    No,
    /// Segments may be defined later.
    Arranged,
}

pub use super::changes::{KnownUpdate, MembershipUpdate};

/// Input sessions and output buffers of a segmentation dataflow on one worker.
pub struct Segmentation {
    users: InputSession<u64, (UserKey, UserRecord), isize>,
    events: InputSession<u64, (UserKey, Event), isize>,
    /// Events with an id at their source, deduplicated by it.
    identified: InputSession<u64, (UserKey, (Text, Event)), isize>,
    scores: InputSession<u64, (UserKey, ScoreRecord), isize>,
    /// Switches of models' active versions, keyed by model.
    models: InputSession<u64, (Text, ModelRecord), isize>,
    /// Each key's id string, and whether the row marks the key erased.
    names: InputSession<u64, (UserKey, (String, bool)), isize>,
    /// Questions about users' values, `(question, query id)`.
    queries: InputSession<u64, (Question, u64), isize>,
    /// How logical time relates to event time.
    timing: Timing,
    probe: ProbeHandle<u64>,
    /// Membership changes gathered on worker 0 (empty on other workers).
    changes: Rc<RefCell<Vec<MembershipUpdate>>>,
    /// Groups of distinct user ids that share a key, gathered on worker 0.
    collisions: Rc<RefCell<Vec<Vec<String>>>>,
    /// Ids that came and went, gathered on worker 0 (with [`Ids::Reported`]).
    known: Rc<RefCell<Vec<KnownUpdate>>>,
    /// Answers to queries, gathered on worker 0 (when the plan keeps operand values).
    answers: Rc<RefCell<Vec<Answer>>>,
    /// Changes in the number of duplicate events, by time, gathered on worker 0.
    duplicates: Rc<RefCell<Vec<(u64, isize)>>>,
    /// The inputs, when kept for later definitions.
    kept: Option<KeptInputs>,
}

/// Rows that a feed did not apply because they lie after the time they were fed at.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Events with a `ts` after the feed's horizon.
    pub events: u64,
    /// Scores with a `ts` after the feed's horizon.
    pub scores: u64,
    /// Users rows with a `ts` after the feed's horizon.
    pub users: u64,
    /// Models rows with a `ts` after the feed's horizon.
    pub models: u64,
}

impl Segmentation {
    /// Builds the dataflow for `plan` on this worker, reporting known ids or not, and
    /// keeping its inputs or not. Every worker must call this, in the same order
    /// relative to other dataflows.
    pub fn build(
        worker: &mut Worker,
        plan: &Plan,
        timing: Timing,
        ids: Ids,
        keep: InputsKept,
    ) -> Segmentation {
        let changes = Rc::new(RefCell::new(Vec::new()));
        let collisions = Rc::new(RefCell::new(Vec::new()));
        let known = Rc::new(RefCell::new(Vec::new()));
        let probe = ProbeHandle::new();
        let (changes_sink, collisions_sink) = (changes.clone(), collisions.clone());
        let known_sink = known.clone();
        let answers = Rc::new(RefCell::new(Vec::new()));
        let answers_sink = answers.clone();
        let duplicates = Rc::new(RefCell::new(Vec::new()));
        let duplicates_sink = duplicates.clone();
        let kept_changes = changes.clone();
        let kept_probe = probe.clone();
        let (users, events, identified, scores, models, names, queries, kept) = worker
            .dataflow::<u64, _, _>(|scope| {
                let (users_in, users) = scope.new_collection();
                let (events_in, plain) = scope.new_collection();
                let (identified_in, identified) = scope.new_collection();
                let deduplicated = deduplicate(identified);
                deduplicated
                    .duplicates
                    .inner
                    .exchange(|_| 0)
                    .inspect(move |((), time, diff)| {
                        duplicates_sink.borrow_mut().push((*time, *diff))
                    })
                    .probe_with(&probe);
                let events = plain.concat(deduplicated.events);
                let (scores_in, scores) = scope.new_collection();
                let (models_in, models) = scope.new_collection();
                let (names_in, names) = scope.new_collection::<(UserKey, (String, bool)), isize>();
                let (queries_in, queries) = scope.new_collection();
                let kept = (keep == InputsKept::Arranged).then(|| {
                    let inputs = ToKeep {
                        users: users.clone(),
                        events: events.clone(),
                        scores: scores.clone(),
                        models: models.clone(),
                        names: names.clone(),
                    };
                    KeptInputs::arrange(inputs, timing, kept_changes, kept_probe)
                });

                let rendered = render(
                    plan,
                    Inputs {
                        users,
                        events,
                        scores,
                        models,
                        queries: Some(queries),
                        timing,
                    },
                );
                if let Some(answers) = rendered.answers {
                    answers
                        .exchange(|_| 0)
                        .inspect(move |answer| answers_sink.borrow_mut().push(answer.clone()))
                        .probe_with(&probe);
                }

                name_memberships(rendered.memberships, names, ids)
                    .exchange(|_| 0)
                    .inspect(move |(named, time, diff)| match named {
                        Named::Member(segment, id) => {
                            let change = ((*segment, id.clone()), *time, *diff);
                            changes_sink.borrow_mut().push(change);
                        }
                        Named::Collision(ids) => collisions_sink.borrow_mut().push(ids.clone()),
                        Named::Known(key, id) => {
                            known_sink
                                .borrow_mut()
                                .push(((id.clone(), *key), *time, *diff))
                        }
                    })
                    .probe_with(&probe);
                (
                    users_in,
                    events_in,
                    identified_in,
                    scores_in,
                    models_in,
                    names_in,
                    queries_in,
                    kept,
                )
            });
        Segmentation {
            users,
            events,
            identified,
            scores,
            models,
            names,
            queries,
            timing,
            probe,
            changes,
            collisions,
            known,
            answers,
            duplicates,
            kept,
        }
    }

    /// Builds the dataflow of a segment version defined at runtime (see
    /// `engine::versions`); its changes arrive with the run's own, as version
    /// `version`. Only a dataflow that keeps its inputs can.
    pub fn define(&mut self, worker: &mut Worker, version: u32, build: &Build) {
        let kept = self.kept.as_mut();
        kept.expect("segments are defined at runtime only where the inputs are kept")
            .build(worker, version, build);
    }

    /// Lets the kept inputs forget the history before what is complete.
    pub fn compact_kept(&mut self) {
        if let Some(kept) = &mut self.kept {
            kept.compact();
        }
    }

    /// Closes the inputs (a worker that feeds nothing more), keeping what later
    /// definitions need.
    pub fn into_kept(self) -> Option<KeptInputs> {
        self.kept
    }

    /// A sink that feeds rows at logical time `time` (at or after the sessions' time).
    /// Events, scores and timed users rows become visible at their own `ts` when that is later than
    /// `time`, so that a row never counts before it happened; rows after `horizon`
    /// (in seconds of event time) are not fed at all: a batch run as of `horizon`
    /// never looks past it.
    pub fn feed(&mut self, time: u64, horizon: u64) -> Feed<'_> {
        self.advance(time);
        Feed {
            segmentation: self,
            time,
            horizon,
            skipped: Skipped::default(),
        }
    }

    /// Moves every input to logical time `time` (no earlier than now) and flushes.
    pub fn advance(&mut self, time: u64) {
        let sessions: [&mut dyn Advance; 7] = [
            &mut self.users,
            &mut self.events,
            &mut self.identified,
            &mut self.scores,
            &mut self.models,
            &mut self.names,
            &mut self.queries,
        ];
        for session in sessions {
            session.advance(time);
        }
    }

    /// The logical time at which a row of event time `ts` takes effect when fed at
    /// `time`: its own time, or `time` if that is later.
    pub fn effective(&self, ts: u64, time: u64) -> u64 {
        time.max(ts.saturating_mul(self.timing.ticks_per_second))
    }

    /// Adds (`diff` 1) or removes (-1) an event, with its id at its source if it has
    /// one, at logical time `at`.
    pub fn event(&mut self, user: UserKey, event: Event, id: Option<Text>, at: u64, diff: isize) {
        match id {
            None => self.events.update_at((user, event), at, diff),
            Some(id) => self.identified.update_at((user, (id, event)), at, diff),
        }
    }

    /// Adds a model score at logical time `at`.
    pub fn score(&mut self, user: UserKey, record: ScoreRecord, at: u64) {
        self.scores.update_at((user, record), at, 1);
    }

    /// Adds a switch of `model`'s active version at logical time `at`.
    pub fn model(&mut self, model: Text, record: ModelRecord, at: u64) {
        self.models.update_at((model, record), at, 1);
    }

    /// Adds a users row at `at`; the row with the greatest `seq` is the user's current one.
    pub fn user(&mut self, user: UserKey, record: UserRecord, at: u64) {
        self.users.update_at((user, record), at, 1);
    }

    /// Records the id string of a key at `at`.
    pub fn name(&mut self, user: UserKey, id: String, at: u64) {
        self.names.update_at((user, (id, false)), at, 1);
    }

    /// Erases the key of id `id` at `at`: every membership of it ends.
    pub fn erase(&mut self, user: UserKey, id: String, at: u64) {
        self.names.update_at((user, (id, true)), at, 1);
    }

    /// Advances every input to `time` and runs the worker until all earlier times are
    /// complete.
    pub fn complete_before(&mut self, worker: &mut Worker, time: u64) {
        self.advance(time);
        worker.step_while(|| self.probe.less_than(&time));
    }

    /// Whether every change before `time` has reached the output.
    pub fn is_complete_before(&self, time: u64) -> bool {
        !self.probe.less_than(&time)
    }

    /// Takes the changes gathered so far (worker 0 only; empty elsewhere).
    pub fn take_changes(&mut self) -> Vec<MembershipUpdate> {
        self.changes.take()
    }

    /// Asks for values before time `at` (the inputs' current time), as query `query`:
    /// the answer arrives on worker 0 ([`Segmentation::take_answers`]) once the workers
    /// have run a little, without waiting for `at` to complete. Only a plan that keeps
    /// operand values answers.
    pub fn ask(&mut self, question: Question, query: u64, at: u64) {
        self.queries.update_at((question, query), at, 1);
        self.queries.flush();
    }

    /// Takes the answers gathered so far (worker 0 only).
    pub fn take_answers(&mut self) -> Vec<Answer> {
        self.answers.take()
    }

    /// Takes the known-id changes gathered so far (worker 0 with [`Ids::Reported`]).
    pub fn take_known(&mut self) -> Vec<KnownUpdate> {
        self.known.take()
    }

    /// Takes the changes in the number of duplicate events gathered so far, as
    /// `(time, change)` (worker 0 only).
    pub fn take_duplicates(&mut self) -> Vec<(u64, isize)> {
        self.duplicates.take()
    }

    /// Takes the groups of colliding user ids detected so far.
    pub fn take_collisions(&mut self) -> Vec<Vec<String>> {
        self.collisions.take()
    }
}

/// Feeds rows into a [`Segmentation`]; see [`Segmentation::feed`].
pub struct Feed<'a> {
    segmentation: &'a mut Segmentation,
    time: u64,
    horizon: u64,
    /// Rows not fed because they lie after the horizon.
    pub skipped: Skipped,
}

impl RowSink for Feed<'_> {
    fn user(&mut self, user: UserKey, record: UserRecord) {
        if record.ts > self.horizon {
            self.skipped.users += 1;
        } else {
            let at = self.segmentation.effective(record.ts, self.time);
            self.segmentation.user(user, record, at);
        }
    }

    fn event(&mut self, user: UserKey, event: Event, id: Option<Text>) {
        if event.ts > self.horizon {
            self.skipped.events += 1;
        } else {
            let at = self.segmentation.effective(event.ts, self.time);
            self.segmentation.event(user, event, id, at, 1);
        }
    }

    fn score(&mut self, user: UserKey, record: ScoreRecord) {
        if record.ts > self.horizon {
            self.skipped.scores += 1;
        } else {
            let at = self.segmentation.effective(record.ts, self.time);
            self.segmentation.score(user, record, at);
        }
    }

    fn model(&mut self, model: Text, record: ModelRecord) {
        if record.ts > self.horizon {
            self.skipped.models += 1;
        } else {
            let at = self.segmentation.effective(record.ts, self.time);
            self.segmentation.model(model, record, at);
        }
    }

    fn name(&mut self, user: UserKey, id: String) {
        self.segmentation.name(user, id, self.time);
    }
}

/// Moving an input session forward, whatever its record type.
trait Advance {
    fn advance(&mut self, time: u64);
}

impl<D: differential_dataflow::ExchangeData> Advance for InputSession<u64, D, isize> {
    fn advance(&mut self, time: u64) {
        if *self.time() < time {
            self.advance_to(time);
        }
        self.flush();
    }
}
