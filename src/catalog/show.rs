//! Checked expressions written back as catalog text.
//!
//! The checked catalog does not hold the source text of an inline aggregate (features
//! are inlined, names resolved), yet people need to recognise it: `segflow check` names
//! the features a segment depends on, and `segflow sql` names the SQL column that holds
//! each value. Both write it the way it could have been written in a catalog.

use crate::value::Value;

use super::ir::{AggFunc, Catalog, EventField, EventOperand, EventPred, Pred, ValueExpr};

/// A per-user value: `users.country`, `score('churn')`, an aggregate, `now - 14d`, a
/// literal.
pub fn value(catalog: &Catalog, expr: &ValueExpr) -> String {
    match expr {
        ValueExpr::Const(v) => literal(v),
        ValueExpr::Now(0) => "now".to_string(),
        ValueExpr::Now(offset) => {
            let sign = if *offset < 0 { '-' } else { '+' };
            format!("now {sign} {}", duration(offset.unsigned_abs()))
        }
        ValueExpr::Attr(i) => format!("users.{}", catalog.users[*i].name),
        ValueExpr::Score(model, version) => version.call(model),
        ValueExpr::Agg(a) => aggregate(catalog, a.func, a.field, a.filter.as_ref(), a.within),
        ValueExpr::DaysSince(x) => format!("days_since({})", value(catalog, x)),
        // The conversion to a double is implicit in the language.
        ValueExpr::Approx(x) => value(catalog, x),
        ValueExpr::Neg(x) => format!("-{}", operand(catalog, x)),
        ValueExpr::Arith(l, op, r) => format!(
            "{} {} {}",
            operand(catalog, l),
            op.symbol(),
            operand(catalog, r)
        ),
        ValueExpr::Func(func, args) => {
            let args: Vec<String> = args.iter().map(|a| value(catalog, a)).collect();
            format!("{}({})", func.name(), args.join(", "))
        }
        ValueExpr::If(cond, then, otherwise) => format!(
            "if({}, {}, {})",
            pred(catalog, cond),
            value(catalog, then),
            value(catalog, otherwise)
        ),
        ValueExpr::Truth(cond) => format!("({})", pred(catalog, cond)),
    }
}

/// A value inside arithmetic: parenthesised unless it is a single term.
fn operand(catalog: &Catalog, expr: &ValueExpr) -> String {
    match expr {
        ValueExpr::Arith(..) | ValueExpr::Neg(_) => format!("({})", value(catalog, expr)),
        ValueExpr::Approx(x) => operand(catalog, x),
        _ => value(catalog, expr),
    }
}

/// A condition over per-user values (inside `if` or used as a number); compound parts
/// are parenthesised and segments are named.
pub fn pred(catalog: &Catalog, pred_: &Pred) -> String {
    match pred_ {
        Pred::Const(b) => b.to_string(),
        Pred::Cmp(l, op, r) => {
            format!(
                "{} {} {}",
                value(catalog, l),
                op.symbol(),
                value(catalog, r)
            )
        }
        Pred::In {
            expr,
            list,
            negated,
        } => {
            let items: Vec<_> = list.iter().map(literal).collect();
            let not = if *negated { " not" } else { "" };
            format!("{}{not} in ({})", value(catalog, expr), items.join(", "))
        }
        Pred::Segment(i) => catalog.segments[*i].name.clone(),
        Pred::And(l, r) => format!("({} and {})", pred(catalog, l), pred(catalog, r)),
        Pred::Or(l, r) => format!("({} or {})", pred(catalog, l), pred(catalog, r)),
        Pred::Not(p) => format!("not {}", pred(catalog, p)),
    }
}

/// `func(events[.field] [where filter] [within D])`.
pub fn aggregate(
    catalog: &Catalog,
    func: AggFunc,
    field: Option<EventField>,
    filter: Option<&EventPred>,
    within: Option<u64>,
) -> String {
    let mut text = format!("{}(events", func.name());
    if let Some(field) = field {
        text.push('.');
        text.push_str(catalog.event_field_name(field));
    }
    if let Some(filter) = filter {
        text.push_str(" where ");
        text.push_str(&event_pred(catalog, filter));
    }
    if let Some(within) = within {
        text.push_str(" within ");
        text.push_str(&duration(within));
    }
    text.push(')');
    text
}

/// A duration in the largest unit that divides it: `30d`, `90m`, `45s`.
pub fn duration(seconds: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(604_800, "w"), (86_400, "d"), (3_600, "h"), (60, "m")];
    UNITS
        .iter()
        .find(|(size, _)| seconds.is_multiple_of(*size))
        .map_or_else(
            || format!("{seconds}s"),
            |(size, unit)| format!("{}{unit}", seconds / size),
        )
}

/// A `where` clause; compound parts are parenthesised.
pub fn event_pred(catalog: &Catalog, pred: &EventPred) -> String {
    let operand = |o: &EventOperand| match o {
        EventOperand::Field(f) => catalog.event_field_name(*f).to_string(),
        EventOperand::Const(v) => literal(v),
    };
    match pred {
        EventPred::Const(b) => b.to_string(),
        EventPred::Cmp(l, op, r) => format!("{} {} {}", operand(l), op.symbol(), operand(r)),
        EventPred::In {
            operand: o,
            list,
            negated,
        } => {
            let items: Vec<_> = list.iter().map(literal).collect();
            let not = if *negated { " not" } else { "" };
            format!("{}{not} in ({})", operand(o), items.join(", "))
        }
        EventPred::And(l, r) => format!(
            "({} and {})",
            event_pred(catalog, l),
            event_pred(catalog, r)
        ),
        EventPred::Or(l, r) => {
            format!("({} or {})", event_pred(catalog, l), event_pred(catalog, r))
        }
        EventPred::Not(p) => format!("not {}", event_pred(catalog, p)),
    }
}

/// A literal as written in a catalog: text in single quotes (`'it''s'`).
pub fn literal(value: &Value) -> String {
    match value {
        Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::check_sources;
    use crate::catalog::ir::ScoreVersion;

    #[test]
    fn durations_are_shown_in_their_largest_exact_unit() {
        assert_eq!(duration(2_592_000), "30d");
        assert_eq!(duration(1_209_600), "2w");
        assert_eq!(duration(5_400), "90m");
        assert_eq!(duration(45), "45s");
    }

    #[test]
    fn aggregates_read_as_written() {
        let catalog = check_sources(&[(
            "t.seg",
            "schema events(amount: number, category: text)
             segment s = sum(events.amount where kind in ('buy', 'it''s') and not category = 'x' within 90d) > 1",
        )])
        .unwrap();
        let Pred::Cmp(ValueExpr::Agg(agg), ..) = &catalog.segments[0].pred else {
            panic!("{:?}", catalog.segments[0].pred)
        };
        assert_eq!(
            value(&catalog, &ValueExpr::Agg(agg.clone())),
            "sum(events.amount where (kind in ('buy', 'it''s') and not category = 'x') within 90d)"
        );
        assert_eq!(value(&catalog, &ValueExpr::Now(-1_209_600)), "now - 2w");
        assert_eq!(value(&catalog, &ValueExpr::Now(45)), "now + 45s");
        assert_eq!(
            value(
                &catalog,
                &ValueExpr::Score("it's".into(), ScoreVersion::Active)
            ),
            "score('it''s')"
        );
    }

    #[test]
    fn arithmetic_reads_as_written_with_the_parentheses_it_needs() {
        let catalog = check_sources(&[(
            "t.seg",
            "schema events(amount: number)
             feature ltv = sum(events.amount)
             feature n = count(events)
             segment s = logistic(-1.5 + 0.9 * (n = 0) - 0.002 * ltv) / -(ltv - 1) > if(n > 1 and ltv > 2, least(n, 3), 0.5)",
        )])
        .unwrap();
        let Pred::Cmp(l, _, r) = &catalog.segments[0].pred else {
            panic!("{:?}", catalog.segments[0].pred)
        };
        assert_eq!(
            value(&catalog, l),
            "logistic((-1.5 + (0.9 * (count(events) = 0))) - (0.002 * sum(events.amount))) / (-(sum(events.amount) - 1))"
        );
        assert_eq!(
            value(&catalog, r),
            "if((count(events) > 1 and sum(events.amount) > 2), least(count(events), 3), 0.5)"
        );
    }
}
