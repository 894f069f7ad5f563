//! Per-user values as SQL columns: the `event_values`, `active_versions`,
//! `latest_scores`, `score_values` and `features` CTEs.
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
//!
//! Values computed from others (arithmetic, functions, `if`: see `compute`) are columns
//! too, added in stages: `features_0` holds the values read from the data, each of
//! `features_1`, `features_2`, ... adds the columns computed from the stages before it,
//! and the last stage is `features`. Every computed column thus reads named columns of
//! an earlier stage. Within one `SELECT`, DuckDB would expand a column alias into its
//! whole expression wherever it is used, so a value used several times by a value used
//! several times would grow exponentially; across stages it is computed once.

use std::collections::HashMap;
use std::fmt::Write;

use crate::catalog::ir::{AggFunc, Aggregate, Catalog, ScoreVersion, ValueExpr};
use crate::catalog::show;
use crate::value::Type;

use super::ctes::{
    ACTIVE_VERSIONS, EVENTS_NOW, EVENT_VALUES, FEATURES, LATEST_SCORES, NOW, PARAMS, SCORES_NOW,
    SCORE_VALUES, UNIVERSE, USERS_NOW,
};
use super::error::SqlError;
use super::ident::{quote_str, Idents};
use super::number::{Kind, MAX_PLACES, SCALE};
use super::predicate::{self, combine, Cond, Imprecise, Prec, Term};
use super::tables;

/// Where a value lives in `features`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Column {
    /// One column holds the value.
    Value(String),
    /// An average, kept as its exact sum and its count: comparisons never divide.
    /// `quotient` is the column of segflow's quotient, with its stage, once a
    /// computation needs it.
    Avg {
        sum: String,
        count: String,
        quotient: Option<(String, usize)>,
    },
    /// A conversion to a double, written where it is used rather than kept in a column
    /// (a column would show the same number under the same name).
    Inline(String),
}

/// A value and its column(s).
#[derive(Debug)]
pub(super) struct Entry {
    pub expr: ValueExpr,
    /// The feature's name, or the value as written.
    pub label: String,
    pub column: Column,
    /// How SQL types the value (for an average, its quotient).
    pub kind: Kind,
    /// Whether it can be missing (NULL).
    pub nullable: bool,
    /// The stage of `features` that computes it: 0 for values read from the data.
    pub stage: usize,
}

/// The per-user values of a catalog, in order of first use.
#[derive(Debug)]
pub(super) struct Values {
    pub entries: Vec<Entry>,
    pub index: HashMap<ValueExpr, usize>,
    pub columns: Idents,
    /// The feature that names each value defined by a feature (the first of several).
    pub names: HashMap<ValueExpr, String>,
    /// The computed columns, `SQL AS name`, of each stage after the first:
    /// `stages[k]` belongs to stage `k + 1`.
    pub stages: Vec<Vec<String>>,
}

impl Values {
    pub fn new(catalog: &Catalog) -> Values {
        let mut names = HashMap::new();
        for feature in &catalog.features {
            names
                .entry(feature.expr.clone())
                .or_insert_with(|| feature.name.clone());
        }
        Values {
            entries: Vec::new(),
            index: HashMap::new(),
            columns: Idents::with(&["user_id"]),
            names,
            stages: Vec::new(),
        }
    }

    /// The name a value's column wants: its feature's, or the value as written.
    pub fn label(&self, catalog: &Catalog, expr: &ValueExpr) -> String {
        match self.names.get(expr) {
            Some(name) => name.clone(),
            None => show::value(catalog, expr),
        }
    }

    /// Records a value's column(s); returns its index.
    pub fn register(
        &mut self,
        expr: &ValueExpr,
        label: String,
        column: Column,
        kind: Kind,
        nullable: bool,
        stage: usize,
    ) -> usize {
        let index = self.entries.len();
        self.index.insert(expr.clone(), index);
        self.entries.push(Entry {
            expr: expr.clone(),
            label,
            column,
            kind,
            nullable,
            stage,
        });
        index
    }

    /// The column(s) of a value read from the data (an attribute, a score, an
    /// aggregate), added if new; returns its index.
    pub fn base(&mut self, catalog: &Catalog, expr: &ValueExpr) -> usize {
        if let Some(&index) = self.index.get(expr) {
            return index;
        }
        let label = self.label(catalog, expr);
        let column = match expr {
            ValueExpr::Agg(Aggregate {
                func: AggFunc::Avg, ..
            }) => Column::Avg {
                sum: self.columns.claim(&format!("{label} (sum)")),
                count: self.columns.claim(&format!("{label} (count)")),
                quotient: None,
            },
            _ => Column::Value(self.columns.claim(&label)),
        };
        let never_missing = matches!(expr, ValueExpr::Agg(a) if defaults_to_zero(a.func));
        let kind = base_kind(catalog, expr);
        self.register(expr, label, column, kind, !never_missing, 0)
    }

    /// `expr` as a comparison operand in a query over `features` (and `params`).
    ///
    /// # Panics
    /// If `expr` is a per-user value that was never [`add`](Values::add)ed.
    pub fn term(&self, expr: &ValueExpr) -> Result<Term, Imprecise> {
        Ok(match expr {
            ValueExpr::Const(v) => predicate::constant_term(v)?,
            ValueExpr::Now(offset) => predicate::now_term(*offset),
            _ => {
                let entry = &self.entries[self.index[expr]];
                match &entry.column {
                    Column::Value(sql) | Column::Inline(sql) => Term {
                        nullable: entry.nullable,
                        ..Term::known(sql.clone())
                    },
                    Column::Avg { sum, count, .. } => Term {
                        per: Some(count.clone()),
                        ..Term::column(sum.clone())
                    },
                }
            }
        })
    }

    /// The names of the CTEs that compute the values, beyond the fixed ones: the
    /// stages before `features`, when values are computed.
    pub fn stage_names(&self) -> Vec<String> {
        (0..self.stages.len()).map(stage_name).collect()
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
                (Column::Avg { sum, count, .. }, _) => {
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
                (Column::Inline(_), _) => unreachable!("aggregates have columns"),
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
        let scores: Vec<ScoreRead> = self
            .entries
            .iter()
            .filter_map(|e| match (&e.expr, &e.column) {
                (ValueExpr::Score(model, version), Column::Value(name)) => Some(ScoreRead {
                    model,
                    fixed: match version {
                        ScoreVersion::Active => None,
                        ScoreVersion::Fixed(version) => Some(version),
                    },
                    column: name,
                }),
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
        let first = if self.stages.is_empty() {
            FEATURES.to_string()
        } else {
            stage_name(0)
        };
        ctes.push(self.features(catalog, &first, &joins));
        for (k, columns) in self.stages.iter().enumerate() {
            let name = match k + 1 == self.stages.len() {
                true => FEATURES.to_string(),
                false => stage_name(k + 1),
            };
            let comment = match k {
                0 => {
                    "-- values computed from the values above (arithmetic, functions, if), as \
                      segflow\n-- computes them, each stage reading the stages before it\n"
                }
                _ => "",
            };
            ctes.push(format!(
                "{comment}{name} AS (\n  SELECT *,\n    {}\n  FROM {}\n)",
                columns.join(",\n    "),
                stage_name(k)
            ));
        }
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

    /// `name` (`features`, or `features_0` when values are computed after it): the
    /// universe joined with the tables of values (`joins`), one column per value read
    /// from the data, `count`, `sum` and `count_distinct` of nothing made 0.
    fn features(&self, catalog: &Catalog, name: &str, joins: &[&str]) -> String {
        let mut select = vec![format!("{UNIVERSE}.user_id")];
        for entry in &self.entries {
            match (&entry.expr, &entry.column) {
                (ValueExpr::Agg(agg), Column::Value(name)) if defaults_to_zero(agg.func) => {
                    select.push(format!("coalesce({EVENT_VALUES}.{name}, 0) AS {name}"))
                }
                (ValueExpr::Agg(_), Column::Value(name)) => {
                    select.push(format!("{EVENT_VALUES}.{name}"))
                }
                (ValueExpr::Agg(_), Column::Avg { sum, count, .. }) => {
                    select.push(format!("{EVENT_VALUES}.{sum}"));
                    select.push(format!("{EVENT_VALUES}.{count}"));
                }
                (ValueExpr::Score(..), Column::Value(name)) => {
                    select.push(format!("{SCORE_VALUES}.{name}"))
                }
                (ValueExpr::Attr(i), Column::Value(name)) => {
                    let column = tables::column(&catalog.users[*i]);
                    select.push(format!("{USERS_NOW}.{column} AS {name}"));
                }
                // Computed values: in the stages after this one, or inline.
                _ => {}
            }
        }
        let mut cte = format!(
            "-- one row per user of the universe, one column per value (NULL: missing)\n\
             {name} AS (\n  SELECT {}\n  FROM {UNIVERSE}",
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

/// The CTE of stage `k` before the last (which is `features`).
fn stage_name(k: usize) -> String {
    format!("{FEATURES}_{k}")
}

/// How SQL types a value read from the data: numbers are `DECIMAL(38, 9)`, except a
/// median (`(a + b) * 0.5`: 10 places) and an average (its quotient: 28); counts are
/// integers.
fn base_kind(catalog: &Catalog, expr: &ValueExpr) -> Kind {
    let of_type = |ty: Type| match ty {
        Type::Number => Kind::Decimal(SCALE),
        Type::Text | Type::Time | Type::Bool => Kind::Other,
    };
    match expr {
        ValueExpr::Attr(i) => of_type(catalog.users[*i].ty),
        ValueExpr::Score(..) => Kind::Decimal(SCALE),
        ValueExpr::Agg(agg) => match agg.func {
            AggFunc::Count | AggFunc::CountDistinct => Kind::Int,
            AggFunc::Sum => Kind::Decimal(SCALE),
            AggFunc::Median => Kind::Decimal(SCALE + 1),
            AggFunc::Avg => Kind::Decimal(MAX_PLACES),
            AggFunc::Min | AggFunc::Max => match agg.field {
                Some(field) => of_type(catalog.event_field_type(field)),
                None => Kind::Other,
            },
        },
        _ => Kind::Other,
    }
}

/// A score a catalog reads: `score('model')` (`fixed` None: the model's active
/// version) or `score('model', 'version')`, and the column of `features` that holds it.
struct ScoreRead<'a> {
    model: &'a str,
    fixed: Option<&'a str>,
    column: &'a str,
}

impl ScoreRead<'_> {
    /// The condition on `latest_scores` that selects this read's row.
    fn selects(&self) -> String {
        let version = match self.fixed {
            None => "fixed_version IS NULL".to_string(),
            Some(version) => format!("fixed_version = {}", quote_str(version)),
        };
        format!("model = {} AND {version}", quote_str(self.model))
    }
}

/// `active_versions` (when a score reads a model's active version), `latest_scores` and
/// `score_values` for the scores read.
///
/// A model's active version at `now` is named by its `models` row with `ts <= now` of
/// the greatest `ts`, then the greatest `_row` (the last in `models.csv`); a model
/// without one has none. `score('m')` reads the rows of `m`'s active version — rows
/// without a version do not count then — or every row of `m` while it has none;
/// `score('m', 'v')` the rows of version `v`, whatever is active. Of the rows a score
/// reads, the greatest `ts` wins, ties to the greater score. In `latest_scores`,
/// `fixed_version` tells the reads of one model apart: NULL for the active version.
fn score_ctes(reads: &[ScoreRead]) -> Vec<String> {
    let mut ctes = Vec::new();
    let mut branches = Vec::new();
    // Each read is one value of the catalog, so neither list repeats itself.
    let active: Vec<String> = reads
        .iter()
        .filter(|r| r.fixed.is_none())
        .map(|r| quote_str(r.model))
        .collect();
    if !active.is_empty() {
        let models = active.join(", ");
        ctes.push(format!(
            "-- each model's active version at now: of its models rows with ts <= now, the\n\
             -- greatest ts, then the last in models.csv (the greatest _row); none without rows\n\
             {ACTIVE_VERSIONS} AS (\n  SELECT models.model, models.version FROM models, {PARAMS}\n  \
             WHERE models.ts <= {NOW} AND models.model IN ({models})\n  \
             QUALIFY row_number() OVER (\n    \
             PARTITION BY models.model ORDER BY models.ts DESC, models._row DESC\n  ) = 1\n)"
        ));
        branches.push(format!(
            "-- score('m'): the rows of the active version, or of every version while there is none\n    \
             SELECT {SCORES_NOW}.user_id, {SCORES_NOW}.model, \
             CAST(NULL AS VARCHAR) AS fixed_version, {SCORES_NOW}.ts, {SCORES_NOW}.score\n    \
             FROM {SCORES_NOW}\n    \
             LEFT JOIN {ACTIVE_VERSIONS} ON {ACTIVE_VERSIONS}.model = {SCORES_NOW}.model\n    \
             WHERE {SCORES_NOW}.model IN ({models})\n      \
             AND ({ACTIVE_VERSIONS}.model IS NULL OR {SCORES_NOW}.version = {ACTIVE_VERSIONS}.version)"
        ));
    }
    let fixed: Vec<String> = reads
        .iter()
        .filter_map(|r| {
            let version = r.fixed?;
            Some(format!(
                "model = {} AND version = {}",
                quote_str(r.model),
                quote_str(version)
            ))
        })
        .collect();
    if !fixed.is_empty() {
        branches.push(format!(
            "-- score('m', 'v'): the rows of version v\n    \
             SELECT user_id, model, version AS fixed_version, ts, score FROM {SCORES_NOW}\n    \
             WHERE {}",
            fixed
                .iter()
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join("\n      OR ")
        ));
    }
    ctes.push(format!(
        "-- each user's latest score of each score read: the greatest ts, ties to the greater\n\
         -- score\n\
         {LATEST_SCORES} AS (\n  SELECT user_id, model, fixed_version, score FROM (\n    {}\n  )\n  \
         QUALIFY row_number() OVER (\n    \
         PARTITION BY user_id, model, fixed_version ORDER BY ts DESC, score DESC\n  ) = 1\n)",
        branches.join("\n    UNION ALL\n    ")
    ));
    let mut values = format!("{SCORE_VALUES} AS (\n  SELECT user_id");
    for read in reads {
        let _ = write!(
            values,
            ",\n    max(score) FILTER (WHERE {}) AS {}",
            read.selects(),
            read.column
        );
    }
    let _ = write!(values, "\n  FROM {LATEST_SCORES}\n  GROUP BY user_id\n)");
    ctes.push(values);
    ctes
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
