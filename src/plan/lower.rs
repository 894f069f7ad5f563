//! Lowering: a checked catalog to a [`Plan`] of interned sources, operands, atoms and
//! sets, and the physical plan that says how to compute them.
//!
//! Every node is interned, so identical ones are created once: a feature written by
//! name and the same aggregate written inline share their operand, and the same
//! comparison in two segments is one atom. Predicates become set nodes with nested
//! `and`/`or` flattened, constants folded and double negation removed.

use std::collections::HashMap;

use crate::catalog::ir::{Aggregate, Catalog, Pred, ValueExpr};

use super::atom::{Atom, Term, Test};
use super::physical::{Explain, Physical};
use super::set::SetNode;
use super::source::{EventSelection, Family, Operand, Read, Source};

/// A lowered catalog and how to compute it.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Distinct sources, each created once; [`Operand::source`] indexes them.
    pub sources: Vec<Source>,
    /// Distinct per-user values that atoms compare; [`Term::Operand`] indexes them.
    pub operands: Vec<Operand>,
    /// Distinct comparisons; [`SetNode::Exceptions`] indexes them.
    pub atoms: Vec<Atom>,
    /// Set nodes; each refers only to nodes before it.
    pub sets: Vec<SetNode>,
    /// The set node of each segment, in catalog order.
    pub segments: Vec<usize>,
    /// The names of the catalog's features, by operand, for explaining the plan.
    pub feature_names: HashMap<usize, Vec<String>>,
    /// How the dataflow computes the nodes above.
    pub physical: Physical,
}

impl Plan {
    /// Lowers a checked catalog and plans its dataflow.
    pub fn new(catalog: &Catalog) -> Plan {
        Plan::with(catalog, Explain::Off)
    }

    /// Lowers a checked catalog and plans its dataflow, keeping every operand's value
    /// by user when `explain` is on.
    pub fn with(catalog: &Catalog, explain: Explain) -> Plan {
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
        let mut plan = builder.plan;
        plan.physical = Physical::new(&plan.sources, &plan.operands, &plan.atoms, explain);
        plan
    }

    /// The operand a per-user value expression reads; `None` for constants, `now`
    /// and expressions the plan does not hold.
    pub fn operand_of(&self, expr: &ValueExpr) -> Option<usize> {
        let (source, read) = operand_parts(expr)?;
        self.operand_reading(&source, read)
    }

    /// The operand that reads `source` as `read`, if the plan has it.
    pub fn operand_reading(&self, source: &Source, read: Read) -> Option<usize> {
        let source = self.sources.iter().position(|s| s == source)?;
        (self.operands.iter()).position(|o| o.source == source && o.read == read)
    }
}

/// The source and read of the operand for a per-user value expression.
fn operand_parts(expr: &ValueExpr) -> Option<(Source, Read)> {
    match expr {
        ValueExpr::Const(_)
        | ValueExpr::Now(_)
        | ValueExpr::Neg(_)
        | ValueExpr::Arith(..)
        | ValueExpr::Func(..)
        | ValueExpr::If(..)
        | ValueExpr::Truth(_)
        | ValueExpr::Approx(_) => None,
        ValueExpr::Attr(i) => Some((Source::Attr(*i), Read::Value)),
        ValueExpr::Score(model, version) => {
            Some((Source::Score(model.clone(), version.clone()), Read::Value))
        }
        ValueExpr::Agg(agg) => Some((aggregate_source(agg), Read::Aggregate(agg.func))),
        ValueExpr::DaysSince(x) => {
            let (of, read) = operand_parts(x)?;
            let of = Box::new(of);
            Some((Source::DaysSince { of, read }, Read::Value))
        }
    }
}

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
    /// The days since a time need the time's operand too: the day clock reads its rows.
    fn operand(&mut self, expr: &ValueExpr) -> Option<usize> {
        if let ValueExpr::DaysSince(x) = expr {
            self.operand(x);
        }
        let (source, read) = operand_parts(expr)?;
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
            Pred::Cmp(..) | Pred::In { .. } => {
                let test = self.test(pred);
                self.atom(test)
            }
        }
    }

    /// A comparison, or (inside a term) a condition over one user's values.
    fn test(&mut self, pred: &Pred) -> Test {
        match pred {
            Pred::Cmp(left, op, right) => Test::Cmp(self.term(left), *op, self.term(right)),
            Pred::In {
                expr,
                list,
                negated,
            } => Test::In {
                term: self.term(expr),
                list: list.clone(),
                negated: *negated,
            },
            Pred::Const(b) => Test::Const(*b),
            Pred::And(a, b) => Test::And(Box::new(self.test(a)), Box::new(self.test(b))),
            Pred::Or(a, b) => Test::Or(Box::new(self.test(a)), Box::new(self.test(b))),
            Pred::Not(a) => Test::Not(Box::new(self.test(a))),
            Pred::Segment(_) => unreachable!("the checker refuses segments inside values"),
        }
    }

    fn term(&mut self, expr: &ValueExpr) -> Term {
        let boxed = |this: &mut Self, x: &ValueExpr| Box::new(this.term(x));
        match expr {
            ValueExpr::Const(v) => Term::Const(v.clone()),
            ValueExpr::Now(offset) => Term::Now(*offset),
            ValueExpr::Neg(x) => Term::Neg(boxed(self, x)),
            ValueExpr::Approx(x) => Term::Approx(boxed(self, x)),
            ValueExpr::Arith(l, op, r) => Term::Arith(boxed(self, l), *op, boxed(self, r)),
            ValueExpr::Func(func, args) => {
                Term::Func(*func, args.iter().map(|a| self.term(a)).collect())
            }
            ValueExpr::If(cond, then, otherwise) => Term::If(
                Box::new(self.test(cond)),
                boxed(self, then),
                boxed(self, otherwise),
            ),
            ValueExpr::Truth(cond) => Term::Truth(Box::new(self.test(cond))),
            ValueExpr::Attr(_)
            | ValueExpr::Score(..)
            | ValueExpr::Agg(_)
            | ValueExpr::DaysSince(_) => {
                Term::Operand(self.operand(expr).expect("per-user value has an operand"))
            }
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
