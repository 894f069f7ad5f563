//! Sources: the per-user state the dataflow keeps, and operands, the values read from it.
//!
//! An event source is a *family* of state over a *selection* of events: totals (count
//! and exact sum) or the multiset of a field's values. Every aggregate reads one
//! family ([`Family::of`]), so `count`, `sum` and `avg` of one selection share its
//! totals, and `min`, `max`, `count_distinct` and `median` of one field share its
//! values. Scores and attributes are read from their input rows; the days since a time
//! from the rows of the operand that reads the time.

use std::sync::Arc;

use crate::catalog::ir::{AggFunc, EventField, EventPred, ScoreVersion};
use crate::value::Value;

/// Per-user state kept by the dataflow, from which operands read their values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// State over a user's matching events, kept by the event sources' operator.
    Events {
        /// The kind of state kept.
        family: Family,
        /// The events the state is kept over, and the field it reads.
        selection: EventSelection,
    },
    /// The latest score of a version of a model.
    Score(Arc<str>, ScoreVersion),
    /// A `users` attribute, by column index.
    Attr(usize),
    /// The whole days since a per-user time (`days_since(x)`), kept by the day clock
    /// from the rows of the operand that reads `of` as `read`.
    DaysSince {
        /// The source of the time.
        of: Box<Source>,
        /// How the time is read from it.
        read: Read,
    },
}

/// The kind of state an event source keeps per user.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// The count and exact sum of the matching events (those with a non-missing
    /// `field`, or all of them when there is no field): no per-event state.
    Totals,
    /// Every value of `field` over the matching events, with its multiplicity:
    /// retracting a `max` reveals the next value, a distinct value counts while any
    /// event carries it, and a median moves with every value.
    Values,
}

impl Family {
    /// The family an aggregate reads.
    pub fn of(func: AggFunc) -> Family {
        match func {
            AggFunc::Count | AggFunc::Sum | AggFunc::Avg => Family::Totals,
            AggFunc::Min | AggFunc::Max | AggFunc::CountDistinct | AggFunc::Median => {
                Family::Values
            }
        }
    }

    /// The name `segflow check --plan` shows.
    pub fn name(self) -> &'static str {
        match self {
            Family::Totals => "totals",
            Family::Values => "values",
        }
    }
}

/// Which events an aggregate looks at, and which field it reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventSelection {
    /// The field read; `None` when events are only counted.
    pub field: Option<EventField>,
    /// The `where` clause; `None` keeps every event.
    pub filter: Option<EventPred>,
    /// Window length in seconds.
    pub within: Option<u64>,
}

/// How an operand's value is read from its source's per-user row.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Read {
    /// An aggregate over an event source's state.
    Aggregate(AggFunc),
    /// The row is the value (scores, attributes).
    Value,
}

/// A per-user value: a read of a source. Users without a source row take `default`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Operand {
    /// The source read, by index into [`Plan::sources`](crate::plan::Plan::sources).
    pub source: usize,
    /// How the value is read from the source's row.
    pub read: Read,
    /// The value of a user without a source row ([`Read::default_value`]).
    pub default: Value,
}

impl Source {
    /// The input its rows come from: `users`, `events` or `scores`.
    pub fn input(&self) -> &'static str {
        match self {
            Source::Attr(_) => "users",
            Source::Score(..) => "scores",
            Source::Events { .. } => "events",
            Source::DaysSince { of, .. } => of.input(),
        }
    }

    /// The selection of an event source.
    pub fn selection(&self) -> Option<&EventSelection> {
        match self {
            Source::Events { selection, .. } => Some(selection),
            Source::Score(..) | Source::Attr(_) | Source::DaysSince { .. } => None,
        }
    }
}

impl Read {
    /// The value of a user without a row: 0 for counts and sums, missing otherwise.
    pub fn default_value(self) -> Value {
        match self {
            Read::Aggregate(AggFunc::Count | AggFunc::Sum | AggFunc::CountDistinct) => {
                Value::Number(0.into())
            }
            Read::Aggregate(AggFunc::Avg | AggFunc::Min | AggFunc::Max | AggFunc::Median)
            | Read::Value => Value::Null,
        }
    }
}
