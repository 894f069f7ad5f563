//! Per-user values as SQL columns: the `event_values`, `latest_scores`, `score_values`
//! and `features` CTEs.
//!
//! Every value a catalog uses (its features, and the aggregates, scores and attributes
//! written inline in segments) becomes one column of `features`, a table with one row
//! per user of the universe. A column is named after the feature that defines the value
//! (the first, when two define the same), or else after the value as written
//! (`"users.country"`, `"count(events where category = 'shoes' within 90d)"`), so a
//! reader can look a user up and see why they are, or are not, in a segment.
//!
//! All event aggregates are computed in one pass over `events_now`, each with its own
//! `FILTER (WHERE ...)` (the `where` clause and the window). SQL aggregates skip NULL,
//! as segflow's do; `count`, `sum` and `count_distinct` of nothing become 0, while
//! `min`, `max`, `avg`, scores and attributes stay NULL (missing).

use std::collections::HashMap;
use std::fmt::Write;

use crate::catalog::ir::{AggFunc, Aggregate, Catalog, ValueExpr};
use crate::catalog::show;

use super::ctes::{
    EVENTS_NOW, EVENT_VALUES, FEATURES, LATEST_SCORES, NOW, PARAMS, SCORES_NOW, SCORE_VALUES,
    UNIVERSE, USERS_NOW,
};
use super::error::SqlError;
use super::ident::{quote_str, Idents};
use super::predicate::{self, combine, Cond, Imprecise, Prec, Term};
use super::tables;

/// Where a value lives in `features`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Column {
    /// One column holds the value.
    Value(String),
    /// An average, kept as its exact sum and its count (never divided).
    Avg { sum: String, count: String },
}

/// A value and its column(s).
#[derive(Debug)]
struct Entry {
    expr: ValueExpr,
    /// The feature's name, or the value as written.
    label: String,
    column: Column,
}

/// The per-user values of a catalog, in order of first use.
#[derive(Debug)]
pub(super) struct Values {
    entries: Vec<Entry>,
    index: HashMap<ValueExpr, usize>,
    columns: Idents,
}

impl Values {
    pub fn new() -> Values {
        Values {
            entries: Vec::new(),
            index: HashMap::new(),
            columns: Idents::with(&["user_id"]),
        }
    }

    /// Gives `expr` a column named `name`, or after its catalog text when unnamed.
    /// Constants and `now` are written inline and get none; a value seen before keeps
    /// its first column.
    pub fn add(&mut self, catalog: &Catalog, expr: &ValueExpr, name: Option<&str>) {
        if matches!(expr, ValueExpr::Const(_) | ValueExpr::Now(_)) || self.index.contains_key(expr)
        {
            return;
        }
        let label = match name {
            Some(name) => name.to_string(),
            None => show::value(catalog, expr),
        };
        let column = match expr {
            ValueExpr::Agg(Aggregate {
                func: AggFunc::Avg, ..
            }) => Column::Avg {
                sum: self.columns.claim(&format!("{label} (sum)")),
                count: self.columns.claim(&format!("{label} (count)")),
            },
            _ => Column::Value(self.columns.claim(&label)),
        };
        self.index.insert(expr.clone(), self.entries.len());
        self.entries.push(Entry {
            expr: expr.clone(),
            label,
            column,
        });
    }

    /// `expr` as a comparison operand in a query over `features` (and `params`).
    ///
    /// # Panics
    /// If `expr` is a per-user value that was never [`add`](Values::add)ed.
    pub fn term(&self, expr: &ValueExpr) -> Result<Term, Imprecise> {
        Ok(match expr {
            ValueExpr::Const(v) => predicate::constant_term(v)?,
            ValueExpr::Now(offset) => predicate::now_term(*offset),
            ValueExpr::Attr(_) | ValueExpr::Score(_) | ValueExpr::Agg(_) => {
                let never_missing = matches!(expr, ValueExpr::Agg(a) if defaults_to_zero(a.func));
                match &self.entries[self.index[expr]].column {
                    Column::Value(name) => Term {
                        nullable: !never_missing,
                        ..Term::known(name.clone())
                    },
                    Column::Avg { sum, count } => Term {
                        per: Some(count.clone()),
                        ..Term::column(sum.clone())
                    },
                }
            }
            ValueExpr::Neg(_)
            | ValueExpr::Arith(..)
            | ValueExpr::Func(..)
            | ValueExpr::If(..)
            | ValueExpr::Truth(_)
            | ValueExpr::Approx(_) => unreachable!("`compile` refuses arithmetic"),
        })
    }

    /// The event aggregates, as `(SQL aggregate, column)` pairs (two for an average).
    fn event_aggregates(&self, catalog: &Catalog) -> Result<Vec<(String, &str)>, SqlError> {
        let mut out = Vec::new();
        for entry in &self.entries {
            let ValueExpr::Agg(agg) = &entry.expr else {
                continue;
            };
            let field = agg.field.map(|f| predicate::field(catalog, f).sql);
            let filter =
                filter(catalog, agg).map_err(|e| e.within(&format!("`{}`", entry.label)))?;
            let call = |func: &str, arg: &str| format!("{func}({arg}){filter}");
            let arg = field.as_deref().unwrap_or("*");
            match (&entry.column, agg.func) {
                (Column::Avg { sum, count }, _) => {
                    out.push((call("sum", arg), sum.as_str()));
                    out.push((call("count", arg), count.as_str()));
                }
                (Column::Value(name), func) => {
                    let sql = match func {
                        AggFunc::Count => call("count", arg),
                        AggFunc::Sum => call("sum", arg),
                        AggFunc::Min => call("min", arg),
                        AggFunc::Max => call("max", arg),
                        AggFunc::CountDistinct => call("count", &format!("DISTINCT {arg}")),
                        // The lower middle value plus the upper one (the lower middle of
                        // the negated values, negated), halved: exact, where `median`
                        // would round the mean to the column's scale.
                        AggFunc::Median => format!(
                            "({} - {}) * 0.5",
                            call("quantile_disc", &format!("{arg}, 0.5")),
                            call("quantile_disc", &format!("-{arg}, 0.5"))
                        ),
                        AggFunc::Avg => unreachable!("avg has two columns"),
                    };
                    out.push((sql, name.as_str()));
                }
            }
        }
        Ok(out)
    }

    /// The CTEs that compute the values, ending with `features`. Each is
    /// `name AS (...)`, to be joined with `,\n`.
    pub fn ctes(&self, catalog: &Catalog) -> Result<Vec<String>, SqlError> {
        let mut ctes = Vec::new();
        let mut joins = Vec::new();
        let aggregates = self.event_aggregates(catalog)?;
        if !aggregates.is_empty() {
            ctes.push(self.event_values(&aggregates));
            joins.push(EVENT_VALUES);
        }
        let scores: Vec<(&str, &str)> = self
            .entries
            .iter()
            .filter_map(|e| match (&e.expr, &e.column) {
                (ValueExpr::Score(model), Column::Value(name)) => Some((&**model, name.as_str())),
                _ => None,
            })
            .collect();
        if !scores.is_empty() {
            ctes.extend(score_ctes(&scores));
            joins.push(SCORE_VALUES);
        }
        if self
            .entries
            .iter()
            .any(|e| matches!(e.expr, ValueExpr::Attr(_)))
        {
            joins.push(USERS_NOW);
        }
        ctes.push(self.features(catalog, &joins));
        Ok(ctes)
    }

    /// `event_values`: every event aggregate in one pass over the visible events.
    fn event_values(&self, aggregates: &[(String, &str)]) -> String {
        let windows = self
            .entries
            .iter()
            .any(|e| matches!(&e.expr, ValueExpr::Agg(a) if a.within.is_some()));
        let from = if windows {
            format!("{EVENTS_NOW}, {PARAMS}")
        } else {
            EVENTS_NOW.to_string()
        };
        let mut cte = format!(
            "-- every event aggregate in one pass; SQL aggregates skip NULL, as segflow's do\n\
             {EVENT_VALUES} AS (\n  SELECT {EVENTS_NOW}.user_id"
        );
        for (sql, name) in aggregates {
            let _ = write!(cte, ",\n    {sql} AS {name}");
        }
        let _ = write!(cte, "\n  FROM {from}\n  GROUP BY {EVENTS_NOW}.user_id\n)");
        cte
    }

    /// `features`: the universe joined with the tables of values (`joins`), one column
    /// per value, `count`, `sum` and `count_distinct` of nothing made 0.
    fn features(&self, catalog: &Catalog, joins: &[&str]) -> String {
        let mut select = vec![format!("{UNIVERSE}.user_id")];
        for entry in &self.entries {
            match (&entry.expr, &entry.column) {
                (ValueExpr::Agg(agg), Column::Value(name)) if defaults_to_zero(agg.func) => {
                    select.push(format!("coalesce({EVENT_VALUES}.{name}, 0) AS {name}"))
                }
                (ValueExpr::Agg(_), Column::Value(name)) => {
                    select.push(format!("{EVENT_VALUES}.{name}"))
                }
                (ValueExpr::Agg(_), Column::Avg { sum, count }) => {
                    select.push(format!("{EVENT_VALUES}.{sum}"));
                    select.push(format!("{EVENT_VALUES}.{count}"));
                }
                (ValueExpr::Score(_), Column::Value(name)) => {
                    select.push(format!("{SCORE_VALUES}.{name}"))
                }
                (ValueExpr::Attr(i), Column::Value(name)) => {
                    let column = tables::column(&catalog.users[*i]);
                    select.push(format!("{USERS_NOW}.{column} AS {name}"));
                }
                _ => unreachable!("only averages have two columns; constants have none"),
            }
        }
        let mut cte = format!(
            "-- one row per user of the universe, one column per value (NULL: missing)\n\
             {FEATURES} AS (\n  SELECT {}\n  FROM {UNIVERSE}",
            select.join(",\n    ")
        );
        for join in joins {
            let _ = write!(
                cte,
                "\n  LEFT JOIN {join} ON {join}.user_id = {UNIVERSE}.user_id"
            );
        }
        cte.push_str("\n)");
        cte
    }
}

/// `latest_scores` and `score_values` for the models used, each `(model, column)`.
fn score_ctes(scores: &[(&str, &str)]) -> [String; 2] {
    let models: Vec<String> = scores.iter().map(|(m, _)| quote_str(m)).collect();
    let latest = format!(
        "-- each user's latest score per model: the greatest ts, ties to the greater score\n\
         {LATEST_SCORES} AS (\n  SELECT user_id, model, score FROM {SCORES_NOW}\n  \
         WHERE model IN ({})\n  \
         QUALIFY row_number() OVER (PARTITION BY user_id, model ORDER BY ts DESC, score DESC) = 1\n)",
        models.join(", ")
    );
    let mut values = format!("{SCORE_VALUES} AS (\n  SELECT user_id");
    for (model, name) in scores {
        let _ = write!(
            values,
            ",\n    max(score) FILTER (WHERE model = {}) AS {name}",
            quote_str(model)
        );
    }
    let _ = write!(values, "\n  FROM {LATEST_SCORES}\n  GROUP BY user_id\n)");
    [latest, values]
}

/// Whether the aggregate of no values is 0 rather than missing.
fn defaults_to_zero(func: AggFunc) -> bool {
    matches!(func, AggFunc::Count | AggFunc::Sum | AggFunc::CountDistinct)
}

/// ` FILTER (WHERE ...)`: the `where` clause and the window `now - D < ts`, or nothing.
/// Events after `now` are not in `events_now` at all.
fn filter(catalog: &Catalog, agg: &Aggregate) -> Result<String, Imprecise> {
    let clause = agg
        .filter
        .as_ref()
        .map(|p| predicate::event_pred(catalog, p))
        .transpose()?;
    let window: Option<Cond> = agg.within.map(|d| (format!("ts > {NOW} - {d}"), Prec::Cmp));
    let cond = match (clause, window) {
        (Some(c), Some(w)) => combine(Prec::And, c, w),
        (Some(c), None) | (None, Some(c)) => c,
        (None, None) => return Ok(String::new()),
    };
    Ok(format!(" FILTER (WHERE {})", cond.0))
}
