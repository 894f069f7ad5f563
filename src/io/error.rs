//! Input errors that name the file, line and column at fault.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::quoted::{shorten, shorten_quoted};

/// A problem with one row (or the header) of an input file.
///
/// Serializable because rows are parsed by every worker, possibly in other processes,
/// and the errors are gathered in one place to be reported or written to the rejects file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InputError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line number; the header is line 1.
    pub line: u64,
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// What is wrong, e.g. "cannot parse `x` as a number", with the input it quotes
    /// cut short.
    pub reason: String,
    /// The offending line as read (lossily decoded), for the rejects file.
    pub raw: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(column) = &self.column {
            write!(f, ": column `{column}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for InputError {}

/// A row-level problem before the file and line are attached; the input it quotes (a
/// column name, a cell) is cut short.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// What is wrong, e.g. "cannot parse `x` as a number".
    pub reason: String,
}

impl RowError {
    /// A problem with the cell of `column`.
    pub fn column(column: &str, reason: impl Into<String>) -> RowError {
        RowError {
            column: Some(shorten(column).into_owned()),
            reason: cut_reason(reason.into()),
        }
    }

    /// A problem with the row as a whole.
    pub fn row(reason: impl Into<String>) -> RowError {
        RowError {
            column: None,
            reason: cut_reason(reason.into()),
        }
    }
}

/// A reason with the input it quotes cut short (see [`shorten_quoted`]).
pub fn cut_reason(reason: String) -> String {
    match shorten_quoted(&reason) {
        std::borrow::Cow::Borrowed(_) => reason,
        std::borrow::Cow::Owned(cut) => cut,
    }
}
