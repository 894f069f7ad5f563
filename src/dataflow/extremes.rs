//! `min` and `max` per selection slot and user.
//!
//! Retracting the extreme reveals the next value, so the engine keeps every value,
//! ranked so that the slot's extreme sorts first, and maintains each key's first value
//! with [`least_per_key`].
//!
//! Batch runs, which retract nothing, first keep only each worker's extremes
//! ([`super::combine::keep_extremes`]).

use std::cmp::Reverse;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};

use crate::value::Value;

use super::combine::keep_extremes;
use super::least::least_per_key;
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
    least_per_key(ranked, "MinMax", |&key, ranked| (key, ranked.into_value()))
}
