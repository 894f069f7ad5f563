//! The dataflow: a [`Plan`] rendered into differential dataflow operators.
//!
//! Shape (ARCHITECTURE.md §5): input collections keyed by user → per-user sources
//! (aggregates, scores, attributes), each rendered once and shared → every source's rows
//! as facts about their user → one reduce that evaluates the whole catalog per user
//! (`evaluate`) → all segments tagged `(user, segment)`. Atoms on `now` reach the
//! evaluation as facts from the temporal filter.

mod accum;
mod dense_map;
mod evaluate;
mod features;
mod hold;
mod least;
mod named;
mod prefetch;
mod records;
#[cfg(test)]
mod rounds;
mod sources;
mod temporal;
mod timing;
mod total;
mod values;

pub use named::{name_memberships, Named};
pub use records::{user_key, user_key_in, Event, ScoreRecord, UserKey, UserRecord};
pub use timing::Timing;

use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::VecCollection;

use std::sync::Arc;

use crate::plan::{Interval, Plan};

use evaluate::{atom_is_used, evaluate, Fact, Facts, Readers};
use sources::Sources;
use temporal::temporal_filter;

/// The input collections of one segmentation dataflow.
#[derive(Clone)]
pub struct Inputs<'scope> {
    pub users: VecCollection<'scope, u64, (UserKey, UserRecord)>,
    pub events: VecCollection<'scope, u64, (UserKey, Event)>,
    pub scores: VecCollection<'scope, u64, (UserKey, ScoreRecord)>,
    /// How logical time relates to event time, and how far the run looks.
    pub timing: Timing,
}

/// Every segment's members, as `(user, segment index)`; each pair present at most once.
/// Arranged by user (the evaluation's output), so that joining it with the users' ids
/// needs no arrangement of its own.
pub type Memberships<'scope> = Arranged<'scope, TraceAgent<ValSpine<UserKey, u32, u64, isize>>>;

/// Builds the dataflow for `plan` over `inputs`.
pub fn render<'scope>(plan: &Plan, inputs: Inputs<'scope>) -> Memberships<'scope> {
    let scope = inputs.events.scope();
    let on_now: Vec<usize> = (0..plan.atoms.len())
        .filter(|&index| plan.atoms[index].mentions_now() && atom_is_used(plan, index))
        .collect();
    // The sources an atom on `now` reads are wanted as rows; the rest only as facts.
    let mut rows = vec![false; plan.sources.len()];
    for &index in &on_now {
        for &operand in &plan.atoms[index].operands {
            rows[plan.operands[operand].source] = true;
        }
    }
    let readers = Arc::new(Readers::new(plan));
    let mut sources = Sources::render(&plan.sources, &inputs, &readers, &rows);
    let mut facts = sources.facts(&readers);
    for index in on_now {
        facts.push(now_facts(plan, index, &mut sources, inputs.timing));
    }
    evaluate(
        plan,
        differential_dataflow::collection::concatenate(scope, facts),
    )
}

/// [`Fact::Exception`] for atom `index` (which mentions `now`) while it holds for a user.
///
/// Such an atom reads one operand at most; without one (`now > 1700000000`) it holds
/// for every known user during its intervals.
fn now_facts<'scope>(
    plan: &Plan,
    index: usize,
    sources: &mut Sources<'_, 'scope>,
    timing: Timing,
) -> Facts<'scope> {
    let atom = plan.atoms[index].clone();
    let ticks = timing.ticks_per_second;
    let in_ticks = move |intervals: Vec<Interval>| -> Vec<Interval> {
        intervals.into_iter().map(|i| i.in_ticks(ticks)).collect()
    };
    let fact = Fact::Exception(index as u32);
    match atom.operands.first() {
        None => {
            let intervals = in_ticks(atom.intervals(&[]));
            temporal_filter(sources.presence(), timing, move |user| {
                ((user, fact.clone()), intervals.clone())
            })
        }
        Some(&operand) => {
            let rows = sources.operand_rows(&plan.operands[operand]);
            temporal_filter(rows, timing, move |(user, value)| {
                let intervals = in_ticks(atom.intervals(std::slice::from_ref(&value)));
                ((user, fact.clone()), intervals)
            })
        }
    }
}
