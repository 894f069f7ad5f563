//! The event sources' operator: every event slot of a plan, maintained per user by one
//! operator.
//!
//! The events go to their user's worker, and each is looked at once: it contributes
//! to every slot whose selection it matches, restricted to the slot's window (so an
//! event inside `within 30d` also retracts itself thirty days on), and marks its user
//! as known ([`contribution`]). Contributions wait, listed or folded per user, until
//! the input frontier has passed their time ([`pending`]); then the operator applies
//! them to each user's state — totals or a multiset of values per slot, as the plan's
//! families say — and emits at that time the change of the facts the evaluation reads
//! from each changed slot (nothing when no atom flips), the rows a temporal filter
//! reads, and the users who became known or unknown ([`state`]).
//!
//! Why one operator? The same work as a chain of differential operators (a fan-out,
//! holds for window retractions, combiners, totals per key, an arrangement of every
//! extreme value and its reader, distinct counts) is a dozen operators, and a live
//! run schedules every operator in every round whether data reaches it or not
//! (docs/BENCHMARKS.md, "One operator for the event sources", has the measurements).
//! Time is a `u64` here and each state is read by this operator alone, so hash maps
//! do what arrangements would, without batches to build and merge.
//!
//! Retractions for later times (a window closing) wait in buckets of a minute of
//! event time ([`HeldBuckets`]) until the frontier reaches their bucket, so that a
//! round folds the contributions of its own time, not those of every open window.

mod contribution;
mod pending;
mod state;
#[cfg(test)]
mod tests;

use differential_dataflow::hashable::Hashable;
use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use crate::plan::{Plan, Read};
use crate::value::Value;

use super::capabilities::HeldCapabilities;
use super::facts::{Facts, Readers};
use super::hold::{HeldBuckets, Keeping};
use super::records::{Event, UserKey};
use super::timing::Timing;

use contribution::contributions;
use pending::{PendingContributions, FOLD_AT};
use state::{Emitted, Layout, State};

/// What the event sources' operator emits.
pub struct EventOutputs<'scope> {
    /// The facts that every slot's changes give.
    pub facts: Facts<'scope>,
    /// `((operand, user), value)` for the operands the plan wants as rows.
    pub rows: VecCollection<'scope, u64, ((u32, UserKey), Value)>,
    /// Every user with a visible event.
    pub known: VecCollection<'scope, u64, UserKey>,
}

/// Maintains the plan's event slots over `events`.
pub fn event_sources<'scope>(
    events: VecCollection<'scope, u64, (UserKey, Event)>,
    plan: &Plan,
    timing: Timing,
) -> EventOutputs<'scope> {
    event_sources_folding_at(events, plan, timing, FOLD_AT)
}

/// [`event_sources`], folding a time's contributions per user once it has more than
/// `fold_at` listed.
fn event_sources_folding_at<'scope>(
    events: VecCollection<'scope, u64, (UserKey, Event)>,
    plan: &Plan,
    timing: Timing,
    fold_at: usize,
) -> EventOutputs<'scope> {
    let layout = layout(plan);
    let scope = events.inner.scope();
    let mut builder = OperatorBuilder::new("EventSources".to_owned(), scope);
    let operator = builder.global();
    let by_user = Exchange::new(|((user, _), _, _): &((UserKey, Event), u64, isize)| user.hashed());
    let mut input = builder.new_input(events.inner, by_user);
    let (mut facts_out, facts) = builder.new_output();
    let (mut rows_out, rows) = builder.new_output();
    let (mut known_out, known) = builder.new_output();
    builder.build(move |_initial| {
        // A held contribution is one event's window end: two meet only for a user's
        // events of the same second, and released ones are folded per user anyway.
        let held = HeldBuckets::new(&scope, timing, operator, Keeping::AsTheyCame);
        let mut pending = PendingContributions::new(held, &layout.slots, timing, fold_at);
        let mut state = State::new();
        let mut parts = Vec::new();
        let mut capabilities = HeldCapabilities::new(3);
        move |frontiers| {
            input.for_each(|capability, updates| {
                capabilities.retain(&capability);
                let now = *capability.least().expect("an input capability has a time");
                for ((user, event), time, diff) in updates.drain(..) {
                    contributions(&layout.slots, timing, &event, time, diff, &mut parts);
                    pending.add(user, &mut parts, now);
                }
            });
            let ready = pending.ready(frontiers[0].frontier());
            if let Some(earliest) = ready.earliest() {
                let mut out = Emitted::default();
                state.apply(&layout, &ready.listed, ready.folded, &mut out);
                // One container per output at the earliest time: each update carries
                // its own time, and a live batch has a time per record.
                if !out.facts.is_empty() {
                    let at = capabilities.at(0, &earliest);
                    facts_out.activate().give(&at, &mut out.facts);
                }
                if !out.rows.is_empty() {
                    let at = capabilities.at(1, &earliest);
                    rows_out.activate().give(&at, &mut out.rows);
                }
                if !out.known.is_empty() {
                    let at = capabilities.at(2, &earliest);
                    known_out.activate().give(&at, &mut out.known);
                }
            }
            capabilities.hold_from(pending.earliest());
            pending.held.report();
        }
    });
    EventOutputs {
        facts: facts.as_collection(),
        rows: rows.as_collection(),
        known: known.as_collection(),
    }
}

/// What the operator reads from each slot: the physical plan's slots, the aggregate of
/// each operand wanted as rows, and the readers of the slots' sources.
fn layout(plan: &Plan) -> Layout {
    let slots = plan.physical.slots.clone();
    let rows = (slots.iter())
        .map(|slot| {
            let read = |&operand: &usize| match plan.operands[operand].read {
                Read::Aggregate(func) => Some((operand as u32, func)),
                Read::Value => None,
            };
            slot.rows.iter().filter_map(read).collect()
        })
        .collect();
    Layout {
        slots,
        rows,
        readers: Readers::new(plan),
    }
}
