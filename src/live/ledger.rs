//! [`Ledger`]: what a live run's records have established, for checking retractions.
//!
//! A `retract_event` must match an earlier identical event of the same user (one that
//! the backfill or an earlier record brought, and that no other retraction took), or
//! the engine would subtract an event it never counted. That takes a map of every
//! event present, by fingerprint — a hash probe into millions of entries per record.
//! The ledger is kept by whoever parses the records in order: the reading thread in a
//! live run (`live::prefetch`), so that worker 0, which also feeds the dataflow and
//! does its share of the work, only applies them.
//!
//! A `model` record must switch to a version whose scores were read before it (see
//! [`ScoredVersions`]): the ledger notes the versions of the backfill's scores and of
//! every `score` record.
//!
//! A user's events are fingerprinted with the user's current key, which changes when
//! the id is erased (`delete_user`): the events of an erased user can no longer be
//! retracted. So the ledger counts each id's erasures, as the applying side does to
//! key its records (`engine::tail`); both see the same records in the same order.

use std::hash::{Hash, Hasher};

use rustc_hash::{FxHashMap, FxHasher};

use crate::data::EventRow;
use crate::dataflow::{user_key_in, Event, UserKey};
use crate::io::error::RowError;
use crate::io::scored::ScoredVersions;

use super::record::LiveRecord;

/// Every event present, by fingerprint, how many times each id was erased, and the
/// versions of each model's scores.
#[derive(Default)]
pub struct Ledger {
    events: FxHashMap<u64, u32>,
    erasures: FxHashMap<String, u64>,
    scored: ScoredVersions,
}

impl Ledger {
    /// A ledger of the backfill's events, by fingerprint ([`fingerprint`]), and of
    /// the versions of its scores.
    pub fn new(backfill: Vec<u64>, scored: ScoredVersions) -> Ledger {
        let mut events = FxHashMap::with_capacity_and_hasher(backfill.len(), Default::default());
        for print in backfill {
            *events.entry(print).or_insert(0) += 1;
        }
        Ledger {
            events,
            erasures: FxHashMap::default(),
            scored,
        }
    }

    /// Notes `record`, or refuses it: a retraction that matches no event present, a
    /// switch to a version without scores.
    pub fn admit(&mut self, record: &LiveRecord) -> Result<(), RowError> {
        match record {
            LiveRecord::Event(row) => *self.events.entry(self.print(row)).or_insert(0) += 1,
            LiveRecord::RetractEvent(row) => match self.events.get_mut(&self.print(row)) {
                Some(count) if *count > 0 => *count -= 1,
                _ => return Err(RowError::row("no earlier identical event to retract")),
            },
            LiveRecord::DeleteUser(id) => *self.erasures.entry(id.clone()).or_insert(0) += 1,
            LiveRecord::Score(row) => {
                if let Some(version) = &row.version {
                    self.scored.note(&row.model, version);
                }
            }
            LiveRecord::Model(row) => self.scored.check(&row.model, &row.version)?,
            LiveRecord::User(_) | LiveRecord::Clock(_) => {}
        }
        Ok(())
    }

    /// The fingerprint of an event row of the id's current incarnation.
    fn print(&self, row: &EventRow) -> u64 {
        let erasures = self.erasures.get(&row.user_id).copied().unwrap_or(0);
        let event = Event::new(row.ts, row.kind.clone(), row.fields.clone());
        let user = user_key_in(&row.user_id, erasures);
        fingerprint(user, &event, row.event_id.as_deref())
    }
}

/// The identity of an event, with its id at its source if it has one, for matching a
/// later `retract_event`.
pub fn fingerprint(user: UserKey, event: &Event, id: Option<&str>) -> u64 {
    let mut hasher = FxHasher::default();
    user.hash(&mut hasher);
    event.hash(&mut hasher);
    id.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn row(user: &str, ts: u64, amount: &str) -> EventRow {
        EventRow {
            user_id: user.into(),
            ts,
            kind: "purchase".into(),
            fields: vec![Value::Number(amount.parse().unwrap())],
            event_id: None,
        }
    }

    #[test]
    fn a_retraction_takes_one_earlier_identical_event_of_the_current_incarnation() {
        let backfilled = row("u1", 5, "10");
        let event = Event::new(5, "purchase".into(), backfilled.fields.clone());
        let mut ledger = Ledger::new(
            vec![fingerprint(user_key_in("u1", 0), &event, None)],
            ScoredVersions::default(),
        );
        let retract = |r: &EventRow| LiveRecord::RetractEvent(r.clone());
        // The backfill's event, once.
        assert_eq!(ledger.admit(&retract(&backfilled)), Ok(()));
        assert!(ledger.admit(&retract(&backfilled)).is_err());
        // Another amount, time or user is another event.
        let live = row("u1", 6, "10");
        assert!(ledger.admit(&retract(&live)).is_err());
        ledger.admit(&LiveRecord::Event(live.clone())).unwrap();
        ledger.admit(&LiveRecord::Event(live.clone())).unwrap();
        assert!(ledger.admit(&retract(&row("u2", 6, "10"))).is_err());
        assert_eq!(ledger.admit(&retract(&live)), Ok(()));
        // Erasing the user leaves its earlier events out of reach.
        ledger.admit(&LiveRecord::DeleteUser("u1".into())).unwrap();
        let refused = ledger.admit(&retract(&live)).unwrap_err();
        assert!(
            refused.reason.contains("no earlier identical event"),
            "{}",
            refused.reason
        );
        ledger.admit(&LiveRecord::Event(live.clone())).unwrap();
        assert_eq!(ledger.admit(&retract(&live)), Ok(()));
    }
}
