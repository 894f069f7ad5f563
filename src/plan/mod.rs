//! The plan: a catalog lowered to a DAG of shared nodes, before any dataflow exists.
//!
//! Planning is where sharing happens. Every per-user value a catalog mentions becomes an
//! [`Operand`] over a [`Source`] (the per-user state an aggregate keeps); identical
//! sources and operands are created once, whether they were written as named features or
//! inline. Every predicate becomes a [`SetNode`]: a set of users, combined with
//! semijoins (`and`), unions (`or`) and complements against the universe (`not`).
//! Identical set nodes are shared too, so a segment that references another reuses its
//! set, and the same comparison in two segments is computed once.

mod atom;
mod describe;
mod intervals;

use std::collections::HashMap;
use std::sync::Arc;

pub use atom::{Atom, Term, Test};
pub use describe::describe;
pub use intervals::Interval;

use crate::catalog::ir::{AggFunc, Aggregate, Catalog, EventField, EventPred, Pred, ValueExpr};
use crate::value::Value;

/// Per-user state kept by the dataflow, from which operands read their values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Count and exact sum of the matching events (those with a non-missing `field`, or
    /// all matching events when `field` is `None`), carried in the difference type so no
    /// per-event state is kept. Serves `count`, `sum` and `avg`.
    Linear(EventSelection),
    /// The least or greatest value of `field` over the matching events (a reduce).
    Extreme {
        max: bool,
        selection: EventSelection,
    },
    /// The number of distinct values of `field` over the matching events.
    Distinct(EventSelection),
    /// The latest score of a model.
    Score(Arc<str>),
    /// A `users` attribute, by column index.
    Attr(usize),
}

/// Which events an aggregate looks at, and which field it reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventSelection {
    pub field: Option<EventField>,
    pub filter: Option<EventPred>,
    pub within: Option<u64>,
}

/// How an operand's value is read from its source's per-user row.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Projection {
    Count,
    Sum,
    Avg,
    /// The source's row already holds the value (extremes, distinct counts, scores,
    /// attributes).
    Value,
}

/// A per-user value: a projection of a source. Users without a source row take
/// `default` (0 for counts and sums, missing otherwise).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Operand {
    pub source: usize,
    pub projection: Projection,
    pub default: Value,
}

/// A set of users at every logical time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetNode {
    /// Every user known at the time.
    Universe,
    Empty,
    /// The users for which an atom's result differs from its result on default values
    /// (see [`Atom`]); complemented when the default result is true.
    Exceptions(usize),
    And(Vec<usize>),
    Or(Vec<usize>),
    /// The universe minus a set (every set is a subset of the universe).
    Not(usize),
}

/// A lowered catalog.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub sources: Vec<Source>,
    pub operands: Vec<Operand>,
    pub atoms: Vec<Atom>,
    pub sets: Vec<SetNode>,
    /// The set node of each segment, in catalog order.
    pub segments: Vec<usize>,
    /// The names of the catalog's features, by operand, for explaining the plan.
    pub feature_names: HashMap<usize, Vec<String>>,
}

impl Plan {
    /// Lowers a checked catalog.
    pub fn new(catalog: &Catalog) -> Plan {
        let mut builder = Builder::default();
        for feature in &catalog.features {
            if let Some(operand) = builder.operand(&feature.expr) {
                builder
                    .plan
                    .feature_names
                    .entry(operand)
                    .or_default()
                    .push(feature.name.clone());
            }
        }
        let mut segment_sets = vec![None; catalog.segments.len()];
        for index in 0..catalog.segments.len() {
            let set = builder.segment(catalog, index, &mut segment_sets);
            builder.plan.segments.push(set);
        }
        builder.plan
    }

    /// Whether any atom depends on `now` or any source has a window: such plans change
    /// membership as time passes even without new input.
    pub fn is_time_dependent(&self) -> bool {
        self.atoms.iter().any(Atom::mentions_now)
            || self
                .sources
                .iter()
                .any(|s| s.selection().is_some_and(|sel| sel.within.is_some()))
    }
}

impl Source {
    pub fn selection(&self) -> Option<&EventSelection> {
        match self {
            Source::Linear(sel) | Source::Distinct(sel) => Some(sel),
            Source::Extreme { selection, .. } => Some(selection),
            Source::Score(_) | Source::Attr(_) => None,
        }
    }
}

/// Interns nodes so identical ones are created once.
#[derive(Default)]
struct Builder {
    plan: Plan,
    sources: HashMap<Source, usize>,
    operands: HashMap<Operand, usize>,
    atoms: HashMap<Atom, usize>,
    sets: HashMap<SetNode, usize>,
}

impl Builder {
    fn source(&mut self, source: Source) -> usize {
        let sources = &mut self.plan.sources;
        *self.sources.entry(source.clone()).or_insert_with(|| {
            sources.push(source);
            sources.len() - 1
        })
    }

    /// The operand for a per-user value expression; `None` for constants and `now`.
    fn operand(&mut self, expr: &ValueExpr) -> Option<usize> {
        let zero = Value::Number(0.into());
        let (source, projection, default) = match expr {
            ValueExpr::Const(_) | ValueExpr::Now(_) => return None,
            ValueExpr::Attr(i) => (Source::Attr(*i), Projection::Value, Value::Null),
            ValueExpr::Score(model) => {
                (Source::Score(model.clone()), Projection::Value, Value::Null)
            }
            ValueExpr::Agg(agg) => Self::aggregate_source(agg, zero),
        };
        let operand = Operand {
            source: self.source(source),
            projection,
            default,
        };
        let operands = &mut self.plan.operands;
        Some(*self.operands.entry(operand.clone()).or_insert_with(|| {
            operands.push(operand);
            operands.len() - 1
        }))
    }

    fn aggregate_source(agg: &Aggregate, zero: Value) -> (Source, Projection, Value) {
        let selection = EventSelection {
            field: agg.field,
            filter: agg.filter.clone(),
            within: agg.within,
        };
        match agg.func {
            AggFunc::Count => (Source::Linear(selection), Projection::Count, zero),
            AggFunc::Sum => (Source::Linear(selection), Projection::Sum, zero),
            AggFunc::Avg => (Source::Linear(selection), Projection::Avg, Value::Null),
            AggFunc::Min | AggFunc::Max => {
                let max = agg.func == AggFunc::Max;
                (
                    Source::Extreme { max, selection },
                    Projection::Value,
                    Value::Null,
                )
            }
            AggFunc::CountDistinct => (Source::Distinct(selection), Projection::Value, zero),
        }
    }

    fn set(&mut self, node: SetNode) -> usize {
        let sets = &mut self.plan.sets;
        *self.sets.entry(node.clone()).or_insert_with(|| {
            sets.push(node);
            sets.len() - 1
        })
    }

    fn segment(&mut self, catalog: &Catalog, index: usize, memo: &mut Vec<Option<usize>>) -> usize {
        if let Some(set) = memo[index] {
            return set;
        }
        let set = self.pred(catalog, &catalog.segments[index].pred, memo);
        memo[index] = Some(set);
        set
    }

    fn pred(&mut self, catalog: &Catalog, pred: &Pred, memo: &mut Vec<Option<usize>>) -> usize {
        match pred {
            Pred::Const(true) => self.set(SetNode::Universe),
            Pred::Const(false) => self.set(SetNode::Empty),
            Pred::Segment(index) => self.segment(catalog, *index, memo),
            Pred::Not(inner) => {
                let inner = self.pred(catalog, inner, memo);
                self.not(inner)
            }
            Pred::And(l, r) => {
                let (l, r) = (self.pred(catalog, l, memo), self.pred(catalog, r, memo));
                self.combine(l, r, true)
            }
            Pred::Or(l, r) => {
                let (l, r) = (self.pred(catalog, l, memo), self.pred(catalog, r, memo));
                self.combine(l, r, false)
            }
            Pred::Cmp(left, op, right) => {
                let left = self.term(left);
                let right = self.term(right);
                self.atom(Test::Cmp(left, *op, right))
            }
            Pred::In {
                expr,
                list,
                negated,
            } => {
                let term = self.term(expr);
                self.atom(Test::In {
                    term,
                    list: list.clone(),
                    negated: *negated,
                })
            }
        }
    }

    fn term(&mut self, expr: &ValueExpr) -> Term {
        match expr {
            ValueExpr::Const(v) => Term::Const(v.clone()),
            ValueExpr::Now(offset) => Term::Now(*offset),
            other => Term::Operand(self.operand(other).expect("per-user value has an operand")),
        }
    }

    /// An atom's set: constant atoms fold to the universe or nothing; otherwise the
    /// exceptions to the default result, complemented when that default is true.
    fn atom(&mut self, test: Test) -> usize {
        let atom = Atom::new(test, &self.plan.operands);
        if let Some(constant) = atom.constant() {
            return self.set(if constant {
                SetNode::Universe
            } else {
                SetNode::Empty
            });
        }
        let default = atom.default_result();
        let atoms = &mut self.plan.atoms;
        let index = *self.atoms.entry(atom.clone()).or_insert_with(|| {
            atoms.push(atom);
            atoms.len() - 1
        });
        let exceptions = self.set(SetNode::Exceptions(index));
        if default {
            self.not(exceptions)
        } else {
            exceptions
        }
    }

    fn not(&mut self, inner: usize) -> usize {
        match self.plan.sets[inner] {
            SetNode::Not(twice) => twice,
            SetNode::Universe => self.set(SetNode::Empty),
            SetNode::Empty => self.set(SetNode::Universe),
            _ => self.set(SetNode::Not(inner)),
        }
    }

    /// `and` (when `conjunction`) or `or` of two sets, flattening nested chains and
    /// folding the universe and the empty set.
    fn combine(&mut self, left: usize, right: usize, conjunction: bool) -> usize {
        let (identity, absorbing) = if conjunction {
            (SetNode::Universe, SetNode::Empty)
        } else {
            (SetNode::Empty, SetNode::Universe)
        };
        let mut parts = Vec::new();
        for side in [left, right] {
            let node = &self.plan.sets[side];
            if *node == absorbing {
                return side;
            }
            if *node == identity {
                continue;
            }
            match (node, conjunction) {
                (SetNode::And(inner), true) | (SetNode::Or(inner), false) => {
                    parts.extend(inner.iter().copied())
                }
                _ => parts.push(side),
            }
        }
        parts.sort_unstable();
        parts.dedup();
        match parts.len() {
            0 => self.set(identity),
            1 => parts[0],
            _ if conjunction => self.set(SetNode::And(parts)),
            _ => self.set(SetNode::Or(parts)),
        }
    }
}
