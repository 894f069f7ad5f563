//! A local combiner: consolidates updates on each worker before they are exchanged.
//!
//! A backfill feeds tens of millions of events at one logical time, and most of what
//! they contribute collapses per user: one universe entry, one `(count, sum)` per linear
//! feature. Differential's arrangements consolidate too, but only after the exchange
//! and after sorting every update. Summing updates with equal data and time in a hash
//! map first (per worker, until their time is complete) sends one update per user and
//! feature instead of one per event: the "pre-aggregate per user, feature and time"
//! of ARCHITECTURE.md §4. It changes nothing but the number of updates, so it is safe
//! wherever updates are summed, which is everywhere in differential dataflow.

use std::collections::hash_map::Entry;
use std::collections::BTreeMap;
use std::hash::Hash;

use differential_dataflow::difference::Semigroup;
use differential_dataflow::{AsCollection, VecCollection};
use rustc_hash::FxHashMap;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;

/// Distinct records held for one time before they are sent on regardless: bounds the
/// combiner's memory when the data hardly consolidates.
const MAX_PENDING: usize = 1 << 20;

/// Consolidates `collection`'s updates per time on each worker before passing them on.
///
/// Only updates at the time of the batch that carries them are held back; updates
/// for later times pass straight through, so the combiner holds at most a few times.
pub fn combine<'scope, D, R>(
    collection: VecCollection<'scope, u64, D, R>,
    name: &str,
) -> VecCollection<'scope, u64, D, R>
where
    D: Hash + Eq + Clone + 'static,
    R: Semigroup + 'static,
{
    fold_per_time(
        collection,
        name,
        |_time| true,
        |data, diff| (data, diff),
        |sum: &mut R, diff| sum.plus_equals(&diff),
        |data, sum| (!sum.is_zero()).then_some((data, sum)),
    )
}

/// Keeps, of the updates `((key, value), diff)` at time `at`, only each key's greatest
/// value (or least, where `greatest(key)` is false) with its count.
///
/// Correct only when `at` is the last time the run observes and every update at it
/// is an insertion (see [`super::Timing::horizon`]): then the extreme is all a
/// `min`/`max` will ever read, since no value can be retracted to reveal another.
/// Updates at other times pass on unchanged.
pub fn keep_extremes<'scope, K, V>(
    collection: VecCollection<'scope, u64, (K, V)>,
    at: u64,
    greatest: impl Fn(&K) -> bool + 'static,
    name: &str,
) -> VecCollection<'scope, u64, (K, V)>
where
    K: Hash + Eq + Clone + 'static,
    V: Ord + Clone + 'static,
{
    fold_per_time(
        collection,
        name,
        move |time| time == at,
        move |(key, value), count| {
            let greatest = greatest(&key);
            (key, (value, count, greatest))
        },
        |(best, count, greatest): &mut (V, isize, bool), (value, more, _)| {
            let order = value.cmp(best);
            match if *greatest { order } else { order.reverse() } {
                std::cmp::Ordering::Greater => (*best, *count) = (value, more),
                std::cmp::Ordering::Equal => *count += more,
                std::cmp::Ordering::Less => {}
            }
        },
        |key, (value, count, _)| (count != 0).then_some(((key, value), count)),
    )
}

/// Folds the updates at each time `folds` accepts into one accumulator per key, on
/// each worker, and passes the folded updates on once their time is complete (or
/// when too many keys are held). Updates at other times pass straight through.
fn fold_per_time<'scope, D, R, K, A>(
    collection: VecCollection<'scope, u64, D, R>,
    name: &str,
    folds: impl Fn(u64) -> bool + 'static,
    split: impl Fn(D, R) -> (K, A) + 'static,
    merge: impl Fn(&mut A, A) + 'static,
    finish: impl Fn(K, A) -> Option<(D, R)> + 'static,
) -> VecCollection<'scope, u64, D, R>
where
    D: Clone + 'static,
    R: Semigroup + 'static,
    K: Hash + Eq + 'static,
    A: 'static,
{
    collection
        .inner
        .unary_frontier(Pipeline, name, |_capability, _info| {
            let mut pending: BTreeMap<u64, (Capability<u64>, FxHashMap<K, A>)> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|capability, updates| {
                    let now = *capability.least().expect("an input capability has a time");
                    let mut passed = Vec::new();
                    for (data, time, diff) in updates.drain(..) {
                        if time != now || !folds(time) {
                            // Updates for later times (a window's retraction) are spread
                            // over many times and rarely meet: pass them on as they are.
                            passed.push((data, time, diff));
                            continue;
                        }
                        let (_, folded) = pending.entry(time).or_insert_with(|| {
                            (capability.delayed(&time, 0), FxHashMap::default())
                        });
                        let (key, value) = split(data, diff);
                        match folded.entry(key) {
                            Entry::Occupied(mut slot) => merge(slot.get_mut(), value),
                            Entry::Vacant(slot) => {
                                slot.insert(value);
                            }
                        }
                    }
                    if !passed.is_empty() {
                        output.session(&capability).give_container(&mut passed);
                    }
                });
                let ready: Vec<u64> = pending
                    .iter()
                    .filter(|(time, (_, folded))| {
                        !frontier.less_equal(*time) || folded.len() >= MAX_PENDING
                    })
                    .map(|(time, _)| *time)
                    .collect();
                for time in ready {
                    let (capability, folded) = pending.remove(&time).expect("pending time");
                    let mut session = output.session(&capability);
                    for (key, accumulated) in folded {
                        if let Some((data, diff)) = finish(key, accumulated) {
                            session.give((data, time, diff));
                        }
                    }
                }
            }
        })
        .as_collection()
}
