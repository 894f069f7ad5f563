//! The checked catalog: what the checker produces and the planner and the reference
//! evaluator consume.
//!
//! Everything here is resolved: names are indices, feature references are inlined (so
//! identical aggregates written by name or inline are structurally equal and can be
//! shared), literals carry the type of the side they are compared with, and `now ± D`
//! is folded into a single offset.

use std::fmt;
use std::sync::Arc;

use crate::arith::{self, ArithOp, Func};
use crate::value::{CmpOp, Type, Value};

/// Where something was written: `file:line:col`, 1-based.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// The file's name as it was given to [`load`](crate::catalog::load) or
    /// [`check_sources`](crate::catalog::check_sources).
    pub file: Arc<str>,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, counted in characters rather than bytes.
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
    /// Name as declared; unique within its table.
    pub name: String,
    /// Declared type; every declaration of the column has this one.
    pub ty: Type,
    /// Where the column's name is first declared.
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
    /// A field of the event being tested.
    Field(EventField),
    /// A literal, already of the other side's type (a number compared with `ts` is a
    /// [`Value::Time`]).
    Const(Value),
}

/// A predicate over one event's own fields (an aggregate's `where`). Evaluated row by
/// row: a comparison with a missing field is false and `not` is plain negation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventPred {
    /// `true` or `false`.
    Const(bool),
    /// `left op right`; false when either side is missing.
    Cmp(EventOperand, CmpOp, EventOperand),
    /// `operand [not] in (v1, v2, ...)`; false when the operand is missing, negated or not.
    In {
        /// The value looked up in `list`.
        operand: EventOperand,
        /// The listed literals, all of the operand's type.
        list: Vec<Value>,
        /// Whether it was written `not in`.
        negated: bool,
    },
    /// `a and b`.
    And(Box<EventPred>, Box<EventPred>),
    /// `a or b`.
    Or(Box<EventPred>, Box<EventPred>),
    /// `not p`: plain negation, so true where `p` is false because a field is missing.
    Not(Box<EventPred>),
}

/// An aggregate function over a user's events.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AggFunc {
    /// `count` of events, or of events with the field present; 0 over none.
    Count,
    /// `sum` of a number field; 0 over no events.
    Sum,
    /// `min` of a number, time or text field; missing over no events.
    Min,
    /// `max` of a number, time or text field; missing over no events.
    Max,
    /// `avg`: the exact decimal mean of a number field; missing over no events.
    Avg,
    /// `count_distinct`: distinct values of a field, missing ones aside; 0 over none.
    CountDistinct,
    /// The middle value of a number field; the mean of the two middle values when
    /// their count is even.
    Median,
}

impl AggFunc {
    /// The function's name as written in a catalog.
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
    /// The aggregate function.
    pub func: AggFunc,
    /// The aggregated field; `None` only for `count(events)`, which counts events.
    pub field: Option<EventField>,
    /// The `where` clause; `None` keeps every event.
    pub filter: Option<EventPred>,
    /// Window length in seconds.
    pub within: Option<u64>,
}

/// Which version of a model a score reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScoreVersion {
    /// The model's active version (any version while it has none).
    Active,
    /// This version, always.
    Fixed(Arc<str>),
}

impl ScoreVersion {
    /// `score('m')` or `score('m', 'v')`, as written.
    pub fn call(&self, model: &str) -> String {
        let quoted = |s: &str| format!("'{}'", s.replace('\'', "''"));
        match self {
            ScoreVersion::Active => format!("score({})", quoted(model)),
            ScoreVersion::Fixed(version) => {
                format!("score({}, {})", quoted(model), quoted(version))
            }
        }
    }
}

/// A per-user value at logical time `now`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueExpr {
    /// A literal, already of the other side's type (a number compared with a time is a
    /// [`Value::Time`]).
    Const(Value),
    /// `now + offset` seconds (`now - 14d` has offset `-1209600`); type `time`.
    Now(i64),
    /// `users.ATTR`, by index into [`Catalog::users`].
    Attr(usize),
    /// `score('model')` or `score('model', 'version')`: the latest score of that
    /// model's version at or before `now`.
    Score(Arc<str>, ScoreVersion),
    /// An aggregate over the user's events with `ts <= now` (and within its window).
    Agg(Aggregate),
    /// `days_since(x)` of a per-user time read from the data (an attribute or an
    /// aggregate): the whole days from `x` to `now`, `floor((now - x) / 86400)`, a
    /// number that changes only at the day boundaries after `x` (negative while `x`
    /// is ahead of `now`).
    DaysSince(Box<ValueExpr>),
    /// `-x` of a number.
    Neg(Box<ValueExpr>),
    /// `left op right` of two numbers ([`ArithOp::apply`]).
    Arith(Box<ValueExpr>, ArithOp, Box<ValueExpr>),
    /// A function of per-user values ([`Func::apply`]).
    Func(Func, Vec<ValueExpr>),
    /// `if(condition, then, otherwise)`: `otherwise` wherever the condition does not
    /// hold (a comparison with a missing value does not).
    If(Box<Pred>, Box<ValueExpr>, Box<ValueExpr>),
    /// A condition used as a number: 1 where it holds, 0 elsewhere.
    Truth(Box<Pred>),
    /// An exact number converted to the nearest double, where it meets an approximate
    /// one: the checker makes every such conversion explicit, so that whether a value
    /// is exact follows from the expression alone ([`ValueExpr::is_approximate`]).
    Approx(Box<ValueExpr>),
}

impl ValueExpr {
    /// Whether the value is an approximate number (a double): `/`, `ln`, `exp`, `sqrt`
    /// and `logistic` make one, and arithmetic over one stays one.
    pub fn is_approximate(&self) -> bool {
        match self {
            ValueExpr::Approx(_) => true,
            ValueExpr::Arith(_, ArithOp::Div, _) => true,
            ValueExpr::Func(func, _) if func.is_approximate() => true,
            ValueExpr::Arith(l, _, r) => l.is_approximate() || r.is_approximate(),
            ValueExpr::Neg(x) => x.is_approximate(),
            ValueExpr::Func(_, args) => args.iter().any(ValueExpr::is_approximate),
            ValueExpr::If(_, then, otherwise) => {
                then.is_approximate() || otherwise.is_approximate()
            }
            ValueExpr::Const(v) => matches!(v, Value::Float(_)),
            ValueExpr::Now(_)
            | ValueExpr::Attr(_)
            | ValueExpr::Score(..)
            | ValueExpr::Agg(_)
            | ValueExpr::DaysSince(_)
            | ValueExpr::Truth(_) => false,
        }
    }

    /// The value of an expression computed from its parts: `leaf` gives the values of
    /// constants, `now` and per-user values, `holds` decides the conditions inside
    /// (`if`, a condition used as a number); the arithmetic is [`crate::arith`]'s.
    pub fn compute(
        &self,
        leaf: &dyn Fn(&ValueExpr) -> Value,
        holds: &dyn Fn(&Pred) -> bool,
    ) -> Value {
        let value = |e: &ValueExpr| e.compute(leaf, holds);
        match self {
            ValueExpr::Neg(x) => arith::negate(&value(x)),
            ValueExpr::Arith(l, op, r) => op.apply(&value(l), &value(r)),
            ValueExpr::Func(func, args) => func.apply(&args.iter().map(value).collect::<Vec<_>>()),
            ValueExpr::If(cond, then, otherwise) => match holds(cond) {
                true => value(then),
                false => value(otherwise),
            },
            ValueExpr::Truth(cond) => arith::truth(holds(cond)),
            ValueExpr::Approx(x) => arith::approximate(&value(x)),
            ValueExpr::Const(_)
            | ValueExpr::Now(_)
            | ValueExpr::Attr(_)
            | ValueExpr::Score(..)
            | ValueExpr::Agg(_)
            | ValueExpr::DaysSince(_) => leaf(self),
        }
    }

    /// Whether this is a per-user value read from the data (an attribute, a score, an
    /// aggregate, the days since one) rather than a constant, `now` or a computation.
    pub fn is_per_user(&self) -> bool {
        matches!(
            self,
            ValueExpr::Attr(_) | ValueExpr::Score(..) | ValueExpr::Agg(_) | ValueExpr::DaysSince(_)
        )
    }

    /// Whether the value reads `now` anywhere.
    pub fn mentions_now(&self) -> bool {
        let mut found = false;
        self.visit(&mut |expr| found |= matches!(expr, ValueExpr::Now(_)));
        found
    }

    /// Calls `each` on this value and every value inside it (conditions' sides too),
    /// parents first.
    pub fn visit<'e>(&'e self, each: &mut impl FnMut(&'e ValueExpr)) {
        each(self);
        match self {
            ValueExpr::Const(_)
            | ValueExpr::Now(_)
            | ValueExpr::Attr(_)
            | ValueExpr::Score(..)
            | ValueExpr::Agg(_) => {}
            ValueExpr::Neg(x) | ValueExpr::Approx(x) | ValueExpr::DaysSince(x) => x.visit(each),
            ValueExpr::Arith(l, _, r) => {
                l.visit(each);
                r.visit(each);
            }
            ValueExpr::Func(_, args) => args.iter().for_each(|a| a.visit(each)),
            ValueExpr::If(cond, then, otherwise) => {
                cond.visit_values(each);
                then.visit(each);
                otherwise.visit(each);
            }
            ValueExpr::Truth(cond) => cond.visit_values(each),
        }
    }
}

/// A segment's membership predicate.
///
/// Comparisons with a missing value are false; `Not` is the complement over the
/// universe (every user known at `now`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pred {
    /// `true` or `false`.
    Const(bool),
    /// `left op right`; false when either side is missing.
    Cmp(ValueExpr, CmpOp, ValueExpr),
    /// `expr [not] in (v1, ...)`; false when `expr` is missing, negated or not.
    In {
        /// The value looked up in `list`.
        expr: ValueExpr,
        /// The listed literals, all of `expr`'s type.
        list: Vec<Value>,
        /// Whether it was written `not in`.
        negated: bool,
    },
    /// A reference to another segment, by index into [`Catalog::segments`].
    Segment(usize),
    /// `a and b`.
    And(Box<Pred>, Box<Pred>),
    /// `a or b`.
    Or(Box<Pred>, Box<Pred>),
    /// `not p`: the users of the universe for whom `p` does not hold.
    Not(Box<Pred>),
}

impl Pred {
    /// Calls `each` with every segment the predicate names (not through them).
    pub fn visit_segments(&self, each: &mut impl FnMut(usize)) {
        match self {
            Pred::Segment(index) => each(*index),
            Pred::Const(_) | Pred::Cmp(..) | Pred::In { .. } => {}
            Pred::And(a, b) | Pred::Or(a, b) => {
                a.visit_segments(each);
                b.visit_segments(each);
            }
            Pred::Not(p) => p.visit_segments(each),
        }
    }

    /// Calls [`ValueExpr::visit`] on every value the predicate compares (not through
    /// segment references).
    pub fn visit_values<'e>(&'e self, each: &mut impl FnMut(&'e ValueExpr)) {
        match self {
            Pred::Const(_) | Pred::Segment(_) => {}
            Pred::Cmp(l, _, r) => {
                l.visit(each);
                r.visit(each);
            }
            Pred::In { expr, .. } => expr.visit(each),
            Pred::And(a, b) | Pred::Or(a, b) => {
                a.visit_values(each);
                b.visit_values(each);
            }
            Pred::Not(p) => p.visit_values(each),
        }
    }

    /// The same predicate with every segment reference `i` replaced by `renumber(i)`.
    pub fn renumbered(&self, renumber: &impl Fn(usize) -> usize) -> Pred {
        match self {
            Pred::Segment(index) => Pred::Segment(renumber(*index)),
            Pred::And(a, b) => Pred::And(
                Box::new(a.renumbered(renumber)),
                Box::new(b.renumbered(renumber)),
            ),
            Pred::Or(a, b) => Pred::Or(
                Box::new(a.renumbered(renumber)),
                Box::new(b.renumbered(renumber)),
            ),
            Pred::Not(inner) => Pred::Not(Box::new(inner.renumbered(renumber))),
            Pred::Const(_) | Pred::Cmp(..) | Pred::In { .. } => self.clone(),
        }
    }

    /// The segments this predicate refers to by name (directly, not through them).
    pub fn referenced_segments(&self, out: &mut Vec<usize>) {
        match self {
            Pred::Segment(index) => {
                if !out.contains(index) {
                    out.push(*index);
                }
            }
            Pred::And(a, b) | Pred::Or(a, b) => {
                a.referenced_segments(out);
                b.referenced_segments(out);
            }
            Pred::Not(inner) => inner.referenced_segments(out),
            Pred::Const(_) | Pred::Cmp(..) | Pred::In { .. } => {}
        }
    }
}

/// `feature NAME = EXPR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feature {
    /// Unique across the catalog's features and segments (they share one namespace).
    pub name: String,
    /// The feature's value, with references to other features inlined.
    pub expr: ValueExpr,
    /// The type of `expr`.
    pub ty: Type,
    /// Whether it was declared as a model (`model NAME = EXPR`): computed like any
    /// feature, it makes the segments that read it model-based.
    pub model: bool,
    /// Where the feature's name is written in its definition.
    pub loc: Location,
}

/// `segment NAME = PRED`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Unique across the catalog's features and segments (they share one namespace).
    pub name: String,
    /// Membership predicate, with feature references inlined.
    pub pred: Pred,
    /// Where the segment's name is written in its definition.
    pub loc: Location,
    /// Content hash of the resolved definition, including everything it references
    /// (features inlined, referenced segments' hashes): 16 hex digits.
    pub hash: String,
    /// The definition as written: `segment NAME = ` and the predicate's source text.
    pub text: String,
}

/// A checked catalog, possibly assembled from several files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Attribute columns of `users`, in declaration order (the order of
    /// [`UserRow::attrs`](crate::data::UserRow::attrs)).
    pub users: Vec<Column>,
    /// Columns of `events` beyond `user_id,ts,kind`, in declaration order (the order of
    /// [`EventRow::fields`](crate::data::EventRow::fields)).
    pub events: Vec<Column>,
    /// Every feature, in definition order (files in the order given, then file order).
    pub features: Vec<Feature>,
    /// Every segment, in definition order (files in the order given, then file order);
    /// [`Pred::Segment`] indexes it.
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

    /// The index into [`Catalog::segments`] of the segment named `name`.
    pub fn segment_index(&self, name: &str) -> Option<usize> {
        self.segments.iter().position(|s| s.name == name)
    }

    /// The catalog that computes segment `segment`: it and the segments it refers to,
    /// directly or not, in catalog order (every feature and the schema kept). Its
    /// segment is the last one.
    pub fn closure(&self, segment: usize) -> Catalog {
        let mut needed = vec![segment];
        let mut next = 0;
        while let Some(&at) = needed.get(next) {
            let mut referenced = Vec::new();
            self.segments[at].pred.referenced_segments(&mut referenced);
            for index in referenced {
                if !needed.contains(&index) {
                    needed.push(index);
                }
            }
            next += 1;
        }
        needed.sort_unstable_by_key(|&index| (index == segment, index));
        let renumbered = |index: usize| {
            needed
                .iter()
                .position(|&kept| kept == index)
                .expect("a referenced segment is kept")
        };
        Catalog {
            users: self.users.clone(),
            events: self.events.clone(),
            features: self.features.clone(),
            segments: needed
                .iter()
                .map(|&index| {
                    let mut kept = self.segments[index].clone();
                    kept.pred = kept.pred.renumbered(&renumbered);
                    kept
                })
                .collect(),
        }
    }
}
