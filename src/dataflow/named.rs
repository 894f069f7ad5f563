//! Memberships named by user id, and hash collisions between ids, in one operator.
//!
//! The dataflow computes memberships by [`UserKey`], a hash of the id; the output names
//! each user by its id string. The names collection says, per key, which ids it stands
//! for (more than one is a hash collision, reported as an error) and whether the key
//! has been erased (its memberships all end). Written with differential's operators,
//! this is a reduce over the names (the distinct ids of each key), a filter and an
//! arrangement of its result, a join with the memberships, and a filter, exchange and
//! inspection for the collisions: about ten operators, each scheduled in every round
//! of a live run, though the names rarely change. [`name_memberships`] keeps each key's ids and segments in a hash map,
//! applies both inputs' updates time by time once both frontiers have passed, and
//! emits the named changes and the collisions on one stream.

use differential_dataflow::hashable::Hashable;
use differential_dataflow::trace::{Cursor, Navigable};
use differential_dataflow::VecCollection;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;

use timely::dataflow::Stream;

use super::capabilities::{earliest, take_ready, HeldCapabilities};
use super::evaluate::Memberships;
use super::records::UserKey;
use super::values::add_sorted;

/// What the named output says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Named {
    /// The user of this id is a member of the segment of this index.
    Member(u32, String),
    /// These distinct ids share a key: the run cannot tell their users apart.
    Collision(Vec<String>),
    /// A user of this key is known by this id (diff +1) or no longer (-1: erased, or
    /// renamed by a lesser id of a colliding key). Only with [`Ids::Reported`].
    Known(UserKey, String),
}

/// Whether [`name_memberships`] also reports which ids are known: a service answering
/// "which segments is this user in?" must tell a user in none from an unknown id,
/// while a batch run only needs the memberships.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Ids {
    /// Memberships and collisions only.
    Omitted,
    /// Also [`Named::Known`] for every id that comes and goes.
    Reported,
}

/// Each key's id string and whether the row erases the key, as the names collection
/// holds them.
pub type Names<'scope> = VecCollection<'scope, u64, (UserKey, (String, bool))>;

/// An input update of one key.
enum Update {
    Member(u32),
    Name(String, bool),
}

/// The memberships of every key that has an id and is not erased, named by the key's
/// least id, as `(Named::Member, time, diff)`; and `(Named::Collision, time, 1)` when a
/// key comes to stand for more than one id (or such a key's erasure changes); with
/// [`Ids::Reported`], `(Named::Known, time, ±1)` as the name of a key comes and goes.
pub fn name_memberships<'scope>(
    memberships: Memberships<'scope>,
    names: Names<'scope>,
    ids: Ids,
) -> Stream<'scope, u64, Vec<(Named, u64, isize)>> {
    // Only the batches are read: dropping the trace handle lets it compact.
    let batches = memberships.stream;
    let by_key =
        Exchange::new(|((key, _), _, _): &((UserKey, (String, bool)), u64, isize)| key.hashed());
    batches.binary_frontier(
        names.inner,
        Pipeline,
        by_key,
        "NameMemberships",
        |_capability, _info| {
            let mut capabilities = HeldCapabilities::new(1);
            let mut pending: Vec<((UserKey, Update), u64, isize)> = Vec::new();
            let mut keys: FxHashMap<UserKey, KeyState> = FxHashMap::default();
            move |(memberships, memberships_frontier), (names, names_frontier), output| {
                memberships.for_each(|capability, received| {
                    capabilities.retain(&capability);
                    for batch in received.drain(..).filter_map(|span| span.inner) {
                        let mut cursor = batch.cursor();
                        while let Some(key) = cursor.get_key(&batch) {
                            while let Some(segment) = cursor.get_val(&batch) {
                                cursor.map_times(&batch, |time, diff| {
                                    let update = Update::Member(*segment);
                                    pending.push(((*key, update), *time, *diff));
                                });
                                cursor.step_val(&batch);
                            }
                            cursor.step_key(&batch);
                        }
                    }
                });
                names.for_each(|capability, received| {
                    capabilities.retain(&capability);
                    for ((key, (id, erased)), time, diff) in received.drain(..) {
                        pending.push(((key, Update::Name(id, erased)), time, diff));
                    }
                });
                let frontiers = [memberships_frontier.frontier(), names_frontier.frontier()];
                let mut ready = take_ready(&mut pending, &frontiers);
                // Stable: a key's updates at a time stay in the order they came.
                ready.sort_by_key(|((key, _), time, _)| (*time, *key));
                if let Some((_, first, _)) = ready.first() {
                    // One session at the earliest time: each update carries its own.
                    let capability = capabilities.at(0, first);
                    let mut session = output.session(&capability);
                    let mut updates = ready.into_iter().peekable();
                    while let Some(&((key, _), time, _)) = updates.peek() {
                        let of_key = std::iter::from_fn(|| {
                            updates.next_if(|((k, _), t, _)| (*t, *k) == (time, key))
                        });
                        let state = keys.entry(key).or_default();
                        state.apply(
                            key,
                            of_key.map(|((_, update), _, diff)| (update, diff)),
                            ids,
                            |named, diff| session.give((named, time, diff)),
                        );
                        if state.is_empty() {
                            keys.remove(&key);
                        }
                    }
                }
                capabilities.hold_from(earliest(&pending));
            }
        },
    )
}

/// One key's segments and names, with their multiplicities (sorted).
#[derive(Default)]
struct KeyState {
    segments: Vec<(u32, isize)>,
    names: Vec<((String, bool), isize)>,
}

impl KeyState {
    fn is_empty(&self) -> bool {
        self.segments.is_empty() && self.names.is_empty()
    }

    /// The distinct ids of the key, least first, and whether it is erased.
    fn ids(&self) -> (Vec<String>, bool) {
        let present = self.names.iter().filter(|(_, count)| *count > 0);
        let mut ids: Vec<String> = present.clone().map(|((id, _), _)| id.clone()).collect();
        ids.dedup();
        (ids, present.clone().any(|((_, erased), _)| *erased))
    }

    /// The id the key's memberships are named by: its least id, unless erased.
    fn visible(ids: &(Vec<String>, bool)) -> Option<String> {
        let (ids, erased) = ids;
        ids.first().filter(|_| !erased).cloned()
    }

    /// Applies one time's updates of the key and emits what changed.
    fn apply(
        &mut self,
        key: UserKey,
        updates: impl Iterator<Item = (Update, isize)>,
        ids: Ids,
        mut emit: impl FnMut(Named, isize),
    ) {
        let ids_before = self.ids();
        let name_before = KeyState::visible(&ids_before);
        let mut segment_changes = Vec::new();
        for (update, diff) in updates {
            match update {
                Update::Member(segment) => {
                    add_sorted(&mut self.segments, segment, diff);
                    segment_changes.push((segment, diff));
                }
                Update::Name(id, erased) => {
                    add_sorted(&mut self.names, (id, erased), diff);
                }
            }
        }
        let ids_after = self.ids();
        let name_after = KeyState::visible(&ids_after);
        if name_before == name_after {
            if let Some(name) = name_after {
                for (segment, diff) in segment_changes {
                    emit(Named::Member(segment, name.clone()), diff);
                }
            }
        } else {
            // Every membership ends under the old name and starts under the new one;
            // the memberships before are the current ones less this time's changes.
            if let Some(name) = &name_before {
                let mut before = self.segments.clone();
                for (segment, diff) in &segment_changes {
                    add_sorted(&mut before, *segment, -diff);
                }
                for (segment, count) in before {
                    emit(Named::Member(segment, name.clone()), -count);
                }
            }
            if let Some(name) = &name_after {
                for &(segment, count) in &self.segments {
                    emit(Named::Member(segment, name.clone()), count);
                }
            }
            if ids == Ids::Reported {
                if let Some(name) = name_before {
                    emit(Named::Known(key, name), -1);
                }
                if let Some(name) = name_after {
                    emit(Named::Known(key, name), 1);
                }
            }
        }
        if ids_after != ids_before && ids_after.0.len() > 1 {
            emit(Named::Collision(ids_after.0), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use differential_dataflow::consolidation::consolidate_updates;
    use differential_dataflow::input::Input;
    use timely::dataflow::operators::probe::Handle;
    use timely::dataflow::operators::{Inspect, Probe};

    use super::*;

    type Output = Vec<((u32, String), u64, isize)>;

    /// What [`run`] saw: named memberships and known ids (both consolidated), and
    /// collisions.
    struct Seen {
        members: Output,
        known: Vec<(String, u64, isize)>,
        collisions: Vec<(Vec<String>, u64)>,
    }

    /// Feeds memberships `(key, segment, time, diff)` and names `(key, id, erased,
    /// time)`.
    fn run(
        members: Vec<(UserKey, u32, u64, isize)>,
        names: Vec<(UserKey, &'static str, bool, u64)>,
    ) -> Seen {
        timely::execute_directly(move |worker| {
            let named = Rc::new(RefCell::new(Vec::new()));
            let known = Rc::new(RefCell::new(Vec::new()));
            let collisions = Rc::new(RefCell::new(Vec::new()));
            let (named_sink, collisions_sink) = (named.clone(), collisions.clone());
            let known_sink = known.clone();
            let probe = Handle::new();
            let (mut members_in, mut names_in) = worker.dataflow::<u64, _, _>(|scope| {
                let (members_in, members) = scope.new_collection::<(UserKey, u32), isize>();
                let (names_in, names) = scope.new_collection();
                name_memberships(members.arrange_by_key(), names, Ids::Reported)
                    .inspect(move |(out, time, diff)| match out {
                        Named::Member(segment, id) => {
                            named_sink
                                .borrow_mut()
                                .push(((*segment, id.clone()), *time, *diff))
                        }
                        Named::Collision(ids) => {
                            collisions_sink.borrow_mut().push((ids.clone(), *time))
                        }
                        Named::Known(_, id) => {
                            known_sink.borrow_mut().push((id.clone(), *time, *diff))
                        }
                    })
                    .probe_with(&probe);
                (members_in, names_in)
            });
            for &(key, segment, time, diff) in &members {
                members_in.update_at((key, segment), time, diff);
            }
            for &(key, id, erased, time) in &names {
                names_in.update_at((key, (id.to_owned(), erased)), time, 1);
            }
            members_in.advance_to(10);
            names_in.advance_to(10);
            members_in.flush();
            names_in.flush();
            worker.step_while(|| probe.less_than(&10));
            let mut members = named.borrow().clone();
            consolidate_updates(&mut members);
            let mut known = known.borrow().clone();
            consolidate_updates(&mut known);
            let collisions = collisions.borrow().clone();
            Seen {
                members,
                known,
                collisions,
            }
        })
    }

    #[test]
    fn memberships_take_the_least_id_end_on_erasure_and_collisions_are_reported() {
        let members = vec![(1, 0, 0, 1), (1, 2, 0, 1), (2, 1, 1, 1), (2, 1, 3, -1)];
        let names = vec![
            (1, "b", false, 0),
            (1, "a", false, 1),
            (1, "b", true, 2),
            (2, "c", false, 2),
        ];
        let seen = run(members, names);
        let member =
            |segment: u32, id: &str, time: u64, diff: isize| ((segment, id.to_owned()), time, diff);
        let mut expected = vec![
            // Key 1 is "b" at 0, then also "a" (the least id names it), then erased.
            member(0, "b", 0, 1),
            member(2, "b", 0, 1),
            member(0, "b", 1, -1),
            member(2, "b", 1, -1),
            member(0, "a", 1, 1),
            member(2, "a", 1, 1),
            member(0, "a", 2, -1),
            member(2, "a", 2, -1),
            // Key 2 is a member before it has a name: named from 2 until it leaves at 3.
            member(1, "c", 2, 1),
            member(1, "c", 3, -1),
        ];
        consolidate_updates(&mut expected);
        assert_eq!(seen.members, expected);
        // The key's visible id: "b", then "a" (the least), then none once erased.
        let known = |id: &str, time: u64, diff: isize| (id.to_owned(), time, diff);
        let mut expected_known = vec![
            known("b", 0, 1),
            known("b", 1, -1),
            known("a", 1, 1),
            known("a", 2, -1),
            known("c", 2, 1),
        ];
        consolidate_updates(&mut expected_known);
        assert_eq!(seen.known, expected_known);
        // Two ids on key 1 from time 1; its erasure at 2 changes the key's record, so
        // the collision is reported again.
        let ids = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(seen.collisions, vec![(ids.clone(), 1), (ids, 2)]);
    }
}
