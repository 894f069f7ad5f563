//! Contributions waiting for the frontier to pass their time.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use timely::progress::frontier::AntichainRef;

use crate::plan::{EventSlot, Keep};

use super::super::accum::Accum;
use super::super::hold::HeldBuckets;
use super::super::records::UserKey;
use super::super::timing::Timing;
use super::contribution::Part;
use super::state::{Listed, UserState};

/// Contributions whose time the frontier has not passed yet.
///
/// A live round has a time per record, and so a few contributions per time; a
/// backfill has millions at one time, most of them to users it has already seen. The
/// first are listed as they came, with their times, in one vector (records arrive in
/// time order, so it is usually sorted already); a time whose contributions keep
/// coming is folded per user once it has more than `fold_at` in a row ([`FOLD_AT`] in
/// the operator; the tests also fold everything and nothing).
pub struct PendingContributions {
    /// Contributions of times with few, with their times, as they came.
    listed: Vec<Listed>,
    /// Where the trailing run of `listed` at one time starts.
    run_start: usize,
    /// The earliest time in `listed`.
    listed_earliest: Option<u64>,
    /// Contributions of times with many, folded per user.
    folded: BTreeMap<u64, FxHashMap<UserKey, UserState>>,
    /// Contributions for later buckets, as they came.
    pub held: HeldBuckets<(UserKey, Part), Accum>,
    timing: Timing,
    /// Contributions a time keeps listed before it is folded.
    fold_at: usize,
    /// What each slot keeps at a batch run's single time.
    keeps: Vec<Keep>,
    /// Reused by [`PendingContributions::add`].
    scratch: Vec<(Part, u64, Accum)>,
}

/// Contributions a time keeps listed: more than one event brings (a live round's time
/// usually has one event), and few enough that the property tests' small backfills
/// take the folded path as well. Both paths give the same rows; the tests pass with
/// every contribution folded and with none (the operator's tests).
pub const FOLD_AT: usize = 16;

/// The contributions of the times that the frontier has passed.
pub struct Ready {
    /// In time order.
    pub listed: Vec<Listed>,
    /// In time order.
    pub folded: Vec<(u64, FxHashMap<UserKey, UserState>)>,
}

impl Ready {
    /// The earliest time of a contribution.
    pub fn earliest(&self) -> Option<u64> {
        let listed = self.listed.first().map(|(time, ..)| *time);
        let folded = self.folded.first().map(|(time, _)| *time);
        listed.into_iter().chain(folded).min()
    }
}

impl PendingContributions {
    /// Nothing pending; a time is folded once it has more than `fold_at`.
    pub fn new(
        held: HeldBuckets<(UserKey, Part), Accum>,
        slots: &[EventSlot],
        timing: Timing,
        fold_at: usize,
    ) -> Self {
        PendingContributions {
            listed: Vec::new(),
            run_start: 0,
            listed_earliest: None,
            folded: BTreeMap::new(),
            held,
            timing,
            fold_at,
            keeps: slots.iter().map(|slot| slot.keep).collect(),
            scratch: Vec::new(),
        }
    }

    /// Adds the contributions of one event of `user`, which arrived with a capability
    /// for time `now`, and empties `parts`.
    pub fn add(&mut self, user: UserKey, parts: &mut Vec<(Part, u64, Accum)>, now: u64) {
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
        let prune = (self.timing.horizon == Some(time)).then_some(&self.keeps[..]);
        if let Some(folded) = self.folded.get_mut(&time) {
            let state = folded.entry(user).or_default();
            parts.for_each(|(part, diff)| state.fold(part, diff, prune));
            return;
        }
        if self.listed.last().is_none_or(|(last, ..)| *last != time) {
            self.run_start = self.listed.len();
        }
        self.listed
            .extend(parts.map(|(part, diff)| (time, user, part, diff)));
        self.listed_earliest = Some(self.listed_earliest.map_or(time, |e| e.min(time)));
        if self.listed.len() - self.run_start > self.fold_at {
            let folded = self.folded.entry(time).or_default();
            for (_, user, part, diff) in self.listed.drain(self.run_start..) {
                folded.entry(user).or_default().fold(part, diff, prune);
            }
            // The listed times left are those before the run.
            self.listed_earliest = self.listed.iter().map(|(time, ..)| *time).min();
        }
    }

    /// Takes out the contributions of every time that `frontier` has passed.
    pub fn ready(&mut self, frontier: AntichainRef<u64>) -> Ready {
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
    pub fn earliest(&self) -> Option<u64> {
        let folded = self.folded.first_key_value().map(|(time, _)| *time);
        let held = self.held.earliest();
        self.listed_earliest
            .into_iter()
            .chain(folded)
            .chain(held)
            .min()
    }
}
