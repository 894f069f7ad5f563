//! Catalog source texts and byte spans within them.
//!
//! The lexer, parser and checker carry byte spans: they are cheap to copy and to join.
//! A span becomes a `file:line:col` [`Location`] (1-based, columns counted in
//! characters, so a caret lines up under non-ASCII text) only when a diagnostic or a
//! catalog entry needs one.

use std::sync::Arc;

use super::ir::Location;

/// A byte range `start..end` of one source file, by index into the [`SourceMap`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub file: usize,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: usize, start: usize, end: usize) -> Span {
        Span { file, start, end }
    }

    /// The smallest span covering both `self` and `other` (of the same file).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

struct SourceFile {
    name: Arc<str>,
    text: String,
    /// Byte offset of the start of every line; the first is 0.
    line_starts: Vec<usize>,
}

/// `text` with every CR that no LF follows replaced by an LF.
fn bare_cr_as_lf(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() != Some(&'\n') => out.push('\n'),
            c => out.push(c),
        }
    }
    out
}

/// Every catalog file of one check, in the order given.
#[derive(Default)]
pub(crate) struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// Adds a file and returns its index (the `file` of its spans).
    ///
    /// Lines end at LF, CRLF or a bare CR (classic Mac OS), as in CSV input: a bare CR
    /// is read as an LF, which keeps every offset and column.
    pub fn add(&mut self, name: &str, text: String) -> usize {
        let text = bare_cr_as_lf(text);
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        self.files.push(SourceFile {
            name: name.into(),
            text,
            line_starts,
        });
        self.files.len() - 1
    }

    pub fn text(&self, file: usize) -> &str {
        &self.files[file].text
    }

    /// The byte offset where the line holding `span.start` begins.
    fn line_start(&self, span: Span) -> (usize, usize) {
        let starts = &self.files[span.file].line_starts;
        // `starts[0] == 0 <= span.start`, so the partition point is at least 1.
        let line = starts.partition_point(|&s| s <= span.start) - 1;
        (line, starts[line])
    }

    /// Where `span` starts.
    pub fn location(&self, span: Span) -> Location {
        let file = &self.files[span.file];
        let (line, start) = self.line_start(span);
        let col = file
            .text
            .get(start..span.start)
            .map_or(0, |s| s.chars().count())
            + 1;
        Location {
            file: file.name.clone(),
            line: u32::try_from(line + 1).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        }
    }

    /// The whole line holding `span.start`, without its line break.
    pub fn line_text(&self, span: Span) -> &str {
        let text = &self.files[span.file].text;
        let (_, start) = self.line_start(span);
        let rest = text.get(start..).unwrap_or("");
        let line = rest.split('\n').next().unwrap_or("");
        line.strip_suffix('\r').unwrap_or(line)
    }

    /// How many characters of `span` lie on its first line (at least one, so that a
    /// caret shows even for an empty span such as the end of the file).
    pub fn width(&self, span: Span) -> usize {
        let on_line = self.snippet(span).split('\n').next().unwrap_or("");
        on_line.trim_end_matches('\r').chars().count().max(1)
    }

    /// The source text of `span`.
    pub fn snippet(&self, span: Span) -> &str {
        self.files[span.file]
            .text
            .get(span.start..span.end)
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> SourceMap {
        let mut map = SourceMap::default();
        map.add("a.seg", text.to_string());
        map
    }

    #[test]
    fn locations_are_one_based_and_count_characters() {
        let map = map("ab\r\nçé x\n");
        let x = Span::new(0, 9, 10);
        assert_eq!(map.snippet(x), "x");
        assert_eq!(map.location(x).to_string(), "a.seg:2:4");
        assert_eq!(map.line_text(x), "çé x");
        assert_eq!(map.line_text(Span::new(0, 0, 0)), "ab");
    }

    #[test]
    fn width_stays_on_the_first_line_and_is_never_zero() {
        let map = map("abc\ndef");
        assert_eq!(map.width(Span::new(0, 1, 6)), 2);
        assert_eq!(map.width(Span::new(0, 7, 7)), 1);
        assert_eq!(map.location(Span::new(0, 7, 7)).to_string(), "a.seg:2:4");
    }
}
