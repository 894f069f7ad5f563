//! End-to-end tests of the catalog pipeline through its public entry points: the
//! reference catalog, every required error (message and position), and robustness.

use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::ir::{
    AggFunc, Aggregate, Catalog, EventField, EventOperand, EventPred, Pred, ScoreVersion, ValueExpr,
};
use super::{check_sources, load, CatalogError, Diagnostic};
use crate::arith::{ArithOp, Func};
use crate::value::{CmpOp, Type, Value};

const ECOMMERCE: &str = "\
# dataflows/ecommerce.seg
schema users(country: text, signup_ts: time, plan: text)
schema events(amount: number, category: text)

feature purchases     = count(events where kind = 'purchase')
feature ltv           = sum(events.amount where kind = 'purchase')
feature purchases_30d = count(events where kind = 'purchase' within 30d)
feature spend_90d     = sum(events.amount where kind = 'purchase' within 90d)
feature last_seen     = max(events.ts)
feature churn         = score('churn')

segment high_value_repeat = purchases > 5 and ltv > 500
segment churn_risk        = churn > 0.7
segment vip_retention     = high_value_repeat and churn_risk
segment active_30d        = exists(events within 30d)
segment lapsed            = purchases >= 2 and not active_30d
segment new_us            = users.country = 'US' and users.signup_ts > now - 14d
segment shoes_fans        = count(events where category = 'shoes' within 90d) >= 3
";

const SCHEMA: &str = "\
schema users(country: text, signup_ts: time, plan: text, is_vip: bool, age: number)
schema events(amount: number, category: text, refunded: bool)
feature purchases = count(events where kind = 'purchase')
";

fn ok(text: &str) -> Catalog {
    match check_sources(&[("t.seg", text)]) {
        Ok(catalog) => catalog,
        Err(error) => panic!("unexpected errors:\n{error}"),
    }
}

fn errors_of(sources: &[(&str, &str)]) -> Vec<Diagnostic> {
    match check_sources(sources) {
        Ok(_) => panic!("expected errors"),
        Err(CatalogError::Invalid(diagnostics)) => diagnostics,
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// `line:col: message` of every error in `text`, checked after [`SCHEMA`] (which is
/// the first file, so positions are within `text`).
fn errors(text: &str) -> Vec<String> {
    errors_of(&[("schema.seg", SCHEMA), ("t.seg", text)])
        .into_iter()
        .map(|d| format!("{}:{}: {}", d.loc.line, d.loc.col, d.message))
        .collect()
}

/// The single error in `text`, with its label.
fn error(text: &str) -> (String, String) {
    let diagnostics = errors_of(&[("schema.seg", SCHEMA), ("t.seg", text)]);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let d = &diagnostics[0];
    (
        format!("{}:{}: {}", d.loc.line, d.loc.col, d.message),
        d.label.clone(),
    )
}

fn pred(text: &str) -> Pred {
    let catalog = ok(&format!("{SCHEMA}{text}"));
    catalog.segments.last().expect("a segment").pred.clone()
}

fn num(text: &str) -> ValueExpr {
    ValueExpr::Const(Value::Number(Decimal::from_str(text).unwrap()))
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn kind_is(s: &str) -> EventPred {
    EventPred::Cmp(
        EventOperand::Field(EventField::Kind),
        CmpOp::Eq,
        EventOperand::Const(text(s)),
    )
}

fn count_purchases(within: Option<u64>) -> ValueExpr {
    ValueExpr::Agg(Aggregate {
        func: AggFunc::Count,
        field: None,
        filter: Some(kind_is("purchase")),
        within,
    })
}

fn and(l: Pred, r: Pred) -> Pred {
    Pred::And(Box::new(l), Box::new(r))
}

fn or(l: Pred, r: Pred) -> Pred {
    Pred::Or(Box::new(l), Box::new(r))
}

fn not(p: Pred) -> Pred {
    Pred::Not(Box::new(p))
}

fn seg(catalog: &Catalog, name: &str) -> Pred {
    let index = catalog.segment_index(name).expect(name);
    catalog.segments[index].pred.clone()
}

#[test]
fn the_reference_catalog_checks() {
    let catalog = ok(ECOMMERCE);
    let names: Vec<_> = catalog
        .users
        .iter()
        .map(|c| (c.name.as_str(), c.ty))
        .collect();
    assert_eq!(
        names,
        [
            ("country", Type::Text),
            ("signup_ts", Type::Time),
            ("plan", Type::Text)
        ]
    );
    assert_eq!(catalog.events.len(), 2);
    let features: Vec<_> = catalog
        .features
        .iter()
        .map(|f| (f.name.as_str(), f.ty))
        .collect();
    assert_eq!(
        features,
        [
            ("purchases", Type::Number),
            ("ltv", Type::Number),
            ("purchases_30d", Type::Number),
            ("spend_90d", Type::Number),
            ("last_seen", Type::Time),
            ("churn", Type::Number),
        ]
    );
    assert_eq!(
        catalog.features[5].expr,
        ValueExpr::Score("churn".into(), ScoreVersion::Active)
    );
    assert_eq!(catalog.features[2].expr, count_purchases(Some(30 * 86_400)));
    assert_eq!(catalog.segments.len(), 7);
    assert_eq!(catalog.segments[4].loc.to_string(), "t.seg:16:9");

    let active = ValueExpr::Agg(Aggregate {
        func: AggFunc::Count,
        field: None,
        filter: None,
        within: Some(30 * 86_400),
    });
    assert_eq!(
        seg(&catalog, "active_30d"),
        Pred::Cmp(active, CmpOp::Gt, num("0"))
    );
    assert_eq!(
        seg(&catalog, "lapsed"),
        and(
            Pred::Cmp(count_purchases(None), CmpOp::Ge, num("2")),
            not(Pred::Segment(3)),
        )
    );
    assert_eq!(
        seg(&catalog, "new_us"),
        and(
            Pred::Cmp(ValueExpr::Attr(0), CmpOp::Eq, ValueExpr::Const(text("US"))),
            Pred::Cmp(ValueExpr::Attr(1), CmpOp::Gt, ValueExpr::Now(-14 * 86_400)),
        )
    );
    let shoes = ValueExpr::Agg(Aggregate {
        func: AggFunc::Count,
        field: None,
        filter: Some(EventPred::Cmp(
            EventOperand::Field(EventField::Column(1)),
            CmpOp::Eq,
            EventOperand::Const(text("shoes")),
        )),
        within: Some(90 * 86_400),
    });
    assert_eq!(
        seg(&catalog, "shoes_fans"),
        Pred::Cmp(shoes, CmpOp::Ge, num("3"))
    );
    assert_eq!(
        seg(&catalog, "vip_retention"),
        and(Pred::Segment(0), Pred::Segment(1))
    );
    assert_eq!(
        seg(&catalog, "churn_risk"),
        Pred::Cmp(
            ValueExpr::Score("churn".into(), ScoreVersion::Active),
            CmpOp::Gt,
            num("0.7")
        )
    );
}

#[test]
fn features_are_inlined_and_aliases_followed() {
    let catalog = ok(&format!(
        "{SCHEMA}feature a = b\nfeature b = purchases\nsegment s = a > 1"
    ));
    assert_eq!(catalog.features[1].expr, count_purchases(None));
    assert_eq!(
        seg(&catalog, "s"),
        Pred::Cmp(count_purchases(None), CmpOp::Gt, num("1"))
    );
    let written_inline = pred("segment t = count(events where kind = 'purchase') > 1");
    assert_eq!(seg(&catalog, "s"), written_inline);
}

#[test]
fn precedence_not_and_or() {
    let p = pred("segment s = not users.is_vip or users.age > 1 and not users.age < 9");
    let vip = Pred::Cmp(
        ValueExpr::Attr(3),
        CmpOp::Eq,
        ValueExpr::Const(Value::Bool(true)),
    );
    let older = Pred::Cmp(ValueExpr::Attr(4), CmpOp::Gt, num("1"));
    let younger = Pred::Cmp(ValueExpr::Attr(4), CmpOp::Lt, num("9"));
    assert_eq!(
        p,
        or(not(vip.clone()), and(older.clone(), not(younger.clone())))
    );
    let p = pred("segment s = (users.is_vip or users.age > 1) and true");
    assert_eq!(p, and(or(vip, older), Pred::Const(true)));
}

#[test]
fn in_and_not_in() {
    let p = pred("segment s = users.country not in ('US', 'it''s') and users.age in (1, 2.5)");
    assert_eq!(
        p,
        and(
            Pred::In {
                expr: ValueExpr::Attr(0),
                list: vec![text("US"), text("it's")],
                negated: true
            },
            Pred::In {
                expr: ValueExpr::Attr(4),
                list: vec![
                    Value::Number(1.into()),
                    Value::Number(Decimal::from_str("2.5").unwrap())
                ],
                negated: false
            },
        )
    );
    let p = pred("feature c = count(events where category not in ('a') and kind in ('x', 'y'))\nsegment s = c > 0");
    let Pred::Cmp(
        ValueExpr::Agg(Aggregate {
            filter: Some(filter),
            ..
        }),
        _,
        _,
    ) = p
    else {
        panic!("{p:?}")
    };
    assert_eq!(
        filter,
        EventPred::And(
            Box::new(EventPred::In {
                operand: EventOperand::Field(EventField::Column(1)),
                list: vec![text("a")],
                negated: true
            }),
            Box::new(EventPred::In {
                operand: EventOperand::Field(EventField::Kind),
                list: vec![text("x"), text("y")],
                negated: false
            }),
        )
    );
}

#[test]
fn number_literals_meet_times() {
    let p = pred("segment s = users.signup_ts >= 1700000000 and 1800000000 > users.signup_ts");
    assert_eq!(
        p,
        and(
            Pred::Cmp(
                ValueExpr::Attr(1),
                CmpOp::Ge,
                ValueExpr::Const(Value::Time(1_700_000_000))
            ),
            Pred::Cmp(
                ValueExpr::Const(Value::Time(1_800_000_000)),
                CmpOp::Gt,
                ValueExpr::Attr(1)
            ),
        )
    );
    let p = pred("segment s = users.signup_ts in (5, -7)");
    assert_eq!(
        p,
        Pred::In {
            expr: ValueExpr::Attr(1),
            list: vec![Value::Time(5), Value::Time(-7)],
            negated: false
        }
    );
    let p = pred("feature c = count(events where ts > 100)\nsegment s = c > -1.5");
    let Pred::Cmp(ValueExpr::Agg(agg), _, right) = p else {
        panic!()
    };
    assert_eq!(right, num("-1.5"));
    assert_eq!(
        agg.filter,
        Some(EventPred::Cmp(
            EventOperand::Field(EventField::Ts),
            CmpOp::Gt,
            EventOperand::Const(Value::Time(100))
        ))
    );
    assert_eq!(
        error("segment s = users.signup_ts > 1.5").0,
        "1:31: `1.5` is not a time: a time literal is whole seconds since the Unix epoch"
    );
}

#[test]
fn now_offsets_fold() {
    let p = pred("segment s = users.signup_ts < now + 1h - 30m and now > users.signup_ts");
    assert_eq!(
        p,
        and(
            Pred::Cmp(ValueExpr::Attr(1), CmpOp::Lt, ValueExpr::Now(1_800)),
            Pred::Cmp(ValueExpr::Now(0), CmpOp::Gt, ValueExpr::Attr(1)),
        )
    );
}

#[test]
fn bare_bools_exists_and_qualified_fields() {
    let yes = || ValueExpr::Const(Value::Bool(true));
    assert_eq!(
        pred("segment s = users.is_vip"),
        Pred::Cmp(ValueExpr::Attr(3), CmpOp::Eq, yes())
    );
    assert_eq!(
        pred("feature vip = users.is_vip\nsegment s = vip"),
        Pred::Cmp(ValueExpr::Attr(3), CmpOp::Eq, yes())
    );
    let p =
        pred("segment s = exists(events.amount where refunded and not events.refunded = false)");
    let refunded = EventOperand::Field(EventField::Column(2));
    let expected = Aggregate {
        func: AggFunc::Count,
        field: Some(EventField::Column(0)),
        filter: Some(EventPred::And(
            Box::new(EventPred::Cmp(
                refunded.clone(),
                CmpOp::Eq,
                EventOperand::Const(Value::Bool(true)),
            )),
            Box::new(EventPred::Not(Box::new(EventPred::Cmp(
                refunded,
                CmpOp::Eq,
                EventOperand::Const(Value::Bool(false)),
            )))),
        )),
        within: None,
    };
    assert_eq!(p, Pred::Cmp(ValueExpr::Agg(expected), CmpOp::Gt, num("0")));
}

#[test]
fn aggregate_types() {
    let catalog = ok(&format!(
        "{SCHEMA}feature a = min(events.category)\nfeature b = max(events.ts within 1w)\n\
         feature c = avg(events.amount)\nfeature d = count_distinct(events.refunded)\nfeature e = count(events.amount)"
    ));
    let types: Vec<Type> = catalog.features[1..].iter().map(|f| f.ty).collect();
    assert_eq!(
        types,
        [
            Type::Text,
            Type::Time,
            Type::Number,
            Type::Number,
            Type::Number
        ]
    );
}

#[test]
fn two_sources_share_one_namespace() {
    let a = "schema events(amount: number)\nsegment big = spend > 100 and not small\nfeature spend = sum(events.amount)";
    let b = "schema events(amount: number, category: text)\nsegment small = spend < 10";
    let catalog = check_sources(&[("a.seg", a), ("b.seg", b)]).unwrap();
    assert_eq!(catalog.segments[0].name, "big");
    assert_eq!(catalog.segments[1].name, "small");
    assert_eq!(catalog.events.len(), 2);
    assert_eq!(catalog.events[0].loc.to_string(), "a.seg:1:15");
    let Pred::And(_, right) = &catalog.segments[0].pred else {
        panic!()
    };
    assert_eq!(**right, not(Pred::Segment(1)));
    assert_eq!(catalog.segments[1].loc.to_string(), "b.seg:2:9");
}

#[test]
fn load_reads_files_and_reports_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecommerce.seg");
    std::fs::write(&path, ECOMMERCE).unwrap();
    let catalog = load(std::slice::from_ref(&path)).unwrap();
    assert_eq!(catalog.segments.len(), 7);
    assert_eq!(*catalog.segments[0].loc.file, *path.display().to_string());

    let missing = dir.path().join("x.seg");
    let error = load(&[path, missing.clone()]).unwrap_err();
    assert!(matches!(error, CatalogError::Io { .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "cannot read catalog file '{}': No such file or directory",
            missing.display()
        )
    );
}

#[test]
fn a_byte_order_mark_is_ignored_and_invalid_utf8_is_placed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bom.seg");
    std::fs::write(&path, format!("\u{feff}{ECOMMERCE}")).unwrap();
    let catalog = load(std::slice::from_ref(&path)).unwrap();
    let plain = check_sources(&[("bom.seg", ECOMMERCE)]).unwrap();
    assert_eq!(catalog.segments.len(), 7);
    let place = |c: &Catalog| (c.segments[0].loc.line, c.segments[0].loc.col);
    assert_eq!(place(&catalog), place(&plain), "the mark takes no column");

    let bad = dir.path().join("bad.seg");
    std::fs::write(
        &bad,
        b"schema users(plan: text)\nsegment s = users.plan = 'caf\xe9'\n",
    )
    .unwrap();
    let error = load(std::slice::from_ref(&bad)).unwrap_err().to_string();
    let place = format!("--> {}:2:30", bad.display());
    assert!(error.contains("not valid UTF-8 (byte 0xe9)"), "{error}");
    assert!(error.contains(&place), "{error}");
}

#[test]
fn cr_and_crlf_line_ends_read_as_lf() {
    let lf = "schema users(plan: text)\n# a comment\nsegment a = true\nsegment b = nope\n";
    let expected = errors_of(&[("c.seg", lf)]);
    assert_eq!(expected[0].loc.to_string(), "c.seg:4:13");
    for end in ["\r", "\r\n"] {
        let text = lf.replace('\n', end);
        let found = errors_of(&[("c.seg", &text)]);
        let shown = |d: &[Diagnostic]| d.iter().map(|d| d.to_string()).collect::<Vec<_>>();
        assert_eq!(shown(&found), shown(&expected), "{end:?}");
        let fixed = text.replace("nope", "false");
        assert_eq!(
            check_sources(&[("c.seg", &fixed)]).unwrap().segments.len(),
            2
        );
    }
}

// ---- errors ----

#[test]
fn unknown_name_suggests_the_closest() {
    let text = format!("{}segment s = purchse > 5\n", "\n".repeat(11));
    let diagnostics = errors_of(&[("schema.seg", SCHEMA), ("dataflows/x.seg", &text)]);
    let shown = CatalogError::Invalid(diagnostics).to_string();
    let expected = "\
error: unknown feature or segment `purchse`
  --> dataflows/x.seg:12:13
   |
12 | segment s = purchse > 5
   |             ^^^^^^^ did you mean `purchases`?";
    assert_eq!(shown, expected);

    assert_eq!(
        error("segment seg = purchases > 1\nsegment t = not sge"),
        (
            "2:17: unknown feature or segment `sge`".into(),
            "did you mean `seg`?".into()
        )
    );
    assert_eq!(
        error("segment s = country = 'US'"),
        (
            "1:13: unknown feature or segment `country`".into(),
            "did you mean `users.country`?".into()
        )
    );
    assert_eq!(
        error("segment s = zzzzzz"),
        (
            "1:13: unknown feature or segment `zzzzzz`".into(),
            "not a feature or segment".into()
        )
    );
}

#[test]
fn unknown_users_attribute() {
    assert_eq!(
        error("segment s = users.cuntry = 'US'"),
        (
            "1:19: unknown users attribute `cuntry`; users has: country, signup_ts, plan, is_vip, age".into(),
            "did you mean `country`?".into()
        )
    );
}

#[test]
fn unknown_function() {
    assert_eq!(
        error("segment s = cout(events) > 1"),
        (
            "1:13: unknown function `cout`; expected one of count, sum, min, max, avg, count_distinct, median, exists, score".into(),
            "did you mean `count`?".into()
        )
    );
    assert_eq!(error("feature f = scroe('x')").1, "did you mean `score`?");
}

#[test]
fn aggregate_over_undeclared_field() {
    assert_eq!(
        error("feature f = sum(events.amout)"),
        (
            "1:24: aggregate over undeclared field `amout`; events has: amount, category, refunded, ts, kind".into(),
            "did you mean `amount`?".into()
        )
    );
    assert_eq!(
        error("feature f = count(events where categry = 'x')"),
        (
            "1:32: unknown event field `categry`; events has: amount, category, refunded, ts, kind"
                .into(),
            "did you mean `category`?".into()
        )
    );
}

#[test]
fn a_score_reads_the_active_or_a_fixed_version() {
    let catalog = check_sources(&[(
        "t.seg",
        "feature a = score('churn')\nfeature b = score('churn', 'v3')",
    )])
    .unwrap();
    assert_eq!(
        catalog.features[0].expr,
        ValueExpr::Score("churn".into(), ScoreVersion::Active)
    );
    assert_eq!(
        catalog.features[1].expr,
        ValueExpr::Score("churn".into(), ScoreVersion::Fixed("v3".into()))
    );
}

#[test]
fn days_since_counts_from_a_time_read_per_user() {
    let catalog = check_sources(&[(
        "t.seg",
        "schema users(signup_ts: time)\n\
         feature last_seen = max(events.ts)\n\
         model m = 0.5 * days_since(last_seen) + days_since(users.signup_ts)\n\
         segment s = days_since(last_seen) > 90",
    )])
    .unwrap();
    let days = |expr: &ValueExpr| matches!(expr, ValueExpr::DaysSince(x) if x.is_per_user());
    let ValueExpr::Arith(l, _, r) = &catalog.features[1].expr else {
        panic!("{:?}", catalog.features[1].expr)
    };
    assert!(
        matches!(&**l, ValueExpr::Arith(_, _, x) if days(x)),
        "{l:?}"
    );
    assert!(days(r), "{r:?}");
    let Pred::Cmp(left, ..) = &catalog.segments[0].pred else {
        panic!()
    };
    assert!(days(left));
    const USAGE: &str = "`days_since` takes one time read per user: a `users` attribute or an \
                         aggregate of events (or a feature that is one), e.g. \
                         `days_since(max(events.ts))`";
    const NOW_INSIDE: &str = "`now` can only be compared directly, as in `last_seen < now - 30d`; \
                              not inside arithmetic, a function or `if`";
    let cases = [
        (
            "segment s = days_since(now) > 1",
            format!("1:24: {NOW_INSIDE}"),
        ),
        (
            "segment s = days_since(now - 3d) > 1",
            format!("1:24: {NOW_INSIDE}"),
        ),
        ("feature f = days_since()", format!("1:13: {USAGE}")),
        (
            "feature f = days_since(users.signup_ts, users.signup_ts)",
            format!("1:13: {USAGE}"),
        ),
        (
            "feature f = days_since(coalesce(users.signup_ts, max(events.ts)))",
            format!("1:24: {USAGE}"),
        ),
        (
            "feature f = days_since(purchases)",
            "1:24: `days_since` needs a time; `purchases` is a number".to_string(),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text).0, expected, "{text}");
    }
}

const SCORE_ARGS: &str = "1:13: `score` takes a model name in quotes and optionally a version, \
                          e.g. `score('churn')` (its active version) or `score('churn', 'v3')`";

#[test]
fn aggregate_misuse() {
    let cases = [
        ("feature f = sum(events)", "1:13: `sum(events)` needs a field: write `sum(events.FIELD ...)`"),
        ("feature f = sum(events.category)", "1:24: `sum` needs a number field; `events.category` is text"),
        ("feature f = median(events.category)", "1:27: `median` needs a number field; `events.category` is text"),
        ("feature f = median(events)", "1:13: `median(events)` needs a field: write `median(events.FIELD ...)`"),
        ("feature f = max(events.refunded)", "1:24: `max` cannot aggregate `events.refunded`: it is bool, which has no order"),
        ("feature f = count(purchases)", "1:13: `count` aggregates events: write `count(events [where ...] [within ...])`"),
        ("feature f = score(churn)", SCORE_ARGS),
        ("feature f = score('churn', v3)", SCORE_ARGS),
        ("feature f = score('churn', '')", SCORE_ARGS),
        ("feature f = score('churn', 'v3', 'v4')", SCORE_ARGS),
        ("feature f = exists(events)", "1:13: `exists(...)` is a condition, not a value: use it in a segment, or count with `count(...)`"),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text).0, expected, "{text}");
    }
}

#[test]
fn type_mismatches() {
    let cases = [
        ("segment s = users.country > 5", "1:13: cannot compare text with number"),
        ("segment s = users.country = true", "1:13: cannot compare text with bool"),
        ("segment s = purchases = 'x'", "1:13: cannot compare number with text"),
        ("segment s = users.signup_ts < users.age", "1:13: cannot compare time with number"),
        ("segment s = users.is_vip < true", "1:13: cannot order bools with `<`; only `=` and `!=` apply to them"),
        ("segment s = users.age in (1, 'x')", "1:30: this `in` list needs a number, found text"),
        ("feature c = count(events where kind = 1)\nsegment s = c > 0", "1:32: cannot compare text with number"),
        ("segment s = purchases", "1:13: feature `purchases` is a number; compare it, e.g. `purchases > 0`"),
        ("segment s = users.country", "1:13: `users.country` is text; compare it, e.g. `users.country = 'value'`"),
        ("segment s = max(events.ts)", "1:13: `max(events.ts)` is a time; compare it, e.g. `max(events.ts) > now - 30d`"),
        ("feature c = count(events where amount)", "1:32: `amount` is a number; compare it, e.g. `amount > 0`"),
        ("segment s = purchases > 1 and (s > 1)", "1:32: segment `s` is a condition, not a value; combine segments with `and`, `or` and `not`"),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text).0, expected, "{text}");
    }
}

#[test]
fn now_and_durations_are_confined() {
    let cases = [
        ("segment s = purchases > 30d", "1:25: durations can only be added to or subtracted from `now`"),
        ("segment s = users.signup_ts > users.signup_ts - 1d", "1:31: durations can only be added to or subtracted from `now`"),
        ("segment s = purchases > now - 1", "1:25: arithmetic is limited to `now + DURATION` and `now - DURATION`"),
        ("feature f = now", "1:13: `now` is only allowed in segment predicates"),
        ("feature f = count(events where ts > now - 1d)", "1:37: `now` and durations cannot be used inside `where`; use `within DURATION` for a time window"),
        ("feature f = count(events where users.age > 1)", "1:32: `users.age` cannot be used inside `where`, which only sees the event's own fields; combine it with the aggregate using `and`"),
        ("feature f = count(events where purchases > 1)", "1:32: `purchases` is a feature, but `where` only sees the event's own fields (amount, category, refunded, ts, kind)"),
        ("segment s = events.amount > 1", "1:13: `events.amount` is a field of each event, not a per-user value; aggregate it, e.g. `max(events.amount)`"),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text).0, expected, "{text}");
    }
}

#[test]
fn bad_durations() {
    assert_eq!(
        error("segment s = exists(events within 30x) or exists(events within 1d)").0,
        format!("1:34: bad duration `30x`: {}", super::duration::EXPECTED)
    );
    assert_eq!(
        error("segment s = users.signup_ts > now - 0d").0,
        "1:37: bad duration `0d`: a duration must be longer than zero"
    );
}

#[test]
fn duplicate_names_report_both_places() {
    let a = "schema events(amount: number)\nfeature x = count(events)\nsegment y = x > 1";
    let b = "feature x = sum(events.amount)\nsegment y = x > 2\nsegment z = true\nfeature z = count(events)";
    let messages: Vec<String> = errors_of(&[("a.seg", a), ("b.seg", b)])
        .into_iter()
        .map(|d| format!("{}: {} ({})", d.loc, d.message, d.label))
        .collect();
    assert_eq!(
        messages,
        [
            "b.seg:1:9: duplicate name `x`; first defined at a.seg:2:9 (a second feature with this name)",
            "b.seg:2:9: duplicate name `y`; first defined at a.seg:3:9 (a second segment with this name)",
            "b.seg:4:9: duplicate name `z`; first defined at b.seg:3:9 (features, models and segments share one namespace)",
        ]
    );
}

#[test]
fn cycles_are_named() {
    assert_eq!(
        errors("segment a = b and purchases > 1\nsegment b = not c\nsegment c = a or false\nsegment d = d"),
        [
            "3:13: segment cycle: a -> b -> c -> a",
            "4:13: segment cycle: d -> d",
        ]
    );
    assert_eq!(
        errors("feature f = g\nfeature g = f\nsegment s = f > 1"),
        ["2:13: feature cycle: f -> g -> f"]
    );
}

#[test]
fn syntax_errors() {
    assert_eq!(
        error("segment s > 5"),
        (
            "1:11: expected `=` after segment name, found `>`".into(),
            String::new()
        )
    );
    assert_eq!(
        error("segment s = 'unterminated\n").0,
        "1:13: unterminated string; close it with `'` on the same line"
    );
    assert_eq!(
        error("segment s = purchases @ 3").0,
        "1:23: unexpected character `@`"
    );
    assert_eq!(
        error("segment s = purchases == 3").0,
        "1:23: `==` is not an operator; write `=`"
    );
    assert_eq!(
        error("feature now = count(events)").0,
        "1:9: expected a feature name after `feature`, found keyword `now`"
    );
}

#[test]
fn every_independent_error_is_reported() {
    let text = "\
segment a = purchse > 1
segment b = users.country > 5
segment c = missing_segment and a   # a's error is not repeated here
segment d = 
segment e = broken_d_is_not_unknown or d
feature f = sum(events.nope within 2x)
schema users(x: strng)
segment g = users.x = 1   # x's declaration failed: not reported again
";
    assert_eq!(
        errors(text),
        [
            "1:13: unknown feature or segment `purchse`",
            "2:13: cannot compare text with number",
            "3:13: unknown feature or segment `missing_segment`",
            "5:1: expected a value or a condition, found keyword `segment`",
            "5:13: unknown feature or segment `broken_d_is_not_unknown`",
            "6:36: bad duration `2x`: expected a whole number followed by s, m, h, d or w (e.g. `45s`, `15m`, `12h`, `30d`, `2w`)",
            "7:17: unknown type `strng`; expected text, number, time or bool",
        ]
    );
}

// ---- hashes ----

#[test]
fn hashes_are_stable_and_sensitive() {
    let base = ok(ECOMMERCE);
    let again = check_sources(&[("other.seg", ECOMMERCE)]).unwrap();
    let hashes = |c: &Catalog| {
        c.segments
            .iter()
            .map(|s| s.hash.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(hashes(&base), hashes(&again));
    assert!(base.segments.iter().all(|s| s.hash.len() == 16));

    // A new column shifts no meaning, so no hash changes.
    let widened = ok(&ECOMMERCE.replace("schema users(", "schema users(age: number, "));
    assert_eq!(hashes(&base), hashes(&widened));

    // A threshold change reaches the segment and every segment above it, only them.
    let changed = ok(&ECOMMERCE.replace("purchases > 5", "purchases > 6"));
    let same: Vec<bool> = hashes(&base)
        .iter()
        .zip(hashes(&changed))
        .map(|(a, b)| *a == b)
        .collect();
    // high_value_repeat, churn_risk, vip_retention, active_30d, lapsed, new_us, shoes_fans
    assert_eq!(same, [false, true, false, true, true, true, true]);

    // Writing a feature inline, or under another name, is the same definition; `5.0` is `5`.
    let inline = ok(&ECOMMERCE.replace(
        "purchases > 5 and",
        "count(events where kind = 'purchase') > 5.0 and",
    ));
    assert_eq!(hashes(&base), hashes(&inline));
}

// ---- robustness ----

#[test]
fn odd_inputs_do_not_panic() {
    assert_eq!(ok(""), Catalog::default());
    assert_eq!(ok("# only a comment\n\n   # another"), Catalog::default());
    for text in [
        "'",
        "'''",
        "segment",
        "segment s",
        "segment s =",
        "schema",
        "schema users(",
        "schema events(a:",
        "@",
        "ü",
        "segment é = 1",
        "segment s = 1 +",
        "segment s = count(",
        "segment s = count(events where",
        "segment s = (((",
        "segment s = x in (",
        "feature f = score(",
        "\u{0}\u{7f}",
        "segment s = -",
        "segment s = 99999999999999999999999999999999 > 1",
        "segment s = now - 99999999999999999999w > 1",
        "segment s = users.signup_ts > now - 15250284452472w - 15250284452472w",
        "segment s = users.signup_ts > 99999999999999999999999",
    ] {
        let result = check_sources(&[("t.seg", text)]);
        if let Err(error) = result {
            assert!(!error.to_string().is_empty());
        }
    }
}

#[test]
fn definitions_at_the_depth_limits_check() {
    let parens = format!("{}users.is_vip{}", "(".repeat(60), ")".repeat(60));
    let nots = format!("{}users.is_vip", "not ".repeat(60));
    let chain = " and users.is_vip".repeat(240);
    let filter = " or kind = 'a'".repeat(240);
    let text = format!(
        "segment a = {parens}{chain}\nsegment b = {nots} or a\n\
         segment c = count(events where kind = 'a'{filter}) > 1 and b"
    );
    let catalog = ok(&format!("{SCHEMA}{text}"));
    assert_eq!(catalog.segments.len(), 3);
    let too_deep = format!(
        "segment a = users.is_vip{}",
        " and users.is_vip".repeat(300)
    );
    assert!(error(&too_deep).0.contains("nested too deeply"));
}

const SOUP: &[&str] = &[
    "schema",
    "feature",
    "segment",
    "users",
    "events",
    "(",
    ")",
    ",",
    ".",
    ":",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "and",
    "or",
    "not",
    "in",
    "where",
    "within",
    "now",
    "true",
    "false",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "exists",
    "score",
    "count_distinct",
    "median",
    "kind",
    "ts",
    "amount",
    "text",
    "number",
    "time",
    "bool",
    "a",
    "b",
    "'x'",
    "'",
    "5",
    "1.5",
    "30d",
    "0d",
    "14x",
    "\n",
    "#",
    "@",
    "é",
];

proptest! {
    #[test]
    fn random_text_never_panics(text in "(?s).{0,200}") {
        let _ = check_sources(&[("t.seg", &text)]).map_err(|e| e.to_string());
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(SOUP), 0..60)) {
        let text = tokens.join(" ");
        let _ = check_sources(&[("t.seg", &text), ("u.seg", SCHEMA)]).map_err(|e| e.to_string());
    }

    #[test]
    fn errors_point_into_their_line(tokens in prop::collection::vec(prop::sample::select(SOUP), 0..40)) {
        let text = tokens.join(" ");
        if let Err(CatalogError::Invalid(diagnostics)) = check_sources(&[("t.seg", &text)]) {
            prop_assert!(!diagnostics.is_empty());
            for d in diagnostics {
                let line_chars = d.line_text.chars().count() as u32;
                prop_assert!(d.loc.col >= 1 && d.loc.col <= line_chars + 1, "{d}");
                prop_assert!(d.width >= 1);
            }
        }
    }
}

#[test]
fn arithmetic_is_exact_until_a_quotient_or_a_function_makes_it_approximate() {
    let ltv = || {
        ValueExpr::Agg(Aggregate {
            func: AggFunc::Sum,
            field: Some(EventField::Column(0)),
            filter: None,
            within: None,
        })
    };
    let approx = |v: ValueExpr| ValueExpr::Approx(Box::new(v));
    let float = |x: f64| ValueExpr::Const(Value::Float(crate::value::Float::new(x).unwrap()));
    let catalog = ok(&format!(
        "{SCHEMA}feature ltv = sum(events.amount)\nfeature rate = ltv / purchases\nsegment s = rate > 0.3\nsegment t = ltv * 2 - 1 >= purchases"
    ));
    assert_eq!(
        catalog.features[2].expr,
        ValueExpr::Arith(
            Box::new(approx(ltv())),
            ArithOp::Div,
            Box::new(approx(count_purchases(None)))
        )
    );
    let Pred::Cmp(rate, CmpOp::Gt, threshold) = seg(&catalog, "s") else {
        panic!()
    };
    assert_eq!(rate, catalog.features[2].expr);
    assert_eq!(threshold, float(0.3));
    let Pred::Cmp(left, CmpOp::Ge, right) = seg(&catalog, "t") else {
        panic!()
    };
    assert!(!left.is_approximate());
    assert_eq!(right, count_purchases(None));
    // Where an exact value meets an approximate one, the exact one is converted.
    let Pred::Cmp(left, _, right) = pred("segment u = ln(purchases) < least(purchases, 2.5)")
    else {
        panic!()
    };
    assert_eq!(
        left,
        ValueExpr::Func(Func::Ln, vec![approx(count_purchases(None))])
    );
    assert_eq!(
        right,
        approx(ValueExpr::Func(
            Func::Least,
            vec![count_purchases(None), num("2.5")]
        ))
    );
}

#[test]
fn conditions_are_numbers_inside_values() {
    let Pred::Cmp(left, CmpOp::Gt, _) =
        pred("segment s = 0.9 * (purchases = 0) + if(users.is_vip, 1, 0) > 0.5")
    else {
        panic!()
    };
    let ValueExpr::Arith(product, ArithOp::Add, choice) = left else {
        panic!("{left:?}")
    };
    assert_eq!(
        *product,
        ValueExpr::Arith(
            Box::new(num("0.9")),
            ArithOp::Mul,
            Box::new(ValueExpr::Truth(Box::new(Pred::Cmp(
                count_purchases(None),
                CmpOp::Eq,
                num("0")
            ))))
        )
    );
    assert!(matches!(*choice, ValueExpr::If(..)));
}

#[test]
fn misuse_of_arithmetic_is_explained() {
    let cases = [
        ("segment s = users.country + 1 > 2", "1:13: arithmetic needs numbers; `users.country` is text"),
        ("segment s = purchases * (now - 1d) > 2", "1:26: `now` can only be compared directly, as in `last_seen < now - 30d`; not inside arithmetic, a function or `if`"),
        ("segment a = purchases > 1\nsegment s = if(a, 1, 0) > 0", "2:16: segment `a` cannot be used inside arithmetic, a function or `if`; combine segments with `and`, `or` and `not`"),
        ("segment s = ln(purchases, 2) > 0", "1:13: `ln` takes one number, e.g. `ln(ltv)`"),
        ("segment s = least(purchases) > 0", "1:13: `least` takes two or more values, e.g. `least(a, b)`"),
        ("segment s = least(purchases, users.country) > 0", "1:13: the values of `least` must have one type; found a number and text"),
        ("segment s = greatest(users.is_vip, users.is_vip)", "1:13: `greatest` cannot order bools"),
        ("segment s = if(purchases, 1, 0) > 0", "1:16: feature `purchases` is a number; compare it, e.g. `purchases > 0`"),
        ("segment s = abs(events) > 0", "1:13: `abs` takes values, not `events`; aggregate the events first, e.g. `abs(count(events))`"),
        ("segment s = coalesce(max(events.ts), users.signup_ts) < now - 1d", "1:13: a comparison with `now` may read one per-user value; this one reads 2"),
        ("segment s = coalesce(users.signup_ts, 5) < now - 1d", "1:13: a comparison with `now` must compare a value that is missing for users without data; this one has a value even then (a constant in `coalesce`, `least`, `greatest` or `if`)"),
        ("feature f = purchases + 1\nfeature g = f * 2 > 3", "2:13: a feature is a value, not a condition; define a segment for conditions (or use `if(condition, a, b)`)"),
        ("feature f = 2 * 3", "1:13: a feature must be a per-user value: an aggregate, `score('model')`, `users.ATTR`, another feature, or arithmetic over them"),
        ("feature f = count(events where amount * 2 > 1)", "1:32: arithmetic cannot be used inside `where`, which compares an event's own fields with literals"),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text).0, expected, "{text}");
    }
    assert_eq!(
        errors("feature f = g + 1\nfeature g = f * 2\nsegment s = f > 1"),
        ["2:13: feature cycle: f -> g -> f"]
    );
}

#[test]
fn features_may_name_features_declared_later() {
    let catalog = ok(&format!(
        "{SCHEMA}feature rate = refunds / total\nfeature refunds = sum(events.amount where refunded)\nfeature total = sum(events.amount)\nsegment s = rate > 0.5"
    ));
    assert!(catalog.features[1].expr.is_approximate());
}
