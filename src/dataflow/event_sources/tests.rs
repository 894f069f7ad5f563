//! The event sources' operator against a from-scratch evaluation ([`crate::reference`]):
//! random events fed in rounds, some ahead of their time, some retracted, with a time's
//! contributions always listed, always folded and folded at the operator's threshold,
//! and at a batch run's horizon (where values slots keep only what their plan says).

use std::collections::BTreeSet;

use differential_dataflow::collection::concatenate;
use differential_dataflow::VecCollection;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use crate::catalog::check_sources;
use crate::catalog::ir::{AggFunc, Aggregate, Catalog, ValueExpr};
use crate::data::{Dataset, EventRow};
use crate::plan::{Keep, Plan, Read};
use crate::reference::Snapshot;
use crate::value::{Text, Value};

use super::super::facts::Fact;
use super::super::records::{user_key, Event, UserKey};
use super::super::rounds::{outputs_after_rounds, Rounds};
use super::super::timing::Timing;
use super::{event_sources_folding_at, FOLD_AT};

/// Every family and aggregate; sources shared by several aggregates and read by one
/// extreme alone; windows; atoms decided by readers, by temporal filters (rows) and in
/// the reduce (passed-on operands).
const CATALOG: &str = "
schema events(amount: number, category: text)
feature n         = count(events)
feature n_buy     = count(events where kind = 'buy' within 3s)
feature total     = sum(events.amount where kind = 'buy')
feature mean      = avg(events.amount within 4s)
feature lo        = min(events.amount)
feature hi        = max(events.amount)
feature mid       = median(events.amount)
feature cats      = count_distinct(events.category within 5s)
feature last      = max(events.ts)
feature first_buy = min(events.ts where kind = 'buy')
segment s1 = n > 2
segment s2 = n_buy >= 1
segment s3 = total > 10
segment s4 = mean < 3
segment s5 = lo <= 2 and hi >= 4
segment s6 = mid > 2.5
segment s7 = cats >= 2
segment s8 = last > now - 2s
segment s9 = first_buy < now - 1s
segment s10 = mid > total
";

/// One output update of the operator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Out {
    Known(UserKey),
    Fact(UserKey, Fact),
    Row(u32, UserKey, Value),
}

fn catalog() -> Catalog {
    check_sources(&[("test.seg", CATALOG)]).expect("the test catalog checks")
}

/// An event of user `u{user}` at `ts`.
fn event(user: u8, ts: u64, buy: bool, amount: Option<i8>, category: Option<u8>) -> EventRow {
    EventRow {
        user_id: format!("u{user}"),
        ts,
        kind: Text::from(if buy { "buy" } else { "view" }),
        fields: vec![
            amount.map_or(Value::Null, |a| Value::Number(a.into())),
            category.map_or(Value::Null, |c| Value::Text(Text::from(format!("c{c}")))),
        ],
        event_id: None,
    }
}

fn keyed(row: &EventRow) -> (UserKey, Event) {
    let event = Event::new(row.ts, row.kind.clone(), row.fields.clone());
    (user_key(&row.user_id), event)
}

/// What the operator must hold at `now` for the events visible then (`data`).
fn expected(catalog: &Catalog, plan: &Plan, data: &Dataset, now: u64) -> Vec<Out> {
    let snapshot = Snapshot::new(catalog, data, now);
    let users: BTreeSet<&str> = data.events.iter().map(|e| e.user_id.as_str()).collect();
    let mut out = Vec::new();
    for user in users {
        let key = user_key(user);
        out.push(Out::Known(key));
        for slot in &plan.physical.slots {
            for reader in &plan.physical.readers[slot.source] {
                let (expr, has_row) = operand_expr(catalog, plan, reader.operand, &snapshot, user);
                let value = snapshot.value(&expr, user);
                for &(atom, default) in &reader.atoms {
                    let atom_value = std::slice::from_ref(&value);
                    if plan.atoms[atom].evaluate(atom_value, 0) != default {
                        out.push(Out::Fact(key, Fact::Exception(atom as u32)));
                    }
                }
                if reader.passed_on && has_row && !value.is_null() {
                    let operand = reader.operand as u32;
                    out.push(Out::Fact(key, Fact::Operand { operand, value }));
                }
            }
            for &operand in &slot.rows {
                let (expr, has_row) = operand_expr(catalog, plan, operand, &snapshot, user);
                let value = snapshot.value(&expr, user);
                if has_row && !value.is_null() {
                    out.push(Out::Row(operand as u32, key, value));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The feature expression of an operand, and whether the user has a row of its source
/// (an event its selection admits).
fn operand_expr(
    catalog: &Catalog,
    plan: &Plan,
    operand: usize,
    snapshot: &Snapshot,
    user: &str,
) -> (ValueExpr, bool) {
    let name = &plan.feature_names[&operand][0];
    let feature = catalog.features.iter().find(|f| &f.name == name).unwrap();
    let ValueExpr::Agg(agg) = &feature.expr else {
        panic!("the test catalog's features are aggregates")
    };
    let admitted = ValueExpr::Agg(Aggregate {
        func: AggFunc::Count,
        ..agg.clone()
    });
    let has_row = snapshot.value(&admitted, user) != Value::Number(0.into());
    (feature.expr.clone(), has_row)
}

/// Runs the operator over `rounds` and returns what it holds after each.
fn run(rounds: Rounds<(UserKey, Event)>, timing: Timing, fold_at: usize) -> Vec<Vec<Out>> {
    outputs_after_rounds(rounds, move |events: VecCollection<'_, u64, _>| {
        let plan = Plan::new(&catalog());
        let out = event_sources_folding_at(events, &plan, timing, fold_at);
        let scope = out.known.scope();
        concatenate(
            scope,
            [
                out.known.map(Out::Known),
                out.facts.map(|(user, fact)| Out::Fact(user, fact)),
                (out.rows).map(|((operand, user), value)| Out::Row(operand, user, value)),
            ],
        )
    })
}

/// A random event: `(user, ts back from the feed time, buy, amount, category, delay)`.
type Drawn = (u8, u64, bool, Option<i8>, Option<u8>, u8);

/// Random events.
fn events() -> impl Strategy<Value = Vec<Drawn>> {
    let one = (
        0u8..4,
        0u64..4,
        any::<bool>(),
        prop::option::of(-2i8..7),
        prop::option::of(0u8..3),
        0u8..3,
    );
    prop::collection::vec(one, 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Live rounds: events fed at their round plus a delay (never before their `ts`),
    /// some retracted in a later round; after every round the operator holds exactly
    /// the facts, rows and known users of the events fed by then.
    #[test]
    fn live_rounds_match_a_from_scratch_evaluation(
        rounds in prop::collection::vec((events(), prop::collection::vec(any::<prop::sample::Index>(), 0..2)), 1..9),
    ) {
        let catalog = catalog();
        let plan = Plan::new(&catalog);
        // Every event fed so far, with the time it takes effect.
        let mut fed: Vec<(EventRow, u64)> = Vec::new();
        let mut inputs = Vec::new();
        let mut data_after = Vec::new();
        for (round, (new, retract)) in rounds.iter().enumerate() {
            let round = round as u64;
            let mut updates = Vec::new();
            for &(user, back, buy, amount, category, delay) in new {
                let at = round + u64::from(delay);
                let row = event(user, at.saturating_sub(back), buy, amount, category);
                updates.push((keyed(&row), delay, 1));
                fed.push((row, at));
            }
            // Retract events already in effect.
            for index in retract {
                let live: Vec<usize> = (0..fed.len()).filter(|&i| fed[i].1 <= round).collect();
                if !live.is_empty() {
                    let (row, _) = fed.remove(live[index.index(live.len())]);
                    updates.push((keyed(&row), 0, -1));
                }
            }
            inputs.push(updates);
            let visible = fed.iter().filter(|(_, at)| *at <= round);
            let data = Dataset {
                events: visible.map(|(row, _)| row.clone()).collect(),
                ..Dataset::default()
            };
            data_after.push(expected(&catalog, &plan, &data, round));
        }
        for fold_at in [0, FOLD_AT, usize::MAX] {
            let outputs = run(inputs.clone(), Timing::open(1), fold_at);
            prop_assert_eq!(&outputs, &data_after, "fold_at {}", fold_at);
        }
    }

    /// A batch run: every event inserted at the horizon, where values slots read by one
    /// extreme alone keep only it.
    #[test]
    fn a_batch_time_matches_a_from_scratch_evaluation(
        batch in prop::collection::vec(events(), 1..4),
    ) {
        let catalog = catalog();
        let plan = Plan::new(&catalog);
        let horizon = 5;
        let rows: Vec<EventRow> = (batch.iter().flatten())
            .map(|&(user, back, buy, amount, category, _)| {
                event(user, horizon - back, buy, amount, category)
            })
            .collect();
        let mut rounds: Rounds<(UserKey, Event)> = vec![Vec::new(); horizon as usize];
        rounds.push(rows.iter().map(|row| (keyed(row), 0, 1)).collect());
        let data = Dataset { events: rows, ..Dataset::default() };
        let expected = expected(&catalog, &plan, &data, horizon);
        for fold_at in [0, usize::MAX] {
            let outputs = run(rounds.clone(), Timing { ticks_per_second: 1, horizon: Some(horizon) }, fold_at);
            prop_assert_eq!(outputs.last().unwrap(), &expected, "fold_at {}", fold_at);
        }
    }
}

/// The plan this test relies on: one values slot shared by `min`, `max` and `median`
/// keeps every value; `max(events.ts)` keeps the greatest, `min(events.ts ...)` the
/// least; both time features come out as rows; `mid > total` passes both on.
#[test]
fn the_test_catalog_covers_every_choice_of_the_plan() {
    let plan = Plan::new(&catalog());
    let slots = &plan.physical.slots;
    let keeps: Vec<Keep> = slots.iter().map(|slot| slot.keep).collect();
    assert!(keeps.contains(&Keep::Greatest) && keeps.contains(&Keep::Least));
    assert!(slots
        .iter()
        .any(|slot| slot.reads.len() == 3 && slot.keep == Keep::Every));
    assert_eq!(slots.iter().map(|slot| slot.rows.len()).sum::<usize>(), 2);
    let passed_on = plan
        .physical
        .readers
        .iter()
        .flatten()
        .filter(|r| r.passed_on);
    assert_eq!(passed_on.count(), 2);
    assert!(plan
        .operands
        .iter()
        .all(|o| matches!(o.read, Read::Aggregate(_))));
}
