//! The updates a bench applies: recent events replayed at the live frontier.
//!
//! Each update is an event drawn at random from the recent events of the data (see
//! [`super::inputs::recent_events`]): an existing user, with a real kind, amount and
//! category, so it touches the same features and segments that live traffic would.
//! Its time is the current live second: the backfill's end plus the wall-clock seconds
//! since the live phase began, so event time passes as in a live run and windows
//! close while the bench runs.

use std::sync::Arc;
use std::time::Instant;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value as Json};

use crate::catalog::ir::Catalog;
use crate::data::EventRow;
use crate::dataflow::{user_key, Event, UserKey};
use crate::value::Value;

/// Draws events from a pool of templates, deterministically for a seed.
pub struct Workload {
    templates: Arc<Vec<EventRow>>,
    /// The templates as the dataflow takes them, keyed and built once: making each
    /// update from its row (hashing the id, building the event) would be a tenth of the
    /// feeding worker's time in batches, work that a live run does on its readers.
    keyed: Vec<(UserKey, Event)>,
    rng: ChaCha8Rng,
}

impl Workload {
    /// `templates` must not be empty.
    pub fn new(templates: Arc<Vec<EventRow>>, seed: u64) -> Workload {
        assert!(
            !templates.is_empty(),
            "a workload needs events to draw from"
        );
        let keyed = templates
            .iter()
            .map(|row| {
                let event = Event::new(row.ts, row.kind.clone(), row.fields.clone());
                (user_key(&row.user_id), event)
            })
            .collect();
        Workload {
            templates,
            keyed,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The index of the next template.
    fn draw(&mut self) -> usize {
        (self.rng.next_u64() % self.templates.len() as u64) as usize
    }

    /// A template event.
    pub fn row(&mut self) -> &EventRow {
        let index = self.draw();
        &self.templates[index]
    }

    /// The next `count` events of existing users, keyed as the dataflow keys them;
    /// their time is set when they are fed.
    ///
    /// The loops draw a round's events before timing it, as a live run's reading
    /// thread parses records ahead of the workers: building an event (a vector, and a
    /// shared text's reference count bumped per field) is a fifth of the feeding
    /// worker's time in batches, work that is not the dataflow's.
    pub fn events(&mut self, count: usize) -> Vec<(UserKey, Event)> {
        (0..count)
            .map(|_| {
                let index = self.draw();
                self.keyed[index].clone()
            })
            .collect()
    }

    /// A number below `bound` (pauses between probes).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.rng.next_u64() % bound.max(1)
    }
}

/// Event time during the live phase: one second per second of wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct LiveClock {
    first_second: u64,
    started: Instant,
}

impl LiveClock {
    /// A clock whose first second is `first_second`, starting now.
    pub fn start(first_second: u64) -> LiveClock {
        LiveClock {
            first_second,
            started: Instant::now(),
        }
    }

    /// The current live second.
    pub fn second(&self) -> u64 {
        self.first_second + self.started.elapsed().as_secs()
    }
}

/// `row` as a live JSON line (with its newline) for `user_id` at `ts`: the record
/// format of `segflow tail`'s followed files.
pub fn event_line(catalog: &Catalog, row: &EventRow, user_id: &str, ts: u64) -> String {
    let mut object = Map::new();
    object.insert("type".into(), Json::from("event"));
    object.insert("user_id".into(), Json::from(user_id));
    object.insert("ts".into(), Json::from(ts));
    object.insert("kind".into(), Json::from(&*row.kind));
    for (column, value) in catalog.events.iter().zip(&row.fields) {
        let json = match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::from(*b),
            // As text: a JSON number would be read back exactly too, but text keeps
            // the decimal's scale visible in the file.
            Value::Number(n) => Json::from(n.to_string()),
            Value::Float(x) => Json::from(x.get()),
            Value::Time(t) => Json::from(*t),
            Value::Text(t) => Json::from(&**t),
        };
        object.insert(column.name.clone(), json);
    }
    let mut line = Json::Object(object).to_string();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::check_sources;
    use crate::live::record::{LiveRecord, RecordParser};
    use crate::value::Text;

    #[test]
    fn event_lines_parse_back_to_the_same_event() {
        let catalog = check_sources(&[(
            "t.seg",
            "schema events(amount: number, category: text, at: time, gift: bool)
             segment s = exists(events)",
        )])
        .unwrap();
        let row = EventRow {
            user_id: "00042".into(),
            ts: 5,
            kind: Text::from("purchase"),
            fields: vec![
                Value::Number("12.50".parse().unwrap()),
                Value::Null,
                Value::Time(7),
                Value::Bool(true),
            ],
            event_id: None,
        };
        let line = event_line(&catalog, &row, "u\"1", 99);
        assert!(line.ends_with('\n'));
        let parsed = RecordParser::new(&catalog).parse(line.trim_end()).unwrap();
        let expected = EventRow {
            user_id: "u\"1".into(),
            ts: 99,
            ..row
        };
        assert_eq!(parsed, LiveRecord::Event(expected));
    }

    #[test]
    fn draws_are_deterministic_and_keyed_like_the_loader() {
        let templates: Vec<EventRow> = ["ann", "bob", "cy"]
            .iter()
            .map(|id| EventRow {
                user_id: id.to_string(),
                ts: 1,
                kind: Text::from("view"),
                fields: vec![],
                event_id: None,
            })
            .collect();
        let keys: Vec<UserKey> = templates.iter().map(|t| user_key(&t.user_id)).collect();
        let templates = Arc::new(templates);
        let mut a = Workload::new(templates.clone(), 3);
        let mut b = Workload::new(templates, 3);
        let drawn = a.events(20);
        assert_eq!(drawn, b.events(20));
        for (key, event) in drawn {
            assert!(keys.contains(&key));
            let row = event.into_row(String::new(), None);
            assert_eq!((row.ts, row.kind.as_ref()), (1, "view"));
        }
    }
}
