//! Live records: one JSON object per line, with a `"type"`.
//!
//! ```text
//! {"type":"event","user_id":"u1","ts":1700000000,"kind":"purchase","amount":"12.50"}
//! {"type":"user","user_id":"u1","country":"US","signup_ts":1690000000}
//! {"type":"score","user_id":"u1","model":"churn","ts":1700000000,"score":0.83}
//! {"type":"retract_event","user_id":"u1","ts":1700000000,"kind":"purchase","amount":"12.50"}
//! {"type":"delete_user","user_id":"u1"}
//! {"type":"clock","ts":1700000100}
//! ```
//!
//! Fields are checked against the catalog's schema exactly as CSV cells are: declared
//! fields may be missing or `null` (a missing value), undeclared ones are an error (a
//! typo is reported rather than silently ignored). Numbers are exact decimals: JSON
//! numbers are read from their text, never through a float; a string holding a number
//! is accepted too. User ids must be JSON strings, so that `"00042"` stays `00042`.
//! An `event` or `retract_event` may carry the event's id at its source, `event_id`
//! (a string or an integer): of a user's events with one id, only one counts.

use rust_decimal::Decimal;
use serde_json::{Map, Value as Json};

use crate::catalog::ir::{Catalog, Column};
use crate::data::{EventRow, ModelRow, ScoreRow, UserRow};
use crate::io::error::RowError;
use crate::io::layout::{parse_number, parse_time, required, Interner};
use crate::live::frontier::MAX_LIVE_SECONDS;
use crate::value::{Text, Type, Value};

/// One parsed live record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveRecord {
    /// A new event.
    Event(EventRow),
    /// The user's attributes, replacing earlier ones; absent attributes are missing.
    User(UserRow),
    /// A model score for the user; the latest `ts` per model is current.
    Score(ScoreRow),
    /// A switch of a model's active version from `ts` on.
    Model(ModelRow),
    /// Removes one earlier event identical to this one.
    RetractEvent(EventRow),
    /// Erases the user: everything received for it so far stops counting.
    DeleteUser(String),
    /// Event time has reached `ts` (a heartbeat: moves the event clock without data).
    Clock(u64),
}

impl LiveRecord {
    /// The event time the record carries, if any.
    pub fn ts(&self) -> Option<u64> {
        match self {
            LiveRecord::Event(e) | LiveRecord::RetractEvent(e) => Some(e.ts),
            LiveRecord::Score(s) => Some(s.ts),
            LiveRecord::Model(m) => Some(m.ts),
            LiveRecord::Clock(ts) => Some(*ts),
            LiveRecord::User(u) => u.ts,
            LiveRecord::DeleteUser(_) => None,
        }
    }

    /// Refuses a time beyond [`MAX_LIVE_SECONDS`], which live ticks cannot hold.
    pub fn check_time(&self) -> Result<(), RowError> {
        match self.ts() {
            Some(ts) if ts > MAX_LIVE_SECONDS => Err(RowError::column(
                "ts",
                format!("time {ts} is out of range for live runs (at most {MAX_LIVE_SECONDS})"),
            )),
            _ => Ok(()),
        }
    }
}

/// Parses JSON lines against one catalog's schema.
pub struct RecordParser<'c> {
    catalog: &'c Catalog,
    texts: Interner,
}

impl<'c> RecordParser<'c> {
    /// A parser for records of `catalog`'s schema.
    pub fn new(catalog: &'c Catalog) -> Self {
        RecordParser {
            catalog,
            texts: Interner::default(),
        }
    }

    /// Parses one line (without its line terminator).
    pub fn parse(&mut self, line: &str) -> Result<LiveRecord, RowError> {
        let mut object: Map<String, Json> = match serde_json::from_str(line) {
            Ok(Json::Object(object)) => object,
            Ok(_) => return Err(RowError::row("expected a JSON object")),
            Err(error) => return Err(RowError::row(format!("invalid JSON: {error}"))),
        };
        let kind = match object.remove("type") {
            Some(Json::String(kind)) => kind,
            Some(_) => return Err(RowError::column("type", "must be a string")),
            None => return Err(RowError::row("missing field `type`")),
        };
        let record = match kind.as_str() {
            "event" => LiveRecord::Event(self.event(&mut object)?),
            "retract_event" => LiveRecord::RetractEvent(self.event(&mut object)?),
            "user" => LiveRecord::User(self.user(&mut object)?),
            "score" => LiveRecord::Score(self.score(&mut object)?),
            "model" => LiveRecord::Model(self.model(&mut object)?),
            "delete_user" => LiveRecord::DeleteUser(user_id(&mut object)?),
            "clock" => LiveRecord::Clock(time(&mut object, "ts")?),
            other => {
                return Err(RowError::column(
                    "type",
                    format!(
                        "unknown record type `{other}` (expected event, user, score, \
                         model, retract_event, delete_user or clock)"
                    ),
                ))
            }
        };
        match object.keys().next() {
            Some(extra) => Err(RowError::column(
                extra,
                format!(
                    "is not a field of a `{kind}` record{}",
                    self.declared_hint(&kind)
                ),
            )),
            None => Ok(record),
        }
    }

    fn event(&mut self, object: &mut Map<String, Json>) -> Result<EventRow, RowError> {
        let user_id = user_id(object)?;
        let ts = time(object, "ts")?;
        let kind = match object.remove("kind") {
            Some(Json::String(kind)) => self.texts.intern(required(&kind, "kind")?),
            Some(_) => return Err(RowError::column("kind", "must be a string")),
            None => return Err(RowError::row("missing field `kind`")),
        };
        let fields = self.columns(&self.catalog.events, object)?;
        Ok(EventRow {
            user_id,
            ts,
            kind,
            fields,
            event_id: event_id(object)?,
        })
    }

    fn user(&mut self, object: &mut Map<String, Json>) -> Result<UserRow, RowError> {
        let user_id = user_id(object)?;
        // Optional: without it, the row takes effect when it is applied.
        let ts = match object.get("ts") {
            None | Some(Json::Null) => {
                object.remove("ts");
                None
            }
            Some(_) => Some(time(object, "ts")?),
        };
        let attrs = self.columns(&self.catalog.users, object)?;
        Ok(UserRow { user_id, ts, attrs })
    }

    /// A required string field, shared when repeated.
    fn name(&mut self, object: &mut Map<String, Json>, field: &str) -> Result<Text, RowError> {
        match object.remove(field) {
            Some(Json::String(text)) => Ok(self.texts.intern(required(&text, field)?)),
            Some(_) => Err(RowError::column(field, "must be a string")),
            None => Err(RowError::row(format!("missing field `{field}`"))),
        }
    }

    fn model(&mut self, object: &mut Map<String, Json>) -> Result<ModelRow, RowError> {
        let model = self.name(object, "model")?;
        let version = self.name(object, "version")?;
        let ts = time(object, "ts")?;
        Ok(ModelRow { model, version, ts })
    }

    fn score(&mut self, object: &mut Map<String, Json>) -> Result<ScoreRow, RowError> {
        let user_id = user_id(object)?;
        let model = self.name(object, "model")?;
        // Optional, as the `version` column of scores.csv: empty or null is none.
        let version = match object.remove("version") {
            None | Some(Json::Null) => None,
            Some(Json::String(version)) if version.is_empty() => None,
            Some(Json::String(version)) => Some(self.texts.intern(&version)),
            Some(_) => return Err(RowError::column("version", "must be a string")),
        };
        let ts = time(object, "ts")?;
        let score = match object.remove("score") {
            Some(json) => match number(&json, "score")? {
                Some(score) => score,
                None => return Err(RowError::column("score", "must not be null")),
            },
            None => return Err(RowError::row("missing field `score`")),
        };
        Ok(ScoreRow {
            user_id,
            model,
            score,
            ts,
            version,
        })
    }

    /// The declared columns' values in schema order, taken out of `object`.
    fn columns(
        &mut self,
        columns: &[Column],
        object: &mut Map<String, Json>,
    ) -> Result<Vec<Value>, RowError> {
        columns
            .iter()
            .map(|column| match object.remove(&column.name) {
                None | Some(Json::Null) => Ok(Value::Null),
                Some(json) => self.value(&json, column),
            })
            .collect()
    }

    fn value(&mut self, json: &Json, column: &Column) -> Result<Value, RowError> {
        let name = column.name.as_str();
        match (column.ty, json) {
            (Type::Text, Json::String(text)) => Ok(Value::Text(self.texts.intern(text))),
            (Type::Text, _) => Err(RowError::column(name, "must be a string (text)")),
            (Type::Number, _) => Ok(number(json, name)?.map_or(Value::Null, Value::Number)),
            (Type::Time, _) => Ok(Value::Time(time_value(json, name)? as i64)),
            (Type::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
            (Type::Bool, _) => Err(RowError::column(name, "must be true or false")),
        }
    }

    fn declared_hint(&self, kind: &str) -> String {
        let columns = match kind {
            "event" | "retract_event" => &self.catalog.events,
            "user" => &self.catalog.users,
            _ => return String::new(),
        };
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        if names.is_empty() {
            " (the catalog declares no such fields)".to_string()
        } else {
            format!(" (declared: {})", names.join(", "))
        }
    }
}

fn user_id(object: &mut Map<String, Json>) -> Result<String, RowError> {
    match object.remove("user_id") {
        Some(Json::String(id)) => {
            required(&id, "user_id")?;
            Ok(id)
        }
        Some(_) => Err(RowError::column(
            "user_id",
            "must be a JSON string (ids are opaque: write \"00042\", not 42)",
        )),
        None => Err(RowError::row("missing field `user_id`")),
    }
}

/// An event's optional id at its source: a string, or an integer written as its
/// digits. Absent, `null` and `""` are no id, as an empty CSV cell is. Ids are mostly
/// distinct, so they are not interned.
fn event_id(object: &mut Map<String, Json>) -> Result<Option<Text>, RowError> {
    match object.remove("event_id") {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(id)) => Ok((!id.is_empty()).then(|| Text::from(id))),
        Some(Json::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(Text::from(n.to_string()))),
        Some(_) => Err(RowError::column(
            "event_id",
            "must be a string or an integer (the event's id at its source)",
        )),
    }
}

fn time(object: &mut Map<String, Json>, field: &str) -> Result<u64, RowError> {
    match object.remove(field) {
        Some(json) => time_value(&json, field),
        None => Err(RowError::row(format!("missing field `{field}`"))),
    }
}

/// Integer seconds, as a JSON number or a string.
fn time_value(json: &Json, field: &str) -> Result<u64, RowError> {
    match json {
        Json::Number(n) => parse_time(&n.to_string(), field),
        Json::String(s) => parse_time(s, field),
        _ => Err(RowError::column(
            field,
            "must be a time (integer seconds since the Unix epoch)",
        )),
    }
}

/// An exact decimal from a JSON number's text or a string; `null` is missing.
fn number(json: &Json, field: &str) -> Result<Option<Decimal>, RowError> {
    match json {
        Json::Null => Ok(None),
        Json::Number(n) => parse_number(&n.to_string(), field).map(Some),
        Json::String(s) => parse_number(s, field).map(Some),
        _ => Err(RowError::column(field, "must be a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::check_sources;
    use crate::value::Text;
    use std::str::FromStr;

    fn catalog() -> Catalog {
        check_sources(&[(
            "t.seg",
            "schema users(country: text, vip: bool)
             schema events(amount: number)
             segment s = users.country = 'US'",
        )])
        .unwrap()
    }

    fn parse(line: &str) -> Result<LiveRecord, RowError> {
        let catalog = catalog();
        RecordParser::new(&catalog).parse(line)
    }

    #[test]
    fn reads_every_record_type() {
        assert_eq!(
            parse(r#"{"type":"event","user_id":"007","ts":5,"kind":"buy","amount":0.10}"#),
            Ok(LiveRecord::Event(EventRow {
                user_id: "007".into(),
                ts: 5,
                kind: Text::from("buy"),
                fields: vec![Value::Number(Decimal::from_str("0.10").unwrap())],
                event_id: None,
            }))
        );
        assert_eq!(
            parse(r#"{"type":"user","user_id":"u","vip":true}"#),
            Ok(LiveRecord::User(UserRow {
                user_id: "u".into(),
                ts: None,
                attrs: vec![Value::Null, Value::Bool(true)],
            }))
        );
        assert_eq!(
            parse(r#"{"type":"user","user_id":"u","ts":12,"vip":true}"#).map(|r| r.ts()),
            Ok(Some(12))
        );
        assert_eq!(
            parse(r#"{"type":"score","user_id":"u","model":"m","ts":"9","score":"0.5"}"#)
                .map(|r| r.ts()),
            Ok(Some(9))
        );
        assert_eq!(
            parse(r#"{"type":"delete_user","user_id":"u"}"#),
            Ok(LiveRecord::DeleteUser("u".into()))
        );
        assert_eq!(
            parse(r#"{"type":"clock","ts":100}"#),
            Ok(LiveRecord::Clock(100))
        );
        assert!(matches!(
            parse(r#"{"type":"retract_event","user_id":"u","ts":1,"kind":"k"}"#),
            Ok(LiveRecord::RetractEvent(_))
        ));
    }

    #[test]
    fn large_and_precise_numbers_stay_exact() {
        let Ok(LiveRecord::Event(event)) = parse(
            r#"{"type":"event","user_id":"u","ts":1,"kind":"k","amount":12345678901234.000001}"#,
        ) else {
            panic!("expected an event");
        };
        assert_eq!(
            event.fields,
            vec![Value::Number(
                Decimal::from_str("12345678901234.000001").unwrap()
            )]
        );
    }

    #[test]
    fn bad_lines_name_the_field_and_the_reason() {
        let cases = [
            (
                r#"{"type":"event","user_id":"u","ts":1}"#,
                None,
                "missing field `kind`",
            ),
            (
                r#"{"type":"event","user_id":7,"ts":1,"kind":"k"}"#,
                Some("user_id"),
                "JSON string",
            ),
            (
                r#"{"type":"event","user_id":"u","ts":-1,"kind":"k"}"#,
                Some("ts"),
                "cannot parse",
            ),
            (
                r#"{"type":"event","user_id":"u","ts":1,"kind":"k","amount":"x"}"#,
                Some("amount"),
                "as a number",
            ),
            (
                r#"{"type":"event","user_id":"u","ts":1,"kind":"k","amout":1}"#,
                Some("amout"),
                "declared: amount",
            ),
            (
                r#"{"type":"user","user_id":"u","vip":"yes"}"#,
                Some("vip"),
                "true or false",
            ),
            (
                r#"{"type":"launch","user_id":"u"}"#,
                Some("type"),
                "unknown record type",
            ),
            (r#"{"user_id":"u"}"#, None, "missing field `type`"),
            (r#"[1,2]"#, None, "JSON object"),
            (r#"{"type":"event","#, None, "invalid JSON"),
            (
                r#"{"type":"score","user_id":"u","model":"m","ts":1,"score":null}"#,
                Some("score"),
                "null",
            ),
        ];
        for (line, column, reason) in cases {
            let error = parse(line).expect_err(line);
            assert_eq!(error.column.as_deref(), column, "{line}");
            assert!(error.reason.contains(reason), "{line}: {}", error.reason);
        }
    }

    /// The fields a CSV row must not leave empty are refused empty here too, with the
    /// same message.
    #[test]
    fn an_event_id_is_a_string_or_an_integer_and_empty_is_none() {
        let id = |field: &str| {
            let line = format!(r#"{{"type":"event","user_id":"u","ts":1,"kind":"k"{field}}}"#);
            match parse(&line) {
                Ok(LiveRecord::Event(row)) => Ok(row.event_id.map(|id| id.to_string())),
                Ok(other) => panic!("{other:?}"),
                Err(error) => Err((error.column, error.reason)),
            }
        };
        assert_eq!(id(r#","event_id":"a-1""#), Ok(Some("a-1".into())));
        assert_eq!(id(r#","event_id":12345"#), Ok(Some("12345".into())));
        assert_eq!(id(r#","event_id":"""#), Ok(None));
        assert_eq!(id(r#","event_id":null"#), Ok(None));
        assert_eq!(id(""), Ok(None));
        let (column, reason) = id(r#","event_id":1.5"#).unwrap_err();
        assert_eq!(column.as_deref(), Some("event_id"));
        assert!(reason.contains("a string or an integer"), "{reason}");
    }

    #[test]
    fn required_fields_must_not_be_empty_as_in_csv() {
        let csv = crate::io::layout::required("", "kind").unwrap_err().reason;
        let cases = [
            (r#"{"type":"user","user_id":""}"#, "user_id"),
            (r#"{"type":"event","user_id":"u","ts":1,"kind":""}"#, "kind"),
            (
                r#"{"type":"retract_event","user_id":"u","ts":1,"kind":""}"#,
                "kind",
            ),
            (
                r#"{"type":"score","user_id":"u","model":"","ts":1,"score":1}"#,
                "model",
            ),
        ];
        for (line, column) in cases {
            let error = parse(line).expect_err(line);
            assert_eq!(error.column.as_deref(), Some(column), "{line}");
            assert_eq!(error.reason, csv, "{line}");
        }
    }
}
