//! The temporal filter: rows that hold only during intervals of logical time.
//!
//! An update `(row, t, d)` whose row is valid during `[start, end)` becomes
//! `(row, max(t, start), d)` and `(row, end, -d)`, and nothing at all once `end <= t`.
//! It serves the atoms on `now` (an attribute, a score or a derived feature compared
//! with `now`); event windows use the same [`restrict`] and [`window`] inside the
//! event sources' operator, which holds their retractions itself. Updates for later
//! times wait
//! ([`super::hold::hold_future`], then differential's batchers) until the frontier
//! reaches them: time alone then changes membership, with no new input.

use differential_dataflow::difference::Abelian;
use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::operators::vec::Map;

use crate::plan::Interval;

use super::hold::hold_future;
use super::timing::Timing;

/// The updates that restrict one update at `time` to `interval`: `(time, true)` for the
/// insertion and `(time, false)` for the retraction, or nothing when the interval has
/// closed by `time`.
pub fn restrict(time: u64, interval: Interval) -> impl Iterator<Item = (u64, bool)> {
    let open = interval.end.is_none_or(|end| end > time);
    let insert = open.then_some((time.max(interval.start), true));
    let retract = interval.end.filter(|_| open).map(|end| (end, false));
    insert.into_iter().chain(retract)
}

/// Restricts each row of `collection` to the intervals `validity` gives it (in logical
/// time units), as the row `validity` turns it into; updates for times the run never
/// observes are left out.
///
/// Written on the inner stream rather than with `join_function` so that rows whose
/// intervals have all closed before `t` produce no updates at all: a backfill of a
/// year of history then carries only the events still inside their windows.
pub fn temporal_filter<'scope, D, D2, R, F>(
    collection: VecCollection<'scope, u64, D, R>,
    timing: Timing,
    mut validity: F,
) -> VecCollection<'scope, u64, D2, R>
where
    D: 'static,
    D2: Ord + Clone + 'static,
    R: Abelian + 'static,
    F: FnMut(D) -> (D2, Vec<Interval>) + 'static,
{
    let restricted = collection
        .inner
        .flat_map(move |(row, time, diff)| {
            let (row, intervals) = validity(row);
            let mut updates = Vec::new();
            for interval in intervals {
                let observed = restrict(time, interval).filter(|(at, _)| timing.observes(*at));
                for (at, insert) in observed {
                    let mut diff = diff.clone();
                    if !insert {
                        diff.negate();
                    }
                    updates.push((row.clone(), at, diff));
                }
            }
            updates
        })
        .as_collection();
    hold_future(restricted, timing, "HoldTemporal")
}

/// The window of an event at `ts` for `within window`: `now - window < ts <= now`,
/// that is `now` in `[ts, ts + window)`.
pub fn window(ts: u64, window: u64) -> Interval {
    Interval {
        start: ts,
        end: Some(ts.saturating_add(window)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restriction_opens_late_rows_at_their_time_and_drops_closed_ones() {
        let w = window(10, 5);
        assert_eq!(
            restrict(0, w).collect::<Vec<_>>(),
            vec![(10, true), (15, false)]
        );
        assert_eq!(
            restrict(12, w).collect::<Vec<_>>(),
            vec![(12, true), (15, false)]
        );
        assert_eq!(restrict(15, w).count(), 0);
        assert_eq!(
            restrict(7, Interval::ALWAYS).collect::<Vec<_>>(),
            vec![(7, true)]
        );
    }
}
