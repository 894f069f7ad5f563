//! Input records as read from CSV files or live input, before they enter a dataflow.
//!
//! User ids stay opaque strings here (`00042` is not `42`); the dataflow keys users by
//! a hash of the id (see [`crate::dataflow::user_key`]).

use rust_decimal::Decimal;

use crate::value::{Text, Value};

/// A row of `users.csv`: attribute values in the order of the catalog's `schema users`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub user_id: String,
    pub attrs: Vec<Value>,
}

/// A row of `events.csv`: `fields` holds the declared event columns in the order of the
/// catalog's `schema events` (missing cells are [`Value::Null`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    pub user_id: String,
    pub ts: u64,
    pub kind: Text,
    pub fields: Vec<Value>,
}

/// A row of `scores.csv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreRow {
    pub user_id: String,
    pub model: Text,
    pub score: Decimal,
    pub ts: u64,
}

/// Everything a batch run reads, in file order. Later `users` rows for the same id
/// replace earlier ones (users are upserts); events and scores are never deduplicated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dataset {
    pub users: Vec<UserRow>,
    pub events: Vec<EventRow>,
    pub scores: Vec<ScoreRow>,
}

impl Dataset {
    /// The greatest event or score time: the default `--as-of`.
    pub fn max_ts(&self) -> Option<u64> {
        let events = self.events.iter().map(|e| e.ts);
        let scores = self.scores.iter().map(|s| s.ts);
        events.chain(scores).max()
    }
}
