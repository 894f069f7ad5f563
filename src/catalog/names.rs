//! The one namespace that features and segments share, across all files.
//!
//! Sharing it is what lets a bare name in a predicate mean either a segment or a
//! feature without qualification. Indices follow declaration order (files in the order
//! given, statements in file order), which is the order of the checked catalog.

use std::collections::HashMap;

use super::ast::{DefKind, Definition, Stmt};
use super::diagnostic::Reports;
use super::source::SourceMap;

/// What a name stands for: an index into [`Names::features`] or [`Names::segments`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Def {
    Feature(usize),
    Segment(usize),
}

pub(crate) struct Names<'a> {
    index: HashMap<&'a str, Def>,
    pub features: Vec<&'a Definition>,
    pub segments: Vec<&'a Definition>,
    /// Later definitions of a name already taken: reported, and checked only for
    /// their own errors.
    pub duplicates: Vec<&'a Definition>,
}

impl<'a> Names<'a> {
    /// Registers every definition, reporting names defined twice.
    pub fn collect(
        files: &'a [Vec<Stmt>],
        sources: &SourceMap,
        reports: &mut Reports,
    ) -> Names<'a> {
        let mut names = Names {
            index: HashMap::new(),
            features: Vec::new(),
            segments: Vec::new(),
            duplicates: Vec::new(),
        };
        for statement in files.iter().flatten() {
            let Stmt::Define(def) = statement else {
                continue;
            };
            if let Some(&first) = names.index.get(def.name.name.as_str()) {
                let first = names.definition(first);
                let message = format!(
                    "duplicate name `{}`; first defined at {}",
                    def.name.name,
                    sources.location(first.name.span)
                );
                let label = if first.kind == def.kind {
                    format!("a second {} with this name", def.kind.name())
                } else {
                    "features, models and segments share one namespace".to_string()
                };
                reports.error(def.name.span, message, label);
                names.duplicates.push(def);
                continue;
            }
            let entry = match def.kind {
                DefKind::Feature | DefKind::Model => {
                    names.features.push(def);
                    Def::Feature(names.features.len() - 1)
                }
                DefKind::Segment => {
                    names.segments.push(def);
                    Def::Segment(names.segments.len() - 1)
                }
            };
            names.index.insert(&def.name.name, entry);
        }
        names
    }

    pub fn get(&self, name: &str) -> Option<Def> {
        self.index.get(name).copied()
    }

    fn definition(&self, def: Def) -> &'a Definition {
        match def {
            Def::Feature(i) => self.features[i],
            Def::Segment(i) => self.segments[i],
        }
    }

    pub fn feature_names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.features.iter().map(|d| d.name.name.as_str())
    }

    /// Feature names, then segment names.
    pub fn all_names(&self) -> impl Iterator<Item = &'a str> + '_ {
        let segments = self.segments.iter().map(|d| d.name.name.as_str());
        self.feature_names().chain(segments)
    }
}
