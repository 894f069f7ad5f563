//! A deliberately simple loader of a (well-formed) data directory for the reference
//! evaluator, independent of `segflow::io`, shared by the end-to-end tests.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use rust_decimal::Decimal;
use segflow::catalog::ir::Catalog;
use segflow::data::{Dataset, EventRow, ModelRow, ScoreRow, UserRow};
use segflow::value::{Text, Type, Value};

/// One CSV file as (column name -> position, rows); `None` if the file is absent.
pub fn table(path: &Path) -> Option<(HashMap<String, usize>, Vec<csv::StringRecord>)> {
    if !path.exists() {
        return None;
    }
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, name)| (name.to_string(), i))
        .collect();
    let rows = reader.records().map(Result::unwrap).collect();
    Some((header, rows))
}

/// A cell as a value of its column's type; empty is missing.
pub fn typed(text: &str, ty: Type) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    match ty {
        Type::Text => Value::Text(Text::from(text)),
        Type::Number => Value::Number(Decimal::from_str(text).unwrap()),
        Type::Time => Value::Time(text.parse().unwrap()),
        Type::Bool => Value::Bool(matches!(text, "true" | "t" | "1")),
    }
}

/// `users.csv`, `events.csv` and `scores.csv` of `dir`, as the catalog's schema reads them.
pub fn load_dataset(dir: &Path, catalog: &Catalog) -> Dataset {
    let mut data = Dataset::default();
    if let Some((cols, rows)) = table(&dir.join("users.csv")) {
        for row in rows {
            data.users.push(UserRow {
                user_id: row[cols["user_id"]].to_string(),
                ts: cols
                    .get("ts")
                    .map(|&c| &row[c])
                    .filter(|t| !t.is_empty())
                    .map(|t| t.parse().unwrap()),
                attrs: catalog
                    .users
                    .iter()
                    .map(|c| typed(&row[cols[&c.name]], c.ty))
                    .collect(),
            });
        }
    }
    if let Some((cols, rows)) = table(&dir.join("events.csv")) {
        for row in rows {
            data.events.push(EventRow {
                user_id: row[cols["user_id"]].to_string(),
                ts: row[cols["ts"]].parse().unwrap(),
                kind: Text::from(&row[cols["kind"]]),
                fields: catalog
                    .events
                    .iter()
                    .map(|c| typed(&row[cols[&c.name]], c.ty))
                    .collect(),
                event_id: (cols.get("event_id"))
                    .map(|&i| &row[i])
                    .filter(|id| !id.is_empty())
                    .map(Text::from),
            });
        }
    }
    if let Some((cols, rows)) = table(&dir.join("scores.csv")) {
        for row in rows {
            data.scores.push(ScoreRow {
                user_id: row[cols["user_id"]].to_string(),
                model: Text::from(&row[cols["model"]]),
                score: Decimal::from_str(&row[cols["score"]]).unwrap(),
                ts: row[cols["ts"]].parse().unwrap(),
                version: (cols.get("version"))
                    .map(|&i| &row[i])
                    .filter(|version| !version.is_empty())
                    .map(Text::from),
            });
        }
    }
    if let Some((cols, rows)) = table(&dir.join("models.csv")) {
        for row in rows {
            data.models.push(ModelRow {
                model: Text::from(&row[cols["model"]]),
                version: Text::from(&row[cols["version"]]),
                ts: row[cols["ts"]].parse().unwrap(),
            });
        }
    }
    data
}
