//! Records as they flow through the dataflow, keyed by [`UserKey`].

use std::borrow::Cow;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::catalog::ir::{EventField, EventOperand, EventPred};
use crate::data::EventRow;
use crate::value::{CmpOp, Text, Value};

/// Users are keyed by a 64-bit hash of their opaque id string.
///
/// Hashing (rather than interning to dense integers) needs no coordination between
/// workers or processes that read different parts of the input, and keeps keys small
/// and cheap to sort. The id strings travel separately (the dictionary collection) and
/// are joined back only for output; a hash collision between two distinct ids is
/// detected there and reported as an error, never silently merged.
pub type UserKey = u64;

/// The key of a user id.
pub fn user_key(user_id: &str) -> UserKey {
    xxh3_64(user_id.as_bytes())
}

/// The key of a user id after it has been erased `incarnation` times: each erasure
/// starts the id over under a fresh key (incarnation 0 is [`user_key`]).
///
/// The hashed bytes are the id, a 0xFF byte and the incarnation: 0xFF never occurs in
/// UTF-8, so these byte strings differ from every id and from each other. (Seeding
/// the hash instead is not enough: for ids of a few bytes XXH3 mixes the seed in
/// linearly, and `u01` seeded with 1 met `u06` unseeded.)
pub fn user_key_in(user_id: &str, incarnation: u64) -> UserKey {
    if incarnation == 0 {
        return user_key(user_id);
    }
    let mut bytes = Vec::with_capacity(user_id.len() + 9);
    bytes.extend_from_slice(user_id.as_bytes());
    bytes.push(0xFF);
    bytes.extend_from_slice(&incarnation.to_le_bytes());
    xxh3_64(&bytes)
}

/// One event: its time, and its `kind` followed by the catalog's declared event
/// columns in schema order (the kind is stored as a value so that `where` clauses
/// read every field by reference).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Event {
    /// Event time in seconds since the Unix epoch.
    pub ts: u64,
    values: Vec<Value>,
}

impl Event {
    /// An event of `kind` at `ts`, with `fields` the declared columns' values.
    pub fn new(ts: u64, kind: Text, mut fields: Vec<Value>) -> Event {
        fields.insert(0, Value::Text(kind));
        Event { ts, values: fields }
    }

    /// The event as an input row of `user_id` with id `event_id`: the inverse of
    /// [`Event::new`], for tools that hand parsed events back to row-based code (the
    /// reference evaluator, live JSON lines).
    pub fn into_row(self, user_id: String, event_id: Option<Text>) -> EventRow {
        let mut values = self.values.into_iter();
        let kind = match values.next() {
            Some(Value::Text(kind)) => kind,
            other => unreachable!("an event's first value is its kind, not {other:?}"),
        };
        EventRow {
            user_id,
            ts: self.ts,
            kind,
            fields: values.collect(),
            event_id,
        }
    }

    /// The value of a field of this event.
    pub fn field(&self, field: EventField) -> Cow<'_, Value> {
        match field {
            EventField::Ts => Cow::Owned(Value::Time(self.ts as i64)),
            EventField::Kind => Cow::Borrowed(&self.values[0]),
            EventField::Column(i) => Cow::Borrowed(&self.values[i + 1]),
        }
    }

    fn operand<'a>(&'a self, operand: &'a EventOperand) -> Cow<'a, Value> {
        match operand {
            EventOperand::Field(f) => self.field(*f),
            EventOperand::Const(v) => Cow::Borrowed(v),
        }
    }

    /// Whether this event satisfies an aggregate's `where` clause.
    pub fn matches(&self, pred: &EventPred) -> bool {
        match pred {
            EventPred::Const(b) => *b,
            EventPred::Cmp(l, op, r) => op.apply(&self.operand(l), &self.operand(r)),
            EventPred::In {
                operand: o,
                list,
                negated,
            } => {
                let v = self.operand(o);
                !v.is_null() && list.iter().any(|x| CmpOp::Eq.apply(&v, x)) != *negated
            }
            EventPred::And(l, r) => self.matches(l) && self.matches(r),
            EventPred::Or(l, r) => self.matches(l) || self.matches(r),
            EventPred::Not(p) => !self.matches(p),
        }
    }
}

/// One `users` row. Of the rows in effect, the greatest `(ts, seq)` is the user's
/// current one: users are upserts, ordered by time and then by position.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserRecord {
    /// When the row takes effect, in seconds (0 for a row without a time).
    pub ts: u64,
    /// Position in the input: the row's byte offset in its file (its index for
    /// in-memory data); live rows count up from 2^63, after every file row.
    pub seq: u64,
    /// One value per column of [`Catalog::users`](crate::catalog::ir::Catalog::users),
    /// in that order.
    pub attrs: Vec<Value>,
}

/// One model score. Ordered so that the greatest record is the current one: the latest
/// `ts`, ties broken by the greater score.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ScoreRecord {
    /// Name of the model, as `score('model')` refers to it.
    pub model: Text,
    /// Time of the scoring in seconds since the Unix epoch.
    pub ts: u64,
    /// The model's score of the user.
    pub score: Decimal,
    /// The model's version that produced it, if given.
    pub version: Option<Text>,
}

/// A switch of a model's active version, as a `models.csv` row or a live `model`
/// record: of a model's records in effect, the greatest `(ts, seq)` names the active
/// version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ModelRecord {
    /// When the version becomes active, in seconds since the Unix epoch.
    pub ts: u64,
    /// Orders the records of one `ts` as they were read (a byte offset in
    /// `models.csv`, a sequence number after them in live runs).
    pub seq: u64,
    /// The version that becomes active.
    pub version: Text,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_incarnation_is_the_plain_key_and_later_ones_differ() {
        assert_eq!(user_key_in("u1", 0), user_key("u1"));
        assert_ne!(user_key_in("u1", 1), user_key("u1"));
        assert_ne!(user_key_in("u1", 1), user_key_in("u1", 2));
        // Short ids, whose hashes would meet if the incarnation only seeded the hash.
        let keys: std::collections::HashSet<UserKey> = (0..100)
            .flat_map(|i| (0..3).map(move |k| user_key_in(&format!("u{i:02}"), k)))
            .collect();
        assert_eq!(keys.len(), 300);
    }
}
