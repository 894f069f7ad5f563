//! [`Values`]: the multiset of one user's values of one event selection's field, which
//! `min`, `max`, `count_distinct` and `median` read.
//!
//! Retracting a `max` reveals the next value, a distinct value stays counted while any
//! event carries it, and a median moves with every value, so the multiset keeps every
//! value with its multiplicity. Most users
//! have a few values, kept sorted in a vector (one allocation, a short move per
//! insertion); a heavy user's thousands of amounts would make each insertion a long
//! move, so past [`FEW`] values they go into a B-tree.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::catalog::ir::AggFunc;
use crate::value::{midpoint, Value};

use super::prefetch::prefetch_slice;

/// Values kept in a sorted vector up to this many, in a B-tree beyond: an insertion
/// into the vector moves at most a few kilobytes, and the vector takes about half the
/// B-tree's space per value.
const FEW: usize = 128;

/// Values with their multiplicities; a value whose multiplicity is zero is absent.
#[derive(Clone, Debug, Default)]
pub struct Values {
    entries: Entries,
    /// How many values have a positive multiplicity.
    present: usize,
}

#[derive(Clone, Debug)]
enum Entries {
    Few(Vec<(Value, isize)>),
    Many(BTreeMap<Value, isize>),
}

impl Default for Entries {
    fn default() -> Self {
        Entries::Few(Vec::new())
    }
}

impl Values {
    /// Adds `diff` to the multiplicity of `value`.
    pub fn add(&mut self, value: Value, diff: isize) {
        if diff == 0 {
            return;
        }
        let (before, after) = match &mut self.entries {
            Entries::Few(entries) => {
                let before = add_sorted(entries, value, diff);
                if entries.len() > FEW {
                    let many = std::mem::take(entries).into_iter().collect();
                    self.entries = Entries::Many(many);
                }
                (before, before + diff)
            }
            Entries::Many(entries) => {
                let count = entries.entry(value.clone()).or_insert(0);
                let before = *count;
                *count += diff;
                if *count == 0 {
                    entries.remove(&value);
                }
                (before, before + diff)
            }
        };
        self.present = self.present + usize::from(after > 0) - usize::from(before > 0);
    }

    /// Adds every value of `other` with its multiplicity.
    pub fn merge(&mut self, other: Values) {
        if self.is_empty() {
            // A backfill's delta lands on an empty state: take it whole.
            *self = other;
            return;
        }
        match other.entries {
            Entries::Few(entries) => entries.into_iter().for_each(|(v, d)| self.add(v, d)),
            Entries::Many(entries) => entries.into_iter().for_each(|(v, d)| self.add(v, d)),
        }
    }

    /// Adds `diff` of `value`, keeping only the extreme value (the greatest where
    /// `greatest`, else the least) and its multiplicity.
    ///
    /// Only for insertions that can never be retracted (a batch run's single time):
    /// then the extreme is all a `min`/`max` will ever read.
    pub fn keep_extreme(&mut self, value: Value, diff: isize, greatest: bool) {
        let kept = match &self.entries {
            Entries::Few(entries) => entries.first(),
            Entries::Many(_) => unreachable!("an extreme alone is one value"),
        };
        let order = match kept {
            None => std::cmp::Ordering::Greater,
            Some((best, _)) if greatest => value.cmp(best),
            Some((best, _)) => best.cmp(&value),
        };
        match order {
            // A new extreme takes the place of the old one (in place: `max(events.ts)`
            // over events in time order takes this branch for every event).
            std::cmp::Ordering::Greater if diff != 0 => {
                if let Entries::Few(entries) = &mut self.entries {
                    entries.clear();
                    entries.push((value, diff));
                }
                self.present = usize::from(diff > 0);
            }
            std::cmp::Ordering::Greater => {}
            std::cmp::Ordering::Equal => self.add(value, diff),
            std::cmp::Ordering::Less => {}
        }
    }

    /// Asks for the cache lines of the values, for a caller about to read them.
    pub fn prefetch(&self) {
        if let Entries::Few(entries) = &self.entries {
            prefetch_slice(entries);
        }
    }

    /// Whether no value has a nonzero multiplicity.
    pub fn is_empty(&self) -> bool {
        match &self.entries {
            Entries::Few(entries) => entries.is_empty(),
            Entries::Many(entries) => entries.is_empty(),
        }
    }

    /// How many distinct values are present (have a positive multiplicity).
    pub fn present(&self) -> usize {
        self.present
    }

    /// An aggregate of the values; `None` when there are none (or for an aggregate of
    /// totals).
    pub fn read(&self, func: AggFunc) -> Option<Value> {
        match func {
            AggFunc::Min => self.extreme(false).cloned(),
            AggFunc::Max => self.extreme(true).cloned(),
            AggFunc::CountDistinct => {
                (self.present() > 0).then(|| Value::Number(Decimal::from(self.present() as u64)))
            }
            AggFunc::Median => self.median(),
            AggFunc::Count | AggFunc::Sum | AggFunc::Avg => None,
        }
    }

    /// The middle present value, counted with multiplicities; for an even count, the
    /// mean of the two middle values ([`midpoint`]). A walk over the values in order:
    /// a median is read once per change of a user's values, and most users have few.
    pub fn median(&self) -> Option<Value> {
        match &self.entries {
            Entries::Few(entries) => median_of(entries.iter().map(|(v, c)| (v, *c))),
            Entries::Many(entries) => median_of(entries.iter().map(|(v, c)| (v, *c))),
        }
    }

    /// The greatest present value where `greatest`, else the least.
    pub fn extreme(&self, greatest: bool) -> Option<&Value> {
        fn present<'a>((value, count): (&'a Value, &isize)) -> Option<&'a Value> {
            (*count > 0).then_some(value)
        }
        match (&self.entries, greatest) {
            (Entries::Few(e), false) => e.iter().map(|(v, c)| (v, c)).find_map(present),
            (Entries::Few(e), true) => e.iter().rev().map(|(v, c)| (v, c)).find_map(present),
            (Entries::Many(e), false) => e.iter().find_map(present),
            (Entries::Many(e), true) => e.iter().rev().find_map(present),
        }
    }
}

/// The median of values in order with their multiplicities (those not positive are
/// absent); see [`Values::median`].
fn median_of<'a>(entries: impl Iterator<Item = (&'a Value, isize)> + Clone) -> Option<Value> {
    let present = entries.filter(|(_, count)| *count > 0);
    let n: isize = present.clone().map(|(_, count)| count).sum();
    // The 0-based ranks of the two middle values (equal for an odd count).
    let (low_rank, high_rank) = ((n - 1) / 2, n / 2);
    let mut seen = 0;
    let mut low = None;
    for (value, count) in present {
        seen += count;
        if low.is_none() && seen > low_rank {
            low = Some(value);
        }
        if seen > high_rank {
            return match (low?, value) {
                (Value::Number(a), Value::Number(b)) => Some(Value::Number(midpoint(*a, *b))),
                (low, _) => Some(low.clone()),
            };
        }
    }
    None
}

/// Adds `diff` to the multiplicity of `item` in a list sorted by item, dropping it at
/// zero; returns the multiplicity before.
pub fn add_sorted<T: Ord>(items: &mut Vec<(T, isize)>, item: T, diff: isize) -> isize {
    match items.binary_search_by(|(t, _)| t.cmp(&item)) {
        Ok(at) => {
            let before = items[at].1;
            items[at].1 += diff;
            if items[at].1 == 0 {
                items.remove(at);
            }
            before
        }
        Err(at) => {
            if diff != 0 {
                items.insert(at, (item, diff));
            }
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::*;

    fn number(n: impl Into<Decimal>) -> Value {
        Value::Number(n.into())
    }

    proptest! {
        /// Against a plain map of multiplicities, across the switch to a B-tree: the
        /// extremes and the number of present values; and the same updates in two
        /// parts, merged (the first part may be empty).
        #[test]
        fn values_agree_with_a_map_of_multiplicities(
            updates in prop::collection::vec((-150i16..150, prop_oneof![Just(1isize), Just(-1), Just(2)]), 0..400),
            split in 0usize..400,
        ) {
            let (first, second) = updates.split_at(split.min(updates.len()));
            let mut merged = Values::default();
            let mut part = Values::default();
            first.iter().for_each(|&(value, diff)| merged.add(number(value), diff));
            second.iter().for_each(|&(value, diff)| part.add(number(value), diff));
            merged.merge(part);
            let mut values = Values::default();
            let mut expected: BTreeMap<i16, isize> = BTreeMap::new();
            for (value, diff) in updates {
                values.add(number(value), diff);
                *expected.entry(value).or_insert(0) += diff;
                expected.retain(|_, count| *count != 0);
                let present: Vec<i16> = expected.iter().filter(|(_, c)| **c > 0).map(|(v, _)| *v).collect();
                prop_assert_eq!(values.present(), present.len());
                prop_assert_eq!(values.extreme(false).cloned(), present.first().map(|v| number(*v)));
                prop_assert_eq!(values.extreme(true).cloned(), present.last().map(|v| number(*v)));
                prop_assert_eq!(values.is_empty(), expected.is_empty());
                // The median of every present value repeated by its multiplicity.
                let all: Vec<i16> = expected.iter().filter(|(_, c)| **c > 0)
                    .flat_map(|(v, c)| std::iter::repeat_n(*v, *c as usize)).collect();
                let median = (!all.is_empty()).then(|| {
                    let (low, high) = (all[(all.len() - 1) / 2], all[all.len() / 2]);
                    Value::Number((Decimal::from(low) + Decimal::from(high)) / Decimal::TWO)
                });
                prop_assert_eq!(values.median(), median);
            }
            prop_assert_eq!(merged.present(), values.present());
            prop_assert_eq!(merged.extreme(false), values.extreme(false));
            prop_assert_eq!(merged.extreme(true), values.extreme(true));
            prop_assert_eq!(merged.is_empty(), values.is_empty());
        }
    }

    #[test]
    fn keeping_the_extreme_keeps_its_multiplicity_only() {
        let mut max = Values::default();
        for (value, diff) in [(3, 1), (1, 1), (3, 2), (7, 1), (7, 1), (2, 1)] {
            max.keep_extreme(number(value), diff, true);
        }
        assert_eq!(max.extreme(true), Some(&number(7)));
        assert_eq!(max.extreme(false), Some(&number(7)));
        let mut min = Values::default();
        for (value, diff) in [(3, 1), (1, 1), (1, 1), (2, 1)] {
            min.keep_extreme(number(value), diff, false);
        }
        assert_eq!(min.extreme(false), Some(&number(1)));
        min.add(number(1), -1);
        assert_eq!(min.extreme(false), Some(&number(1)));
        min.add(number(1), -1);
        assert!(min.is_empty());
    }
}
