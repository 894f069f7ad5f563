//! Segment versions defined while a live run serves, each computed by a dataflow of
//! its own from the run's inputs, which the run keeps arranged by user.
//!
//! A new definition must not re-read the history: the run's dataflow keeps its four
//! input collections arranged ([`KeptInputs`]), and a version's dataflow imports them
//! (as differential's arrangements allow across dataflows of one worker), renders the
//! plan of the version's catalog over them and names the memberships of its segment.
//! The imported history comes at the arrangements' compacted times, so the version's
//! first changes describe its state as of the moment it was built; the run moves them
//! to the version's start ([`crate::live::definitions::Version::windowed`]).

use std::cell::RefCell;
use std::rc::Rc;

use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::VecCollection;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::{Exchange, Inspect, Probe};
use timely::progress::Antichain;
use timely::worker::Worker;

use crate::dataflow::{
    name_memberships, render, Event, Ids, Inputs, ModelRecord, Named, ScoreRecord, Timing, UserKey,
    UserRecord,
};
use crate::live::definitions::Build;
use crate::plan::Plan;
use crate::value::Text;

use super::changes::MembershipUpdate;

type Kept<V, K = UserKey> = TraceAgent<ValSpine<K, V, u64, isize>>;

/// The run's inputs arranged by user, and where versions' changes go.
pub struct KeptInputs {
    users: Kept<UserRecord>,
    events: Kept<Event>,
    scores: Kept<ScoreRecord>,
    models: Kept<ModelRecord, Text>,
    names: Kept<(String, bool)>,
    timing: Timing,
    /// Worker 0 gathers the versions' changes with the run's own.
    changes: Rc<RefCell<Vec<MembershipUpdate>>>,
    probe: ProbeHandle<u64>,
}

/// The input collections of a run's dataflow, to be kept.
pub struct ToKeep<'scope> {
    pub users: VecCollection<'scope, u64, (UserKey, UserRecord)>,
    pub events: VecCollection<'scope, u64, (UserKey, Event)>,
    pub scores: VecCollection<'scope, u64, (UserKey, ScoreRecord)>,
    pub models: VecCollection<'scope, u64, (Text, ModelRecord)>,
    pub names: VecCollection<'scope, u64, (UserKey, (String, bool))>,
}

impl KeptInputs {
    /// Arranges the collections (inside the run's dataflow); the versions' changes
    /// will go to `changes`, and their progress to `probe`.
    pub fn arrange(
        inputs: ToKeep<'_>,
        timing: Timing,
        changes: Rc<RefCell<Vec<MembershipUpdate>>>,
        probe: ProbeHandle<u64>,
    ) -> KeptInputs {
        KeptInputs {
            users: inputs.users.arrange_by_key_named("Kept: users").trace,
            events: inputs.events.arrange_by_key_named("Kept: events").trace,
            scores: inputs.scores.arrange_by_key_named("Kept: scores").trace,
            models: inputs.models.arrange_by_key_named("Kept: models").trace,
            names: inputs.names.arrange_by_key_named("Kept: names").trace,
            timing,
            changes,
            probe,
        }
    }

    /// Lets the arrangements forget the history before what they hold complete: a
    /// version built later sees it as of then.
    pub fn compact(&mut self) {
        compact(&mut self.users);
        compact(&mut self.events);
        compact(&mut self.scores);
        compact(&mut self.models);
        compact(&mut self.names);
    }

    /// Builds the dataflow of version `version` (on every worker, in the same order).
    pub fn build(&mut self, worker: &mut Worker, version: u32, build: &Build) {
        let plan = Plan::new(&build.catalog());
        let target = plan.segments.len() as u32 - 1;
        let timing = self.timing;
        let sink = self.changes.clone();
        let probe = self.probe.clone();
        let (users, events, scores, models, names) = (
            &mut self.users,
            &mut self.events,
            &mut self.scores,
            &mut self.models,
            &mut self.names,
        );
        worker.dataflow::<u64, _, _>(|scope| {
            let inputs = Inputs {
                users: users.import(scope).as_collection(|k, v| (*k, v.clone())),
                events: events.import(scope).as_collection(|k, v| (*k, v.clone())),
                scores: scores.import(scope).as_collection(|k, v| (*k, v.clone())),
                models: (models.import(scope)).as_collection(|k, v| (k.clone(), v.clone())),
                queries: None,
                timing,
            };
            let names = names.import(scope).as_collection(|k, v| (*k, v.clone()));
            let rendered = render(&plan, inputs);
            name_memberships(rendered.memberships, names, Ids::Omitted)
                .exchange(|_| 0)
                .inspect(move |(named, time, diff)| {
                    // Collisions are the run's own dataflow's to report.
                    if let Named::Member(segment, id) = named {
                        if *segment == target {
                            let change = ((version, id.clone()), *time, *diff);
                            sink.borrow_mut().push(change);
                        }
                    }
                })
                .probe_with(&probe);
        });
    }
}

/// Compacts a trace up to what it holds complete.
fn compact<K: Ord + Clone + 'static, V: Ord + Clone + 'static>(trace: &mut Kept<V, K>) {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    trace.set_logical_compaction(upper.borrow());
    trace.set_physical_compaction(upper.borrow());
}
