//! `min` and `max` per selection slot and user.
//!
//! Retracting the extreme reveals the next value, so the engine keeps every value and a
//! reduce picks the extreme. Differential's reduce re-reads a key's values at every time
//! the key changes, and in a live run each record has its own time: a batch touching a
//! user with thousands of events `m` times re-read all of them `m` times (88% of a
//! worker's time in the batch sweep of `segflow bench`, docs/BENCHMARKS.md). Live runs
//! therefore pick the extreme in two steps: per user and hash bucket of the value,
//! then over the buckets' extremes, so an update re-reads one bucket and the buckets'
//! extremes rather than every value. Batch runs, which retract nothing, keep only each
//! worker's extremes before a single reduce ([`super::combine::keep_extremes`]).

use std::hash::{Hash, Hasher};

use differential_dataflow::VecCollection;
use rustc_hash::FxHasher;

use crate::value::Value;

use super::combine::keep_extremes;
use super::records::UserKey;
use super::timing::Timing;

/// Hash buckets per user and slot in live runs: a user with `n` values costs about
/// `n / BUCKETS + BUCKETS` values re-read per change instead of `n`.
const BUCKETS: u64 = 32;

/// A `((slot, user), value)` row per value of an extreme selection.
pub type SlotValues<'scope> = VecCollection<'scope, u64, ((u32, UserKey), Value)>;

/// Each `(slot, user)`'s greatest value where `maxima[slot]`, else its least.
pub fn extremes<'scope>(
    values: SlotValues<'scope>,
    maxima: Vec<bool>,
    timing: Timing,
) -> SlotValues<'scope> {
    let greatest = move |slot: u32| maxima[slot as usize];
    match timing.horizon {
        Some(horizon) => {
            let kept = {
                let greatest = greatest.clone();
                keep_extremes(
                    values,
                    horizon,
                    move |(slot, _user)| greatest(*slot),
                    "KeepExtremes",
                )
            };
            pick(kept, move |(slot, _user)| greatest(*slot), "MinMax")
        }
        None => {
            let by_bucket = values.map(|(key, value)| ((key, bucket(&value)), value));
            let in_buckets = {
                let greatest = greatest.clone();
                pick(
                    by_bucket,
                    move |((slot, _user), _bucket)| greatest(*slot),
                    "MinMaxBucket",
                )
            };
            pick(
                in_buckets.map(|((key, _bucket), value)| (key, value)),
                move |(slot, _user)| greatest(*slot),
                "MinMax",
            )
        }
    }
}

/// The bucket of a value.
fn bucket(value: &Value) -> u8 {
    let mut hasher = FxHasher::default();
    value.hash(&mut hasher);
    (hasher.finish() % BUCKETS) as u8
}

/// Each key's greatest value where `greatest(key)`, else its least, once.
fn pick<'scope, K>(
    values: VecCollection<'scope, u64, (K, Value)>,
    greatest: impl Fn(&K) -> bool + 'static,
    name: &str,
) -> VecCollection<'scope, u64, (K, Value)>
where
    K: differential_dataflow::ExchangeData + differential_dataflow::Hashable,
{
    values.reduce_named(name, move |key, values, out| {
        // Values arrive sorted, each with a positive count.
        let (value, _) = if greatest(key) {
            values[values.len() - 1]
        } else {
            values[0]
        };
        out.push((value.clone(), 1isize));
    })
}
