//! The accumulated difference of every key, kept in a hash map instead of an
//! arrangement.
//!
//! Differential's `count_total` and `distinct_total` read an arrangement of their input:
//! every update is sorted into batches, the batches are merged in the background, and
//! each changed key is found again by a seek into the trace. That machinery pays for
//! itself when the arrangement is shared or times are partially ordered; the universe's
//! totals are read by one operator and time here is a `u64`. [`total_per_key`]
//! keeps each key's accumulated difference in a map, applies the updates of each time
//! once the input frontier has passed it, in time order, and reports how the key's
//! projected value changed: one hash-map update per update, no batches to build or
//! merge, and one operator rather than two (an arrangement and its reader), which
//! also takes a little off every round's progress tracking.

use std::collections::hash_map::Entry;
use std::hash::Hash;

use differential_dataflow::difference::Semigroup;
use differential_dataflow::hashable::Hashable;
use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use rustc_hash::FxHashMap;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::capabilities::{earliest, take_ready, HeldCapabilities};

/// Each key's accumulated difference, projected: `(key, project(total))` for every key
/// whose projection is `Some`, updated as the total changes. A key whose total is zero
/// is absent; `project` is never called on it.
///
/// `collection.count_total()` is `total_per_key(collection, name, |r| Some(r.clone()))`
/// and `distinct_total` is `total_per_key(.., |count| (*count > 0).then_some(()))`
/// followed by a map to the key.
pub fn total_per_key<'scope, K, R, O>(
    collection: VecCollection<'scope, u64, K, R>,
    name: &str,
    project: impl Fn(&R) -> Option<O> + 'static,
) -> VecCollection<'scope, u64, (K, O)>
where
    K: ExchangeData + Hash + Hashable,
    R: ExchangeData + Semigroup,
    O: Clone + Eq + 'static,
{
    let exchange = Exchange::new(|(key, _time, _diff): &(K, u64, R)| key.hashed().into());
    collection
        .inner
        .unary_frontier(exchange, name, move |_capability, _info| {
            let mut capabilities = HeldCapabilities::new(1);
            // Updates not yet applied: their time is not complete.
            let mut pending: Vec<(K, u64, R)> = Vec::new();
            let mut totals: FxHashMap<K, R> = FxHashMap::default();
            move |(input, frontier), output| {
                input.for_each(|capability, updates| {
                    capabilities.retain(&capability);
                    pending.append(updates);
                });
                let mut ready = take_ready(&mut pending, &[frontier.frontier()]);
                ready.sort_by_key(|(_, time, _)| *time);
                if let Some((_, first, _)) = ready.first() {
                    // One session at the earliest time serves them all: each update
                    // carries its own time. (A session per time would send a container
                    // per time, and a live batch has a time per record.)
                    let capability = capabilities.at(0, first);
                    let mut session = output.session(&capability);
                    let mut deltas: FxHashMap<&K, R> = FxHashMap::default();
                    for at_time in ready.chunk_by(|a, b| a.1 == b.1) {
                        let time = at_time[0].1;
                        for (key, _, diff) in at_time {
                            match deltas.entry(key) {
                                Entry::Occupied(mut sum) => sum.get_mut().plus_equals(diff),
                                Entry::Vacant(sum) => {
                                    sum.insert(diff.clone());
                                }
                            }
                        }
                        for (key, delta) in deltas.drain() {
                            if delta.is_zero() {
                                continue;
                            }
                            let (before, after) = match totals.entry(key.clone()) {
                                Entry::Occupied(mut total) => {
                                    let before = project(total.get());
                                    total.get_mut().plus_equals(&delta);
                                    if total.get().is_zero() {
                                        total.remove();
                                        (before, None)
                                    } else {
                                        (before, project(total.get()))
                                    }
                                }
                                Entry::Vacant(total) => (None, project(total.insert(delta))),
                            };
                            if before != after {
                                if let Some(old) = before {
                                    session.give(((key.clone(), old), time, -1));
                                }
                                if let Some(new) = after {
                                    session.give(((key.clone(), new), time, 1));
                                }
                            }
                        }
                    }
                }
                capabilities.hold_from(earliest(&pending));
            }
        })
        .as_collection()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::super::rounds::{outputs_after_rounds, Rounds};
    use super::*;

    /// The operator's output after each round, with a projection that keeps even totals
    /// only (so that a change of total need not change the output).
    fn operator(rounds: Rounds<u8>) -> Vec<Vec<(u8, isize)>> {
        outputs_after_rounds(rounds, |keys| {
            total_per_key(keys, "Test", |total| (total % 2 == 0).then_some(*total))
        })
    }

    /// From scratch: after each round, the even nonzero totals of the updates whose
    /// time has come.
    fn expected(rounds: &Rounds<u8>) -> Vec<Vec<(u8, isize)>> {
        let mut updates: Vec<(u8, u64, isize)> = Vec::new();
        let mut after = Vec::new();
        for (round, fed) in rounds.iter().enumerate() {
            let at = |delay: u8| round as u64 + u64::from(delay);
            updates.extend(fed.iter().map(|&(k, delay, d)| (k, at(delay), d)));
            let mut totals: BTreeMap<u8, isize> = BTreeMap::new();
            for &(key, time, diff) in &updates {
                if time <= round as u64 {
                    *totals.entry(key).or_insert(0) += diff;
                }
            }
            let visible = totals.into_iter().filter(|(_, t)| *t != 0 && t % 2 == 0);
            after.push(visible.collect());
        }
        after
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Insertions and retractions over a few keys (totals go negative, back to zero
        /// and up again), some for later rounds.
        #[test]
        fn totals_equal_a_from_scratch_sum(
            rounds in prop::collection::vec(
                prop::collection::vec(
                    (0u8..3, prop_oneof![3 => Just(0u8), 1 => 1u8..4], prop_oneof![Just(1isize), Just(-1), Just(2)]),
                    0..8,
                ),
                1..12,
            )
        ) {
            prop_assert_eq!(operator(rounds.clone()), expected(&rounds));
        }
    }
}
