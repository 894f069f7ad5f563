//! Rendering of [`Source`]s and [`Operand`]s: per-user state and values.
//!
//! Every source becomes one collection with at most one row per user at any time, and
//! each operand projects a source's rows to `(user, Value)`. Users without a row take
//! the operand's default, which the set layer accounts for (see `plan::atom`).
//!
//! Event sources of one family (linear, extreme, distinct) are rendered together: one
//! pass over the events (`fanout`) emits each event's contribution to every selection
//! it matches, tagged with the selection's slot, and one arrangement then serves the
//! whole family; each source reads its slot back out.

use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use differential_dataflow::VecCollection;
use rust_decimal::Decimal;

use crate::plan::{Operand, Projection, Source};
use crate::value::Value;

use super::accum::Accum;
use super::combine::combine;
use super::extremes::extremes;
use super::fanout::{fan_out, Selections};
use super::records::{Event, ScoreRecord, UserKey};
use super::timing::Timing;

/// A collection of `(user, value)` rows, one per user at most.
pub type Values<'scope> = VecCollection<'scope, u64, (UserKey, Value)>;

/// A rendered source.
#[derive(Clone)]
pub enum SourceRows<'scope> {
    /// Accumulated count and sum per user, as the rows of slot `slot` of the linear
    /// family's totals: each operand reads its slot and projects it in one operator.
    Linear {
        totals: VecCollection<'scope, u64, ((u32, UserKey), Accum)>,
        slot: u32,
    },
    /// One value per user.
    Values(Values<'scope>),
}

/// The input collections sources read.
#[derive(Clone)]
pub struct SourceInputs<'scope> {
    pub events: VecCollection<'scope, u64, (UserKey, Event)>,
    pub scores: VecCollection<'scope, u64, (UserKey, ScoreRecord)>,
    /// Each user's current attribute row (users are upserts, resolved upstream).
    pub attrs: VecCollection<'scope, u64, (UserKey, Vec<Value>)>,
    /// How logical time relates to event time (see [`super::Inputs`]).
    pub timing: Timing,
}

/// Renders every source of a plan, in plan order, and the users with visible events.
pub fn render_sources<'scope>(
    sources: &[Source],
    inputs: &SourceInputs<'scope>,
) -> (Vec<SourceRows<'scope>>, VecCollection<'scope, u64, UserKey>) {
    let mut rendered: Vec<Option<SourceRows<'scope>>> = vec![None; sources.len()];
    let (mut linear, mut extreme, mut distinct) = (Vec::new(), Vec::new(), Vec::new());
    let mut selections = Selections {
        linear: Vec::new(),
        extreme: Vec::new(),
        distinct: Vec::new(),
    };
    for (index, source) in sources.iter().enumerate() {
        match source {
            Source::Linear(sel) => {
                linear.push(index);
                selections.linear.push(sel.clone());
            }
            Source::Extreme { max, selection } => {
                extreme.push((index, *max));
                selections.extreme.push(selection.clone());
            }
            Source::Distinct(sel) => {
                distinct.push(index);
                selections.distinct.push(sel.clone());
            }
            Source::Score(_) | Source::Attr(_) => {}
        }
    }
    let contributions = fan_out(inputs.events.clone(), selections, inputs.timing);

    let totals = combine(contributions.linear, "CombineLinear").count_total();
    for (slot, index) in linear.into_iter().enumerate() {
        rendered[index] = Some(SourceRows::Linear {
            totals: totals.clone(),
            slot: slot as u32,
        });
    }

    let maxima: Vec<bool> = extreme.iter().map(|(_, max)| *max).collect();
    let values = extremes(contributions.extreme, maxima, inputs.timing);
    for (slot, (index, _)) in extreme.into_iter().enumerate() {
        let slot = slot as u32;
        let rows = values
            .clone()
            .flat_map(move |((s, user), value)| (s == slot).then_some((user, value)));
        rendered[index] = Some(SourceRows::Values(rows));
    }

    let counts = combine(contributions.distinct, "CombineDistinct")
        .distinct_total()
        .map(|(slot, (user, _value))| (slot, user))
        .count_total();
    for (slot, index) in distinct.into_iter().enumerate() {
        let slot = slot as u32;
        let rows = counts.clone().flat_map(move |((s, user), count)| {
            (s == slot).then(|| (user, Value::Number(Decimal::from(count as i64))))
        });
        rendered[index] = Some(SourceRows::Values(rows));
    }

    for (index, source) in sources.iter().enumerate() {
        match source {
            Source::Score(model) => {
                let model = model.clone();
                let rows = inputs
                    .scores
                    .clone()
                    .flat_map(move |(user, score)| {
                        (score.model == model).then_some((user, (score.ts, score.score)))
                    })
                    .reduce_named("LatestScore", |_user, scores, out| {
                        // Ordered by (ts, score): the last is the latest, ties to the greater.
                        let ((_ts, score), _) = scores[scores.len() - 1];
                        out.push((Value::Number(*score), 1isize));
                    });
                rendered[index] = Some(SourceRows::Values(rows));
            }
            Source::Attr(column) => {
                let column = *column;
                let rows = inputs.attrs.clone().flat_map(move |(user, attrs)| {
                    let value = &attrs[column];
                    (!value.is_null()).then(|| (user, value.clone()))
                });
                rendered[index] = Some(SourceRows::Values(rows));
            }
            _ => {}
        }
    }
    let rendered = rendered
        .into_iter()
        .map(|r| r.expect("every source rendered"))
        .collect();
    (rendered, contributions.known)
}

/// Projects a rendered source to an operand's values.
pub fn render_operand<'scope>(operand: &Operand, source: &SourceRows<'scope>) -> Values<'scope> {
    match (source, operand.projection) {
        (SourceRows::Values(rows), _) => rows.clone(),
        (SourceRows::Linear { totals, slot }, projection) => {
            let slot = *slot;
            totals.clone().flat_map(move |((s, user), accum)| {
                let value = match projection {
                    _ if s != slot => None,
                    Projection::Count => Some(Decimal::from(accum.count)),
                    Projection::Sum => Some(accum.sum),
                    Projection::Avg => accum.sum.checked_div(Decimal::from(accum.count)),
                    Projection::Value => None,
                };
                value.map(|v| (user, Value::Number(v)))
            })
        }
    }
}
