//! What the bench reads besides the backfill: a parse-only pass (the parse side of the
//! backfill's split), recent events to draw updates from, and the whole data set in
//! memory for the reference evaluator.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::data::{Dataset, EventRow, ModelRow, ScoreRow, UserRow};
use crate::dataflow::{Event, ModelRecord, ScoreRecord, UserKey, UserRecord};
use crate::io::load::{DataFiles, RowSink, Rows};
use crate::value::Text;

/// Rows read, by input, and how long parsing them alone took.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ParsePass {
    pub users: u64,
    pub events: u64,
    pub scores: u64,
    pub bad_rows: u64,
    #[serde(skip)]
    pub elapsed: Duration,
}

/// Parses every file on `threads` threads, one part each as the backfill's workers
/// do, into a sink that only counts: what the backfill spends on parsing.
pub fn parse_pass(files: &DataFiles, threads: usize) -> ParsePass {
    let started = Instant::now();
    let parts: Vec<(Counting, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|index| {
                scope.spawn(move || {
                    let mut counting = Counting::default();
                    let bad = files.read_part(index, threads, &mut counting).len();
                    (counting, bad)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a parse thread panicked"))
            .collect()
    });
    let mut pass = ParsePass {
        elapsed: started.elapsed(),
        ..ParsePass::default()
    };
    for (counting, bad) in parts {
        pass.users += counting.users;
        pass.events += counting.events;
        pass.scores += counting.scores;
        pass.bad_rows += bad as u64;
    }
    pass
}

#[derive(Default)]
struct Counting {
    users: u64,
    events: u64,
    scores: u64,
}

impl RowSink for Counting {
    fn user(&mut self, _: UserKey, _: UserRecord) {
        self.users += 1;
    }
    fn event(&mut self, _: UserKey, _: Event, _: Option<Text>) {
        self.events += 1;
    }
    fn score(&mut self, _: UserKey, _: ScoreRecord) {
        self.scores += 1;
    }
    fn model(&mut self, _: Text, _: ModelRecord) {}
    fn name(&mut self, _: UserKey, _: String) {}
}

/// Bytes of `events.csv` per part when sampling recent events: about 100k rows of
/// `segflow gen` data, enough variety for any workload and quick to read.
const RECENT_BYTES: usize = 4 << 20;

/// The events of the last part of `events.csv` (about [`RECENT_BYTES`]; the whole file
/// when smaller): the most recent history when the file is in time order, as
/// `segflow gen` writes it. Live traffic looks like recent traffic: the users who are
/// active now, with their kinds, amounts and categories.
pub fn recent_events(files: &DataFiles) -> Vec<EventRow> {
    let bytes = files
        .sizes()
        .iter()
        .find(|(name, _)| *name == "events.csv")
        .map_or(0, |(_, size)| *size);
    let parts = (bytes / RECENT_BYTES).max(1);
    let mut rows = Rows::default();
    files.read_part(parts - 1, parts, &mut rows);
    into_dataset(rows).events
}

/// Every row of the files, in file order, as the reference evaluator reads them.
pub fn load_dataset(files: &DataFiles) -> Dataset {
    let mut rows = Rows::default();
    files.read_part(0, 1, &mut rows);
    into_dataset(rows)
}

/// Turns keyed rows back into rows with their user ids (users in file order, the
/// order in which a later row replaces an earlier one).
fn into_dataset(rows: Rows) -> Dataset {
    let Rows {
        mut users,
        events,
        scores,
        models,
        names,
    } = rows;
    let names: FxHashMap<UserKey, String> = names.into_iter().collect();
    let id = |key: &UserKey| names[key].clone();
    users.sort_by_key(|(_, record)| record.seq);
    Dataset {
        users: users
            .into_iter()
            .map(|(key, record)| UserRow {
                user_id: id(&key),
                ts: Some(record.ts).filter(|&ts| ts > 0),
                attrs: record.attrs,
            })
            .collect(),
        events: events
            .into_iter()
            .map(|(key, event, event_id)| event.into_row(id(&key), event_id))
            .collect(),
        scores: scores
            .into_iter()
            .map(|(key, record)| ScoreRow {
                user_id: id(&key),
                model: record.model,
                score: record.score,
                ts: record.ts,
                version: record.version,
            })
            .collect(),
        models: {
            let mut models = models;
            models.sort_by_key(|(_, record)| record.seq);
            (models.into_iter())
                .map(|(model, record)| ModelRow {
                    model,
                    version: record.version,
                    ts: record.ts,
                })
                .collect()
        },
    }
}
