//! Input records as read from CSV files or live input, before they enter a dataflow.
//!
//! User ids stay opaque strings here (`00042` is not `42`); the dataflow keys users by
//! a hash of the id (see [`crate::dataflow::user_key`]).

use rust_decimal::Decimal;

use crate::value::{Text, Value};

/// A row of `users.csv`: attribute values in the order of the catalog's `schema users`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    /// The user's id, an opaque string.
    pub user_id: String,
    /// When the row takes effect, in seconds (a `ts` column); `None`: from the start.
    /// A user's current row is the one with the greatest `ts`, then the last in file
    /// order.
    pub ts: Option<u64>,
    /// One value per column of [`Catalog::users`](crate::catalog::ir::Catalog::users),
    /// in that order; an empty cell is [`Value::Null`].
    pub attrs: Vec<Value>,
}

/// A row of `events.csv`: `fields` holds the declared event columns in the order of the
/// catalog's `schema events` (missing cells are [`Value::Null`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    /// Id of the user who did the event.
    pub user_id: String,
    /// Event time in seconds since the Unix epoch, at most
    /// [`MAX_TIME`](crate::value::MAX_TIME).
    pub ts: u64,
    /// The event kind, e.g. `purchase`.
    pub kind: Text,
    /// One value per column of
    /// [`Catalog::events`](crate::catalog::ir::Catalog::events), in that order.
    pub fields: Vec<Value>,
    /// The event's id at its source (an `event_id` column or field), if it has one:
    /// of a user's events with the same id, only one counts (see
    /// [`crate::dataflow::deduplicate`]).
    pub event_id: Option<Text>,
}

/// A row of `scores.csv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreRow {
    /// Id of the scored user.
    pub user_id: String,
    /// Name of the model, as `score('model')` refers to it.
    pub model: Text,
    /// The model's score of the user.
    pub score: Decimal,
    /// Time of the scoring in seconds since the Unix epoch; at `now`, the latest score
    /// with `ts <= now` is the user's.
    pub ts: u64,
    /// The version of the model that produced the score (a `version` column or
    /// field), if given: `score('m')` reads the model's active version (see
    /// [`ModelRow`]), `score('m', 'v3')` version `v3`.
    pub version: Option<Text>,
}

/// A row of `models.csv`: from `ts` on, `version` is the model's active version, the
/// one `score('model')` reads (until a later row of the model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRow {
    /// Name of the model, as `score('model')` refers to it.
    pub model: Text,
    /// The version that becomes active.
    pub version: Text,
    /// When it becomes active, in seconds since the Unix epoch.
    pub ts: u64,
}

/// Everything a batch run reads, in file order. Later `users` rows for the same id
/// replace earlier ones (users are upserts); events with the same `event_id` for the
/// same user count once, events without one and scores are never deduplicated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dataset {
    /// `users.csv` rows, in file order.
    pub users: Vec<UserRow>,
    /// `events.csv` rows, in file order.
    pub events: Vec<EventRow>,
    /// `scores.csv` rows, in file order.
    pub scores: Vec<ScoreRow>,
    /// `models.csv` rows, in file order: of rows with the same `ts`, the later wins.
    pub models: Vec<ModelRow>,
}

impl Dataset {
    /// The greatest event, score, models or users row time: the default `--as-of`.
    pub fn max_ts(&self) -> Option<u64> {
        let events = self.events.iter().map(|e| e.ts);
        let scores = self.scores.iter().map(|s| s.ts);
        let models = self.models.iter().map(|m| m.ts);
        let users = self.users.iter().filter_map(|u| u.ts);
        events.chain(scores).chain(models).chain(users).max()
    }
}
