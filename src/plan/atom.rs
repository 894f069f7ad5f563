//! Atoms: the comparisons at the leaves of segment predicates.
//!
//! An atom compares per-user operands, constants and `now`. Its set is computed from
//! the rows of its operands only, never from the whole universe: users without rows
//! take the operands' defaults, so they all share one *default result*. The dataflow
//! computes the *exceptions* — users whose rows give a different result — and the
//! planner complements them when the default result is true (`purchases < 3` is "the
//! universe minus the users with at least three purchases").

use crate::value::{CmpOp, Value};

use super::intervals::{self, Interval};
use super::source::Operand;

/// One side of a comparison.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Term {
    /// A per-user operand, by index into
    /// [`Plan::operands`](crate::plan::Plan::operands).
    Operand(usize),
    /// A constant, already of the other side's type.
    Const(Value),
    /// `now + offset` seconds.
    Now(i64),
}

/// The comparison an atom makes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Test {
    /// `left op right`; false when either side is missing.
    Cmp(Term, CmpOp, Term),
    /// `term [not] in (list)`; false when `term` is missing, negated or not.
    In {
        /// The value looked up in `list`.
        term: Term,
        /// The listed constants, of `term`'s type.
        list: Vec<Value>,
        /// Whether it is `not in`.
        negated: bool,
    },
}

/// A test with its operands' defaults resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Atom {
    /// The comparison.
    pub test: Test,
    /// The distinct operands the test reads, in order of appearance.
    pub operands: Vec<usize>,
    /// The value of each of `operands` for a user without a row.
    pub defaults: Vec<Value>,
}

impl Atom {
    /// The atom making `test`, with its operands' defaults taken from `all_operands`
    /// (the plan's operands, which [`Term::Operand`] indexes).
    pub fn new(test: Test, all_operands: &[Operand]) -> Atom {
        let mut operands = Vec::new();
        for term in test.terms() {
            if let Term::Operand(o) = term {
                if !operands.contains(o) {
                    operands.push(*o);
                }
            }
        }
        let defaults = operands
            .iter()
            .map(|&o| all_operands[o].default.clone())
            .collect();
        Atom {
            test,
            operands,
            defaults,
        }
    }

    /// Whether the test reads `now`, so that its result can change with time alone.
    pub fn mentions_now(&self) -> bool {
        self.test.terms().any(|t| matches!(t, Term::Now(_)))
    }

    /// The result when the atom depends on neither operands nor time.
    pub fn constant(&self) -> Option<bool> {
        (self.operands.is_empty() && !self.mentions_now()).then(|| self.evaluate(&[], 0))
    }

    /// The result for a user without any operand row.
    ///
    /// Atoms that mention `now` compare it with time-valued operands, whose default is
    /// missing, so their default result is false at every time; atoms without operands
    /// that mention `now` are evaluated over the universe and also report false here.
    pub fn default_result(&self) -> bool {
        if self.mentions_now() {
            debug_assert!(
                self.defaults.iter().all(Value::is_null),
                "time operands default to missing"
            );
            return false;
        }
        self.evaluate(&self.defaults, 0)
    }

    /// The result for operand values given in the order of [`Atom::operands`].
    pub fn evaluate(&self, values: &[Value], now: u64) -> bool {
        let value = |term: &Term| match term {
            Term::Operand(o) => values[self.slot(*o)].clone(),
            Term::Const(v) => v.clone(),
            Term::Now(offset) => Value::Time((now as i64).saturating_add(*offset)),
        };
        match &self.test {
            Test::Cmp(l, op, r) => op.apply(&value(l), &value(r)),
            Test::In {
                term,
                list,
                negated,
            } => {
                let v = value(term);
                !v.is_null() && list.iter().any(|x| CmpOp::Eq.apply(&v, x)) != *negated
            }
        }
    }

    /// For an atom that mentions `now`: the times at which it holds, given the operand
    /// values in the order of [`Atom::operands`].
    pub fn intervals(&self, values: &[Value]) -> Vec<Interval> {
        let value = |term: &Term| match term {
            Term::Operand(o) => values[self.slot(*o)].clone(),
            Term::Const(v) => v.clone(),
            Term::Now(_) => unreachable!("handled by the caller"),
        };
        match &self.test {
            Test::Cmp(Term::Now(a), op, Term::Now(b)) => intervals::solve_now_pair(*a, *op, *b),
            Test::Cmp(Term::Now(offset), op, other) => {
                intervals::solve(*offset, *op, &value(other))
            }
            Test::Cmp(other, op, Term::Now(offset)) => {
                intervals::solve(*offset, op.flipped(), &value(other))
            }
            Test::In {
                term: Term::Now(offset),
                list,
                negated,
            } => intervals::solve_in(*offset, list, *negated),
            _ => {
                if self.evaluate(values, 0) {
                    vec![Interval::ALWAYS]
                } else {
                    Vec::new()
                }
            }
        }
    }

    fn slot(&self, operand: usize) -> usize {
        self.operands
            .iter()
            .position(|&o| o == operand)
            .expect("operand of this atom")
    }
}

impl Test {
    fn terms(&self) -> impl Iterator<Item = &Term> {
        let (first, second) = match self {
            Test::Cmp(l, _, r) => (l, Some(r)),
            Test::In { term, .. } => (term, None),
        };
        std::iter::once(first).chain(second)
    }
}
