//! Rendering of atoms and [`SetNode`]s: sets of users combined with set algebra.
//!
//! Every set holds each of its users once and is a subset of the universe, which makes
//! `not` a linear operation (universe minus set) and `and` a join of arrangements that
//! are built once per set and shared by every segment that uses them.

use std::collections::HashMap;

use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::operators::ThresholdTotal;
use differential_dataflow::trace::implementations::KeySpine;
use differential_dataflow::VecCollection;

use crate::plan::{Atom, Interval, Plan, SetNode};
use crate::value::Value;

use super::records::UserKey;
use super::sources::Values;
use super::temporal::temporal_filter;
use super::timing::Timing;

/// A set of users.
pub type Users<'scope> = VecCollection<'scope, u64, UserKey>;

type ArrangedUsers<'scope> = Arranged<'scope, TraceAgent<KeySpine<UserKey, u64, isize>>>;

/// Renders the set nodes of a plan, memoizing collections and arrangements.
pub struct SetRenderer<'a, 'scope> {
    plan: &'a Plan,
    universe: Users<'scope>,
    operands: Vec<Values<'scope>>,
    sets: HashMap<usize, Users<'scope>>,
    arranged: HashMap<usize, ArrangedUsers<'scope>>,
    /// To place `now` intervals in logical time.
    timing: Timing,
}

impl<'a, 'scope> SetRenderer<'a, 'scope> {
    pub fn new(
        plan: &'a Plan,
        universe: Users<'scope>,
        operands: Vec<Values<'scope>>,
        timing: Timing,
    ) -> Self {
        SetRenderer {
            timing,
            plan,
            universe,
            operands,
            sets: HashMap::new(),
            arranged: HashMap::new(),
        }
    }

    /// The collection of set node `index`.
    pub fn set(&mut self, index: usize) -> Users<'scope> {
        if let Some(set) = self.sets.get(&index) {
            return set.clone();
        }
        let set = match &self.plan.sets[index] {
            SetNode::Universe => self.universe.clone(),
            SetNode::Empty => self.universe.clone().filter(|_| false),
            SetNode::Exceptions(atom) => self.exceptions(&self.plan.atoms[*atom]),
            SetNode::Not(inner) => {
                let inner = self.set(*inner);
                self.universe.clone().concat(inner.negate())
            }
            SetNode::Or(parts) => {
                let parts: Vec<_> = parts.iter().map(|&p| self.set(p)).collect();
                let scope = self.universe.scope();
                differential_dataflow::collection::concatenate(scope, parts).distinct_total()
            }
            SetNode::And(parts) => self.and(parts),
        };
        self.sets.insert(index, set.clone());
        set
    }

    /// `and` of several sets. Complemented parts are subtracted rather than joined:
    /// `a and not b` is `a` minus the users of `a` in `b`, which costs the size of `a`
    /// and `b`, not of the universe; with no positive part at all, `not a and not b` is
    /// the universe minus `a or b`.
    fn and(&mut self, parts: &[usize]) -> Users<'scope> {
        let (mut positive, mut negative) = (Vec::new(), Vec::new());
        for &part in parts {
            match self.plan.sets[part] {
                SetNode::Not(inner) => negative.push(inner),
                _ => positive.push(part),
            }
        }
        let Some((&first, rest)) = positive.split_first() else {
            let excluded: Vec<_> = negative.iter().map(|&n| self.set(n)).collect();
            let scope = self.universe.scope();
            let excluded =
                differential_dataflow::collection::concatenate(scope, excluded).distinct_total();
            return self.universe.clone().concat(excluded.negate());
        };
        // Each step joins the result so far with the next part; the first part's
        // arrangement is shared, later intermediate results are arranged once each.
        let mut result = self.set(first);
        let mut arranged = Some(self.arranged(first));
        let steps = rest
            .iter()
            .map(|&p| (p, false))
            .chain(negative.into_iter().map(|n| (n, true)));
        for (part, subtract) in steps {
            let current = arranged
                .take()
                .unwrap_or_else(|| result.clone().arrange_by_self());
            let overlap = current.join_core(self.arranged(part), |user, _, _| Some(*user));
            result = if subtract {
                result.concat(overlap.negate())
            } else {
                overlap
            };
        }
        result
    }

    fn arranged(&mut self, index: usize) -> ArrangedUsers<'scope> {
        if let Some(arranged) = self.arranged.get(&index) {
            return arranged.clone();
        }
        let arranged = self.set(index).arrange_by_self();
        self.arranged.insert(index, arranged.clone());
        arranged
    }

    /// The users whose result for `atom` differs from its default result.
    fn exceptions(&self, atom: &Atom) -> Users<'scope> {
        let atom = atom.clone();
        let timing = self.timing;
        let ticks = timing.ticks_per_second;
        let in_ticks = move |intervals: Vec<Interval>| -> Vec<Interval> {
            intervals.into_iter().map(|i| i.in_ticks(ticks)).collect()
        };
        match atom.operands.len() {
            0 => {
                // A test of `now` alone (`now > 1700000000`): everyone, during its intervals.
                let intervals = in_ticks(atom.intervals(&[]));
                temporal_filter(self.universe.clone(), timing, move |_| intervals.clone())
            }
            1 => {
                let rows = self.operands[atom.operands[0]].clone();
                if atom.mentions_now() {
                    temporal_filter(rows, timing, move |(_user, value)| {
                        in_ticks(atom.intervals(std::slice::from_ref(value)))
                    })
                    .map(|(user, _)| user)
                } else {
                    // One operator, not a filter and a map: every operator costs a
                    // little in every round of a live run.
                    let default = atom.default_result();
                    rows.flat_map(move |(user, value)| {
                        (atom.evaluate(std::slice::from_ref(&value), 0) != default).then_some(user)
                    })
                }
            }
            _ => {
                // Several operands: gather each user's values, defaulting absent ones.
                let scope = self.universe.scope();
                let tagged = atom.operands.iter().enumerate().map(|(slot, &operand)| {
                    self.operands[operand]
                        .clone()
                        .map(move |(user, value)| (user, (slot, value)))
                });
                let default = atom.default_result();
                differential_dataflow::collection::concatenate(scope, tagged)
                    .reduce_named("Atom", move |_user, rows, out| {
                        let mut values: Vec<Value> = atom.defaults.clone();
                        for ((slot, value), _count) in rows {
                            values[*slot] = value.clone();
                        }
                        if atom.evaluate(&values, 0) != default {
                            out.push(((), 1isize));
                        }
                    })
                    .map(|(user, ())| user)
            }
        }
    }
}
