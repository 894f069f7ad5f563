//! One pass over the events for every event source of a plan.
//!
//! Each event is looked at once: it yields a contribution to every selection it
//! matches (already restricted to the selection's window) and marks its user as known.
//! The contributions are routed by family with `partition`, which moves each record to
//! exactly one output. Several consumers of the event stream would each receive a deep
//! copy of every event; this way no event is copied at all.

use differential_dataflow::difference::Multiply;
use differential_dataflow::{AsCollection, VecCollection};
use rust_decimal::Decimal;
use timely::dataflow::operators::vec::{Map, Partition};

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

/// A contribution before it is routed to its family.
enum Contribution {
    Linear((u32, UserKey), Accum),
    Extreme((u32, UserKey), Value),
    Distinct((u32, (UserKey, Value))),
    Known(UserKey),
}

impl Contribution {
    fn family(&self) -> u64 {
        match self {
            Contribution::Linear(..) => 0,
            Contribution::Extreme(..) => 1,
            Contribution::Distinct(..) => 2,
            Contribution::Known(..) => 3,
        }
    }
}

/// Splits the events into the contributions of every selection.
pub fn fan_out<'scope>(
    events: VecCollection<'scope, u64, (UserKey, Event)>,
    selections: Selections,
    timing: Timing,
) -> Contributions<'scope> {
    let ticks_per_second = timing.ticks_per_second;
    let Selections {
        linear,
        extreme,
        distinct,
    } = selections;
    let tagged = events.inner.flat_map(move |((user, event), time, diff)| {
        let mut out = vec![(Contribution::Known(user), time, diff)];
        let mut emit = |contribution: &dyn Fn() -> Contribution, selection: &EventSelection| {
            let interval = validity(event.ts, selection).in_ticks(ticks_per_second);
            for (at, insert) in restrict(time, interval).filter(|(at, _)| timing.observes(*at)) {
                out.push((contribution(), at, if insert { diff } else { -diff }));
            }
        };
        for (slot, selection) in linear.iter().enumerate().filter(|(_, s)| admits(&event, s)) {
            let amount = match selection.field.map(|f| event.field(f)) {
                Some(value) => match value.as_ref() {
                    Value::Number(n) => *n,
                    _ => Decimal::ZERO,
                },
                None => Decimal::ZERO,
            };
            let key = (slot as u32, user);
            emit(&|| Contribution::Linear(key, Accum::one(amount)), selection);
        }
        for (slot, selection) in extreme
            .iter()
            .enumerate()
            .filter(|(_, s)| admits(&event, s))
        {
            let value = field_value(&event, selection);
            emit(
                &|| Contribution::Extreme((slot as u32, user), value.clone()),
                selection,
            );
        }
        for (slot, selection) in distinct
            .iter()
            .enumerate()
            .filter(|(_, s)| admits(&event, s))
        {
            let value = field_value(&event, selection);
            emit(
                &|| Contribution::Distinct((slot as u32, (user, value.clone()))),
                selection,
            );
        }
        out
    });
    let mut families = tagged
        .partition(4, |(contribution, time, diff)| {
            (contribution.family(), (contribution, time, diff))
        })
        .into_iter();
    let mut next = || families.next().expect("four families");
    // Window retractions are for later times: held until their time nears.
    let linear = hold_future(
        next()
            .flat_map(|(c, time, diff)| match c {
                Contribution::Linear(key, accum) => Some((key, time, accum.multiply(&diff))),
                _ => None,
            })
            .as_collection(),
        ticks_per_second,
        "HoldLinear",
    );
    let extreme = hold_future(
        next()
            .flat_map(|(c, time, diff)| match c {
                Contribution::Extreme(key, value) => Some(((key, value), time, diff)),
                _ => None,
            })
            .as_collection(),
        ticks_per_second,
        "HoldExtreme",
    );
    let distinct = hold_future(
        next()
            .flat_map(|(c, time, diff)| match c {
                Contribution::Distinct(data) => Some((data, time, diff)),
                _ => None,
            })
            .as_collection(),
        ticks_per_second,
        "HoldDistinct",
    );
    let known = next()
        .flat_map(|(c, time, diff)| match c {
            Contribution::Known(user) => Some((user, time, diff)),
            _ => None,
        })
        .as_collection();
    Contributions {
        linear,
        extreme,
        distinct,
        known,
    }
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
