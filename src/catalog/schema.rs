//! The declared columns of `users` and `events`, merged across `schema` statements.
//!
//! Several files may each declare what they use, so a column declared again with the
//! same type is merged (the first declaration's location is kept); a different type is
//! an error. `user_id` keys every table and `ts` and `kind` are built into every event,
//! so none of them can be declared.

use super::ast::{ColumnDecl, Stmt, Table};
use super::diagnostic::{Checked, Reported, Reports};
use super::ir::{Column, EventField};
use super::source::{SourceMap, Span};
use super::suggest;
use crate::value::Type;

const TYPES: [&str; 4] = ["text", "number", "time", "bool"];

/// Both tables' declared columns, in declaration order.
pub(crate) struct Schema {
    pub users: Vec<Column>,
    pub events: Vec<Column>,
    /// Whether every `schema users` / `schema events` statement was read in full. When
    /// one was not (a syntax error or an unknown type), an unknown column may just be
    /// the one that was lost, so it is not reported a second time.
    users_complete: bool,
    events_complete: bool,
}

impl Schema {
    /// Collects the `schema` statements of all files.
    pub fn build(files: &[Vec<Stmt>], sources: &SourceMap, reports: &mut Reports) -> Schema {
        let mut schema = Schema {
            users: Vec::new(),
            events: Vec::new(),
            users_complete: true,
            events_complete: true,
        };
        for statement in files.iter().flatten() {
            if let Stmt::Schema {
                table,
                columns,
                complete,
            } = statement
            {
                let mut all_declared = *complete;
                for column in columns {
                    all_declared &= schema.declare(*table, column, sources, reports).is_ok();
                }
                match table {
                    Table::Users => schema.users_complete &= all_declared,
                    Table::Events => schema.events_complete &= all_declared,
                }
            }
        }
        schema
    }

    fn declare(
        &mut self,
        table: Table,
        decl: &ColumnDecl,
        sources: &SourceMap,
        reports: &mut Reports,
    ) -> Checked<()> {
        let name = decl.name.name.as_str();
        let reserved = match (table, name) {
            (_, "user_id") => Some("`user_id` is the key of every table"),
            (Table::Events, "ts") => Some("`ts` is built into every event (its time)"),
            (Table::Users, "ts") => Some("`ts` is when a users row takes effect (its time)"),
            (Table::Events, "kind") => Some("`kind` is built into every event (its kind)"),
            (Table::Events, "event_id") => {
                Some("`event_id` is an event's id at its source (one event per id counts)")
            }
            _ => None,
        };
        if let Some(reason) = reserved {
            let message = format!("{reason}; it cannot be declared");
            return Err(reports.error(decl.name.span, message, "remove this column"));
        }
        let Some(ty) = Type::from_name(&decl.ty.name) else {
            let message = format!(
                "unknown type `{}`; expected text, number, time or bool",
                decl.ty.name
            );
            let label = suggest::did_you_mean(&decl.ty.name, TYPES, "");
            return Err(reports.error(decl.ty.span, message, label));
        };
        let columns = match table {
            Table::Users => &mut self.users,
            Table::Events => &mut self.events,
        };
        match columns.iter().find(|c| c.name == name) {
            None => {
                columns.push(Column {
                    name: name.to_string(),
                    ty,
                    loc: sources.location(decl.name.span),
                });
                Ok(())
            }
            Some(first) if first.ty == ty => Ok(()),
            Some(first) => {
                let message = format!(
                    "column `{}.{name}` was declared as {} at {}; it cannot also be {ty}",
                    table.name(),
                    first.ty,
                    first.loc
                );
                Err(reports.error(decl.ty.span, message, "conflicting type"))
            }
        }
    }

    pub fn user_attr(&self, name: &str) -> Option<usize> {
        self.users.iter().position(|c| c.name == name)
    }

    pub fn event_field(&self, name: &str) -> Option<EventField> {
        match name {
            "ts" => Some(EventField::Ts),
            "kind" => Some(EventField::Kind),
            _ => self
                .events
                .iter()
                .position(|c| c.name == name)
                .map(EventField::Column),
        }
    }

    pub fn event_field_type(&self, field: EventField) -> Type {
        match field {
            EventField::Ts => Type::Time,
            EventField::Kind => Type::Text,
            EventField::Column(i) => self.events[i].ty,
        }
    }

    /// Names of the event fields: declared columns first, then `ts` and `kind`.
    pub fn event_field_names(&self) -> impl Iterator<Item = &str> + Clone {
        let columns = self.events.iter().map(|c| c.name.as_str());
        columns.chain(["ts", "kind"])
    }

    pub fn user_attr_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.users.iter().map(|c| c.name.as_str())
    }

    /// Reports an unknown column of `table`, unless the schema lost columns to an
    /// earlier error, in which case the column may well exist.
    pub fn unknown_column(
        &self,
        table: Table,
        message: String,
        span: Span,
        name: &str,
        reports: &mut Reports,
    ) -> Reported {
        let (complete, label) = match table {
            Table::Users => (
                self.users_complete,
                suggest::did_you_mean(name, self.user_attr_names(), ""),
            ),
            Table::Events => (
                self.events_complete,
                suggest::did_you_mean(name, self.event_field_names(), ""),
            ),
        };
        if complete {
            reports.error(span, message, label)
        } else {
            Reported
        }
    }
}

/// `a, b, c` for error messages, or `(none declared)`.
pub(crate) fn listing<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = names.collect();
    if list.is_empty() {
        "(none declared)".to_string()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::parser::parse;

    fn build(texts: &[&str]) -> (Schema, Vec<String>) {
        let mut sources = SourceMap::default();
        let mut reports = Reports::default();
        let files: Vec<Vec<Stmt>> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let file = sources.add(&format!("{i}.seg"), text.to_string());
                parse(file, sources.text(file), &mut reports)
            })
            .collect();
        let schema = Schema::build(&files, &sources, &mut reports);
        let errors = reports
            .into_diagnostics(&sources)
            .into_iter()
            .map(|d| format!("{}: {}", d.loc, d.message))
            .collect();
        (schema, errors)
    }

    #[test]
    fn columns_merge_across_files() {
        let (schema, errors) = build(&[
            "schema users(country: text, plan: text)\nschema events(amount: number)",
            "schema users(plan: text, age: number)",
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        let users: Vec<_> = schema
            .users
            .iter()
            .map(|c| (c.name.as_str(), c.ty))
            .collect();
        assert_eq!(
            users,
            [
                ("country", Type::Text),
                ("plan", Type::Text),
                ("age", Type::Number)
            ]
        );
        assert_eq!(schema.users[1].loc.to_string(), "0.seg:1:29");
        assert_eq!(schema.event_field("amount"), Some(EventField::Column(0)));
        assert_eq!(schema.event_field("ts"), Some(EventField::Ts));
        assert_eq!(
            schema.event_field_names().collect::<Vec<_>>(),
            ["amount", "ts", "kind"]
        );
    }

    #[test]
    fn conflicts_reserved_names_and_unknown_types() {
        let (_, errors) = build(&[
            "schema users(plan: text)\nschema events(ts: time, kind: text, user_id: text, n: nmber)",
            "schema users(plan: number)\nschema events(event_id: text)",
        ]);
        assert_eq!(
            errors,
            [
                "0.seg:2:15: `ts` is built into every event (its time); it cannot be declared",
                "0.seg:2:25: `kind` is built into every event (its kind); it cannot be declared",
                "0.seg:2:37: `user_id` is the key of every table; it cannot be declared",
                "0.seg:2:55: unknown type `nmber`; expected text, number, time or bool",
                "1.seg:1:20: column `users.plan` was declared as text at 0.seg:1:14; it cannot also be number",
                "1.seg:2:15: `event_id` is an event's id at its source (one event per id counts); it cannot be declared",
            ]
        );
    }
}
