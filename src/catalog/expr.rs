//! Feature bodies and segment predicates, from syntax to the IR.
//!
//! Name resolution in a predicate: a bare name is a segment reference if a segment has
//! that name, otherwise a feature (inlined as its resolved expression). A value used as
//! a condition must be a bool, which means `= true`. `now` (with `± DURATION` folded
//! into one offset) is only allowed in segment predicates: features are per-user values
//! that the planner shares between segments, and a time-dependent feature would be a
//! condition in disguise.

use rust_decimal::Decimal;

use super::ast::{ArithOp, Expr, ExprKind, Ident, Literal, Table};
use super::call::{self, Called};
use super::diagnostic::{Checked, Reported, Reports};
use super::ir::{Pred, ValueExpr};
use super::names::Def;
use super::schema::listing;
use super::scope::Scope;
use super::source::Span;
use super::suggest;
use super::typing::{self, Operand, Side};
use crate::value::{CmpOp, Type, Value};

/// A checked feature body, before aliases are followed.
pub(crate) enum FeatureBody {
    /// `feature a = b`: the feature with this index, named at this span.
    Alias(usize, Span),
    Value(ValueExpr, Type),
}

/// Checks the body of a feature: an aggregate, `score('m')`, `users.ATTR` or the name
/// of another feature.
pub(crate) fn feature_body(
    expr: &Expr,
    scope: &Scope,
    reports: &mut Reports,
) -> Checked<FeatureBody> {
    let refuse = |reports: &mut Reports, message: &str| Err(reports.error(expr.span, message, ""));
    match &expr.kind {
        ExprKind::Name(name) => match scope.names.get(name) {
            Some(Def::Feature(i)) => Ok(FeatureBody::Alias(i, expr.span)),
            Some(Def::Segment(_)) => {
                let message = format!("`{name}` is a segment (a condition); a feature must be a value");
                refuse(reports, &message)
            }
            None => Err(unknown_name(name, expr.span, scope, scope.names.feature_names(), reports)),
        },
        ExprKind::Field {
            table: Table::Users,
            field,
        } => {
            let (value, ty) = user_attr(field, scope, reports)?;
            Ok(FeatureBody::Value(value, ty))
        }
        ExprKind::Field {
            table: Table::Events,
            field,
        } => Err(event_field_outside_aggregate(field, expr.span, reports)),
        ExprKind::Call { func, args } => match call::check(func, args, expr.span, scope, reports)? {
            Called::Value(value, ty) => Ok(FeatureBody::Value(value, ty)),
            Called::Exists(_) => refuse(
                reports,
                "`exists(...)` is a condition, not a value: use it in a segment, or count with `count(...)`",
            ),
        },
        ExprKind::Now => refuse(reports, "`now` is only allowed in segment predicates"),
        ExprKind::Duration(_) | ExprKind::Arith { .. } => refuse(
            reports,
            "durations are only allowed in segment predicates, as `now - DURATION` or `now + DURATION`",
        ),
        ExprKind::Lit(_) => refuse(
            reports,
            "a feature must be a per-user value: an aggregate, `score('model')`, `users.ATTR` or another feature",
        ),
        ExprKind::Cmp { .. }
        | ExprKind::In { .. }
        | ExprKind::Not(_)
        | ExprKind::And(..)
        | ExprKind::Or(..) => refuse(
            reports,
            "a feature is a value, not a condition; define a segment for conditions",
        ),
    }
}

/// Checks one segment predicate, remembering which segments it references.
pub(crate) struct PredChecker<'s, 'a> {
    scope: &'s Scope<'a>,
    reports: &'s mut Reports,
    deps: Vec<(usize, Span)>,
}

impl<'s, 'a> PredChecker<'s, 'a> {
    pub fn new(scope: &'s Scope<'a>, reports: &'s mut Reports) -> Self {
        PredChecker {
            scope,
            reports,
            deps: Vec::new(),
        }
    }

    /// The segments referenced so far (even by a predicate that failed to check), each
    /// with the span of the reference.
    pub fn into_deps(self) -> Vec<(usize, Span)> {
        self.deps
    }

    pub fn pred(&mut self, expr: &Expr) -> Checked<Pred> {
        self.boxed(expr).map(|pred| *pred)
    }

    /// The connectives, which are all that recurses deeply (a long `and` chain). Only
    /// boxes pass through this frame, and the other conditions are left to `atom`, so
    /// the frame stays small even in unoptimised builds.
    fn boxed(&mut self, expr: &Expr) -> Checked<Box<Pred>> {
        match &expr.kind {
            ExprKind::And(l, r) => {
                let (l, r) = (self.boxed(l), self.boxed(r));
                Ok(Box::new(Pred::And(l?, r?)))
            }
            ExprKind::Or(l, r) => {
                let (l, r) = (self.boxed(l), self.boxed(r));
                Ok(Box::new(Pred::Or(l?, r?)))
            }
            ExprKind::Not(inner) => Ok(Box::new(Pred::Not(self.boxed(inner)?))),
            _ => self.atom(expr).map(Box::new),
        }
    }

    /// A condition other than `and`, `or`, `not`.
    fn atom(&mut self, expr: &Expr) -> Checked<Pred> {
        match &expr.kind {
            ExprKind::Lit(Literal::Bool(b)) => Ok(Pred::Const(*b)),
            ExprKind::Cmp { left, op, right } => {
                let (l, r) = (self.value(left), self.value(right));
                let (l, r) = typing::compare(l?, *op, r?, expr.span, self.reports)?;
                Ok(Pred::Cmp(l, *op, r))
            }
            ExprKind::In {
                expr: inner,
                list,
                negated,
            } => {
                let side = self.value(inner)?;
                let (expr, list) = typing::in_list(side, list, self.reports)?;
                Ok(Pred::In {
                    expr,
                    list,
                    negated: *negated,
                })
            }
            ExprKind::Name(name) => self.named(name, expr.span),
            ExprKind::Call { func, args } => {
                match call::check(func, args, expr.span, self.scope, self.reports)? {
                    Called::Exists(aggregate) => Ok(Pred::Cmp(
                        ValueExpr::Agg(aggregate),
                        CmpOp::Gt,
                        ValueExpr::Const(Value::Number(Decimal::ZERO)),
                    )),
                    Called::Value(value, ty) => self.bare(value, ty, None, expr.span),
                }
            }
            _ => match self.value(expr)?.operand {
                Operand::Typed(value, ty) => self.bare(value, ty, None, expr.span),
                Operand::Number(_) => Err(self.not_a_condition(None, Type::Number, expr.span)),
            },
        }
    }

    /// A bare name used as a condition: a segment, or a bool feature.
    fn named(&mut self, name: &str, span: Span) -> Checked<Pred> {
        match self.scope.names.get(name) {
            Some(Def::Segment(i)) => {
                self.deps.push((i, span));
                Ok(Pred::Segment(i))
            }
            Some(Def::Feature(i)) => {
                let (value, ty) = self.feature(i)?;
                self.bare(value, ty, Some(&format!("feature `{name}`")), span)
            }
            None => {
                let candidates = self.scope.names.all_names();
                Err(unknown_name(
                    name,
                    span,
                    self.scope,
                    candidates,
                    self.reports,
                ))
            }
        }
    }

    /// A value used as a condition: fine if it is a bool.
    fn bare(
        &mut self,
        value: ValueExpr,
        ty: Type,
        what: Option<&str>,
        span: Span,
    ) -> Checked<Pred> {
        if ty == Type::Bool {
            Ok(Pred::Cmp(
                value,
                CmpOp::Eq,
                ValueExpr::Const(Value::Bool(true)),
            ))
        } else {
            Err(self.not_a_condition(what, ty, span))
        }
    }

    /// `what` names the value in the message; by default, as it was written.
    fn not_a_condition(&mut self, what: Option<&str>, ty: Type, span: Span) -> Reported {
        let written = self.scope.sources.snippet(span);
        let what = what.map_or_else(|| format!("`{written}`"), str::to_string);
        typing::not_a_condition(&what, written, ty, false, span, self.reports)
    }

    fn feature(&self, index: usize) -> Checked<(ValueExpr, Type)> {
        self.scope
            .features
            .get(index)
            .cloned()
            .unwrap_or(Err(Reported))
    }

    /// One side of a comparison.
    fn value(&mut self, expr: &Expr) -> Checked<Side<ValueExpr>> {
        let typed = |value, ty| Operand::Typed(value, ty);
        let operand = match &expr.kind {
            ExprKind::Lit(Literal::Number(n)) => Operand::Number(*n),
            ExprKind::Lit(Literal::Str(s)) => {
                typed(ValueExpr::Const(Value::Text(s.as_str().into())), Type::Text)
            }
            ExprKind::Lit(Literal::Bool(b)) => typed(ValueExpr::Const(Value::Bool(*b)), Type::Bool),
            ExprKind::Now => typed(ValueExpr::Now(0), Type::Time),
            ExprKind::Duration(_) => {
                let message = "durations can only be added to or subtracted from `now`";
                return Err(self.reports.error(expr.span, message, "e.g. `now - 30d`"));
            }
            ExprKind::Arith { left, op, right } => self.offset(left, *op, right, expr.span)?,
            ExprKind::Name(name) => match self.scope.names.get(name) {
                Some(Def::Feature(i)) => {
                    let (value, ty) = self.feature(i)?;
                    typed(value, ty)
                }
                Some(Def::Segment(_)) => {
                    let message = format!(
                        "segment `{name}` is a condition, not a value; combine segments with `and`, `or` and `not`"
                    );
                    return Err(self.reports.error(expr.span, message, ""));
                }
                None => {
                    let candidates = self.scope.names.feature_names();
                    return Err(unknown_name(
                        name,
                        expr.span,
                        self.scope,
                        candidates,
                        self.reports,
                    ));
                }
            },
            ExprKind::Field {
                table: Table::Users,
                field,
            } => {
                let (value, ty) = user_attr(field, self.scope, self.reports)?;
                typed(value, ty)
            }
            ExprKind::Field {
                table: Table::Events,
                field,
            } => {
                return Err(event_field_outside_aggregate(
                    field,
                    expr.span,
                    self.reports,
                ))
            }
            ExprKind::Call { func, args } => {
                match call::check(func, args, expr.span, self.scope, self.reports)? {
                    Called::Value(value, ty) => typed(value, ty),
                    Called::Exists(_) => {
                        let message = "`exists(...)` is a condition, not a value; use `count(...)` for a number";
                        return Err(self.reports.error(expr.span, message, ""));
                    }
                }
            }
            ExprKind::Cmp { .. }
            | ExprKind::In { .. }
            | ExprKind::Not(_)
            | ExprKind::And(..)
            | ExprKind::Or(..) => {
                let message = "expected a value here, found a condition";
                return Err(self.reports.error(expr.span, message, ""));
            }
        };
        Ok(Side {
            operand,
            span: expr.span,
        })
    }

    /// `now ± DURATION` (possibly repeated), folded into `ValueExpr::Now(offset)`.
    fn offset(
        &mut self,
        left: &Expr,
        op: ArithOp,
        right: &Expr,
        span: Span,
    ) -> Checked<Operand<ValueExpr>> {
        let ExprKind::Duration(seconds) = right.kind else {
            let message = "arithmetic is limited to `now + DURATION` and `now - DURATION`";
            return Err(self.reports.error(span, message, "e.g. `now - 14d`"));
        };
        let Operand::Typed(ValueExpr::Now(base), _) = self.value(left)?.operand else {
            let message = "durations can only be added to or subtracted from `now`";
            return Err(self.reports.error(left.span, message, "this is not `now`"));
        };
        let seconds = i64::try_from(seconds).ok();
        let offset = match op {
            ArithOp::Add => seconds.and_then(|s| base.checked_add(s)),
            ArithOp::Sub => seconds.and_then(|s| base.checked_sub(s)),
        };
        match offset {
            Some(offset) => Ok(Operand::Typed(ValueExpr::Now(offset), Type::Time)),
            None => Err(self.reports.error(span, "time offset out of range", "")),
        }
    }
}

/// `users.ATTR`.
fn user_attr(field: &Ident, scope: &Scope, reports: &mut Reports) -> Checked<(ValueExpr, Type)> {
    match scope.schema.user_attr(&field.name) {
        Some(i) => Ok((ValueExpr::Attr(i), scope.schema.users[i].ty)),
        None => {
            let message = format!(
                "unknown users attribute `{}`; users has: {}",
                field.name,
                listing(scope.schema.user_attr_names())
            );
            Err(scope.schema.unknown_column(
                Table::Users,
                message,
                field.span,
                &field.name,
                reports,
            ))
        }
    }
}

fn event_field_outside_aggregate(field: &Ident, span: Span, reports: &mut Reports) -> Reported {
    let message = format!(
        "`events.{0}` is a field of each event, not a per-user value; aggregate it, e.g. `max(events.{0})`",
        field.name
    );
    reports.error(span, message, "")
}

/// Reports an unknown bare name, suggesting a close `candidates` name, or the
/// qualified form when it is a column.
fn unknown_name<'a>(
    name: &str,
    span: Span,
    scope: &Scope,
    candidates: impl Iterator<Item = &'a str>,
    reports: &mut Reports,
) -> Reported {
    let label = if scope.schema.user_attr(name).is_some() {
        format!("did you mean `users.{name}`?")
    } else if scope.schema.event_field(name).is_some() {
        format!("`{name}` is an event field: use it inside an aggregate")
    } else {
        suggest::did_you_mean(name, candidates, "not a feature or segment")
    };
    reports.error(span, format!("unknown feature or segment `{name}`"), label)
}
