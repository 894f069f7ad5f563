//! Rendering of [`Source`]s: per-user state, delivered to the evaluation as [`Fact`]s.
//!
//! Every event source is maintained by one operator (`features`), which also reads the
//! facts the evaluation needs from each row that changes (see `evaluate`): a change
//! that flips no atom leaves the operator as nothing at all.
//!
//! Only atoms that mention `now` need an operand as a collection of its own (the
//! temporal filter places its changes in time). The event sources they read also come
//! out of the operator as rows, by family (linear, extreme, distinct) and tagged with
//! the selection's slot; [`Sources::operand_rows`] renders those on demand, so a
//! catalog without them pays for no per-operand operators.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;

use differential_dataflow::VecCollection;
use rust_decimal::Decimal;

use crate::plan::{Operand, Source};
use crate::value::{Text, Value};

use super::accum::Accum;
use super::evaluate::{Fact, Facts, Readers};
use super::features::{event_features, Selections};
use super::least::least_per_key;
use super::records::UserKey;
use super::total::total_per_key;
use super::Inputs;

/// A collection of `(user, value)` rows, one per user at most.
pub type Values<'scope> = VecCollection<'scope, u64, (UserKey, Value)>;

/// A family's rows: a value per selection slot and user.
type SlotRows<'scope, V> = VecCollection<'scope, u64, ((u32, UserKey), V)>;

/// Where a source's rows are found.
#[derive(Copy, Clone)]
enum Slot {
    Linear(u32),
    Extreme(u32),
    Distinct(u32),
    /// Scores and attributes are read from the raw input rows.
    Input,
}

/// The rendered sources of a plan.
pub struct Sources<'a, 'scope> {
    sources: &'a [Source],
    inputs: Inputs<'scope>,
    slots: Vec<Slot>,
    /// The facts of every event source's rows.
    event_facts: Facts<'scope>,
    /// Accumulated count and sum per `(slot, user)` of the linear family (of the slots
    /// whose rows are wanted, as for the other families).
    linear: SlotRows<'scope, Accum>,
    /// Each extreme selection's value per `(slot, user)`.
    extreme: SlotRows<'scope, Value>,
    /// Each distinct selection's count per `(slot, user)`.
    distinct: SlotRows<'scope, isize>,
    /// Every user with a visible event.
    known: VecCollection<'scope, u64, UserKey>,
    /// Rendered on demand: each user's current attribute row, each model's latest score.
    attrs: Option<VecCollection<'scope, u64, (UserKey, Vec<Value>)>>,
    latest_scores: HashMap<Text, Values<'scope>>,
}

impl<'a, 'scope> Sources<'a, 'scope> {
    /// Renders the event families of `sources` (the rest is read from the inputs),
    /// their facts as `readers` read them, and as rows those sources where `rows` is
    /// set (by source index).
    pub fn render(
        sources: &'a [Source],
        inputs: &Inputs<'scope>,
        readers: &Arc<Readers>,
        rows: &[bool],
    ) -> Self {
        let mut slots = Vec::with_capacity(sources.len());
        let mut selections = Selections::default();
        for (index, source) in sources.iter().enumerate() {
            let slot = match source {
                Source::Linear(sel) => {
                    Slot::Linear(selections.linear.push(sel.clone(), index, rows[index]))
                }
                Source::Extreme { max, selection } => {
                    selections.maxima.push(*max);
                    let slot = selections
                        .extreme
                        .push(selection.clone(), index, rows[index]);
                    Slot::Extreme(slot)
                }
                Source::Distinct(sel) => {
                    Slot::Distinct(selections.distinct.push(sel.clone(), index, rows[index]))
                }
                Source::Score(_) | Source::Attr(_) => Slot::Input,
            };
            slots.push(slot);
        }
        let features = event_features(
            inputs.events.clone(),
            selections,
            readers.clone(),
            inputs.timing,
        );
        Sources {
            sources,
            inputs: inputs.clone(),
            slots,
            event_facts: features.facts,
            linear: features.linear,
            extreme: features.extreme,
            distinct: features.distinct,
            known: features.known,
            attrs: None,
            latest_scores: HashMap::new(),
        }
    }

    /// The facts every source's rows give ([`Readers`]), and [`Fact::Known`] for every
    /// user in the universe: with a users row, a visible event or a score.
    pub fn facts(&mut self, readers: &Arc<Readers>) -> Vec<Facts<'scope>> {
        let universe = total_per_key(self.presence(), "Universe", |count| {
            (*count > 0).then_some(())
        });
        let mut facts = vec![
            universe.map(|(user, ())| (user, Fact::Known)),
            self.event_facts.clone(),
        ];
        let columns: Vec<(usize, usize)> = (self.sources.iter().enumerate())
            .filter_map(|(index, source)| match source {
                Source::Attr(column) if readers.reads(index) => Some((index, *column)),
                _ => None,
            })
            .collect();
        if !columns.is_empty() {
            let readers = readers.clone();
            facts.push(self.attrs().flat_map(move |(user, attrs)| {
                let facts = columns.iter().flat_map(|&(source, column)| {
                    let value = &attrs[column];
                    readers.facts(source, |_| (!value.is_null()).then(|| value.clone()))
                });
                facts.map(|fact| (user, fact)).collect::<Vec<_>>()
            }));
        }
        for index in 0..self.sources.len() {
            if let Source::Score(model) = &self.sources[index] {
                if readers.reads(index) {
                    let readers = readers.clone();
                    let scores = self.latest_score(model.clone());
                    facts.push(scores.flat_map(move |(user, score)| {
                        let facts = readers.facts(index, |_| Some(score.clone()));
                        facts.into_iter().map(move |fact| (user, fact))
                    }));
                }
            }
        }
        facts
    }

    /// Every known user, once per row that makes them known (for atoms on `now` alone).
    pub fn presence(&self) -> VecCollection<'scope, u64, UserKey> {
        let scope = self.known.scope();
        differential_dataflow::collection::concatenate(
            scope,
            [
                self.inputs.users.clone().map(|(user, _)| user),
                self.known.clone(),
                self.inputs.scores.clone().map(|(user, _)| user),
            ],
        )
    }

    /// An operand's values as a collection, one row per user that has one. An event
    /// source's operand needs its rows rendered ([`Sources::render`]'s `rows`).
    pub fn operand_rows(&mut self, operand: &Operand) -> Values<'scope> {
        let projection = operand.projection;
        match (self.slots[operand.source], &self.sources[operand.source]) {
            (Slot::Linear(slot), _) => self.linear.clone().flat_map(move |((s, user), totals)| {
                let value = if s == slot {
                    totals.project(projection)
                } else {
                    None
                };
                value.map(|v| (user, v))
            }),
            (Slot::Extreme(slot), _) => (self.extreme.clone())
                .flat_map(move |((s, user), value)| (s == slot).then_some((user, value))),
            (Slot::Distinct(slot), _) => {
                self.distinct.clone().flat_map(move |((s, user), count)| {
                    (s == slot).then(|| (user, Value::Number(Decimal::from(count as i64))))
                })
            }
            (Slot::Input, Source::Attr(column)) => {
                let column = *column;
                self.attrs().flat_map(move |(user, attrs)| {
                    let value = &attrs[column];
                    (!value.is_null()).then(|| (user, value.clone()))
                })
            }
            (Slot::Input, Source::Score(model)) => self.latest_score(model.clone()),
            (Slot::Input, _) => unreachable!("event sources have a family slot"),
        }
    }

    /// Each user's current attribute row: users are upserts, the greatest `seq` wins.
    fn attrs(&mut self) -> VecCollection<'scope, u64, (UserKey, Vec<Value>)> {
        let users = &self.inputs.users;
        self.attrs
            .get_or_insert_with(|| {
                let rows = users.clone().map(|(user, record)| (user, Reverse(record)));
                let arranged = rows.arrange_by_key_named("Arrange: CurrentUser");
                least_per_key(arranged, "CurrentUser", |&user, Reverse(record)| {
                    (user, record.attrs)
                })
            })
            .clone()
    }

    /// Each user's latest score of `model`: the latest `ts`, ties to the greater score.
    fn latest_score(&mut self, model: Text) -> Values<'scope> {
        let scores = &self.inputs.scores;
        self.latest_scores
            .entry(model.clone())
            .or_insert_with(|| {
                let rows = scores.clone().flat_map(move |(user, score)| {
                    (score.model == model).then_some((user, Reverse((score.ts, score.score))))
                });
                let arranged = rows.arrange_by_key_named("Arrange: LatestScore");
                least_per_key(arranged, "LatestScore", |&user, Reverse((_ts, score))| {
                    (user, Value::Number(score))
                })
            })
            .clone()
    }
}
