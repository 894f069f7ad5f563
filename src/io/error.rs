//! Input errors that name the file, line and column at fault.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

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
    /// What is wrong, e.g. "cannot parse `x` as a number".
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

/// A row-level problem before the file and line are attached.
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
            column: Some(column.to_string()),
            reason: reason.into(),
        }
    }

    /// A problem with the row as a whole.
    pub fn row(reason: impl Into<String>) -> RowError {
        RowError {
            column: None,
            reason: reason.into(),
        }
    }
}

/// The longest text from input that a message quotes in full, in characters.
pub const QUOTED_MAX: usize = 80;

/// `text` for a message: in full when short, else its start and how long it is, so
/// that a multi-megabyte value never fills a terminal or a log.
pub fn shorten(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(QUOTED_MAX) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}… ({} bytes)", &text[..end], text.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        assert_eq!(shorten("short"), "short");
        let long = "é".repeat(QUOTED_MAX + 1);
        let cut = shorten(&long);
        assert!(cut.starts_with(&"é".repeat(QUOTED_MAX)), "{cut}");
        assert!(cut.ends_with(&format!("… ({} bytes)", long.len())), "{cut}");
    }
}
