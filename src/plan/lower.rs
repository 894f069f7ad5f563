//! Lowering: a checked catalog to the plan's interned sources, operands, atoms and sets.
//!
//! Every node is interned, so identical ones are created once: a feature written by
//! name and the same aggregate written inline share their operand, and the same
//! comparison in two segments is one atom. Predicates become set nodes with nested
//! `and`/`or` flattened, constants folded and double negation removed.

use std::collections::HashMap;

use crate::catalog::ir::{Aggregate, Catalog, Pred, ValueExpr};

use super::atom::{Atom, Term, Test};
use super::set::SetNode;
use super::source::{EventSelection, Family, Operand, Read, Source};
use super::Plan;

/// The event source an aggregate reads.
fn aggregate_source(agg: &Aggregate) -> Source {
    Source::Events {
        family: Family::of(agg.func),
        selection: EventSelection {
            field: agg.field,
            filter: agg.filter.clone(),
            within: agg.within,
        },
    }
}

/// Interns nodes so identical ones are created once.
#[derive(Default)]
pub(super) struct Builder {
    pub(super) plan: Plan,
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
    pub(super) fn operand(&mut self, expr: &ValueExpr) -> Option<usize> {
        let (source, read) = match expr {
            ValueExpr::Const(_) | ValueExpr::Now(_) => return None,
            ValueExpr::Attr(i) => (Source::Attr(*i), Read::Value),
            ValueExpr::Score(model) => (Source::Score(model.clone()), Read::Value),
            ValueExpr::Agg(agg) => (aggregate_source(agg), Read::Aggregate(agg.func)),
        };
        let operand = Operand {
            source: self.source(source),
            read,
            default: read.default_value(),
        };
        let operands = &mut self.plan.operands;
        Some(*self.operands.entry(operand.clone()).or_insert_with(|| {
            operands.push(operand);
            operands.len() - 1
        }))
    }

    fn set(&mut self, node: SetNode) -> usize {
        let sets = &mut self.plan.sets;
        *self.sets.entry(node.clone()).or_insert_with(|| {
            sets.push(node);
            sets.len() - 1
        })
    }

    pub(super) fn segment(
        &mut self,
        catalog: &Catalog,
        index: usize,
        memo: &mut Vec<Option<usize>>,
    ) -> usize {
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
