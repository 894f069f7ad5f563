//! Holding updates for later times until the frontier nears them.
//!
//! The temporal filter emits a window's retraction as soon as its event arrives,
//! stamped with the tick at which the window closes: weeks ahead for `within 30d`.
//! Left alone, such updates wait in the batcher of the next arrangement, and
//! differential's merge batcher merges and scans *every* update it holds whenever its
//! input frontier moves. A live run moves the frontier every round, so with millions
//! of open windows each round re-sorted every retraction due in the coming months.
//!
//! This operator keeps updates for later buckets of [`BUCKET_SECONDS`] of event time
//! aside, in a map ordered by bucket, and passes a bucket on once the input frontier
//! reaches its start. A batcher downstream then holds at most about one bucket of
//! future updates, and a round costs what the current bucket holds, not what all
//! windows hold. The operator keeps a capability at the earliest bucket's start, so
//! frontiers downstream advance exactly as before. Buckets are consolidated as they
//! grow, as the batcher would consolidate them: one update per (record, time).
//!
//! What the operator holds is reported to differential's `differential/arrange` log
//! as batcher events (records and bytes), the log that batchers report to, so that
//! tools counting pending updates there (`segflow bench --tail`) still see them all.

use std::collections::BTreeMap;

use differential_dataflow::consolidation::consolidate_updates;
use differential_dataflow::difference::Semigroup;
use differential_dataflow::logging::{BatcherEvent, DifferentialEventBuilder, Logger};
use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;

use super::timing::Timing;

/// Event time covered by one bucket of held updates.
pub const BUCKET_SECONDS: u64 = 60;

/// A bucket is consolidated when it has grown to this many times its size after the
/// last consolidation (amortised: each update is sorted a constant number of times).
const GROWTH: usize = 2;
/// Buckets smaller than this are not worth consolidating before release.
const MIN_CONSOLIDATE: usize = 1 << 10;

/// Passes on updates for the current bucket of time at once and holds the others until
/// the input frontier reaches their bucket.
///
/// A run with a horizon (a batch run) has no updates for later times to hold: they
/// are never produced (see [`Timing::horizon`]), so the collection passes unchanged.
pub fn hold_future<'scope, D, R>(
    collection: VecCollection<'scope, u64, D, R>,
    timing: Timing,
    name: &str,
) -> VecCollection<'scope, u64, D, R>
where
    D: Ord + Clone + 'static,
    R: Semigroup + 'static,
{
    if timing.horizon.is_some() {
        return collection;
    }
    let width = BUCKET_SECONDS
        .saturating_mul(timing.ticks_per_second)
        .max(1);
    let scope = collection.inner.scope();
    collection
        .inner
        .unary_frontier(Pipeline, name, move |_capability, info| {
            let logger: Option<Logger> = scope
                .worker()
                .logger_for::<DifferentialEventBuilder>("differential/arrange")
                .map(Into::into);
            // What the buckets hold, and what was last reported to the log.
            let (mut footprint, mut reported) = (Footprint::default(), Footprint::default());
            let mut buckets: BTreeMap<u64, Bucket<D, R>> = BTreeMap::new();
            // A capability at the start of the earliest bucket, while any is held.
            let mut held: Option<Capability<u64>> = None;
            move |(input, frontier), output| {
                input.for_each(|capability, updates| {
                    let current =
                        *capability.least().expect("an input capability has a time") / width;
                    let mut passed = Vec::new();
                    for (data, time, diff) in updates.drain(..) {
                        let bucket = time / width;
                        if bucket <= current {
                            passed.push((data, time, diff));
                            continue;
                        }
                        let held_bucket = buckets.entry(bucket).or_default();
                        let before = held_bucket.footprint();
                        held_bucket.push((data, time, diff));
                        footprint = footprint.minus(&before).plus(&held_bucket.footprint());
                        // The bucket starts after the capability's time, so the
                        // capability can be delayed to it.
                        let start = bucket * width;
                        if held.as_ref().is_none_or(|h| *h.time() > start) {
                            held = Some(capability.delayed(&start, 0));
                        }
                    }
                    if !passed.is_empty() {
                        output.session(&capability).give_container(&mut passed);
                    }
                });
                while let Some(entry) = buckets.first_entry() {
                    if frontier.less_than(&(*entry.key() * width)) {
                        break;
                    }
                    let released = entry.remove();
                    footprint = footprint.minus(&released.footprint());
                    let mut updates = released.updates;
                    let capability = held.as_ref().expect("held updates have a capability");
                    output.session(capability).give_container(&mut updates);
                }
                match buckets.first_key_value() {
                    Some((bucket, _)) => {
                        let start = bucket * width;
                        if let Some(capability) = held.as_mut() {
                            capability.downgrade(&start);
                        }
                    }
                    None => held = None,
                }
                if let Some(logger) = &logger {
                    if footprint != reported {
                        logger.log(footprint.since(&reported, info.global_id));
                        reported = footprint;
                    }
                }
            }
        })
        .as_collection()
}

/// What the operator holds, as a batcher reports it (bytes of the update tuples).
#[derive(Copy, Clone, Default, PartialEq, Eq)]
struct Footprint {
    records: isize,
    bytes: isize,
    capacity: isize,
    allocations: isize,
}

impl Footprint {
    fn plus(&self, other: &Footprint) -> Footprint {
        Footprint {
            records: self.records + other.records,
            bytes: self.bytes + other.bytes,
            capacity: self.capacity + other.capacity,
            allocations: self.allocations + other.allocations,
        }
    }

    fn minus(&self, other: &Footprint) -> Footprint {
        self.plus(&Footprint {
            records: -other.records,
            bytes: -other.bytes,
            capacity: -other.capacity,
            allocations: -other.allocations,
        })
    }

    fn since(&self, earlier: &Footprint, operator: usize) -> BatcherEvent {
        let diff = self.minus(earlier);
        BatcherEvent {
            operator,
            records_diff: diff.records,
            size_diff: diff.bytes,
            capacity_diff: diff.capacity,
            allocations_diff: diff.allocations,
        }
    }
}

/// Updates held for one bucket of time.
struct Bucket<D, R> {
    updates: Vec<(D, u64, R)>,
    /// The length after the last consolidation.
    consolidated: usize,
}

impl<D, R> Default for Bucket<D, R> {
    fn default() -> Self {
        Bucket {
            updates: Vec::new(),
            consolidated: 0,
        }
    }
}

impl<D, R> Bucket<D, R> {
    fn footprint(&self) -> Footprint {
        let size = std::mem::size_of::<(D, u64, R)>() as isize;
        Footprint {
            records: self.updates.len() as isize,
            bytes: self.updates.len() as isize * size,
            capacity: self.updates.capacity() as isize * size,
            allocations: 1,
        }
    }
}

impl<D: Ord, R: Semigroup> Bucket<D, R> {
    fn push(&mut self, update: (D, u64, R)) {
        self.updates.push(update);
        if self.updates.len() >= MIN_CONSOLIDATE.max(GROWTH * self.consolidated) {
            consolidate_updates(&mut self.updates);
            self.consolidated = self.updates.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use differential_dataflow::input::Input;
    use timely::dataflow::operators::probe::Handle;
    use timely::dataflow::operators::{Inspect, Probe};

    use super::*;

    type Updates = Vec<(u32, u64, isize)>;

    /// Feeds updates for times across several buckets, then moves the input to each of
    /// `steps` in turn; returns what had come out (consolidated) after each step, and
    /// how many updates were sent with a capability outside their own bucket.
    fn run(updates: Updates, steps: Vec<u64>) -> (Vec<Updates>, usize) {
        timely::execute_directly(move |worker| {
            let seen = Rc::new(RefCell::new(Vec::new()));
            let sink = seen.clone();
            let probe = Handle::new();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, collection) = scope.new_collection::<u32, isize>();
                hold_future(collection, Timing::open(1), "Test")
                    .inner
                    .inspect_core(move |event| {
                        if let Ok((stamp, batch)) = event {
                            let sent = *stamp.iter().min().expect("a message has a time");
                            for (data, t, diff) in batch {
                                sink.borrow_mut().push((sent, (*data, *t, *diff)));
                            }
                        }
                    })
                    .probe_with(&probe);
                input
            });
            for (data, time, diff) in updates.clone() {
                input.update_at(data, time, diff);
            }
            let mut after = Vec::new();
            for step in steps.clone() {
                input.advance_to(step);
                input.flush();
                worker.step_while(|| probe.less_than(&step));
                let mut out: Vec<_> = seen.borrow().iter().map(|(_, u)| *u).collect();
                consolidate_updates(&mut out);
                after.push(out);
            }
            let width = BUCKET_SECONDS;
            let elsewhere = seen
                .borrow()
                .iter()
                .filter(|(sent, (_, t, _))| sent / width != t / width)
                .count();
            (after, elsewhere)
        })
    }

    #[test]
    fn later_buckets_wait_for_the_frontier_and_nothing_is_lost() {
        let w = BUCKET_SECONDS;
        let updates = vec![
            (1, 0, 1),
            (1, 3 * w + 5, -1),
            (2, 3 * w + 5, 1),
            (2, 3 * w + 5, 1),
            (3, 10 * w, 1),
            (3, 10 * w, -1),
            (4, w - 1, 1),
        ];
        let (after, elsewhere) = run(updates, vec![1, w, 3 * w, 4 * w, 11 * w]);
        assert_eq!(elsewhere, 0);
        // Through the first bucket: only its own updates.
        assert_eq!(after[0], vec![(1, 0, 1), (4, w - 1, 1)]);
        assert_eq!(after[1], after[0]);
        // The bucket of 3w is out once the frontier reaches 3w, consolidated.
        let third = vec![
            (1, 0, 1),
            (1, 3 * w + 5, -1),
            (2, 3 * w + 5, 2),
            (4, w - 1, 1),
        ];
        assert_eq!(after[2], third);
        assert_eq!(after[3], third);
        // Updates that cancel within a bucket add nothing.
        assert_eq!(after[4], third);
    }
}
