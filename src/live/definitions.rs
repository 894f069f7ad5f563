//! Definitions changed while a live run serves: the catalog's revisions, and the
//! version of each segment that every revision computes.
//!
//! A revision is the catalog's files less the segment definitions replaced or deleted
//! since, plus each accepted `PUT` body as one more file, checked together as one
//! catalog ([`crate::catalog::check_edited`]). A change takes effect at one tick `F`:
//! every version it ends has its memberships until `F`, every version it starts has
//! them from `F` on. Replacing a segment also starts a new version of every segment
//! that refers to it, directly or not: their definitions now mean the new one.
//!
//! Versions are numbered in the order they start: the catalog's own segments first
//! (version `i` is segment `i`, computed by the run's dataflow), then each runtime
//! version (computed by a dataflow of its own, see [`Build`]). Outputs are segment
//! names, numbered in order of first appearance: the change log and the service name
//! memberships by output, so a replaced segment keeps its name and the users in both
//! versions see no change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::ir::Catalog;
use crate::catalog::{check_edited, CatalogError, Diagnostic};

/// A change to the definitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Adds or replaces segment `name` with the definitions in `body` (its `segment`
    /// statement and any new `feature` statements it needs).
    Put {
        /// The segment the body must define.
        name: String,
        /// The catalog text.
        body: String,
    },
    /// Removes segment `name`.
    Delete {
        /// The segment.
        name: String,
    },
}

impl Edit {
    /// The segment the edit is about.
    pub fn name(&self) -> &str {
        match self {
            Edit::Put { name, .. } | Edit::Delete { name } => name,
        }
    }
}

/// Why an edit was refused.
#[derive(Clone, Debug, thiserror::Error)]
pub enum EditError {
    /// The body does not check (with the catalog it joins).
    #[error("the definition has errors")]
    Invalid(Vec<Diagnostic>),
    /// The body defines other segments than the one named.
    #[error(
        "the body must define exactly one segment, `{name}` (as the path says); it defines {}",
        if .defined.is_empty() { "none".to_owned() } else { .defined.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ") }
    )]
    NotTheNamedSegment {
        /// The segment named by the request.
        name: String,
        /// The segments the body defines.
        defined: Vec<String>,
    },
    /// The body changes the schema, which a running dataflow cannot change.
    #[error("the schema cannot change while the service runs: leave `schema` statements out")]
    Schema,
    /// No such segment to delete.
    #[error("no segment `{0}` is defined")]
    Unknown(String),
    /// The segment is used by others.
    #[error(
        "segment `{name}` is used by {}: change or delete them first",
        .used_by.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")
    )]
    InUse {
        /// The segment.
        name: String,
        /// The segments whose definitions name it.
        used_by: Vec<String>,
    },
}

/// How to compute a version defined at runtime, in a dataflow of its own: the
/// revision it was defined in, and its name there. Every worker builds the same
/// catalog from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// The revision's files.
    pub sources: Vec<(String, Vec<u8>)>,
    /// The segments its files define that it leaves out.
    pub dropped: Vec<(usize, String)>,
    /// The segment.
    pub name: String,
}

impl Build {
    /// The catalog computing the segment: it and the segments it refers to, the
    /// segment last (see [`Catalog::closure`]).
    pub fn catalog(&self) -> Catalog {
        let revision = check_edited(self.sources.clone(), &self.dropped)
            .expect("a revision is built only once it has checked");
        let index = (revision.segment_index(&self.name)).expect("the revision defines it");
        revision.closure(index)
    }
}

/// One version of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The segment's name.
    pub name: String,
    /// The definition's hash.
    pub hash: String,
    /// The output its memberships go to.
    pub output: u32,
    /// The tick its memberships start at (0 for the catalog's own segments).
    pub from: u64,
    /// The tick they end at, once replaced or deleted.
    pub until: Option<u64>,
    /// How to compute it; `None` for a segment of the run's own catalog.
    pub build: Option<Build>,
}

impl Version {
    /// A change `(tick, diff)` of this version's output as the run writes it: moved to
    /// `from` when earlier, and when the version has ended, dropped from `until` on and
    /// undone at `until` otherwise. Summed to any tick, the result is the version's
    /// memberships while it is in effect and nothing outside it.
    pub fn windowed(&self, tick: u64, diff: isize) -> impl Iterator<Item = (u64, isize)> {
        let ended = self.until.is_some_and(|until| tick >= until);
        let kept = (!ended).then_some((tick.max(self.from), diff));
        let undone = self.until.filter(|_| !ended).map(|until| (until, -diff));
        kept.into_iter().chain(undone)
    }
}

/// What an accepted edit does, ready to be applied at a tick.
#[derive(Clone, Debug)]
pub struct Revision {
    /// The edit.
    pub edit: Edit,
    sources: Vec<(String, Vec<u8>)>,
    dropped: Vec<(usize, String)>,
    catalog: Catalog,
    /// The segments whose current version ends.
    ended: Vec<String>,
    /// The segments given a new version, with their hashes.
    pub started: Vec<(String, String)>,
}

impl Revision {
    /// Whether the edit changes nothing (a segment put again as it is).
    pub fn is_unchanged(&self) -> bool {
        self.ended.is_empty() && self.started.is_empty()
    }
}

/// What applying a revision did, by version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The versions that ended.
    pub ended: Vec<usize>,
    /// The versions that started.
    pub started: Vec<usize>,
}

/// The definitions as of the latest revision, and every version since the start.
#[derive(Clone, Debug)]
pub struct Definitions {
    sources: Vec<(String, Vec<u8>)>,
    dropped: Vec<(usize, String)>,
    catalog: Catalog,
    /// The file defining each segment in effect.
    defined_in: BTreeMap<String, usize>,
    versions: Vec<Version>,
    outputs: Vec<String>,
    /// The version in effect of each segment.
    current: BTreeMap<String, usize>,
}

impl Definitions {
    /// The run's own catalog, checked from `sources`: one version per segment.
    pub fn new(sources: Vec<(String, Vec<u8>)>, catalog: &Catalog) -> Definitions {
        let defined_in = defined_in(&sources, catalog);
        let versions: Vec<Version> = (catalog.segments.iter().enumerate())
            .map(|(index, segment)| Version {
                name: segment.name.clone(),
                hash: segment.hash.clone(),
                output: index as u32,
                from: 0,
                until: None,
                build: None,
            })
            .collect();
        Definitions {
            outputs: versions.iter().map(|v| v.name.clone()).collect(),
            current: (versions.iter().enumerate())
                .map(|(index, v)| (v.name.clone(), index))
                .collect(),
            versions,
            defined_in,
            catalog: catalog.clone(),
            dropped: Vec::new(),
            sources,
        }
    }

    /// The catalog in effect.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The files the catalog in effect is checked from.
    pub fn sources(&self) -> &[(String, Vec<u8>)] {
        &self.sources
    }

    /// The segment definitions of [`Definitions::sources`] the catalog leaves out.
    pub fn dropped(&self) -> &[(usize, String)] {
        &self.dropped
    }

    /// Every version, in the order they started.
    pub fn versions(&self) -> &[Version] {
        &self.versions
    }

    /// The outputs' segment names.
    pub fn outputs(&self) -> &[String] {
        &self.outputs
    }

    /// The output of segment `name`, if it ever had one.
    pub fn output(&self, name: &str) -> Option<u32> {
        self.outputs
            .iter()
            .position(|o| o == name)
            .map(|o| o as u32)
    }

    /// Checks an edit against the definitions in effect.
    pub fn check(&self, edit: Edit) -> Result<Revision, EditError> {
        let name = edit.name().to_owned();
        let mut sources = self.sources.clone();
        let mut dropped = self.dropped.clone();
        if let Some(&file) = self.defined_in.get(&name) {
            dropped.push((file, name.clone()));
        }
        match &edit {
            Edit::Put { body, .. } => {
                let file = format!("PUT /v1/segments/{name} (edit {})", self.sources.len());
                sources.push((file.clone(), body.clone().into_bytes()));
                let catalog = checked(sources.clone(), &dropped)?;
                let defined: Vec<String> = (catalog.segments.iter())
                    .filter(|segment| *segment.loc.file == *file)
                    .map(|segment| segment.name.clone())
                    .collect();
                if defined != [name.clone()] {
                    return Err(EditError::NotTheNamedSegment { name, defined });
                }
                if (catalog.users.clone(), catalog.events.clone())
                    != (self.catalog.users.clone(), self.catalog.events.clone())
                {
                    return Err(EditError::Schema);
                }
                // Every segment whose hash changed (it or something it names was
                // redefined) gets a new version; an identical body changes nothing.
                let changed: Vec<(String, String)> = (catalog.segments.iter())
                    .filter(|segment| {
                        let before = self.catalog.segment_index(&segment.name);
                        before.is_none_or(|i| self.catalog.segments[i].hash != segment.hash)
                    })
                    .map(|segment| (segment.name.clone(), segment.hash.clone()))
                    .collect();
                let ended = (changed.iter())
                    .filter(|(name, _)| self.current.contains_key(name))
                    .map(|(name, _)| name.clone())
                    .collect();
                Ok(Revision {
                    edit,
                    sources,
                    dropped,
                    catalog,
                    ended,
                    started: changed,
                })
            }
            Edit::Delete { .. } => {
                let Some(index) = self.catalog.segment_index(&name) else {
                    return Err(EditError::Unknown(name));
                };
                let used_by: Vec<String> = (self.catalog.segments.iter())
                    .filter(|segment| {
                        let mut named = Vec::new();
                        segment.pred.referenced_segments(&mut named);
                        named.contains(&index)
                    })
                    .map(|segment| segment.name.clone())
                    .collect();
                if !used_by.is_empty() {
                    return Err(EditError::InUse { name, used_by });
                }
                let catalog = checked(sources.clone(), &dropped)?;
                Ok(Revision {
                    edit,
                    sources,
                    dropped,
                    catalog,
                    ended: vec![name],
                    started: Vec::new(),
                })
            }
        }
    }

    /// Applies a checked revision at tick `at`.
    pub fn apply(&mut self, revision: Revision, at: u64) -> Applied {
        let mut applied = Applied::default();
        for name in &revision.ended {
            if let Some(version) = self.current.remove(name) {
                self.versions[version].until = Some(at);
                applied.ended.push(version);
            }
        }
        for (name, hash) in &revision.started {
            let output = self.output(name).unwrap_or_else(|| {
                self.outputs.push(name.clone());
                self.outputs.len() as u32 - 1
            });
            self.current.insert(name.clone(), self.versions.len());
            applied.started.push(self.versions.len());
            self.versions.push(Version {
                name: name.clone(),
                hash: hash.clone(),
                output,
                from: at,
                until: None,
                build: Some(Build {
                    sources: revision.sources.clone(),
                    dropped: revision.dropped.clone(),
                    name: name.clone(),
                }),
            });
        }
        self.defined_in = defined_in(&revision.sources, &revision.catalog);
        self.sources = revision.sources;
        self.dropped = revision.dropped;
        self.catalog = revision.catalog;
        applied
    }
}

/// The catalog of `sources` less `dropped`, or its diagnostics.
fn checked(
    sources: Vec<(String, Vec<u8>)>,
    dropped: &[(usize, String)],
) -> Result<Catalog, EditError> {
    check_edited(sources, dropped).map_err(|error| match error {
        CatalogError::Invalid(diagnostics) => EditError::Invalid(diagnostics),
        CatalogError::Io { .. } => unreachable!("in-memory sources are not read"),
    })
}

/// The file of `sources` defining each segment of `catalog`.
fn defined_in(sources: &[(String, Vec<u8>)], catalog: &Catalog) -> BTreeMap<String, usize> {
    (catalog.segments.iter())
        .map(|segment| {
            let file = (sources.iter())
                .position(|(name, _)| **name == *segment.loc.file)
                .expect("a segment's file is one of the sources");
            (segment.name.clone(), file)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::check_texts;

    const CATALOG: &str = "\
schema events(amount: number)
feature purchases = count(events where kind = 'purchase')
segment buyers = purchases >= 1
segment loyal = buyers and purchases > 5
segment quiet = purchases = 0
";

    fn definitions() -> Definitions {
        let sources = vec![("c.seg".to_owned(), CATALOG.as_bytes().to_vec())];
        let catalog = check_texts(sources.clone()).unwrap();
        Definitions::new(sources, &catalog)
    }

    fn put(name: &str, body: &str) -> Edit {
        Edit::Put {
            name: name.into(),
            body: body.into(),
        }
    }

    fn windowed(version: &Version, tick: u64, diff: isize) -> Vec<(u64, isize)> {
        version.windowed(tick, diff).collect()
    }

    #[test]
    fn a_window_moves_early_changes_to_its_start_and_undoes_them_at_its_end() {
        let mut version = Version {
            name: "s".into(),
            hash: "h".into(),
            output: 0,
            from: 10,
            until: None,
            build: None,
        };
        assert_eq!(windowed(&version, 3, 1), [(10, 1)]);
        assert_eq!(windowed(&version, 12, -1), [(12, -1)]);
        version.until = Some(20);
        assert_eq!(windowed(&version, 3, 1), [(10, 1), (20, -1)]);
        assert_eq!(windowed(&version, 19, -1), [(19, -1), (20, 1)]);
        assert_eq!(windowed(&version, 20, 1), []);
        assert_eq!(windowed(&version, 25, 1), []);
    }

    #[test]
    fn replacing_a_segment_restarts_the_segments_that_name_it() {
        let mut definitions = definitions();
        let revision = definitions
            .check(put("buyers", "segment buyers = purchases >= 2"))
            .unwrap();
        let mut started: Vec<&str> = revision.started.iter().map(|(n, _)| n.as_str()).collect();
        started.sort_unstable();
        assert_eq!(started, ["buyers", "loyal"]);
        let mut applied = definitions.apply(revision, 100);
        applied.ended.sort_unstable();
        assert_eq!(applied.ended, [0, 1]);
        let versions = definitions.versions();
        assert_eq!(
            (versions[0].until, versions[1].until),
            (Some(100), Some(100))
        );
        let new = |name: &str| {
            let found = applied.started.iter().map(|&v| &versions[v]);
            found.clone().find(|v| v.name == name).unwrap().clone()
        };
        let (buyers, loyal) = (new("buyers"), new("loyal"));
        assert_eq!((buyers.output, loyal.output), (0, 1));
        assert_eq!((buyers.from, buyers.until), (100, None));
        // Each build checks to a catalog computing its segment last.
        let loyal = loyal.build.unwrap().catalog();
        let names: Vec<&str> = loyal.segments.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["buyers", "loyal"]);
        assert_eq!(loyal.segments[0].text, "segment buyers = purchases >= 2");
        // The same body again changes nothing.
        let again = definitions
            .check(put("buyers", "segment buyers = purchases >= 2"))
            .unwrap();
        assert!(again.is_unchanged());
    }

    #[test]
    fn a_new_segment_gets_a_new_output_and_a_deleted_one_ends() {
        let mut definitions = definitions();
        let revision = definitions
            .check(put(
                "big",
                "feature spend = sum(events.amount)\nsegment big = spend > 100",
            ))
            .unwrap();
        definitions.apply(revision, 7);
        assert_eq!(definitions.output("big"), Some(3));
        assert_eq!(definitions.catalog().segments.len(), 4);
        let revision = definitions
            .check(Edit::Delete { name: "big".into() })
            .unwrap();
        let applied = definitions.apply(revision, 9);
        assert_eq!(applied.ended, [3]);
        assert!(applied.started.is_empty());
        assert_eq!(definitions.catalog().segment_index("big"), None);
        assert_eq!(definitions.outputs().len(), 4, "outputs are never reused");
        // Defined again, it takes its old output back.
        let revision = definitions
            .check(put("big", "segment big = purchases > 9"))
            .unwrap();
        definitions.apply(revision, 11);
        assert_eq!(definitions.versions().last().unwrap().output, 3);
    }

    #[test]
    fn refused_edits_say_why() {
        let definitions = definitions();
        let error = |edit| definitions.check(edit).unwrap_err();
        assert!(matches!(
            error(put("x", "segment x = nope > 1")),
            EditError::Invalid(_)
        ));
        assert_eq!(
            error(put("x", "segment y = purchases > 1")).to_string(),
            "the body must define exactly one segment, `x` (as the path says); it defines `y`"
        );
        assert!(matches!(
            error(put(
                "x",
                "schema users(age: number)\nsegment x = purchases > 1"
            )),
            EditError::Schema
        ));
        assert_eq!(
            error(Edit::Delete {
                name: "buyers".into()
            })
            .to_string(),
            "segment `buyers` is used by `loyal`: change or delete them first"
        );
        assert!(matches!(
            error(Edit::Delete {
                name: "nope".into()
            }),
            EditError::Unknown(_)
        ));
    }
}
