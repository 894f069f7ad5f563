//! `segflow sql`: a catalog compiled into one SQL query (DuckDB dialect) that gives the
//! members of every segment as `(segment, user_id)` rows.
//!
//! The query exists so that a team can check segflow's answer in their warehouse, and
//! so that benchmarks have a from-scratch peer (`benches/duckdb_peer.py`). It follows
//! the reference evaluator ([`crate::reference`]) rule by rule, and the tests hold it
//! to byte-identical output with `segflow run`. Its shape, top to bottom:
//!
//! - `params`: the as-of time `now`, a parameter `$as_of` or a literal;
//! - `users_now`, `events_now`, `scores_now`: what is visible at `now`;
//! - `universe`: every user known at `now`;
//! - `event_values`, `active_versions`, `latest_scores`, `score_values`, `features`: one
//!   row per user, one column per value (`values`), those computed from others
//!   (arithmetic, functions) in stages before `features` (`compute`);
//! - one CTE per segment, in dependency order (`segment`), conditions in two-valued
//!   logic (`predicate`);
//! - the union of the segments, sorted by segment and user id.
//!
//! Where SQL and segflow differ (NULL, decimal division, row order), the choices are
//! recorded in docs/DESIGN.md ("SQL").

mod compute;
mod ctes;
mod error;
mod ident;
mod number;
mod predicate;
mod segment;
mod tables;
mod values;

use std::fmt::Write;

use crate::catalog::ir::Catalog;

pub use error::SqlError;
pub use number::{NUMBER, SCALE};
pub use tables::create_tables;

use ctes::{
    ACTIVE_VERSIONS, EVENTS_NOW, EVENT_VALUES, FEATURES, LATEST_SCORES, NOW, PARAMS, SCORES_NOW,
    SCORE_VALUES, UNIVERSE, USERS_NOW,
};
use ident::{quote_str, Idents};
use segment::SegmentWriter;
use values::Values;

/// The as-of time of the query.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// The named parameter `$as_of` (BIGINT seconds); NULL means the greatest `ts` in
    /// `events`, `scores` and `models` (0 when all are empty), as `segflow run` does.
    Param,
    /// A fixed time, written into the query.
    At(u64),
}

/// The query giving every segment's members at the as-of time.
pub fn compile(catalog: &Catalog, as_of: AsOf) -> Result<String, SqlError> {
    let tables = tables::tables(catalog)?;
    let mut values = Values::new(catalog);
    for feature in &catalog.features {
        let context = format!("feature `{}`", feature.name);
        values.add(catalog, &feature.expr, &context)?;
    }
    for segment in &catalog.segments {
        let context = format!("segment `{}`", segment.name);
        for expr in segment::values_of(&segment.pred) {
            values.add(catalog, expr, &context)?;
        }
    }
    let mut ctes = Idents::with(&[
        PARAMS,
        USERS_NOW,
        EVENTS_NOW,
        SCORES_NOW,
        UNIVERSE,
        EVENT_VALUES,
        ACTIVE_VERSIONS,
        LATEST_SCORES,
        SCORE_VALUES,
        FEATURES,
    ]);
    for stage in values.stage_names() {
        ctes.claim(&stage);
    }
    let names: Vec<String> = catalog
        .segments
        .iter()
        .map(|s| ctes.claim(&s.name))
        .collect();

    let mut parts = vec![inputs(catalog, as_of)];
    parts.extend(values.ctes(catalog)?);
    let writer = SegmentWriter {
        values: &values,
        names: &names,
    };
    for i in segment::dependency_order(catalog) {
        parts.push(writer.cte(&catalog.segments[i], &names[i])?);
    }
    let mut out = header(catalog, &tables, as_of);
    // `inputs` holds five CTEs.
    if let Some(depth) = depth_setting(parts.len() + 4) {
        let _ = writeln!(out, "{DEPTH_SETTING}{depth};");
    }
    let _ = writeln!(out, "WITH\n{}", parts.join(",\n"));
    out.push_str(&union(catalog, &names));
    Ok(out)
}

/// The comment that starts the statement a long query needs run before it, in DuckDB;
/// `benches/duckdb_peer.py` runs it.
pub const DEPTH_SETTING: &str = "-- DuckDB: SET max_expression_depth TO ";

/// The `max_expression_depth` DuckDB needs for a query of `ctes` common table
/// expressions, when its default (1000) is not enough. DuckDB binds each CTE of a WITH
/// inside the previous ones, so a catalog of about a thousand segments nests past the
/// default (800 bind, 1,000 do not); twenty levels per CTE leaves room for the
/// expressions within each.
fn depth_setting(ctes: usize) -> Option<usize> {
    (ctes > 500).then_some(ctes * 20)
}

/// Comments: what the query reads, its parameter, and the segments in catalog order
/// (`-- segments: a, b`, which `benches/duckdb_peer.py` reads).
fn header(catalog: &Catalog, tables: &[tables::Table], as_of: AsOf) -> String {
    let mut out = String::from(
        "-- segflow sql: the members of every segment as (segment, user_id) rows (DuckDB).\n\
         -- Reads the tables, typed as `segflow sql --tables` prints them:\n",
    );
    for table in tables {
        let _ = writeln!(out, "--   {}", table.summary());
    }
    match as_of {
        AsOf::Param => out.push_str(
            "-- As of the parameter $as_of (BIGINT seconds; NULL: the greatest ts in events,\n\
             -- scores and models), e.g. PREPARE segments AS <query>;\n\
             -- EXECUTE segments(as_of := 1700000000);\n",
        ),
        AsOf::At(t) => {
            let _ = writeln!(out, "-- As of {t}.");
        }
    }
    let names: Vec<&str> = catalog.segments.iter().map(|s| s.name.as_str()).collect();
    let _ = writeln!(out, "-- segments: {}", names.join(", "));
    out
}

/// `params`, the visible rows and the universe.
fn inputs(catalog: &Catalog, as_of: AsOf) -> String {
    let now = match as_of {
        AsOf::Param => "coalesce(\n    CAST($as_of AS BIGINT),\n    \
             (SELECT max(ts) FROM (\n      \
             SELECT ts FROM events UNION ALL SELECT ts FROM scores UNION ALL SELECT ts FROM models\n    \
             )),\n    \
             0\n  )"
            .to_string(),
        AsOf::At(t) => format!("CAST({t} AS BIGINT)"),
    };
    // Of a user's visible events with one event_id, the least by (ts, kind, fields)
    // counts, missing values first: the order of the engine's events.
    let content = ["ts".to_string(), "kind".to_string()]
        .into_iter()
        .chain(catalog.events.iter().map(tables::column))
        .map(|column| format!("events.{column} NULLS FIRST"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{PARAMS} AS (\n  SELECT {now} AS now\n),\n\
         -- users are upserts: the last row of a user_id (the greatest _row) wins\n\
         {USERS_NOW} AS (\n  SELECT * EXCLUDE (_row) FROM users\n  \
         QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY _row DESC) = 1\n),\n\
         -- events and scores after now have not happened yet; events with one user and\n\
         -- event_id count once\n\
         {EVENTS_NOW} AS (\n  SELECT events.* FROM events, {PARAMS} WHERE events.ts <= {NOW}\n  \
         QUALIFY events.event_id IS NULL OR row_number() OVER (\n    \
         PARTITION BY events.user_id, events.event_id ORDER BY {content}\n  ) = 1\n),\n\
         {SCORES_NOW} AS (\n  SELECT scores.* FROM scores, {PARAMS} WHERE scores.ts <= {NOW}\n),\n\
         -- every user known at now: with a users row, or a visible event or score\n\
         {UNIVERSE} AS (\n  SELECT user_id FROM users\n  UNION SELECT user_id FROM {EVENTS_NOW}\n  \
         UNION SELECT user_id FROM {SCORES_NOW}\n)"
    )
}

/// The final `SELECT`: every segment's rows, sorted.
fn union(catalog: &Catalog, names: &[String]) -> String {
    if catalog.segments.is_empty() {
        return "SELECT CAST(NULL AS VARCHAR) AS segment, CAST(NULL AS VARCHAR) AS user_id \
                WHERE FALSE;\n"
            .to_string();
    }
    let selects: Vec<String> = catalog
        .segments
        .iter()
        .zip(names)
        .map(|(segment, name)| {
            format!(
                "SELECT {} AS segment, user_id FROM {name}",
                quote_str(&segment.name)
            )
        })
        .collect();
    format!(
        "{}\nORDER BY segment, user_id;\n",
        selects.join("\nUNION ALL ")
    )
}

#[cfg(test)]
mod tests;
