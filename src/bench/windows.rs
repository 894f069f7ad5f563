//! Memory held for windows, per million events.
//!
//! An event inside a `within D` window counts from its time until `ts + D`. The
//! event sources' operator ([`crate::dataflow`]'s `features`) folds the insertion
//! into the current time and holds the retraction, stamped with the future tick
//! `(ts + D) × TICKS_PER_SECOND`, in buckets of a minute until the frontier reaches its
//! bucket; atoms on `now` do the same through the temporal filter's hold operator and
//! then an arrangement's batcher. The event operator's buckets keep retractions as they
//! came (one pending record per event and windowed slot); the temporal filter's hold
//! consolidates equal (record, tick) pairs.
//!
//! To see what that costs, the same events are backfilled twice: once shifted so that
//! every event lies inside every window at the backfill's time, once shifted so that
//! none does. Users and scores are left out, so the two runs differ only in window
//! state. differential's logging counts the records held for later times (reported
//! by the hold operator, with their bytes, and by batchers) and in traces (arranged
//! current state). The process's resident memory is no measure here: memory the
//! allocator returns after earlier sections makes its growth meaningless.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use differential_dataflow::logging::{DifferentialEvent, DifferentialEventBuilder};
use serde::Serialize;
use timely::worker::Worker;

use crate::catalog::ir::Catalog;
use crate::data::{Dataset, EventRow};
use crate::dataflow::{Ids, Timing};
use crate::engine::backfill::load_backfill;
use crate::engine::batch::{BatchInput, OnError};
use crate::engine::cluster::{execute, Workers};
use crate::engine::gather::all_gather;
use crate::engine::segmentation::{InputsKept, Segmentation};
use crate::io::error::InputError;
use crate::io::load::{read_dataset_part, RowSink};
use crate::live::frontier::TICKS_PER_SECOND;
use crate::plan::Plan;

/// Records held by differential after a backfill.
#[derive(Copy, Clone, Debug, Default, Serialize)]
pub struct Held {
    /// Updates waiting for their (future) time: held for their bucket of time, or in
    /// a batcher.
    pub pending_records: i64,
    /// Bytes of those updates as reported (the hold operator reports them; 0.26's
    /// batchers report none).
    pub pending_bytes: i64,
    /// Updates in traces (arranged state).
    pub arranged_records: i64,
}

impl Held {
    fn add(&mut self, other: &Held) {
        self.pending_records += other.pending_records;
        self.pending_bytes += other.pending_bytes;
        self.arranged_records += other.arranged_records;
    }

    fn minus(&self, other: &Held) -> Held {
        Held {
            pending_records: self.pending_records - other.pending_records,
            pending_bytes: self.pending_bytes - other.pending_bytes,
            arranged_records: self.arranged_records - other.arranged_records,
        }
    }

    fn scaled(&self, factor: f64) -> Held {
        let scale = |x: i64| (x as f64 * factor).round() as i64;
        Held {
            pending_records: scale(self.pending_records),
            pending_bytes: scale(self.pending_bytes),
            arranged_records: scale(self.arranged_records),
        }
    }

    /// Counts a differential event: batchers (and the hold operator) report their
    /// records as they change; traces report batches added, merged and dropped.
    fn apply(&mut self, event: &DifferentialEvent) {
        match event {
            DifferentialEvent::Batcher(e) => {
                self.pending_records += e.records_diff as i64;
                self.pending_bytes += e.size_diff as i64;
            }
            DifferentialEvent::Batch(e) => self.arranged_records += e.length as i64,
            DifferentialEvent::Merge(e) => {
                if let Some(merged) = e.complete {
                    self.arranged_records += merged as i64 - (e.length1 + e.length2) as i64;
                }
            }
            DifferentialEvent::Drop(e) => self.arranged_records -= e.length as i64,
            _ => {}
        }
    }
}

/// What the window probe found.
#[derive(Clone, Debug, Serialize)]
pub struct WindowMemory {
    pub events: u64,
    pub shortest_window_seconds: u64,
    pub longest_window_seconds: u64,
    /// Every event inside every window.
    pub inside: Held,
    /// No event inside any window.
    pub outside: Held,
    /// `(inside - outside)` per million events.
    pub per_million_events: Held,
}

/// Backfills `events` inside and outside the catalog's windows at second `time` (no
/// earlier than any event); `None` when the catalog has no window.
pub fn probe(
    catalog: &Catalog,
    events: &[EventRow],
    time: u64,
    workers: Workers,
) -> anyhow::Result<Option<WindowMemory>> {
    let plan = Arc::new(Plan::new(catalog));
    let windows: Vec<u64> = plan
        .sources
        .iter()
        .filter_map(|source| source.selection().and_then(|s| s.within))
        .collect();
    let (Some(&shortest), Some(&longest)) = (windows.iter().min(), windows.iter().max()) else {
        return Ok(None);
    };
    let shifted = |ts: &dyn Fn(u64) -> u64| Dataset {
        events: events
            .iter()
            .map(|e| EventRow {
                ts: ts(e.ts),
                ..e.clone()
            })
            .collect(),
        ..Dataset::default()
    };
    // `time - ts` below the shortest window: inside every window at `time`.
    let inside = shifted(&|ts| time - (time - ts) % shortest);
    // At least the longest window before `time`: outside all of them.
    let outside = shifted(&|ts| ts.saturating_sub(longest));
    let inside = held(&plan, inside, time, workers.clone())?;
    let outside = held(&plan, outside, time, workers)?;
    let per_million = 1e6 / events.len().max(1) as f64;
    Ok(Some(WindowMemory {
        events: events.len() as u64,
        shortest_window_seconds: shortest,
        longest_window_seconds: longest,
        per_million_events: inside.minus(&outside).scaled(per_million),
        inside,
        outside,
    }))
}

/// Backfills `data` as of `time` and counts what differential holds once the
/// backfill is complete.
fn held(plan: &Arc<Plan>, data: Dataset, time: u64, workers: Workers) -> anyhow::Result<Held> {
    let plan = plan.clone();
    let input = Arc::new(AsOf { data, time });
    let outcomes = execute(workers, move |worker| {
        let held = watch(worker);
        let mut segmentation = Segmentation::build(
            worker,
            &plan,
            Timing::open(TICKS_PER_SECOND),
            Ids::Omitted,
            InputsKept::No,
        );
        let loaded = load_backfill(
            worker,
            &mut segmentation,
            Some(&*input),
            OnError::Stop,
            None,
        )?;
        let end = (loaded.time.unwrap_or(0) + 1) * TICKS_PER_SECOND;
        segmentation.complete_before(worker, end);
        if let Some(mut registry) = worker.log_register() {
            registry.flush();
        }
        // Every worker has completed before any drops its dataflows.
        all_gather(worker, ());
        let mine = *held.borrow();
        for dataflow in worker.installed_dataflows() {
            worker.drop_dataflow(dataflow);
        }
        Ok::<_, crate::engine::backfill::BackfillError>(mine)
    })?;
    let mut total = Held::default();
    for outcome in outcomes {
        total.add(&outcome?);
    }
    Ok(total)
}

/// Counts this worker's differential events from now on.
fn watch(worker: &mut Worker) -> Rc<RefCell<Held>> {
    let held = Rc::new(RefCell::new(Held::default()));
    let sink = held.clone();
    if let Some(mut registry) = worker.log_register() {
        registry.insert::<DifferentialEventBuilder, _>(
            "differential/arrange",
            move |_time, events| {
                let mut held = sink.borrow_mut();
                for (_, event) in events.iter().flatten() {
                    held.apply(event);
                }
            },
        );
    }
    held
}

/// A data set loaded as of a given time rather than its greatest `ts`.
struct AsOf {
    data: Dataset,
    time: u64,
}

impl BatchInput for AsOf {
    fn identity(&self) -> String {
        format!("{} events as of {}", self.data.events.len(), self.time)
    }
    fn max_ts(&self, index: usize, _parts: usize) -> Option<u64> {
        (index == 0).then_some(self.time)
    }
    fn read(&self, index: usize, parts: usize, sink: &mut dyn RowSink) -> Vec<InputError> {
        read_dataset_part(&self.data, index, parts, sink);
        Vec::new()
    }
}
