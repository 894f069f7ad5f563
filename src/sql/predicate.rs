//! Conditions as SQL: segment predicates and `where` clauses.
//!
//! segflow's logic has two values: a comparison with a missing value is false (`!=` and
//! `not in` too), and `not` is plain negation over the universe. SQL's has three
//! (NULL), and `NOT NULL` is NULL, which would drop a user with no country from
//! `not users.country = 'US'`. So every comparison that can meet a NULL is closed with
//! `coalesce(..., false)`; after that `AND`, `OR` and `NOT` mean what they mean in
//! segflow. Comparisons of values that are never NULL (counts, sums, constants, `now`,
//! `ts`, `kind`) are written bare.
//!
//! An average is never divided: DuckDB divides decimals in floating point. A [`Term`]
//! for `avg` is its exact sum "per" its count, and a comparison multiplies through by
//! the (positive) counts: `avg > x` is `sum > x * count`. See docs/DESIGN.md for how
//! this relates to the engine's 28-digit quotient.

use std::cmp::Ordering;

use rust_decimal::Decimal;

use crate::catalog::ir::{Catalog, EventField, EventOperand, EventPred, Pred, ValueExpr};
use crate::value::{CmpOp, Value};

use super::ctes::NOW;
use super::error::SqlError;
use super::ident::quote_str;
use super::number::SCALE;
use super::tables;

/// A number literal the SQL types cannot hold exactly (more than [`SCALE`] places).
#[derive(Debug)]
pub(super) struct Imprecise(Decimal);

impl Imprecise {
    /// The error, naming the definition (`context`) that holds the literal.
    pub fn within(self, context: &str) -> SqlError {
        SqlError::Precision {
            context: context.to_string(),
            number: self.0,
        }
    }
}

/// Binding strength of an SQL condition, for parenthesising only where needed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Prec {
    Or,
    And,
    Not,
    /// A comparison or `IN`: binds tighter than `NOT`, but reads better in parentheses
    /// after it.
    Cmp,
    /// A function call, a constant.
    Atom,
}

/// An SQL condition with its binding strength.
pub(super) type Cond = (String, Prec);

/// One side of a comparison.
#[derive(Clone, Debug)]
pub(super) struct Term {
    pub sql: String,
    /// Whether it can be NULL (a missing value).
    pub nullable: bool,
    /// Whether `sql` is a single token or call, safe as an operand of `*`.
    pub atomic: bool,
    /// For an average: the count that `sql` (the sum) is to be divided by.
    pub per: Option<String>,
}

impl Term {
    /// A value that is never missing, written as one token.
    pub fn known(sql: impl Into<String>) -> Term {
        Term {
            sql: sql.into(),
            nullable: false,
            atomic: true,
            per: None,
        }
    }

    /// A column that may hold NULL.
    pub fn column(sql: impl Into<String>) -> Term {
        Term {
            nullable: true,
            ..Term::known(sql)
        }
    }

    /// `self * count`, keeping it one operand.
    fn times(&self, count: &str) -> String {
        if self.atomic {
            format!("{} * {count}", self.sql)
        } else {
            format!("({}) * {count}", self.sql)
        }
    }
}

/// `coalesce(cond, false)` when `nullable`, else `cond`.
fn closed(cond: String, nullable: bool) -> Cond {
    if nullable {
        (format!("coalesce({cond}, false)"), Prec::Atom)
    } else {
        (cond, Prec::Cmp)
    }
}

/// `left op right`, false when either side is missing; averages multiplied out.
pub(super) fn compare(left: &Term, op: CmpOp, right: &Term) -> Cond {
    let (l, r) = match (&left.per, &right.per) {
        (None, None) => (left.sql.clone(), right.sql.clone()),
        (Some(n), None) => (left.sql.clone(), right.times(n)),
        (None, Some(n)) => (left.times(n), right.sql.clone()),
        (Some(n1), Some(n2)) => (left.times(n2), right.times(n1)),
    };
    let symbol = match op {
        CmpOp::Ne => "<>",
        other => other.symbol(),
    };
    closed(format!("{l} {symbol} {r}"), left.nullable || right.nullable)
}

/// `term [NOT] IN (list)`, false when the term is missing, negated or not.
pub(super) fn in_list(term: &Term, list: &[Value], negated: bool) -> Result<Cond, Imprecise> {
    if list.is_empty() {
        // Nothing is in an empty list: only `not in` holds, for a present value.
        return Ok(match (negated, term.nullable) {
            (false, _) => ("FALSE".to_string(), Prec::Atom),
            (true, false) => ("TRUE".to_string(), Prec::Atom),
            (true, true) => (format!("{} IS NOT NULL", term.sql), Prec::Cmp),
        });
    }
    let items = list.iter().map(literal).collect::<Result<Vec<_>, _>>()?;
    let not = if negated { " NOT" } else { "" };
    Ok(closed(
        format!("{}{not} IN ({})", term.sql, items.join(", ")),
        term.nullable,
    ))
}

/// `a AND b` / `a OR b` (`op` is `Prec::And` or `Prec::Or`).
pub(super) fn combine(op: Prec, (a, pa): Cond, (b, pb): Cond) -> Cond {
    let word = if op == Prec::And { "AND" } else { "OR" };
    let wrap = |sql: String, prec: Prec| {
        if prec < op {
            format!("({sql})")
        } else {
            sql
        }
    };
    (format!("{} {word} {}", wrap(a, pa), wrap(b, pb)), op)
}

/// `NOT c`.
pub(super) fn negate((c, prec): Cond) -> Cond {
    if prec == Prec::Atom {
        (format!("NOT {c}"), Prec::Not)
    } else {
        (format!("NOT ({c})"), Prec::Not)
    }
}

/// A constant condition.
pub(super) fn constant(b: bool) -> Cond {
    let sql = if b { "TRUE" } else { "FALSE" };
    (sql.to_string(), Prec::Atom)
}

/// A constant as an SQL literal. Numbers keep their written form (`1.00`); those with
/// more than [`SCALE`] significant decimal places are refused.
pub(super) fn literal(value: &Value) -> Result<String, Imprecise> {
    Ok(match value {
        Value::Null => "NULL".to_string(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Value::Time(t) => t.to_string(),
        // The shortest text that reads back as the same double.
        Value::Float(x) => format!("CAST('{x}' AS DOUBLE)"),
        Value::Text(s) => quote_str(s),
        Value::Number(n) if n.scale() <= SCALE => n.to_string(),
        Value::Number(n) => {
            let n = n.normalize();
            if n.scale() > SCALE {
                return Err(Imprecise(n));
            }
            n.to_string()
        }
    })
}

/// A constant as a term.
pub(super) fn constant_term(value: &Value) -> Result<Term, Imprecise> {
    let sql = literal(value)?;
    Ok(Term {
        nullable: value.is_null(),
        ..Term::known(sql)
    })
}

/// An event field as a term: `ts` and `kind` are never missing, declared columns may be.
pub(super) fn field(catalog: &Catalog, field: EventField) -> Term {
    match field {
        EventField::Ts => Term::known("ts"),
        EventField::Kind => Term::known("kind"),
        EventField::Column(i) => Term::column(tables::column(&catalog.events[i])),
    }
}

/// A `where` clause over one event's own fields.
pub(super) fn event_pred(catalog: &Catalog, pred: &EventPred) -> Result<Cond, Imprecise> {
    let operand = |o: &EventOperand| match o {
        EventOperand::Field(f) => Ok(field(catalog, *f)),
        EventOperand::Const(v) => constant_term(v),
    };
    Ok(match pred {
        EventPred::Const(b) => constant(*b),
        EventPred::Cmp(l, op, r) => compare(&operand(l)?, *op, &operand(r)?),
        EventPred::In {
            operand: o,
            list,
            negated,
        } => in_list(&operand(o)?, list, *negated)?,
        EventPred::And(a, b) => {
            combine(Prec::And, event_pred(catalog, a)?, event_pred(catalog, b)?)
        }
        EventPred::Or(a, b) => combine(Prec::Or, event_pred(catalog, a)?, event_pred(catalog, b)?),
        EventPred::Not(p) => negate(event_pred(catalog, p)?),
    })
}

/// A condition over per-user values: a segment's predicate, or the condition of an
/// `if` or of a condition used as a number. `term` writes each value compared,
/// `segment` each reference to a segment.
pub(super) fn condition<E: From<Imprecise>>(
    pred: &Pred,
    term: &mut dyn FnMut(&ValueExpr) -> Result<Term, E>,
    segment: &dyn Fn(usize) -> Result<Cond, E>,
) -> Result<Cond, E> {
    Ok(match pred {
        Pred::Const(b) => constant(*b),
        Pred::Cmp(l, op, r) => {
            let l = term(l)?;
            compare(&l, *op, &term(r)?)
        }
        Pred::In {
            expr,
            list,
            negated,
        } => in_list(&term(expr)?, list, *negated)?,
        Pred::Segment(i) => segment(*i)?,
        Pred::And(a, b) => {
            let a = condition(a, term, segment)?;
            combine(Prec::And, a, condition(b, term, segment)?)
        }
        Pred::Or(a, b) => {
            let a = condition(a, term, segment)?;
            combine(Prec::Or, a, condition(b, term, segment)?)
        }
        Pred::Not(p) => negate(condition(p, term, segment)?),
    })
}

/// `now + offset`. As the engine's times, a sum past the greatest 64-bit time saturates
/// there (`now` is at most that, so `now - D` never overflows): added in `HUGEINT`.
pub(super) fn now_term(offset: i64) -> Term {
    let sql = match offset.cmp(&0) {
        Ordering::Equal => NOW.to_string(),
        Ordering::Greater => format!("least(CAST({NOW} AS HUGEINT) + {offset}, {})", i64::MAX),
        Ordering::Less => format!("{NOW} - {}", offset.unsigned_abs()),
    };
    Term {
        atomic: offset == 0,
        ..Term::known(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn number(text: &str) -> Value {
        Value::Number(Decimal::from_str(text).unwrap())
    }

    fn avg(sum: &str, count: &str) -> Term {
        Term {
            per: Some(count.to_string()),
            ..Term::column(sum)
        }
    }

    #[test]
    fn comparisons_with_a_possible_null_are_false_not_null() {
        let country = Term::column("\"users.country\"");
        let us = constant_term(&Value::Text("US".into())).unwrap();
        assert_eq!(
            compare(&country, CmpOp::Ne, &us).0,
            "coalesce(\"users.country\" <> 'US', false)"
        );
        // Counts are never missing: no coalesce.
        let purchases = Term::known("\"purchases\"");
        assert_eq!(
            compare(&purchases, CmpOp::Ge, &constant_term(&number("2")).unwrap()),
            ("\"purchases\" >= 2".to_string(), Prec::Cmp)
        );
        let list = [Value::Text("pro".into()), Value::Text("it's".into())];
        assert_eq!(
            in_list(&country, &list, true).unwrap().0,
            "coalesce(\"users.country\" NOT IN ('pro', 'it''s'), false)"
        );
    }

    #[test]
    fn empty_in_lists_follow_the_rule_for_missing_values() {
        let maybe = Term::column("x");
        assert_eq!(in_list(&maybe, &[], false).unwrap().0, "FALSE");
        assert_eq!(in_list(&maybe, &[], true).unwrap().0, "x IS NOT NULL");
        assert_eq!(in_list(&Term::known("x"), &[], true).unwrap().0, "TRUE");
    }

    #[test]
    fn averages_are_multiplied_out_never_divided() {
        let order = avg("\"avg_order (sum)\"", "\"avg_order (count)\"");
        let threshold = constant_term(&number("150.5")).unwrap();
        assert_eq!(
            compare(&order, CmpOp::Ge, &threshold).0,
            "coalesce(\"avg_order (sum)\" >= 150.5 * \"avg_order (count)\", false)"
        );
        assert_eq!(
            compare(&threshold, CmpOp::Lt, &order).0,
            "coalesce(150.5 * \"avg_order (count)\" < \"avg_order (sum)\", false)"
        );
        let other = avg("s2", "n2");
        assert_eq!(
            compare(&order, CmpOp::Eq, &other).0,
            "coalesce(\"avg_order (sum)\" * n2 = s2 * \"avg_order (count)\", false)"
        );
    }

    #[test]
    fn not_and_or_parenthesise_only_where_needed() {
        let a = ("a > 1".to_string(), Prec::Cmp);
        let b = ("coalesce(b = 2, false)".to_string(), Prec::Atom);
        let c = ("c < 3".to_string(), Prec::Cmp);
        let or = combine(Prec::Or, a.clone(), b.clone());
        assert_eq!(
            combine(Prec::And, or.clone(), c.clone()).0,
            "(a > 1 OR coalesce(b = 2, false)) AND c < 3"
        );
        assert_eq!(
            combine(
                Prec::Or,
                combine(Prec::And, a.clone(), c.clone()),
                b.clone()
            )
            .0,
            "a > 1 AND c < 3 OR coalesce(b = 2, false)"
        );
        assert_eq!(negate(b).0, "NOT coalesce(b = 2, false)");
        assert_eq!(negate(a).0, "NOT (a > 1)");
        assert_eq!(negate(or).0, "NOT (a > 1 OR coalesce(b = 2, false))");
    }

    #[test]
    fn literals_are_exact_or_refused() {
        assert_eq!(literal(&number("-3.50")).unwrap(), "-3.50");
        assert_eq!(literal(&number("0.123456789")).unwrap(), "0.123456789");
        assert_eq!(literal(&number("2.0000000000")).unwrap(), "2");
        assert!(literal(&number("0.1234567891")).is_err());
        assert_eq!(literal(&Value::Time(-5)).unwrap(), "-5");
        assert_eq!(literal(&Value::Bool(false)).unwrap(), "FALSE");
        assert_eq!(literal(&Value::Text("a'b".into())).unwrap(), "'a''b'");
    }

    #[test]
    fn now_offsets() {
        assert_eq!(now_term(0).sql, "params.now");
        assert_eq!(now_term(-1_209_600).sql, "params.now - 1209600");
        assert_eq!(
            now_term(3600).sql,
            "least(CAST(params.now AS HUGEINT) + 3600, 9223372036854775807)"
        );
        // `i64::MIN` has no positive `i64`; DuckDB reads the literal as a HUGEINT.
        assert_eq!(now_term(i64::MIN).sql, "params.now - 9223372036854775808");
    }
}
