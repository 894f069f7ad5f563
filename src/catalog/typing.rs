//! Types of comparisons and `in` lists, shared by segment predicates and `where`
//! clauses.
//!
//! A number literal has no type of its own until it meets the other side: compared
//! with a time it must be whole seconds and becomes a [`Value::Time`], compared with a
//! number it stays a [`Value::Number`]. Every other pairing must match exactly.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::ast::{Lit, Literal};
use super::diagnostic::{Checked, Reported, Reports};
use super::ir::{EventOperand, ValueExpr};
use super::source::Span;
use crate::value::{CmpOp, Type, Value};

/// One side of a comparison before the two sides are matched.
pub(crate) enum Operand<E> {
    Typed(E, Type),
    /// A number literal, typed by what it is compared with.
    Number(Decimal),
}

/// An operand with where it was written.
pub(crate) struct Side<E> {
    pub operand: Operand<E>,
    pub span: Span,
}

/// Operands that can hold a constant.
pub(crate) trait Constant {
    fn constant(value: Value) -> Self;
}

impl Constant for ValueExpr {
    fn constant(value: Value) -> Self {
        ValueExpr::Const(value)
    }
}

impl Constant for EventOperand {
    fn constant(value: Value) -> Self {
        EventOperand::Const(value)
    }
}

/// "a number", "text", ...: a type as it reads in a sentence.
pub(crate) fn a(ty: Type) -> &'static str {
    match ty {
        Type::Text => "text",
        Type::Number => "a number",
        Type::Time => "a time",
        Type::Bool => "a bool",
    }
}

/// Types both sides of `left op right`, giving each its IR form.
pub(crate) fn compare<E: Constant>(
    left: Side<E>,
    op: CmpOp,
    right: Side<E>,
    whole: Span,
    reports: &mut Reports,
) -> Checked<(E, E)> {
    let mismatch = |reports: &mut Reports, l: Type, r: Type| {
        let message = format!("cannot compare {l} with {r}");
        reports.error(whole, message, format!("{l} on the left, {r} on the right"))
    };
    let (l, r, ty) = match (left.operand, right.operand) {
        (Operand::Typed(l, lt), Operand::Typed(r, rt)) => {
            if lt != rt {
                return Err(mismatch(reports, lt, rt));
            }
            (l, r, lt)
        }
        (Operand::Typed(l, ty), Operand::Number(n)) => {
            if !matches!(ty, Type::Number | Type::Time) {
                return Err(mismatch(reports, ty, Type::Number));
            }
            (l, E::constant(number_as(n, ty, right.span, reports)?), ty)
        }
        (Operand::Number(n), Operand::Typed(r, ty)) => {
            if !matches!(ty, Type::Number | Type::Time) {
                return Err(mismatch(reports, Type::Number, ty));
            }
            (E::constant(number_as(n, ty, left.span, reports)?), r, ty)
        }
        (Operand::Number(l), Operand::Number(r)) => (
            E::constant(Value::Number(l)),
            E::constant(Value::Number(r)),
            Type::Number,
        ),
    };
    if ty == Type::Bool && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
        let message = format!(
            "cannot order bools with `{}`; only `=` and `!=` apply to them",
            op.symbol()
        );
        return Err(reports.error(whole, message, ""));
    }
    Ok((l, r))
}

/// Types `expr [not] in (list)`: every element must have the expression's type.
pub(crate) fn in_list<E>(
    expr: Side<E>,
    list: &[Lit],
    reports: &mut Reports,
) -> Checked<(E, Vec<Value>)> {
    let (expr, ty) = match expr.operand {
        Operand::Typed(e, ty) => (e, ty),
        // `5 in (...)` is constant; it is refused as the mistake it most likely is.
        Operand::Number(n) => return Err(literal_on_left(n, expr.span, reports)),
    };
    let mut values = Vec::with_capacity(list.len());
    let mut failed = None;
    for lit in list {
        let value = match (&lit.value, ty) {
            (Literal::Number(n), Type::Number | Type::Time) => number_as(*n, ty, lit.span, reports),
            (Literal::Str(s), Type::Text) => Ok(Value::Text(s.as_str().into())),
            (Literal::Bool(b), Type::Bool) => Ok(Value::Bool(*b)),
            (other, _) => {
                let found = match other {
                    Literal::Number(_) => "a number",
                    Literal::Str(_) => "text",
                    Literal::Bool(_) => "a bool",
                };
                let message = format!("this `in` list needs {}, found {found}", a(ty));
                Err(reports.error(
                    lit.span,
                    message,
                    format!("the value on the left is {}", a(ty)),
                ))
            }
        };
        match value {
            Ok(value) => values.push(value),
            Err(reported) => failed = Some(reported),
        }
    }
    match failed {
        Some(reported) => Err(reported),
        None => Ok((expr, values)),
    }
}

fn literal_on_left(n: Decimal, span: Span, reports: &mut Reports) -> Reported {
    let message =
        format!("`{n} in (...)` tests a constant; put a value such as a feature on the left");
    reports.error(span, message, "")
}

/// A number literal as a value of `ty` (a number or a time).
pub(crate) fn number_as(n: Decimal, ty: Type, span: Span, reports: &mut Reports) -> Checked<Value> {
    if ty != Type::Time {
        return Ok(Value::Number(n));
    }
    match n.fract().is_zero().then(|| n.to_i64()).flatten() {
        Some(seconds) => Ok(Value::Time(seconds)),
        None => {
            let message = format!(
                "`{n}` is not a time: a time literal is whole seconds since the Unix epoch"
            );
            Err(reports.error(span, message, "compared with a time here"))
        }
    }
}

/// "X is a number; compare it, e.g. `X > 0`": for a value used where a condition is
/// needed. `what` names the value (e.g. "feature `purchases`"), `written` is how it
/// was written; `in_where` picks an example that is valid inside `where`.
pub(crate) fn not_a_condition(
    what: &str,
    written: &str,
    ty: Type,
    in_where: bool,
    span: Span,
    reports: &mut Reports,
) -> Reported {
    let example = match ty {
        Type::Number => "> 0",
        Type::Text => "= 'value'",
        Type::Time if in_where => ">= 1700000000",
        Type::Time => "> now - 30d",
        Type::Bool => "= true",
    };
    let message = format!(
        "{what} is {}; compare it, e.g. `{written} {example}`",
        a(ty)
    );
    reports.error(span, message, "not a condition")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::source::SourceMap;

    fn side(operand: Operand<ValueExpr>) -> Side<ValueExpr> {
        Side {
            operand,
            span: Span::new(0, 0, 1),
        }
    }

    fn messages(reports: Reports) -> Vec<String> {
        let mut sources = SourceMap::default();
        sources.add("t", "x".to_string());
        reports
            .into_diagnostics(&sources)
            .into_iter()
            .map(|d| d.message)
            .collect()
    }

    #[test]
    fn number_literals_take_the_other_sides_type() {
        let mut reports = Reports::default();
        let time = || side(Operand::Typed(ValueExpr::Now(0), Type::Time));
        let lit = |s: &str| side(Operand::Number(s.parse().unwrap()));
        let whole = Span::new(0, 0, 1);
        let (_, r) = compare(time(), CmpOp::Gt, lit("1700000000"), whole, &mut reports).unwrap();
        assert_eq!(r, ValueExpr::Const(Value::Time(1_700_000_000)));
        let (l, _) = compare(lit("2"), CmpOp::Lt, time(), whole, &mut reports).unwrap();
        assert_eq!(l, ValueExpr::Const(Value::Time(2)));
        let attr = side(Operand::Typed(ValueExpr::Attr(0), Type::Number));
        let (_, r) = compare(attr, CmpOp::Gt, lit("0.5"), whole, &mut reports).unwrap();
        assert_eq!(r, ValueExpr::Const(Value::Number("0.5".parse().unwrap())));
        assert!(compare(time(), CmpOp::Gt, lit("1.5"), whole, &mut reports).is_err());
        let text = side(Operand::Typed(ValueExpr::Attr(0), Type::Text));
        assert!(compare(text, CmpOp::Gt, lit("5"), whole, &mut reports).is_err());
        let flag = || side(Operand::Typed(ValueExpr::Attr(0), Type::Bool));
        assert!(compare(flag(), CmpOp::Lt, flag(), whole, &mut reports).is_err());
        assert!(compare(flag(), CmpOp::Ne, flag(), whole, &mut reports).is_ok());
        assert_eq!(
            messages(reports),
            [
                "`1.5` is not a time: a time literal is whole seconds since the Unix epoch",
                "cannot compare text with number",
                "cannot order bools with `<`; only `=` and `!=` apply to them",
            ]
        );
    }

    #[test]
    fn in_lists_must_match_and_all_mismatches_are_reported() {
        let mut reports = Reports::default();
        let lit = |value| Lit {
            value,
            span: Span::new(0, 0, 1),
        };
        let list = [
            lit(Literal::Number(5.into())),
            lit(Literal::Str("a".into())),
            lit(Literal::Bool(true)),
        ];
        let time = side(Operand::Typed(ValueExpr::Attr(0), Type::Time));
        assert!(in_list(time, &list[..1], &mut reports).is_ok_and(|(_, v)| v == [Value::Time(5)]));
        let text = side(Operand::Typed(ValueExpr::Attr(0), Type::Text));
        assert!(in_list(text, &list, &mut reports).is_err());
        assert_eq!(
            messages(reports),
            [
                "this `in` list needs text, found a number",
                "this `in` list needs text, found a bool"
            ]
        );
    }
}
