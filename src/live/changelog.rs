//! The change log: every membership change, in time order, with progress records.
//!
//! CSV (default):
//!
//! ```text
//! # segflow change log v1
//! # definition high_value 5d41402abc4b2a76
//! # clock event, allowed lateness 300s, backfill through 1700000000
//! time,segment,user_id,diff
//! 1700000000,high_value,u1,1
//! # progress 1700000001 {"live.jsonl":{"offset":0,"line":0}}
//! 1700000005.000001,high_value,u1,-1
//! # progress 1700000005.000002 {"live.jsonl":{"offset":88,"line":1}}
//! ```
//!
//! `# progress F` says every change at a time before `F` has been written: summing the
//! changes with `time < T + 1` gives the memberships as of second `T` once a progress
//! record at or past `T + 1` is in the log. It also records how far each live file had
//! been read (only files that moved), so that a restart replays exactly the same
//! records in the same rounds. JSON lines (`--format jsonl`) carry the same records as
//! objects; times are strings there, because a JSON number would round the ticks.
//!
//! The header names every segment's definition hash, so each change can be traced to
//! the definition version that produced it, and a restart refuses a log written by a
//! different catalog, clock or backfill.
//!
//! A definition changed while the run serves (`segflow serve`'s `PUT` and `DELETE`)
//! is recorded where it takes effect, before the changes at its time: the edit itself
//! (with the body, so that a restart applies it again) and a `definition` line with
//! the hash of every segment version it starts:
//!
//! ```text
//! # edit {"at":"1700000005.000003","put":"vip","body":"segment vip = ltv > 900"}
//! # definition vip 9f86d081884c7d65 from 1700000005.000003
//! 1700000005.000003,vip,u7,1
//! # edit {"at":"1700000009","delete":"vip"}
//! 1700000009,vip,u7,-1
//! ```

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::definitions::Edit;
use super::follow::Position;
use super::frontier::{format_tick, parse_tick};
use crate::quoted::shorten;

/// The log's record format.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `#` header lines, then `time,segment,user_id,diff` rows and `# progress` lines.
    #[default]
    Csv,
    /// One JSON object per line, with times as strings.
    Jsonl,
}

crate::named_choices!(LogFormat { Csv => "csv", Jsonl => "jsonl" });

/// What a log was written by: restarts must match it exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogHeader {
    /// Each segment's name and definition hash, in catalog order.
    pub definitions: Vec<(String, String)>,
    /// How time moves, as the user chose it (`event, allowed lateness 0s`).
    pub clock: String,
    /// The backfill's time in seconds (none without a backfill).
    pub backfill: Option<u64>,
}

/// One round of a run that the log already holds: the frontier after it and the
/// positions of the files it moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Round {
    /// The frontier after the round, in ticks: every change before it is in the log.
    pub frontier: u64,
    /// How far each file the round read had been read, by file name.
    pub moved: BTreeMap<String, Position>,
}

/// One membership change: `(tick, segment index, user id, diff)`.
pub type LogChange = (u64, u32, String, isize);

/// A definition change the log holds, at the tick it took effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedEdit {
    /// The tick it took effect at.
    pub at: u64,
    /// The change.
    pub edit: Edit,
}

/// What an existing log holds: its rounds and its definition changes, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Logged {
    /// The rounds.
    pub rounds: Vec<Round>,
    /// The definition changes.
    pub edits: Vec<LoggedEdit>,
}

/// An open change log being appended to.
pub struct ChangeLog {
    path: PathBuf,
    out: BufWriter<File>,
    format: LogFormat,
    segments: Vec<String>,
}

impl ChangeLog {
    /// Opens `path` for a run: a new log gets the header; an existing one must carry
    /// the same header, is cut back to its last progress record, and its rounds and
    /// definition changes are returned so that the run can replay them without writing
    /// their changes again.
    pub fn open(
        path: &Path,
        format: LogFormat,
        header: &LogHeader,
    ) -> anyhow::Result<(ChangeLog, Logged)> {
        let expected = header_lines(format, header);
        let segments = header.definitions.iter().map(|(n, _)| n.clone()).collect();
        let existing = path.exists() && std::fs::metadata(path)?.len() > 0;
        // A log that ends inside its header holds no change: it starts over.
        let read = match existing {
            true => read_existing(path, format, &expected)?,
            false => None,
        };
        let logged = if let Some((logged, keep)) = read {
            let file = OpenOptions::new().write(true).open(path)?;
            file.set_len(keep)?;
            logged
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, expected.concat())
                .map_err(|e| anyhow::anyhow!("cannot write '{}': {e}", path.display()))?;
            Logged::default()
        };
        let mut file = OpenOptions::new().append(true).open(path)?;
        file.seek(SeekFrom::End(0))?;
        Ok((
            ChangeLog {
                path: path.to_path_buf(),
                out: BufWriter::new(file),
                format,
                segments,
            },
            logged,
        ))
    }

    /// Names the outputs (segment names by index) that later changes refer to.
    pub fn set_outputs(&mut self, outputs: &[String]) {
        self.segments = outputs.to_vec();
    }

    /// Appends a definition change taking effect at `at`, and the segment versions
    /// `(name, hash)` it starts. It counts once a progress record follows it.
    pub fn write_edit(
        &mut self,
        at: u64,
        edit: &Edit,
        started: &[(String, String)],
    ) -> std::io::Result<()> {
        let mut record = json!({"at": format_tick(at)});
        match edit {
            Edit::Put { name, body } => {
                record["put"] = json!(name);
                record["body"] = json!(body);
            }
            Edit::Delete { name } => record["delete"] = json!(name),
        }
        match self.format {
            LogFormat::Csv => writeln!(self.out, "# edit {record}")?,
            LogFormat::Jsonl => writeln!(self.out, "{}", json!({ "edit": record }))?,
        }
        for (name, hash) in started {
            match self.format {
                LogFormat::Csv => writeln!(
                    self.out,
                    "# definition {name} {hash} from {}",
                    format_tick(at)
                )?,
                LogFormat::Jsonl => writeln!(
                    self.out,
                    "{}",
                    json!({"definition": name, "hash": hash, "from": format_tick(at)})
                )?,
            }
        }
        Ok(())
    }

    /// Writes everything appended so far through to the disk.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }

    /// Appends changes, which must be consolidated and sorted.
    pub fn write_changes(&mut self, changes: &[LogChange]) -> std::io::Result<()> {
        for (tick, segment, user, diff) in changes {
            let segment = &self.segments[*segment as usize];
            match self.format {
                LogFormat::Csv => writeln!(
                    self.out,
                    "{},{},{},{diff}",
                    format_tick(*tick),
                    segment,
                    csv_field(user)
                )?,
                LogFormat::Jsonl => writeln!(
                    self.out,
                    "{}",
                    json!({"time": format_tick(*tick), "segment": segment, "user_id": user, "diff": diff})
                )?,
            }
        }
        Ok(())
    }

    /// Appends a progress record and flushes: every change before `frontier` is written.
    pub fn write_progress(
        &mut self,
        frontier: u64,
        moved: &BTreeMap<String, Position>,
    ) -> std::io::Result<()> {
        let moved = serde_json::to_string(moved).expect("positions serialize");
        match self.format {
            LogFormat::Csv => writeln!(self.out, "# progress {} {moved}", format_tick(frontier))?,
            LogFormat::Jsonl => writeln!(
                self.out,
                r#"{{"progress":"{}","inputs":{moved}}}"#,
                format_tick(frontier)
            )?,
        }
        self.out.flush()
    }

    /// The log's file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The header as lines (each ending in a newline).
fn header_lines(format: LogFormat, header: &LogHeader) -> Vec<String> {
    let backfill = header.backfill.map_or("no backfill".to_string(), |t| {
        format!("backfill through {t}")
    });
    match format {
        LogFormat::Csv => {
            let mut lines = vec!["# segflow change log v1\n".to_string()];
            for (name, hash) in &header.definitions {
                lines.push(format!("# definition {name} {hash}\n"));
            }
            lines.push(format!("# clock {}, {backfill}\n", header.clock));
            lines.push("time,segment,user_id,diff\n".to_string());
            lines
        }
        LogFormat::Jsonl => {
            let definitions: serde_json::Map<String, serde_json::Value> = header
                .definitions
                .iter()
                .map(|(n, h)| (n.clone(), json!(h)))
                .collect();
            let line = json!({
                "segflow_change_log": 1,
                "definitions": definitions,
                "clock": header.clock,
                "backfill": backfill,
            });
            vec![format!("{line}\n")]
        }
    }
}

/// Checks an existing log's header and reads its rounds; returns them with the length
/// to keep (through the last progress record), or `None` when the log ends inside its
/// header (a run stopped while writing it), which is as good as no log.
///
/// A log whose progress goes back — a frontier, or a file's position — was not written
/// by one run (two writers, or an edit): it is refused, naming the line.
fn read_existing(
    path: &Path,
    format: LogFormat,
    expected: &[String],
) -> anyhow::Result<Option<(Logged, u64)>> {
    let name = path.display();
    let mut reader =
        BufReader::new(File::open(path).map_err(|e| anyhow::anyhow!("cannot read '{name}': {e}"))?);
    let mut bytes = Vec::new();
    let mut offset = 0u64;
    let mut number = 0;
    let mut next_line = |bytes: &mut Vec<u8>| -> anyhow::Result<usize> {
        bytes.clear();
        reader
            .read_until(b'\n', bytes)
            .map_err(|e| anyhow::anyhow!("cannot read '{name}': {e}"))
    };
    for want in expected {
        offset += next_line(&mut bytes)? as u64;
        number += 1;
        if bytes != want.as_bytes() {
            if !bytes.ends_with(b"\n") && want.as_bytes().starts_with(&bytes) {
                return Ok(None);
            }
            anyhow::bail!(
                "{name}:{number}: this change log was written by a different catalog, clock, \
                 backfill or format (found `{}`, expected `{}`); write to a new file, or \
                 remove it to start over",
                shorten(String::from_utf8_lossy(&bytes).trim_end()),
                want.trim_end()
            );
        }
    }
    let (mut rounds, mut keep) = (Vec::<Round>::new(), offset);
    let (mut edits, mut edits_kept) = (Vec::<LoggedEdit>::new(), 0);
    let mut reached = BTreeMap::<String, Position>::new();
    loop {
        let read = next_line(&mut bytes)?;
        if read == 0 {
            break;
        }
        number += 1;
        offset += read as u64;
        if !bytes.ends_with(b"\n") {
            break; // a record cut short by a crash
        }
        let corrupt = |why: String| {
            anyhow::anyhow!(
                "{name}:{number}: {why}; the log is corrupt (written by two runs at once, or \
                 edited): write to a new file, or remove it to start over"
            )
        };
        let Ok(line) = std::str::from_utf8(&bytes) else {
            return Err(corrupt("the line is not valid UTF-8".into()));
        };
        if let Some(edit) = logged_edit(format, line) {
            edits.push(edit.ok_or_else(|| {
                corrupt(format!(
                    "malformed edit record `{}`",
                    shorten(line.trim_end())
                ))
            })?);
            continue;
        }
        let Some(round) = progress(format, line) else {
            continue;
        };
        let round = round.ok_or_else(|| {
            corrupt(format!(
                "malformed progress record `{}`",
                shorten(line.trim_end())
            ))
        })?;
        if let Some(last) = rounds.last().filter(|last| last.frontier > round.frontier) {
            return Err(corrupt(format!(
                "the progress goes back from {} to {}",
                format_tick(last.frontier),
                format_tick(round.frontier)
            )));
        }
        for (file, position) in &round.moved {
            let before = reached.get(file).copied().unwrap_or_default();
            if position.offset < before.offset || position.line < before.line {
                return Err(corrupt(format!(
                    "the position of `{}` goes back from line {} (byte {}) to line {} (byte {})",
                    shorten(file),
                    before.line,
                    before.offset,
                    position.line,
                    position.offset
                )));
            }
            reached.insert(file.clone(), *position);
        }
        rounds.push(round);
        keep = offset;
        edits_kept = edits.len();
    }
    // An edit after the last progress record never took effect.
    edits.truncate(edits_kept);
    Ok(Some((Logged { rounds, edits }, keep)))
}

/// The definition change a line records, if it is an edit record (`Some(None)`:
/// malformed).
fn logged_edit(format: LogFormat, line: &str) -> Option<Option<LoggedEdit>> {
    let record: &str = match format {
        LogFormat::Csv => line.strip_prefix("# edit ")?,
        LogFormat::Jsonl if line.starts_with(r#"{"edit""#) => line,
        LogFormat::Jsonl => return None,
    };
    let parse = || {
        let value: serde_json::Value = serde_json::from_str(record).ok()?;
        let value = match format {
            LogFormat::Csv => value,
            LogFormat::Jsonl => value.get("edit")?.clone(),
        };
        let text = |key: &str| value.get(key)?.as_str().map(str::to_owned);
        let edit = match (text("put"), text("delete")) {
            (Some(name), None) => Edit::Put {
                name,
                body: text("body")?,
            },
            (None, Some(name)) => Edit::Delete { name },
            _ => return None,
        };
        Some(LoggedEdit {
            at: parse_tick(value.get("at")?.as_str()?)?,
            edit,
        })
    };
    Some(parse())
}

/// The round a line records, if it is a progress record (`Some(None)`: malformed).
fn progress(format: LogFormat, line: &str) -> Option<Option<Round>> {
    match format {
        LogFormat::Csv => {
            let rest = line.strip_prefix("# progress ")?;
            let parse = || {
                let (tick, moved) = rest.trim_end().split_once(' ')?;
                Some(Round {
                    frontier: parse_tick(tick)?,
                    moved: serde_json::from_str(moved).ok()?,
                })
            };
            Some(parse())
        }
        LogFormat::Jsonl => {
            if !line.starts_with(r#"{"progress""#) {
                return None;
            }
            let parse = || {
                let value: serde_json::Value = serde_json::from_str(line).ok()?;
                Some(Round {
                    frontier: parse_tick(value.get("progress")?.as_str()?)?,
                    moved: serde_json::from_value(value.get("inputs")?.clone()).ok()?,
                })
            };
            Some(parse())
        }
    }
}

/// A CSV field, quoted when it must be: separators, quotes, line breaks, or a leading
/// `#` that would read as a comment.
fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with('#') || text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> LogHeader {
        LogHeader {
            definitions: vec![("a".into(), "h1".into()), ("b".into(), "h2".into())],
            clock: "event, allowed lateness 0s".into(),
            backfill: Some(100),
        }
    }

    fn moved(line: u64) -> BTreeMap<String, Position> {
        BTreeMap::from([(
            "x.jsonl".to_string(),
            Position {
                offset: line * 10,
                line,
            },
        )])
    }

    #[test]
    fn reopening_cuts_back_to_the_last_progress_record_and_returns_the_rounds() {
        for format in [LogFormat::Csv, LogFormat::Jsonl] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("changes");
            let (mut log, logged) = ChangeLog::open(&path, format, &header()).unwrap();
            assert!(logged.rounds.is_empty());
            log.write_changes(&[(100_000_000, 0, "u,1".into(), 1)])
                .unwrap();
            log.write_progress(101_000_000, &BTreeMap::new()).unwrap();
            log.write_changes(&[(101_000_000, 1, "#u2".into(), -1)])
                .unwrap();
            log.write_progress(101_000_002, &moved(2)).unwrap();
            let complete = std::fs::read_to_string(&path).unwrap();
            log.write_changes(&[(101_000_002, 0, "u3".into(), 1)])
                .unwrap();
            drop(log);
            let mut torn = std::fs::read_to_string(&path).unwrap();
            torn.push_str("101.000003,a,u");

            std::fs::write(&path, &torn).unwrap();
            let (_log, logged) = ChangeLog::open(&path, format, &header()).unwrap();
            assert_eq!(
                logged.rounds,
                vec![
                    Round {
                        frontier: 101_000_000,
                        moved: BTreeMap::new()
                    },
                    Round {
                        frontier: 101_000_002,
                        moved: moved(2)
                    },
                ]
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), complete);
        }
    }

    #[test]
    fn edits_count_once_a_progress_record_follows_them() {
        for format in [LogFormat::Csv, LogFormat::Jsonl] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("changes");
            let (mut log, _) = ChangeLog::open(&path, format, &header()).unwrap();
            let put = Edit::Put {
                name: "c".into(),
                body: "segment c = \"x\" in (1)\n# note".into(),
            };
            log.write_edit(5_000_000, &put, &[("c".into(), "h3".into())])
                .unwrap();
            log.set_outputs(&["a".into(), "b".into(), "c".into()]);
            log.write_changes(&[(5_000_000, 2, "u".into(), 1)]).unwrap();
            log.write_progress(5_000_001, &BTreeMap::new()).unwrap();
            let deleted = Edit::Delete { name: "c".into() };
            log.write_edit(5_000_001, &deleted, &[]).unwrap();
            log.sync().unwrap();
            drop(log);
            let (_, logged) = ChangeLog::open(&path, format, &header()).unwrap();
            let kept = LoggedEdit {
                at: 5_000_000,
                edit: put.clone(),
            };
            assert_eq!(logged.edits, [kept], "{format:?}");
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains("delete"), "cut back: {text}");
        }
    }

    #[test]
    fn csv_records_quote_what_would_be_misread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("changes.csv");
        let (mut log, _) = ChangeLog::open(&path, LogFormat::Csv, &header()).unwrap();
        log.write_changes(&[
            (5_000_000, 1, "a,\"b\"".into(), 1),
            (5_000_001, 0, "#x".into(), -1),
        ])
        .unwrap();
        log.write_progress(6_000_000, &BTreeMap::new()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# segflow change log v1\n# definition a h1\n"));
        assert!(text.ends_with(
            "time,segment,user_id,diff\n5,b,\"a,\"\"b\"\"\",1\n5.000001,a,\"#x\",-1\n# progress 6 {}\n"
        ));
    }

    #[test]
    fn a_log_from_another_catalog_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("changes.csv");
        ChangeLog::open(&path, LogFormat::Csv, &header()).unwrap();
        let mut other = header();
        other.definitions[1].1 = "h3".into();
        let error = ChangeLog::open(&path, LogFormat::Csv, &other)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("changes.csv:3: this change log was written by a different catalog"),
            "{error}"
        );
    }
}
