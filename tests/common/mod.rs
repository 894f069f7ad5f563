//! Random catalogs and data drawn from the whole language, shared by the property tests
//! of the dataflow (`oracle.rs`), of live runs (`live.rs`) and of the SQL peer (`sql.rs`).

use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;
use segflow::data::{Dataset, EventRow, ModelRow, ScoreRow, UserRow};
use segflow::value::{Text, Value};

const SCHEMA: &str = "schema users(country: text, signup_ts: time, vip: bool, age: number)\n\
                      schema events(amount: number, category: text)\n";

/// A random per-user number: mostly a single value, sometimes arithmetic and functions
/// over values and literals (exact and approximate, with the values that make them
/// missing: division by zero, logarithms of non-positive numbers, overflowing `exp`).
fn number_expr() -> impl Strategy<Value = String> {
    let literal = prop_oneof![Just("0"), Just("1"), Just("-2"), Just("0.5"), Just("1000")]
        .prop_map(str::to_string);
    let leaf = prop_oneof![4 => number_value(), 1 => literal];
    let compound = leaf.clone().prop_recursive(2, 6, 3, |inner| {
        let op = prop_oneof![Just("+"), Just("-"), Just("*"), Just("/")];
        let unary = prop_oneof![
            Just("-"),
            Just("abs"),
            Just("ln"),
            Just("exp"),
            Just("sqrt"),
            Just("logistic")
        ];
        let choice = prop_oneof![Just("least"), Just("greatest"), Just("coalesce")];
        let cmp = prop_oneof![Just("="), Just(">"), Just("<=")];
        prop_oneof![
            3 => (inner.clone(), op, inner.clone()).prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            2 => (unary, inner.clone()).prop_map(|(f, a)| format!("{f}({a})")),
            1 => (choice, inner.clone(), inner.clone()).prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
            1 => (inner.clone(), cmp.clone(), inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(p, op, q, a, b)| format!("if({p} {op} {q}, {a}, {b})")),
            1 => (inner.clone(), cmp, inner).prop_map(|(a, op, b)| format!("({a} {op} {b})")),
        ]
    });
    prop_oneof![3 => number_value(), 1 => compound]
}

/// A random single per-user number: an aggregate, an attribute, a score (of the
/// model's active version, or of a fixed version), or `days_since` of a time read per
/// user (negative while it is ahead of `now`).
fn number_value() -> impl Strategy<Value = String> {
    let selection = (
        prop::option::of(prop_oneof![
            Just("kind = 'buy'".to_string()),
            Just("kind in ('buy', 'view')".to_string()),
            Just("category != 'x'".to_string()),
            Just("amount >= 1".to_string()),
            Just("not (kind = 'view') and ts > 20".to_string()),
            Just("category not in ('y') or amount < 0.5".to_string()),
        ]),
        prop::option::of(prop_oneof![Just("5s"), Just("15s"), Just("1m")]),
    )
        .prop_map(|(filter, within)| {
            let mut text = String::new();
            if let Some(f) = filter {
                text.push_str(&format!(" where {f}"));
            }
            if let Some(w) = within {
                text.push_str(&format!(" within {w}"));
            }
            text
        });
    (0..13usize, selection).prop_map(|(func, sel)| match func {
        0 => format!("count(events{sel})"),
        1 => format!("sum(events.amount{sel})"),
        2 => format!("avg(events.amount{sel})"),
        3 => format!("min(events.amount{sel})"),
        4 => format!("max(events.amount{sel})"),
        5 => format!("count_distinct(events.category{sel})"),
        6 => format!("median(events.amount{sel})"),
        7 => "users.age".to_string(),
        8 => "score('m1')".to_string(),
        9 => "score('m1', 'v1')".to_string(),
        10 => "score('m1', 'v2')".to_string(),
        11 => format!("days_since(max(events.ts{sel}))"),
        _ => "days_since(users.signup_ts)".to_string(),
    })
}

/// A random atom (a comparison), as text.
fn atom() -> impl Strategy<Value = String> {
    let threshold = prop_oneof![
        Just("0"),
        Just("1"),
        Just("2"),
        Just("0.5"),
        Just("1.00"),
        Just("3")
    ];
    let cmp = prop_oneof![
        Just("="),
        Just("!="),
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">=")
    ];
    prop_oneof![
        4 => (number_expr(), cmp.clone(), threshold).prop_map(|(e, op, t)| format!("{e} {op} {t}")),
        1 => (number_expr(), cmp.clone(), number_expr()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        1 => prop_oneof![Just("users.country = 'US'"), Just("users.country in ('US', 'DE')"), Just("users.country not in ('US')"), Just("users.vip"), Just("users.age > 30")].prop_map(str::to_string),
        1 => (cmp.clone(), prop_oneof![Just("0s"), Just("10s"), Just("30s")]).prop_map(|(op, d)| {
            if d == "0s" { format!("users.signup_ts {op} now") } else { format!("users.signup_ts {op} now - {d}") }
        }),
        1 => (cmp, prop_oneof![Just("5s"), Just("20s")], prop_oneof![Just("max(events.ts)"), Just("if(users.signup_ts > 20, users.signup_ts, least(users.signup_ts, users.signup_ts))")])
            .prop_map(|(op, d, t)| format!("{t} {op} now - {d}")),
        1 => prop_oneof![Just("exists(events within 10s)"), Just("exists(events where kind = 'buy')"), Just("now > 40")].prop_map(str::to_string),
    ]
}

/// A random predicate tree over atoms and earlier segments.
fn predicate(segments_before: usize) -> impl Strategy<Value = String> {
    let leaf = if segments_before == 0 {
        atom().boxed()
    } else {
        prop_oneof![3 => atom(), 1 => (0..segments_before).prop_map(|i| format!("s{i}"))].boxed()
    };
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not {a}")),
        ]
    })
}

/// A random catalog of up to four segments, the later ones may reference earlier ones.
pub fn catalog_text() -> impl Strategy<Value = String> {
    (
        predicate(0),
        predicate(1),
        predicate(2),
        predicate(3),
        1..=4usize,
    )
        .prop_map(|(a, b, c, d, n)| {
            let mut text = SCHEMA.to_string();
            for (i, p) in [a, b, c, d].into_iter().take(n).enumerate() {
                text.push_str(&format!("segment s{i} = {p}\n"));
            }
            text
        })
}

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// Random data over ten users and times 0..60.
pub fn dataset() -> impl Strategy<Value = Dataset> {
    let user = (0..10u32).prop_map(|i| format!("u{i:02}"));
    let text = |options: &'static [&'static str]| {
        prop::sample::select(options).prop_map(|s| {
            if s.is_empty() {
                Value::Null
            } else {
                Value::Text(Text::from(s))
            }
        })
    };
    let amount =
        prop::sample::select(&["", "0.10", "0.25", "1", "2.50", "0.5"][..]).prop_map(|s| {
            if s.is_empty() {
                Value::Null
            } else {
                Value::Number(decimal(s))
            }
        });
    let users = prop::collection::vec(
        (
            user.clone(),
            text(&["US", "DE", "", "FR"]),
            prop::option::of(0..60i64),
            prop::option::of(any::<bool>()),
            prop::option::of(20..40u32),
            // Half the rows have a time of their own.
            prop::option::of(0..60u64),
        ),
        0..8,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .map(|(user_id, country, signup, vip, age, ts)| UserRow {
                user_id,
                ts,
                attrs: vec![
                    country,
                    signup.map_or(Value::Null, Value::Time),
                    vip.map_or(Value::Null, Value::Bool),
                    age.map_or(Value::Null, |a| Value::Number(a.into())),
                ],
            })
            .collect::<Vec<_>>()
    });
    let events = prop::collection::vec(
        (
            user.clone(),
            0..60u64,
            prop::sample::select(&["buy", "view", "login"][..]),
            amount,
            text(&["x", "y", "z", ""]),
            // Some events carry an id from a small set, so that a user's events share
            // ids (copies that differ), and some are delivered twice (exact copies).
            prop::option::weighted(0.3, 0..3u8),
            prop::bool::weighted(0.15),
        ),
        0..40,
    )
    .prop_map(|rows| {
        let mut events = Vec::new();
        for (user_id, ts, kind, amount, category, id, twice) in rows {
            let event = EventRow {
                user_id,
                ts,
                kind: Text::from(kind),
                fields: vec![amount, category],
                event_id: id.map(|id| Text::from(format!("e{id}"))),
            };
            if twice && event.event_id.is_some() {
                events.push(event.clone());
            }
            events.push(event);
        }
        events
    });
    let scores = prop::collection::vec(
        (
            user,
            prop::sample::select(&["m1", "m2"][..]),
            prop::sample::select(&["0.1", "0.5", "0.7", "0.9"][..]),
            0..60u64,
            prop::sample::select(&["", "v1", "v2"][..]),
        ),
        0..10,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .map(|(user_id, model, score, ts, version)| ScoreRow {
                user_id,
                model: Text::from(model),
                score: decimal(score),
                ts,
                version: (!version.is_empty()).then(|| Text::from(version)),
            })
            .collect::<Vec<_>>()
    });
    // Switches of the active version, sometimes to a version without scores (`v3`),
    // sometimes two at one time (the later row wins).
    let models = prop::collection::vec(
        (
            prop::sample::select(&["m1", "m2"][..]),
            prop::sample::select(&["v1", "v2", "v3"][..]),
            prop::sample::select(&[0u64, 10, 25, 40][..]),
        ),
        0..4,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .map(|(model, version, ts)| ModelRow {
                model: Text::from(model),
                version: Text::from(version),
                ts,
            })
            .collect::<Vec<_>>()
    });
    (users, events, scores, models).prop_map(|(users, events, scores, models)| Dataset {
        users,
        events,
        scores,
        models,
    })
}
