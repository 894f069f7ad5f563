//! The least value of every key, maintained without a reduce.
//!
//! Two per-user states are "the least value of a key, in some order": a user's current
//! row (the greatest sequence number) and a model's latest score. A general `reduce`
//! re-reads a key's values and its own output history at every time the key changes,
//! and in a live run each record has its own time, so such a reduce's cost grows with
//! the number of times, not with the work (docs/BENCHMARKS.md, "min/max without
//! reduces", has the measurements). Time is totally ordered here, so, like
//! differential's `count_total`, [`least_per_key`] reads the arrangement directly: the least value
//! before a batch is the first one with a positive count, and the batch's updates are
//! applied time by time on top of it. A change costs a key seek and the few leading
//! values, however many values the key has, and there is no output arrangement.

use std::collections::BTreeMap;

use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::cursor::cursor_list;
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::trace::{Cursor, TraceReader};
use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::CapabilitySet;
use timely::progress::Antichain;

/// Keys with their values, arranged.
pub type ArrangedValues<'scope, K, V> = Arranged<'scope, TraceAgent<ValSpine<K, V, u64, isize>>>;

/// Each key's least value with a positive count, as `present(key, value)`, updated as
/// the key's values change.
pub fn least_per_key<'scope, K, V, D>(
    arranged: ArrangedValues<'scope, K, V>,
    name: &str,
    present: impl Fn(&K, V) -> D + 'static,
) -> VecCollection<'scope, u64, D>
where
    K: ExchangeData,
    V: ExchangeData,
    D: Clone + 'static,
{
    let mut trace = arranged.trace.clone();
    arranged
        .stream
        .unary_frontier(Pipeline, name, move |_, _| {
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
                        let mut first = |deltas: &BTreeMap<V, isize>| {
                            if history_has_key {
                                history.rewind_vals(&history_storage);
                                first_positive(&mut history, &history_storage, deltas)
                            } else {
                                deltas.iter().find(|(_, d)| **d > 0).map(|(v, _)| v.clone())
                            }
                        };
                        let mut deltas: BTreeMap<V, isize> = BTreeMap::new();
                        let mut current = first(&deltas);
                        for group in updates.chunk_by(|a, b| a.0 == b.0) {
                            let time = group[0].0;
                            for (_, value, diff) in group {
                                *deltas.entry(value.clone()).or_insert(0) += diff;
                            }
                            let next = first(&deltas);
                            if next != current {
                                if let Some(old) = current.take() {
                                    session.give((present(key, old), time, -1));
                                }
                                if let Some(new) = &next {
                                    session.give((present(key, new.clone()), time, 1));
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
fn first_positive<C, V>(
    history: &mut C,
    storage: &C::Storage,
    deltas: &BTreeMap<V, isize>,
) -> Option<V>
where
    V: Ord + Clone,
    C: for<'a> Cursor<Val<'a> = &'a V, DiffGat<'a> = &'a isize>,
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::super::rounds::{outputs_after_rounds, Rounds};
    use super::*;

    /// The operator's output after each round, as `(key, value)` pairs.
    fn operator(rounds: Rounds<(u8, u8)>) -> Vec<Vec<(u8, u8)>> {
        outputs_after_rounds(rounds, |values| {
            let arranged = values.arrange_by_key_named("Arrange: Test");
            least_per_key(arranged, "Test", |&key, value| (key, value))
        })
    }

    /// From scratch: after each round, each key's least value with a positive count
    /// among the updates whose time has come.
    fn expected(rounds: &Rounds<(u8, u8)>) -> Vec<Vec<(u8, u8)>> {
        let mut updates: Vec<((u8, u8), u64, isize)> = Vec::new();
        let mut after = Vec::new();
        for (round, fed) in rounds.iter().enumerate() {
            let at = |delay: u8| round as u64 + u64::from(delay);
            updates.extend(fed.iter().map(|&(pair, delay, d)| (pair, at(delay), d)));
            let mut counts: BTreeMap<(u8, u8), isize> = BTreeMap::new();
            for &(pair, time, diff) in &updates {
                if time <= round as u64 {
                    *counts.entry(pair).or_insert(0) += diff;
                }
            }
            let mut least: BTreeMap<u8, u8> = BTreeMap::new();
            for (&(key, value), &count) in &counts {
                if count > 0 {
                    least.entry(key).or_insert(value);
                }
            }
            after.push(least.into_iter().collect());
        }
        after
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Insertions, retractions (also of absent values, which go negative) and
        /// values that come back, over a few keys with few values so that they meet,
        /// some fed ahead of their time.
        #[test]
        fn least_value_equals_a_from_scratch_scan(
            rounds in prop::collection::vec(
                prop::collection::vec(
                    ((0u8..3, 0u8..6), prop_oneof![3 => Just(0u8), 1 => 1u8..4], prop_oneof![Just(1isize), Just(-1), Just(2)]),
                    0..8,
                ),
                1..12,
            )
        ) {
            prop_assert_eq!(operator(rounds.clone()), expected(&rounds));
        }
    }
}
