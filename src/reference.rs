//! The reference evaluator: the oracle the dataflow engine is tested against.
//!
//! [`evaluate`] answers "who is in segment S at logical time `now`" from scratch, in plain
//! Rust, by reading the whole [`Dataset`] and applying the language's rules (README, "Semantics")
//! literally. It is deliberately naive: no incremental state, no sharing of common
//! sub-expressions, no temporal-filter tricks, no clever data structures — every
//! feature is recomputed by a straight loop over the user's rows each time it is asked
//! for, and a segment reference simply re-evaluates the referenced predicate. Its only
//! job is to be obviously correct, so that a disagreement with the differential
//! dataflow engine points at the engine. Do not optimise it in ways that make a rule
//! harder to check against the spec.
//!
//! # Rules, and the places where the spec left a choice
//! - **Visibility at `now`**: `users` rows without a `ts` or with `ts <= now` (of those,
//!   the greatest `ts` wins, then the last in file order: users are upserts), events
//!   with `ts <= now`, scores with `ts <= now`.
//! - **Event ids**: of a user's visible events with the same `event_id`, only the least
//!   by `(ts, kind, fields)` counts (the first in file order among equal ones).
//! - **Universe**: every user id with a users row, a visible event or a visible score.
//! - **Windows**: `within D` keeps `now - D < ts <= now`, computed in `i128` so that
//!   `now < D` cannot underflow.
//! - **Times**: `now + offset` and an event's `ts` become [`Value::Time`] (`i64`); values
//!   outside the `i64` range saturate at its bounds.
//! - **Sums**: `sum` adds with [`Decimal::saturating_add`] in data-file order, and `avg`
//!   divides that sum by the count. Within the `Decimal` range (about ±7.9·10²⁸) the sum
//!   is exact and independent of order; beyond it the result saturates, and saturated
//!   sums are outside what the engine is compared on.
//! - **`min`/`max`**: ordered by [`Value::compare`]; among equal values (`1.0` and
//!   `1.00`) the first in data-file order is returned.
//! - **`count_distinct`**: distinct by [`Value`] equality, which compares decimals
//!   numerically (`1.0` equals `1.00`).
//! - **Segment references** are re-evaluated recursively (the checker rejects cycles).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use crate::arith;
use crate::catalog::ir::{
    AggFunc, Aggregate, Catalog, EventField, EventOperand, EventPred, Pred, ScoreVersion, ValueExpr,
};
use crate::data::{Dataset, EventRow, ScoreRow, UserRow};
use crate::value::{self, Text, Value};

/// Members of every segment at logical time `now`: segment name -> sorted user ids.
///
/// Every segment of the catalog appears as a key, possibly with an empty set.
///
/// # Panics
/// If the catalog breaks what the checker guarantees: an index out of range, a `sum` or
/// `avg` over a non-number field, an aggregate other than `count` without a field (and a
/// cycle between segments recurses without end).
pub fn evaluate(catalog: &Catalog, data: &Dataset, now: u64) -> BTreeMap<String, BTreeSet<String>> {
    let snapshot = Snapshot::new(catalog, data, now);
    let mut result = BTreeMap::new();
    for segment in &catalog.segments {
        // A segment's members are the users of the universe for which its predicate holds.
        let mut members = BTreeSet::new();
        for user in snapshot.universe() {
            if snapshot.holds(&segment.pred, user) {
                members.insert(user.to_string());
            }
        }
        result.insert(segment.name.clone(), members);
    }
    result
}

/// Everything visible at one logical time, grouped by user id.
///
/// Use [`evaluate`] for segment memberships; a `Snapshot` also answers the value of a
/// single feature expression ([`Snapshot::value`]) or predicate ([`Snapshot::holds`])
/// for one user, which helps tests pinpoint a disagreement.
#[derive(Debug)]
pub struct Snapshot<'a> {
    catalog: &'a Catalog,
    now: u64,
    /// The current `users` row of each user: the last one in file order.
    users: BTreeMap<&'a str, &'a UserRow>,
    /// Each user's events with `ts <= now`, in file order.
    events: BTreeMap<&'a str, Vec<&'a EventRow>>,
    /// Each user's scores with `ts <= now`, in file order.
    scores: BTreeMap<&'a str, Vec<&'a ScoreRow>>,
    /// Each model's active version at `now`, for models with one.
    active: BTreeMap<&'a str, &'a str>,
    /// Every user known at `now`.
    universe: BTreeSet<&'a str>,
}

impl<'a> Snapshot<'a> {
    /// Collects what is visible at `now`.
    pub fn new(catalog: &'a Catalog, data: &'a Dataset, now: u64) -> Snapshot<'a> {
        // Users are upserts: of the rows in effect, the latest `ts` (none counts as 0)
        // wins, then the last in file order.
        let mut users: BTreeMap<&str, &UserRow> = BTreeMap::new();
        for row in data
            .users
            .iter()
            .filter(|row| row.ts.is_none_or(|ts| ts <= now))
        {
            let ts = |row: &UserRow| row.ts.unwrap_or(0);
            let current = users.entry(row.user_id.as_str()).or_insert(row);
            if ts(row) >= ts(current) {
                *current = row;
            }
        }

        // Events and scores after `now` have not happened yet. Of the visible events
        // with one user and `event_id`, the least by content counts.
        let content = |row: &EventRow| (row.ts, row.kind.clone(), row.fields.clone());
        let mut counted: BTreeMap<(&str, &str), &EventRow> = BTreeMap::new();
        for row in data.events.iter().filter(|row| row.ts <= now) {
            if let Some(id) = &row.event_id {
                let least = counted.entry((row.user_id.as_str(), id)).or_insert(row);
                if content(row) < content(least) {
                    *least = row;
                }
            }
        }
        let mut events: BTreeMap<&str, Vec<&EventRow>> = BTreeMap::new();
        for row in &data.events {
            let counts = match &row.event_id {
                None => row.ts <= now,
                Some(id) => counted
                    .get(&(row.user_id.as_str(), &**id))
                    .is_some_and(|least| std::ptr::eq(*least, row)),
            };
            if counts {
                events.entry(row.user_id.as_str()).or_default().push(row);
            }
        }
        // A model's active version: of its rows with `ts <= now`, the latest, then the
        // last in file order.
        let mut active: BTreeMap<&str, (u64, &str)> = BTreeMap::new();
        for row in data.models.iter().filter(|row| row.ts <= now) {
            let current = active.entry(&row.model).or_insert((row.ts, &row.version));
            if row.ts >= current.0 {
                *current = (row.ts, &row.version);
            }
        }
        let active = active.into_iter().map(|(m, (_, v))| (m, v)).collect();
        let mut scores: BTreeMap<&str, Vec<&ScoreRow>> = BTreeMap::new();
        for row in &data.scores {
            if row.ts <= now {
                scores.entry(row.user_id.as_str()).or_default().push(row);
            }
        }

        // The universe: users with a users row, or any visible event or score.
        let mut universe = BTreeSet::new();
        universe.extend(users.keys().copied());
        universe.extend(events.keys().copied());
        universe.extend(scores.keys().copied());

        Snapshot {
            catalog,
            now,
            users,
            events,
            scores,
            active,
            universe,
        }
    }

    /// Every user known at `now`, in sorted order.
    pub fn universe(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.universe.iter().copied()
    }

    /// The value of `expr` for `user` at `now`.
    pub fn value(&self, expr: &ValueExpr, user: &str) -> Value {
        match expr {
            ValueExpr::Const(v) => v.clone(),
            ValueExpr::Now(offset) => now_plus(self.now, *offset),
            // An attribute of a user without a users row is missing.
            ValueExpr::Attr(i) => match self.users.get(user) {
                Some(row) => row.attrs[*i].clone(),
                None => Value::Null,
            },
            ValueExpr::Score(model, version) => self.score(model, version, user),
            ValueExpr::Agg(aggregate) => self.aggregate(aggregate, user),
            ValueExpr::DaysSince(x) => arith::days_since(&self.value(x, user), self.now as i64),
            // Arithmetic and functions over the values above.
            ValueExpr::Neg(_)
            | ValueExpr::Arith(..)
            | ValueExpr::Func(..)
            | ValueExpr::If(..)
            | ValueExpr::Truth(_)
            | ValueExpr::Approx(_) => expr.compute(&|leaf| self.value(leaf, user), &|cond| {
                self.holds(cond, user)
            }),
        }
    }

    /// `score('model')`: the visible score of that model's active version (of any
    /// version while it has none), or `score('model', 'v')`: of version `v`, with the
    /// greatest `ts` (ties: the greater score); missing when the user has none.
    fn score(&self, model: &str, version: &ScoreVersion, user: &str) -> Value {
        let version = match version {
            ScoreVersion::Active => self.active.get(model).copied(),
            ScoreVersion::Fixed(version) => Some(&**version),
        };
        let mut latest: Option<&ScoreRow> = None;
        for row in self.scores.get(user).into_iter().flatten() {
            if &*row.model != model {
                continue;
            }
            if version.is_some() && row.version.as_deref() != version {
                continue;
            }
            let newer = match latest {
                None => true,
                Some(best) => (row.ts, row.score) > (best.ts, best.score),
            };
            if newer {
                latest = Some(row);
            }
        }
        match latest {
            Some(row) => Value::Number(row.score),
            None => Value::Null,
        }
    }

    /// An aggregate over the user's visible events.
    fn aggregate(&self, aggregate: &Aggregate, user: &str) -> Value {
        // 1. The user's visible events, restricted to the window `now - D < ts <= now`
        //    (`ts <= now` already holds for every visible event).
        // 2. Only the events that satisfy the `where` filter.
        let mut selected: Vec<&EventRow> = Vec::new();
        for event in self.events.get(user).into_iter().flatten() {
            if let Some(d) = aggregate.within {
                let in_window = event.ts as i128 > self.now as i128 - d as i128;
                if !in_window {
                    continue;
                }
            }
            if let Some(filter) = &aggregate.filter {
                if !event_matches(filter, event) {
                    continue;
                }
            }
            selected.push(event);
        }

        // 3. With a field, events whose field is missing are skipped (as SQL does).
        let field = match aggregate.field {
            None => {
                // Only `count` may go without a field: it counts the events.
                assert_eq!(
                    aggregate.func,
                    AggFunc::Count,
                    "the checker requires a field for {}",
                    aggregate.func.name()
                );
                return count(selected.len());
            }
            Some(field) => field,
        };
        let mut values: Vec<Value> = Vec::new();
        for event in selected {
            let v = field_value(field, event);
            if !v.is_null() {
                values.push(v);
            }
        }

        // 4. The function itself.
        match aggregate.func {
            AggFunc::Count => count(values.len()),
            AggFunc::Sum => Value::Number(sum(&values)),
            AggFunc::Avg => {
                if values.is_empty() {
                    Value::Null
                } else {
                    Value::Number(sum(&values) / Decimal::from(values.len()))
                }
            }
            AggFunc::Min => extreme(values, Ordering::Less),
            AggFunc::Max => extreme(values, Ordering::Greater),
            AggFunc::CountDistinct => {
                // `Value`'s equality and order compare decimals numerically, so `1.0`
                // and `1.00` are one element of the set.
                let distinct: BTreeSet<Value> = values.into_iter().collect();
                count(distinct.len())
            }
            AggFunc::Median => median(values),
        }
    }

    /// Whether `pred` holds for `user` at `now`.
    ///
    /// `user` is assumed to be in the universe: `Not` is the complement over the
    /// universe, which for a member of it is plain negation.
    pub fn holds(&self, pred: &Pred, user: &str) -> bool {
        match pred {
            Pred::Const(b) => *b,
            // A comparison with a missing value is false.
            Pred::Cmp(left, op, right) => {
                op.apply(&self.value(left, user), &self.value(right, user))
            }
            Pred::In {
                expr,
                list,
                negated,
            } => in_list(&self.value(expr, user), list, *negated),
            // A member of the universe is in segment i exactly when its predicate holds.
            Pred::Segment(i) => self.holds(&self.catalog.segments[*i].pred, user),
            Pred::And(a, b) => self.holds(a, user) && self.holds(b, user),
            Pred::Or(a, b) => self.holds(a, user) || self.holds(b, user),
            Pred::Not(p) => !self.holds(p, user),
        }
    }
}

/// The value of one field of an event.
fn field_value(field: EventField, event: &EventRow) -> Value {
    match field {
        EventField::Ts => Value::Time(saturate_i64(event.ts as i128)),
        EventField::Kind => Value::Text(Text::clone(&event.kind)),
        EventField::Column(i) => event.fields[i].clone(),
    }
}

/// The value of one side of a comparison in a `where` clause.
fn operand_value(operand: &EventOperand, event: &EventRow) -> Value {
    match operand {
        EventOperand::Field(field) => field_value(*field, event),
        EventOperand::Const(v) => v.clone(),
    }
}

/// Whether one event satisfies a `where` clause: row by row, a comparison with a
/// missing value is false, and `not` is plain negation.
fn event_matches(pred: &EventPred, event: &EventRow) -> bool {
    match pred {
        EventPred::Const(b) => *b,
        EventPred::Cmp(left, op, right) => {
            op.apply(&operand_value(left, event), &operand_value(right, event))
        }
        EventPred::In {
            operand,
            list,
            negated,
        } => in_list(&operand_value(operand, event), list, *negated),
        EventPred::And(a, b) => event_matches(a, event) && event_matches(b, event),
        EventPred::Or(a, b) => event_matches(a, event) || event_matches(b, event),
        EventPred::Not(p) => !event_matches(p, event),
    }
}

/// `now + offset` seconds, as a time (clamped into the range of times).
pub fn now_plus(now: u64, offset: i64) -> Value {
    Value::Time(saturate_i64(now as i128 + offset as i128))
}

/// `value [not] in (list)`: false when the value is missing, negated or not; otherwise
/// whether some element equals it (by [`Value::compare`]), flipped by `not`.
pub fn in_list(value: &Value, list: &[Value], negated: bool) -> bool {
    if value.is_null() {
        return false;
    }
    let found = list
        .iter()
        .any(|item| value.compare(item) == Some(Ordering::Equal));
    found != negated
}

/// A count as a number.
fn count(n: usize) -> Value {
    Value::Number(Decimal::from(n))
}

/// The sum of number values, 0 for none; saturating at the bounds of `Decimal`.
fn sum(values: &[Value]) -> Decimal {
    let mut total = Decimal::ZERO;
    for v in values {
        match v {
            Value::Number(n) => total = total.saturating_add(*n),
            other => panic!("sum/avg over a non-number value {other:?}: the checker forbids it"),
        }
    }
    total
}

/// The smallest (`wanted = Less`) or largest (`wanted = Greater`) of `values` by
/// [`Value::compare`], the first one among equals; missing when there are none.
fn extreme(values: Vec<Value>, wanted: Ordering) -> Value {
    let mut best = Value::Null;
    for v in values {
        if best.is_null() || v.compare(&best) == Some(wanted) {
            best = v;
        }
    }
    best
}

/// The middle of number values in numeric order, the mean of the two middle ones for
/// an even count; missing when there are none.
fn median(mut values: Vec<Value>) -> Value {
    values.sort_by(|a, b| {
        a.compare(b)
            .expect("median reads numbers: the checker says so")
    });
    let n = values.len();
    match (values.get((n.max(1) - 1) / 2), values.get(n / 2)) {
        (Some(Value::Number(low)), Some(Value::Number(high))) => {
            Value::Number(value::midpoint(*low, *high))
        }
        _ => Value::Null,
    }
}

/// `x` clamped into the range of `i64`.
fn saturate_i64(x: i128) -> i64 {
    x.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use std::sync::Arc;

    use crate::catalog::ir::{Column, Location, Segment};
    use crate::value::{CmpOp, Type};

    const DAY: u64 = 86_400;

    // Column indices of the test schema.
    const COUNTRY: usize = 0;
    const SIGNUP_TS: usize = 1;
    const AMOUNT: usize = 0;
    const CATEGORY: usize = 1;

    fn loc() -> Location {
        Location {
            file: Arc::from("test.seg"),
            line: 1,
            col: 1,
        }
    }

    fn column(name: &str, ty: Type) -> Column {
        Column {
            name: name.to_string(),
            ty,
            loc: loc(),
        }
    }

    /// `schema users(country: text, signup_ts: time)`,
    /// `schema events(amount: number, category: text)` and the given segments.
    fn catalog(segments: Vec<(&str, Pred)>) -> Catalog {
        Catalog {
            users: vec![
                column("country", Type::Text),
                column("signup_ts", Type::Time),
            ],
            events: vec![
                column("amount", Type::Number),
                column("category", Type::Text),
            ],
            features: Vec::new(),
            segments: segments
                .into_iter()
                .map(|(name, pred)| Segment {
                    name: name.to_string(),
                    pred,
                    loc: loc(),
                    hash: "0000000000000000".to_string(),
                    text: format!("segment {name} = ..."),
                })
                .collect(),
        }
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn num(s: &str) -> Value {
        Value::Number(dec(s))
    }

    fn text(s: &str) -> Value {
        Value::Text(Arc::from(s))
    }

    fn user(id: &str, country: Value, signup_ts: Value) -> UserRow {
        UserRow {
            user_id: id.to_string(),
            ts: None,
            attrs: vec![country, signup_ts],
        }
    }

    fn event(id: &str, ts: u64, kind: &str, amount: Value, category: Value) -> EventRow {
        EventRow {
            user_id: id.to_string(),
            ts,
            kind: Arc::from(kind),
            fields: vec![amount, category],
            event_id: None,
        }
    }

    /// An event of kind `purchase` with an amount and no category.
    fn purchase(id: &str, ts: u64, amount: &str) -> EventRow {
        event(id, ts, "purchase", num(amount), Value::Null)
    }

    fn score(id: &str, model: &str, score: &str, ts: u64) -> ScoreRow {
        ScoreRow {
            user_id: id.to_string(),
            model: Arc::from(model),
            score: dec(score),
            ts,
            version: None,
        }
    }

    fn agg(func: AggFunc, field: Option<EventField>, filter: Option<EventPred>) -> Aggregate {
        Aggregate {
            func,
            field,
            filter,
            within: None,
        }
    }

    fn kind_is(kind: &str) -> EventPred {
        EventPred::Cmp(
            EventOperand::Field(EventField::Kind),
            CmpOp::Eq,
            EventOperand::Const(text(kind)),
        )
    }

    fn cmp(left: ValueExpr, op: CmpOp, right: Value) -> Pred {
        Pred::Cmp(left, op, ValueExpr::Const(right))
    }

    fn not(p: Pred) -> Pred {
        Pred::Not(Box::new(p))
    }

    fn and(a: Pred, b: Pred) -> Pred {
        Pred::And(Box::new(a), Box::new(b))
    }

    fn or(a: Pred, b: Pred) -> Pred {
        Pred::Or(Box::new(a), Box::new(b))
    }

    fn country_is_us() -> Pred {
        cmp(ValueExpr::Attr(COUNTRY), CmpOp::Eq, text("US"))
    }

    fn members(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    /// The value of `expr` for `user` at `now`.
    fn value_of(data: &Dataset, now: u64, expr: &ValueExpr, id: &str) -> Value {
        let catalog = catalog(Vec::new());
        Snapshot::new(&catalog, data, now).value(expr, id)
    }

    #[test]
    fn window_edges() {
        let now = 1_000;
        let mut count_10s = agg(AggFunc::Count, None, None);
        count_10s.within = Some(10);
        let cat = catalog(vec![(
            "active",
            cmp(ValueExpr::Agg(count_10s.clone()), CmpOp::Gt, num("0")),
        )]);
        let data = Dataset {
            events: vec![
                purchase("at_start", now - 10, "1"), // ts = now - D: out
                purchase("just_in", now - 9, "1"),   // in
                purchase("at_now", now, "1"),        // ts = now: in
                purchase("future", now + 1, "1"),    // not visible yet
            ],
            ..Dataset::default()
        };
        let result = evaluate(&cat, &data, now);
        assert_eq!(result["active"], members(&["at_now", "just_in"]));

        let snapshot = Snapshot::new(&cat, &data, now);
        let count = ValueExpr::Agg(count_10s.clone());
        assert_eq!(snapshot.value(&count, "at_start"), num("0"));
        // The future event is not even part of the universe yet.
        assert_eq!(
            snapshot.universe().collect::<Vec<_>>(),
            ["at_now", "at_start", "just_in"]
        );
        // Without a window, the old event counts.
        let all = ValueExpr::Agg(agg(AggFunc::Count, None, None));
        assert_eq!(snapshot.value(&all, "at_start"), num("1"));

        // A window longer than `now` itself: `now - D` is negative, nothing underflows.
        let early = Dataset {
            events: vec![purchase("u", 0, "1"), purchase("u", 3, "1")],
            ..Dataset::default()
        };
        assert_eq!(value_of(&early, 5, &count, "u"), num("2"));
    }

    #[test]
    fn count_below_k_includes_users_without_events() {
        let purchases = ValueExpr::Agg(agg(AggFunc::Count, None, Some(kind_is("purchase"))));
        let cat = catalog(vec![("few", cmp(purchases, CmpOp::Lt, num("2")))]);
        let data = Dataset {
            users: vec![
                user("none", text("US"), Value::Null),
                user("one", text("US"), Value::Null),
            ],
            events: vec![
                purchase("one", 1, "5"),
                purchase("two", 1, "5"),
                purchase("two", 2, "5"),
                event("views", 3, "view", Value::Null, Value::Null),
                event("views", 4, "view", Value::Null, Value::Null),
            ],
            ..Dataset::default()
        };
        let result = evaluate(&cat, &data, 10);
        assert_eq!(result["few"], members(&["none", "one", "views"]));
    }

    #[test]
    fn not_is_the_complement_over_the_universe() {
        let cat = catalog(vec![
            ("us", country_is_us()),
            ("not_us", not(Pred::Segment(0))),
        ]);
        let data = Dataset {
            users: vec![
                user("american", text("US"), Value::Null),
                user("french", text("FR"), Value::Null),
            ],
            events: vec![purchase("later", 11, "1")],
            scores: vec![
                score("scored", "churn", "0.5", 10),
                score("scored_later", "churn", "0.5", 11),
            ],
            ..Dataset::default()
        };
        let result = evaluate(&cat, &data, 10);
        assert_eq!(result["us"], members(&["american"]));
        // Known only via a score: in the universe, so in the complement. Users whose
        // only rows lie in the future are not known yet.
        assert_eq!(result["not_us"], members(&["french", "scored"]));
    }

    #[test]
    fn comparisons_with_missing_values_are_false_on_both_sides() {
        let cat = catalog(vec![
            ("us", country_is_us()),
            ("not_us", not(country_is_us())),
            (
                "not_eq_us",
                cmp(ValueExpr::Attr(COUNTRY), CmpOp::Ne, text("US")),
            ),
            (
                "in_us",
                Pred::In {
                    expr: ValueExpr::Attr(COUNTRY),
                    list: vec![text("US"), text("CA")],
                    negated: false,
                },
            ),
            (
                "not_in_us",
                Pred::In {
                    expr: ValueExpr::Attr(COUNTRY),
                    list: vec![text("US"), text("CA")],
                    negated: true,
                },
            ),
        ]);
        let data = Dataset {
            users: vec![
                user("blank", Value::Null, Value::Null),
                user("ca", text("CA"), Value::Null),
                user("fr", text("FR"), Value::Null),
            ],
            // Known only via an event: every attribute is missing.
            events: vec![purchase("no_row", 1, "1")],
            ..Dataset::default()
        };
        let result = evaluate(&cat, &data, 10);
        assert_eq!(result["us"], members(&[]));
        assert_eq!(result["not_us"], members(&["blank", "ca", "fr", "no_row"]));
        assert_eq!(result["not_eq_us"], members(&["ca", "fr"]));
        assert_eq!(result["in_us"], members(&["ca"]));
        assert_eq!(result["not_in_us"], members(&["fr"]));
    }

    #[test]
    fn decimal_sums_are_exact() {
        let ltv = ValueExpr::Agg(agg(AggFunc::Sum, Some(EventField::Column(AMOUNT)), None));
        let cat = catalog(vec![
            ("one_dollar", cmp(ltv.clone(), CmpOp::Eq, num("1.00"))),
            ("nothing", cmp(ltv.clone(), CmpOp::Eq, num("0"))),
        ]);
        let mut data = Dataset {
            users: vec![user("idle", Value::Null, Value::Null)],
            ..Dataset::default()
        };
        for ts in 1..=10 {
            data.events.push(purchase("dimes", ts, "0.10"));
        }
        let result = evaluate(&cat, &data, 10);
        assert_eq!(result["one_dollar"], members(&["dimes"]));
        // The sum over no events is 0, not missing.
        assert_eq!(result["nothing"], members(&["idle"]));
        // Floating point would give 0.9999999999999999.
        assert_eq!(value_of(&data, 10, &ltv, "dimes"), num("1"));
    }

    #[test]
    fn sums_saturate() {
        let total = ValueExpr::Agg(agg(AggFunc::Sum, Some(EventField::Column(AMOUNT)), None));
        let max = Decimal::MAX.to_string();
        let data = Dataset {
            events: vec![purchase("rich", 1, &max), purchase("rich", 2, "1")],
            ..Dataset::default()
        };
        assert_eq!(
            value_of(&data, 10, &total, "rich"),
            Value::Number(Decimal::MAX)
        );
    }

    #[test]
    fn duplicate_events_count_twice() {
        let count = ValueExpr::Agg(agg(AggFunc::Count, None, None));
        let total = ValueExpr::Agg(agg(AggFunc::Sum, Some(EventField::Column(AMOUNT)), None));
        let data = Dataset {
            events: vec![purchase("u", 5, "2.5"), purchase("u", 5, "2.5")],
            ..Dataset::default()
        };
        assert_eq!(value_of(&data, 10, &count, "u"), num("2"));
        assert_eq!(value_of(&data, 10, &total, "u"), num("5"));
    }

    #[test]
    fn latest_visible_score_wins_and_ties_take_the_greater_score() {
        let churn = ValueExpr::Score(Arc::from("churn"), ScoreVersion::Active);
        let cat = catalog(vec![(
            "churn_risk",
            cmp(churn.clone(), CmpOp::Gt, num("0.7")),
        )]);
        let data = Dataset {
            scores: vec![
                score("tie", "churn", "0.9", 10),
                score("tie", "churn", "0.5", 20),
                score("tie", "churn", "0.8", 20),
                score("tie", "churn", "0.6", 20),
                score("tie", "churn", "0.1", 31), // after now: invisible
                score("newer_low", "churn", "0.9", 10),
                score("newer_low", "churn", "0.2", 20),
                score("newer_low", "ltv", "0.99", 25), // another model
                score("other_model", "ltv", "0.99", 25),
            ],
            ..Dataset::default()
        };
        assert_eq!(value_of(&data, 30, &churn, "tie"), num("0.8"));
        assert_eq!(value_of(&data, 30, &churn, "newer_low"), num("0.2"));
        assert_eq!(value_of(&data, 30, &churn, "other_model"), Value::Null);
        // At time 15 only the first score of each user is visible.
        assert_eq!(value_of(&data, 15, &churn, "newer_low"), num("0.9"));
        assert_eq!(evaluate(&cat, &data, 30)["churn_risk"], members(&["tie"]));
        assert_eq!(
            evaluate(&cat, &data, 15)["churn_risk"],
            members(&["newer_low", "tie"])
        );
    }

    #[test]
    fn users_are_upserts_last_row_wins() {
        let cat = catalog(vec![("us", country_is_us())]);
        let data = Dataset {
            users: vec![
                user("moved", text("US"), Value::Null),
                user("arrived", text("FR"), Value::Null),
                user("moved", text("FR"), Value::Null),
                user("arrived", text("US"), Value::Null),
            ],
            ..Dataset::default()
        };
        assert_eq!(evaluate(&cat, &data, 0)["us"], members(&["arrived"]));
    }

    #[test]
    fn timed_users_rows_take_effect_at_their_time_latest_time_first() {
        let cat = catalog(vec![("us", country_is_us())]);
        let at = |ts, row: UserRow| UserRow {
            ts: Some(ts),
            ..row
        };
        let data = Dataset {
            users: vec![
                at(20, user("moved", text("FR"), Value::Null)),
                // Earlier in time though later in the file: the row at 20 wins from 20.
                at(10, user("moved", text("US"), Value::Null)),
                at(30, user("late", text("US"), Value::Null)),
                user("always", text("US"), Value::Null),
            ],
            ..Dataset::default()
        };
        assert_eq!(evaluate(&cat, &data, 5)["us"], members(&["always"]));
        assert_eq!(
            evaluate(&cat, &data, 15)["us"],
            members(&["always", "moved"])
        );
        assert_eq!(evaluate(&cat, &data, 25)["us"], members(&["always"]));
        assert_eq!(
            evaluate(&cat, &data, 30)["us"],
            members(&["always", "late"])
        );
        let snapshot = Snapshot::new(&cat, &data, 25);
        assert!(
            !snapshot.universe().any(|id| id == "late"),
            "not known before its row"
        );
    }

    #[test]
    fn min_max_avg_count_distinct() {
        let amount = Some(EventField::Column(AMOUNT));
        let category = Some(EventField::Column(CATEGORY));
        let value = |func, field, id| {
            let data = Dataset {
                events: vec![
                    event("u", 1, "purchase", num("3"), text("shoes")),
                    event("u", 2, "purchase", num("1.0"), text("hats")),
                    event("u", 3, "purchase", num("1.00"), Value::Null),
                    event("u", 4, "purchase", Value::Null, text("shoes")),
                    event("u", 5, "purchase", num("5"), text("bags")),
                    event("no_amounts", 6, "view", Value::Null, Value::Null),
                ],
                ..Dataset::default()
            };
            value_of(&data, 10, &ValueExpr::Agg(agg(func, field, None)), id)
        };
        assert_eq!(value(AggFunc::Min, amount, "u"), num("1"));
        // Among equal values (1.0 and 1.00) the first in file order is the minimum.
        assert_eq!(value(AggFunc::Min, amount, "u").to_string(), "1.0");
        assert_eq!(value(AggFunc::Max, amount, "u"), num("5"));
        // Four amounts (the missing one is skipped): 10 / 4.
        assert_eq!(value(AggFunc::Avg, amount, "u"), num("2.5"));
        assert_eq!(value(AggFunc::Count, amount, "u"), num("4"));
        assert_eq!(value(AggFunc::Count, None, "u"), num("5"));
        // 1.0 and 1.00 are the same number.
        assert_eq!(value(AggFunc::CountDistinct, amount, "u"), num("3"));
        assert_eq!(value(AggFunc::CountDistinct, category, "u"), num("3"));
        assert_eq!(value(AggFunc::Min, category, "u"), text("bags"));
        assert_eq!(value(AggFunc::Max, category, "u"), text("shoes"));
        let ts = Some(EventField::Ts);
        assert_eq!(value(AggFunc::Max, ts, "u"), Value::Time(5));
        assert_eq!(value(AggFunc::Min, ts, "u"), Value::Time(1));
        let kind = Some(EventField::Kind);
        assert_eq!(value(AggFunc::CountDistinct, kind, "u"), num("1"));

        // Over no values: min/max/avg are missing, count_distinct and count are 0.
        assert_eq!(value(AggFunc::Min, amount, "no_amounts"), Value::Null);
        assert_eq!(value(AggFunc::Max, amount, "no_amounts"), Value::Null);
        assert_eq!(value(AggFunc::Avg, amount, "no_amounts"), Value::Null);
        assert_eq!(
            value(AggFunc::CountDistinct, amount, "no_amounts"),
            num("0")
        );
        assert_eq!(value(AggFunc::Count, amount, "no_amounts"), num("0"));
        assert_eq!(value(AggFunc::Sum, amount, "no_amounts"), num("0"));
    }

    #[test]
    fn where_clauses_are_evaluated_row_by_row() {
        let category = EventOperand::Field(EventField::Column(CATEGORY));
        let is_shoes = EventPred::Cmp(
            category.clone(),
            CmpOp::Eq,
            EventOperand::Const(text("shoes")),
        );
        let count_where = |filter: EventPred| {
            let data = Dataset {
                events: vec![
                    event("u", 1, "purchase", num("1"), text("shoes")),
                    event("u", 2, "purchase", num("1"), text("hats")),
                    event("u", 3, "purchase", num("1"), Value::Null),
                    event("u", 4, "view", num("1"), text("shoes")),
                ],
                ..Dataset::default()
            };
            let count = ValueExpr::Agg(agg(AggFunc::Count, None, Some(filter)));
            value_of(&data, 10, &count, "u")
        };
        assert_eq!(count_where(is_shoes.clone()), num("2"));
        // `not` is plain negation per row: the event without a category matches.
        assert_eq!(
            count_where(EventPred::Not(Box::new(is_shoes.clone()))),
            num("2")
        );
        // ... while `!=` with a missing category is false.
        assert_eq!(
            count_where(EventPred::Cmp(
                category.clone(),
                CmpOp::Ne,
                EventOperand::Const(text("shoes")),
            )),
            num("1")
        );
        let in_list = |negated| EventPred::In {
            operand: category.clone(),
            list: vec![text("shoes"), text("bags")],
            negated,
        };
        assert_eq!(count_where(in_list(false)), num("2"));
        // `not in` is false for the missing category too.
        assert_eq!(count_where(in_list(true)), num("1"));
        let purchase_and_shoes =
            EventPred::And(Box::new(kind_is("purchase")), Box::new(is_shoes.clone()));
        assert_eq!(count_where(purchase_and_shoes), num("1"));
        let view_or_hats = EventPred::Or(
            Box::new(kind_is("view")),
            Box::new(EventPred::Cmp(
                EventOperand::Const(text("hats")),
                CmpOp::Eq,
                category.clone(),
            )),
        );
        assert_eq!(count_where(view_or_hats), num("2"));
        assert_eq!(count_where(EventPred::Const(false)), num("0"));
        let late = EventPred::Cmp(
            EventOperand::Field(EventField::Ts),
            CmpOp::Ge,
            EventOperand::Const(Value::Time(3)),
        );
        assert_eq!(count_where(late), num("2"));
    }

    #[test]
    fn segments_reference_segments() {
        let purchases = ValueExpr::Agg(agg(AggFunc::Count, None, Some(kind_is("purchase"))));
        let cat = catalog(vec![
            ("vip", and(Pred::Segment(1), Pred::Segment(2))),
            ("buyer", cmp(purchases, CmpOp::Ge, num("2"))),
            ("us", country_is_us()),
            ("vip_or_us", or(Pred::Segment(0), Pred::Segment(2))),
            (
                "non_vip_buyer",
                and(Pred::Segment(1), not(Pred::Segment(0))),
            ),
            ("everyone", Pred::Const(true)),
        ]);
        let data = Dataset {
            users: vec![
                user("us_buyer", text("US"), Value::Null),
                user("us_idle", text("US"), Value::Null),
                user("fr_buyer", text("FR"), Value::Null),
            ],
            events: vec![
                purchase("us_buyer", 1, "1"),
                purchase("us_buyer", 2, "1"),
                purchase("fr_buyer", 1, "1"),
                purchase("fr_buyer", 2, "1"),
            ],
            ..Dataset::default()
        };
        let result = evaluate(&cat, &data, 10);
        assert_eq!(result["vip"], members(&["us_buyer"]));
        assert_eq!(result["buyer"], members(&["fr_buyer", "us_buyer"]));
        assert_eq!(result["vip_or_us"], members(&["us_buyer", "us_idle"]));
        assert_eq!(result["non_vip_buyer"], members(&["fr_buyer"]));
        assert_eq!(
            result["everyone"],
            members(&["fr_buyer", "us_buyer", "us_idle"])
        );
    }

    #[test]
    fn now_offsets_compare_with_time_attributes() {
        let now = 100 * DAY;
        // `users.signup_ts > now - 14d`
        let new_user = Pred::Cmp(
            ValueExpr::Attr(SIGNUP_TS),
            CmpOp::Gt,
            ValueExpr::Now(-14 * DAY as i64),
        );
        let cat = catalog(vec![("new", new_user.clone()), ("old", not(new_user))]);
        let at = |t: u64| Value::Time(t as i64);
        let data = Dataset {
            users: vec![
                user("edge", Value::Null, at(now - 14 * DAY)), // exactly now - 14d: out
                user("fresh", Value::Null, at(now - 14 * DAY + 1)),
                user("signed_up_later", Value::Null, at(now + DAY)),
                user("unknown", Value::Null, Value::Null),
                user("veteran", Value::Null, at(DAY)),
            ],
            ..Dataset::default()
        };
        let result = evaluate(&cat, &data, now);
        assert_eq!(result["new"], members(&["fresh", "signed_up_later"]));
        assert_eq!(result["old"], members(&["edge", "unknown", "veteran"]));
        // Later, the window has moved past "fresh".
        let result = evaluate(&cat, &data, now + 2);
        assert_eq!(result["new"], members(&["signed_up_later"]));
        assert_eq!(
            value_of(&data, 7, &ValueExpr::Now(-10), "x"),
            Value::Time(-3)
        );
    }

    #[test]
    fn every_segment_is_a_key_even_when_empty() {
        let cat = catalog(vec![
            ("nobody", Pred::Const(false)),
            ("everybody", Pred::Const(true)),
        ]);
        let result = evaluate(&cat, &Dataset::default(), 0);
        assert_eq!(result.len(), 2);
        assert!(result["nobody"].is_empty());
        assert!(result["everybody"].is_empty());
    }
}
