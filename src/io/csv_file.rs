//! CSV files read in parts, one part per worker.
//!
//! Each worker parses its own byte range of each file, cut at line ends, so loading
//! scales with workers instead of funnelling through one of them. A line belongs to the
//! part that contains its first byte. The price is that a quoted field may not contain
//! a line break (a line break inside quotes is reported as an error, never misread).
//!
//! Files are memory-mapped, not read: a process of a cluster touches only the pages of
//! its own workers' parts, and rows are identified by their byte offset, so nothing
//! before a part is read unless a row in it is reported (its line number is counted
//! then). The files must not change while a run reads them.

use std::fs::File;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use csv::ByteRecord;

use super::error::{InputError, RowError};

/// A file's bytes: mapped from disk, or given in memory (tests, empty files).
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(map) => map,
            Bytes::Owned(bytes) => bytes,
        }
    }
}

/// A CSV file, mapped into memory, with its header parsed.
pub struct CsvFile {
    /// The path as the user gave it, for messages.
    pub name: String,
    bytes: Arc<Bytes>,
    /// Column names from the header row.
    pub header: Vec<String>,
    /// Byte offset of the first data line.
    data_start: usize,
}

impl CsvFile {
    /// Maps a file and reads its header row.
    pub fn open(path: &Path) -> Result<CsvFile, InputError> {
        let name = path.display().to_string();
        let unreadable = |e: std::io::Error| InputError {
            file: name.clone(),
            line: 0,
            column: None,
            reason: format!("cannot read file: {e}"),
            raw: String::new(),
        };
        let file = File::open(path).map_err(unreadable)?;
        let length = file.metadata().map_err(unreadable)?.len();
        let bytes = if length == 0 {
            // Mapping an empty file fails on some systems; there is nothing to map.
            Bytes::Owned(Vec::new())
        } else {
            // SAFETY: the map is read-only and private to this process. Its contents
            // change only if another process writes the file during the run, which
            // the README rules out for input files (a live run's followed files are
            // read, not mapped).
            Bytes::Mapped(unsafe { memmap2::Mmap::map(&file) }.map_err(unreadable)?)
        };
        Self::with_bytes(name, bytes)
    }

    /// Parses the header of in-memory CSV content.
    pub fn from_bytes(name: String, bytes: Vec<u8>) -> Result<CsvFile, InputError> {
        Self::with_bytes(name, Bytes::Owned(bytes))
    }

    fn with_bytes(name: String, bytes: Bytes) -> Result<CsvFile, InputError> {
        let header_end = memchr::memchr(b'\n', &bytes).map_or(bytes.len(), |i| i + 1);
        let header_error = |reason: String| InputError {
            file: name.clone(),
            line: 1,
            column: None,
            reason,
            raw: String::from_utf8_lossy(&bytes[..header_end])
                .trim_end()
                .to_string(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(&bytes[..header_end]);
        let mut record = ByteRecord::new();
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => {
                return Err(header_error(
                    "the file is empty; a header row is required".into(),
                ))
            }
            Err(e) => return Err(header_error(format!("unreadable header row: {e}"))),
        }
        let mut header = Vec::with_capacity(record.len());
        for field in record.iter() {
            let column = std::str::from_utf8(field)
                .map_err(|_| header_error("the header row is not valid UTF-8".into()))?;
            header.push(column.trim().trim_start_matches('\u{feff}').to_string());
        }
        Ok(CsvFile {
            name,
            bytes: Arc::new(bytes),
            header,
            data_start: header_end,
        })
    }

    /// The file's length in bytes.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The number of lines after the header (blank ones included): a row count for
    /// progress reports, found at memory speed.
    pub fn data_lines(&self) -> u64 {
        let data = &self.bytes[self.data_start.min(self.bytes.len())..];
        let newlines = memchr::memchr_iter(b'\n', data).count() as u64;
        newlines + u64::from(data.last().is_some_and(|b| *b != b'\n'))
    }

    /// Calls `row` with the byte offset and fields of every record in part `index` of
    /// `parts` (offsets order the rows as lines do); rows for which `row` fails, and
    /// unreadable rows, are handed to `reject` with their line number.
    pub fn for_each_row(
        &self,
        index: usize,
        parts: usize,
        mut row: impl FnMut(u64, &ByteRecord) -> Result<(), RowError>,
        mut reject: impl FnMut(InputError),
    ) {
        let (start, end) = self.part(index, parts);
        if start >= end {
            return;
        }
        let bytes = &self.bytes[start..end];
        let mut lines = LineCounter::new(&self.bytes, start);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut record = ByteRecord::new();
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let offset = start + record.position().map_or(0, |p| p.byte() as usize);
                    let result = if record.iter().any(|field| field.contains(&b'\n')) {
                        Err(RowError::row(
                            "a quoted field contains a line break, which is not supported",
                        ))
                    } else if record.len() != self.header.len() {
                        Err(RowError::row(format!(
                            "expected {} columns as in the header, found {}",
                            self.header.len(),
                            record.len()
                        )))
                    } else {
                        row(offset as u64, &record)
                    };
                    if let Err(error) = result {
                        let (line, raw) = lines.locate(offset);
                        reject(self.error(line, raw, error));
                    }
                }
                Err(e) => {
                    let offset = start + e.position().map_or(0, |p| p.byte() as usize);
                    let (line, raw) = lines.locate(offset);
                    reject(self.error(line, raw, RowError::row(format!("unreadable CSV: {e}"))));
                }
            }
        }
    }

    /// Calls `cell` with the bytes of column `position` of every well-formed row of part
    /// `index` of `parts`; malformed rows are skipped (they are reported when the rows
    /// are read in full).
    ///
    /// Used to find the default as-of time before the rows are read: a part without any
    /// quote character is split on commas directly, several times faster than a CSV
    /// parse; a part with quotes goes through the CSV reader.
    pub fn for_each_cell(
        &self,
        index: usize,
        parts: usize,
        position: usize,
        mut cell: impl FnMut(&[u8]),
    ) {
        let (start, end) = self.part(index, parts);
        let bytes = &self.bytes[start.min(end)..end];
        if memchr::memchr(b'"', bytes).is_some() {
            self.for_each_row(
                index,
                parts,
                |_offset, record| {
                    cell(record.get(position).unwrap_or_default());
                    Ok(())
                },
                |_error| {},
            );
            return;
        }
        for line in bytes.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let mut fields = line.split(|&b| b == b',');
            if let (Some(field), false) = (fields.nth(position), line.is_empty()) {
                if line.split(|&b| b == b',').count() == self.header.len() {
                    cell(field);
                }
            }
        }
    }

    /// The byte range `[start, end)` of part `index`: whole lines only.
    fn part(&self, index: usize, parts: usize) -> (usize, usize) {
        let len = self.bytes.len();
        let body = len - self.data_start;
        let boundary = |k: usize| -> usize {
            if k == 0 {
                return self.data_start;
            }
            if k >= parts {
                return len;
            }
            // The first line that starts at or after the nominal cut.
            let cut = self.data_start + (body as u128 * k as u128 / parts as u128) as usize;
            match memchr::memchr(b'\n', &self.bytes[cut - 1..]) {
                Some(offset) => cut + offset,
                None => len,
            }
        };
        (boundary(index), boundary(index + 1))
    }

    fn error(&self, line: u64, raw: &[u8], error: RowError) -> InputError {
        InputError {
            file: self.name.clone(),
            line,
            column: error.column,
            reason: error.reason,
            raw: String::from_utf8_lossy(raw).into_owned(),
        }
    }
}

/// Line numbers of byte offsets, counted incrementally as a part is read in order,
/// and only once a line number is asked for: the lines before a part are counted at
/// the first reported row, so a clean part never reads what precedes it.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    /// The line at `offset`, once counted.
    line: Option<u64>,
}

impl<'a> LineCounter<'a> {
    /// Starts at `offset`; the header is line 1.
    fn new(bytes: &'a [u8], offset: usize) -> Self {
        LineCounter {
            bytes,
            offset,
            line: None,
        }
    }

    /// The line number and text of the record that the CSV reader places at `offset`.
    ///
    /// The reader may report a record's position before the line breaks and blank
    /// lines that precede it, so the record starts at the first byte after them.
    fn locate(&mut self, offset: usize) -> (u64, &'a [u8]) {
        let mut start = offset.max(self.offset);
        while start < self.bytes.len() && matches!(self.bytes[start], b'\n' | b'\r') {
            start += 1;
        }
        let before = *self.line.get_or_insert_with(|| {
            1 + memchr::memchr_iter(b'\n', &self.bytes[..self.offset]).count() as u64
        });
        let line =
            before + memchr::memchr_iter(b'\n', &self.bytes[self.offset..start]).count() as u64;
        (self.offset, self.line) = (start, Some(line));
        let end =
            memchr::memchr(b'\n', &self.bytes[start..]).map_or(self.bytes.len(), |i| start + i);
        let text = &self.bytes[start..end];
        (line, text.strip_suffix(b"\r").unwrap_or(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(file: &CsvFile, parts: usize) -> Vec<(u64, Vec<String>)> {
        let mut all = Vec::new();
        for index in 0..parts {
            file.for_each_row(
                index,
                parts,
                |offset, record| {
                    let fields = record
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect();
                    all.push((offset, fields));
                    Ok(())
                },
                |e| panic!("unexpected error {e}"),
            );
        }
        all.sort();
        all
    }

    #[test]
    fn every_row_is_read_once_whatever_the_number_of_parts() {
        let text: String = std::iter::once("a,b\n".to_string())
            .chain((0..50).map(|i| format!("{i},{}\n", "x".repeat(i % 7))))
            .collect();
        let file = CsvFile::from_bytes("t.csv".into(), text.into_bytes()).unwrap();
        let one = rows(&file, 1);
        assert_eq!(one.len(), 50);
        // Rows are identified by byte offset: the first follows the 4-byte header.
        assert_eq!(one[0], (4, vec!["0".to_string(), String::new()]));
        for parts in [2, 3, 7, 64] {
            assert_eq!(rows(&file, parts), one, "parts={parts}");
        }
    }

    #[test]
    fn short_rows_and_line_breaks_in_quotes_are_reported_with_their_line() {
        let text = "a,b\n1,2\n3\n\"x\ny\",4\n5,6\n";
        let file = CsvFile::from_bytes("t.csv".into(), text.as_bytes().to_vec()).unwrap();
        let mut errors = Vec::new();
        let mut good = 0;
        file.for_each_row(
            0,
            1,
            |_, _| {
                good += 1;
                Ok(())
            },
            |e| errors.push(e),
        );
        assert_eq!(good, 2);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].line, 3);
        assert!(
            errors[0].reason.contains("expected 2 columns"),
            "{}",
            errors[0]
        );
        assert_eq!(errors[1].line, 4);
        assert!(errors[1].reason.contains("line break"), "{}", errors[1]);
    }

    #[test]
    fn empty_file_needs_a_header() {
        let err = CsvFile::from_bytes("t.csv".into(), Vec::new())
            .err()
            .unwrap();
        assert!(err.to_string().contains("header row is required"));
    }
}
