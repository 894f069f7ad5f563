//! Loading a data directory: `users.csv`, `events.csv`, `scores.csv`, each optional.

use std::collections::HashSet;
use std::path::Path;

use crate::catalog::ir::Catalog;
use crate::data::{Dataset, EventRow, ScoreRow, UserRow};
use crate::dataflow::{user_key, Event, ScoreRecord, UserKey, UserRecord};

use super::csv_file::CsvFile;
use super::error::{InputError, RowError};
use super::layout::{parse_number, parse_time, InputKind, Interner, Layout};

/// Rows ready to enter a dataflow, keyed by user, plus the user id strings.
#[derive(Default)]
pub struct Rows {
    pub users: Vec<(UserKey, UserRecord)>,
    pub events: Vec<(UserKey, Event)>,
    pub scores: Vec<(UserKey, ScoreRecord)>,
    /// Each user id seen, once per reader (readers may see the same id).
    pub names: Vec<(UserKey, String)>,
}

/// What one worker parsed from its part of the files.
#[derive(Default)]
pub struct Parsed {
    pub rows: Rows,
    pub rejects: Vec<InputError>,
    /// Greatest event or score time among the parsed rows.
    pub max_ts: Option<u64>,
}

/// The data directory's files, opened and with headers checked against the catalog.
pub struct DataFiles {
    files: Vec<(InputKind, CsvFile, Layout)>,
}

impl DataFiles {
    /// Opens the files present in `dir`; at least one must exist.
    pub fn open(dir: &Path, catalog: &Catalog) -> anyhow::Result<DataFiles> {
        if !dir.is_dir() {
            anyhow::bail!(
                "data directory '{}' does not exist or is not a directory",
                dir.display()
            );
        }
        let mut files = Vec::new();
        for kind in InputKind::ALL {
            let path = dir.join(kind.file_name());
            if !path.exists() {
                continue;
            }
            let file = CsvFile::open(&path)?;
            let layout = Layout::bind(kind, &file.name, &file.header, catalog)?;
            files.push((kind, file, layout));
        }
        if files.is_empty() {
            anyhow::bail!(
                "data directory '{}' holds none of users.csv, events.csv, scores.csv",
                dir.display()
            );
        }
        Ok(DataFiles { files })
    }

    /// Parses part `index` of `parts` of every file.
    pub fn parse_part(&self, index: usize, parts: usize) -> Parsed {
        let mut parser = RowParser::default();
        let mut rejects = Vec::new();
        for (kind, file, layout) in &self.files {
            file.for_each_row(
                index,
                parts,
                |line, record| parser.parse(*kind, layout, line, record),
                |error| rejects.push(error),
            );
        }
        parser.parsed.rejects = rejects;
        parser.parsed
    }
}

/// Turns CSV records into keyed rows, sharing repeated strings.
#[derive(Default)]
struct RowParser {
    parsed: Parsed,
    texts: Interner,
    named: HashSet<UserKey>,
}

impl RowParser {
    fn parse(
        &mut self,
        kind: InputKind,
        layout: &Layout,
        line: u64,
        record: &csv::ByteRecord,
    ) -> Result<(), RowError> {
        let user_id = layout.required(record, 0, "user_id")?;
        let user = user_key(user_id);
        let rows = &mut self.parsed.rows;
        match kind {
            InputKind::Users => {
                let attrs = layout.declared(record, &mut self.texts)?;
                rows.users.push((user, UserRecord { seq: line, attrs }));
            }
            InputKind::Events => {
                let ts = parse_time(layout.required(record, 1, "ts")?, "ts")?;
                let kind = self.texts.intern(layout.required(record, 2, "kind")?);
                let fields = layout.declared(record, &mut self.texts)?;
                rows.events.push((user, Event { ts, kind, fields }));
                self.parsed.max_ts = self.parsed.max_ts.max(Some(ts));
            }
            InputKind::Scores => {
                let model = self.texts.intern(layout.required(record, 1, "model")?);
                let score = parse_number(layout.required(record, 2, "score")?, "score")?;
                let ts = parse_time(layout.required(record, 3, "ts")?, "ts")?;
                rows.scores.push((user, ScoreRecord { model, ts, score }));
                self.parsed.max_ts = self.parsed.max_ts.max(Some(ts));
            }
        }
        if self.named.insert(user) {
            rows.names.push((user, user_id.to_string()));
        }
        Ok(())
    }
}

impl Rows {
    /// Part `index` of `parts` of an in-memory dataset (rows dealt round-robin).
    pub fn from_dataset(data: &Dataset, index: usize, parts: usize) -> Rows {
        let mine = |i: usize| i % parts == index;
        let mut rows = Rows::default();
        let mut named = HashSet::new();
        let mut name = |rows: &mut Rows, id: &str| {
            let key = user_key(id);
            if named.insert(key) {
                rows.names.push((key, id.to_string()));
            }
            key
        };
        for (i, UserRow { user_id, attrs }) in
            data.users.iter().enumerate().filter(|(i, _)| mine(*i))
        {
            let key = name(&mut rows, user_id);
            let record = UserRecord {
                seq: i as u64,
                attrs: attrs.clone(),
            };
            rows.users.push((key, record));
        }
        for EventRow {
            user_id,
            ts,
            kind,
            fields,
        } in data
            .events
            .iter()
            .enumerate()
            .filter(|(i, _)| mine(*i))
            .map(|(_, e)| e)
        {
            let key = name(&mut rows, user_id);
            let event = Event {
                ts: *ts,
                kind: kind.clone(),
                fields: fields.clone(),
            };
            rows.events.push((key, event));
        }
        for ScoreRow {
            user_id,
            model,
            score,
            ts,
        } in data
            .scores
            .iter()
            .enumerate()
            .filter(|(i, _)| mine(*i))
            .map(|(_, s)| s)
        {
            let key = name(&mut rows, user_id);
            let record = ScoreRecord {
                model: model.clone(),
                ts: *ts,
                score: *score,
            };
            rows.scores.push((key, record));
        }
        rows
    }
}
