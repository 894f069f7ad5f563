//! Live runs: a backfill, then the same dataflow kept running over followed files.
//!
//! Every worker loads its part of the backfill at the backfill's time, as a batch run
//! does. Then worker 0 alone reads the live files: live input is a trickle next to a
//! backfill, and one reader gives every record a single, replayable place in time (see
//! [`crate::live::frontier`]). The other workers close their inputs and keep working
//! on their share of the dataflow until worker 0 tells them to stop.
//!
//! Each round takes what one poll of the files gained (read and parsed on a thread of
//! its own while the previous round computes, [`crate::live::prefetch`]), applies it,
//! moves the frontier, runs the dataflow until every change before the frontier is
//! out, and appends those changes and a progress record to the change log. A restart with an existing log replays the
//! rounds the log recorded, writes nothing it already holds, and carries on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};
use timely::worker::Worker;

use crate::catalog::ir::Catalog;
use crate::data::EventRow;
use crate::dataflow::{
    user_key_in, Event, Ids, ModelRecord, Question, ScoreRecord, UserKey, UserRecord,
};
use crate::io::error::{InputError, RowError};
use crate::live::changelog::{ChangeLog, LogChange, LogFormat, LogHeader, LoggedEdit, Round};
use crate::live::definitions::{Build, Definitions, Edit, EditError};
use crate::live::follow::{Follower, Position};
use crate::live::frontier::{format_tick, ClockKind, Frontier, TICKS_PER_SECOND};
use crate::live::ledger::Ledger;
use crate::live::prefetch::{self, parse_lines, ParsedLine, Poll};
use crate::live::record::{LiveRecord, RecordParser};
use crate::live::rejects::Rejects;
use crate::plan::{Explain, Plan};
use crate::value::{Text, Value};

pub use super::backfill::BackfillError;
use super::backfill::{backfill_then_serve, Loaded};
use super::batch::{BatchInput, OnError};
use super::cluster::{execute, ClusterError, Workers};
use super::control::{Command, Control};
pub use super::loading::Progress;
use super::segmentation::{InputsKept, KnownUpdate, Segmentation};

/// How a live run behaves.
#[derive(Clone, Debug)]
pub struct TailOptions {
    /// The directory whose `*.jsonl` files are followed.
    pub follow: PathBuf,
    /// The change log.
    pub changes: PathBuf,
    /// The change log's record format.
    pub format: LogFormat,
    /// Where bad lines (and, with `OnError::Skip`, bad backfill rows) go.
    pub rejects: PathBuf,
    /// What moves the frontier forward: event time or the machine's clock.
    pub clock: ClockKind,
    /// Allowed lateness in seconds.
    pub lateness: u64,
    /// What to do with a malformed backfill row (live lines are always set aside).
    pub on_error: OnError,
    /// Stop once a poll finds nothing new, instead of following forever.
    pub once: bool,
    /// Pause between polls that found nothing.
    pub poll_interval: Duration,
    /// Print a status line this often (never when `None`).
    pub status_every: Option<Duration>,
    /// Set to stop the run cleanly (Ctrl-C).
    pub stop: Arc<AtomicBool>,
    /// Backfill rows loaded so far, for a progress bar.
    pub progress: Option<Arc<Progress>>,
    /// The service attached to the run, on the process of worker 0 (see [`Attached`]).
    pub publish: Option<Arc<dyn Attached>>,
    /// Whether a service is attached on some process: the dataflow then reports known
    /// ids (to tell a user in no segment from an unknown one) and keeps every operand's
    /// value by user (to explain memberships) and its inputs arranged (to compute
    /// segments defined at runtime). Must be the same on every process.
    pub serving: bool,
    /// The catalog's files `(name, contents)` as they were checked: runtime
    /// definitions are checked with them.
    pub sources: Vec<(String, Vec<u8>)>,
}

/// A service attached to a live run. It is told of every round: everything that became
/// final, in order (a restart publishes the rounds it replays too, so it sees every
/// change since the backfill, whether or not this run wrote it to the log). Between
/// rounds, it may ask for users' values, which worker 0 looks up in the dataflow.
pub trait Attached: Send + Sync + std::fmt::Debug {
    /// Called on worker 0 after each round, before the next one starts.
    fn publish(&self, round: Published<'_>);
    /// Questions waiting, by query id, each about the values as of the latest
    /// published round.
    fn take_questions(&self) -> Vec<(u64, Ask)>;
    /// The answer to a question: the values `(user, operand, value)` at the times
    /// before tick `at`; an operand without one for a user has its default.
    fn answer(&self, query: u64, at: u64, values: Answered);
    /// Definition changes waiting, by request id, in the order they came.
    fn take_edits(&self) -> Vec<(u64, Edit)>;
    /// What became of a definition change: in effect from tick `at` (once the log
    /// holds it), or refused.
    fn edited(&self, request: u64, outcome: Result<Edited, EditError>);
    /// The members of an output as of the latest published round.
    fn members(&self, output: u32) -> Vec<String>;
}

/// A definition change in effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edited {
    /// The tick it took effect at.
    pub at: u64,
    /// The segment versions it started, `(name, hash)`.
    pub started: Vec<(String, String)>,
}

/// Values answered: `(user, operand, value)`.
pub type Answered = Vec<(UserKey, u32, Value)>;

/// What an attached service asks about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {
    /// The values of the user of this id.
    User(String),
    /// The values of every user.
    Everyone,
}

/// One round's final output.
#[derive(Debug)]
pub struct Published<'a> {
    /// Every change before this tick is in `changes` or an earlier round's.
    pub frontier: u64,
    /// Membership changes at times before `frontier`, sorted by time, segment and user.
    pub changes: &'a [LogChange],
    /// Ids that became known (+1) or were erased (-1), at times before `frontier`.
    pub known: &'a [KnownUpdate],
    /// The definitions, when they changed since the previous round (runtime edits, or
    /// the edits a restart applied again); output indices in `changes` refer to them.
    pub definitions: Option<&'a Definitions>,
    /// The run's counts so far.
    pub summary: TailSummary,
}

/// Counts of a live run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TailSummary {
    /// Backfill rows read.
    pub backfill_rows: u64,
    /// The backfill's time, when there was a backfill.
    pub backfill_time: Option<u64>,
    /// Live records applied (including those replayed after a restart).
    pub records: u64,
    /// Live events (of those records).
    pub events: u64,
    /// Records whose second had closed when they arrived.
    pub late: u64,
    /// Events (backfilled or live) set aside now as copies of another event of the
    /// same user with the same `event_id`.
    pub duplicates: u64,
    /// Entries in the rejects file.
    pub rejected: u64,
    /// Changes appended to the log by this run.
    pub changes_written: u64,
    /// The final frontier, in ticks.
    pub frontier: u64,
}

/// Why a live run stopped.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// The backfill failed.
    #[error(transparent)]
    Backfill(#[from] BackfillError),
    /// Distinct user ids (listed, comma-separated) hash to the same internal key.
    #[error("user ids {0} hash to the same internal key; please report this")]
    Collision(String),
    /// The live phase failed: a followed file, the change log or the rejects file could
    /// not be read or written, or the existing log was written by another run.
    #[error("{0:#}")]
    Run(anyhow::Error),
    /// The workers could not run to the end.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// Runs a catalog over an optional backfill and then the followed files, until the
/// stop flag is set (or, with `once`, until the files hold nothing new). The summary
/// comes back on the process of worker 0, which reads the live files and writes the
/// log; other processes get `None`.
pub fn run_tail(
    catalog: &Catalog,
    backfill: Option<Arc<dyn BatchInput>>,
    options: TailOptions,
    workers: impl Into<Workers>,
) -> Result<Option<TailSummary>, TailError> {
    let explain = if options.serving {
        Explain::On
    } else {
        Explain::Off
    };
    let plan = Arc::new(Plan::with(catalog, explain));
    let catalog = Arc::new(catalog.clone());
    let outcomes = execute(workers.into(), move |worker| {
        let mut control = Control::build(worker);
        let backfilled = backfill_then_serve(
            worker,
            &mut control,
            &plan,
            backfill.as_deref(),
            options.on_error,
            options.progress.clone(),
            if options.serving {
                Ids::Reported
            } else {
                Ids::Omitted
            },
            if options.serving {
                InputsKept::Arranged
            } else {
                InputsKept::No
            },
        )?;
        let Some((segmentation, loaded)) = backfilled else {
            return Ok(None);
        };
        let mut live = Live::new(&catalog, &options, segmentation, loaded);
        let outcome = live.run(worker, &mut control).map_err(TailError::Run);
        control.stop(worker);
        let summary = live.summary();
        outcome?;
        if let Some(ids) = live.collisions.first() {
            return Err(TailError::Collision(ids.join(", ")));
        }
        Ok(Some(summary))
    })?;
    let mut summary = None;
    for outcome in outcomes {
        summary = summary.or(outcome?);
    }
    Ok(summary)
}

/// Worker 0's side of a live run.
struct Live<'c> {
    catalog: &'c Catalog,
    options: &'c TailOptions,
    segmentation: Segmentation,
    parser: RecordParser<'c>,
    frontier: Frontier,
    backfill_time: Option<u64>,
    backfill_rows: u64,
    backfill_rejects: Vec<InputError>,
    /// How many times each erased id has been erased.
    incarnations: FxHashMap<String, u64>,
    /// Keys given their id string since the backfill.
    named: FxHashSet<UserKey>,
    /// What the records established, for checking retractions: used here while
    /// replaying, then by the reading thread.
    ledger: Ledger,
    /// Users rows are ordered after every backfill row, in arrival order.
    next_seq: u64,
    /// Changes at or after the frontier, held until it passes them.
    pending: Vec<LogChange>,
    /// Known-id updates at or after the frontier, held likewise (when publishing).
    pending_known: Vec<KnownUpdate>,
    collisions: Vec<Vec<String>>,
    counts: LiveCounts,
    /// The definitions and their versions, when serving (they may change at runtime).
    definitions: Option<Definitions>,
    /// Whether the definitions changed since the last publication.
    redefined: bool,
    /// Definition changes applied but not yet in a complete round: `(request, edited)`.
    unconfirmed: Vec<(u64, Edited)>,
}

#[derive(Clone, Debug, Default)]
struct LiveCounts {
    records: u64,
    events: u64,
    late: u64,
    /// The net number of duplicate events so far (retractions can lower it).
    duplicates: isize,
    rejected: u64,
    changes_written: u64,
}

impl<'c> Live<'c> {
    fn new(
        catalog: &'c Catalog,
        options: &'c TailOptions,
        segmentation: Segmentation,
        loaded: Loaded,
    ) -> Live<'c> {
        let start = loaded.time.map_or(0, |t| (t + 1) * TICKS_PER_SECOND);
        Live {
            catalog,
            options,
            segmentation,
            parser: RecordParser::new(catalog),
            frontier: Frontier::new(options.clock, options.lateness, start, loaded.time),
            backfill_time: loaded.time,
            backfill_rows: loaded.rows,
            backfill_rejects: loaded.rejects,
            incarnations: FxHashMap::default(),
            named: FxHashSet::default(),
            ledger: Ledger::new(loaded.fingerprints, loaded.scored),
            next_seq: 1 << 63,
            pending: Vec::new(),
            pending_known: Vec::new(),
            collisions: Vec::new(),
            counts: LiveCounts::default(),
            definitions: (options.serving)
                .then(|| Definitions::new(options.sources.clone(), catalog)),
            redefined: false,
            unconfirmed: Vec::new(),
        }
    }

    fn summary(&self) -> TailSummary {
        TailSummary {
            backfill_rows: self.backfill_rows,
            backfill_time: self.backfill_time,
            records: self.counts.records,
            events: self.counts.events,
            late: self.counts.late,
            duplicates: self.counts.duplicates.max(0) as u64,
            rejected: self.counts.rejected,
            changes_written: self.counts.changes_written,
            frontier: self.frontier.now(),
        }
    }

    fn header(&self) -> LogHeader {
        LogHeader {
            definitions: self
                .catalog
                .segments
                .iter()
                .map(|s| (s.name.clone(), s.hash.clone()))
                .collect(),
            clock: format!(
                "{}, allowed lateness {}s",
                self.options.clock, self.options.lateness
            ),
            backfill: self.backfill_time,
        }
    }

    fn run(&mut self, worker: &mut Worker, control: &mut Control) -> anyhow::Result<()> {
        let (mut log, logged) =
            ChangeLog::open(&self.options.changes, self.options.format, &self.header())?;
        let rounds = logged.rounds;
        self.restore_edits(worker, control, &mut log, &logged.edits)?;
        let mut follower = Follower::new(&self.options.follow, BTreeMap::new())?;
        // A log without rounds starts over: so do its rejects.
        let kept = (!rounds.is_empty()).then(|| replay_positions(&rounds));
        let mut rejects =
            Rejects::open(&self.options.rejects, &self.options.follow, kept.as_ref())?;
        self.counts.rejected = rejects.count();

        if rounds.is_empty() {
            for reject in &self.backfill_rejects {
                rejects.add(reject)?;
            }
            rejects.flush()?;
            self.finish_round(worker, &mut log, &BTreeMap::new())?;
        } else {
            self.replay(worker, &mut follower, &rounds)?;
        }

        let catalog = self.catalog;
        let poll_interval = self.options.poll_interval;
        let read = follower.positions().clone();
        std::thread::scope(|scope| {
            let ledger = std::mem::take(&mut self.ledger);
            let polls = prefetch::start(scope, catalog, follower, ledger, poll_interval);
            self.follow(worker, control, &mut log, &mut rejects, &polls, read)
        })
    }

    /// Applies again the definition changes an earlier run logged, each at its tick,
    /// before the rounds are replayed, and builds the versions still in effect: each
    /// then has its whole window.
    fn restore_edits(
        &mut self,
        worker: &mut Worker,
        control: &mut Control,
        log: &mut ChangeLog,
        edits: &[LoggedEdit],
    ) -> anyhow::Result<()> {
        if edits.is_empty() {
            return Ok(());
        }
        let path = self.options.changes.display();
        let Some(definitions) = &mut self.definitions else {
            anyhow::bail!(
                "'{path}' holds definitions changed at runtime: resume it with `segflow serve`"
            );
        };
        for LoggedEdit { at, edit } in edits {
            let revision = definitions.check(edit.clone()).map_err(|error| {
                anyhow::anyhow!(
                    "'{path}': the definition change at {} no longer applies ({error}): \
                     the catalog files changed since it was logged",
                    format_tick(*at)
                )
            })?;
            definitions.apply(revision, *at);
        }
        // A version that ended before the restart changes nothing from here on: its
        // changes and their undoing are all in the log.
        let in_effect: Vec<(usize, Build)> = (definitions.versions().iter().enumerate())
            .filter(|(_, version)| version.until.is_none())
            .filter_map(|(index, version)| Some((index, version.build.clone()?)))
            .collect();
        for (version, build) in in_effect {
            define(
                worker,
                control,
                &mut self.segmentation,
                version as u32,
                build,
            );
        }
        log.set_outputs(definitions.outputs());
        self.redefined = true;
        Ok(())
    }

    /// Applies the prefetched polls, one round each, until stopped.
    fn follow(
        &mut self,
        worker: &mut Worker,
        control: &mut Control,
        log: &mut ChangeLog,
        rejects: &mut Rejects,
        polls: &Receiver<anyhow::Result<Poll>>,
        mut written: BTreeMap<String, Position>,
    ) -> anyhow::Result<()> {
        let mut status = Status::new(self.options.status_every);
        loop {
            if self.options.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let before = self.frontier.now();
            self.frontier.tick_wall_clock();
            if self.frontier.now() != before {
                self.finish_round(worker, log, &BTreeMap::new())?;
            }
            self.answer_questions(worker);
            self.apply_edits(worker, control, log)?;
            let poll = polls
                .recv()
                .map_err(|_| anyhow::anyhow!("the thread reading the live files ended"))??;
            if poll.lines.is_empty() {
                if self.options.once {
                    return Ok(());
                }
                status.maybe_print(&self.summary());
                continue;
            }
            self.apply(poll.lines, Some(rejects))?;
            rejects.flush()?;
            let moved = moved_since(&written, &poll.positions);
            self.finish_round(worker, log, &moved)?;
            written = poll.positions;
            status.maybe_print(&self.summary());
        }
    }

    /// Re-applies the rounds an earlier run recorded, writing none of their changes.
    fn replay(
        &mut self,
        worker: &mut Worker,
        follower: &mut Follower,
        rounds: &[Round],
    ) -> anyhow::Result<()> {
        for round in rounds {
            let read = follower.read_to(&round.moved)?;
            let lines = parse_lines(&mut self.parser, &mut self.ledger, read);
            self.apply(lines, None)?;
            self.frontier.set(round.frontier);
            worker.step();
        }
        // Changes before `through` are in the log already: keep only later ones.
        let through = self.frontier.now();
        self.segmentation.advance(through);
        worker.step_while(|| !self.segmentation.is_complete_before(through));
        self.collisions.extend(self.segmentation.take_collisions());
        self.take_arrived();
        // Changes before `through` are not written again, only published.
        let replayed = self.take_final(through);
        self.publish(through, &replayed.0, &replayed.1);
        Ok(())
    }

    /// Takes the pending changes and known ids before `frontier`, consolidated.
    fn take_final(&mut self, frontier: u64) -> (Vec<LogChange>, Vec<KnownUpdate>) {
        self.pending_known.extend(self.segmentation.take_known());
        let duplicates = self.segmentation.take_duplicates().into_iter();
        self.counts.duplicates += duplicates.map(|(_, diff)| diff).sum::<isize>();
        let (ready, later): (Vec<LogChange>, Vec<LogChange>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(tick, ..)| *tick < frontier);
        self.pending = later;
        let (known, later): (Vec<KnownUpdate>, Vec<KnownUpdate>) =
            std::mem::take(&mut self.pending_known)
                .into_iter()
                .partition(|(_, tick, _)| *tick < frontier);
        self.pending_known = later;
        (consolidate(ready), known)
    }

    /// Asks the dataflow the attached service's questions about users' values, as of
    /// the frontier (every round before it is complete), and hands on the answers.
    fn answer_questions(&mut self, worker: &mut Worker) {
        let Some(service) = self.options.publish.clone() else {
            return;
        };
        let questions = service.take_questions();
        if questions.is_empty() {
            return;
        }
        let at = self.frontier.now();
        let peers = worker.peers();
        // Per query: answers still to come, and the values so far.
        let mut waiting: FxHashMap<u64, (usize, Answered)> = FxHashMap::default();
        for (query, ask) in questions {
            let parts = match ask {
                Ask::User(id) => {
                    let incarnation = self.incarnations.get(&id).copied().unwrap_or(0);
                    let user = user_key_in(&id, incarnation);
                    self.segmentation.ask(Question::User(user), query, at);
                    1
                }
                Ask::Everyone => {
                    for index in 0..peers {
                        self.segmentation
                            .ask(Question::Everyone(index as u32), query, at);
                    }
                    peers
                }
            };
            waiting.insert(query, (parts, Vec::new()));
        }
        while !waiting.is_empty() {
            worker.step();
            for (query, values) in self.segmentation.take_answers() {
                let Some((parts, gathered)) = waiting.get_mut(&query) else {
                    continue;
                };
                gathered.extend(values);
                *parts -= 1;
                if *parts == 0 {
                    let (_, values) = waiting.remove(&query).unwrap_or_default();
                    service.answer(query, at, values);
                }
            }
        }
    }

    /// Hands a round's final output to the publisher, if there is one.
    fn publish(&mut self, frontier: u64, changes: &[LogChange], known: &[KnownUpdate]) {
        if let Some(publish) = &self.options.publish {
            let redefined = std::mem::take(&mut self.redefined);
            publish.publish(Published {
                frontier,
                changes,
                known,
                definitions: self.definitions.as_ref().filter(|_| redefined),
                summary: self.summary(),
            });
        }
    }

    /// Applies lines in order; bad ones go to `rejects` (not during a replay, whose
    /// rejects are in the file already).
    fn apply(
        &mut self,
        lines: Vec<ParsedLine>,
        mut rejects: Option<&mut Rejects>,
    ) -> anyhow::Result<()> {
        for ParsedLine { line, record } in lines {
            if let Err(error) = record.and_then(|record| self.apply_record(record)) {
                if let Some(rejects) = rejects.as_deref_mut() {
                    self.counts.rejected += 1;
                    let error = InputError {
                        file: self.options.follow.join(&line.file).display().to_string(),
                        line: line.number,
                        column: error.column,
                        reason: error.reason,
                        raw: String::from_utf8_lossy(&line.bytes).into_owned(),
                    };
                    rejects.add(&error)?;
                }
            }
        }
        Ok(())
    }

    fn apply_record(&mut self, record: LiveRecord) -> Result<(), RowError> {
        record.check_time()?;
        let ts = record.ts();
        let (at, late) = self.frontier.effect(ts);
        match record {
            LiveRecord::Clock(_) => {
                self.frontier.saw(ts);
                return Ok(());
            }
            LiveRecord::Event(row) => {
                let (user, event, id) = self.event(row);
                self.segmentation.event(user, event, id, at, 1);
                self.counts.events += 1;
            }
            // The ledger admitted it: it matches an event present.
            LiveRecord::RetractEvent(row) => {
                let (user, event, id) = self.event(row);
                self.segmentation.event(user, event, id, at, -1);
            }
            LiveRecord::User(row) => {
                let user = self.key(&row.user_id);
                let record = UserRecord {
                    // Without a time of its own, the row is as of when it applies.
                    ts: row.ts.unwrap_or(at / TICKS_PER_SECOND),
                    seq: self.next_seq,
                    attrs: row.attrs,
                };
                self.next_seq += 1;
                self.segmentation.user(user, record, at);
            }
            LiveRecord::Model(row) => {
                let record = ModelRecord {
                    ts: row.ts,
                    seq: self.next_seq,
                    version: row.version,
                };
                self.next_seq += 1;
                self.segmentation.model(row.model, record, at);
            }
            LiveRecord::Score(row) => {
                let user = self.key(&row.user_id);
                let record = ScoreRecord {
                    model: row.model,
                    ts: row.ts,
                    score: row.score,
                    version: row.version,
                };
                self.segmentation.score(user, record, at);
            }
            LiveRecord::DeleteUser(id) => {
                let incarnation = self.incarnations.entry(id.clone()).or_insert(0);
                self.segmentation
                    .erase(user_key_in(&id, *incarnation), id.clone(), at);
                *incarnation += 1;
            }
        }
        self.counts.records += 1;
        self.counts.late += u64::from(late);
        self.frontier.admitted(at, ts);
        Ok(())
    }

    fn event(&mut self, row: EventRow) -> (UserKey, Event, Option<Text>) {
        let user = self.key(&row.user_id);
        (user, Event::new(row.ts, row.kind, row.fields), row.event_id)
    }

    /// The current key of a user id, named in the dataflow on first use. The name is
    /// given now, at the frontier, not at the record's own (possibly later) time: an
    /// id's first record may lie in the future while its next one takes effect now.
    fn key(&mut self, id: &str) -> UserKey {
        let incarnation = self.incarnations.get(id).copied().unwrap_or(0);
        let user = user_key_in(id, incarnation);
        if self.named.insert(user) {
            let now = self.frontier.now();
            self.segmentation.name(user, id.to_string(), now);
        }
        user
    }

    /// Runs the dataflow to the frontier and writes the changes before it and a
    /// progress record.
    fn finish_round(
        &mut self,
        worker: &mut Worker,
        log: &mut ChangeLog,
        moved: &BTreeMap<String, Position>,
    ) -> anyhow::Result<()> {
        let frontier = self.frontier.now();
        self.segmentation.advance(frontier);
        worker.step_while(|| !self.segmentation.is_complete_before(frontier));
        self.collisions.extend(self.segmentation.take_collisions());
        if let Some(ids) = self.collisions.first() {
            anyhow::bail!(
                "user ids {} hash to the same internal key; please report this",
                ids.join(", ")
            );
        }
        self.take_arrived();
        let (ready, known) = self.take_final(frontier);
        log.write_changes(&ready)
            .map_err(|e| cannot_write(log, e))?;
        log.write_progress(frontier, moved)
            .map_err(|e| cannot_write(log, e))?;
        self.counts.changes_written += ready.len() as u64;
        self.publish(frontier, &ready, &known);
        self.confirm_edits(log, frontier)
    }

    /// Moves the changes the dataflows put out to the pending ones, each version's by
    /// its window and under its output.
    fn take_arrived(&mut self) {
        let arrived = self.segmentation.take_changes();
        let Some(definitions) = &self.definitions else {
            let arrived = arrived.into_iter();
            self.pending
                .extend(arrived.map(|((segment, user), tick, diff)| (tick, segment, user, diff)));
            return;
        };
        for ((version, user), tick, diff) in arrived {
            let version = &definitions.versions()[version as usize];
            for (tick, diff) in version.windowed(tick, diff) {
                self.pending
                    .push((tick, version.output, user.clone(), diff));
            }
        }
    }

    /// Applies the attached service's definition changes, each at a tick of its own:
    /// the versions it ends lose their members there, the versions it starts get
    /// theirs. A change is confirmed once a round past its tick is in the log.
    fn apply_edits(
        &mut self,
        worker: &mut Worker,
        control: &mut Control,
        log: &mut ChangeLog,
    ) -> anyhow::Result<()> {
        let Some(service) = self.options.publish.clone() else {
            return Ok(());
        };
        let edits = service.take_edits();
        if edits.is_empty() {
            return Ok(());
        }
        for (request, edit) in edits {
            let at = self.frontier.now();
            let definitions = self
                .definitions
                .as_mut()
                .expect("a service runs with definitions");
            let revision = match definitions.check(edit) {
                Ok(revision) => revision,
                Err(error) => {
                    service.edited(request, Err(error));
                    continue;
                }
            };
            if revision.is_unchanged() {
                // In effect already: as of the latest final time.
                let at = at.saturating_sub(1);
                let started = Vec::new();
                service.edited(request, Ok(Edited { at, started }));
                continue;
            }
            let started = revision.started.clone();
            log.write_edit(at, &revision.edit, &started)
                .map_err(|e| cannot_write(log, e))?;
            let applied = definitions.apply(revision, at);
            log.set_outputs(definitions.outputs());
            for version in applied.ended {
                let output = definitions.versions()[version].output;
                // Its later changes are moot; its members as published end at `at`.
                self.pending.retain(|change| change.1 != output);
                let members = service.members(output).into_iter();
                self.pending
                    .extend(members.map(|user| (at, output, user, -1)));
            }
            let builds: Vec<(usize, Option<Build>)> = (applied.started.iter())
                .map(|&version| (version, definitions.versions()[version].build.clone()))
                .collect();
            for (version, build) in builds {
                let build = build.expect("a version started by an edit has a build");
                define(
                    worker,
                    control,
                    &mut self.segmentation,
                    version as u32,
                    build,
                );
            }
            self.frontier.admitted(at, None);
            self.redefined = true;
            self.unconfirmed.push((request, Edited { at, started }));
            // Published before the next edit reads the members it ends.
            self.finish_round(worker, log, &BTreeMap::new())?;
        }
        Ok(())
    }

    /// Tells the service of the definition changes now in the log (through to the
    /// disk) at ticks before `frontier`.
    fn confirm_edits(&mut self, log: &mut ChangeLog, frontier: u64) -> anyhow::Result<()> {
        if !self
            .unconfirmed
            .iter()
            .any(|(_, edited)| edited.at < frontier)
        {
            return Ok(());
        }
        log.sync().map_err(|e| cannot_write(log, e))?;
        let (confirmed, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unconfirmed)
            .into_iter()
            .partition(|(_, edited)| edited.at < frontier);
        self.unconfirmed = later;
        if let Some(service) = &self.options.publish {
            for (request, edited) in confirmed {
                service.edited(request, Ok(edited));
            }
        }
        Ok(())
    }
}

/// Has every worker build the dataflow of a segment version, this one included.
fn define(
    worker: &mut Worker,
    control: &mut Control,
    segmentation: &mut Segmentation,
    version: u32,
    build: Build,
) {
    for command in control.send(worker, Command::Define { version, build }) {
        if let Command::Define { version, build } = command {
            segmentation.define(worker, version, &build);
        }
    }
}

/// The error of a failed write to the change log.
fn cannot_write(log: &ChangeLog, error: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot write '{}': {error}", log.path().display())
}

/// Sorts changes by time, segment and user and sums those that coincide.
fn consolidate(mut changes: Vec<LogChange>) -> Vec<LogChange> {
    changes.sort_unstable();
    let mut out: Vec<LogChange> = Vec::with_capacity(changes.len());
    for (tick, segment, user, diff) in changes {
        match out.last_mut() {
            Some(last) if last.0 == tick && last.1 == segment && last.2 == user => last.3 += diff,
            _ => out.push((tick, segment, user, diff)),
        }
    }
    out.retain(|change| change.3 != 0);
    out
}

/// The positions the rounds of a log reached, per file.
fn replay_positions(rounds: &[Round]) -> BTreeMap<String, Position> {
    let mut positions = BTreeMap::new();
    for round in rounds {
        positions.extend(round.moved.clone());
    }
    positions
}

/// The files whose position changed.
fn moved_since(
    before: &BTreeMap<String, Position>,
    now: &BTreeMap<String, Position>,
) -> BTreeMap<String, Position> {
    now.iter()
        .filter(|(name, position)| before.get(*name) != Some(position))
        .map(|(name, position)| (name.clone(), *position))
        .collect()
}

/// The periodic one-line status on stderr.
struct Status {
    every: Option<Duration>,
    last: Instant,
    events_then: u64,
}

impl Status {
    fn new(every: Option<Duration>) -> Status {
        Status {
            every,
            last: Instant::now(),
            events_then: 0,
        }
    }

    fn maybe_print(&mut self, summary: &TailSummary) {
        let Some(every) = self.every else { return };
        let elapsed = self.last.elapsed();
        if elapsed < every {
            return;
        }
        let rate = (summary.events - self.events_then) as f64 / elapsed.as_secs_f64();
        let frontier = summary.frontier / TICKS_PER_SECOND;
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        eprintln!(
            "live: {} events ({rate:.0}/s), {} late, {} duplicates, {} rejected, {} changes; frontier {frontier} ({}s behind the wall clock)",
            summary.events,
            summary.late,
            summary.duplicates,
            summary.rejected,
            summary.changes_written,
            wall.saturating_sub(frontier)
        );
        self.last = Instant::now();
        self.events_then = summary.events;
    }
}
