//! Every event source of a plan, maintained per user by one operator.
//!
//! The events go to their user's worker, and each is looked at once: it contributes
//! to every selection it matches (restricted to the selection's window, so an event
//! inside `within 30d` also retracts itself thirty days on) and marks its user as
//! known. Contributions are folded per time and key as they arrive; once the input
//! frontier has passed a time, the operator applies that time's contributions to each
//! user's state — a `(count, sum)` per linear selection, the multiset of values per
//! extreme or distinct selection, the number of events — and emits each row whose
//! value changed, at that time.
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

use differential_dataflow::difference::{IsZero, Multiply, Semigroup};
use differential_dataflow::hashable::Hashable;
use differential_dataflow::{AsCollection, VecCollection};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::CapabilitySet;
use timely::progress::frontier::AntichainRef;

use crate::plan::{EventSelection, Interval};
use crate::value::Value;

use super::accum::Accum;
use super::hold::HeldBuckets;
use super::records::{Event, UserKey};
use super::temporal::{restrict, window};
use super::timing::Timing;
use super::values::Values;

/// The selections of each event-source family, in slot order.
pub struct Selections {
    pub linear: Vec<EventSelection>,
    pub extreme: Vec<EventSelection>,
    /// Whether each extreme selection is a `max` (else a `min`).
    pub maxima: Vec<bool>,
    pub distinct: Vec<EventSelection>,
}

/// A selection's slot within its family, and the user.
type SlotKey = (u32, UserKey);

/// Rows of `(key, value)`, one per key at most.
type Rows<'scope, K, V> = VecCollection<'scope, u64, (K, V)>;

/// Every event source's rows, by family; `u32` is the selection's slot.
pub struct Features<'scope> {
    /// The count and sum of each linear selection's events, per user.
    pub linear: Rows<'scope, SlotKey, Accum>,
    /// Each extreme selection's value, per user.
    pub extreme: Rows<'scope, SlotKey, Value>,
    /// Each distinct selection's number of distinct values, per user.
    pub distinct: Rows<'scope, SlotKey, isize>,
    /// Every user with a visible event.
    pub known: VecCollection<'scope, u64, UserKey>,
}

/// What one event contributes to one key: the difference is an [`Accum`], whose
/// count alone is used by the value families and by [`Keyed::Events`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Keyed {
    Linear(SlotKey),
    Extreme(SlotKey, Value),
    Distinct(SlotKey, Value),
    /// The user has an event (counted whatever the selections).
    Events(UserKey),
}

/// Maintains every selection of `selections` over `events`.
pub fn event_features<'scope>(
    events: VecCollection<'scope, u64, (UserKey, Event)>,
    selections: Selections,
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
    builder.build(move |_initial| {
        let held = HeldBuckets::new(&scope, timing, operator);
        let mut pending = Pending::new(held, selections.maxima.clone(), timing);
        let mut state = State::default();
        // One capability set per output, covering every pending time.
        let mut capabilities: [CapabilitySet<u64>; 4] = Default::default();
        move |frontiers| {
            input.for_each(|capability, updates| {
                for (port, held) in capabilities.iter_mut().enumerate() {
                    for retained in capability.retain_stamp(port).iter() {
                        held.insert(retained.clone());
                    }
                }
                let now = *capability.least().expect("an input capability has a time");
                for ((user, event), time, diff) in updates.drain(..) {
                    contributions(&selections, timing, user, &event, time, diff, |update| {
                        pending.add(update, now)
                    });
                }
            });
            let ready = pending.ready(frontiers[0].frontier());
            if let Some(&(earliest, _)) = ready.first() {
                let mut changes = Changes::default();
                for (time, delta) in ready {
                    state.apply(delta, time, &selections.maxima, &mut changes);
                }
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
            }
            // Hold capabilities only for what is still pending: an idle operator holds
            // none, and adds nothing to a round's progress tracking.
            for held in capabilities.iter_mut() {
                match pending.earliest() {
                    Some(earliest) => held.downgrade([earliest]),
                    None => *held = CapabilitySet::new(),
                }
            }
            pending.held.report();
        }
    });
    Features {
        linear: linear.as_collection(),
        extreme: extreme.as_collection(),
        distinct: distinct.as_collection(),
        known: known.as_collection(),
    }
}

/// Each contribution of one event update, as `(key, time, difference)`.
fn contributions(
    selections: &Selections,
    timing: Timing,
    user: UserKey,
    event: &Event,
    time: u64,
    diff: isize,
    mut emit: impl FnMut((Keyed, u64, Accum)),
) {
    let count = |diff: isize| Accum {
        count: diff as i64,
        sum: Decimal::ZERO,
    };
    emit((Keyed::Events(user), time, count(diff)));
    // The updates that restrict a contribution to the selection's window.
    let restricted = |selection: &EventSelection| {
        let interval = validity(event.ts, selection).in_ticks(timing.ticks_per_second);
        restrict(time, interval)
            .filter(|(at, _)| timing.observes(*at))
            .map(move |(at, insert)| (at, if insert { diff } else { -diff }))
    };
    for (slot, selection) in admitted(event, &selections.linear) {
        let amount = match selection.field.map(|f| event.field(f)) {
            Some(value) => match value.as_ref() {
                Value::Number(n) => *n,
                _ => Decimal::ZERO,
            },
            None => Decimal::ZERO,
        };
        for (at, diff) in restricted(selection) {
            let accum = Accum::one(amount).multiply(&diff);
            emit((Keyed::Linear((slot, user)), at, accum));
        }
    }
    for (slot, selection) in admitted(event, &selections.extreme) {
        let value = field_value(event, selection);
        for (at, diff) in restricted(selection) {
            emit((Keyed::Extreme((slot, user), value.clone()), at, count(diff)));
        }
    }
    for (slot, selection) in admitted(event, &selections.distinct) {
        let value = field_value(event, selection);
        for (at, diff) in restricted(selection) {
            emit((
                Keyed::Distinct((slot, user), value.clone()),
                at,
                count(diff),
            ));
        }
    }
}

/// Contributions whose time the frontier has not passed yet.
struct Pending {
    /// Per time in the current bucket of time (or an earlier one), folded by key.
    due: BTreeMap<u64, Delta>,
    /// Contributions for later buckets, as they came.
    held: HeldBuckets<Keyed, Accum>,
    /// Whether each extreme selection is a `max`.
    maxima: Vec<bool>,
    timing: Timing,
}

impl Pending {
    fn new(held: HeldBuckets<Keyed, Accum>, maxima: Vec<bool>, timing: Timing) -> Self {
        Pending {
            due: BTreeMap::new(),
            held,
            maxima,
            timing,
        }
    }

    /// Adds a contribution that arrived with a capability for time `now`.
    fn add(&mut self, update: (Keyed, u64, Accum), now: u64) {
        if let Some(update) = self.held.hold(update, now) {
            self.fold(update);
        }
    }

    /// Folds a contribution into its time's delta.
    fn fold(&mut self, (keyed, time, diff): (Keyed, u64, Accum)) {
        // A batch run's single time only ever inserts (see `Timing::horizon`): a
        // `min`/`max` then needs each user's extreme alone, not every value.
        let maxima = (self.timing.horizon == Some(time)).then_some(&self.maxima[..]);
        self.due.entry(time).or_default().add(keyed, diff, maxima);
    }

    /// Takes out the contributions of every time that `frontier` has passed, in time
    /// order.
    fn ready(&mut self, frontier: AntichainRef<u64>) -> Vec<(u64, Delta)> {
        for updates in self.held.release(frontier) {
            updates.into_iter().for_each(|update| self.fold(update));
        }
        let mut ready = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if frontier.less_equal(entry.key()) {
                break;
            }
            ready.push(entry.remove_entry());
        }
        ready
    }

    /// The earliest time of a pending contribution (or the start of its bucket).
    fn earliest(&self) -> Option<u64> {
        let due = self.due.first_key_value().map(|(time, _)| *time);
        due.into_iter().chain(self.held.earliest()).min()
    }
}

/// The contributions of one time.
///
/// A live round has a time per record, and so a few contributions per time; a
/// backfill has millions at one time, most of them to keys it has already seen. A
/// delta keeps its first contributions as they came and folds them per key once
/// there are [`FOLD_AT`].
#[derive(Default)]
struct Delta {
    few: Vec<(Keyed, Accum)>,
    folded: Folded,
}

/// Contributions a delta keeps unfolded.
const FOLD_AT: usize = 64;

impl Delta {
    /// Adds one contribution; with `maxima`, extreme values keep only the extreme.
    fn add(&mut self, keyed: Keyed, diff: Accum, maxima: Option<&[bool]>) {
        if self.few.len() < FOLD_AT && self.folded.is_empty() {
            self.few.push((keyed, diff));
            return;
        }
        for (keyed, diff) in self.few.drain(..) {
            self.folded.add(keyed, diff, maxima);
        }
        self.folded.add(keyed, diff, maxima);
    }
}

/// Contributions folded per key.
#[derive(Default)]
struct Folded {
    linear: FxHashMap<SlotKey, Accum>,
    extreme: FxHashMap<SlotKey, Values>,
    distinct: FxHashMap<SlotKey, Values>,
    events: FxHashMap<UserKey, isize>,
}

impl Folded {
    fn is_empty(&self) -> bool {
        self.linear.is_empty()
            && self.extreme.is_empty()
            && self.distinct.is_empty()
            && self.events.is_empty()
    }

    fn add(&mut self, keyed: Keyed, diff: Accum, maxima: Option<&[bool]>) {
        match keyed {
            Keyed::Linear(key) => self.linear.entry(key).or_default().plus_equals(&diff),
            Keyed::Extreme(key, value) => {
                let values = self.extreme.entry(key).or_default();
                match maxima {
                    Some(maxima) => {
                        values.keep_extreme(value, diff.count as isize, maxima[key.0 as usize])
                    }
                    None => values.add(value, diff.count as isize),
                }
            }
            Keyed::Distinct(key, value) => {
                let values = self.distinct.entry(key).or_default();
                values.add(value, diff.count as isize);
            }
            Keyed::Events(user) => *self.events.entry(user).or_default() += diff.count as isize,
        }
    }
}

/// The state of every key on this worker: what the rows are computed from.
#[derive(Default)]
struct State {
    linear: FxHashMap<SlotKey, Accum>,
    extreme: FxHashMap<SlotKey, Values>,
    distinct: FxHashMap<SlotKey, Values>,
    /// Each user's number of visible events.
    events: FxHashMap<UserKey, isize>,
}

/// The rows that changed, as updates.
#[derive(Default)]
struct Changes {
    linear: Vec<((SlotKey, Accum), u64, isize)>,
    extreme: Vec<((SlotKey, Value), u64, isize)>,
    distinct: Vec<((SlotKey, isize), u64, isize)>,
    known: Vec<(UserKey, u64, isize)>,
}

impl State {
    /// Applies the contributions of `time` and records every row that changed.
    ///
    /// Unfolded contributions are applied one by one: two to the same key record the
    /// row's first and second change at the same time, which add up to the one change
    /// (the middle value is retracted as soon as it is inserted).
    fn apply(&mut self, delta: Delta, time: u64, maxima: &[bool], changes: &mut Changes) {
        for (keyed, diff) in delta.few {
            match keyed {
                Keyed::Linear(key) => self.add_linear(key, diff, time, changes),
                Keyed::Extreme(key, value) => {
                    let count = diff.count as isize;
                    self.change_extreme(key, |v| v.add(value, count), maxima, time, changes)
                }
                Keyed::Distinct(key, value) => {
                    let count = diff.count as isize;
                    self.change_distinct(key, |v| v.add(value, count), time, changes)
                }
                Keyed::Events(user) => self.add_events(user, diff.count as isize, time, changes),
            }
        }
        let folded = delta.folded;
        for (key, diff) in folded.linear {
            self.add_linear(key, diff, time, changes);
        }
        for (key, diff) in folded.extreme {
            self.change_extreme(key, |v| v.merge(diff), maxima, time, changes);
        }
        for (key, diff) in folded.distinct {
            self.change_distinct(key, |v| v.merge(diff), time, changes);
        }
        for (user, diff) in folded.events {
            self.add_events(user, diff, time, changes);
        }
    }

    fn add_linear(&mut self, key: SlotKey, diff: Accum, time: u64, changes: &mut Changes) {
        let total = self.linear.entry(key).or_default();
        let before = (!total.is_zero()).then(|| total.clone());
        total.plus_equals(&diff);
        let after = (!total.is_zero()).then(|| total.clone());
        if after.is_none() {
            self.linear.remove(&key);
        }
        changed(&mut changes.linear, key, before, after, time);
    }

    fn change_extreme(
        &mut self,
        key: SlotKey,
        change: impl FnOnce(&mut Values),
        maxima: &[bool],
        time: u64,
        changes: &mut Changes,
    ) {
        let greatest = maxima[key.0 as usize];
        let read = |values: &Values| values.extreme(greatest).cloned();
        let (before, after) = change_values(&mut self.extreme, key, change, read);
        changed(&mut changes.extreme, key, before, after, time);
    }

    fn change_distinct(
        &mut self,
        key: SlotKey,
        change: impl FnOnce(&mut Values),
        time: u64,
        changes: &mut Changes,
    ) {
        let read = |values: &Values| (values.present() > 0).then_some(values.present() as isize);
        let (before, after) = change_values(&mut self.distinct, key, change, read);
        changed(&mut changes.distinct, key, before, after, time);
    }

    fn add_events(&mut self, user: UserKey, diff: isize, time: u64, changes: &mut Changes) {
        let count = self.events.entry(user).or_default();
        let before = *count > 0;
        *count += diff;
        let after = *count > 0;
        if *count == 0 {
            self.events.remove(&user);
        }
        if before != after {
            changes.known.push((user, time, if after { 1 } else { -1 }));
        }
    }
}

/// Changes `key`'s values in `state`, and returns `read` of them before and after.
fn change_values<V>(
    state: &mut FxHashMap<SlotKey, Values>,
    key: SlotKey,
    change: impl FnOnce(&mut Values),
    read: impl Fn(&Values) -> Option<V>,
) -> (Option<V>, Option<V>) {
    let values = state.entry(key).or_default();
    let before = read(values);
    change(values);
    let after = read(values);
    if values.is_empty() {
        state.remove(&key);
    }
    (before, after)
}

/// Records the change of `key`'s row from `before` to `after`, if it changed.
fn changed<V: PartialEq>(
    out: &mut Vec<((SlotKey, V), u64, isize)>,
    key: SlotKey,
    before: Option<V>,
    after: Option<V>,
    time: u64,
) {
    if before != after {
        if let Some(old) = before {
            out.push(((key, old), time, -1));
        }
        if let Some(new) = after {
            out.push(((key, new), time, 1));
        }
    }
}

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
