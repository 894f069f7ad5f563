//! Feeding parsed rows into a dataflow while it runs: shared by batch runs and the
//! backfill of live runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use timely::worker::Worker;

use crate::dataflow::{Event, ModelRecord, ScoreRecord, UserKey, UserRecord};
use crate::io::load::RowSink;
use crate::value::Text;

use super::segmentation::Feed;

/// Rows read, by input.
#[derive(Copy, Clone, Debug, Default, Serialize, Deserialize)]
pub struct Counts {
    pub users: u64,
    pub events: u64,
    pub scores: u64,
    pub models: u64,
}

impl Counts {
    pub fn plus(&self, other: &Counts) -> Counts {
        Counts {
            users: self.users + other.users,
            events: self.events + other.events,
            scores: self.scores + other.scores,
            models: self.models + other.models,
        }
    }
}

/// Rows loaded so far by the workers of this process, for a progress bar.
#[derive(Debug, Default)]
pub struct Progress {
    /// Rows loaded so far; counted in steps of 16,384 per worker, so it lags a little.
    pub rows: AtomicU64,
    /// Set when every worker of this process has loaded its part.
    pub done: AtomicBool,
}

/// Feeds rows as they are parsed and keeps the worker stepping, so parsed rows flow
/// into the dataflow's batchers instead of piling up in memory.
pub struct Loading<'a, 'w> {
    pub feed: Feed<'a>,
    pub worker: &'w mut Worker,
    pub counts: Counts,
    pub progress: Option<Arc<Progress>>,
}

impl Loading<'_, '_> {
    /// Rows between two steps of the worker.
    const STEP_EVERY: u64 = 1 << 18;
    /// Rows between two progress reports.
    const REPORT_EVERY: u64 = 1 << 14;

    fn tick(&mut self) {
        let rows = self.counts.users + self.counts.events + self.counts.scores + self.counts.models;
        if rows.is_multiple_of(Self::REPORT_EVERY) {
            if let Some(progress) = &self.progress {
                progress
                    .rows
                    .fetch_add(Self::REPORT_EVERY, Ordering::Relaxed);
            }
            if rows.is_multiple_of(Self::STEP_EVERY) {
                self.worker.step();
            }
        }
    }
}

impl RowSink for Loading<'_, '_> {
    fn user(&mut self, user: UserKey, record: UserRecord) {
        self.feed.user(user, record);
        self.counts.users += 1;
        self.tick();
    }
    fn event(&mut self, user: UserKey, event: Event, id: Option<Text>) {
        self.feed.event(user, event, id);
        self.counts.events += 1;
        self.tick();
    }
    fn score(&mut self, user: UserKey, record: ScoreRecord) {
        self.feed.score(user, record);
        self.counts.scores += 1;
        self.tick();
    }
    fn model(&mut self, model: Text, record: ModelRecord) {
        self.feed.model(model, record);
        self.counts.models += 1;
        self.tick();
    }
    fn name(&mut self, user: UserKey, id: String) {
        self.feed.name(user, id);
    }
}
