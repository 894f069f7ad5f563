//! Every event source of a plan, maintained per user by one operator.
//!
//! The events go to their user's worker, and each is looked at once: it contributes
//! to every selection it matches (restricted to the selection's window, so an event
//! inside `within 30d` also retracts itself thirty days on) and marks its user as
//! known. Contributions are gathered per time as they arrive, and folded per user
//! once a time has many (a backfill's millions at one time collapse to a state per
//! user; a live round's time has a few). Once the input frontier has passed a time,
//! the operator applies that time's contributions to each user's state — a
//! `(count, sum)` per linear selection, the multiset of values per extreme or distinct
//! selection, the number of events — and, for each row whose value changed, emits at
//! that time the change of the facts the evaluation reads from it (nothing when no
//! atom flips), and the row itself where an atom on `now` needs it.
//!
//! Why one operator? The same work as a chain of differential operators (a fan-out,
//! three holds for window retractions, three local combiners, totals per key, an
//! arrangement of every extreme value and its reader, two levels of distinct counts)
//! was a dozen operators, and a live run schedules every operator in every round
//! whether data reaches it or not: that chain was about half of a single-event
//! update's time (docs/BENCHMARKS.md, "One operator for the event sources"). Time is a
//! `u64` here and each state is read by this operator alone, so hash maps do what
//! arrangements did, without batches to build and merge.
//!
//! Retractions for later times (a window closing) wait in buckets of a minute of
//! event time ([`HeldBuckets`]) until the frontier reaches their bucket, so that a
//! round folds the contributions of its own time, not those of every open window.

use std::collections::BTreeMap;
use std::sync::Arc;

use differential_dataflow::difference::{IsZero, Multiply, Semigroup};
use differential_dataflow::hashable::Hashable;
use differential_dataflow::{AsCollection, VecCollection};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::CapabilitySet;
use timely::progress::frontier::AntichainRef;

use crate::plan::{EventSelection, Interval, Projection};
use crate::value::Value;

use super::accum::Accum;
use super::dense_map::DenseMap;
use super::evaluate::{Fact, Facts, Readers};
use super::hold::{HeldBuckets, Keeping};
use super::prefetch::prefetch_slice;
use super::records::{Event, UserKey};
use super::temporal::{restrict, window};
use super::timing::Timing;
use super::values::Values;

/// The selections of each event-source family, in slot order.
#[derive(Default)]
pub struct Selections {
    pub linear: Family,
    pub extreme: Family,
    /// Whether each extreme selection is a `max` (else a `min`).
    pub maxima: Vec<bool>,
    pub distinct: Family,
}

/// One family's selections, by slot.
#[derive(Default)]
pub struct Family {
    pub selections: Vec<EventSelection>,
    pub slots: Slots,
}

/// What is read from each slot of a family.
#[derive(Clone, Default)]
pub struct Slots {
    /// Each slot's source in the plan: the facts of its rows are that source's.
    pub sources: Vec<usize>,
    /// Whether each slot's rows are wanted as rows (an atom on `now` reads them), not
    /// only as facts.
    pub rows: Vec<bool>,
}

impl Family {
    /// Adds a selection of source `source`; returns its slot.
    pub fn push(&mut self, selection: EventSelection, source: usize, rows: bool) -> u32 {
        self.selections.push(selection);
        self.slots.sources.push(source);
        self.slots.rows.push(rows);
        self.selections.len() as u32 - 1
    }
}

/// A selection's slot within its family, and the user.
type SlotKey = (u32, UserKey);

/// Rows of `(key, value)`, one per key at most.
type Rows<'scope, K, V> = VecCollection<'scope, u64, (K, V)>;

/// Every event source's facts, and the rows wanted as rows, by family; `u32` is the
/// selection's slot.
pub struct Features<'scope> {
    /// The facts that every slot's row gives ([`Readers`]).
    pub facts: Facts<'scope>,
    /// The count and sum of each linear selection's events, per user.
    pub linear: Rows<'scope, SlotKey, Accum>,
    /// Each extreme selection's value, per user.
    pub extreme: Rows<'scope, SlotKey, Value>,
    /// Each distinct selection's number of distinct values, per user.
    pub distinct: Rows<'scope, SlotKey, isize>,
    /// Every user with a visible event.
    pub known: VecCollection<'scope, u64, UserKey>,
}

/// What one event contributes to one part of its user's state. The difference is an
/// [`Accum`], whose count alone is used by the value families and by `Events`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Linear(u32),
    Extreme(u32, Value),
    Distinct(u32, Value),
    /// The user has an event (counted whatever the selections).
    Events,
}

/// What each family's slots are, and how their rows are read.
#[derive(Clone)]
struct Shape {
    /// Whether each extreme selection is a `max`.
    maxima: Vec<bool>,
    linear: Slots,
    extreme: Slots,
    distinct: Slots,
    readers: Arc<Readers>,
}

impl Shape {
    /// Where a value family's slot sits among a user's [`Values`]: the extreme
    /// selections first, then the distinct ones.
    fn values_index(&self, part: &Part) -> u32 {
        match part {
            Part::Extreme(slot, _) => *slot,
            Part::Distinct(slot, _) => self.maxima.len() as u32 + slot,
            Part::Linear(_) | Part::Events => unreachable!("not a value family"),
        }
    }
}

/// Maintains every selection of `selections` over `events`; its rows' facts are read by
/// `readers`.
pub fn event_features<'scope>(
    events: VecCollection<'scope, u64, (UserKey, Event)>,
    selections: Selections,
    readers: Arc<Readers>,
    timing: Timing,
) -> Features<'scope> {
    let scope = events.inner.scope();
    let mut builder = OperatorBuilder::new("EventFeatures".to_owned(), scope);
    let operator = builder.global();
    let by_user = Exchange::new(|((user, _), _, _): &((UserKey, Event), u64, isize)| user.hashed());
    let mut input = builder.new_input(events.inner, by_user);
    let (mut linear_out, linear) = builder.new_output();
    let (mut extreme_out, extreme) = builder.new_output();
    let (mut distinct_out, distinct) = builder.new_output();
    let (mut known_out, known) = builder.new_output();
    let (mut facts_out, facts) = builder.new_output();
    builder.build(move |_initial| {
        let shape = Shape {
            maxima: selections.maxima.clone(),
            linear: selections.linear.slots.clone(),
            extreme: selections.extreme.slots.clone(),
            distinct: selections.distinct.slots.clone(),
            readers,
        };
        // A held contribution is one event's window end: two meet only for a user's
        // events of the same second, and released ones are folded per user anyway.
        let held = HeldBuckets::new(&scope, timing, operator, Keeping::AsTheyCame);
        let mut pending = Pending::new(held, shape.clone(), timing);
        let mut state = State::new(shape);
        let mut parts = Vec::new();
        // One capability set per output, covering every pending time.
        let mut capabilities: [CapabilitySet<u64>; 5] = Default::default();
        move |frontiers| {
            input.for_each(|capability, updates| {
                for (port, held) in capabilities.iter_mut().enumerate() {
                    for retained in capability.retain_stamp(port).iter() {
                        held.insert(retained.clone());
                    }
                }
                let now = *capability.least().expect("an input capability has a time");
                for ((user, event), time, diff) in updates.drain(..) {
                    contributions(&selections, timing, &event, time, diff, &mut parts);
                    pending.add(user, &mut parts, now);
                }
            });
            let ready = pending.ready(frontiers[0].frontier());
            if let Some(earliest) = ready.earliest() {
                let mut changes = Changes::default();
                state.apply(ready, &mut changes);
                // One container per output at the earliest time: each update carries
                // its own time, and a live batch has a time per record.
                let at = |port: usize| capabilities[port].delayed(&earliest);
                if !changes.linear.is_empty() {
                    linear_out.activate().give(&at(0), &mut changes.linear);
                }
                if !changes.extreme.is_empty() {
                    extreme_out.activate().give(&at(1), &mut changes.extreme);
                }
                if !changes.distinct.is_empty() {
                    distinct_out.activate().give(&at(2), &mut changes.distinct);
                }
                if !changes.known.is_empty() {
                    known_out.activate().give(&at(3), &mut changes.known);
                }
                if !changes.facts.is_empty() {
                    facts_out.activate().give(&at(4), &mut changes.facts);
                }
            }
            // Hold capabilities only for what is still pending: an idle operator holds
            // none, and adds nothing to a round's progress tracking.
            let earliest = pending.earliest();
            for held in capabilities.iter_mut() {
                match earliest {
                    Some(earliest) => held.downgrade([earliest]),
                    None => *held = CapabilitySet::new(),
                }
            }
            pending.held.report();
        }
    });
    Features {
        facts: facts.as_collection(),
        linear: linear.as_collection(),
        extreme: extreme.as_collection(),
        distinct: distinct.as_collection(),
        known: known.as_collection(),
    }
}

/// Each contribution of one event update, as `(part, time, difference)`, into `parts`.
fn contributions(
    selections: &Selections,
    timing: Timing,
    event: &Event,
    time: u64,
    diff: isize,
    parts: &mut Vec<(Part, u64, Accum)>,
) {
    let count = |diff: isize| Accum {
        count: diff as i64,
        sum: Decimal::ZERO,
    };
    parts.push((Part::Events, time, count(diff)));
    // The updates that restrict a contribution to the selection's window.
    let restricted = |selection: &EventSelection| {
        let interval = validity(event.ts, selection).in_ticks(timing.ticks_per_second);
        restrict(time, interval)
            .filter(|(at, _)| timing.observes(*at))
            .map(move |(at, insert)| (at, if insert { diff } else { -diff }))
    };
    for (slot, selection) in admitted(event, &selections.linear.selections) {
        let amount = match selection.field.map(|f| event.field(f)) {
            Some(value) => match value.as_ref() {
                Value::Number(n) => *n,
                _ => Decimal::ZERO,
            },
            None => Decimal::ZERO,
        };
        for (at, diff) in restricted(selection) {
            parts.push((Part::Linear(slot), at, Accum::one(amount).multiply(&diff)));
        }
    }
    for (slot, selection) in admitted(event, &selections.extreme.selections) {
        let value = field_value(event, selection);
        for (at, diff) in restricted(selection) {
            parts.push((Part::Extreme(slot, value.clone()), at, count(diff)));
        }
    }
    for (slot, selection) in admitted(event, &selections.distinct.selections) {
        let value = field_value(event, selection);
        for (at, diff) in restricted(selection) {
            parts.push((Part::Distinct(slot, value.clone()), at, count(diff)));
        }
    }
}

/// Contributions whose time the frontier has not passed yet.
///
/// A live round has a time per record, and so a few contributions per time; a
/// backfill has millions at one time, most of them to users it has already seen. The
/// first are listed as they came, with their times, in one vector (records arrive in
/// time order, so it is usually sorted already); a time whose contributions keep
/// coming is folded per user once it has [`FOLD_AT`] in a row.
struct Pending {
    /// Contributions of times with few, with their times, as they came.
    listed: Vec<(u64, UserKey, Part, Accum)>,
    /// Where the trailing run of `listed` at one time starts.
    run_start: usize,
    /// The earliest time in `listed`.
    listed_earliest: Option<u64>,
    /// Contributions of times with many, folded per user.
    folded: BTreeMap<u64, FxHashMap<UserKey, UserState>>,
    /// Contributions for later buckets, as they came.
    held: HeldBuckets<(UserKey, Part), Accum>,
    shape: Shape,
    timing: Timing,
    /// Reused by [`Pending::add`].
    scratch: Vec<(Part, u64, Accum)>,
}

/// Contributions a time keeps listed: more than one event brings (a live round's time
/// usually has one event), and few enough that the property tests' small backfills
/// take the folded path as well. Both paths give the same rows; the tests pass with
/// every contribution folded and with none.
const FOLD_AT: usize = 16;

/// The contributions of the times that the frontier has passed.
struct Ready {
    /// In time order.
    listed: Vec<(u64, UserKey, Part, Accum)>,
    /// In time order.
    folded: Vec<(u64, FxHashMap<UserKey, UserState>)>,
}

impl Ready {
    /// The earliest time of a contribution.
    fn earliest(&self) -> Option<u64> {
        let listed = self.listed.first().map(|(time, ..)| *time);
        let folded = self.folded.first().map(|(time, _)| *time);
        listed.into_iter().chain(folded).min()
    }
}

impl Pending {
    fn new(held: HeldBuckets<(UserKey, Part), Accum>, shape: Shape, timing: Timing) -> Self {
        Pending {
            listed: Vec::new(),
            run_start: 0,
            listed_earliest: None,
            folded: BTreeMap::new(),
            held,
            shape,
            timing,
            scratch: Vec::new(),
        }
    }

    /// Adds the contributions of one event of `user`, which arrived with a capability
    /// for time `now`, and empties `parts`.
    fn add(&mut self, user: UserKey, parts: &mut Vec<(Part, u64, Accum)>, now: u64) {
        // An event's contributions fall on at most two times before its windows
        // close (its arrival and its event time); the closings are held.
        let mut due = std::mem::take(&mut self.scratch);
        for (part, time, diff) in parts.drain(..) {
            if let Some(((_, part), time, diff)) = self.held.hold(((user, part), time, diff), now) {
                due.push((part, time, diff));
            }
        }
        due.sort_by_key(|(_, time, _)| *time);
        let mut due_in_order = due.drain(..).peekable();
        while let Some(time) = due_in_order.peek().map(|(_, time, _)| *time) {
            let at_time = std::iter::from_fn(|| due_in_order.next_if(|(_, t, _)| *t == time));
            self.fold(user, time, at_time.map(|(part, _, diff)| (part, diff)));
        }
        drop(due_in_order);
        self.scratch = due;
    }

    /// Adds contributions of `user` at `time`.
    fn fold(&mut self, user: UserKey, time: u64, parts: impl Iterator<Item = (Part, Accum)>) {
        // A batch run's single time only ever inserts (see `Timing::horizon`): a
        // `min`/`max` then needs each user's extreme alone, not every value.
        let prune = self.timing.horizon == Some(time);
        let shape = &self.shape;
        if let Some(folded) = self.folded.get_mut(&time) {
            let state = folded.entry(user).or_default();
            parts.for_each(|(part, diff)| state.fold(part, diff, shape, prune));
            return;
        }
        if self.listed.last().is_none_or(|(last, ..)| *last != time) {
            self.run_start = self.listed.len();
        }
        self.listed
            .extend(parts.map(|(part, diff)| (time, user, part, diff)));
        self.listed_earliest = Some(self.listed_earliest.map_or(time, |e| e.min(time)));
        if self.listed.len() - self.run_start > FOLD_AT {
            let folded = self.folded.entry(time).or_default();
            for (_, user, part, diff) in self.listed.drain(self.run_start..) {
                folded
                    .entry(user)
                    .or_default()
                    .fold(part, diff, shape, prune);
            }
            // The listed times left are those before the run.
            self.listed_earliest = self.listed.iter().map(|(time, ..)| *time).min();
        }
    }

    /// Takes out the contributions of every time that `frontier` has passed.
    fn ready(&mut self, frontier: AntichainRef<u64>) -> Ready {
        for updates in self.held.release(frontier) {
            for ((user, part), time, diff) in updates {
                self.fold(user, time, std::iter::once((part, diff)));
            }
        }
        let passed = |time: &u64| !frontier.less_equal(time);
        let mut listed = Vec::new();
        if self.listed_earliest.is_some_and(|time| passed(&time)) {
            // Stable: a time's contributions stay in the order they came.
            if !self.listed.is_sorted_by_key(|(time, ..)| *time) {
                self.listed.sort_by_key(|(time, ..)| *time);
            }
            let cut = self.listed.partition_point(|(time, ..)| passed(time));
            let later = self.listed.split_off(cut);
            listed = std::mem::replace(&mut self.listed, later);
            self.listed_earliest = self.listed.first().map(|(time, ..)| *time);
            self.run_start = self.listed.len();
        }
        let mut folded = Vec::new();
        while let Some(entry) = self.folded.first_entry() {
            if !passed(entry.key()) {
                break;
            }
            folded.push(entry.remove_entry());
        }
        Ready { listed, folded }
    }

    /// The earliest time of a pending contribution (or the start of its bucket).
    fn earliest(&self) -> Option<u64> {
        let folded = self.folded.first_key_value().map(|(time, _)| *time);
        let held = self.held.earliest();
        self.listed_earliest
            .into_iter()
            .chain(folded)
            .chain(held)
            .min()
    }
}

/// One user's state, or one user's contributions at one time: the parts with data,
/// by slot. A user has data for a few of a catalog's selections, so the parts are
/// kept sparse, in one small vector searched in order: one allocation for every
/// family, since on a million users each is a cache miss per event.
#[derive(Default)]
struct UserState {
    parts: Vec<(Slot, PartState)>,
    events: isize,
}

/// Where a part of a user's state belongs.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Slot {
    Linear(u32),
    /// By [`Shape::values_index`].
    Values(u32),
}

/// A part of a user's state: a linear selection's totals, or a value family's values.
enum PartState {
    Linear(Accum),
    Values(Values),
}

impl UserState {
    fn is_empty(&self) -> bool {
        self.parts.is_empty() && self.events == 0
    }

    fn linear(&mut self, slot: u32) -> &mut Accum {
        let part = self.part(Slot::Linear(slot), || PartState::Linear(Accum::default()));
        match part {
            PartState::Linear(total) => total,
            PartState::Values(_) => unreachable!("a linear slot holds totals"),
        }
    }

    fn values(&mut self, index: u32) -> &mut Values {
        let part = self.part(Slot::Values(index), || PartState::Values(Values::default()));
        match part {
            PartState::Values(values) => values,
            PartState::Linear(_) => unreachable!("a value slot holds values"),
        }
    }

    /// The part of `slot`, created by `empty` if absent.
    fn part(&mut self, slot: Slot, empty: impl FnOnce() -> PartState) -> &mut PartState {
        let at = match self.parts.iter().position(|(s, _)| *s == slot) {
            Some(at) => at,
            None => {
                self.parts.push((slot, empty()));
                self.parts.len() - 1
            }
        };
        &mut self.parts[at].1
    }

    /// Folds one contribution in; with `prune`, extreme values keep only the extreme.
    fn fold(&mut self, part: Part, diff: Accum, shape: &Shape, prune: bool) {
        let index = match part {
            Part::Linear(slot) => return self.linear(slot).plus_equals(&diff),
            Part::Events => return self.events += diff.count as isize,
            Part::Extreme(..) | Part::Distinct(..) => shape.values_index(&part),
        };
        let values = self.values(index);
        match part {
            Part::Extreme(slot, value) if prune => {
                values.keep_extreme(value, diff.count as isize, shape.maxima[slot as usize])
            }
            Part::Extreme(_, value) | Part::Distinct(_, value) => {
                values.add(value, diff.count as isize)
            }
            Part::Linear(_) | Part::Events => unreachable!("handled above"),
        }
    }

    /// Asks for the cache lines of the parts.
    fn prefetch_parts(&self) {
        prefetch_slice(&self.parts);
    }

    /// Asks for the cache lines of the value multisets.
    fn prefetch_values(&self) {
        for (_, part) in &self.parts {
            if let PartState::Values(values) = part {
                values.prefetch();
            }
        }
    }

    /// Drops the parts left without data.
    fn tidy(&mut self) {
        self.parts.retain(|(_, part)| match part {
            PartState::Linear(total) => !total.is_zero(),
            PartState::Values(values) => !values.is_empty(),
        });
    }
}

/// How many users ahead [`State::apply`] asks for a state, for its parts and for its
/// values: far enough for a miss to be served meanwhile, and apart so that each finds
/// what the one before asked for.
const FETCH_STATE_AHEAD: usize = 12;
const FETCH_PARTS_AHEAD: usize = 8;
const FETCH_VALUES_AHEAD: usize = 4;
/// States are asked for a group of users at a time: the index probes that find them
/// miss too, and made in a row, their misses overlap. (Parts and values asked for in
/// groups as well measured no better than one user at a time.)
const FETCH_STATE_GROUP: usize = 8;

/// Every user's state on this worker: what the rows are computed from.
struct State {
    users: DenseMap<UserKey, UserState>,
    shape: Shape,
}

/// The rows that changed (those wanted as rows), and their facts, as updates.
#[derive(Default)]
struct Changes {
    linear: Vec<((SlotKey, Accum), u64, isize)>,
    extreme: Vec<((SlotKey, Value), u64, isize)>,
    distinct: Vec<((SlotKey, isize), u64, isize)>,
    known: Vec<(UserKey, u64, isize)>,
    facts: Vec<((UserKey, Fact), u64, isize)>,
}

impl State {
    fn new(shape: Shape) -> Self {
        State {
            users: DenseMap::default(),
            shape,
        }
    }

    /// Applies the contributions that are ready, time by time, and records every row
    /// that changed.
    fn apply(&mut self, ready: Ready, changes: &mut Changes) {
        // One event's contributions come in together: one probe for each run of a
        // user's contributions at one time.
        let runs: Vec<_> = ready
            .listed
            .chunk_by(|(t1, u1, ..), (t2, u2, ..)| t1 == t2 && u1 == u2)
            .collect();
        let mut folded = ready.folded.into_iter().peekable();
        for (at, run) in runs.iter().enumerate() {
            let (time, user, ..) = run[0];
            // At one time, the listed and the folded contributions may come in either
            // order: the rows' changes at that time add up to the same.
            while let Some((time, users)) = folded.next_if(|(t, _)| *t <= time) {
                self.apply_folded(users, time, changes);
            }
            // Each user's state is a few cache misses deep (the index, the state, its
            // parts, its values): ask for the next users' while applying this one.
            if at % FETCH_STATE_GROUP == 0 {
                let start = (at + FETCH_STATE_AHEAD).min(runs.len());
                let end = (start + FETCH_STATE_GROUP).min(runs.len());
                for ahead in &runs[start..end] {
                    self.users.prefetch(&ahead[0].1);
                }
            }
            if let Some(&[(_, ahead, ..), ..]) = runs.get(at + FETCH_PARTS_AHEAD) {
                if let Some(state) = self.users.get(ahead) {
                    state.prefetch_parts();
                }
            }
            if let Some(&[(_, ahead, ..), ..]) = runs.get(at + FETCH_VALUES_AHEAD) {
                if let Some(state) = self.users.get(ahead) {
                    state.prefetch_values();
                }
            }
            self.apply_run(user, time, run, changes);
        }
        for (time, users) in folded {
            self.apply_folded(users, time, changes);
        }
    }

    /// Applies the listed contributions of `user` at `time` one by one.
    ///
    /// Two to the same row record its first and second change at the same time, which
    /// add up to the one change (the middle value is retracted as soon as it is
    /// inserted).
    fn apply_run(
        &mut self,
        user: UserKey,
        time: u64,
        run: &[(u64, UserKey, Part, Accum)],
        changes: &mut Changes,
    ) {
        let shape = &self.shape;
        let state = self.users.entry_or_default(user);
        let mut change = Change::new(user, time, shape, changes);
        for (_, _, part, diff) in run {
            match part {
                Part::Linear(slot) => change.linear(state, *slot, diff),
                Part::Events => change.events(state, diff.count as isize),
                Part::Extreme(_, value) | Part::Distinct(_, value) => {
                    let index = shape.values_index(part);
                    let count = diff.count as isize;
                    change.values(state, index, |v| v.add(value.clone(), count));
                }
            }
        }
        state.tidy();
        if state.is_empty() {
            self.users.remove(&user);
        }
    }

    /// Applies contributions of `time` folded per user.
    fn apply_folded(
        &mut self,
        folded: FxHashMap<UserKey, UserState>,
        time: u64,
        changes: &mut Changes,
    ) {
        let shape = &self.shape;
        for (user, delta) in folded {
            let state = self.users.entry_or_default(user);
            let mut change = Change::new(user, time, shape, changes);
            for (slot, diff) in delta.parts {
                match (slot, diff) {
                    (Slot::Linear(slot), PartState::Linear(diff)) => {
                        change.linear(state, slot, &diff)
                    }
                    (Slot::Values(index), PartState::Values(diff)) => {
                        change.values(state, index, |v| v.merge(diff))
                    }
                    _ => unreachable!("a slot holds its family's state"),
                }
            }
            change.events(state, delta.events);
            state.tidy();
            if state.is_empty() {
                self.users.remove(&user);
            }
        }
    }
}

/// Changes to one user's state at one time, recorded as row updates.
struct Change<'a> {
    user: UserKey,
    time: u64,
    shape: &'a Shape,
    changes: &'a mut Changes,
}

impl<'a> Change<'a> {
    fn new(user: UserKey, time: u64, shape: &'a Shape, changes: &'a mut Changes) -> Self {
        Change {
            user,
            time,
            shape,
            changes,
        }
    }

    fn linear(&mut self, state: &mut UserState, slot: u32, diff: &Accum) {
        if diff.is_zero() {
            return;
        }
        let total = state.linear(slot);
        let before = (!total.is_zero()).then(|| total.clone());
        total.plus_equals(diff);
        let after = (!total.is_zero()).then(|| total.clone());
        let read = |total: &Accum, projection| total.project(projection);
        self.row(LINEAR, slot, before, after, read);
    }

    fn values(&mut self, state: &mut UserState, index: u32, change: impl FnOnce(&mut Values)) {
        let values = state.values(index);
        let extremes = self.shape.maxima.len() as u32;
        if index < extremes {
            let greatest = self.shape.maxima[index as usize];
            let before = values.extreme(greatest).cloned();
            change(values);
            let after = values.extreme(greatest).cloned();
            let read = |value: &Value, _| Some(value.clone());
            self.row(EXTREME, index, before, after, read);
        } else {
            let count =
                |values: &Values| (values.present() > 0).then_some(values.present() as isize);
            let before = count(values);
            change(values);
            let after = count(values);
            let read = |count: &isize, _| Some(Value::Number(Decimal::from(*count as i64)));
            self.row(DISTINCT, index - extremes, before, after, read);
        }
    }

    /// Records the change of `slot`'s row from `before` to `after` (`None`: no row):
    /// the change of the facts it gives (none when it flips no atom), and the rows
    /// themselves where they are wanted. `family` picks the family's slots and rows,
    /// and `read` reads a row as an operand's projection.
    fn row<V: PartialEq>(
        &mut self,
        family: FamilyOutput<V>,
        slot: u32,
        before: Option<V>,
        after: Option<V>,
        read: impl Fn(&V, Projection) -> Option<Value>,
    ) {
        if before == after {
            return;
        }
        let (slots_of, rows_of) = family;
        let slots = slots_of(self.shape);
        let source = slots.sources[slot as usize];
        let readers = &self.shape.readers;
        let facts = |row: Option<&V>| match row {
            Some(row) => readers.facts(source, |projection| read(row, projection)),
            None => Vec::new(),
        };
        let (old, new) = (facts(before.as_ref()), facts(after.as_ref()));
        if old != new {
            let (user, time) = (self.user, self.time);
            let out = &mut self.changes.facts;
            out.extend(old.into_iter().map(|fact| ((user, fact), time, -1)));
            out.extend(new.into_iter().map(|fact| ((user, fact), time, 1)));
        }
        if slots.rows[slot as usize] {
            let rows = rows_of(self.changes);
            let key = (slot, self.user);
            rows.extend(before.map(|old| ((key, old), self.time, -1)));
            rows.extend(after.map(|new| ((key, new), self.time, 1)));
        }
    }

    fn events(&mut self, state: &mut UserState, diff: isize) {
        let before = state.events > 0;
        state.events += diff;
        let after = state.events > 0;
        if before != after {
            let diff = if after { 1 } else { -1 };
            self.changes.known.push((self.user, self.time, diff));
        }
    }
}

/// How [`Change::row`] finds a family's slots and its rows of values `V`.
type FamilyOutput<V> = (
    fn(&Shape) -> &Slots,
    fn(&mut Changes) -> &mut Vec<((SlotKey, V), u64, isize)>,
);

const LINEAR: FamilyOutput<Accum> = (|shape| &shape.linear, |changes| &mut changes.linear);
const EXTREME: FamilyOutput<Value> = (|shape| &shape.extreme, |changes| &mut changes.extreme);
const DISTINCT: FamilyOutput<isize> = (|shape| &shape.distinct, |changes| &mut changes.distinct);

/// The selections of a family that `event` counts for, with their slots.
fn admitted<'a>(
    event: &'a Event,
    selections: &'a [EventSelection],
) -> impl Iterator<Item = (u32, &'a EventSelection)> + 'a {
    selections
        .iter()
        .enumerate()
        .filter(|(_, selection)| admits(event, selection))
        .map(|(slot, selection)| (slot as u32, selection))
}

/// Whether an event counts for a selection: it matches the `where` clause and has the
/// aggregated field.
fn admits(event: &Event, selection: &EventSelection) -> bool {
    selection.filter.as_ref().is_none_or(|f| event.matches(f))
        && selection.field.is_none_or(|f| !event.field(f).is_null())
}

/// The field a min, max or count_distinct selection reads (present: `admits` checked).
fn field_value(event: &Event, selection: &EventSelection) -> Value {
    let field = selection
        .field
        .expect("min, max and count_distinct read a field");
    event.field(field).into_owned()
}

/// When an event counts for a selection: from its time on, until its window closes.
fn validity(ts: u64, selection: &EventSelection) -> Interval {
    match selection.within {
        Some(length) => window(ts, length),
        None => Interval {
            start: ts,
            end: None,
        },
    }
}
