//! [`ScoredVersions`]: the versions of each model that score rows carry.
//!
//! A switch of a model's active version (a `models.csv` row, a live `model` record)
//! must name a version whose scores were read before it. Versions are data, so a
//! switch to a version without scores would be valid in itself, but it makes every
//! score of the model missing at once — what a typo in a deployment does. So such a
//! switch is a bad row, reported with its file and line, and the model keeps its
//! active version.

use std::collections::{HashMap, HashSet};

use super::error::RowError;
use crate::value::Text;

/// The versions seen in score rows, by model.
#[derive(Clone, Debug, Default)]
pub struct ScoredVersions {
    versions: HashMap<Text, HashSet<Text>>,
}

impl ScoredVersions {
    /// Notes a score row of `version` of `model`.
    pub fn note(&mut self, model: &Text, version: &Text) {
        if !self.has(model, version) {
            self.versions
                .entry(model.clone())
                .or_default()
                .insert(version.clone());
        }
    }

    /// Whether a switch of `model` to `version` may be made: an error on the
    /// `version` field when no score row of that version was noted.
    pub fn check(&self, model: &str, version: &str) -> Result<(), RowError> {
        if self.has(model, version) {
            return Ok(());
        }
        Err(RowError::column(
            "version",
            format!(
                "model `{model}` has no scores of version `{version}`: write a version's \
                 scores before the switch to it"
            ),
        ))
    }

    fn has(&self, model: &str, version: &str) -> bool {
        self.versions
            .get(model)
            .is_some_and(|v| v.contains(version))
    }

    /// Every (model, version) noted, to send to another worker.
    pub fn pairs(&self) -> Vec<(Text, Text)> {
        let mut pairs: Vec<(Text, Text)> = self
            .versions
            .iter()
            .flat_map(|(m, vs)| vs.iter().map(move |v| (m.clone(), v.clone())))
            .collect();
        pairs.sort();
        pairs
    }
}

impl FromIterator<(Text, Text)> for ScoredVersions {
    fn from_iter<I: IntoIterator<Item = (Text, Text)>>(pairs: I) -> Self {
        let mut versions = ScoredVersions::default();
        for (model, version) in pairs {
            versions.note(&model, &version);
        }
        versions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_needs_a_scored_version_of_its_model() {
        let versions: ScoredVersions = [("churn".into(), "v1".into())].into_iter().collect();
        assert_eq!(versions.check("churn", "v1"), Ok(()));
        let error = versions.check("churn", "v2").unwrap_err();
        assert_eq!(error.column.as_deref(), Some("version"));
        assert!(
            error
                .reason
                .contains("`churn` has no scores of version `v2`"),
            "{error:?}"
        );
        assert!(versions.check("other", "v1").is_err());
    }
}
