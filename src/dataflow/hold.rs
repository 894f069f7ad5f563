//! Holding updates for later times until the frontier nears them.
//!
//! The event sources' operator produces a window's retraction as soon as its event
//! arrives, stamped with the tick at which the window closes (weeks ahead for
//! `within 30d`), and the temporal filter a `now` comparison's later flip. Left alone,
//! such updates wait in the batcher of the next arrangement, and differential's merge
//! batcher merges and scans *every* update it holds whenever its input frontier moves.
//! A live run moves the frontier every round, so with millions of open windows each
//! round would re-sort every retraction due in the coming months.
//!
//! This operator keeps updates for later buckets of [`BUCKET_SECONDS`] of event time
//! aside, in a map ordered by bucket, and passes a bucket on once the input frontier
//! reaches its start. A batcher downstream then holds at most about one bucket of
//! future updates, and a round costs what the current bucket holds, not what all
//! windows hold. The operator keeps a capability at the earliest bucket's start, so
//! frontiers downstream advance as they would without it. [`hold_future`] consolidates
//! its buckets as they grow ([`Keeping::Consolidated`]), as the batcher would: one
//! update per (record, time); the event sources' operator keeps its own as they came
//! ([`Keeping::AsTheyCame`]).
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
use timely::dataflow::Scope;
use timely::progress::frontier::AntichainRef;

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
    let scope = collection.inner.scope();
    collection
        .inner
        .unary_frontier(Pipeline, name, move |_capability, info| {
            let mut held = HeldBuckets::new(&scope, timing, info.global_id, Keeping::Consolidated);
            // A capability at the start of the earliest bucket, while any is held.
            let mut capability: Option<Capability<u64>> = None;
            move |(input, frontier), output| {
                input.for_each(|received, updates| {
                    let now = *received.least().expect("an input capability has a time");
                    let mut passed = Vec::new();
                    for update in updates.drain(..) {
                        if let Some(update) = held.hold(update, now) {
                            passed.push(update);
                        }
                    }
                    // A held bucket starts after `now`, so the capability can be
                    // delayed to it.
                    if let Some(start) = held.earliest() {
                        if capability.as_ref().is_none_or(|c| *c.time() > start) {
                            capability = Some(received.delayed(&start, 0));
                        }
                    }
                    if !passed.is_empty() {
                        output.session(&received).give_container(&mut passed);
                    }
                });
                for mut updates in held.release(frontier.frontier()) {
                    let capability = capability.as_ref().expect("held updates have a capability");
                    output.session(capability).give_container(&mut updates);
                }
                match held.earliest() {
                    Some(start) => {
                        if let Some(capability) = capability.as_mut() {
                            capability.downgrade(&start);
                        }
                    }
                    None => capability = None,
                }
                held.report();
            }
        })
        .as_collection()
}

/// How a bucket keeps its updates.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Keeping {
    /// Consolidated as the bucket grows: for updates that often meet (a temporal
    /// filter's flips, retracted and inserted again as a user's value changes).
    Consolidated,
    /// As they came: for updates that rarely meet and that the receiver folds anyway.
    /// Consolidating them would sort every update of a bucket for nothing.
    AsTheyCame,
}

/// Updates for later buckets of time, set aside by bucket, with what they hold
/// reported to differential's `differential/arrange` log as a batcher would.
pub struct HeldBuckets<D, R> {
    /// Logical time covered by one bucket.
    width: u64,
    keeping: Keeping,
    buckets: BTreeMap<u64, Bucket<D, R>>,
    /// What the buckets hold, and what was last reported to the log.
    footprint: Footprint,
    reported: Footprint,
    logger: Option<Logger>,
    operator: usize,
}

impl<D: Ord, R: Semigroup> HeldBuckets<D, R> {
    /// Buckets of [`BUCKET_SECONDS`] of event time, reported to `scope`'s log as
    /// operator `operator` (a global id).
    pub fn new<'scope>(
        scope: &Scope<'scope, u64>,
        timing: Timing,
        operator: usize,
        keeping: Keeping,
    ) -> Self {
        let logger = scope
            .worker()
            .logger_for::<DifferentialEventBuilder>("differential/arrange")
            .map(Into::into);
        HeldBuckets {
            width: BUCKET_SECONDS
                .saturating_mul(timing.ticks_per_second)
                .max(1),
            keeping,
            buckets: BTreeMap::new(),
            footprint: Footprint::default(),
            reported: Footprint::default(),
            logger,
            operator,
        }
    }

    /// Holds `update` when its time lies in a later bucket than `now`; gives it back
    /// otherwise.
    pub fn hold(&mut self, update: (D, u64, R), now: u64) -> Option<(D, u64, R)> {
        let bucket = update.1 / self.width;
        if bucket <= now / self.width {
            return Some(update);
        }
        // A live round's window ends fall on its second plus each window's length: the
        // longest window's bucket is the last one held, found without a search.
        let held = match self.buckets.last_entry() {
            Some(last) if *last.key() == bucket => last.into_mut(),
            _ => self.buckets.entry(bucket).or_default(),
        };
        let before = held.footprint();
        held.push(update, self.keeping);
        self.footprint = self.footprint.minus(&before).plus(&held.footprint());
        None
    }

    /// Takes out the updates of every bucket that `frontier` has reached, earliest
    /// bucket first, in chunks.
    pub fn release(&mut self, frontier: AntichainRef<u64>) -> Vec<Vec<(D, u64, R)>> {
        let mut released = Vec::new();
        while let Some(entry) = self.buckets.first_entry() {
            if frontier.less_than(&(*entry.key() * self.width)) {
                break;
            }
            let bucket = entry.remove();
            self.footprint = self.footprint.minus(&bucket.footprint());
            released.extend(bucket.chunks);
        }
        released
    }

    /// The start of the earliest bucket held.
    pub fn earliest(&self) -> Option<u64> {
        let first = self.buckets.first_key_value();
        first.map(|(bucket, _)| bucket * self.width)
    }

    /// Reports to the log how what is held changed since the last report.
    pub fn report(&mut self) {
        if let Some(logger) = &self.logger {
            if self.footprint != self.reported {
                logger.log(self.footprint.since(&self.reported, self.operator));
                self.reported = self.footprint;
            }
        }
    }
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

/// Updates held for one bucket of time, in chunks of [`CHUNK`]: a bucket of a busy
/// minute holds millions, and one vector of them would copy them all whenever it grew
/// (a pause of tens of milliseconds in the round that happened to grow it).
struct Bucket<D, R> {
    /// Full chunks, then the one being filled. The first grows as vectors do (a
    /// backfill spreads its windows' ends over many buckets that hold a few updates
    /// each); later ones are allocated whole.
    chunks: Vec<Vec<(D, u64, R)>>,
    len: usize,
    /// The length after the last consolidation.
    consolidated: usize,
}

/// Updates per chunk of a bucket.
const CHUNK: usize = 4096;

impl<D, R> Default for Bucket<D, R> {
    fn default() -> Self {
        Bucket {
            chunks: Vec::new(),
            len: 0,
            consolidated: 0,
        }
    }
}

impl<D, R> Bucket<D, R> {
    fn footprint(&self) -> Footprint {
        let size = std::mem::size_of::<(D, u64, R)>() as isize;
        let allocations = self.chunks.len() as isize;
        // Every chunk but the last is full, with room for `CHUNK` updates exactly (a
        // vector grown to a power of two has that much).
        let last = self.chunks.last().map_or(0, Vec::capacity) as isize;
        Footprint {
            records: self.len as isize,
            bytes: self.len as isize * size,
            capacity: ((allocations - 1).max(0) * CHUNK as isize + last) * size,
            allocations,
        }
    }

    /// Appends `updates` in chunks.
    fn extend(&mut self, updates: impl IntoIterator<Item = (D, u64, R)>) {
        for update in updates {
            match self.chunks.last_mut() {
                Some(chunk) if chunk.len() < CHUNK => chunk.push(update),
                Some(_) => {
                    let mut chunk = Vec::with_capacity(CHUNK);
                    chunk.push(update);
                    self.chunks.push(chunk);
                }
                None => self.chunks.push(vec![update]),
            }
            self.len += 1;
        }
    }
}

impl<D: Ord, R: Semigroup> Bucket<D, R> {
    fn push(&mut self, update: (D, u64, R), keeping: Keeping) {
        self.extend(std::iter::once(update));
        if keeping == Keeping::Consolidated
            && self.len >= MIN_CONSOLIDATE.max(GROWTH * self.consolidated)
        {
            let mut all = Vec::with_capacity(self.len);
            self.chunks.drain(..).for_each(|chunk| all.extend(chunk));
            consolidate_updates(&mut all);
            self.len = 0;
            self.extend(all);
            self.consolidated = self.len;
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

    #[test]
    fn a_bucket_keeps_every_update_in_full_chunks_either_way() {
        // Three and a half chunks of updates to 1000 records, some cancelling.
        let updates: Updates = (0..(7 * CHUNK / 2) as u64)
            .map(|i| ((i % 1000) as u32, 5, if i % 3 == 0 { -1 } else { 1 }))
            .collect();
        let mut expected = updates.clone();
        consolidate_updates(&mut expected);
        for keeping in [Keeping::Consolidated, Keeping::AsTheyCame] {
            let mut bucket = Bucket::default();
            for update in updates.clone() {
                bucket.push(update, keeping);
            }
            let (full, last) = bucket.chunks.split_at(bucket.chunks.len() - 1);
            assert!(full.iter().all(|chunk| chunk.len() == CHUNK), "{keeping:?}");
            assert!(!last[0].is_empty() && last[0].len() <= CHUNK, "{keeping:?}");
            assert_eq!(bucket.footprint().records, bucket.len as isize);
            let mut held: Updates = bucket.chunks.concat();
            assert_eq!(held.len(), bucket.len, "{keeping:?}");
            if keeping == Keeping::AsTheyCame {
                assert_eq!(held, updates);
            }
            consolidate_updates(&mut held);
            assert_eq!(held, expected, "{keeping:?}");
        }
    }
}
