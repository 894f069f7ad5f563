//! The scores a `score(...)` reads: each user's latest score of one version of a model,
//! a fixed one (`score('churn', 'v3')`) or the model's active one (`score('churn')`).
//!
//! The active version is data: of a model's `models.csv` rows and live `model`
//! records in effect, the greatest `(ts, seq)` names it ([`active_versions`]). A model
//! without any has no active version, and then every version counts, so data without
//! versions reads as it always has: the latest score, whatever produced it.
//!
//! Why a join on every worker rather than one keyed by model: a model's scores are
//! spread over the workers by user, and keying them by model would move all of one
//! model's rows to one worker. The active versions are a handful of rows, so they are
//! sent to every worker ([`Broadcast`]) and joined there with the local scores, both
//! arranged without an exchange. A switch of versions then re-selects the rows of the
//! two versions involved on every worker at once, and the latest-score operator
//! downstream changes exactly the users whose score changed.

use std::cmp::Reverse;

use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::{ValBatcher, ValSpine};
use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use rust_decimal::Decimal;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::ToStream;

use crate::catalog::ir::ScoreVersion;
use crate::value::Text;

use super::least::least_per_key;
use super::records::{ModelRecord, ScoreRecord, UserKey};

/// The key scores are selected by: the version that produced them, or any version
/// (every score is filed under both, when it has a version).
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
enum Selector {
    Any,
    Version(Text),
}

type Local<'scope, K, V> = Arranged<'scope, TraceAgent<ValSpine<K, V, u64, isize>>>;

/// Arranges a collection where it is, without exchanging it between workers.
fn arrange_here<'scope, K, V>(
    collection: VecCollection<'scope, u64, (K, V)>,
    name: &str,
) -> Local<'scope, K, V>
where
    K: ExchangeData + Ord,
    V: ExchangeData + Ord,
{
    arrange_core::<_, _, ValBatcher<K, V, u64, isize>, ValSpine<K, V, u64, isize>>(
        collection.inner,
        Pipeline,
        name,
        ValBatcher::new,
    )
}

/// Each model's active version `(model, version)`, on every worker.
pub fn active_versions<'scope>(
    models: VecCollection<'scope, u64, (Text, ModelRecord)>,
) -> VecCollection<'scope, u64, (Text, Text)> {
    let arranged = models
        .map(|(model, record)| (model, Reverse(record)))
        .arrange_by_key_named("Arrange: ActiveVersion");
    least_per_key(arranged, "ActiveVersion", |model, Reverse(record)| {
        (model.clone(), record.version)
    })
    .inner
    .broadcast()
    .as_collection()
}

/// Each user's scores of `model` that `version` selects, as `(user, Reverse((ts,
/// score)))`: the least per user is the latest score, ties to the greater score.
pub fn selected_scores<'scope>(
    scores: VecCollection<'scope, u64, (UserKey, ScoreRecord)>,
    active: VecCollection<'scope, u64, (Text, Text)>,
    model: Text,
    version: ScoreVersion,
) -> VecCollection<'scope, u64, (UserKey, Reverse<(u64, Decimal)>)> {
    let of_model = {
        let model = model.clone();
        scores.filter(move |(_, score)| score.model == model)
    };
    match version {
        ScoreVersion::Fixed(wanted) => of_model.flat_map(move |(user, score)| {
            (score.version.as_ref() == Some(&wanted))
                .then_some((user, Reverse((score.ts, score.score))))
        }),
        ScoreVersion::Active => {
            let filed = of_model.flat_map(|(user, score)| {
                let row = (user, Reverse((score.ts, score.score)));
                let by_version = score
                    .version
                    .map(|version| (Selector::Version(version), row));
                by_version.into_iter().chain([(Selector::Any, row)])
            });
            // What is selected on this worker: the active version, or any version while
            // the model has none (one constant row less one per active version).
            let active = active.filter(move |(m, _)| *m == model);
            let any = vec![((Selector::Any, ()), 0u64, 1isize)]
                .to_stream(filed.inner.scope())
                .as_collection()
                .concat(active.clone().map(|_| (Selector::Any, ())).negate());
            let selector = active
                .map(|(_, version)| (Selector::Version(version), ()))
                .concat(any);
            arrange_here(filed, "Arrange: ScoresByVersion").join_core(
                arrange_here(selector, "Arrange: SelectedVersion"),
                |_, row, ()| Some(*row),
            )
        }
    }
}
