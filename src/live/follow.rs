//! Following a directory of growing `*.jsonl` files.
//!
//! Every poll reads the complete lines appended since the last one, file by file in
//! name order. Lines end at LF, CRLF or a bare CR, as in CSV input; a CR that ends
//! what the file holds so far ends its line once the next byte shows whether an LF
//! belongs to it. A last line without its line end is still being written: it is left
//! in the file and read once complete. Files that appear later are picked up by the
//! next poll. A file's position (byte offset and line number) is what progress records
//! store, so a restart can read exactly the same lines again.
//!
//! A line longer than [`MAX_LINE`] bytes is not held in memory: it is read past, and
//! handed on with its length and first bytes only, to be rejected.
//!
//! Followed files are append-only history: a file that shrinks, or whose name comes
//! to stand for another file (`mv new.jsonl old.jsonl`, a rewrite), stops the run with
//! an error rather than being read from an offset that belongs to the old file. Within
//! a run a file is known by its device and inode; across a restart, by its name and
//! length (the change log records positions, not identities).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How far a file has been read: `offset` bytes, which hold `line` lines.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Bytes read from the start of the file, up to the end of a complete line.
    pub offset: u64,
    /// Lines in those bytes: the 1-based number of the last line read, 0 before any.
    pub line: u64,
}

/// One complete line read from a followed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The file's name within the followed directory.
    pub file: String,
    /// 1-based line number.
    pub number: u64,
    /// The line's bytes without the line terminator; only the first [`PREVIEW`] bytes
    /// of a line longer than [`MAX_LINE`].
    pub bytes: Vec<u8>,
    /// The line's length in bytes, without the line terminator.
    pub length: u64,
}

impl Line {
    /// Whether the line is longer than [`MAX_LINE`] (and `bytes` only its start).
    pub fn too_long(&self) -> bool {
        self.length > MAX_LINE
    }
}

/// The longest line a live file may hold, in bytes; longer ones are rejected.
pub const MAX_LINE: u64 = 8 << 20;

/// How many bytes of a line longer than [`MAX_LINE`] are kept, to show in its reject.
pub const PREVIEW: usize = 200;

/// Bytes of complete lines read from one file per poll, at least one line and at most
/// about this many, so that one huge file does not hold every other file (and the
/// output) back.
const MAX_READ: u64 = 8 << 20;

/// The followed directory and how far each file has been read.
pub struct Follower {
    dir: PathBuf,
    positions: BTreeMap<String, Position>,
    /// Unfinished lines already longer than [`MAX_LINE`], by file: how far they are
    /// known to run without a line end, so each poll reads only what was appended.
    overlong: BTreeMap<String, Partial>,
    /// The file each name stood for when this run first read it: `(device, inode)`.
    identities: BTreeMap<String, (u64, u64)>,
}

/// The start of a file's unfinished last line.
struct Partial {
    /// The offset where the line starts.
    start: u64,
    /// Its bytes so far, at most [`MAX_LINE`] + 1 of them.
    bytes: Vec<u8>,
    /// Its length so far.
    length: u64,
}

impl Follower {
    /// Follows `dir` from the given positions (empty: from the start of every file).
    pub fn new(dir: &Path, positions: BTreeMap<String, Position>) -> anyhow::Result<Follower> {
        if !dir.is_dir() {
            anyhow::bail!(
                "live directory '{}' does not exist or is not a directory",
                dir.display()
            );
        }
        Ok(Follower {
            dir: dir.to_path_buf(),
            positions,
            overlong: BTreeMap::new(),
            identities: BTreeMap::new(),
        })
    }

    /// Where each file has been read to.
    pub fn positions(&self) -> &BTreeMap<String, Position> {
        &self.positions
    }

    /// The `*.jsonl` files of the directory, by name.
    fn files(&self) -> anyhow::Result<Vec<String>> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| anyhow::anyhow!("cannot list '{}': {e}", self.dir.display()))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".jsonl") && entry.file_type()?.is_file() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Reads the complete lines appended since the last poll.
    pub fn poll(&mut self) -> anyhow::Result<Vec<Line>> {
        let mut lines = Vec::new();
        for name in self.files()? {
            self.read_file(&name, None, &mut lines)?;
        }
        Ok(lines)
    }

    /// Reads each file up to exactly `targets` (positions recorded by an earlier run).
    pub fn read_to(&mut self, targets: &BTreeMap<String, Position>) -> anyhow::Result<Vec<Line>> {
        let mut lines = Vec::new();
        for (name, target) in targets {
            self.read_file(name, Some(*target), &mut lines)?;
            let reached = self.positions.get(name).copied().unwrap_or_default();
            if reached != *target {
                anyhow::bail!(
                    "{}: the change log says it was read to line {} (byte {}), but it now \
                     holds less; live files must only grow",
                    self.dir.join(name).display(),
                    target.line,
                    target.offset
                );
            }
        }
        Ok(lines)
    }

    fn read_file(
        &mut self,
        name: &str,
        target: Option<Position>,
        lines: &mut Vec<Line>,
    ) -> anyhow::Result<()> {
        let path = self.dir.join(name);
        let mut position = self.positions.get(name).copied().unwrap_or_default();
        let mut file = File::open(&path).map_err(|e| {
            let read = target.map_or(position.line, |target| target.line);
            let hint = match (e.kind(), read) {
                (std::io::ErrorKind::NotFound, read) if read > 0 => format!(
                    "; {read} line(s) of it were read into the change log, and a live run and \
                     its restarts replay the followed files, which must stay: put the file \
                     back, or start over with a new change log"
                ),
                _ => String::new(),
            };
            anyhow::anyhow!("cannot open '{}': {e}{hint}", path.display())
        })?;
        let metadata = file.metadata()?;
        let identity = (metadata.dev(), metadata.ino());
        let known = *self.identities.entry(name.to_owned()).or_insert(identity);
        if known != identity && position.offset > 0 {
            anyhow::bail!(
                "{}: the file was replaced by another one (inode {} became {}) after {} \
                 line(s) of it were read; live files are append-only: append to a file, or \
                 write new records to a new file",
                path.display(),
                known.1,
                identity.1,
                position.line
            );
        }
        self.identities.insert(name.to_owned(), identity);
        let len = metadata.len();
        if len < position.offset {
            anyhow::bail!(
                "{}: the file shrank from {} to {len} bytes; live files must only grow",
                path.display(),
                position.offset
            );
        }
        // A poll reads what the file holds; a replay exactly to the recorded position.
        let (end, budget) = match target {
            Some(target) => (target.offset.min(len), u64::MAX),
            None => (len, MAX_READ),
        };
        if end == position.offset {
            return Ok(());
        }
        let mut partial = match self.overlong.remove(name) {
            Some(partial) if partial.start == position.offset => partial,
            _ => Partial {
                start: position.offset,
                bytes: Vec::new(),
                length: 0,
            },
        };
        let from = partial.start + partial.length;
        file.seek(SeekFrom::Start(from))?;
        let mut reader = BufReader::with_capacity(1 << 16, file.take(end.saturating_sub(from)));
        let mut consumed = 0;
        // The line's CR ended the bytes read so far: the line ends there, and an LF
        // right after the CR belongs to its end.
        let mut cr = false;
        while consumed < budget {
            let chunk = reader.fill_buf()?;
            let terminator = if cr {
                let lf = match chunk.first() {
                    Some(&next) => next == b'\n',
                    // A recorded position right after the CR: the run that recorded
                    // it saw the byte after it.
                    None if target.is_some() => false,
                    // Undecided until the next byte arrives.
                    None => break,
                };
                reader.consume(usize::from(lf));
                cr = false;
                1 + usize::from(lf)
            } else {
                if chunk.is_empty() {
                    break;
                }
                let (piece, terminator) = match memchr::memchr2(b'\n', b'\r', chunk) {
                    None => (chunk.len(), 0),
                    Some(i) if chunk[i] == b'\n' => (i, 1),
                    Some(i) => match chunk.get(i + 1) {
                        Some(&next) => (i, 1 + usize::from(next == b'\n')),
                        None => {
                            cr = true;
                            (i, 1)
                        }
                    },
                };
                let room = (MAX_LINE as usize + 1).saturating_sub(partial.bytes.len());
                partial.bytes.extend_from_slice(&chunk[..piece.min(room)]);
                partial.length += piece as u64;
                reader.consume(piece + terminator);
                if cr {
                    continue;
                }
                terminator
            };
            if terminator == 0 {
                continue;
            }
            consumed += partial.length + terminator as u64;
            position.line += 1;
            if let Some(line) = finish(name, position.line, &mut partial) {
                lines.push(line);
            }
            partial.start = position.offset + consumed;
        }
        position.offset += consumed;
        if partial.length > MAX_LINE {
            self.overlong.insert(name.to_string(), partial);
        }
        self.positions.insert(name.to_string(), position);
        Ok(())
    }
}

/// The complete line held in `partial`, which is emptied; `None` for a blank line.
fn finish(file: &str, number: u64, partial: &mut Partial) -> Option<Line> {
    let mut bytes = std::mem::take(&mut partial.bytes);
    let length = std::mem::take(&mut partial.length);
    if length > MAX_LINE {
        bytes.truncate(PREVIEW);
    } else if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(Line {
        file: file.to_string(),
        number,
        bytes,
        length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(dir: &Path, name: &str, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn texts(lines: &[Line]) -> Vec<(String, u64, String)> {
        lines
            .iter()
            .map(|l| {
                let text = String::from_utf8(l.bytes.clone()).unwrap();
                (l.file.clone(), l.number, text)
            })
            .collect()
    }

    #[test]
    fn a_file_replaced_by_another_is_refused_not_read_from_a_stale_offset() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), "a.jsonl", "a1\na2\n");
        let mut follower = Follower::new(dir.path(), BTreeMap::new()).unwrap();
        assert_eq!(follower.poll().unwrap().len(), 2);
        append(dir.path(), "new", "b1\nb2\nb3\nb4\n");
        std::fs::rename(dir.path().join("new"), dir.path().join("a.jsonl")).unwrap();
        let error = follower.poll().unwrap_err().to_string();
        assert!(
            error.contains("a.jsonl: the file was replaced by another one"),
            "{error}"
        );
        assert!(error.contains("after 2 line(s)"), "{error}");
        // A file replaced before anything of it was read is simply read.
        let other = tempfile::tempdir().unwrap();
        append(other.path(), "a.jsonl", "");
        let mut follower = Follower::new(other.path(), BTreeMap::new()).unwrap();
        assert!(follower.poll().unwrap().is_empty());
        append(other.path(), "new", "c1\n");
        std::fs::rename(other.path().join("new"), other.path().join("a.jsonl")).unwrap();
        assert_eq!(
            texts(&follower.poll().unwrap()),
            [("a.jsonl".into(), 1, "c1".into())]
        );
    }

    #[test]
    fn reads_complete_lines_of_growing_and_new_files_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), "b.jsonl", "b1\nb2\r\n\nb4 partial");
        append(dir.path(), "a.jsonl", "a1\n");
        append(dir.path(), "notes.txt", "ignored\n");
        let mut follower = Follower::new(dir.path(), BTreeMap::new()).unwrap();
        let first = follower.poll().unwrap();
        assert_eq!(
            texts(&first),
            vec![
                ("a.jsonl".into(), 1, "a1".into()),
                ("b.jsonl".into(), 1, "b1".into()),
                ("b.jsonl".into(), 2, "b2".into()),
            ]
        );
        assert!(follower.poll().unwrap().is_empty());
        append(dir.path(), "b.jsonl", " done\n");
        append(dir.path(), "c.jsonl", "c1\n");
        assert_eq!(
            texts(&follower.poll().unwrap()),
            vec![
                ("b.jsonl".into(), 4, "b4 partial done".into()),
                ("c.jsonl".into(), 1, "c1".into()),
            ]
        );
        assert_eq!(
            follower.positions()["b.jsonl"],
            Position {
                offset: 24,
                line: 4
            }
        );
    }

    #[test]
    fn a_line_longer_than_the_limit_is_handed_on_cut_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(MAX_LINE as usize + 10);
        append(dir.path(), "a.jsonl", "first\n");
        // The long line arrives in two appends, the first already over the limit.
        append(dir.path(), "a.jsonl", &long[..MAX_LINE as usize + 5]);
        let mut follower = Follower::new(dir.path(), BTreeMap::new()).unwrap();
        assert_eq!(
            texts(&follower.poll().unwrap()),
            vec![("a.jsonl".into(), 1, "first".into())]
        );
        assert!(follower.poll().unwrap().is_empty());
        append(dir.path(), "a.jsonl", &long[MAX_LINE as usize + 5..]);
        append(dir.path(), "a.jsonl", "\nafter\n");
        // The long line uses up a poll's budget; the next poll reads on.
        let mut lines = follower.poll().unwrap();
        assert_eq!(lines.len(), 1);
        lines.extend(follower.poll().unwrap());
        assert!(lines[0].too_long());
        assert_eq!(
            (lines[0].number, lines[0].length, lines[0].bytes.len()),
            (2, long.len() as u64, PREVIEW)
        );
        assert_eq!(
            texts(&lines[1..]),
            vec![("a.jsonl".into(), 3, "after".into())]
        );
        // A replay to the recorded position reads the same lines.
        let end = follower.positions().clone();
        let mut replay = Follower::new(dir.path(), BTreeMap::new()).unwrap();
        let replayed = replay.read_to(&end).unwrap();
        assert_eq!(replayed.len(), 3);
        assert_eq!(replayed[1], lines[0]);
        assert_eq!(replayed[2], lines[1]);
    }

    #[test]
    fn bare_cr_and_crlf_end_lines_as_lf_does() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), "a.jsonl", "a\rb\r\nc\r");
        let mut follower = Follower::new(dir.path(), BTreeMap::new()).unwrap();
        let line = |n: u64, text: &str| ("a.jsonl".to_string(), n, text.to_string());
        let mut read = texts(&follower.poll().unwrap());
        // `c` waits: its CR may be the first half of a CRLF.
        assert_eq!(read, vec![line(1, "a"), line(2, "b")]);
        append(dir.path(), "a.jsonl", "\nd\re\r");
        read.extend(texts(&follower.poll().unwrap()));
        append(dir.path(), "a.jsonl", "f\n");
        read.extend(texts(&follower.poll().unwrap()));
        let all = vec![
            line(1, "a"),
            line(2, "b"),
            line(3, "c"),
            line(4, "d"),
            line(5, "e"),
            line(6, "f"),
        ];
        assert_eq!(read, all);
        assert_eq!(
            follower.positions()["a.jsonl"],
            Position {
                offset: 14,
                line: 6
            }
        );
        // Replays to each recorded position read the same lines, also when the
        // position ends right after a bare CR.
        let mut replay = Follower::new(dir.path(), BTreeMap::new()).unwrap();
        let mut replayed = Vec::new();
        for (offset, line) in [(2, 1), (10, 4), (14, 6)] {
            let target = BTreeMap::from([("a.jsonl".to_string(), Position { offset, line })]);
            replayed.extend(texts(&replay.read_to(&target).unwrap()));
        }
        assert_eq!(replayed, all);
    }

    #[test]
    fn replays_to_recorded_positions_and_notices_shrunk_files() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), "a.jsonl", "1\n2\n3\n");
        let mut follower = Follower::new(dir.path(), BTreeMap::new()).unwrap();
        let target = BTreeMap::from([("a.jsonl".to_string(), Position { offset: 4, line: 2 })]);
        assert_eq!(follower.read_to(&target).unwrap().len(), 2);
        assert_eq!(
            texts(&follower.poll().unwrap()),
            vec![("a.jsonl".into(), 3, "3".into())]
        );

        // Cut in place (the same file, so not a replacement).
        std::fs::write(dir.path().join("a.jsonl"), "1\n").unwrap();
        let error = follower.poll().unwrap_err().to_string();
        assert!(error.contains("shrank"), "{error}");

        std::fs::remove_file(dir.path().join("a.jsonl")).unwrap();
        let mut fresh = Follower::new(dir.path(), BTreeMap::new()).unwrap();
        let error = fresh.read_to(&target).unwrap_err().to_string();
        assert!(error.contains("2 line(s) of it were read"), "{error}");
        assert!(error.contains("put the file back"), "{error}");
        std::fs::write(dir.path().join("a.jsonl"), "1\n").unwrap();
        let mut fresh = Follower::new(dir.path(), BTreeMap::new()).unwrap();
        let error = fresh.read_to(&target).unwrap_err().to_string();
        assert!(error.contains("must only grow"), "{error}");
    }
}
