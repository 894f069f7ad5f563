//! `min` and `max` per selection slot and user.
//!
//! Retracting the extreme reveals the next value, so the engine keeps every value. A
//! general `reduce` would re-read a key's values and its output history at every time
//! the key changes; in a live run each record has its own time, and two levels of
//! reduces (per hash bucket of values, then over the buckets) took a third of a
//! worker's time in `segflow bench`'s batch sweep (docs/BENCHMARKS.md). Time is totally
//! ordered here, so, like differential's `count_total`, [`extreme_total`] reads the
//! arrangement directly: values are ranked so that the extreme comes first in a key's
//! sorted values, the extreme before a batch is the first value with a positive count,
//! and the batch's updates are applied time by time on top of it. A change costs a key
//! seek and the few leading values, however many values the user has, and there is no
//! output arrangement to maintain.
//!
//! Batch runs, which retract nothing, first keep only each worker's extremes
//! ([`super::combine::keep_extremes`]).

use std::cmp::Reverse;
use std::collections::BTreeMap;

use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::cursor::cursor_list;
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::trace::{Cursor, TraceReader};
use differential_dataflow::{AsCollection, VecCollection};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::CapabilitySet;
use timely::progress::Antichain;

use crate::value::Value;

use super::combine::keep_extremes;
use super::records::UserKey;
use super::timing::Timing;

/// A `((slot, user), value)` row per value of an extreme selection.
pub type SlotValues<'scope> = VecCollection<'scope, u64, ((u32, UserKey), Value)>;

/// A value ordered so that the extreme its slot looks for sorts first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Ranked {
    Least(Value),
    Greatest(Reverse<Value>),
}

impl Ranked {
    fn new(value: Value, greatest: bool) -> Ranked {
        if greatest {
            Ranked::Greatest(Reverse(value))
        } else {
            Ranked::Least(value)
        }
    }

    fn into_value(self) -> Value {
        match self {
            Ranked::Least(value) | Ranked::Greatest(Reverse(value)) => value,
        }
    }
}

type RankedTrace = TraceAgent<ValSpine<(u32, UserKey), Ranked, u64, isize>>;

/// Each `(slot, user)`'s greatest value where `maxima[slot]`, else its least.
pub fn extremes<'scope>(
    values: SlotValues<'scope>,
    maxima: Vec<bool>,
    timing: Timing,
) -> SlotValues<'scope> {
    let values = match timing.horizon {
        Some(horizon) => {
            let maxima = maxima.clone();
            let greatest = move |(slot, _user): &(u32, UserKey)| maxima[*slot as usize];
            keep_extremes(values, horizon, greatest, "KeepExtremes")
        }
        None => values,
    };
    let ranked = values
        .map(move |((slot, user), value)| {
            let rank = Ranked::new(value, maxima[slot as usize]);
            ((slot, user), rank)
        })
        .arrange_by_key_named("Arrange: MinMax");
    extreme_total(ranked)
}

/// The first value with a positive count of every key, as its updates arrive.
fn extreme_total<'scope>(arranged: Arranged<'scope, RankedTrace>) -> SlotValues<'scope> {
    let mut trace = arranged.trace.clone();
    arranged
        .stream
        .unary_frontier(Pipeline, "MinMax", move |_, _| {
            let mut upper = Antichain::from_elem(0u64);
            move |(input, _frontier), output| {
                let lower = upper.clone();
                let mut capabilities = CapabilitySet::new();
                let mut batches = Vec::new();
                input.for_each(|capability, received| {
                    for held in capability.retain_stamp(0).iter() {
                        capabilities.insert(held.clone());
                    }
                    for batch in received.drain(..) {
                        // Batches arrive in order: the last one's upper is the new upper.
                        upper.clone_from(batch.upper());
                        batches.push(batch);
                    }
                });
                if !capabilities.is_empty() {
                    let mut session = output.session(&capabilities);
                    let batches = batches.into_iter().filter_map(|b| b.inner).collect();
                    let (mut changes, changes_storage) = cursor_list(batches);
                    let before = trace.batches_through(lower.borrow()).unwrap_or_default();
                    let (mut history, history_storage) = cursor_list(before);
                    while let Some(key) = changes.get_key(&changes_storage) {
                        let mut updates = Vec::new();
                        while let Some(value) = changes.get_val(&changes_storage) {
                            changes.map_times(&changes_storage, |time, diff| {
                                updates.push((*time, value.clone(), *diff));
                            });
                            changes.step_val(&changes_storage);
                        }
                        updates.sort_by_key(|(time, _, _)| *time);
                        history.seek_key(&history_storage, key);
                        let history_has_key = history.get_key(&history_storage) == Some(key);
                        let mut first = |deltas: &BTreeMap<Ranked, isize>| {
                            if history_has_key {
                                history.rewind_vals(&history_storage);
                                first_positive(&mut history, &history_storage, deltas)
                            } else {
                                deltas.iter().find(|(_, d)| **d > 0).map(|(v, _)| v.clone())
                            }
                        };
                        let mut deltas = BTreeMap::new();
                        let mut current = first(&deltas);
                        for group in updates.chunk_by(|a, b| a.0 == b.0) {
                            let time = group[0].0;
                            for (_, value, diff) in group {
                                *deltas.entry(value.clone()).or_insert(0) += diff;
                            }
                            let next = first(&deltas);
                            if next != current {
                                if let Some(old) = current.take() {
                                    session.give(((*key, old.into_value()), time, -1));
                                }
                                if let Some(new) = &next {
                                    session.give(((*key, new.clone().into_value()), time, 1));
                                }
                                current = next;
                            }
                        }
                        changes.step_key(&changes_storage);
                    }
                }
                trace.advance_upper(&mut upper);
                trace.set_logical_compaction(upper.borrow());
                trace.set_physical_compaction(upper.borrow());
            }
        })
        .as_collection()
}

/// The first value, in ranked order, whose count in the history plus `deltas` is
/// positive; the history cursor stands at the key's first value.
fn first_positive<C>(
    history: &mut C,
    storage: &C::Storage,
    deltas: &BTreeMap<Ranked, isize>,
) -> Option<Ranked>
where
    C: for<'a> Cursor<Val<'a> = &'a Ranked, DiffGat<'a> = &'a isize>,
{
    let mut pending = deltas.iter().peekable();
    loop {
        let stored = history.get_val(storage);
        // Values only in the deltas that sort before the next stored value.
        while let Some((value, delta)) =
            pending.next_if(|(value, _)| stored.is_none_or(|s| *value < s))
        {
            if *delta > 0 {
                return Some(value.clone());
            }
        }
        let stored = stored?;
        let mut count = 0;
        history.map_times(storage, |_, diff| count += diff);
        if let Some((_, delta)) = pending.next_if(|(value, _)| *value == stored) {
            count += delta;
        }
        if count > 0 {
            return Some(stored.clone());
        }
        history.step_val(storage);
    }
}
