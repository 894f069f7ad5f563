//! Feature bodies and segment predicates, from syntax to the IR.
//!
//! Name resolution in a predicate: a bare name is a segment reference if a segment has
//! that name, otherwise a feature (inlined as its resolved expression). A value used as
//! a condition must be a bool, which means `= true`. `now` (with `± DURATION` folded
//! into one offset) is only allowed in segment predicates, as a side of a comparison:
//! features are per-user values that the planner shares between segments, and a
//! time-dependent feature would be a condition in disguise.
//!
//! Arithmetic (`+ - * /`, unary `-`) and the value functions (`abs`, `ln`, `exp`,
//! `sqrt`, `logistic`, `least`, `greatest`, `coalesce`, `if`) combine per-user values
//! in features and predicates alike; a condition used as a value is a number (1 or 0);
//! inside these, neither `now` nor a segment may appear. Where an exact number meets an approximate
//! one (a quotient, a logarithm), the checker converts it explicitly
//! ([`ValueExpr::Approx`], or a literal's nearest double), so both sides of every
//! operation and comparison are of one kind (see [`crate::arith`]).

use rust_decimal::Decimal;

use super::ast::{Args, Expr, ExprKind, Ident, Literal, Table};
use super::call::{self, Called};
use super::diagnostic::{Checked, Reported, Reports};
use super::ir::{AggFunc, Pred, ValueExpr};
use super::names::{Def, Names};
use super::schema::listing;
use super::scope::Scope;
use super::source::Span;
use super::suggest;
use super::typing::{self, Operand, Side};
use crate::arith::{self, ArithOp, Func};
use crate::value::{CmpOp, Type, Value};

/// Checks the body of a feature: a per-user value (an aggregate, `score('m')`,
/// `users.ATTR`, another feature, or arithmetic and functions over them). The features
/// it names must be resolved in `scope` already ([`feature_refs`] gives the order).
pub(crate) fn feature_body(
    expr: &Expr,
    scope: &Scope,
    reports: &mut Reports,
) -> Checked<(ValueExpr, Type)> {
    let refuse = |reports: &mut Reports, message: &str| Err(reports.error(expr.span, message, ""));
    match &expr.kind {
        ExprKind::Cmp { .. }
        | ExprKind::In { .. }
        | ExprKind::Not(_)
        | ExprKind::And(..)
        | ExprKind::Or(..) => {
            return refuse(
                reports,
                "a feature is a value, not a condition; define a segment for conditions (or use `if(condition, a, b)`)",
            )
        }
        ExprKind::Name(name) if matches!(scope.names.get(name), Some(Def::Segment(_))) => {
            let message = format!("`{name}` is a segment (a condition); a feature must be a value");
            return refuse(reports, &message);
        }
        ExprKind::Call { func, .. } if func.name == "exists" => {
            return refuse(
                reports,
                "`exists(...)` is a condition, not a value: use it in a segment, or count with `count(...)`",
            )
        }
        _ => {}
    }
    let mut checker = PredChecker::new(scope, reports);
    checker.context = Context::Feature;
    let side = checker.value(expr)?;
    match side.operand {
        Operand::Typed(value, ty) if reads_a_user(&value) => Ok((value, ty)),
        _ => refuse(
            reports,
            "a feature must be a per-user value: an aggregate, `score('model')`, `users.ATTR`, another feature, or arithmetic over them",
        ),
    }
}

/// The features a feature body names (outside aggregates' `where`, whose names are
/// event fields), each with where: the body is checked after them.
pub(crate) fn feature_refs(expr: &Expr, names: &Names) -> Vec<(usize, Span)> {
    let mut refs = Vec::new();
    let mut stack = vec![expr];
    while let Some(expr) = stack.pop() {
        match &expr.kind {
            ExprKind::Name(name) => {
                if let Some(Def::Feature(i)) = names.get(name) {
                    refs.push((i, expr.span));
                }
            }
            ExprKind::Call {
                args: Args::Events(_),
                ..
            } => {}
            _ => stack.extend(expr.kind.children()),
        }
    }
    refs
}

/// Whether a value reads anything per user (rather than only constants).
fn reads_a_user(value: &ValueExpr) -> bool {
    let mut found = false;
    value.visit(&mut |v| found |= v.is_per_user());
    found
}

/// Where an expression is checked.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Context {
    /// A segment predicate.
    Segment,
    /// A feature body: no `now`, no segments.
    Feature,
}

/// Checks one segment predicate, remembering which segments it references.
pub(crate) struct PredChecker<'s, 'a> {
    scope: &'s Scope<'a>,
    reports: &'s mut Reports,
    deps: Vec<(usize, Span)>,
    context: Context,
    /// How many arithmetic operators, functions and `if`s enclose the expression being
    /// checked: inside one, `now` and segment references are refused.
    nested: u32,
}

impl<'s, 'a> PredChecker<'s, 'a> {
    pub fn new(scope: &'s Scope<'a>, reports: &'s mut Reports) -> Self {
        PredChecker {
            scope,
            reports,
            deps: Vec::new(),
            context: Context::Segment,
            nested: 0,
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
                let (l, r) = if l.is_approximate() || r.is_approximate() {
                    (approximate(l), approximate(r))
                } else {
                    (l, r)
                };
                self.one_value_with_now(&[&l, &r], expr.span)?;
                Ok(Pred::Cmp(l, *op, r))
            }
            ExprKind::In {
                expr: inner,
                list,
                negated,
            } => {
                let side = self.value(inner)?;
                let (expr, mut list) = typing::in_list(side, list, self.reports)?;
                if expr.is_approximate() {
                    list = list.iter().map(arith::approximate).collect();
                }
                Ok(Pred::In {
                    expr,
                    list,
                    negated: *negated,
                })
            }
            ExprKind::Name(name) => self.named(name, expr.span),
            ExprKind::Call { func, args } if !is_value_function(&func.name) => {
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
                if self.nested > 0 {
                    let message = format!(
                        "segment `{name}` cannot be used inside arithmetic, a function or `if`; combine segments with `and`, `or` and `not`"
                    );
                    return Err(self.reports.error(span, message, ""));
                }
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
            ExprKind::Now if self.context == Context::Feature => {
                let message = "`now` is only allowed in segment predicates";
                return Err(self.reports.error(expr.span, message, ""));
            }
            ExprKind::Now if self.nested > 0 => {
                let message = "`now` can only be compared directly, as in `last_seen < now - 30d`; not inside arithmetic, a function or `if`";
                return Err(self.reports.error(expr.span, message, ""));
            }
            ExprKind::Now => typed(ValueExpr::Now(0), Type::Time),
            ExprKind::Duration(_) => {
                let message = "durations can only be added to or subtracted from `now`";
                return Err(self.reports.error(expr.span, message, "e.g. `now - 30d`"));
            }
            ExprKind::Arith { left, op, right }
                if matches!(left.kind, ExprKind::Now | ExprKind::Duration(_))
                    || matches!(right.kind, ExprKind::Duration(_)) =>
            {
                self.offset(left, *op, right, expr.span)?
            }
            ExprKind::Arith { left, op, right } => {
                let (l, r) = self.nest(|c| (c.number(left), c.number(right)));
                let (l, r) = (l?, r?);
                let (l, r) = if *op == ArithOp::Div || l.is_approximate() || r.is_approximate() {
                    (approximate(l), approximate(r))
                } else {
                    (l, r)
                };
                typed(
                    ValueExpr::Arith(Box::new(l), *op, Box::new(r)),
                    Type::Number,
                )
            }
            ExprKind::Neg(inner) => {
                let inner = self.nest(|c| c.number(inner))?;
                typed(ValueExpr::Neg(Box::new(inner)), Type::Number)
            }
            ExprKind::Call { func, args } if is_value_function(&func.name) => {
                let (value, ty) = self.function(func, args, expr.span)?;
                typed(value, ty)
            }
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
                let cond = self.nest(|c| c.pred(expr))?;
                typed(ValueExpr::Truth(Box::new(cond)), Type::Number)
            }
        };
        Ok(Side {
            operand,
            span: expr.span,
        })
    }

    /// Runs `check` one level deeper inside a value.
    fn nest<T>(&mut self, check: impl FnOnce(&mut Self) -> T) -> T {
        self.nested += 1;
        let result = check(self);
        self.nested -= 1;
        result
    }

    /// An operand of arithmetic or of a numeric function: a number.
    fn number(&mut self, expr: &Expr) -> Checked<ValueExpr> {
        match self.value(expr)?.operand {
            Operand::Number(n) => Ok(ValueExpr::Const(Value::Number(n))),
            Operand::Typed(value, Type::Number) => Ok(value),
            Operand::Typed(_, ty) => {
                let written = self.scope.sources.snippet(expr.span);
                let message = format!("arithmetic needs numbers; `{written}` is {}", typing::a(ty));
                Err(self.reports.error(expr.span, message, "not a number"))
            }
        }
    }

    /// `abs`, `ln`, `exp`, `sqrt`, `logistic` (one number), `least`, `greatest`,
    /// `coalesce` (two or more values of one type) and `if(condition, a, b)`.
    fn function(&mut self, func: &Ident, args: &Args, span: Span) -> Checked<(ValueExpr, Type)> {
        let name = func.name.as_str();
        let Args::Values(args) = args else {
            let message = format!("`{name}` takes values, not `events`; aggregate the events first, e.g. `{name}(count(events))`");
            return Err(self.reports.error(span, message, ""));
        };
        if name == "if" {
            let [cond, then, otherwise] = args.as_slice() else {
                let message = "`if` takes a condition and two values: `if(condition, a, b)`";
                return Err(self.reports.error(span, message, ""));
            };
            let cond = self.nest(|c| c.pred(cond));
            let (values, ty) = self.same_type(name, &[then, otherwise], span)?;
            let [then, otherwise]: [ValueExpr; 2] = values.try_into().expect("two values");
            let value = ValueExpr::If(Box::new(cond?), Box::new(then), Box::new(otherwise));
            return Ok((value, ty));
        }
        if name == "days_since" {
            return self.days_since(args, span);
        }
        let func = Func::from_name(name).expect("a value function");
        if func.is_unary() {
            let [arg] = args.as_slice() else {
                let message = format!("`{name}` takes one number, e.g. `{name}(ltv)`");
                return Err(self.reports.error(span, message, ""));
            };
            let arg = self.nest(|c| c.number(arg))?;
            let arg = if func.is_approximate() {
                approximate(arg)
            } else {
                arg
            };
            return Ok((ValueExpr::Func(func, vec![arg]), Type::Number));
        }
        if args.len() < 2 {
            let message = format!("`{name}` takes two or more values, e.g. `{name}(a, b)`");
            return Err(self.reports.error(span, message, ""));
        }
        let args: Vec<&Expr> = args.iter().collect();
        let (values, ty) = self.same_type(name, &args, span)?;
        if ty == Type::Bool && func != Func::Coalesce {
            let message = format!("`{name}` cannot order bools");
            return Err(self.reports.error(span, message, ""));
        }
        Ok((ValueExpr::Func(func, values), ty))
    }

    /// `days_since(x)`: `x` a time read per user, an attribute or an aggregate (a
    /// feature that is one), so that the dataflow can keep each user's `x` and count
    /// the days as the clock passes their boundaries.
    fn days_since(&mut self, args: &[Expr], span: Span) -> Checked<(ValueExpr, Type)> {
        const USAGE: &str = "`days_since` takes one time read per user: a `users` attribute \
                             or an aggregate of events (or a feature that is one), e.g. \
                             `days_since(max(events.ts))`";
        let [arg] = args else {
            return Err(self.reports.error(span, USAGE, ""));
        };
        let side = self.nest(|c| c.value(arg))?;
        match side.operand {
            Operand::Typed(value @ (ValueExpr::Attr(_) | ValueExpr::Agg(_)), Type::Time) => {
                Ok((ValueExpr::DaysSince(Box::new(value)), Type::Number))
            }
            Operand::Typed(_, ty) if ty != Type::Time => {
                let written = self.scope.sources.snippet(arg.span);
                let message = format!(
                    "`days_since` needs a time; `{written}` is {}",
                    typing::a(ty)
                );
                Err(self.reports.error(arg.span, message, "not a time"))
            }
            _ => Err(self.reports.error(arg.span, USAGE, "")),
        }
    }

    /// Values that must share one type (the choices of `if`, `least`, `greatest`,
    /// `coalesce`): number literals take the others' type, and when one number is
    /// approximate all are made so.
    fn same_type(
        &mut self,
        name: &str,
        exprs: &[&Expr],
        span: Span,
    ) -> Checked<(Vec<ValueExpr>, Type)> {
        let mut sides = Vec::with_capacity(exprs.len());
        for expr in exprs {
            sides.push(self.nest(|c| c.value(expr)));
        }
        let sides: Vec<Side<ValueExpr>> = sides.into_iter().collect::<Result<_, _>>()?;
        let ty = (sides.iter())
            .find_map(|side| match &side.operand {
                Operand::Typed(_, ty) => Some(*ty),
                Operand::Number(_) => None,
            })
            .unwrap_or(Type::Number);
        let mut values = Vec::with_capacity(sides.len());
        for side in sides {
            values.push(match side.operand {
                Operand::Typed(value, t) if t == ty => value,
                Operand::Typed(_, t) => {
                    let message = format!(
                        "the values of `{name}` must have one type; found {} and {}",
                        typing::a(ty),
                        typing::a(t)
                    );
                    return Err(self.reports.error(span, message, ""));
                }
                Operand::Number(n) if matches!(ty, Type::Number | Type::Time) => {
                    ValueExpr::Const(typing::number_as(n, ty, side.span, self.reports)?)
                }
                Operand::Number(_) => {
                    let message = format!(
                        "the values of `{name}` must have one type; found {} and a number",
                        typing::a(ty)
                    );
                    return Err(self.reports.error(span, message, ""));
                }
            });
        }
        if values.iter().any(ValueExpr::is_approximate) {
            values = values.into_iter().map(approximate).collect();
        }
        Ok((values, ty))
    }

    /// Refuses a comparison with `now` whose other side reads more than one per-user
    /// value: its result is decided by a temporal filter over one value's rows.
    fn one_value_with_now(&mut self, sides: &[&ValueExpr], span: Span) -> Checked<()> {
        if !sides.iter().any(|side| side.mentions_now()) {
            return Ok(());
        }
        let mut read: Vec<&ValueExpr> = Vec::new();
        for side in sides {
            side.visit(&mut |v| {
                if v.is_per_user() && !read.contains(&v) {
                    read.push(v);
                }
            });
        }
        if read.len() > 1 {
            let message = format!(
                "a comparison with `now` may read one per-user value; this one reads {}",
                read.len()
            );
            return Err(self.reports.error(
                span,
                message,
                "define a feature for one of them, or compare each with `now`",
            ));
        }
        // Without per-user values, it is decided over every known user (`now > T`).
        if !read.is_empty() && !sides.iter().all(|side| missing_without_data(side)) {
            let message = "a comparison with `now` must compare a value that is missing for users without data; this one has a value even then (a constant in `coalesce`, `least`, `greatest` or `if`)";
            return Err(self.reports.error(
                span,
                message,
                "compare the per-user value with `now` on its own, and combine with `and`/`or`",
            ));
        }
        Ok(())
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
            ArithOp::Mul | ArithOp::Div => {
                let message = "a duration can only be added to or subtracted from `now`";
                return Err(self.reports.error(span, message, "e.g. `now - 14d`"));
            }
        };
        match offset {
            Some(offset) => Ok(Operand::Typed(ValueExpr::Now(offset), Type::Time)),
            None => Err(self.reports.error(span, "time offset out of range", "")),
        }
    }
}

/// Whether a value is missing for a user without any data (its per-user values all
/// missing, counts and sums 0): what a comparison with `now` needs, since its result
/// is computed over the rows of the users that have one.
fn missing_without_data(value: &ValueExpr) -> bool {
    match value {
        ValueExpr::Now(_) | ValueExpr::Attr(_) | ValueExpr::Score(..) => true,
        ValueExpr::Const(_) | ValueExpr::Truth(_) => false,
        ValueExpr::Agg(agg) => !matches!(
            agg.func,
            AggFunc::Count | AggFunc::Sum | AggFunc::CountDistinct
        ),
        ValueExpr::Neg(x) | ValueExpr::Approx(x) | ValueExpr::DaysSince(x) => {
            missing_without_data(x)
        }
        ValueExpr::Arith(l, _, r) => missing_without_data(l) || missing_without_data(r),
        ValueExpr::Func(func, args) if func.is_unary() => missing_without_data(&args[0]),
        ValueExpr::Func(_, args) => args.iter().all(missing_without_data),
        ValueExpr::If(_, then, otherwise) => {
            missing_without_data(then) && missing_without_data(otherwise)
        }
    }
}

/// Whether `name(...)` is a function of values rather than an aggregate or `score`.
fn is_value_function(name: &str) -> bool {
    name == "if" || name == "days_since" || Func::from_name(name).is_some()
}

/// The same number, approximate: an exact literal becomes the nearest double, any
/// other exact value is converted where it is computed.
fn approximate(value: ValueExpr) -> ValueExpr {
    match value {
        ValueExpr::Const(constant) => ValueExpr::Const(arith::approximate(&constant)),
        value if value.is_approximate() => value,
        value => ValueExpr::Approx(Box::new(value)),
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
