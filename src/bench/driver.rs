//! How worker 0 applies updates to the live run's dataflow in the bench: a
//! [`Driver`] feeds events at the live frontier and runs the dataflow until their
//! membership changes are out, in rounds shaped like `segflow tail`'s.

use timely::worker::Worker;

use crate::dataflow::{Event, ModelRecord, UserKey};
use crate::engine::segmentation::Segmentation;
use crate::live::frontier::{ClockKind, Frontier, TICKS_PER_SECOND};
use crate::value::Text;

use super::workload::LiveClock;

/// Worker 0's side: the dataflow's inputs, the live frontier and event time.
pub struct Driver {
    segmentation: Segmentation,
    frontier: Frontier,
    clock: LiveClock,
    /// The order of the switches of model versions fed, as a live run numbers them.
    switches: u64,
}

impl Driver {
    /// Live input after a backfill through second `backfill_time`, with the event
    /// clock and no allowed lateness (the defaults of `segflow tail`).
    pub fn new(segmentation: Segmentation, backfill_time: u64) -> Driver {
        let first = backfill_time + 1;
        Driver {
            segmentation,
            frontier: Frontier::new(
                ClockKind::Event,
                0,
                first * TICKS_PER_SECOND,
                Some(backfill_time),
            ),
            clock: LiveClock::start(first),
            switches: 0,
        }
    }

    /// Switches `model`'s active version to `version` at the current live second, and
    /// moves the frontier past it.
    pub fn switch(&mut self, model: Text, version: Text) {
        let ts = self.clock.second();
        let (at, _late) = self.frontier.effect(Some(ts));
        self.switches += 1;
        let record = ModelRecord {
            ts,
            seq: self.switches,
            version,
        };
        self.segmentation.model(model, record, at);
        self.frontier.admitted(at, Some(ts));
        self.frontier.set(at + 1);
    }

    /// Applies `events` at the current live second, each at its own tick, and moves the
    /// frontier past the last of them.
    ///
    /// The live run's frontier can stop short of an event's tick: a second that has run
    /// out of ticks keeps its last one open, and its changes wait for the clock. The
    /// bench moves the frontier past every update it applied, so that each round's
    /// latency covers all of its changes.
    pub fn feed(&mut self, events: impl IntoIterator<Item = (UserKey, Event)>) {
        let ts = self.clock.second();
        let mut last = self.frontier.now();
        for (user, mut event) in events {
            let (at, _late) = self.frontier.effect(Some(ts));
            event.ts = ts;
            self.segmentation.event(user, event, None, at, 1);
            self.frontier.admitted(at, Some(ts));
            last = at;
        }
        self.frontier.set(last + 1);
    }

    /// Runs the dataflow until every change before the frontier has reached worker 0;
    /// returns how many changes arrived.
    pub fn finish(&mut self, worker: &mut Worker) -> usize {
        let frontier = self.frontier.now();
        self.segmentation.advance(frontier);
        worker.step_while(|| !self.segmentation.is_complete_before(frontier));
        self.segmentation.take_changes().len()
    }
}
