//! Events with an id at their source, deduplicated: sources deliver at least once, so
//! of a user's events with one `event_id`, only one counts.
//!
//! The one that counts is the least of the copies present, by time and then by content
//! (the derived order of [`Event`]: `ts`, `kind`, the declared fields). That depends
//! only on which copies are present, never on the order they arrived in or on the
//! worker that read them, so a batch run as of `T`, a live run at `T` and the
//! reference evaluator agree. A copy with an earlier time that arrives later takes over
//! from the one counted so far, and retracting the counted copy lets the next one
//! count. The other copies are duplicates: counted, never an error.
//!
//! Differential's `reduce` keyed by `(user, id)` does exactly this, incrementally: a
//! new copy touches its key only. Its arrangements hold every identified event for as
//! long as the run lasts (ids are never forgotten, so a redelivery years later is
//! still recognised); events without an id never come here.

use differential_dataflow::VecCollection;

use crate::value::Text;

use super::records::{Event, UserKey};

/// The counted events and the duplicates set aside.
pub struct Deduplicated<'scope> {
    /// One event per user and id: the least of its copies.
    pub events: VecCollection<'scope, u64, (UserKey, Event)>,
    /// One `()` per copy that does not count.
    pub duplicates: VecCollection<'scope, u64, ()>,
}

/// Keeps one event per user and id, the least of its copies.
pub fn deduplicate<'scope>(
    identified: VecCollection<'scope, u64, (UserKey, (Text, Event))>,
) -> Deduplicated<'scope> {
    let kept = identified
        .map(|(user, (id, event))| ((user, id), event))
        .reduce_named("Deduplicate", |_key, copies, out| {
            // Copies come sorted, least first; a retraction of a copy never present is
            // refused before it gets here (`live::ledger`).
            let mut present = copies.iter().filter(|(_, count)| *count > 0);
            if let Some((least, count)) = present.next() {
                let others = count - 1 + present.map(|(_, count)| count).sum::<isize>();
                out.push((Some((*least).clone()), 1));
                if others > 0 {
                    out.push((None, others));
                }
            }
        });
    Deduplicated {
        events: kept
            .clone()
            .flat_map(|((user, _id), event)| event.map(|event| (user, event))),
        duplicates: kept.flat_map(|(_, event)| event.is_none().then_some(())),
    }
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::Input;
    use timely::dataflow::operators::capture::{Capture, Extract};

    use super::*;
    use crate::value::Value;

    fn event(ts: u64, amount: i64) -> Event {
        Event::new(ts, Text::from("buy"), vec![Value::Number(amount.into())])
    }

    /// Feeds `(time, user, id, event, diff)` updates; returns the counted events and
    /// the number of duplicates, accumulated to the end.
    fn run(
        updates: Vec<(u64, UserKey, &'static str, Event, isize)>,
    ) -> (Vec<(UserKey, Event)>, isize) {
        let (events, duplicates) = timely::execute_directly(move |worker| {
            let (mut input, events, duplicates) = worker.dataflow::<u64, _, _>(|scope| {
                let (input, identified) = scope.new_collection();
                let out = deduplicate(identified);
                let events = out.events.consolidate().inner.capture();
                let duplicates = out.duplicates.consolidate().inner.capture();
                (input, events, duplicates)
            });
            for (time, user, id, event, diff) in updates {
                input.advance_to(time);
                input.update((user, (Text::from(id), event)), diff);
            }
            // Closing the input lets the computation run to its end.
            drop(input);
            (events, duplicates)
        });
        let mut counted: Vec<((UserKey, Event), isize)> = Vec::new();
        for (_, batch) in events.extract() {
            for (record, _, diff) in batch {
                counted.push((record, diff));
            }
        }
        let mut totals = std::collections::BTreeMap::new();
        for (record, diff) in counted {
            *totals.entry(record).or_insert(0) += diff;
        }
        totals.retain(|_, diff| *diff != 0);
        assert!(totals.values().all(|diff| *diff == 1), "{totals:?}");
        let dups = duplicates.extract().into_iter().flat_map(|(_, b)| b);
        let dups = dups.map(|((), _, diff)| diff).sum();
        (totals.into_keys().collect(), dups)
    }

    #[test]
    fn the_least_copy_counts_whatever_the_order_of_arrival() {
        let (counted, duplicates) = run(vec![
            (0, 1, "a", event(9, 5), 1),
            (1, 1, "a", event(9, 5), 1),
            // An earlier copy arriving later takes over.
            (2, 1, "a", event(7, 6), 1),
            // Same id, another user: not a duplicate.
            (2, 2, "a", event(9, 5), 1),
            (3, 1, "b", event(9, 5), 1),
        ]);
        let expected = vec![(1, event(7, 6)), (1, event(9, 5)), (2, event(9, 5))];
        assert_eq!(counted, expected);
        assert_eq!(duplicates, 2);
    }

    #[test]
    fn retracting_the_counted_copy_lets_the_next_count() {
        let (counted, duplicates) = run(vec![
            (0, 1, "a", event(7, 6), 1),
            (0, 1, "a", event(9, 5), 1),
            (1, 1, "a", event(7, 6), -1),
        ]);
        assert_eq!(counted, vec![(1, event(9, 5))]);
        assert_eq!(duplicates, 0);
    }
}
