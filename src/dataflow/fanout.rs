//! One pass over the events for every event source of a plan.
//!
//! Each event is looked at once: it yields a contribution to every selection it
//! matches (already restricted to the selection's window) and marks its user as known.
//! Each contribution goes to its family's output of the one fan-out operator. Several
//! consumers of the event stream would each receive a deep copy of every event; this
//! way no event is copied at all.

use differential_dataflow::difference::Multiply;
use differential_dataflow::{AsCollection, VecCollection};
use rust_decimal::Decimal;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use crate::plan::{EventSelection, Interval};
use crate::value::Value;

use super::accum::Accum;
use super::hold::hold_future;
use super::records::{Event, UserKey};
use super::temporal::{restrict, window};
use super::timing::Timing;

/// The selections of each event-source family, in slot order.
pub struct Selections {
    pub linear: Vec<EventSelection>,
    pub extreme: Vec<EventSelection>,
    pub distinct: Vec<EventSelection>,
}

/// The contributions of the events, by family; `u32` is the selection's slot.
pub struct Contributions<'scope> {
    /// `(slot, user)` with the event's count and amount in the difference.
    pub linear: VecCollection<'scope, u64, (u32, UserKey), Accum>,
    /// `((slot, user), value)` of the selection's field.
    pub extreme: VecCollection<'scope, u64, ((u32, UserKey), Value)>,
    /// `(slot, (user, value))` of the selection's field.
    pub distinct: VecCollection<'scope, u64, (u32, (UserKey, Value))>,
    /// Every user with a visible event, once per event.
    pub known: VecCollection<'scope, u64, UserKey>,
}

/// Splits the events into the contributions of every selection.
///
/// One operator with an output per family: each event is looked at once and each
/// contribution goes straight into its family's container, with no intermediate
/// routing (timely's `partition` plus an unwrapping `flat_map` per family cost a
/// tenth of a backfill's time, moving every contribution through two more operators).
pub fn fan_out<'scope>(
    events: VecCollection<'scope, u64, (UserKey, Event)>,
    selections: Selections,
    timing: Timing,
) -> Contributions<'scope> {
    let Selections {
        linear,
        extreme,
        distinct,
    } = selections;
    let ticks_per_second = timing.ticks_per_second;
    let mut builder = OperatorBuilder::new("FanOut".to_owned(), events.inner.scope());
    let mut input = builder.new_input(events.inner, Pipeline);
    let (mut linear_out, linear_stream) = builder.new_output();
    let (mut extreme_out, extreme_stream) = builder.new_output();
    let (mut distinct_out, distinct_stream) = builder.new_output();
    let (mut known_out, known_stream) = builder.new_output();
    builder.build(move |_capabilities| {
        move |_frontiers| {
            let (mut linear_out, mut extreme_out) = (linear_out.activate(), extreme_out.activate());
            let (mut distinct_out, mut known_out) = (distinct_out.activate(), known_out.activate());
            input.for_each(|capability, updates| {
                let mut out = Families::default();
                for ((user, event), time, diff) in updates.drain(..) {
                    out.known.push((user, time, diff));
                    // The updates that restrict a contribution to the selection's window.
                    let restricted = |selection: &EventSelection| {
                        let interval = validity(event.ts, selection).in_ticks(ticks_per_second);
                        restrict(time, interval)
                            .filter(|(at, _)| timing.observes(*at))
                            .map(move |(at, insert)| (at, if insert { diff } else { -diff }))
                    };
                    for (slot, selection) in admitted(&event, &linear) {
                        let amount = match selection.field.map(|f| event.field(f)) {
                            Some(value) => match value.as_ref() {
                                Value::Number(n) => *n,
                                _ => Decimal::ZERO,
                            },
                            None => Decimal::ZERO,
                        };
                        for (at, diff) in restricted(selection) {
                            let accum = Accum::one(amount).multiply(&diff);
                            out.linear.push(((slot, user), at, accum));
                        }
                    }
                    for (slot, selection) in admitted(&event, &extreme) {
                        let value = field_value(&event, selection);
                        for (at, diff) in restricted(selection) {
                            out.extreme.push((((slot, user), value.clone()), at, diff));
                        }
                    }
                    for (slot, selection) in admitted(&event, &distinct) {
                        let value = field_value(&event, selection);
                        for (at, diff) in restricted(selection) {
                            out.distinct.push(((slot, (user, value.clone())), at, diff));
                        }
                    }
                }
                linear_out.give(&capability, &mut out.linear);
                extreme_out.give(&capability, &mut out.extreme);
                distinct_out.give(&capability, &mut out.distinct);
                known_out.give(&capability, &mut out.known);
            });
        }
    });
    // Window retractions are for later times: held until their time nears.
    Contributions {
        linear: hold_future(linear_stream.as_collection(), timing, "HoldLinear"),
        extreme: hold_future(extreme_stream.as_collection(), timing, "HoldExtreme"),
        distinct: hold_future(distinct_stream.as_collection(), timing, "HoldDistinct"),
        known: known_stream.as_collection(),
    }
}

/// Updates of data `D` with difference `R`, as timely containers carry them.
type Updates<D, R = isize> = Vec<(D, u64, R)>;

/// One input container's contributions, by family.
#[derive(Default)]
struct Families {
    linear: Updates<(u32, UserKey), Accum>,
    extreme: Updates<((u32, UserKey), Value)>,
    distinct: Updates<(u32, (UserKey, Value))>,
    known: Updates<UserKey>,
}

/// The selections of a family that `event` counts for, with their slots.
fn admitted<'a>(
    event: &'a Event,
    selections: &'a [EventSelection],
) -> impl Iterator<Item = (u32, &'a EventSelection)> + 'a {
    selections
        .iter()
        .enumerate()
        .filter(|(_, selection)| admits(event, selection))
        .map(|(slot, selection)| (slot as u32, selection))
}

/// Whether an event counts for a selection: it matches the `where` clause and has the
/// aggregated field.
fn admits(event: &Event, selection: &EventSelection) -> bool {
    selection.filter.as_ref().is_none_or(|f| event.matches(f))
        && selection.field.is_none_or(|f| !event.field(f).is_null())
}

/// The field a min, max or count_distinct selection reads (present: `admits` checked).
fn field_value(event: &Event, selection: &EventSelection) -> Value {
    let field = selection
        .field
        .expect("min, max and count_distinct read a field");
    event.field(field).into_owned()
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
