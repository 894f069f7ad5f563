//! Atoms: the comparisons at the leaves of segment predicates.
//!
//! An atom compares per-user operands, constants and `now`. Its set is computed from
//! the rows of its operands only, never from the whole universe: users without rows
//! take the operands' defaults, so they all share one *default result*. The dataflow
//! computes the *exceptions* — users whose rows give a different result — and the
//! planner complements them when the default result is true (`purchases < 3` is "the
//! universe minus the users with at least three purchases").
//!
//! The sides of a comparison may be arithmetic and functions over operands (`ltv /
//! purchases > 100`): an atom is any per-user function of its operands' values, and
//! whoever decides it (the operand's reader, the evaluating reduce) evaluates the whole
//! tree from those values.

use crate::arith::{self, ArithOp, Func};
use crate::value::{CmpOp, Value};

use super::intervals::{self, Interval};
use super::source::Operand;

/// One side of a comparison: a per-user value computed from operands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Term {
    /// A per-user operand, by index into
    /// [`Plan::operands`](crate::plan::Plan::operands).
    Operand(usize),
    /// A constant, already of the other side's type.
    Const(Value),
    /// `now + offset` seconds; only ever a whole side of a comparison.
    Now(i64),
    /// `-x`.
    Neg(Box<Term>),
    /// `left op right`.
    Arith(Box<Term>, ArithOp, Box<Term>),
    /// A function of values.
    Func(Func, Vec<Term>),
    /// `if(test, then, otherwise)`.
    If(Box<Test>, Box<Term>, Box<Term>),
    /// A test as a number: 1 where it holds, 0 elsewhere.
    Truth(Box<Test>),
    /// An exact number as the nearest double.
    Approx(Box<Term>),
}

/// The comparison an atom makes; inside a term (`if`, a test used as a number) also
/// the connectives, which there are plain per-user logic.
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
    /// `true` or `false` (inside a term only).
    Const(bool),
    /// `a and b` (inside a term only).
    And(Box<Test>, Box<Test>),
    /// `a or b` (inside a term only).
    Or(Box<Test>, Box<Test>),
    /// `not a` (inside a term only).
    Not(Box<Test>),
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
        test.visit(&mut |term| {
            if let Term::Operand(o) = term {
                if !operands.contains(o) {
                    operands.push(*o);
                }
            }
        });
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
        let mut found = false;
        self.test.visit(&mut |t| found |= matches!(t, Term::Now(_)));
        found
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
        self.holds(&self.test, values, now)
    }

    fn holds(&self, test: &Test, values: &[Value], now: u64) -> bool {
        match test {
            Test::Cmp(l, op, r) => {
                op.apply(&self.value(l, values, now), &self.value(r, values, now))
            }
            Test::In {
                term,
                list,
                negated,
            } => {
                let v = self.value(term, values, now);
                !v.is_null() && list.iter().any(|x| CmpOp::Eq.apply(&v, x)) != *negated
            }
            Test::Const(b) => *b,
            Test::And(a, b) => self.holds(a, values, now) && self.holds(b, values, now),
            Test::Or(a, b) => self.holds(a, values, now) || self.holds(b, values, now),
            Test::Not(a) => !self.holds(a, values, now),
        }
    }

    /// The value of a term, given the operand values in the order of
    /// [`Atom::operands`].
    fn value(&self, term: &Term, values: &[Value], now: u64) -> Value {
        match term {
            Term::Operand(o) => values[self.slot(*o)].clone(),
            Term::Const(v) => v.clone(),
            Term::Now(offset) => Value::Time((now as i64).saturating_add(*offset)),
            Term::Neg(x) => arith::negate(&self.value(x, values, now)),
            Term::Arith(l, op, r) => {
                op.apply(&self.value(l, values, now), &self.value(r, values, now))
            }
            Term::Func(func, args) => {
                let args: Vec<Value> = args.iter().map(|a| self.value(a, values, now)).collect();
                func.apply(&args)
            }
            Term::If(test, then, otherwise) => match self.holds(test, values, now) {
                true => self.value(then, values, now),
                false => self.value(otherwise, values, now),
            },
            Term::Truth(test) => arith::truth(self.holds(test, values, now)),
            Term::Approx(x) => arith::approximate(&self.value(x, values, now)),
        }
    }

    /// For an atom that mentions `now`: the times at which it holds, given the operand
    /// values in the order of [`Atom::operands`].
    pub fn intervals(&self, values: &[Value]) -> Vec<Interval> {
        // `now` is only ever a whole side, so the other side does not read it.
        let value = |term: &Term| self.value(term, values, 0);
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
    /// Calls `each` on every term of the test and every term inside them.
    fn visit(&self, each: &mut impl FnMut(&Term)) {
        match self {
            Test::Cmp(l, _, r) => {
                l.visit(each);
                r.visit(each);
            }
            Test::In { term, .. } => term.visit(each),
            Test::Const(_) => {}
            Test::And(a, b) | Test::Or(a, b) => {
                a.visit(each);
                b.visit(each);
            }
            Test::Not(a) => a.visit(each),
        }
    }
}

impl Term {
    /// Calls `each` on this term and every term inside it, parents first.
    fn visit(&self, each: &mut impl FnMut(&Term)) {
        each(self);
        match self {
            Term::Operand(_) | Term::Const(_) | Term::Now(_) => {}
            Term::Neg(x) | Term::Approx(x) => x.visit(each),
            Term::Arith(l, _, r) => {
                l.visit(each);
                r.visit(each);
            }
            Term::Func(_, args) => args.iter().for_each(|a| a.visit(each)),
            Term::If(test, then, otherwise) => {
                test.visit(each);
                then.visit(each);
                otherwise.visit(each);
            }
            Term::Truth(test) => test.visit(each),
        }
    }
}
