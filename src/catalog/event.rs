//! `where` clauses: conditions on one event's own fields.
//!
//! A `where` is evaluated row by row, before aggregation, so it can only see the
//! event's fields (`ts`, `kind`, declared columns; bare or as `events.x`) and
//! literals. Everything per-user (features, `users.x`, aggregates) and `now` is refused
//! with a hint at what to write instead: time windows are `within`'s job.

use super::ast::{Expr, ExprKind, Literal, Table};
use super::diagnostic::{Checked, Reports};
use super::ir::{EventOperand, EventPred};
use super::names::Def;
use super::schema::listing;
use super::scope::Scope;
use super::typing::{self, Operand, Side};
use crate::value::{CmpOp, Type, Value};

/// Checks the condition of a `where` clause.
pub(crate) fn condition(expr: &Expr, scope: &Scope, reports: &mut Reports) -> Checked<EventPred> {
    boxed(expr, scope, reports).map(|pred| *pred)
}

/// The connectives, which are all that recurses deeply (a long `or` chain). Only boxes
/// pass through this frame, and the other conditions are left to `atom`, so the frame
/// stays small even in unoptimised builds.
fn boxed(expr: &Expr, scope: &Scope, reports: &mut Reports) -> Checked<Box<EventPred>> {
    match &expr.kind {
        ExprKind::And(l, r) => {
            let (l, r) = (boxed(l, scope, reports), boxed(r, scope, reports));
            Ok(Box::new(EventPred::And(l?, r?)))
        }
        ExprKind::Or(l, r) => {
            let (l, r) = (boxed(l, scope, reports), boxed(r, scope, reports));
            Ok(Box::new(EventPred::Or(l?, r?)))
        }
        ExprKind::Not(inner) => Ok(Box::new(EventPred::Not(boxed(inner, scope, reports)?))),
        _ => atom(expr, scope, reports).map(Box::new),
    }
}

/// A condition other than `and`, `or`, `not`.
fn atom(expr: &Expr, scope: &Scope, reports: &mut Reports) -> Checked<EventPred> {
    match &expr.kind {
        ExprKind::Lit(Literal::Bool(b)) => Ok(EventPred::Const(*b)),
        ExprKind::Cmp { left, op, right } => {
            let (l, r) = (
                operand(left, scope, reports),
                operand(right, scope, reports),
            );
            let (l, r) = typing::compare(l?, *op, r?, expr.span, reports)?;
            Ok(EventPred::Cmp(l, *op, r))
        }
        ExprKind::In {
            expr: inner,
            list,
            negated,
        } => {
            let side = operand(inner, scope, reports)?;
            let (operand, list) = typing::in_list(side, list, reports)?;
            Ok(EventPred::In {
                operand,
                list,
                negated: *negated,
            })
        }
        _ => {
            let side = operand(expr, scope, reports)?;
            let ty = match side.operand {
                Operand::Typed(field, Type::Bool) => {
                    let yes = EventOperand::Const(Value::Bool(true));
                    return Ok(EventPred::Cmp(field, CmpOp::Eq, yes));
                }
                Operand::Typed(_, ty) => ty,
                Operand::Number(_) => Type::Number,
            };
            let written = scope.sources.snippet(expr.span);
            let what = format!("`{written}`");
            Err(typing::not_a_condition(
                &what, written, ty, true, expr.span, reports,
            ))
        }
    }
}

const ARITHMETIC_IN_WHERE: &str =
    "arithmetic cannot be used inside `where`, which compares an event's own fields with literals";

/// One side of a comparison inside `where`.
fn operand(expr: &Expr, scope: &Scope, reports: &mut Reports) -> Checked<Side<EventOperand>> {
    let operand = match &expr.kind {
        ExprKind::Lit(Literal::Number(n)) => Operand::Number(*n),
        ExprKind::Lit(Literal::Str(s)) => Operand::Typed(
            EventOperand::Const(Value::Text(s.as_str().into())),
            Type::Text,
        ),
        ExprKind::Lit(Literal::Bool(b)) => {
            Operand::Typed(EventOperand::Const(Value::Bool(*b)), Type::Bool)
        }
        ExprKind::Name(name) => field(name, name, expr, scope, reports)?,
        ExprKind::Field {
            table: Table::Events,
            field: f,
        } => field(&f.name, &format!("events.{}", f.name), expr, scope, reports)?,
        ExprKind::Field {
            table: Table::Users,
            field: f,
        } => {
            let message = format!(
                "`users.{}` cannot be used inside `where`, which only sees the event's own fields; combine it with the aggregate using `and`",
                f.name
            );
            return Err(reports.error(expr.span, message, ""));
        }
        ExprKind::Arith { left, right, .. }
            if !matches!(
                (&left.kind, &right.kind),
                (ExprKind::Now | ExprKind::Duration(_), _)
                    | (_, ExprKind::Now | ExprKind::Duration(_))
            ) =>
        {
            return Err(reports.error(expr.span, ARITHMETIC_IN_WHERE, ""));
        }
        ExprKind::Neg(_) => {
            return Err(reports.error(expr.span, ARITHMETIC_IN_WHERE, ""));
        }
        ExprKind::Now | ExprKind::Duration(_) | ExprKind::Arith { .. } => {
            let message = "`now` and durations cannot be used inside `where`; use `within DURATION` for a time window";
            return Err(reports.error(
                expr.span,
                message,
                "e.g. `count(events where kind = 'x' within 30d)`",
            ));
        }
        ExprKind::Call { .. } => {
            let message = "functions and aggregates cannot be used inside `where`, which only sees the event's own fields";
            return Err(reports.error(expr.span, message, ""));
        }
        ExprKind::Cmp { .. }
        | ExprKind::In { .. }
        | ExprKind::Not(_)
        | ExprKind::And(..)
        | ExprKind::Or(..) => {
            return Err(reports.error(expr.span, "expected a value here, found a condition", ""));
        }
    };
    Ok(Side {
        operand,
        span: expr.span,
    })
}

/// An event field named `name` (written as `written`).
fn field(
    name: &str,
    written: &str,
    expr: &Expr,
    scope: &Scope,
    reports: &mut Reports,
) -> Checked<Operand<EventOperand>> {
    if let Some(field) = scope.schema.event_field(name) {
        let ty = scope.schema.event_field_type(field);
        return Ok(Operand::Typed(EventOperand::Field(field), ty));
    }
    let fields = listing(scope.schema.event_field_names());
    let is = match scope.names.get(name) {
        Some(Def::Feature(_)) if name == written => "a feature",
        Some(Def::Segment(_)) if name == written => "a segment",
        _ => {
            let message = format!("unknown event field `{written}`; events has: {fields}");
            return Err(scope.schema.unknown_column(
                Table::Events,
                message,
                expr.span,
                name,
                reports,
            ));
        }
    };
    let message =
        format!("`{name}` is {is}, but `where` only sees the event's own fields ({fields})");
    Err(reports.error(
        expr.span,
        message,
        "combine it with the aggregate using `and` instead",
    ))
}
