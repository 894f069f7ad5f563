//! Sources read from the input rows: each user's latest score of a model and current
//! `users` row, rendered once each when the plan places a source there.

use std::cmp::Reverse;
use std::collections::HashMap;

use differential_dataflow::VecCollection;

use crate::value::{Text, Value};

use super::inputs::Inputs;
use super::least::least_per_key;
use super::model_scores::{active_versions, selected_scores};
use super::records::UserKey;
use crate::catalog::ir::ScoreVersion;

/// A collection of `(user, value)` rows, one per user at most.
pub type OperandRows<'scope> = VecCollection<'scope, u64, (UserKey, Value)>;

/// The latest-score and current-user operators of a dataflow, each rendered on first
/// use.
pub struct InputSources<'scope> {
    inputs: Inputs<'scope>,
    current_users: Option<VecCollection<'scope, u64, (UserKey, Vec<Value>)>>,
    latest_scores: HashMap<(Text, ScoreVersion), OperandRows<'scope>>,
    active_versions: Option<VecCollection<'scope, u64, (Text, Text)>>,
}

impl<'scope> InputSources<'scope> {
    pub fn new(inputs: &Inputs<'scope>) -> Self {
        InputSources {
            inputs: inputs.clone(),
            current_users: None,
            latest_scores: HashMap::new(),
            active_versions: None,
        }
    }

    /// Each user's current attribute row: users are upserts, the greatest `seq` wins.
    pub fn current_users(&mut self) -> VecCollection<'scope, u64, (UserKey, Vec<Value>)> {
        let users = &self.inputs.users;
        self.current_users
            .get_or_insert_with(|| {
                let rows = users.clone().map(|(user, record)| (user, Reverse(record)));
                let arranged = rows.arrange_by_key_named("Arrange: CurrentUser");
                least_per_key(arranged, "CurrentUser", |&user, Reverse(record)| {
                    (user, record.attrs)
                })
            })
            .clone()
    }

    /// Each user's value of attribute `column`, for users who have one.
    pub fn attribute(&mut self, column: usize) -> OperandRows<'scope> {
        self.current_users().flat_map(move |(user, attrs)| {
            let value = &attrs[column];
            (!value.is_null()).then(|| (user, value.clone()))
        })
    }

    /// Each user's latest score of `version` of `model`: the latest `ts`, ties to the
    /// greater score.
    pub fn latest_score(&mut self, model: Text, version: ScoreVersion) -> OperandRows<'scope> {
        let scores = &self.inputs.scores;
        let models = &self.inputs.models;
        let active = &mut self.active_versions;
        self.latest_scores
            .entry((model.clone(), version.clone()))
            .or_insert_with(|| {
                let active = active
                    .get_or_insert_with(|| active_versions(models.clone()))
                    .clone();
                let rows = selected_scores(scores.clone(), active, model, version);
                let arranged = rows.arrange_by_key_named("Arrange: LatestScore");
                least_per_key(arranged, "LatestScore", |&user, Reverse((_ts, score))| {
                    (user, Value::Number(score))
                })
            })
            .clone()
    }
}
