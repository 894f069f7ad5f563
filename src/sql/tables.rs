//! The input tables the query reads, with their SQL types.
//!
//! `users(user_id, <attributes>..., _row)`, `events(user_id, ts, kind, event_id,
//! <fields>...)` (`event_id` NULL for events without one),
//! `scores(user_id, model, score, ts, version)` (`version` NULL for scores without one)
//! and `models(model, version, ts, _row)`, typed from the catalog's schemas. `_row` is
//! the position of a row in `users.csv` or `models.csv` (any increasing number will
//! do): users are upserts and the last row of a user wins, and of a model's switches at
//! one time the last wins, which a table, having no order, cannot express otherwise.

use std::fmt::Write;

use crate::catalog::ir::{Catalog, Column};
use crate::value::Type;

use super::error::SqlError;
use super::ident::{quote_ident, Idents};
use super::number::NUMBER;

/// The row-order column of the users and models tables.
pub const ROW: &str = "_row";

/// The SQL type of values of `ty`. Times are integer seconds since the Unix epoch.
pub fn sql_type(ty: Type) -> &'static str {
    match ty {
        Type::Text => "VARCHAR",
        Type::Number => NUMBER,
        Type::Time => "BIGINT",
        Type::Bool => "BOOLEAN",
    }
}

/// An input table: its name and its columns, `(SQL name, SQL type)`, in order.
#[derive(Clone, Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<(String, String)>,
}

impl Table {
    /// `users(user_id, "country", ..., _row)`: a one-line summary for comments.
    pub fn summary(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| n.as_str()).collect();
        format!("{}({})", self.name, names.join(", "))
    }
}

/// The four input tables, after checking that the declared columns stay distinct in
/// SQL.
pub fn tables(catalog: &Catalog) -> Result<[Table; 4], SqlError> {
    let fixed = |columns: &[(&str, &str)]| -> Vec<(String, String)> {
        columns
            .iter()
            .map(|(name, ty)| (name.to_string(), ty.to_string()))
            .collect()
    };
    let mut users = fixed(&[("user_id", "VARCHAR")]);
    users.extend(declared("users", &catalog.users, &["user_id", ROW])?);
    users.push((ROW.to_string(), "BIGINT".to_string()));
    let mut events = fixed(&[
        ("user_id", "VARCHAR"),
        ("ts", "BIGINT"),
        ("kind", "VARCHAR"),
        ("event_id", "VARCHAR"),
    ]);
    events.extend(declared(
        "events",
        &catalog.events,
        &["user_id", "ts", "kind", "event_id"],
    )?);
    let scores = fixed(&[
        ("user_id", "VARCHAR"),
        ("model", "VARCHAR"),
        ("score", NUMBER),
        ("ts", "BIGINT"),
        ("version", "VARCHAR"),
    ]);
    let models = fixed(&[
        ("model", "VARCHAR"),
        ("version", "VARCHAR"),
        ("ts", "BIGINT"),
        (ROW, "BIGINT"),
    ]);
    let table = |name, columns| Table { name, columns };
    Ok([
        table("users", users),
        table("events", events),
        table("scores", scores),
        table("models", models),
    ])
}

/// Quoted names and types of declared columns; an error when two names (or a name and
/// a fixed column) differ only in case, which SQL cannot tell apart.
fn declared(
    table: &'static str,
    columns: &[Column],
    fixed: &[&str],
) -> Result<Vec<(String, String)>, SqlError> {
    let mut idents = Idents::with(fixed);
    columns
        .iter()
        .map(|column| {
            if !idents.is_free(&column.name) {
                return Err(SqlError::ColumnCase {
                    table,
                    column: column.name.clone(),
                });
            }
            Ok((idents.claim(&column.name), sql_type(column.ty).to_string()))
        })
        .collect()
}

/// `CREATE TABLE` statements for the four input tables.
pub fn create_tables(catalog: &Catalog) -> Result<String, SqlError> {
    let mut out = String::from(
        "-- The input tables of `segflow sql`. users._row is the row's position in users.csv:\n\
         -- the last row of a user_id wins. models._row is the row's position in models.csv:\n\
         -- of a model's rows with one ts, the last wins. Empty CSV cells are NULL.\n",
    );
    for table in tables(catalog)? {
        let _ = writeln!(out, "CREATE TABLE {} (", table.name);
        let lines: Vec<String> = table
            .columns
            .iter()
            .map(|(name, ty)| format!("  {name} {ty}"))
            .collect();
        let _ = writeln!(out, "{}\n);", lines.join(",\n"));
    }
    Ok(out)
}

/// The quoted SQL name of a declared column.
pub fn column(column: &Column) -> String {
    quote_ident(&column.name)
}
