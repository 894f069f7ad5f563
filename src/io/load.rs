//! Loading a data directory: `users.csv`, `events.csv`, `scores.csv`, `models.csv`,
//! each optional.

use std::path::Path;

use rustc_hash::FxHashSet;

use crate::catalog::ir::Catalog;
use crate::data::{Dataset, EventRow, ModelRow, ScoreRow, UserRow};
use crate::dataflow::{user_key, Event, ModelRecord, ScoreRecord, UserKey, UserRecord};
use crate::value::Text;

use super::csv_file::CsvFile;
use super::error::{InputError, RowError};
use super::layout::{parse_number, parse_time, InputKind, Interner, Layout};
use super::scored::ScoredVersions;

/// Where parsed rows go: straight into a dataflow's inputs, or into memory.
pub trait RowSink {
    /// A `users` row of `user`.
    fn user(&mut self, user: UserKey, record: UserRecord);
    /// An event of `user`, with its id at its source if it has one.
    fn event(&mut self, user: UserKey, event: Event, id: Option<Text>);
    /// A score of `user`.
    fn score(&mut self, user: UserKey, record: ScoreRecord);
    /// A switch of `model`'s active version.
    fn model(&mut self, model: Text, record: ModelRecord);
    /// The id string of a key, at least once per reader that sees the key.
    fn name(&mut self, user: UserKey, id: String);
}

/// Rows held in memory, keyed by user, plus the user id strings.
#[derive(Default)]
pub struct Rows {
    /// `users` rows with their users' keys, in the order read.
    pub users: Vec<(UserKey, UserRecord)>,
    /// Events with their users' keys and their ids, in the order read.
    pub events: Vec<(UserKey, Event, Option<Text>)>,
    /// Scores with their users' keys, in the order read.
    pub scores: Vec<(UserKey, ScoreRecord)>,
    /// Switches of active model versions, in the order read.
    pub models: Vec<(Text, ModelRecord)>,
    /// The id string of every key, possibly more than once.
    pub names: Vec<(UserKey, String)>,
}

impl RowSink for Rows {
    fn user(&mut self, user: UserKey, record: UserRecord) {
        self.users.push((user, record));
    }
    fn event(&mut self, user: UserKey, event: Event, id: Option<Text>) {
        self.events.push((user, event, id));
    }
    fn score(&mut self, user: UserKey, record: ScoreRecord) {
        self.scores.push((user, record));
    }
    fn model(&mut self, model: Text, record: ModelRecord) {
        self.models.push((model, record));
    }
    fn name(&mut self, user: UserKey, id: String) {
        self.names.push((user, id));
    }
}

/// The data directory's files, opened and with headers checked against the catalog.
pub struct DataFiles {
    files: Vec<(InputKind, CsvFile, Layout)>,
    /// The versions scores.csv holds, which models.csv rows must name (read only when
    /// there is a models.csv).
    scored: ScoredVersions,
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
                "data directory '{}' holds none of users.csv, events.csv, scores.csv, models.csv",
                dir.display()
            );
        }
        let scored = if files.iter().any(|(kind, ..)| *kind == InputKind::Models) {
            scored_versions(&files)
        } else {
            ScoredVersions::default()
        };
        Ok(DataFiles { files, scored })
    }

    /// Parses part `index` of `parts` of every file into `sink`; returns the rows that
    /// could not be parsed.
    pub fn read_part<S: RowSink + ?Sized>(
        &self,
        index: usize,
        parts: usize,
        sink: &mut S,
    ) -> Vec<InputError> {
        let mut parser = RowParser {
            texts: Interner::default(),
            named: FxHashSet::default(),
            scored: &self.scored,
        };
        let mut rejects = Vec::new();
        for (kind, file, layout) in &self.files {
            file.for_each_row(
                index,
                parts,
                |offset, record| parser.parse(*kind, layout, offset, record, sink),
                |error| rejects.push(error),
            );
        }
        rejects
    }

    /// Which files were opened and their lengths in bytes. Processes of a cluster each
    /// open the files themselves and split them by byte offsets, so they must agree on
    /// this, or rows would be read twice or not at all.
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        self.files
            .iter()
            .map(|(kind, file, _)| (kind.file_name(), file.size()))
            .collect()
    }

    /// Which files were opened, with their lengths and content hashes
    /// ([`CsvFile::content_hash`]): files of one size but another content would split
    /// into rows at other offsets, or be other rows.
    pub fn identity(&self) -> Vec<(&'static str, usize, u64)> {
        self.files
            .iter()
            .map(|(kind, file, _)| (kind.file_name(), file.size(), file.content_hash()))
            .collect()
    }

    /// About how many rows the files hold (their data lines), for progress reports.
    pub fn rows_estimate(&self) -> u64 {
        self.files
            .iter()
            .map(|(_, file, _)| file.data_lines())
            .sum()
    }

    /// The greatest event, score or users row `ts` in part `index` of `parts`: the default as-of
    /// time, needed before any row can be fed. Rows whose `ts` does not parse are
    /// skipped here and reported by [`DataFiles::read_part`].
    pub fn max_ts(&self, index: usize, parts: usize) -> Option<u64> {
        let mut max = None;
        for (kind, file, layout) in &self.files {
            let position = match kind {
                InputKind::Events => layout.required_position(1),
                InputKind::Scores => layout.required_position(3),
                InputKind::Models => layout.required_position(2),
                InputKind::Users => match layout.user_time_position() {
                    Some(position) => position,
                    None => continue,
                },
            };
            file.for_each_cell(index, parts, position, |cell| {
                if let Some(ts) = std::str::from_utf8(cell)
                    .ok()
                    .and_then(|t| parse_time(t, "ts").ok())
                {
                    max = max.max(Some(ts));
                }
            });
        }
        max
    }
}

/// The (model, version) of every scores.csv row that names both.
fn scored_versions(files: &[(InputKind, CsvFile, Layout)]) -> ScoredVersions {
    let mut scored = ScoredVersions::default();
    let mut texts = Interner::default();
    for (kind, file, layout) in files {
        let (InputKind::Scores, Some(version)) = (kind, layout.score_version_position()) else {
            continue;
        };
        let model = layout.required_position(1);
        fn cell(record: &csv::ByteRecord, position: usize) -> Option<&str> {
            let text = std::str::from_utf8(record.get(position).unwrap_or_default()).ok();
            text.filter(|t| !t.is_empty())
        }
        file.for_each_row(
            0,
            1,
            |_offset, record| {
                if let (Some(model), Some(version)) = (cell(record, model), cell(record, version)) {
                    scored.note(&texts.intern(model), &texts.intern(version));
                }
                Ok(())
            },
            // Bad rows are reported when the rows are read in full.
            |_error| {},
        );
    }
    scored
}

/// Turns CSV records into keyed rows, sharing repeated strings.
struct RowParser<'a> {
    texts: Interner,
    named: FxHashSet<UserKey>,
    /// The versions a models.csv row may switch to.
    scored: &'a ScoredVersions,
}

impl RowParser<'_> {
    fn parse(
        &mut self,
        kind: InputKind,
        layout: &Layout,
        offset: u64,
        record: &csv::ByteRecord,
        sink: &mut (impl RowSink + ?Sized),
    ) -> Result<(), RowError> {
        if kind == InputKind::Models {
            let model = self.texts.intern(layout.required(record, 0, "model")?);
            let version = self.texts.intern(layout.required(record, 1, "version")?);
            let ts = parse_time(layout.required(record, 2, "ts")?, "ts")?;
            self.scored.check(&model, &version)?;
            // The byte offset orders the rows of one time as their lines do.
            let seq = offset;
            sink.model(model, ModelRecord { ts, seq, version });
            return Ok(());
        }
        let user_id = layout.required(record, 0, "user_id")?;
        let user = user_key(user_id);
        match kind {
            InputKind::Users => {
                let ts = layout.user_time(record)?.unwrap_or(0);
                let attrs = layout.declared(record, &mut self.texts)?;
                // The row's byte offset orders the rows of one time as their lines do.
                sink.user(
                    user,
                    UserRecord {
                        ts,
                        seq: offset,
                        attrs,
                    },
                );
            }
            InputKind::Events => {
                let ts = parse_time(layout.required(record, 1, "ts")?, "ts")?;
                let kind = self.texts.intern(layout.required(record, 2, "kind")?);
                let fields = layout.declared(record, &mut self.texts)?;
                let id = layout.event_id(record)?;
                sink.event(user, Event::new(ts, kind, fields), id);
            }
            InputKind::Scores => {
                let model = self.texts.intern(layout.required(record, 1, "model")?);
                let score = parse_number(layout.required(record, 2, "score")?, "score")?;
                let ts = parse_time(layout.required(record, 3, "ts")?, "ts")?;
                let version = layout.score_version(record, &mut self.texts)?;
                sink.score(
                    user,
                    ScoreRecord {
                        model,
                        ts,
                        score,
                        version,
                    },
                );
            }
            InputKind::Models => unreachable!("read above"),
        }
        if self.named.insert(user) {
            sink.name(user, user_id.to_string());
        }
        Ok(())
    }
}

/// Feeds part `index` of `parts` of an in-memory dataset (rows dealt round-robin,
/// users numbered by their position so the last row of a user wins).
pub fn read_dataset_part<S: RowSink + ?Sized>(
    data: &Dataset,
    index: usize,
    parts: usize,
    sink: &mut S,
) {
    let mine = |i: &usize| i % parts == index;
    let mut named = FxHashSet::default();
    let mut key = |sink: &mut S, id: &str| {
        let key = user_key(id);
        if named.insert(key) {
            sink.name(key, id.to_string());
        }
        key
    };
    let users = data.users.iter().enumerate().filter(|(i, _)| mine(i));
    for (i, UserRow { user_id, ts, attrs }) in users {
        let user = key(sink, user_id);
        sink.user(
            user,
            UserRecord {
                ts: ts.unwrap_or(0),
                seq: i as u64,
                attrs: attrs.clone(),
            },
        );
    }
    for (
        _,
        EventRow {
            user_id,
            ts,
            kind,
            fields,
            event_id,
        },
    ) in data.events.iter().enumerate().filter(|(i, _)| mine(i))
    {
        let user = key(sink, user_id);
        let event = Event::new(*ts, kind.clone(), fields.clone());
        sink.event(user, event, event_id.clone());
    }
    for (
        _,
        ScoreRow {
            user_id,
            model,
            score,
            ts,
            version,
        },
    ) in data.scores.iter().enumerate().filter(|(i, _)| mine(i))
    {
        let user = key(sink, user_id);
        sink.score(
            user,
            ScoreRecord {
                model: model.clone(),
                ts: *ts,
                score: *score,
                version: version.clone(),
            },
        );
    }
    let models = data.models.iter().enumerate().filter(|(i, _)| mine(i));
    for (i, ModelRow { model, version, ts }) in models {
        let record = ModelRecord {
            ts: *ts,
            seq: i as u64,
            version: version.clone(),
        };
        sink.model(model.clone(), record);
    }
}
