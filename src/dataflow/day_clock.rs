//! The day clock: `days_since(x)` as rows that change at each day boundary after `x`.
//!
//! A user's value `floor((now - x) / DAY)` changes with no input at all, at every
//! `x + k × DAY`: the operator keeps each user's time and, as the input frontier passes
//! a boundary, retracts the user's count and inserts the next one *at* the boundary. A
//! row's own update gives its count at the row's time.
//!
//! Boundaries fall on whole seconds, and a row's on the seconds congruent to its `x`
//! modulo a day, so the rows are kept by that *phase*: the next boundary of all of
//! them is one ordered lookup, and passing a boundary touches only the rows of its
//! phase (about one in 86 400). The operator holds a capability at the earliest time
//! it may still emit at (the next boundary of its rows, or a row not yet admitted), so
//! frontiers downstream wait for it exactly until it has spoken.
//!
//! A batch run observes one time (`Timing::horizon`): its rows arrive at that time and
//! no boundary after it is ever produced.

use std::collections::BTreeMap;

use differential_dataflow::AsCollection;
use rustc_hash::FxHashMap;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;

use crate::arith::whole_days;
use crate::value::Value;

use super::input_sources::OperandRows;
use super::records::UserKey;
use super::timing::Timing;

/// Each user's whole days since the time in their row of `times`, at every logical
/// time; `day` is the length of a day in seconds ([`crate::arith::DAY`] but in tests).
pub fn day_clock<'scope>(
    times: OperandRows<'scope>,
    timing: Timing,
    day: i64,
) -> OperandRows<'scope> {
    times
        .inner
        .unary_frontier(Pipeline, "DayClock", move |_capability, _info| {
            let mut clock = Clock::new(timing, day);
            // A capability at the earliest time the clock may still emit at.
            let mut capability: Option<Capability<u64>> = None;
            move |(input, frontier), output| {
                input.for_each(|received, rows| {
                    let now = *received.least().expect("an input capability has a time");
                    let mut counts = Vec::with_capacity(rows.len());
                    for ((user, value), time, diff) in rows.drain(..) {
                        if let Value::Time(x) = value {
                            counts.push(((user, clock.count(x, clock.second(time))), time, diff));
                            clock.receive(time, user, x, diff);
                        }
                    }
                    if capability.as_ref().is_none_or(|c| *c.time() > now) {
                        capability = Some(received.delayed(&now, 0));
                    }
                    if !counts.is_empty() {
                        output.session(&received).give_container(&mut counts);
                    }
                });
                let mut passed = clock.advance(frontier.frontier().first().copied());
                if !passed.is_empty() {
                    let capability = capability
                        .as_ref()
                        .expect("a clock with rows holds a capability");
                    output.session(capability).give_container(&mut passed);
                }
                match clock.next() {
                    Some(next) => {
                        if let Some(capability) = capability.as_mut() {
                            if *capability.time() < next {
                                capability.downgrade(&next);
                            }
                        }
                    }
                    None => capability = None,
                }
            }
        })
        .as_collection()
}

/// Rows of times and the boundaries they have passed: the operator's state.
struct Clock {
    timing: Timing,
    /// Seconds in a day.
    day: i64,
    /// Rows admitted (their time is before `done`), consolidated, by phase: the second
    /// of the day their boundaries fall on.
    rows: BTreeMap<i64, FxHashMap<(UserKey, i64), isize>>,
    /// Rows received and not yet admitted, as `(time, user, x, diff)`.
    pending: Vec<(u64, UserKey, i64, isize)>,
    /// Every boundary before this logical time has been passed on.
    done: u64,
}

impl Clock {
    fn new(timing: Timing, day: i64) -> Clock {
        Clock {
            timing,
            day,
            rows: BTreeMap::new(),
            pending: Vec::new(),
            done: 0,
        }
    }

    /// The second of event time that logical time `time` falls in.
    fn second(&self, time: u64) -> i64 {
        (time / self.timing.ticks_per_second) as i64
    }

    /// The whole days from `x` to `second`.
    fn count(&self, x: i64, second: i64) -> Value {
        whole_days(x, second, self.day)
    }

    fn receive(&mut self, time: u64, user: UserKey, x: i64, diff: isize) {
        self.pending.push((time, user, x, diff));
    }

    /// The transitions at every boundary before `frontier` that the run observes, in
    /// time order, with the rows received before each boundary admitted first. An
    /// input that has closed (`None`) will see no later time.
    fn advance(&mut self, frontier: Option<u64>) -> Vec<((UserKey, Value), u64, isize)> {
        let mut passed = Vec::new();
        let Some(frontier) = frontier else {
            self.rows.clear();
            self.pending.clear();
            return passed;
        };
        // Nothing after the horizon is observed.
        let end = match self.timing.horizon {
            Some(horizon) => frontier.min(horizon.saturating_add(1)),
            None => frontier,
        };
        self.pending.sort_unstable_by_key(|(time, ..)| *time);
        let mut admitted = 0;
        loop {
            let boundary = self.boundary_from(self.done).filter(|b| *b < end);
            let row = self.pending.get(admitted).filter(|(time, ..)| *time < end);
            match (row, boundary) {
                // A row before the next boundary is in place before it passes.
                (Some(&(time, user, x, diff)), b) if b.is_none_or(|b| time < b) => {
                    let phase = x.rem_euclid(self.day);
                    let count = self
                        .rows
                        .entry(phase)
                        .or_default()
                        .entry((user, x))
                        .or_insert(0);
                    *count += diff;
                    if *count == 0 {
                        self.rows
                            .get_mut(&phase)
                            .map(|phase| phase.remove(&(user, x)));
                    }
                    if self.rows.get(&phase).is_some_and(|p| p.is_empty()) {
                        self.rows.remove(&phase);
                    }
                    self.done = self.done.max(time + 1);
                    admitted += 1;
                }
                (_, Some(b)) => {
                    self.pass(b, &mut passed);
                    self.done = b + 1;
                }
                (_, None) => break,
            }
        }
        self.pending.drain(..admitted);
        passed
    }

    /// The count changes of the rows whose boundary is logical time `boundary`.
    fn pass(&self, boundary: u64, passed: &mut Vec<((UserKey, Value), u64, isize)>) {
        let second = self.second(boundary);
        let Some(rows) = self.rows.get(&second.rem_euclid(self.day)) else {
            return;
        };
        for (&(user, x), &diff) in rows {
            passed.push(((user, self.count(x, second - 1)), boundary, -diff));
            passed.push(((user, self.count(x, second)), boundary, diff));
        }
    }

    /// The earliest boundary of an admitted row at or after logical time `from`.
    fn boundary_from(&self, from: u64) -> Option<u64> {
        let ticks = self.timing.ticks_per_second;
        let second = from.div_ceil(ticks) as i64;
        let phase = second.rem_euclid(self.day);
        let ahead = match self.rows.range(phase..).next() {
            Some((next, _)) => next - phase,
            None => self.rows.keys().next()? + self.day - phase,
        };
        Some((second + ahead) as u64 * ticks)
    }

    /// The earliest time the clock may still emit at: the next boundary of its rows,
    /// or a row not yet admitted (whose boundaries come after it).
    fn next(&self) -> Option<u64> {
        let pending = self.pending.iter().map(|(time, ..)| *time).min();
        let boundary = self.boundary_from(self.done);
        match (pending, boundary) {
            (Some(p), Some(b)) => Some(p.min(b)),
            (p, b) => p.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::super::rounds::{outputs_after_rounds, Rounds};
    use super::*;

    /// A day of three seconds, so that rounds (one second each) pass many boundaries.
    const SHORT_DAY: i64 = 3;

    /// Rounds in which users' times are set and unset, some updates fed ahead of
    /// their time; one row per user at any time.
    fn rounds() -> impl Strategy<Value = Rounds<(UserKey, Value)>> {
        let change = (0..4u64, 0..12i64, any::<bool>(), 0..3u8);
        prop::collection::vec(prop::collection::vec(change, 0..4), 1..16).prop_map(|rounds| {
            // Each user's row, and the time of the user's last change.
            let mut current: BTreeMap<u64, i64> = BTreeMap::new();
            let mut last: BTreeMap<u64, u64> = BTreeMap::new();
            let mut out = Vec::new();
            for (round, changes) in rounds.into_iter().enumerate() {
                let mut updates = Vec::new();
                for (user, x, set, delay) in changes {
                    let at = round as u64 + u64::from(delay);
                    let key: UserKey = user;
                    // Only changes no earlier than the user's last one keep one row each.
                    if last.get(&user).is_some_and(|last| *last > at) {
                        continue;
                    }
                    last.insert(user, at);
                    if let Some(old) = current.remove(&user) {
                        updates.push(((key, Value::Time(old)), delay, -1));
                    }
                    if set {
                        updates.push(((key, Value::Time(x)), delay, 1));
                        current.insert(user, x);
                    }
                }
                out.push(updates);
            }
            out
        })
    }

    proptest! {
        #[test]
        fn counts_equal_a_from_scratch_count_after_every_round(rounds in rounds()) {
            // The rows in effect at each round's time, from scratch.
            let mut expected = Vec::new();
            for round in 0..rounds.len() as u64 {
                let mut rows: BTreeMap<(UserKey, Value), isize> = BTreeMap::new();
                for (r, updates) in rounds.iter().enumerate() {
                    for ((user, x), delay, diff) in updates {
                        if r as u64 + u64::from(*delay) <= round {
                            *rows.entry((*user, x.clone())).or_insert(0) += diff;
                        }
                    }
                }
                let mut counts: Vec<(UserKey, Value)> = rows
                    .into_iter()
                    .filter(|(_, diff)| *diff != 0)
                    .map(|((user, x), _)| (user, days(&x, round as i64)))
                    .collect();
                counts.sort();
                expected.push(counts);
            }
            let outputs = outputs_after_rounds(rounds, |times| {
                day_clock(times, Timing::open(1), SHORT_DAY)
            });
            prop_assert_eq!(outputs, expected);
        }
    }

    fn days(x: &Value, now: i64) -> Value {
        let Value::Time(x) = x else { unreachable!() };
        Value::Number(Decimal::from((now - x).div_euclid(SHORT_DAY)))
    }
}
