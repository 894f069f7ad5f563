//! The catalog's set algebra evaluated per user, in one reduce.
//!
//! The physical plan decides atoms as close to their sources as possible: a user's row
//! becomes [`Fact::Exception`]s, one per atom over that row whose result differs from
//! its default (`super::facts::Readers`) — in the event sources' operator as it
//! changes a row, and in one stateless operator per score model and for the
//! attributes. A row change that flips no atom (a sixth purchase when the test is
//! `> 5`) changes no fact: the event operator emits nothing for it, and elsewhere the
//! retraction and insertion of the same facts cancel before any state is touched.
//! Atoms that mention `now` get their facts from a temporal filter, and atoms over two
//! operands are decided in the reduce from [`Fact::Operand`]s.
//!
//! One reduce keyed by user then reads a user's facts and evaluates every set node of
//! the plan — `and`, `or`, `not` — and emits the user's segments. Why not a dataflow of
//! set operators (joins for `and`, distincts for `or`)? That shape needs operators in
//! proportion to the catalog, and in a live run every operator is scheduled in every
//! round, whether data reaches it or not, so single-event latency would grow with the
//! number of segments (docs/BENCHMARKS.md, "Cost against users, events and segments").
//! Here the operator count depends on the input sources the catalog reads and its
//! atoms on `now`, not on its segments.

use std::sync::Arc;

use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};

use crate::plan::{Plan, SetNode};
use crate::value::Value;

use super::facts::{Fact, Facts};
use super::records::UserKey;

/// Every segment's members, as `(user, segment index)`; each pair present at most once.
/// Arranged by user (the evaluation's output), so that joining it with the users' ids
/// needs no arrangement of its own.
pub type Memberships<'scope> = Arranged<'scope, TraceAgent<ValSpine<UserKey, u32, u64, isize>>>;

/// Each user's segments, from all of the user's facts.
pub fn evaluate<'scope>(plan: &Plan, facts: Facts<'scope>) -> Memberships<'scope> {
    let evaluator = Evaluator::new(plan);
    facts
        .arrange_by_key_named("Arrange: Evaluate")
        .reduce_abelian::<_, ValBuilder<_, _, _, _>, ValSpine<_, _, _, _>, _, _>(
            "Evaluate",
            move |_user, facts, out| {
                let facts = facts.iter().map(|(fact, count)| (*fact, *count));
                for segment in evaluator.segments(facts) {
                    out.push((segment, 1isize));
                }
            },
            |builder_input, user, updates| {
                builder_input.clear();
                let keyed = updates.drain(..);
                builder_input
                    .extend(keyed.map(|(segment, time, diff)| ((*user, segment), time, diff)));
            },
        )
}

/// Evaluates a plan's set nodes for one user at a time.
pub struct Evaluator {
    plan: Arc<Plan>,
    /// The atoms decided here rather than by facts, found once: this runs for every
    /// user a change reaches.
    in_evaluation: Vec<usize>,
    /// Each atom's result for a user without operand rows.
    default_results: Vec<bool>,
}

impl Evaluator {
    pub fn new(plan: &Plan) -> Evaluator {
        let in_evaluation = plan.physical.decided_in_evaluation().collect();
        Evaluator {
            in_evaluation,
            default_results: plan.atoms.iter().map(|a| a.default_result()).collect(),
            plan: Arc::new(plan.clone()),
        }
    }

    /// The segments (by catalog index, ascending) of a user with these facts and their
    /// multiplicities; none for a user who is not [`Fact::Known`].
    pub fn segments<'f>(&self, facts: impl IntoIterator<Item = (&'f Fact, isize)>) -> Vec<u32> {
        let plan = &*self.plan;
        let mut known = false;
        let mut exceptions = vec![false; plan.atoms.len()];
        let mut operands: Vec<Option<&Value>> = vec![None; plan.operands.len()];
        for (fact, count) in facts {
            if count <= 0 {
                continue;
            }
            match fact {
                Fact::Known => known = true,
                Fact::Exception(atom) => exceptions[*atom as usize] = true,
                Fact::Operand { operand, value } => operands[*operand as usize] = Some(value),
            }
        }
        if !known {
            return Vec::new();
        }
        for &index in &self.in_evaluation {
            let atom = &plan.atoms[index];
            let values: Vec<Value> = atom
                .operands
                .iter()
                .map(|&o| {
                    operands[o]
                        .cloned()
                        .unwrap_or_else(|| plan.operands[o].default.clone())
                })
                .collect();
            exceptions[index] = atom.evaluate(&values, 0) != self.default_results[index];
        }
        // Set nodes only refer to nodes created before them (the planner interns the
        // parts first), so one pass in index order sees every part's result.
        let mut sets = Vec::with_capacity(plan.sets.len());
        for node in &plan.sets {
            let member = match node {
                SetNode::Universe => true,
                SetNode::Empty => false,
                SetNode::Exceptions(atom) => exceptions[*atom],
                SetNode::And(parts) => parts.iter().all(|&p| sets[p]),
                SetNode::Or(parts) => parts.iter().any(|&p| sets[p]),
                SetNode::Not(inner) => !sets[*inner],
            };
            sets.push(member);
        }
        (0..plan.segments.len() as u32)
            .filter(|&segment| sets[plan.segments[segment as usize]])
            .collect()
    }
}
