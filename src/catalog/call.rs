//! Function calls: the aggregates, `exists` and `score`.
//!
//! Aggregate typing: `count` and `count_distinct` are numbers; `sum`, `avg` and
//! `median` need a number field and are numbers (a median of two middle values is
//! their mean, which only numbers have); `min` and `max` take a number, time or text field and
//! have its type (an order over bools would be arbitrary). `count` may name a field, in
//! which case it counts the events where that field is present.

use std::sync::Arc;

use super::ast::{Args, EventsArg, Expr, ExprKind, Ident, Literal, Table};
use super::diagnostic::{Checked, Reports};
use super::event;
use super::ir::{AggFunc, Aggregate, EventField, ScoreVersion, ValueExpr};
use super::schema::listing;
use super::scope::Scope;
use super::source::Span;
use super::suggest;
use crate::value::Type;

const FUNCTIONS: [&str; 9] = [
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "count_distinct",
    "median",
    "exists",
    "score",
];

/// What a call turned out to be.
pub(crate) enum Called {
    /// An aggregate or a score: a per-user value.
    Value(ValueExpr, Type),
    /// `exists(...)`: a condition, "the count is above zero".
    Exists(Aggregate),
}

/// Checks `func(args)`, written at `span`.
pub(crate) fn check(
    func: &Ident,
    args: &Args,
    span: Span,
    scope: &Scope,
    reports: &mut Reports,
) -> Checked<Called> {
    let agg = match func.name.as_str() {
        "count" => AggFunc::Count,
        "sum" => AggFunc::Sum,
        "min" => AggFunc::Min,
        "max" => AggFunc::Max,
        "avg" => AggFunc::Avg,
        "count_distinct" => AggFunc::CountDistinct,
        "median" => AggFunc::Median,
        "exists" => {
            let (aggregate, _) = aggregate(AggFunc::Count, "exists", args, span, scope, reports)?;
            return Ok(Called::Exists(aggregate));
        }
        "score" => return score(args, span, reports),
        other => {
            let message = format!(
                "unknown function `{other}`; expected one of {}",
                FUNCTIONS.join(", ")
            );
            let label = suggest::did_you_mean(other, FUNCTIONS, "");
            return Err(reports.error(func.span, message, label));
        }
    };
    let (aggregate, ty) = aggregate(agg, agg.name(), args, span, scope, reports)?;
    Ok(Called::Value(ValueExpr::Agg(aggregate), ty))
}

/// `score('model')` (the model's active version) or `score('model', 'version')`.
fn score(args: &Args, span: Span, reports: &mut Reports) -> Checked<Called> {
    let quoted = |expr: &Expr| match &expr.kind {
        ExprKind::Lit(Literal::Str(text)) if !text.is_empty() => {
            Some(Arc::<str>::from(text.as_str()))
        }
        _ => None,
    };
    if let Args::Values(values) = args {
        let called = match values.as_slice() {
            [model] => quoted(model).map(|model| (model, ScoreVersion::Active)),
            [model, version] => quoted(model)
                .zip(quoted(version))
                .map(|(model, version)| (model, ScoreVersion::Fixed(version))),
            _ => None,
        };
        if let Some((model, version)) = called {
            return Ok(Called::Value(
                ValueExpr::Score(model, version),
                Type::Number,
            ));
        }
    }
    let message = "`score` takes a model name in quotes and optionally a version, e.g. \
                   `score('churn')` (its active version) or `score('churn', 'v3')`";
    Err(reports.error(span, message, ""))
}

/// An aggregate written as `written(args)` (`exists` is a `count`).
fn aggregate(
    func: AggFunc,
    written: &str,
    args: &Args,
    span: Span,
    scope: &Scope,
    reports: &mut Reports,
) -> Checked<(Aggregate, Type)> {
    let needs_field = !matches!(func, AggFunc::Count);
    let Args::Events(EventsArg {
        field,
        filter,
        within,
    }) = args
    else {
        let message = if needs_field {
            format!("`{written}` aggregates an event field: write `{written}(events.FIELD [where ...] [within ...])`")
        } else {
            format!(
                "`{written}` aggregates events: write `{written}(events [where ...] [within ...])`"
            )
        };
        return Err(reports.error(span, message, ""));
    };
    let field = field
        .as_ref()
        .map(|f| event_field(f, scope, reports))
        .transpose();
    let filter = filter
        .as_ref()
        .map(|f| event::condition(f, scope, reports))
        .transpose();
    let (field, filter) = (field?, filter?);
    let ty = match (func, field) {
        (AggFunc::Count, _) => Type::Number,
        (_, None) => {
            let message =
                format!("`{written}(events)` needs a field: write `{written}(events.FIELD ...)`");
            return Err(reports.error(span, message, ""));
        }
        (AggFunc::CountDistinct, Some(_)) => Type::Number,
        (AggFunc::Sum | AggFunc::Avg | AggFunc::Median, Some((_, Type::Number, _))) => Type::Number,
        (AggFunc::Sum | AggFunc::Avg | AggFunc::Median, Some((_, ty, field_span))) => {
            let field_written = format!("events.{}", scope.sources.snippet(field_span));
            let message = format!("`{written}` needs a number field; `{field_written}` is {ty}");
            return Err(reports.error(field_span, message, ""));
        }
        (AggFunc::Min | AggFunc::Max, Some((_, Type::Bool, field_span))) => {
            let field_written = format!("events.{}", scope.sources.snippet(field_span));
            let message = format!(
                "`{written}` cannot aggregate `{field_written}`: it is bool, which has no order"
            );
            return Err(reports.error(field_span, message, ""));
        }
        (AggFunc::Min | AggFunc::Max, Some((_, ty, _))) => ty,
    };
    Ok((
        Aggregate {
            func,
            field: field.map(|(f, _, _)| f),
            filter,
            within: *within,
        },
        ty,
    ))
}

/// The field of `func(events.FIELD ...)`, with its type and span.
fn event_field(
    name: &Ident,
    scope: &Scope,
    reports: &mut Reports,
) -> Checked<(EventField, Type, Span)> {
    match scope.schema.event_field(&name.name) {
        Some(field) => Ok((field, scope.schema.event_field_type(field), name.span)),
        None => {
            let message = format!(
                "aggregate over undeclared field `{}`; events has: {}",
                name.name,
                listing(scope.schema.event_field_names())
            );
            let schema = scope.schema;
            Err(schema.unknown_column(Table::Events, message, name.span, &name.name, reports))
        }
    }
}
