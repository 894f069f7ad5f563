//! `POST /v1/records`: live records handed to the service, checked and made durable.
//!
//! The followed files stay the one source of truth: a posted body is checked line by
//! line against the catalog's schema exactly as a followed line is, and only when every
//! line passes is the whole body appended to [`FILE_NAME`] in the followed directory and
//! synced to disk before the answer. The live run then reads it like any other file, and
//! a restart replays it. A body with any bad line is refused whole, each bad line
//! listed, nothing appended: a client can fix and resend it without creating
//! duplicates.
//!
//! What the schema cannot tell (a `retract_event` of an event that does not exist) is
//! decided when the record is applied, and such a line goes to the rejects file, as it
//! would from any followed file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::catalog::ir::Catalog;
use crate::live::record::RecordParser;

use super::error::{ApiError, LineError};

/// The file in the followed directory that posted records are appended to.
pub const FILE_NAME: &str = "segflow-api.jsonl";

/// The appender of posted records.
#[derive(Debug)]
pub struct RecordFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl RecordFile {
    /// Opens (or creates) [`FILE_NAME`] in `dir`. A last line without its newline was
    /// cut short by a crash before it was acknowledged (the follower never reads an
    /// incomplete line), so it is cut off rather than joined to the next append.
    pub fn open(dir: &Path) -> anyhow::Result<RecordFile> {
        let path = dir.join(FILE_NAME);
        let context = |e: std::io::Error| anyhow::anyhow!("cannot open '{}': {e}", path.display());
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(context)?;
        let complete = complete_length(&mut file).map_err(context)?;
        if complete < file.metadata().map_err(context)?.len() {
            file.set_len(complete).map_err(context)?;
        }
        Ok(RecordFile {
            path,
            file: Mutex::new(file),
        })
    }

    /// Checks every line of `body` (blank lines are skipped) and, if all pass, appends
    /// them and syncs the file. Returns how many records were appended.
    pub fn append(&self, catalog: &Catalog, body: &str) -> Result<usize, ApiError> {
        let lines = check(catalog, body)?;
        if lines.is_empty() {
            return Err(ApiError::bad_request(
                "the body holds no records (one JSON object per line)",
            ));
        }
        let mut text = String::with_capacity(body.len() + 1);
        for line in &lines {
            text.push_str(line);
            text.push('\n');
        }
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::INSUFFICIENT_STORAGE,
                    format!("cannot append to '{}': {e}", self.path.display()),
                )
            })?;
        Ok(lines.len())
    }
}

/// The lines of `body` that hold records, if every one of them is a valid record.
fn check<'a>(catalog: &Catalog, body: &'a str) -> Result<Vec<&'a str>, ApiError> {
    let mut parser = RecordParser::new(catalog);
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    for (number, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parser.parse(line).and_then(|record| record.check_time()) {
            Ok(()) => lines.push(line),
            Err(error) => bad.push(LineError {
                line: number + 1,
                field: error.column,
                message: error.reason,
            }),
        }
    }
    if bad.is_empty() {
        Ok(lines)
    } else {
        Err(ApiError::bad_lines(bad))
    }
}

/// The length of `file` up to and including its last newline.
fn complete_length(file: &mut File) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buffer = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(buffer.len() as u64);
        let chunk = &mut buffer[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(at) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + at as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        crate::catalog::check_sources(&[(
            "c.seg",
            "schema events(amount: number)\nsegment buyers = count(events) > 0",
        )])
        .unwrap()
    }

    #[test]
    fn a_body_with_a_bad_line_is_refused_whole_and_a_good_one_is_appended() {
        let dir = tempfile::tempdir().unwrap();
        let records = RecordFile::open(dir.path()).unwrap();
        let good = r#"{"type":"event","user_id":"u1","ts":5,"kind":"buy","amount":3}"#;
        let body = format!("{good}\n\n{{\"type\":\"event\",\"user_id\":\"u2\",\"ts\":5,\"kind\":\"buy\",\"amount\":\"x\"}}\nnot json\n");
        let error = records.append(&catalog(), &body).unwrap_err();
        assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST);
        let written = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(written, "");
        assert_eq!(
            records
                .append(&catalog(), &format!("{good}\n{good}"))
                .unwrap(),
            2
        );
        let written = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(written, format!("{good}\n{good}\n"));
    }

    #[test]
    fn bad_lines_are_listed_with_their_number_and_field() {
        let body = "{\"type\":\"event\",\"user_id\":\"u2\",\"ts\":5,\"kind\":\"buy\",\"amount\":\"x\"}\n\nnot json";
        let Err(error) = check(&catalog(), body) else {
            panic!("bad lines accepted")
        };
        let lines = error.lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[0].line, lines[0].field.as_deref()),
            (1, Some("amount"))
        );
        assert_eq!((lines[1].line, lines[1].field.as_deref()), (3, None));
        assert!(
            lines[1].message.contains("invalid JSON"),
            "{}",
            lines[1].message
        );
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_dropped_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "{\"type\":\"clock\",\"ts\":1}\n{\"type\":\"clo").unwrap();
        let records = RecordFile::open(dir.path()).unwrap();
        records
            .append(&catalog(), "{\"type\":\"clock\",\"ts\":2}")
            .unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            written,
            "{\"type\":\"clock\",\"ts\":1}\n{\"type\":\"clock\",\"ts\":2}\n"
        );
    }
}
