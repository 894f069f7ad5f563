//! Targeted semantic cases of the definition language, through the library.
//!
//! Each test builds a small catalog (`segflow::catalog::check_sources`) and a small
//! in-memory [`Dataset`], runs the dataflow engine (`engine::batch::run_dataset`) with
//! one and with three workers, and compares the members of *every* segment with a set
//! written out by hand from the rules in README.md "Semantics" — and with
//! `segflow::reference::evaluate` as a second opinion.
//!
//! Covered: window edges (`now - D` out, `now` in, `now + 1` invisible, windows longer
//! than `now`); ties at a threshold for every comparison operator; users without events
//! under `count(...) < k`, `sum`, `count_distinct` and `not`; the universe (users known
//! only from a score, or only from an event; rows after `now` add no one); comparisons
//! with missing attributes (`=`, `!=`, `in`, `not in`, bare bools, `not`); empty
//! segments (still present); duplicate event rows; exact decimals; latest score wins
//! (ties: the greater score; other models ignored); users upserts (last row wins, whole
//! row); `now - 14d` on a time attribute at the boundary and integer literals as times;
//! `last_seen < now - 90d` on a derived `max`; `avg`/`min`/`max`/`count_distinct`
//! (missing values skipped, `1.0` = `1.00`); segment references chained 3 deep and
//! written before their targets; `in`/`not in` in `where` clauses; a catalog spread over
//! two sources.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::Decimal;
use segflow::catalog::check_sources;
use segflow::catalog::ir::Catalog;
use segflow::data::{Dataset, EventRow, ScoreRow, UserRow};
use segflow::engine::batch::run_dataset;
use segflow::reference;
use segflow::value::{Text, Value};

const DAY: u64 = 86_400;

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

fn text(s: &str) -> Value {
    Value::Text(Text::from(s))
}

fn num(s: &str) -> Value {
    Value::Number(Decimal::from_str(s).unwrap())
}

fn time(t: u64) -> Value {
    Value::Time(t as i64)
}

const NULL: Value = Value::Null;

fn user(id: &str, attrs: Vec<Value>) -> UserRow {
    UserRow {
        user_id: id.to_string(),
        ts: None,
        attrs,
    }
}

fn event(id: &str, ts: u64, kind: &str, fields: Vec<Value>) -> EventRow {
    EventRow {
        user_id: id.to_string(),
        ts,
        kind: Text::from(kind),
        fields,
        event_id: None,
    }
}

fn score(id: &str, model: &str, value: &str, ts: u64) -> ScoreRow {
    ScoreRow {
        user_id: id.to_string(),
        model: Text::from(model),
        score: Decimal::from_str(value).unwrap(),
        ts,
        version: None,
    }
}

fn catalog(sources: &[(&str, &str)]) -> Catalog {
    check_sources(sources).unwrap_or_else(|e| panic!("catalog does not check:\n{e}"))
}

type Members = BTreeMap<String, Vec<String>>;

fn engine(catalog: &Catalog, data: &Dataset, as_of: u64, workers: usize) -> Members {
    let result = run_dataset(
        catalog,
        Arc::new(data.clone()),
        Some(as_of),
        timely::Config::process(workers),
    )
    .unwrap_or_else(|e| panic!("run failed: {e}"));
    assert_eq!(result.as_of, as_of);
    assert_eq!(result.members.len(), catalog.segments.len());
    assert!(result.rejects.is_empty());
    catalog
        .segments
        .iter()
        .map(|s| s.name.clone())
        .zip(result.members)
        .collect()
}

/// Asserts the members of every segment at `as_of`, from the engine with 1 and 3
/// workers and from the reference evaluator. `expected` must name every segment.
#[track_caller]
fn check_at(catalog: &Catalog, data: &Dataset, as_of: u64, expected: &[(&str, &[&str])]) {
    let expected: Members = expected
        .iter()
        .map(|(segment, members)| {
            let mut members: Vec<String> = members.iter().map(|m| m.to_string()).collect();
            members.sort();
            (segment.to_string(), members)
        })
        .collect();
    let names: Vec<&str> = catalog.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        expected.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted
        },
        "the expectation must name every segment"
    );
    let one = engine(catalog, data, as_of, 1);
    let three = engine(catalog, data, as_of, 3);
    let reference: Members = reference::evaluate(catalog, data, as_of)
        .into_iter()
        .map(|(segment, members)| (segment, members.into_iter().collect()))
        .collect();
    for name in names {
        let want = &expected[name];
        assert_eq!(&one[name], want, "engine -w 1, segment {name} at {as_of}");
        assert_eq!(&three[name], want, "engine -w 3, segment {name} at {as_of}");
        assert_eq!(
            &reference[name], want,
            "reference, segment {name} at {as_of}"
        );
    }
}

#[track_caller]
fn check(source: &str, data: &Dataset, as_of: u64, expected: &[(&str, &[&str])]) {
    check_at(&catalog(&[("test.seg", source)]), data, as_of, expected);
}

// ---------------------------------------------------------------------------------
// Time and windows
// ---------------------------------------------------------------------------------

#[test]
fn window_edges() {
    let source = "
        segment recent  = exists(events within 10s)
        segment quiet   = not recent
        segment twice   = count(events within 10s) >= 2
        segment ts_gt   = exists(events where ts > 95)
    ";
    let data = Dataset {
        events: vec![
            event("at_edge", 90, "view", vec![]),    // exactly now - D: out
            event("after_edge", 91, "view", vec![]), // now - D + 1: in
            event("at_now", 100, "view", vec![]),    // exactly now: in
            event("future", 101, "view", vec![]),    // after now: not seen at all
            event("both", 90, "view", vec![]),
            event("both", 100, "view", vec![]),
            event("dup", 95, "view", vec![]),
            event("dup", 95, "view", vec![]),
        ],
        ..Dataset::default()
    };
    let mut c = catalog(&[("w.seg", source)]);
    check_at(
        &c,
        &data,
        100,
        &[
            ("recent", &["after_edge", "at_now", "both", "dup"]),
            ("quiet", &["at_edge"]),
            ("twice", &["dup"]),
            ("ts_gt", &["at_now", "both"]),
        ],
    );
    // One second later the window has moved: 91 is now at the edge, 101 is visible.
    check_at(
        &c,
        &data,
        101,
        &[
            ("recent", &["at_now", "both", "dup", "future"]),
            ("quiet", &["after_edge", "at_edge"]),
            ("twice", &["dup"]),
            ("ts_gt", &["at_now", "both", "future"]),
        ],
    );
    // Before anything happened no one is known.
    check_at(
        &c,
        &data,
        89,
        &[
            ("recent", &[]),
            ("quiet", &[]),
            ("twice", &[]),
            ("ts_gt", &[]),
        ],
    );
    // A window reaching before time 0 keeps everything up to now.
    c = catalog(&[(
        "w.seg",
        "segment two = count(events within 10s) = 2\nsegment one = count(events within 3s) = 1",
    )]);
    let early = Dataset {
        events: vec![
            event("z", 0, "view", vec![]),
            event("z", 5, "view", vec![]),
            event("late", 6, "view", vec![]),
        ],
        ..Dataset::default()
    };
    check_at(&c, &early, 5, &[("two", &["z"]), ("one", &["z"])]);
}

#[test]
fn time_attribute_against_now_minus_14d_at_the_boundary() {
    let now = 100 * DAY;
    let edge = now - 14 * DAY;
    let source = "
        schema users(signup_ts: time)
        segment new_gt        = users.signup_ts > now - 14d
        segment new_ge        = users.signup_ts >= now - 14d
        segment at_now        = users.signup_ts = now
        segment future_signup = users.signup_ts > now
        segment literal       = users.signup_ts >= 8640000
        segment not_new       = not new_gt
    ";
    let data = Dataset {
        users: vec![
            user("edge", vec![time(edge)]),
            user("inside", vec![time(edge + 1)]),
            user("outside", vec![time(edge - 1)]),
            user("now", vec![time(now)]),
            // Users rows have no time: a signup after `now` is still visible.
            user("later", vec![time(now + 5)]),
            user("unknown", vec![NULL]),
        ],
        ..Dataset::default()
    };
    assert_eq!(now, 8_640_000);
    check(
        source,
        &data,
        now,
        &[
            ("new_gt", &["inside", "now", "later"]),
            ("new_ge", &["edge", "inside", "now", "later"]),
            ("at_now", &["now"]),
            ("future_signup", &["later"]),
            ("literal", &["now", "later"]),
            ("not_new", &["edge", "outside", "unknown"]),
        ],
    );
}

#[test]
fn last_seen_before_now_minus_90d_on_a_derived_max() {
    let now = 200 * DAY;
    let edge = now - 90 * DAY;
    let source = "
        schema users(country: text)
        feature last_seen = max(events.ts)
        segment dormant    = last_seen < now - 90d
        segment dormant_le = last_seen <= now - 90d
        segment not_dormant = not dormant
    ";
    let data = Dataset {
        users: vec![user("never", vec![text("US")])],
        events: vec![
            event("edge", edge, "view", vec![]),
            event("old", edge - 1, "view", vec![]),
            event("back", edge - 50, "view", vec![]),
            event("back", now - DAY, "view", vec![]),
            // An event after `now` does not count towards last_seen.
            event("future", now - 100 * DAY, "view", vec![]),
            event("future", now + 1, "view", vec![]),
        ],
        ..Dataset::default()
    };
    check(
        source,
        &data,
        now,
        &[
            ("dormant", &["old", "future"]),
            ("dormant_le", &["edge", "old", "future"]),
            // `never` has no events: last_seen is missing, so `dormant` is false.
            ("not_dormant", &["back", "edge", "never"]),
        ],
    );
}

// ---------------------------------------------------------------------------------
// Comparisons, missing values and the universe
// ---------------------------------------------------------------------------------

#[test]
fn ties_at_a_threshold() {
    let source = "
        schema events(amount: number)
        feature n     = count(events)
        feature total = sum(events.amount)
        segment n_gt  = n > 3
        segment n_ge  = n >= 3
        segment n_eq  = n = 3
        segment n_ne  = n != 3
        segment n_le  = n <= 3
        segment n_lt  = n < 3
        segment t_gt  = total > 5
        segment t_ge  = total >= 5.00
        segment t_eq  = total = 5
        segment t_lt  = total < 5.0
    ";
    let mut events = Vec::new();
    for (user, amounts) in [
        ("three", &["2", "2.5", "0.50"][..]),
        ("four", &["2", "2", "1", "0.01"][..]),
        ("two", &["2.49", "2.5"][..]),
    ] {
        for (i, a) in amounts.iter().enumerate() {
            events.push(event(user, i as u64, "buy", vec![num(a)]));
        }
    }
    let data = Dataset {
        events,
        ..Dataset::default()
    };
    check(
        source,
        &data,
        10,
        &[
            ("n_gt", &["four"]),
            ("n_ge", &["three", "four"]),
            ("n_eq", &["three"]),
            ("n_ne", &["four", "two"]),
            ("n_le", &["three", "two"]),
            ("n_lt", &["two"]),
            ("t_gt", &["four"]),
            ("t_ge", &["three", "four"]),
            ("t_eq", &["three"]),
            ("t_lt", &["two"]),
        ],
    );
}

#[test]
fn users_without_events() {
    let source = "
        schema users(country: text)
        schema events(amount: number)
        segment none      = count(events) < 1
        segment few_buys  = count(events where kind = 'buy') < 2
        segment inactive  = not exists(events)
        segment zero_sum  = sum(events.amount) = 0
        segment no_kinds  = count_distinct(events.kind) = 0
        segment active    = exists(events)
    ";
    let data = Dataset {
        users: vec![user("idle", vec![text("US")])],
        events: vec![
            event("viewer", 1, "view", vec![NULL]),
            event("buyer", 2, "buy", vec![num("3")]),
            event("buyer", 3, "buy", vec![num("4")]),
        ],
        scores: vec![score("scored", "churn", "0.5", 1)],
        ..Dataset::default()
    };
    check(
        source,
        &data,
        10,
        &[
            ("none", &["idle", "scored"]),
            ("few_buys", &["idle", "scored", "viewer"]),
            ("inactive", &["idle", "scored"]),
            ("zero_sum", &["idle", "scored", "viewer"]),
            ("no_kinds", &["idle", "scored"]),
            ("active", &["buyer", "viewer"]),
        ],
    );
}

#[test]
fn users_known_only_from_a_score_are_in_the_universe() {
    let source = "
        schema users(plan: text)
        feature churn = score('churn')
        segment churn_risk  = churn > 0.7
        segment safe        = not churn_risk
        segment low         = churn <= 0.7
        segment other_model = score('ltv') > 0
    ";
    let data = Dataset {
        users: vec![user("plain", vec![text("free")])],
        scores: vec![
            score("mid", "churn", "0.5", 5),
            score("high", "churn", "0.9", 5),
            score("exact", "churn", "0.70", 5),
            score("only_ltv", "ltv", "5", 5),
            // Known only after `now`: not in the universe at 10.
            score("future", "churn", "0.9", 11),
        ],
        ..Dataset::default()
    };
    check(
        source,
        &data,
        10,
        &[
            ("churn_risk", &["high"]),
            ("safe", &["exact", "mid", "only_ltv", "plain"]),
            ("low", &["exact", "mid"]),
            ("other_model", &["only_ltv"]),
        ],
    );
}

#[test]
fn comparisons_with_missing_attributes_are_false_both_ways() {
    let source = "
        schema users(country: text, vip: bool, age: number)
        segment us          = users.country = 'US'
        segment ne_us       = users.country != 'US'
        segment not_us      = not (users.country = 'US')
        segment in_list     = users.country in ('US', 'DE')
        segment not_in_list = users.country not in ('US')
        segment not_in_neg  = not (users.country in ('US'))
        segment vip         = users.vip
        segment not_vip     = not users.vip
        segment vip_false   = users.vip = false
        segment adult       = users.age >= 30
        segment young       = users.age < 30
    ";
    let data = Dataset {
        users: vec![
            user("us", vec![text("US"), Value::Bool(true), num("30")]),
            user("de", vec![text("DE"), Value::Bool(false), num("29.9")]),
            user("blank", vec![NULL, NULL, NULL]),
        ],
        // Known from an event only: every attribute is missing.
        events: vec![event("norow", 1, "view", vec![])],
        ..Dataset::default()
    };
    check(
        source,
        &data,
        5,
        &[
            ("us", &["us"]),
            ("ne_us", &["de"]),
            ("not_us", &["blank", "de", "norow"]),
            ("in_list", &["de", "us"]),
            ("not_in_list", &["de"]),
            ("not_in_neg", &["blank", "de", "norow"]),
            ("vip", &["us"]),
            ("not_vip", &["blank", "de", "norow"]),
            ("vip_false", &["de"]),
            ("adult", &["us"]),
            ("young", &["de"]),
        ],
    );
}

#[test]
fn empty_segments_are_still_present() {
    let source = "
        schema events(amount: number)
        segment nobody   = count(events) > 100
        segment never    = false
        segment everyone = true
        segment both     = everyone and never
        segment rich     = sum(events.amount) > 1000
    ";
    let data = Dataset {
        events: vec![
            event("a", 1, "view", vec![num("5")]),
            event("b", 2, "view", vec![NULL]),
        ],
        ..Dataset::default()
    };
    check(
        source,
        &data,
        5,
        &[
            ("nobody", &[]),
            ("never", &[]),
            ("everyone", &["a", "b"]),
            ("both", &[]),
            ("rich", &[]),
        ],
    );
    // No data at all: every segment is empty, even `true` and `not ...`.
    check(
        &format!("{source}\nsegment not_rich = not rich"),
        &Dataset::default(),
        5,
        &[
            ("nobody", &[]),
            ("never", &[]),
            ("everyone", &[]),
            ("both", &[]),
            ("rich", &[]),
            ("not_rich", &[]),
        ],
    );
}

// ---------------------------------------------------------------------------------
// Aggregates and numbers
// ---------------------------------------------------------------------------------

#[test]
fn duplicate_event_rows_count_twice() {
    let source = "
        schema events(amount: number)
        segment two      = count(events) = 2
        segment twenty   = sum(events.amount) = 20
        segment one_kind = count_distinct(events.amount) = 1
        segment avg_ten  = avg(events.amount) = 10
    ";
    let row = event("d", 7, "buy", vec![num("10")]);
    let data = Dataset {
        events: vec![row.clone(), row, event("single", 7, "buy", vec![num("10")])],
        ..Dataset::default()
    };
    check(
        source,
        &data,
        7,
        &[
            ("two", &["d"]),
            ("twenty", &["d"]),
            ("one_kind", &["d", "single"]),
            ("avg_ten", &["d", "single"]),
        ],
    );
}

#[test]
fn decimals_are_exact() {
    let source = "
        schema events(amount: number)
        feature total = sum(events.amount)
        segment eq_one    = total = 1.00
        segment ge_one    = total >= 1
        segment gt_one    = total > 1
        segment lt_one    = total < 1
        segment tenth_avg = avg(events.amount) = 0.1
        segment point3    = total = 0.3
    ";
    let mut events: Vec<EventRow> = (0..10)
        .map(|i| event("ten", i, "buy", vec![num("0.10")]))
        .collect();
    events.push(event("float", 1, "buy", vec![num("0.1")]));
    events.push(event("float", 2, "buy", vec![num("0.2")]));
    let data = Dataset {
        events,
        ..Dataset::default()
    };
    check(
        source,
        &data,
        20,
        &[
            ("eq_one", &["ten"]),
            ("ge_one", &["ten"]),
            ("gt_one", &[]),
            ("lt_one", &["float"]),
            ("tenth_avg", &["ten"]),
            ("point3", &["float"]),
        ],
    );
}

#[test]
fn avg_min_max_count_distinct() {
    let source = "
        schema users(country: text)
        schema events(amount: number, category: text)
        feature avg_amt = avg(events.amount)
        feature min_amt = min(events.amount)
        feature max_amt = max(events.amount)
        feature cats    = count_distinct(events.category)
        segment avg_15       = avg_amt = 1.5
        segment avg_gt       = avg_amt > 1.4
        segment avg_third    = avg_amt > 1.333 and avg_amt < 1.334
        segment min_lt1      = min_amt < 1
        segment max_ge3      = max_amt >= 3
        segment cats3        = cats >= 3
        segment amt_distinct = count_distinct(events.amount) = 2
        segment no_max       = not (max_amt >= 0)
        segment min_buy      = min(events.amount where kind = 'buy') >= 2
        segment max_cat      = max(events.category) = 'b'
        segment mid_15       = median(events.amount) = 1.5
        segment mid_ge3      = median(events.amount) >= 3
        segment mid_1        = median(events.amount) = 1
        segment no_mid       = not (median(events.amount) >= 0)
        segment mid_buy      = median(events.amount where kind = 'buy') = 1.5
    ";
    let data = Dataset {
        users: vec![user("s", vec![text("US")])],
        events: vec![
            // p: amounts 1 and 2 (the view's missing amount is skipped), 3 categories.
            event("p", 1, "buy", vec![num("1"), text("a")]),
            event("p", 2, "buy", vec![num("2"), text("b")]),
            event("p", 3, "view", vec![NULL, text("c")]),
            // q: 0.5, 3.0, 3.00: two distinct amounts, max 3, one category.
            event("q", 1, "view", vec![num("0.5"), text("a")]),
            event("q", 2, "buy", vec![num("3.0"), text("a")]),
            event("q", 3, "buy", vec![num("3.00"), NULL]),
            // r: no amounts at all: avg/min/max missing.
            event("r", 1, "view", vec![NULL, text("x")]),
            // t: 1, 1, 2: avg 4/3.
            event("t", 1, "view", vec![num("1"), text("b")]),
            event("t", 2, "view", vec![num("1"), NULL]),
            event("t", 3, "view", vec![num("2"), text("a")]),
        ],
        ..Dataset::default()
    };
    check(
        source,
        &data,
        5,
        &[
            ("avg_15", &["p"]),
            ("avg_gt", &["p", "q"]),
            ("avg_third", &["t"]),
            ("min_lt1", &["q"]),
            ("max_ge3", &["q"]),
            ("cats3", &["p"]),
            ("amt_distinct", &["p", "q", "t"]),
            ("no_max", &["r", "s"]),
            ("min_buy", &["q"]),
            ("max_cat", &["t"]),
            // Medians: p 1, 2 → 1.5 (the mean of the middle two); q 0.5, 3.0, 3.00 →
            // 3; t 1, 1, 2 → 1; r and s have no amounts.
            ("mid_15", &["p"]),
            ("mid_ge3", &["q"]),
            ("mid_1", &["t"]),
            ("no_mid", &["r", "s"]),
            // p's buys 1, 2 → 1.5; q's buys 3.0, 3.00 → 3.
            ("mid_buy", &["p"]),
        ],
    );
}

#[test]
fn median_is_exact_and_windowed() {
    let source = "
        schema events(amount: number)
        segment exact    = median(events.amount) = 1.5000000005
        segment below    = median(events.amount) < 1.5000000005
        segment recent   = median(events.amount within 10s) > 5
        segment negative = median(events.amount) < 0
    ";
    let data = Dataset {
        events: vec![
            // a: 1.000000001 and 2: the mean of the two needs a tenth decimal place.
            event("a", 1, "buy", vec![num("1.000000001")]),
            event("a", 2, "buy", vec![num("2")]),
            // b: 9 long ago, then 1 and 2 recently: over all 2, over the last 10s 1.5.
            event("b", 1, "buy", vec![num("9")]),
            event("b", 95, "buy", vec![num("1")]),
            event("b", 96, "buy", vec![num("2")]),
            // c: 10 and 20 inside the window, -30 and -40 before it: over all -10.
            event("c", 50, "buy", vec![num("-30")]),
            event("c", 60, "buy", vec![num("-40")]),
            event("c", 99, "buy", vec![num("10")]),
            event("c", 100, "buy", vec![num("20")]),
        ],
        ..Dataset::default()
    };
    check(
        source,
        &data,
        100,
        &[
            ("exact", &["a"]),
            ("below", &["c"]),
            ("recent", &["c"]),
            ("negative", &["c"]),
        ],
    );
}

// ---------------------------------------------------------------------------------
// Scores and users over time
// ---------------------------------------------------------------------------------

#[test]
fn latest_score_wins_and_ties_take_the_greater() {
    let c = catalog(&[(
        "s.seg",
        "feature churn = score('churn')\n\
         segment risk = churn > 0.7\n\
         segment calm = churn <= 0.7\n",
    )]);
    let data = Dataset {
        scores: vec![
            score("flip", "churn", "0.9", 10),
            score("flip", "churn", "0.1", 20),
            score("flip", "other", "0.99", 22),
            score("tie", "churn", "0.2", 30),
            score("tie", "churn", "0.8", 30),
            score("tie2", "churn", "0.8", 30),
            score("tie2", "churn", "0.2", 30),
            // Later in the file but earlier in time: the greatest ts wins.
            score("order", "churn", "0.1", 40),
            score("order", "churn", "0.9", 35),
        ],
        ..Dataset::default()
    };
    check_at(&c, &data, 15, &[("risk", &["flip"]), ("calm", &[])]);
    check_at(&c, &data, 25, &[("risk", &[]), ("calm", &["flip"])]);
    check_at(
        &c,
        &data,
        36,
        &[("risk", &["order", "tie", "tie2"]), ("calm", &["flip"])],
    );
    check_at(
        &c,
        &data,
        40,
        &[("risk", &["tie", "tie2"]), ("calm", &["flip", "order"])],
    );
}

#[test]
fn users_are_upserts_and_the_last_row_wins() {
    let source = "
        schema users(country: text, plan: text)
        segment us  = users.country = 'US'
        segment pro = users.plan = 'pro'
        segment not_us = not us
    ";
    let data = Dataset {
        users: vec![
            user("a", vec![text("US"), text("free")]),
            user("b", vec![text("DE"), text("pro")]),
            user("c", vec![text("US"), text("pro")]),
            user("a", vec![text("DE"), text("pro")]),
            user("d", vec![text("US"), NULL]),
            // The whole row is replaced: c's country becomes missing.
            user("c", vec![NULL, text("pro")]),
            user("e", vec![text("DE"), text("pro")]),
            user("e", vec![text("FR"), text("free")]),
            user("e", vec![text("US"), text("free")]),
            // The same row twice is one user.
            user("f", vec![text("US"), text("pro")]),
            user("f", vec![text("US"), text("pro")]),
        ],
        ..Dataset::default()
    };
    check(
        source,
        &data,
        0,
        &[
            ("us", &["d", "e", "f"]),
            ("pro", &["a", "b", "c", "f"]),
            ("not_us", &["a", "b", "c"]),
        ],
    );
}

// ---------------------------------------------------------------------------------
// Structure: references, `in`, several sources
// ---------------------------------------------------------------------------------

#[test]
fn segment_references_chained_three_deep() {
    // Written in reverse: a segment may use one defined further down.
    let source = "
        schema users(country: text)
        segment a4 = not a3
        segment a3 = a2 or count(events) >= 5
        segment a2 = a1 and users.country = 'US'
        segment a1 = count(events) >= 1
    ";
    let mut events = vec![event("x", 1, "view", vec![])];
    events.extend((0..5).map(|i| event("y", i, "view", vec![])));
    events.extend((0..2).map(|i| event("w", i, "view", vec![])));
    let data = Dataset {
        users: vec![
            user("x", vec![text("US")]),
            user("y", vec![text("DE")]),
            user("z", vec![text("US")]),
            user("w", vec![text("DE")]),
        ],
        events,
        ..Dataset::default()
    };
    let c = catalog(&[("refs.seg", source)]);
    let order: Vec<&str> = c.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        order,
        ["a4", "a3", "a2", "a1"],
        "catalog order is file order"
    );
    check_at(
        &c,
        &data,
        10,
        &[
            ("a1", &["w", "x", "y"]),
            ("a2", &["x"]),
            ("a3", &["x", "y"]),
            ("a4", &["w", "z"]),
        ],
    );
}

#[test]
fn in_and_not_in_inside_where() {
    let source = "
        schema events(amount: number, category: text)
        segment shoppers      = count(events where kind in ('buy', 'cart')) >= 2
        segment not_shoes     = count(events where category not in ('shoes')) >= 1
        segment not_shoes_neg = count(events where not (category in ('shoes'))) >= 1
        segment amt_in        = exists(events where amount in (1, 2.50))
        segment no_buy        = not exists(events where kind in ('buy'))
    ";
    let data = Dataset {
        events: vec![
            event("m", 1, "buy", vec![num("1"), text("shoes")]),
            event("m", 2, "cart", vec![num("2.5"), NULL]),
            event("m", 3, "view", vec![NULL, text("hats")]),
            event("n", 1, "buy", vec![num("3"), text("shoes")]),
            event("n", 2, "view", vec![NULL, NULL]),
            event("o", 1, "cart", vec![num("2.50"), text("shoes")]),
            event("o", 2, "cart", vec![num("2.50"), text("shoes")]),
        ],
        ..Dataset::default()
    };
    check(
        source,
        &data,
        5,
        &[
            ("shoppers", &["m", "o"]),
            // Row by row a missing category is neither `in` nor `not in`, but
            // `not (... in ...)` over one event is plain negation.
            ("not_shoes", &["m"]),
            ("not_shoes_neg", &["m", "n"]),
            ("amt_in", &["m", "o"]),
            ("no_buy", &["o"]),
        ],
    );
}

#[test]
fn catalog_over_two_sources() {
    let a = "
        schema users(country: text)
        feature buys = count(events where kind = 'buy')
        segment buyers = buys >= 1
    ";
    let b = "
        schema users(country: text)
        schema events(amount: number)
        segment us_buyers = buyers and users.country = 'US'
        segment big       = sum(events.amount) > 10 and buys >= 2
    ";
    let data = Dataset {
        users: vec![user("u1", vec![text("US")]), user("u2", vec![text("DE")])],
        events: vec![
            event("u1", 1, "buy", vec![num("4")]),
            event("u2", 1, "buy", vec![num("6")]),
            event("u2", 2, "buy", vec![num("6")]),
            event("u3", 2, "view", vec![num("100")]),
        ],
        ..Dataset::default()
    };
    let expected: &[(&str, &[&str])] = &[
        ("buyers", &["u1", "u2"]),
        ("us_buyers", &["u1"]),
        ("big", &["u2"]),
    ];
    let c = catalog(&[("a.seg", a), ("b.seg", b)]);
    let order: Vec<&str> = c.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["buyers", "us_buyers", "big"]);
    check_at(&c, &data, 5, expected);
    // Order of the sources does not matter for the members.
    check_at(&catalog(&[("b.seg", b), ("a.seg", a)]), &data, 5, expected);
    // b alone does not check: it uses a's names.
    let err = check_sources(&[("b.seg", b)]).unwrap_err().to_string();
    assert!(err.contains("b.seg:4:"), "{err}");
}

/// Logical times stop at `MAX_TIME` (`i64::MAX`): the greatest time works, beyond it
/// a run is refused with an error rather than answering wrongly.
#[test]
fn as_of_the_greatest_time() {
    let source = "
        schema events(amount: number)
        segment everyone = true
        segment buyers   = exists(events where kind = 'buy')
        segment spent    = sum(events.amount) > 1
    ";
    let max = segflow::value::MAX_TIME;
    let data = Dataset {
        events: vec![
            event("x", 10, "buy", vec![num("5")]),
            event("y", max, "view", vec![NULL]),
        ],
        ..Dataset::default()
    };
    check(
        source,
        &data,
        max - 1,
        &[("everyone", &["x"]), ("buyers", &["x"]), ("spent", &["x"])],
    );
    check(
        source,
        &data,
        max,
        &[
            ("everyone", &["x", "y"]),
            ("buyers", &["x"]),
            ("spent", &["x"]),
        ],
    );
    let catalog = check_sources(&[("t.seg", source)]).unwrap();
    let beyond = run_dataset(
        &catalog,
        Arc::new(data),
        Some(max + 1),
        timely::Config::process(1),
    );
    assert!(matches!(
        beyond,
        Err(segflow::engine::batch::BatchError::TimeOutOfRange(_))
    ));
}
