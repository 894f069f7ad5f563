//! The live rejects file: bad lines set aside with their file, line and reason.
//!
//! Same columns as a batch run's `rejects.csv`. A restart replays the files from the
//! start, so on opening, entries of live files past the positions the change log
//! recorded (lines that the interrupted run rejected after its last progress record,
//! in files it had read before or only since) are dropped: they are rejected again when
//! read again, and appear once.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::io::error::InputError;
use crate::io::output::{reject_record, REJECTS_HEADER};
use crate::io::staging::Staged;

use super::follow::Position;

/// An open rejects file.
pub struct Rejects {
    path: PathBuf,
    writer: csv::Writer<File>,
    count: u64,
}

impl Rejects {
    /// Opens `path`. With `keep`, entries of lines at or before its position in each
    /// file of the followed directory `follow` are kept (none of a file it does not
    /// name), and every entry of a file not followed, such as the backfill's; without,
    /// the file starts empty.
    pub fn open(
        path: &Path,
        follow: &Path,
        keep: Option<&BTreeMap<String, Position>>,
    ) -> anyhow::Result<Rejects> {
        let mut kept = Vec::new();
        if let Some(read) = keep.filter(|_| path.exists()) {
            // Flexible: a crash may have cut the last record short; it is dropped below.
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(path)
                .with_context(|| format!("cannot read '{}'", path.display()))?;
            // Bytes, not text: a crash may also have cut a character in two.
            for record in reader.byte_records() {
                let record = record.with_context(|| format!("reading '{}'", path.display()))?;
                if record.len() != REJECTS_HEADER.len() {
                    continue;
                }
                let text = |i| std::str::from_utf8(record.get(i).unwrap_or_default()).ok();
                let line: u64 = text(1).and_then(|l| l.parse().ok()).unwrap_or(0);
                let file = Path::new(text(0).unwrap_or_default());
                let live = file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .filter(|n| follow.join(n) == file);
                let stale = live.is_some_and(|n| line > read.get(n).map_or(0, |p| p.line));
                if !stale {
                    kept.push(record);
                }
            }
        }
        // The entries kept are written to a new file that replaces the old one whole,
        // so that a failure half-way (a full disk) loses none of them.
        let failed = || format!("cannot write '{}'", path.display());
        let staged = Staged::beside(path)?;
        let file = File::create(staged.path()).with_context(failed)?;
        let mut writer = csv::Writer::from_writer(file);
        writer.write_record(REJECTS_HEADER).with_context(failed)?;
        for record in &kept {
            writer.write_record(record).with_context(failed)?;
        }
        writer.flush().with_context(failed)?;
        // The open file follows the rename: appends go to the rejects file.
        staged.replace_file(path)?;
        Ok(Rejects {
            path: path.to_path_buf(),
            writer,
            count: kept.len() as u64,
        })
    }

    /// Sets a bad line aside.
    pub fn add(&mut self, error: &InputError) -> anyhow::Result<()> {
        self.writer
            .write_record(reject_record(error))
            .with_context(|| format!("cannot write '{}'", self.path.display()))?;
        self.count += 1;
        Ok(())
    }

    /// Makes what was added durable.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.writer
            .flush()
            .with_context(|| format!("cannot write '{}'", self.path.display()))
    }

    /// Entries in the file.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The rejects file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(file: &Path, line: u64) -> InputError {
        InputError {
            file: file.display().to_string(),
            line,
            column: None,
            reason: "bad".into(),
            raw: "x".into(),
        }
    }

    #[test]
    fn reopening_keeps_the_entries_of_lines_the_log_says_were_read() {
        let dir = tempfile::tempdir().unwrap();
        let (path, live) = (dir.path().join("rejects.csv"), dir.path().join("live"));
        let mut rejects = Rejects::open(&path, &live, None).unwrap();
        let backfill = dir.path().join("data/events.csv");
        let entries = [
            reject(&backfill, 7),
            reject(&live.join("a.jsonl"), 1),
            reject(&live.join("a.jsonl"), 3),
            // b.jsonl appeared after the last progress record: the log names no
            // position for it, and its lines will be read again.
            reject(&live.join("b.jsonl"), 2),
        ];
        for entry in &entries {
            rejects.add(entry).unwrap();
        }
        rejects.flush().unwrap();
        drop(rejects);
        let read = BTreeMap::from([(
            "a.jsonl".to_string(),
            Position {
                offset: 20,
                line: 2,
            },
        )]);
        let reopened = Rejects::open(&path, &live, Some(&read)).unwrap();
        assert_eq!(reopened.count(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with("events.csv,7,,bad,x"), "{text}");
        assert!(lines[1].ends_with("a.jsonl,1,,bad,x"), "{text}");

        // A crash cut the last entry inside a character: it is dropped, the rest kept.
        let mut cut = std::fs::read(&path).unwrap();
        let entry = format!("{},9,,bad,\"caf", live.join("a.jsonl").display());
        cut.extend_from_slice(entry.as_bytes());
        cut.push(0xc3);
        std::fs::write(&path, cut).unwrap();
        let reopened = Rejects::open(&path, &live, Some(&read)).unwrap();
        assert_eq!(reopened.count(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
