//! The memberships a service answers from: each segment's current members, each known
//! user's segments, and the recent changes that let a reader see the state as of any
//! time within the history window.
//!
//! A live run hands over every round's final changes ([`Index::apply`]); readers ask
//! for a state *as of* a tick `t`: every change at a time at or before `t` counted, none
//! after it. The latest such time is the frontier less one tick. An earlier `t` is
//! answered from the current state by undoing the changes after `t`, which are kept
//! per segment and id while they are within the history window: so a page of members
//! read as of `t` costs the page and the recent changes of the ids it passes, not a
//! copy of the segment, and paging through a segment as of one `t` reads one
//! consistent state however much changes meanwhile.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::dataflow::{user_key, UserKey};
use crate::engine::segmentation::KnownUpdate;
use crate::live::changelog::LogChange;

/// Why a time cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AsOfError {
    /// No round has been published yet (the backfill is still loading).
    #[error("the service has no state yet: the backfill is still loading")]
    NotReady,
    /// The time is not final yet.
    #[error("as_of is later than the latest final time ({latest})")]
    NotFinal {
        /// The latest time that can be read, as a tick.
        latest: u64,
    },
    /// The time is older than the history the service keeps.
    #[error("as_of is older than the history kept (the oldest time that can be read is {oldest})")]
    Expired {
        /// The earliest time that can be read, as a tick.
        oldest: u64,
    },
}

/// Memberships as they are now and as they were within the history window.
#[derive(Debug)]
pub struct Index {
    segments: Vec<SegmentMembers>,
    /// Every known id, with its key and the segments it is in now.
    users: FxHashMap<Arc<str>, User>,
    /// The changes kept for reading earlier times, in time order.
    recent: VecDeque<(u64, u32, Arc<str>)>,
    /// Every change before this tick has been applied; 0 before the first round.
    frontier: u64,
    /// The earliest tick that can be read.
    oldest: u64,
    /// How far behind the latest final time readers may go, in ticks.
    history: u64,
}

/// A known id.
#[derive(Debug)]
struct User {
    /// The id's key in the dataflow (it changes when an erased id comes back).
    key: UserKey,
    /// The segments it is in now, sorted.
    segments: Vec<u32>,
}

impl User {
    fn new(key: UserKey) -> User {
        User {
            key,
            segments: Vec::new(),
        }
    }
}

/// One segment's members now, and the recent changes of each id.
#[derive(Debug, Default)]
struct SegmentMembers {
    members: BTreeSet<Arc<str>>,
    /// Per id, its changes at times after [`Index::oldest`], in time order.
    recent: BTreeMap<Arc<str>, Vec<(u64, isize)>>,
}

impl SegmentMembers {
    /// Whether `id` was a member as of `at`: a member now, less its changes after `at`.
    fn was_member(&self, id: &str, at: u64) -> bool {
        let now = isize::from(self.members.contains(id));
        let later: isize = self.recent.get(id).map_or(0, |changes| {
            changes
                .iter()
                .filter(|(tick, _)| *tick > at)
                .map(|(_, diff)| diff)
                .sum()
        });
        now - later > 0
    }
}

/// A page of a segment's members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Members in id order.
    pub members: Vec<Arc<str>>,
    /// The id to pass as `after` for the next page; `None` on the last page.
    pub next: Option<Arc<str>>,
}

impl Index {
    /// An empty index over `segments` segments that keeps `history` ticks of changes.
    pub fn new(segments: usize, history: u64) -> Index {
        Index {
            segments: (0..segments).map(|_| SegmentMembers::default()).collect(),
            users: FxHashMap::default(),
            recent: VecDeque::new(),
            frontier: 0,
            oldest: 0,
            history,
        }
    }

    /// Makes room for outputs up to `outputs` (segments defined at runtime).
    pub fn add_outputs(&mut self, outputs: usize) {
        while self.segments.len() < outputs {
            self.segments.push(SegmentMembers::default());
        }
    }

    /// Every member of `segment` now.
    pub fn all_members(&self, segment: usize) -> Vec<String> {
        let members = self.segments.get(segment).map(|s| &s.members);
        members
            .into_iter()
            .flatten()
            .map(|id| id.to_string())
            .collect()
    }

    /// The latest time that can be read: the frontier less one tick.
    pub fn latest(&self) -> Result<u64, AsOfError> {
        self.frontier.checked_sub(1).ok_or(AsOfError::NotReady)
    }

    /// The time a read asked as of `as_of` (the latest when `None`) reads.
    pub fn resolve(&self, as_of: Option<u64>) -> Result<u64, AsOfError> {
        let latest = self.latest()?;
        match as_of {
            None => Ok(latest),
            Some(at) if at > latest => Err(AsOfError::NotFinal { latest }),
            Some(at) if at < self.oldest => Err(AsOfError::Expired {
                oldest: self.oldest,
            }),
            Some(at) => Ok(at),
        }
    }

    /// Applies a round: ids that became known, the membership changes, ids that were
    /// erased (their memberships end in `changes` at the same time), all before
    /// `frontier`. Then forgets the changes older than the history window.
    pub fn apply(&mut self, frontier: u64, changes: &[LogChange], known: &[KnownUpdate]) {
        let first_round = self.frontier == 0;
        // An id erased and seen again within one round stays known, by its new key.
        let mut net: FxHashMap<&str, (isize, Option<UserKey>)> = FxHashMap::default();
        for ((id, key), _, diff) in known {
            let entry = net.entry(id).or_default();
            entry.0 += diff;
            if *diff > 0 {
                entry.1 = Some(*key);
            }
        }
        for (id, (_, key)) in &net {
            if let Some(key) = key {
                let user = self.users.entry(Arc::from(*id));
                user.or_insert_with(|| User::new(*key)).key = *key;
            }
        }
        for (tick, segment, id, diff) in changes {
            let id = self.intern(id);
            let members = &mut self.segments[*segment as usize];
            // A member is known; should its id not have come, its first key is a guess.
            let user = (self.users.entry(id.clone())).or_insert_with(|| User::new(user_key(&id)));
            if *diff > 0 {
                members.members.insert(id.clone());
                if let Err(at) = user.segments.binary_search(segment) {
                    user.segments.insert(at, *segment);
                }
            } else {
                members.members.remove(&id);
                if let Ok(at) = user.segments.binary_search(segment) {
                    user.segments.remove(at);
                }
            }
            if !first_round {
                members
                    .recent
                    .entry(id.clone())
                    .or_default()
                    .push((*tick, *diff));
                self.recent.push_back((*tick, *segment, id));
            }
        }
        for (id, _) in net.iter().filter(|(_, (diff, _))| *diff < 0) {
            if self
                .users
                .get(*id)
                .is_some_and(|user| user.segments.is_empty())
            {
                self.users.remove(*id);
            }
        }
        self.frontier = self.frontier.max(frontier);
        // The state before the first round is not kept: reading starts there.
        let floor = if first_round {
            self.frontier.saturating_sub(1)
        } else {
            self.oldest
        };
        self.oldest = floor.max(self.frontier.saturating_sub(self.history + 1));
        self.forget_before(self.oldest);
    }

    /// Drops the changes at or before `oldest`: no readable time undoes them.
    fn forget_before(&mut self, oldest: u64) {
        while let Some((tick, segment, id)) = self.recent.front() {
            if *tick > oldest {
                break;
            }
            let recent = &mut self.segments[*segment as usize].recent;
            if let Some(changes) = recent.get_mut(id) {
                changes.remove(0);
                if changes.is_empty() {
                    recent.remove(id);
                }
            }
            self.recent.pop_front();
        }
    }

    /// The shared copy of `id`, so that each id is stored once.
    fn intern(&self, id: &str) -> Arc<str> {
        match self.users.get_key_value(id) {
            Some((id, _)) => id.clone(),
            None => Arc::from(id),
        }
    }

    /// Up to `limit` members of `segment` as of `at` (from [`Index::resolve`]), in id
    /// order, after `after` when given.
    pub fn members(&self, segment: usize, after: Option<&str>, limit: usize, at: u64) -> Page {
        let segment = &self.segments[segment];
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let now = segment.members.range::<str, _>((start, Bound::Unbounded));
        let changed = segment.recent.range::<str, _>((start, Bound::Unbounded));
        // Every id that is a member now or changed recently, each once, in order.
        let candidates = merge_distinct(now.map(|id| &**id), changed.map(|(id, _)| &**id));
        let mut members = Vec::new();
        for id in candidates {
            if segment.was_member(id, at) {
                if members.len() == limit {
                    return Page {
                        next: members.last().cloned(),
                        members,
                    };
                }
                members.push(self.intern(id));
            }
        }
        Page {
            members,
            next: None,
        }
    }

    /// Whether `id` was a member of `segment` as of `at`.
    pub fn is_member(&self, segment: usize, id: &str, at: u64) -> bool {
        self.segments[segment].was_member(id, at)
    }

    /// The segments a known id is in now; `None` for an id the service does not know.
    pub fn segments_of(&self, id: &str) -> Option<&[u32]> {
        self.users.get(id).map(|user| user.segments.as_slice())
    }

    /// How many members `segment` has now.
    pub fn size(&self, segment: usize) -> usize {
        self.segments[segment].members.len()
    }

    /// How many users are members of both segments now.
    pub fn intersection(&self, a: usize, b: usize) -> usize {
        let (a, b) = (&self.segments[a].members, &self.segments[b].members);
        let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
        small.iter().filter(|id| large.contains(*id)).count()
    }

    /// How many ids are known now.
    pub fn known(&self) -> usize {
        self.users.len()
    }

    /// Every known id with its key in the dataflow.
    pub fn users(&self) -> impl Iterator<Item = (&Arc<str>, UserKey)> {
        self.users.iter().map(|(id, user)| (id, user.key))
    }
}

/// Two sorted sequences merged into one, each value once.
fn merge_distinct<'a>(
    a: impl Iterator<Item = &'a str>,
    b: impl Iterator<Item = &'a str>,
) -> impl Iterator<Item = &'a str> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if x == y => {
            b.next();
            a.next()
        }
        (Some(x), Some(y)) if x < y => a.next(),
        (Some(_), Some(_)) => b.next(),
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn change(tick: u64, segment: u32, id: &str, diff: isize) -> LogChange {
        (tick, segment, id.to_owned(), diff)
    }

    fn known(id: &str, tick: u64, diff: isize) -> KnownUpdate {
        ((id.to_owned(), user_key(id)), tick, diff)
    }

    fn ids(page: &Page) -> Vec<&str> {
        page.members.iter().map(|id| &**id).collect()
    }

    #[test]
    fn pages_read_one_time_while_later_rounds_change_the_segment() {
        let mut index = Index::new(1, 100);
        assert_eq!(index.resolve(None), Err(AsOfError::NotReady));
        let first: Vec<LogChange> = ["a", "c", "e"]
            .iter()
            .map(|id| change(5, 0, id, 1))
            .collect();
        let names: Vec<KnownUpdate> = ["a", "b", "c", "e"]
            .iter()
            .map(|id| known(id, 5, 1))
            .collect();
        index.apply(10, &first, &names);
        assert_eq!(index.resolve(None), Ok(9));
        let page = index.members(0, None, 2, 9);
        assert_eq!(
            (ids(&page), page.next.as_deref()),
            (vec!["a", "c"], Some("c"))
        );
        // Meanwhile "a" and "c" leave and "b" and "d" join.
        let later = [
            change(12, 0, "a", -1),
            change(12, 0, "b", 1),
            change(13, 0, "c", -1),
            change(13, 0, "d", 1),
        ];
        index.apply(20, &later, &[known("d", 13, 1)]);
        let rest = index.members(0, Some("c"), 2, 9);
        assert_eq!((ids(&rest), rest.next.as_deref()), (vec!["e"], None));
        let now = index.members(0, None, 10, 19);
        assert_eq!(ids(&now), vec!["b", "d", "e"]);
        let between = index.members(0, None, 10, 12);
        assert_eq!(ids(&between), vec!["b", "c", "e"]);
        assert!(index.is_member(0, "a", 9) && !index.is_member(0, "a", 12));
        assert_eq!(index.segments_of("b"), Some(&[0][..]));
        assert_eq!(index.segments_of("a"), Some(&[][..]));
        assert_eq!(index.segments_of("zz"), None);
    }

    #[test]
    fn times_outside_the_history_are_refused_and_erased_ids_are_forgotten() {
        let mut index = Index::new(1, 10);
        index.apply(100, &[change(50, 0, "a", 1)], &[known("a", 50, 1)]);
        // Reading starts at the first round: nothing before it was kept.
        assert_eq!(
            index.resolve(Some(98)),
            Err(AsOfError::Expired { oldest: 99 })
        );
        assert_eq!(
            index.resolve(Some(100)),
            Err(AsOfError::NotFinal { latest: 99 })
        );
        index.apply(200, &[change(150, 0, "a", -1)], &[known("a", 150, -1)]);
        assert_eq!(index.resolve(Some(189)), Ok(189));
        assert_eq!(
            index.resolve(Some(188)),
            Err(AsOfError::Expired { oldest: 189 })
        );
        assert_eq!(index.segments_of("a"), None);
        assert!(index.recent.is_empty());
        assert_eq!(index.known(), 0);
    }

    /// One round of random changes: `(tick offset, segment, id, join or leave)`.
    type Round = Vec<(u64, u32, u8)>;

    fn rounds() -> impl Strategy<Value = Vec<Round>> {
        prop::collection::vec(
            prop::collection::vec((0..10u64, 0..3u32, 0..12u8), 0..12),
            1..8,
        )
    }

    proptest! {
        /// Every page as of every readable time equals the changes integrated to it.
        #[test]
        fn pages_equal_the_changes_integrated_to_their_time(
            rounds in rounds(),
            history in 0..40u64,
            limit in 1..5usize,
        ) {
            let mut index = Index::new(3, history);
            let mut state: BTreeSet<(u32, u8)> = BTreeSet::new();
            let mut log: Vec<LogChange> = Vec::new();
            for (number, round) in rounds.iter().enumerate() {
                let base = number as u64 * 10 + 1;
                let mut changes = Vec::new();
                let mut sorted = round.clone();
                sorted.sort();
                for (offset, segment, id) in sorted {
                    // Toggle the membership: a change is always a real one.
                    let diff = if state.insert((segment, id)) {
                        1
                    } else {
                        state.remove(&(segment, id));
                        -1
                    };
                    changes.push(change(base + offset, segment, &format!("u{id:02}"), diff));
                }
                index.apply(base + 10, &changes, &[]);
                log.extend(changes);
                let latest = index.resolve(None).unwrap();
                for at in index.oldest..=latest {
                    for segment in 0..3 {
                        let expected: BTreeSet<&str> = integrate(&log, segment, at);
                        let mut read = Vec::new();
                        let mut after: Option<Arc<str>> = None;
                        loop {
                            let page = index.members(segment as usize, after.as_deref(), limit, at);
                            prop_assert!(page.members.len() <= limit);
                            read.extend(page.members.iter().cloned());
                            match page.next {
                                Some(next) => after = Some(next),
                                None => break,
                            }
                        }
                        let read: Vec<&str> = read.iter().map(|id| &**id).collect();
                        prop_assert_eq!(read, expected.iter().copied().collect::<Vec<_>>());
                        for id in 0..12u8 {
                            let id = format!("u{id:02}");
                            prop_assert_eq!(
                                index.is_member(segment as usize, &id, at),
                                expected.contains(id.as_str())
                            );
                        }
                    }
                }
            }
        }
    }

    fn integrate(log: &[LogChange], segment: u32, at: u64) -> BTreeSet<&str> {
        let mut counts: BTreeMap<&str, isize> = BTreeMap::new();
        for (tick, s, id, diff) in log {
            if *s == segment && *tick <= at {
                *counts.entry(id).or_default() += diff;
            }
        }
        counts
            .into_iter()
            .filter(|(_, c)| *c > 0)
            .map(|(id, _)| id)
            .collect()
    }
}
