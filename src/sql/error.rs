//! A catalog the SQL types cannot express: [`SqlError`].

use rust_decimal::Decimal;

use super::number::{NUMBER, SCALE};

/// A catalog the SQL types cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// A number literal has more decimal places than SQL numbers keep ([`SCALE`]).
    #[error(
        "{context} uses the number {number}, which has more than {SCALE} decimal places; \
         SQL numbers are {NUMBER}"
    )]
    Precision {
        /// Where the literal is, e.g. ``segment `big_spenders` ``.
        context: String,
        /// The literal.
        number: Decimal,
    },
    /// A construct `segflow sql` does not express.
    #[error("{context} uses {what}, which `segflow sql` does not express yet")]
    Unsupported {
        /// Where it is, e.g. ``segment `refund_abusers` ``.
        context: String,
        /// What it is, e.g. "arithmetic".
        what: &'static str,
    },
    /// A declared column's name equals another column's of its table (declared or
    /// fixed, such as `user_id`) but for case, which SQL names ignore.
    #[error(
        "column `{column}` of `{table}` has the name of another column but for case \
         (SQL names ignore case; `_row` belongs to `segflow sql`)"
    )]
    ColumnCase {
        /// The table, `users` or `events`.
        table: &'static str,
        /// The column's name as declared.
        column: String,
    },
}
