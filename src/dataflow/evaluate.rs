//! The catalog's set algebra evaluated per user, in one reduce.
//!
//! Atoms are decided as close to their sources as possible: a user's row becomes
//! [`Fact::Exception`]s, one per atom over that row whose result differs from its
//! default ([`Readers`]) — in the event sources' operator as it changes a row, and in
//! one stateless operator per score model and for the attributes. A row change that
//! flips no atom (a sixth purchase when the test is `> 5`) changes no fact: the event
//! operator emits nothing for it, and elsewhere the retraction and insertion of the
//! same facts cancel before any state is touched. Atoms
//! that mention `now` get their facts from the temporal filter, and atoms over two
//! operands are decided in the reduce from [`Fact::Operand`]s.
//!
//! One reduce keyed by user then reads a user's facts and evaluates every set node of
//! the plan — `and`, `or`, `not` — and emits the user's segments. Why not a dataflow of
//! set operators (joins for `and`, distincts for `or`)? That shape needs operators in
//! proportion to the catalog, and in a live run every operator is scheduled in every
//! round, whether data reaches it or not: single-event latency grew with the number of
//! segments (docs/BENCHMARKS.md, "Scaling"). Here the operator count depends on the
//! source families the catalog uses and its atoms on `now`, not on its segments.

use std::sync::Arc;

use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};

use crate::plan::{Atom, Plan, Projection, SetNode};
use crate::value::Value;

use super::records::UserKey;
use super::Memberships;

/// Something known about a user, as one value of the evaluation's input.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Fact {
    /// The user is in the universe.
    Known,
    /// The atom of this index differs from its default result for the user.
    Exception(u32),
    /// An operand's value, for the atoms that compare two operands.
    Operand { operand: u32, value: Value },
}

/// Facts keyed by user.
pub type Facts<'scope> = VecCollection<'scope, u64, (UserKey, Fact)>;

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

/// How an atom is decided.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decided {
    /// Upstream: by the reader of its one operand's source, or by the temporal filter.
    ByFacts,
    /// In the evaluation, from the operands' facts (atoms over several operands) or
    /// from nothing at all (constant atoms).
    InEvaluation,
}

fn decided(plan: &Plan, atom: usize) -> Decided {
    let atom = &plan.atoms[atom];
    if atom.mentions_now() || atom.operands.len() == 1 {
        Decided::ByFacts
    } else {
        Decided::InEvaluation
    }
}

/// Whether the dataflow needs atom `index` at all (a set node tests it).
pub fn atom_is_used(plan: &Plan, index: usize) -> bool {
    plan.sets.contains(&SetNode::Exceptions(index))
}

/// Evaluates a plan's set nodes for one user at a time.
pub struct Evaluator {
    plan: Arc<Plan>,
    /// The used atoms decided here rather than by facts, found once: this runs for
    /// every user a change reaches.
    in_evaluation: Vec<usize>,
    /// Each atom's result for a user without operand rows.
    default_results: Vec<bool>,
}

impl Evaluator {
    pub fn new(plan: &Plan) -> Evaluator {
        let in_evaluation = (0..plan.atoms.len())
            .filter(|&a| decided(plan, a) == Decided::InEvaluation && atom_is_used(plan, a))
            .collect();
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

/// For each source, what the facts stage reads from a user's row: the atoms it decides
/// and the operand values it passes on.
pub struct Readers {
    by_source: Vec<Vec<Reader>>,
}

/// One operand over a source, as read from a row of that source.
struct Reader {
    projection: Projection,
    /// Single-operand atoms on this operand (not on `now`), with their default results.
    atoms: Vec<(u32, Atom, bool)>,
    /// The operand's index, when an atom over several operands reads it.
    passed_on: Option<u32>,
}

impl Readers {
    pub fn new(plan: &Plan) -> Readers {
        let mut by_source: Vec<Vec<Reader>> = plan.sources.iter().map(|_| Vec::new()).collect();
        for (index, operand) in plan.operands.iter().enumerate() {
            let mut atoms = Vec::new();
            let mut passed_on = None;
            for (a, atom) in plan.atoms.iter().enumerate() {
                if !atom.operands.contains(&index) || !atom_is_used(plan, a) {
                    continue;
                }
                match decided(plan, a) {
                    _ if atom.mentions_now() => {}
                    Decided::ByFacts => atoms.push((a as u32, atom.clone(), atom.default_result())),
                    Decided::InEvaluation => passed_on = Some(index as u32),
                }
            }
            if !atoms.is_empty() || passed_on.is_some() {
                by_source[operand.source].push(Reader {
                    projection: operand.projection,
                    atoms,
                    passed_on,
                });
            }
        }
        Readers { by_source }
    }

    /// Whether any fact depends on `source`'s rows.
    pub fn reads(&self, source: usize) -> bool {
        !self.by_source[source].is_empty()
    }

    /// The facts of a user whose row of `source` gives `value(projection)` (`None`
    /// where the projection is undefined, which leaves the operand at its default).
    pub fn facts(&self, source: usize, value: impl Fn(Projection) -> Option<Value>) -> Vec<Fact> {
        let mut facts = Vec::new();
        for reader in &self.by_source[source] {
            let Some(value) = value(reader.projection) else {
                continue;
            };
            for (index, atom, default) in &reader.atoms {
                if atom.evaluate(std::slice::from_ref(&value), 0) != *default {
                    facts.push(Fact::Exception(*index));
                }
            }
            if let Some(operand) = reader.passed_on {
                facts.push(Fact::Operand { operand, value });
            }
        }
        facts
    }
}
