//! Errors in catalogs: collected while parsing and checking, shown like rustc's.
//!
//! Parsing and checking never stop at the first problem. Every error is pushed onto
//! [`Reports`] and the failing construct yields [`Reported`], so the caller skips the
//! broken piece without piling a second, derivative error on top of it. Only at the
//! end are spans resolved into locations and source lines, giving each [`Diagnostic`]
//! everything it needs to display itself without the sources.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::ir::Location;
use super::source::{SourceMap, Span};
use crate::quoted::{cut, shorten_quoted};

/// One error in a catalog, with the source line to show and where to put the carets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong and what was expected.
    pub message: String,
    /// Where the fault starts.
    pub loc: Location,
    /// The source line holding `loc`, without its line break.
    pub line_text: String,
    /// How many characters the carets cover (at least one).
    pub width: usize,
    /// A hint printed after the carets, such as "did you mean `purchases`?"; may be empty.
    pub label: String,
}

/// The most characters of a source line a diagnostic shows.
const LINE_MAX: usize = 200;

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.loc.line.to_string();
        let pad = " ".repeat(line.len());
        writeln!(f, "error: {}", shorten_quoted(&self.message))?;
        writeln!(f, "{pad}--> {}", self.loc)?;
        writeln!(f, "{pad} |")?;
        // A huge line (a megabyte-long name) is shown cut, its carets within what shows.
        let shown = cut(&self.line_text, LINE_MAX);
        writeln!(f, "{line} | {shown}")?;
        // Keep tabs so the carets line up however the terminal expands them.
        let before = (self.loc.col.saturating_sub(1) as usize).min(LINE_MAX);
        let indent: String = shown
            .chars()
            .take(before)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let width = self.width.min(LINE_MAX - before).max(1);
        write!(f, "{pad} | {indent}{}", "^".repeat(width))?;
        if !self.label.is_empty() {
            write!(f, " {}", shorten_quoted(&self.label))?;
        }
        Ok(())
    }
}

/// Why a catalog could not be loaded.
#[derive(Debug)]
pub enum CatalogError {
    /// A catalog file could not be read.
    Io {
        /// The file as it was given to [`load`](crate::catalog::load).
        path: PathBuf,
        /// Why it could not be read.
        error: io::Error,
    },
    /// The catalog has errors (never an empty list), in file and position order.
    Invalid(Vec<Diagnostic>),
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::Io { path, error } => write!(
                f,
                "cannot read catalog file '{}': {}",
                path.display(),
                without_os_code(error)
            ),
            CatalogError::Invalid(diagnostics) => {
                for (i, diagnostic) in diagnostics.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n\n")?;
                    }
                    write!(f, "{diagnostic}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CatalogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CatalogError::Io { error, .. } => Some(error),
            CatalogError::Invalid(_) => None,
        }
    }
}

/// The system's message without the " (os error 2)" suffix, which tells a user nothing.
fn without_os_code(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

/// Marks a failure that has already been reported: the caller just gives up on the
/// construct at hand.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reported;

/// The result of parsing or checking one construct.
pub(crate) type Checked<T> = Result<T, Reported>;

struct Report {
    span: Span,
    message: String,
    label: String,
}

/// The errors found so far.
#[derive(Default)]
pub(crate) struct Reports {
    list: Vec<Report>,
}

impl Reports {
    /// Records an error at `span` and returns the marker to fail with.
    pub fn error(
        &mut self,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Reported {
        self.list.push(Report {
            span,
            message: message.into(),
            label: label.into(),
        });
        Reported
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Resolves every error against the sources, in file and position order.
    pub fn into_diagnostics(mut self, sources: &SourceMap) -> Vec<Diagnostic> {
        self.list.sort_by_key(|r| (r.span.file, r.span.start));
        self.list
            .into_iter()
            .map(|r| Diagnostic {
                loc: sources.location(r.span),
                line_text: sources.line_text(r.span).to_string(),
                width: sources.width(r.span),
                message: r.message,
                label: r.label,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let mut sources = SourceMap::default();
        let text = "\n".repeat(11) + "segment s = purchse > 5\n";
        let file = sources.add("dataflows/x.seg", text);
        let mut reports = Reports::default();
        let start = sources.text(file).find("purchse").unwrap();
        reports.error(
            Span::new(file, start, start + 7),
            "unknown feature or segment `purchse`",
            "did you mean `purchases`?",
        );
        let error = CatalogError::Invalid(reports.into_diagnostics(&sources));
        let expected = "\
error: unknown feature or segment `purchse`
  --> dataflows/x.seg:12:13
   |
12 | segment s = purchse > 5
   |             ^^^^^^^ did you mean `purchases`?";
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn tabs_are_kept_in_the_caret_indent() {
        let mut sources = SourceMap::default();
        let file = sources.add("t.seg", "\tx @".to_string());
        let mut reports = Reports::default();
        reports.error(Span::new(file, 3, 4), "unexpected character `@`", "");
        let shown = reports.into_diagnostics(&sources)[0].to_string();
        assert!(shown.ends_with("  | \t  ^"), "{shown}");
    }

    #[test]
    fn errors_are_sorted_by_position() {
        let mut sources = SourceMap::default();
        let a = sources.add("a.seg", "one\ntwo\n".to_string());
        let b = sources.add("b.seg", "three\n".to_string());
        let mut reports = Reports::default();
        reports.error(Span::new(b, 0, 5), "third", "");
        reports.error(Span::new(a, 4, 7), "second", "");
        reports.error(Span::new(a, 0, 3), "first", "");
        let order: Vec<String> = reports
            .into_diagnostics(&sources)
            .into_iter()
            .map(|d| d.message)
            .collect();
        assert_eq!(order, ["first", "second", "third"]);
    }

    #[test]
    fn io_errors_are_one_clear_line() {
        let error = CatalogError::Io {
            path: PathBuf::from("x.seg"),
            error: io::Error::from_raw_os_error(2),
        };
        assert_eq!(
            error.to_string(),
            "cannot read catalog file 'x.seg': No such file or directory"
        );
    }
}
