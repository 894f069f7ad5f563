//! The dataflow: a [`Plan`] rendered into differential dataflow operators.
//!
//! Shape (ARCHITECTURE.md §5): input collections keyed by user → per-user sources
//! (aggregates, scores, attributes), each rendered once and shared → atoms → sets of
//! users combined by set algebra → all segments tagged `(user, segment)`.

mod accum;
mod combine;
mod extremes;
mod fanout;
mod hold;
mod records;
mod sets;
mod sources;
mod temporal;
mod timing;

pub use records::{user_key, user_key_in, Event, ScoreRecord, UserKey, UserRecord};
pub use timing::Timing;

use differential_dataflow::operators::ThresholdTotal;
use differential_dataflow::VecCollection;

use crate::plan::Plan;

use combine::combine;
use sets::SetRenderer;
use sources::{render_operand, render_sources, SourceInputs};

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
pub type Memberships<'scope> = VecCollection<'scope, u64, (UserKey, u32)>;

/// Builds the dataflow for `plan` over `inputs`.
pub fn render<'scope>(plan: &Plan, inputs: Inputs<'scope>) -> Memberships<'scope> {
    let scope = inputs.events.scope();

    // Users are upserts: the row with the greatest sequence number is current.
    let attrs = inputs
        .users
        .clone()
        .reduce_named("CurrentUser", |_user, rows, out| {
            let (record, _) = rows[rows.len() - 1];
            out.push((record.attrs.clone(), 1isize));
        });

    let timing = inputs.timing;
    let source_inputs = SourceInputs {
        timing,
        events: inputs.events,
        scores: inputs.scores.clone(),
        attrs,
    };
    let (sources, known) = render_sources(&plan.sources, &source_inputs);

    // Everyone known: with a users row, or any visible event or score.
    let universe = differential_dataflow::collection::concatenate(
        scope,
        [
            inputs.users.map(|(user, _)| user),
            combine(known, "CombineUniverse"),
            inputs.scores.map(|(user, _)| user),
        ],
    )
    .distinct_total();

    let operands: Vec<_> = plan
        .operands
        .iter()
        .map(|operand| render_operand(operand, &sources[operand.source]))
        .collect();

    let mut renderer = SetRenderer::new(plan, universe, operands, timing);
    let segments: Vec<_> = plan
        .segments
        .iter()
        .enumerate()
        .map(|(index, &set)| {
            let index = index as u32;
            renderer.set(set).map(move |user| (user, index))
        })
        .collect();
    differential_dataflow::collection::concatenate(scope, segments)
}
