//! What one event contributes to its user's state: a [`Part`] per slot it counts for,
//! restricted to the slot's window.

use differential_dataflow::difference::Multiply;
use rust_decimal::Decimal;

use crate::plan::{EventSelection, EventSlot, Family, Interval};
use crate::value::Value;

use super::super::accum::Accum;
use super::super::records::Event;
use super::super::temporal::{restrict, window};
use super::super::timing::Timing;

/// What one event contributes to one part of its user's state. The difference is an
/// [`Accum`], whose count alone is used by [`Part::Value`] and [`Part::Events`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// To a totals slot: the difference's count and sum.
    Totals(u32),
    /// To a values slot: the value, with the difference's count as multiplicity.
    Value(u32, Value),
    /// The user has an event (counted whatever the slots).
    Events,
}

/// Each contribution of one event update at `time`, as `(part, time, difference)`,
/// into `parts`: the insertion now and, for a windowed slot, the retraction when the
/// window closes (left out when the run never observes it).
pub fn contributions(
    slots: &[EventSlot],
    timing: Timing,
    event: &Event,
    time: u64,
    diff: isize,
    parts: &mut Vec<(Part, u64, Accum)>,
) {
    parts.push((Part::Events, time, count(diff)));
    for (slot, plan) in slots.iter().enumerate() {
        if !admits(event, &plan.selection) {
            continue;
        }
        let interval = validity(event.ts, &plan.selection).in_ticks(timing.ticks_per_second);
        let restricted = restrict(time, interval)
            .filter(|(at, _)| timing.observes(*at))
            .map(|(at, insert)| (at, if insert { diff } else { -diff }));
        let slot = slot as u32;
        match plan.family {
            Family::Totals => {
                let amount = match plan.selection.field.map(|f| event.field(f)) {
                    Some(value) => match value.as_ref() {
                        Value::Number(n) => *n,
                        _ => Decimal::ZERO,
                    },
                    None => Decimal::ZERO,
                };
                for (at, diff) in restricted {
                    parts.push((Part::Totals(slot), at, Accum::one(amount).multiply(&diff)));
                }
            }
            Family::Values => {
                let value = field_value(event, &plan.selection);
                for (at, diff) in restricted {
                    parts.push((Part::Value(slot, value.clone()), at, count(diff)));
                }
            }
        }
    }
}

/// A difference that only counts.
fn count(diff: isize) -> Accum {
    Accum {
        count: diff as i64,
        sum: Decimal::ZERO,
    }
}

/// Whether an event counts for a selection: it matches the `where` clause and has the
/// aggregated field.
fn admits(event: &Event, selection: &EventSelection) -> bool {
    selection.filter.as_ref().is_none_or(|f| event.matches(f))
        && selection.field.is_none_or(|f| !event.field(f).is_null())
}

/// The field a values slot keeps (present: [`admits`] checked).
fn field_value(event: &Event, selection: &EventSelection) -> Value {
    match selection.field {
        Some(field) => event.field(field).into_owned(),
        None => Value::Null,
    }
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
