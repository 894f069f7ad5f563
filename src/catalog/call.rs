//! Function calls: the aggregates, `exists` and `score`.
//!
//! Aggregate typing: `count` and `count_distinct` are numbers; `sum`, `avg` and
//! `median` need a number field and are numbers (a median of two middle values is
//! their mean, which only numbers have); `min` and `max` take a number, time or text field and
//! have its type (an order over bools would be arbitrary). `count` may name a field, in
//! which case it counts the events where that field is present.

use std::sync::Arc;

use super::ast::{Args, EventsArg, ExprKind, Ident, Literal, Table};
use super::diagnostic::{Checked, Reports};
use super::event;
use super::ir::{AggFunc, Aggregate, EventField, ValueExpr};
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

/// `score('model')`.
fn score(args: &Args, span: Span, reports: &mut Reports) -> Checked<Called> {
    if let Args::Values(values) = args {
        if let [value] = values.as_slice() {
            if let ExprKind::Lit(Literal::Str(model)) = &value.kind {
                let model: Arc<str> = model.as_str().into();
                return Ok(Called::Value(ValueExpr::Score(model), Type::Number));
            }
        }
    }
    let message = "`score` takes one model name in quotes, e.g. `score('churn')`";
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
