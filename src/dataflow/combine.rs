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
    collection
        .inner
        .unary_frontier(Pipeline, name, |_capability, _info| {
            let mut pending: BTreeMap<u64, (Capability<u64>, FxHashMap<D, R>)> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|capability, updates| {
                    let now = *capability.least().expect("an input capability has a time");
                    let mut passed = Vec::new();
                    for (data, time, diff) in updates.drain(..) {
                        if time != now {
                            // Updates for later times (a window's retraction) are spread
                            // over many times and rarely meet: pass them on as they are.
                            passed.push((data, time, diff));
                            continue;
                        }
                        let (_, sums) = pending.entry(time).or_insert_with(|| {
                            (capability.delayed(&time, 0), FxHashMap::default())
                        });
                        match sums.entry(data) {
                            Entry::Occupied(mut sum) => sum.get_mut().plus_equals(&diff),
                            Entry::Vacant(slot) => {
                                slot.insert(diff);
                            }
                        }
                    }
                    if !passed.is_empty() {
                        output.session(&capability).give_container(&mut passed);
                    }
                });
                let ready: Vec<u64> = pending
                    .iter()
                    .filter(|(time, (_, sums))| {
                        !frontier.less_equal(*time) || sums.len() >= MAX_PENDING
                    })
                    .map(|(time, _)| *time)
                    .collect();
                for time in ready {
                    let (capability, sums) = pending.remove(&time).expect("pending time");
                    let mut session = output.session(&capability);
                    for (data, diff) in sums {
                        if !diff.is_zero() {
                            session.give((data, time, diff));
                        }
                    }
                }
            }
        })
        .as_collection()
}
