//! Binding a file's header to the catalog's schema, and parsing its rows into typed
//! records.
//!
//! Columns may come in any order. Required columns must be present, every other column
//! must be declared in the catalog (`schema users(...)`, `schema events(...)`), and every
//! declared column must be present: a typo in a header is an error, not a silently
//! missing attribute. An empty cell is a missing value.

use std::collections::HashMap;
use std::str::FromStr;

use csv::ByteRecord;
use rust_decimal::Decimal;

use crate::catalog::ir::{Catalog, Column};
use crate::value::{Text, Type, Value, MAX_TIME};

use super::error::{cut_reason, InputError, RowError};

/// The input files.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// `users.csv`: one row per user, attributes by column.
    Users,
    /// `events.csv`: `user_id,ts,kind`, an optional `event_id` and the declared event
    /// columns.
    Events,
    /// `scores.csv`: `user_id,model,score,ts` and an optional `version`.
    Scores,
    /// `models.csv`: `model,version,ts`, switches of models' active versions.
    Models,
}

impl InputKind {
    /// Every input.
    pub const ALL: [InputKind; 4] = [
        InputKind::Users,
        InputKind::Events,
        InputKind::Scores,
        InputKind::Models,
    ];

    /// The file's name in a data directory.
    pub fn file_name(self) -> &'static str {
        match self {
            InputKind::Users => "users.csv",
            InputKind::Events => "events.csv",
            InputKind::Scores => "scores.csv",
            InputKind::Models => "models.csv",
        }
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            InputKind::Users => &["user_id"],
            InputKind::Events => &["user_id", "ts", "kind"],
            InputKind::Scores => &["user_id", "model", "score", "ts"],
            InputKind::Models => &["model", "version", "ts"],
        }
    }

    /// Columns a file may have: a users row's time (`ts`), an event's id at its source
    /// (`event_id`), a score's model `version`.
    fn optional(self) -> &'static [&'static str] {
        match self {
            InputKind::Users => &["ts"],
            InputKind::Scores => &["version"],
            InputKind::Events => &["event_id"],
            InputKind::Models => &[],
        }
    }

    fn declared(self, catalog: &Catalog) -> &[Column] {
        match self {
            InputKind::Users => &catalog.users,
            InputKind::Events => &catalog.events,
            InputKind::Scores | InputKind::Models => &[],
        }
    }
}

/// Where each needed column sits in a file's records.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Positions of the required columns, in [`InputKind::required`] order.
    required: Vec<usize>,
    /// Position, name and type of each declared column, in schema order.
    declared: Vec<(usize, String, Type)>,
    /// Position of a users file's `ts` column, if it has one.
    user_time: Option<usize>,
    /// Position of an events file's `event_id` column, if it has one.
    event_id: Option<usize>,
    /// Position of a scores file's `version` column, if it has one.
    score_version: Option<usize>,
}

impl Layout {
    /// Checks a header against the catalog.
    pub fn bind(
        kind: InputKind,
        file: &str,
        header: &[String],
        catalog: &Catalog,
    ) -> Result<Layout, InputError> {
        let error = |reason: String| InputError {
            file: file.to_string(),
            line: 1,
            column: None,
            reason: cut_reason(reason),
            raw: header.join(","),
        };
        let mut positions = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            if positions.insert(name.as_str(), i).is_some() {
                return Err(error(format!(
                    "column `{name}` appears twice in the header"
                )));
            }
        }
        let declared = kind.declared(catalog);
        for name in header {
            let known = kind.required().contains(&name.as_str())
                || kind.optional().contains(&name.as_str())
                || declared.iter().any(|c| &c.name == name);
            if !known {
                let hint = match kind {
                    InputKind::Scores => {
                        "scores.csv has the columns user_id,model,score,ts[,version]".to_string()
                    }
                    InputKind::Models => "models.csv has the columns model,version,ts".to_string(),
                    _ => format!(
                        "declare it in the catalog, e.g. `schema {}({name}: text)`",
                        if kind == InputKind::Users {
                            "users"
                        } else {
                            "events"
                        }
                    ),
                };
                return Err(error(format!("unknown column `{name}`: {hint}")));
            }
        }
        let position = |name: &str, why: &str| {
            positions
                .get(name)
                .copied()
                .ok_or_else(|| error(format!("the header lacks column `{name}` ({why})")))
        };
        let required = kind
            .required()
            .iter()
            .map(|name| position(name, "required"))
            .collect::<Result<_, _>>()?;
        let declared = declared
            .iter()
            .map(|c| {
                let why = format!("declared at {}", c.loc);
                Ok((position(&c.name, &why)?, c.name.clone(), c.ty))
            })
            .collect::<Result<_, InputError>>()?;
        let optional = |of: InputKind, name: &str| match kind == of {
            true => positions.get(name).copied(),
            false => None,
        };
        Ok(Layout {
            required,
            declared,
            user_time: optional(InputKind::Users, "ts"),
            event_id: optional(InputKind::Events, "event_id"),
            score_version: optional(InputKind::Scores, "version"),
        })
    }

    /// The text of required column `i` (in `InputKind::required` order).
    pub fn required<'r>(
        &self,
        record: &'r ByteRecord,
        i: usize,
        name: &str,
    ) -> Result<&'r str, RowError> {
        required(utf8(record, self.required[i], name)?, name)
    }

    /// Where required column `i` (in `InputKind::required` order) sits in a record.
    pub fn required_position(&self, i: usize) -> usize {
        self.required[i]
    }

    /// Where a users file's `ts` column sits, if it has one.
    pub fn user_time_position(&self) -> Option<usize> {
        self.user_time
    }

    /// A users row's time: `None` without a `ts` column or with an empty cell.
    pub fn user_time(&self, record: &ByteRecord) -> Result<Option<u64>, RowError> {
        let Some(position) = self.user_time else {
            return Ok(None);
        };
        match utf8(record, position, "ts")? {
            "" => Ok(None),
            text => parse_time(text, "ts").map(Some),
        }
    }

    /// An event's id at its source: `None` without an `event_id` column or with an
    /// empty cell. Ids are mostly distinct, so they are not interned.
    pub fn event_id(&self, record: &ByteRecord) -> Result<Option<Text>, RowError> {
        let Some(position) = self.event_id else {
            return Ok(None);
        };
        let id = utf8(record, position, "event_id")?;
        Ok((!id.is_empty()).then(|| Text::from(id)))
    }

    /// Where a scores file's `version` column sits in a record, if it has one.
    pub fn score_version_position(&self) -> Option<usize> {
        self.score_version
    }

    /// A score's model version: `None` without a `version` column or with an empty
    /// cell.
    pub fn score_version(
        &self,
        record: &ByteRecord,
        texts: &mut Interner,
    ) -> Result<Option<Text>, RowError> {
        let Some(position) = self.score_version else {
            return Ok(None);
        };
        let version = utf8(record, position, "version")?;
        Ok((!version.is_empty()).then(|| texts.intern(version)))
    }

    /// The declared columns' values, in schema order.
    pub fn declared(
        &self,
        record: &ByteRecord,
        texts: &mut Interner,
    ) -> Result<Vec<Value>, RowError> {
        self.declared
            .iter()
            .map(|(position, name, ty)| {
                parse_value(utf8(record, *position, name)?, *ty, name, texts)
            })
            .collect()
    }
}

/// The text of a required field (`user_id`, `ts`, `kind`, `model`, `score`), which must
/// not be empty: the one rule for CSV cells and live records' fields.
pub fn required<'t>(text: &'t str, name: &str) -> Result<&'t str, RowError> {
    if text.is_empty() {
        return Err(RowError::column(name, "is empty; a value is required"));
    }
    Ok(text)
}

fn utf8<'r>(record: &'r ByteRecord, position: usize, name: &str) -> Result<&'r str, RowError> {
    let bytes = record.get(position).unwrap_or_default();
    std::str::from_utf8(bytes).map_err(|_| RowError::column(name, "is not valid UTF-8"))
}

/// Parses a cell of a declared type; empty cells are missing values.
pub fn parse_value(
    text: &str,
    ty: Type,
    column: &str,
    texts: &mut Interner,
) -> Result<Value, RowError> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    match ty {
        Type::Text => Ok(Value::Text(texts.intern(text))),
        Type::Number => parse_number(text, column).map(Value::Number),
        Type::Time => parse_time(text, column).map(|t| Value::Time(t as i64)),
        Type::Bool => match text.to_ascii_lowercase().as_str() {
            "true" | "t" | "1" => Ok(Value::Bool(true)),
            "false" | "f" | "0" => Ok(Value::Bool(false)),
            _ => Err(RowError::column(
                column,
                format!("cannot parse `{text}` as a bool (true/false)"),
            )),
        },
    }
}

/// An exact decimal: `12`, `-3.50`, `1e3`.
pub fn parse_number(text: &str, column: &str) -> Result<Decimal, RowError> {
    let text = text.trim();
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|_| RowError::column(column, format!("cannot parse `{text}` as a number")))
}

/// Integer seconds since the Unix epoch.
pub fn parse_time(text: &str, column: &str) -> Result<u64, RowError> {
    let time = text.trim().parse::<u64>().map_err(|_| {
        RowError::column(
            column,
            format!("cannot parse `{text}` as a time (integer seconds since the Unix epoch)"),
        )
    })?;
    if time > MAX_TIME {
        return Err(RowError::column(
            column,
            format!("time `{text}` is out of range (at most {MAX_TIME})"),
        ));
    }
    Ok(time)
}

/// Shares one allocation among equal strings (event kinds, categories, countries).
#[derive(Default)]
pub struct Interner {
    texts: rustc_hash::FxHashMap<Box<str>, Text>,
}

impl Interner {
    /// `text` as a shared copy; past 100,000 distinct texts, new ones go unshared.
    pub fn intern(&mut self, text: &str) -> Text {
        if let Some(shared) = self.texts.get(text) {
            return shared.clone();
        }
        let shared: Text = Text::from(text);
        // Bounded so that a high-cardinality column (free text, ids) cannot grow it
        // without limit; past the bound strings are simply not shared.
        if self.texts.len() < 100_000 {
            self.texts.insert(text.into(), shared.clone());
        }
        shared
    }
}
