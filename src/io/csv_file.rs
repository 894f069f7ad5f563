//! CSV files read in parts, one part per worker.
//!
//! Each worker parses its own byte range of each file, cut at line ends, so loading
//! scales with workers instead of funnelling through one of them. A line belongs to the
//! part that contains its first byte, and every line is a row of its own: a quoted
//! field may not contain a line break. A line whose quote does not close on it is
//! rejected alone, so the rows and rejects are the same with any number of parts.
//! Lines end at LF, CRLF or a bare CR (`io::lines`).
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
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use super::error::{InputError, RowError};
use super::lines;

/// Why a line whose quoted field runs past its end is rejected.
const UNCLOSED_QUOTE: &str =
    "unterminated quote: a quoted field opened on this line does not close on it \
     (quoted fields may not contain line breaks; the next line is read as a row of its own)";

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

/// Files up to this size are hashed whole by [`CsvFile::content_hash`].
const WHOLE_HASH: usize = 64 << 20;
/// Blocks hashed of a larger file.
const SAMPLES: usize = 1024;
/// Bytes of each block.
const SAMPLE_BYTES: usize = 4096;

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
        let header_end = lines::next_line_start(&bytes, 0);
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
        if memchr::memchr2(b'\n', b'\r', record.as_slice()).is_some() {
            return Err(header_error(format!(
                "the header row has an {UNCLOSED_QUOTE}"
            )));
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

    /// A hash of the file's content, for processes of a cluster job to check that they
    /// read the same file: of all of it up to `WHOLE_HASH` bytes; of a larger file,
    /// its length and `SAMPLES` blocks spread evenly from its first byte to its last
    /// (so a difference outside them goes unseen, but every process touches only a few
    /// pages of a file it reads a part of).
    pub fn content_hash(&self) -> u64 {
        let bytes: &[u8] = &self.bytes;
        if bytes.len() <= WHOLE_HASH {
            return xxh3_64(bytes);
        }
        let mut hasher = Xxh3::new();
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        let last = bytes.len() - SAMPLE_BYTES;
        for i in 0..SAMPLES {
            let start = last * i / (SAMPLES - 1);
            hasher.update(&bytes[start..start + SAMPLE_BYTES]);
        }
        hasher.digest()
    }

    /// The number of lines after the header (blank ones included): a row count for
    /// progress reports, found at memory speed.
    pub fn data_lines(&self) -> u64 {
        let (start, end) = (self.data_start.min(self.bytes.len()), self.bytes.len());
        let ends = lines::line_ends(&self.bytes, start, end);
        ends + u64::from(
            self.bytes[start..]
                .last()
                .is_some_and(|b| !lines::is_line_end(*b)),
        )
    }

    /// Calls `row` with the byte offset and fields of every record in part `index` of
    /// `parts` (offsets order the rows as lines do); rows for which `row` fails, and
    /// unreadable rows, are handed to `reject` with their line number.
    ///
    /// Every line is a row of its own, so what a line yields never depends on where
    /// the parts are cut: a quoted field that does not close on its line rejects that
    /// line only, and reading goes on at the next line.
    pub fn for_each_row(
        &self,
        index: usize,
        parts: usize,
        mut row: impl FnMut(u64, &ByteRecord) -> Result<(), RowError>,
        mut reject: impl FnMut(InputError),
    ) {
        let (start, end) = self.part(index, parts);
        let mut lines = LineCounter::new(&self.bytes, start);
        let mut from = start;
        while from < end {
            from = self.read_rows(from, end, &mut lines, &mut row, &mut reject);
        }
    }

    /// Reads the rows of `[from, end)` up to the first record that is not exactly one
    /// line, which is rejected as its first line; returns where reading goes on.
    fn read_rows(
        &self,
        from: usize,
        end: usize,
        lines: &mut LineCounter<'_>,
        row: &mut impl FnMut(u64, &ByteRecord) -> Result<(), RowError>,
        reject: &mut impl FnMut(InputError),
    ) -> usize {
        // The line end after the range makes a quote still open on the range's last
        // line visible as a field holding a line break, as on every other line.
        let input = std::io::Read::chain(&self.bytes[from..end], &b"\n"[..]);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut record = ByteRecord::new();
        loop {
            let (offset, error) = match reader.read_byte_record(&mut record) {
                Ok(false) => return end,
                Ok(true) => {
                    let offset = from + record.position().map_or(0, |p| p.byte() as usize);
                    if memchr::memchr2(b'\n', b'\r', record.as_slice()).is_some() {
                        (offset, RowError::row(UNCLOSED_QUOTE))
                    } else {
                        let result = if record.len() != self.header.len() {
                            Err(RowError::row(format!(
                                "expected {} columns as in the header, found {}",
                                self.header.len(),
                                record.len()
                            )))
                        } else {
                            row(offset as u64, &record)
                        };
                        if let Err(error) = result {
                            let located = lines.locate(offset);
                            reject(self.error(located.line, located.text, error));
                        }
                        continue;
                    }
                }
                Err(e) => {
                    let offset = from + e.position().map_or(0, |p| p.byte() as usize);
                    (offset, RowError::row(format!("unreadable CSV: {e}")))
                }
            };
            let located = lines.locate(offset);
            reject(self.error(located.line, located.text, error));
            return lines::next_line_start(&self.bytes, located.start).max(from + 1);
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
        for line in bytes.split(|&b| lines::is_line_end(b)) {
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
            lines::next_line_start(&self.bytes, cut - 1)
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

    /// The line of the record that the CSV reader places at `offset`.
    ///
    /// The reader may report a record's position before the line ends and blank
    /// lines that precede it, so the record starts at the first byte after them.
    fn locate(&mut self, offset: usize) -> Located<'a> {
        let mut start = offset.max(self.offset);
        while start < self.bytes.len() && lines::is_line_end(self.bytes[start]) {
            start += 1;
        }
        let before = *self
            .line
            .get_or_insert_with(|| 1 + lines::line_ends(self.bytes, 0, self.offset));
        let line = before + lines::line_ends(self.bytes, self.offset, start);
        (self.offset, self.line) = (start, Some(line));
        let end = memchr::memchr2(b'\n', b'\r', &self.bytes[start..])
            .map_or(self.bytes.len(), |i| start + i);
        Located {
            line,
            start,
            text: &self.bytes[start..end],
        }
    }
}

/// A line found by [`LineCounter::locate`].
struct Located<'a> {
    /// Its 1-based number.
    line: u64,
    /// The offset of its first byte.
    start: usize,
    /// Its bytes, without the line end.
    text: &'a [u8],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_hash_sees_a_change_in_a_sampled_block_of_a_large_file() {
        let mut bytes = b"user_id,ts,kind\n".to_vec();
        bytes.resize(WHOLE_HASH + 10 * SAMPLE_BYTES, b'x');
        let hash = |bytes: &[u8]| {
            CsvFile::from_bytes("e.csv".into(), bytes.to_vec())
                .unwrap()
                .content_hash()
        };
        let before = hash(&bytes);
        // The last block is always sampled.
        let last = bytes.len() - 1;
        bytes[last] = b'y';
        assert_ne!(hash(&bytes), before);
        bytes.push(b'x');
        assert_ne!(
            hash(&bytes[..bytes.len() - 1]),
            hash(&bytes),
            "the length counts"
        );
    }

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

    /// The rows (fields, in file order) and the rejects (line, reason, text) of
    /// reading `text` in `parts` parts.
    type Outcome = (Vec<Vec<String>>, Vec<(u64, String, String)>);
    fn read(text: &str, parts: usize) -> Outcome {
        let file = CsvFile::from_bytes("t.csv".into(), text.as_bytes().to_vec()).unwrap();
        let (mut rows, mut rejects) = (Vec::new(), Vec::new());
        for index in 0..parts {
            file.for_each_row(
                index,
                parts,
                |offset, record| {
                    let fields = record.iter().map(|f| String::from_utf8_lossy(f).into());
                    rows.push((offset, fields.collect::<Vec<String>>()));
                    Ok(())
                },
                |e| rejects.push((e.line, e.reason, e.raw)),
            );
        }
        rows.sort();
        rejects.sort();
        (
            rows.into_iter().map(|(_, fields)| fields).collect(),
            rejects,
        )
    }

    fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
        let row = |r: &&[&str]| r.iter().map(|f| f.to_string()).collect();
        rows.iter().map(row).collect()
    }

    #[test]
    fn short_rows_and_line_breaks_in_quotes_are_reported_with_their_line() {
        let (rows, rejects) = read("a,b\n1,2\n3\n\"x\ny\",4\n5,6\n", 1);
        // The line after an unclosed quote is a row of its own.
        assert_eq!(rows, strings(&[&["1", "2"], &["y\"", "4"], &["5", "6"]]));
        assert_eq!(rejects.len(), 2);
        assert_eq!(rejects[0].0, 3);
        assert!(rejects[0].1.contains("expected 2 columns"), "{rejects:?}");
        assert_eq!(rejects[1].0, 4);
        assert_eq!(rejects[1].1, UNCLOSED_QUOTE);
        assert_eq!(rejects[1].2, "\"x");
    }

    #[test]
    fn an_unclosed_quote_costs_its_own_line_with_any_number_of_parts() {
        let mut text = String::from("user,ts,kind,amount\n");
        let mut good = Vec::new();
        for i in 0..60 {
            if i == 5 {
                text.push_str("u1,17,purchase,\"12.5,shoes\n");
            } else {
                text.push_str(&format!("u{i},{i},view,\"{i}.5\"\n"));
                good.push(vec![
                    format!("u{i}"),
                    i.to_string(),
                    "view".into(),
                    format!("{i}.5"),
                ]);
            }
        }
        // The last line, without a line end, opens a quote too.
        text.push_str("u9,9,view,\"9");
        let expected = vec![
            (
                7,
                UNCLOSED_QUOTE.to_string(),
                "u1,17,purchase,\"12.5,shoes".to_string(),
            ),
            (62, UNCLOSED_QUOTE.to_string(), "u9,9,view,\"9".to_string()),
        ];
        for parts in 1..=9 {
            assert_eq!(
                read(&text, parts),
                (good.clone(), expected.clone()),
                "parts={parts}"
            );
        }
    }

    #[test]
    fn lf_crlf_and_bare_cr_line_ends_read_alike() {
        let lf = "a,b\n1,2\n3\n\n5,\"6\"\n7,8";
        let expected = (
            strings(&[&["1", "2"], &["5", "6"], &["7", "8"]]),
            vec![(
                3,
                "expected 2 columns as in the header, found 1".into(),
                "3".into(),
            )],
        );
        for end in ["\n", "\r\n", "\r"] {
            let text = lf.replace('\n', end);
            let file = CsvFile::from_bytes("t.csv".into(), text.clone().into_bytes()).unwrap();
            assert_eq!(file.header, ["a", "b"]);
            assert_eq!(file.data_lines(), 5);
            for parts in 1..=6 {
                assert_eq!(read(&text, parts), expected, "{end:?}, parts={parts}");
            }
        }
    }

    #[test]
    fn empty_file_needs_a_header() {
        let err = CsvFile::from_bytes("t.csv".into(), Vec::new())
            .err()
            .unwrap();
        assert!(err.to_string().contains("header row is required"));
    }
}
