//! Rendering of [`Source`]s and [`Operand`]s: per-user state and values.
//!
//! Every source becomes one collection with at most one row per user at any time, and
//! each operand projects a source's rows to `(user, Value)`. Users without a row take
//! the operand's default, which the set layer accounts for (see `plan::atom`).
//!
//! Event sources of one family are rendered together: a single pass over the events
//! emits, for each event, a contribution to every source whose selection it matches
//! (already restricted to the source's window), tagged with the source's slot; one
//! arrangement then serves the whole family. This costs one copy of the event stream
//! per family instead of one per feature, which matters when a catalog has dozens of
//! features over tens of millions of events.

use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use differential_dataflow::{AsCollection, VecCollection};
use rust_decimal::Decimal;
use timely::dataflow::operators::vec::Map;

use crate::plan::{EventSelection, Interval, Operand, Projection, Source};
use crate::value::Value;

use super::accum::Accum;
use super::combine::combine;
use super::records::{Event, ScoreRecord, UserKey};
use super::temporal::{restrict, window};

/// A collection of `(user, value)` rows, one per user at most.
pub type Values<'scope> = VecCollection<'scope, u64, (UserKey, Value)>;

/// A rendered source.
#[derive(Clone)]
pub enum SourceRows<'scope> {
    /// Accumulated count and sum per user.
    Linear(VecCollection<'scope, u64, (UserKey, Accum)>),
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
}

/// Renders every source of a plan, in plan order.
pub fn render_sources<'scope>(
    sources: &[Source],
    inputs: &SourceInputs<'scope>,
) -> Vec<SourceRows<'scope>> {
    let mut rendered: Vec<Option<SourceRows<'scope>>> = vec![None; sources.len()];
    let family = |want: fn(&Source) -> Option<&EventSelection>| -> Vec<(usize, EventSelection)> {
        sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| want(s).map(|sel| (i, sel.clone())))
            .collect()
    };

    let linear = family(|s| match s {
        Source::Linear(sel) => Some(sel),
        _ => None,
    });
    if !linear.is_empty() {
        let selections: Vec<_> = linear.iter().map(|(_, sel)| sel.clone()).collect();
        let totals = contributions(&inputs.events, selections, |user, event, sel| {
            let amount = match sel.field.map(|f| event.field(f).into_owned()) {
                Some(Value::Number(n)) => n,
                _ => Decimal::ZERO,
            };
            (user, Accum::one(amount))
        })
        .explode(|(data, accum)| Some((data, accum)));
        let totals = combine(totals, "CombineLinear").count_total();
        for (slot, (index, _)) in linear.iter().enumerate() {
            let slot = slot as u32;
            let rows = totals
                .clone()
                .flat_map(move |((s, user), accum)| (s == slot).then_some((user, accum)));
            rendered[*index] = Some(SourceRows::Linear(rows));
        }
    }

    let extremes: Vec<(usize, EventSelection, bool)> = sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Source::Extreme { max, selection } => Some((i, selection.clone(), *max)),
            _ => None,
        })
        .collect();
    if !extremes.is_empty() {
        let selections: Vec<_> = extremes.iter().map(|(_, sel, _)| sel.clone()).collect();
        let maxima: Vec<bool> = extremes.iter().map(|(_, _, max)| *max).collect();
        let values = contributions(&inputs.events, selections, field_value)
            .explode(|(data, ())| Some((data, 1isize)))
            .map(|(slot, (user, value))| ((slot, user), value))
            .reduce_named("MinMax", move |(slot, _user), values, out| {
                let (value, _) = if maxima[*slot as usize] {
                    values[values.len() - 1]
                } else {
                    values[0]
                };
                out.push((value.clone(), 1isize));
            });
        for (slot, (index, _, _)) in extremes.iter().enumerate() {
            let slot = slot as u32;
            let rows = values
                .clone()
                .flat_map(move |((s, user), value)| (s == slot).then_some((user, value)));
            rendered[*index] = Some(SourceRows::Values(rows));
        }
    }

    let distinct = family(|s| match s {
        Source::Distinct(sel) => Some(sel),
        _ => None,
    });
    if !distinct.is_empty() {
        let selections: Vec<_> = distinct.iter().map(|(_, sel)| sel.clone()).collect();
        let values = contributions(&inputs.events, selections, field_value)
            .explode(|(data, ())| Some((data, 1isize)));
        let counts = combine(values, "CombineDistinct")
            .distinct_total()
            .map(|(slot, (user, _value))| (slot, user))
            .count_total();
        for (slot, (index, _)) in distinct.iter().enumerate() {
            let slot = slot as u32;
            let rows = counts.clone().flat_map(move |((s, user), count)| {
                (s == slot).then(|| (user, Value::Number(Decimal::from(count as i64))))
            });
            rendered[*index] = Some(SourceRows::Values(rows));
        }
    }

    for (index, source) in sources.iter().enumerate() {
        match source {
            Source::Score(model) => {
                let model = model.clone();
                let rows = inputs
                    .scores
                    .clone()
                    .filter(move |(_user, score)| score.model == model)
                    .map(|(user, score)| (user, (score.ts, score.score)))
                    .reduce_named("LatestScore", |_user, scores, out| {
                        // Ordered by (ts, score): the last is the latest, ties to the greater.
                        let ((_ts, score), _) = scores[scores.len() - 1];
                        out.push((Value::Number(*score), 1isize));
                    });
                rendered[index] = Some(SourceRows::Values(rows));
            }
            Source::Attr(column) => {
                let column = *column;
                let rows = inputs
                    .attrs
                    .clone()
                    .map(move |(user, attrs)| (user, attrs[column].clone()))
                    .filter(|(_user, value)| !value.is_null());
                rendered[index] = Some(SourceRows::Values(rows));
            }
            _ => {}
        }
    }
    rendered
        .into_iter()
        .map(|r| r.expect("every source rendered"))
        .collect()
}

/// The field an extreme or distinct source reads (present: `admits` checked it).
fn field_value(user: UserKey, event: &Event, selection: &EventSelection) -> ((UserKey, Value), ()) {
    let field = selection
        .field
        .expect("min, max and count_distinct read a field");
    ((user, event.field(field).into_owned()), ())
}

/// One pass over the events: for every event and every selection it matches, the
/// record `emit` makes, tagged with the selection's slot, at the times of the
/// selection's window. The record's second part is a payload meant to move into the
/// difference type (with `explode`), where it is scaled by the update's difference:
/// the event's multiplicity, negated for a window's retraction.
fn contributions<'scope, D, P, F>(
    events: &VecCollection<'scope, u64, (UserKey, Event)>,
    selections: Vec<EventSelection>,
    emit: F,
) -> VecCollection<'scope, u64, ((u32, D), P)>
where
    D: Clone + 'static,
    P: Clone + 'static,
    F: Fn(UserKey, &Event, &EventSelection) -> (D, P) + 'static,
{
    events
        .clone()
        .inner
        .flat_map(move |((user, event), time, diff)| {
            let mut out = Vec::new();
            for (slot, selection) in selections.iter().enumerate() {
                if !admits(&event, selection) {
                    continue;
                }
                let (data, payload) = emit(user, &event, selection);
                for (at, insert) in restrict(time, validity(event.ts, selection)) {
                    let diff = if insert { diff } else { -diff };
                    out.push((((slot as u32, data.clone()), payload.clone()), at, diff));
                }
            }
            out
        })
        .as_collection()
}

/// Whether an event counts for a selection: it matches the `where` clause and has the
/// aggregated field.
fn admits(event: &Event, selection: &EventSelection) -> bool {
    selection.filter.as_ref().is_none_or(|f| event.matches(f))
        && selection.field.is_none_or(|f| !event.field(f).is_null())
}

/// When an event counts for a selection: from its time on, until its window closes.
fn validity(ts: u64, selection: &EventSelection) -> Interval {
    match selection.within {
        Some(length) => window(ts, length),
        None => Interval {
            start: ts,
            end: None,
        },
    }
}

/// Projects a rendered source to an operand's values.
pub fn render_operand<'scope>(operand: &Operand, source: &SourceRows<'scope>) -> Values<'scope> {
    match (source, operand.projection) {
        (SourceRows::Values(rows), _) => rows.clone(),
        (SourceRows::Linear(rows), projection) => rows.clone().flat_map(move |(user, accum)| {
            let value = match projection {
                Projection::Count => Some(Decimal::from(accum.count)),
                Projection::Sum => Some(accum.sum),
                Projection::Avg => accum.sum.checked_div(Decimal::from(accum.count)),
                Projection::Value => None,
            };
            value.map(|v| (user, Value::Number(v)))
        }),
    }
}
