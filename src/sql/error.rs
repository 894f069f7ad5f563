//! A catalog the SQL types cannot express: [`SqlError`].

use rust_decimal::Decimal;

use super::number::{NUMBER, SCALE};

/// A catalog the SQL types cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    #[error(
        "{context} uses the number {number}, which has more than {SCALE} decimal places; \
         SQL numbers are {NUMBER}"
    )]
    Precision { context: String, number: Decimal },
    #[error(
        "column `{column}` of `{table}` has the name of another column but for case \
         (SQL names ignore case; `_row` belongs to `segflow sql`)"
    )]
    ColumnCase { table: &'static str, column: String },
}
