//! The checked catalog: what the checker produces and the planner and the reference
//! evaluator consume.
//!
//! Everything here is resolved: names are indices, feature references are inlined (so
//! identical aggregates written by name or inline are structurally equal and can be
//! shared), literals carry the type of the side they are compared with, and `now ± D`
//! is folded into a single offset.

use std::fmt;
use std::sync::Arc;

use crate::value::{CmpOp, Type, Value};

/// Where something was written: `file:line:col`, 1-based.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A declared column of `users` (an attribute) or `events` (beyond `user_id,ts,kind`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: Type,
    pub loc: Location,
}

/// A field of an event, usable in `where` clauses and as an aggregate's argument.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventField {
    /// `ts`: the event time (type `time`).
    Ts,
    /// `kind`: the event kind (type `text`).
    Kind,
    /// A column declared in `schema events(...)`, by index into [`Catalog::events`].
    Column(usize),
}

/// One side of a comparison inside a `where` clause.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventOperand {
    Field(EventField),
    Const(Value),
}

/// A predicate over one event's own fields (an aggregate's `where`). Evaluated row by
/// row: a comparison with a missing field is false and `not` is plain negation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventPred {
    Const(bool),
    Cmp(EventOperand, CmpOp, EventOperand),
    /// `operand [not] in (v1, v2, ...)`; false when the operand is missing, negated or not.
    In {
        operand: EventOperand,
        list: Vec<Value>,
        negated: bool,
    },
    And(Box<EventPred>, Box<EventPred>),
    Or(Box<EventPred>, Box<EventPred>),
    Not(Box<EventPred>),
}

/// An aggregate function over a user's events.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AggFunc {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    CountDistinct,
    /// The middle value of a number field; the mean of the two middle values when
    /// their count is even.
    Median,
}

impl AggFunc {
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::Avg => "avg",
            AggFunc::CountDistinct => "count_distinct",
            AggFunc::Median => "median",
        }
    }
}

/// `func(events[.field] [where filter] [within D])`.
///
/// Events with a missing `field` are skipped (as SQL aggregates skip NULL); `count`
/// without a field counts events. `within D` at time `now` covers `now - D < ts <= now`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aggregate {
    pub func: AggFunc,
    pub field: Option<EventField>,
    pub filter: Option<EventPred>,
    /// Window length in seconds.
    pub within: Option<u64>,
}

/// A per-user value at logical time `now`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueExpr {
    Const(Value),
    /// `now + offset` seconds (`now - 14d` has offset `-1209600`); type `time`.
    Now(i64),
    /// `users.ATTR`, by index into [`Catalog::users`].
    Attr(usize),
    /// `score('model')`: the latest score of that model at or before `now`.
    Score(Arc<str>),
    Agg(Aggregate),
}

/// A segment's membership predicate.
///
/// Comparisons with a missing value are false; `Not` is the complement over the
/// universe (every user known at `now`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pred {
    Const(bool),
    Cmp(ValueExpr, CmpOp, ValueExpr),
    /// `expr [not] in (v1, ...)`; false when `expr` is missing, negated or not.
    In {
        expr: ValueExpr,
        list: Vec<Value>,
        negated: bool,
    },
    /// A reference to another segment, by index into [`Catalog::segments`].
    Segment(usize),
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
}

/// `feature NAME = EXPR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feature {
    pub name: String,
    pub expr: ValueExpr,
    pub ty: Type,
    pub loc: Location,
}

/// `segment NAME = PRED`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    pub pred: Pred,
    pub loc: Location,
    /// Content hash of the resolved definition, including everything it references
    /// (features inlined, referenced segments' hashes): 16 hex digits.
    pub hash: String,
}

/// A checked catalog, possibly assembled from several files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    pub users: Vec<Column>,
    pub events: Vec<Column>,
    pub features: Vec<Feature>,
    pub segments: Vec<Segment>,
}

impl Catalog {
    /// The type of an event field.
    pub fn event_field_type(&self, field: EventField) -> Type {
        match field {
            EventField::Ts => Type::Time,
            EventField::Kind => Type::Text,
            EventField::Column(i) => self.events[i].ty,
        }
    }

    /// The name of an event field as written in a catalog.
    pub fn event_field_name(&self, field: EventField) -> &str {
        match field {
            EventField::Ts => "ts",
            EventField::Kind => "kind",
            EventField::Column(i) => &self.events[i].name,
        }
    }

    pub fn segment_index(&self, name: &str) -> Option<usize> {
        self.segments.iter().position(|s| s.name == name)
    }
}
