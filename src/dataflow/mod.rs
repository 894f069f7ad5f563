//! The dataflow: a [`Plan`] rendered into timely and differential operators.
//!
//! Rendering carries out the physical plan ([`crate::plan::Physical`]) and decides
//! nothing: input collections keyed by user → the event sources' operator (every event
//! slot) and the latest-score and current-user operators (for the sources placed
//! there) → each source's rows read as facts about their user → temporal filters for
//! the atoms on `now` → one reduce that evaluates every set node per user
//! (`evaluate`) → all segments as `(user, segment)`.

mod accum;
mod capabilities;
mod day_clock;
mod dedup;
mod dense_map;
mod evaluate;
mod event_sources;
mod explain;
mod facts;
mod hold;
mod input_sources;
mod inputs;
mod least;
mod model_scores;
mod named;
mod prefetch;
mod records;
#[cfg(test)]
mod rounds;
mod temporal;
mod timing;
mod total;
mod values;

pub use dedup::{deduplicate, Deduplicated};
pub use evaluate::Memberships;
pub use explain::{Answer, Question};
pub use inputs::Inputs;
pub use named::{name_memberships, Ids, Named};
pub use records::{user_key, user_key_in, Event, ModelRecord, ScoreRecord, UserKey, UserRecord};
pub use timing::Timing;

use std::collections::HashMap;
use std::sync::Arc;

use differential_dataflow::collection::concatenate;
use differential_dataflow::VecCollection;
use timely::dataflow::Stream;

use crate::plan::{Interval, Placement, Plan, Source, TemporalFilter};

use crate::arith::DAY;

use day_clock::day_clock;
use evaluate::evaluate;
use event_sources::{event_sources, EventOutputs};
use explain::answer_queries;
use facts::{Fact, Facts, Readers};
use input_sources::{InputSources, OperandRows};
use temporal::temporal_filter;
use total::total_per_key;

/// What a rendered dataflow puts out.
pub struct Rendered<'scope> {
    /// Every segment's members, as `(user, segment)`.
    pub memberships: Memberships<'scope>,
    /// Answers to the queries about users' values, when the plan keeps them and the
    /// inputs ask.
    pub answers: Option<Stream<'scope, u64, Vec<Answer>>>,
}

/// Builds the dataflow for `plan` over `inputs`.
pub fn render<'scope>(plan: &Plan, inputs: Inputs<'scope>) -> Rendered<'scope> {
    let scope = inputs.events.scope();
    let readers = Arc::new(Readers::new(plan));
    let events = event_sources(inputs.events.clone(), plan, inputs.timing);
    let mut input_sources = InputSources::new(&inputs);
    let presence = presence(&inputs, &events);
    let universe = total_per_key(presence.clone(), "Universe", |count| {
        (*count > 0).then_some(())
    });
    let mut facts = vec![
        universe.map(|(user, ())| (user, Fact::Known)),
        events.facts.clone(),
    ];
    // Every attribute read as facts, in one pass over each user's current row.
    let columns: Vec<(usize, usize)> = (plan.sources.iter().enumerate())
        .filter(|(index, _)| !plan.physical.readers[*index].is_empty())
        .filter_map(
            |(index, source)| match (source, plan.physical.placements[index]) {
                (Source::Attr(column), Placement::CurrentUser) => Some((index, *column)),
                _ => None,
            },
        )
        .collect();
    if !columns.is_empty() {
        let readers = readers.clone();
        facts.push(
            input_sources
                .current_users()
                .flat_map(move |(user, attrs)| {
                    let facts = columns.iter().flat_map(|&(source, column)| {
                        let value = &attrs[column];
                        readers.facts(source, |_| (!value.is_null()).then(|| value.clone()))
                    });
                    facts.map(|fact| (user, fact)).collect::<Vec<_>>()
                }),
        );
    }
    for (index, source) in plan.sources.iter().enumerate() {
        if let (Source::Score(model, version), Placement::LatestScore) =
            (source, plan.physical.placements[index])
        {
            if !plan.physical.readers[index].is_empty() {
                let readers = readers.clone();
                let scores = input_sources.latest_score(model.clone(), version.clone());
                facts.push(scores.flat_map(move |(user, score)| {
                    let facts = readers.facts(index, |_| Some(score.clone()));
                    facts.into_iter().map(move |fact| (user, fact))
                }));
            }
        }
    }
    let mut rows = Rows {
        plan,
        events: &events,
        input_sources,
        timing: inputs.timing,
        clocks: HashMap::new(),
    };
    for (index, placement) in plan.physical.placements.iter().enumerate() {
        let Placement::DayClock { .. } = placement else {
            continue;
        };
        if let Some(reader) = plan.physical.readers[index].first() {
            let readers = readers.clone();
            let days = rows.operand(reader.operand);
            facts.push(days.flat_map(move |(user, days)| {
                let facts = readers.facts(index, |_| Some(days.clone()));
                facts.into_iter().map(move |fact| (user, fact))
            }));
        }
    }
    for filter in &plan.physical.temporal {
        let rows = filter.over.map(|operand| rows.operand(operand));
        facts.push(now_facts(
            plan,
            filter,
            rows,
            presence.clone(),
            inputs.timing,
        ));
    }
    let answers = match (&inputs.queries, plan.physical.explained.is_empty()) {
        (Some(queries), false) => {
            let values = (plan.physical.explained.iter()).map(|&operand| {
                (rows.operand(operand)).map(move |(user, value)| (user, (operand as u32, value)))
            });
            let values = concatenate(scope, values.collect::<Vec<_>>());
            let arranged = values.arrange_by_key_named("OperandValues");
            Some(answer_queries(queries.clone(), arranged))
        }
        _ => None,
    };
    Rendered {
        memberships: evaluate(plan, concatenate(scope, facts)),
        answers,
    }
}

/// Every known user, once per row that makes them known: a users row, a visible event,
/// a score.
fn presence<'scope>(
    inputs: &Inputs<'scope>,
    events: &EventOutputs<'scope>,
) -> VecCollection<'scope, u64, UserKey> {
    concatenate(
        inputs.events.scope(),
        [
            inputs.users.clone().map(|(user, _)| user),
            events.known.clone(),
            inputs.scores.clone().map(|(user, _)| user),
        ],
    )
}

/// Operands' values as collections, from where the plan placed their sources.
struct Rows<'a, 'scope> {
    plan: &'a Plan,
    events: &'a EventOutputs<'scope>,
    input_sources: InputSources<'scope>,
    timing: Timing,
    /// The day clocks rendered, by source: each is rendered once.
    clocks: HashMap<usize, OperandRows<'scope>>,
}

impl<'scope> Rows<'_, 'scope> {
    /// An operand's values, one row per user that has one.
    fn operand(&mut self, operand: usize) -> OperandRows<'scope> {
        let plan = self.plan;
        let source = plan.operands[operand].source;
        match (plan.physical.placements[source], &plan.sources[source]) {
            (Placement::EventSlot(_), _) => {
                let wanted = operand as u32;
                (self.events.rows.clone())
                    .flat_map(move |((o, user), value)| (o == wanted).then_some((user, value)))
            }
            (Placement::LatestScore, Source::Score(model, version)) => self
                .input_sources
                .latest_score(model.clone(), version.clone()),
            (Placement::CurrentUser, Source::Attr(column)) => self.input_sources.attribute(*column),
            (Placement::DayClock { time }, _) => {
                if let Some(days) = self.clocks.get(&source) {
                    return days.clone();
                }
                let days = day_clock(self.operand(time), self.timing, DAY);
                self.clocks.insert(source, days.clone());
                days
            }
            (placement, source) => {
                unreachable!("the plan places {source:?} as {placement:?} yet wants its rows")
            }
        }
    }
}

/// [`Fact::Exception`] for the filter's atom while it holds for a user: over the
/// operand's `rows`, or over every known user (`presence`) when it reads no operand.
fn now_facts<'scope>(
    plan: &Plan,
    filter: &TemporalFilter,
    rows: Option<OperandRows<'scope>>,
    presence: VecCollection<'scope, u64, UserKey>,
    timing: Timing,
) -> Facts<'scope> {
    let atom = plan.atoms[filter.atom].clone();
    let ticks = timing.ticks_per_second;
    let in_ticks = move |intervals: Vec<Interval>| -> Vec<Interval> {
        intervals.into_iter().map(|i| i.in_ticks(ticks)).collect()
    };
    let fact = Fact::Exception(filter.atom as u32);
    match rows {
        None => {
            let intervals = in_ticks(atom.intervals(&[]));
            temporal_filter(presence, timing, move |user| {
                ((user, fact.clone()), intervals.clone())
            })
        }
        Some(rows) => temporal_filter(rows, timing, move |(user, value)| {
            let intervals = in_ticks(atom.intervals(std::slice::from_ref(&value)));
            ((user, fact.clone()), intervals)
        }),
    }
}
