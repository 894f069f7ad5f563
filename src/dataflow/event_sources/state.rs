//! The per-user state of the event sources, and how applying contributions to it
//! becomes the operator's output.
//!
//! A user's state is sparse: the parts with data, by slot, in one small vector (one
//! allocation for every slot, since on a million users each is a cache miss per
//! event). The states sit in one vector behind a hash index ([`DenseMap`]). Applying a
//! contribution reads the slot's aggregates before and after ([`Layout`]), and a
//! change of them becomes the change of the facts its readers give (nothing when no
//! atom flips) and of the rows a temporal filter reads.

use differential_dataflow::difference::{IsZero, Semigroup};
use rustc_hash::FxHashMap;

use crate::catalog::ir::AggFunc;
use crate::plan::{EventSlot, Keep, Read};
use crate::value::Value;

use super::super::accum::Accum;
use super::super::dense_map::DenseMap;
use super::super::facts::{Fact, Readers};
use super::super::prefetch::prefetch_slice;
use super::super::records::UserKey;
use super::super::values::Values;
use super::contribution::Part;

/// What the operator reads from each slot, from the physical plan.
pub struct Layout {
    pub slots: Vec<EventSlot>,
    /// By slot: the operands emitted as rows, with the aggregate each reads.
    pub rows: Vec<Vec<(u32, AggFunc)>>,
    pub readers: Readers,
}

/// One user's state, or one user's contributions at one time.
#[derive(Default)]
pub struct UserState {
    parts: Vec<(u32, PartState)>,
    /// The user's visible events, whatever the slots.
    events: isize,
}

/// A part of a user's state: a totals slot's count and sum, or a values slot's values.
pub enum PartState {
    Totals(Accum),
    Values(Values),
}

impl PartState {
    /// An aggregate of this part; `None` where it has no data.
    fn read(&self, func: AggFunc) -> Option<Value> {
        match self {
            PartState::Totals(totals) if totals.is_zero() => None,
            PartState::Totals(totals) => totals.read(func),
            PartState::Values(values) => values.read(func),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            PartState::Totals(totals) => totals.is_zero(),
            PartState::Values(values) => values.is_empty(),
        }
    }

    fn no_totals() -> PartState {
        PartState::Totals(Accum::default())
    }

    fn no_values() -> PartState {
        PartState::Values(Values::default())
    }

    /// A totals slot's count and sum (the plan gives a slot one family).
    fn totals(&mut self) -> &mut Accum {
        match self {
            PartState::Totals(totals) => totals,
            PartState::Values(_) => unreachable!("a slot keeps one family"),
        }
    }

    /// A values slot's multiset.
    fn values(&mut self) -> &mut Values {
        match self {
            PartState::Values(values) => values,
            PartState::Totals(_) => unreachable!("a slot keeps one family"),
        }
    }
}

impl UserState {
    fn is_empty(&self) -> bool {
        self.parts.is_empty() && self.events == 0
    }

    /// The part of `slot`, created as `empty` when absent.
    fn part(&mut self, slot: u32, empty: impl FnOnce() -> PartState) -> &mut PartState {
        let at = match self.parts.iter().position(|(s, _)| *s == slot) {
            Some(at) => at,
            None => {
                self.parts.push((slot, empty()));
                self.parts.len() - 1
            }
        };
        &mut self.parts[at].1
    }

    fn totals(&mut self, slot: u32) -> &mut Accum {
        self.part(slot, PartState::no_totals).totals()
    }

    fn values(&mut self, slot: u32) -> &mut Values {
        self.part(slot, PartState::no_values).values()
    }

    /// Folds one contribution in. With `prune` (where nothing is ever retracted: what
    /// each slot keeps), a values slot keeps only what its plan says it must.
    pub fn fold(&mut self, part: Part, diff: Accum, prune: Option<&[Keep]>) {
        match part {
            Part::Totals(slot) => self.totals(slot).plus_equals(&diff),
            Part::Events => self.events += diff.count as isize,
            Part::Value(slot, value) => {
                let count = diff.count as isize;
                let values = self.values(slot);
                match prune.map(|keeps| keeps[slot as usize]) {
                    Some(Keep::Least) => values.keep_extreme(value, count, false),
                    Some(Keep::Greatest) => values.keep_extreme(value, count, true),
                    Some(Keep::Every) | None => values.add(value, count),
                }
            }
        }
    }

    /// Asks for the cache lines of the parts.
    fn prefetch_parts(&self) {
        prefetch_slice(&self.parts);
    }

    /// Asks for the cache lines of the value multisets.
    fn prefetch_values(&self) {
        for (_, part) in &self.parts {
            if let PartState::Values(values) = part {
                values.prefetch();
            }
        }
    }

    /// Drops the parts left without data.
    fn tidy(&mut self) {
        self.parts.retain(|(_, part)| !part.is_empty());
    }
}

/// How many users ahead [`State::apply`] asks for a state, for its parts and for its
/// values: far enough for a miss to be served meanwhile, and apart so that each finds
/// what the one before asked for.
const FETCH_STATE_AHEAD: usize = 12;
const FETCH_PARTS_AHEAD: usize = 8;
const FETCH_VALUES_AHEAD: usize = 4;
/// States are asked for a group of users at a time: the index probes that find them
/// miss too, and made in a row, their misses overlap. (Parts and values asked for in
/// groups as well measured no better than one user at a time.)
const FETCH_STATE_GROUP: usize = 8;

/// A listed contribution: its time, user, part and difference.
pub type Listed = (u64, UserKey, Part, Accum);

/// A row of an operand wanted as rows: `((operand, user), value)`.
pub type OperandRow = ((u32, UserKey), Value);

/// The operator's output updates: facts, rows `((operand, user), value)` and users
/// who became known or unknown.
#[derive(Default)]
pub struct Emitted {
    pub facts: Vec<((UserKey, Fact), u64, isize)>,
    pub rows: Vec<(OperandRow, u64, isize)>,
    pub known: Vec<(UserKey, u64, isize)>,
}

/// Every user's state on this worker.
pub struct State {
    users: DenseMap<UserKey, UserState>,
    scratch: Scratch,
}

/// A slot's aggregates before and after a change, kept between changes so that
/// recording one allocates nothing.
#[derive(Default)]
struct Scratch {
    before: Vec<Option<Value>>,
    after: Vec<Option<Value>>,
    /// The facts they give.
    old_facts: Vec<Fact>,
    new_facts: Vec<Fact>,
}

impl State {
    pub fn new() -> Self {
        State {
            users: DenseMap::default(),
            scratch: Scratch::default(),
        }
    }

    /// Applies ready contributions time by time, `listed` one by one and `folded` per
    /// user (both in time order), and records what changed.
    pub fn apply(
        &mut self,
        layout: &Layout,
        listed: &[Listed],
        folded: Vec<(u64, FxHashMap<UserKey, UserState>)>,
        out: &mut Emitted,
    ) {
        // One event's contributions come in together: one probe for each run of a
        // user's contributions at one time.
        let runs: Vec<_> = listed
            .chunk_by(|(t1, u1, ..), (t2, u2, ..)| t1 == t2 && u1 == u2)
            .collect();
        let mut folded = folded.into_iter().peekable();
        for (at, run) in runs.iter().enumerate() {
            let (time, user, ..) = run[0];
            // At one time, the listed and the folded contributions may come in either
            // order: the rows' changes at that time add up to the same.
            while let Some((time, users)) = folded.next_if(|(t, _)| *t <= time) {
                self.apply_folded(layout, users, time, out);
            }
            // Each user's state is a few cache misses deep (the index, the state, its
            // parts, its values): ask for the next users' while applying this one.
            if at % FETCH_STATE_GROUP == 0 {
                let start = (at + FETCH_STATE_AHEAD).min(runs.len());
                let end = (start + FETCH_STATE_GROUP).min(runs.len());
                for ahead in &runs[start..end] {
                    self.users.prefetch(&ahead[0].1);
                }
            }
            if let Some(&[(_, ahead, ..), ..]) = runs.get(at + FETCH_PARTS_AHEAD) {
                if let Some(state) = self.users.get(ahead) {
                    state.prefetch_parts();
                }
            }
            if let Some(&[(_, ahead, ..), ..]) = runs.get(at + FETCH_VALUES_AHEAD) {
                if let Some(state) = self.users.get(ahead) {
                    state.prefetch_values();
                }
            }
            self.apply_run(layout, user, time, run, out);
        }
        for (time, users) in folded {
            self.apply_folded(layout, users, time, out);
        }
    }

    /// Applies the listed contributions of `user` at `time` one by one.
    ///
    /// Two to the same row record its first and second change at the same time, which
    /// add up to the one change (the middle value is retracted as soon as it is
    /// inserted).
    fn apply_run(
        &mut self,
        layout: &Layout,
        user: UserKey,
        time: u64,
        run: &[Listed],
        out: &mut Emitted,
    ) {
        let scratch = &mut self.scratch;
        let mut recorder = Recorder::new(layout, user, time, scratch, out);
        let state = self.users.entry_or_default(user);
        for (_, _, part, diff) in run {
            match part {
                Part::Totals(slot) => {
                    let part = state.part(*slot, PartState::no_totals);
                    recorder.change(part, *slot, |part| part.totals().plus_equals(diff))
                }
                Part::Value(slot, value) => {
                    let part = state.part(*slot, PartState::no_values);
                    let count = diff.count as isize;
                    recorder.change(part, *slot, |part| part.values().add(value.clone(), count))
                }
                Part::Events => recorder.events(state, diff.count as isize),
            }
        }
        state.tidy();
        if state.is_empty() {
            self.users.remove(&user);
        }
    }

    /// Applies contributions of `time` folded per user.
    fn apply_folded(
        &mut self,
        layout: &Layout,
        folded: FxHashMap<UserKey, UserState>,
        time: u64,
        out: &mut Emitted,
    ) {
        for (user, delta) in folded {
            let scratch = &mut self.scratch;
            let mut recorder = Recorder::new(layout, user, time, scratch, out);
            let state = self.users.entry_or_default(user);
            for (slot, delta) in delta.parts {
                match delta {
                    PartState::Totals(delta) => {
                        let part = state.part(slot, PartState::no_totals);
                        recorder.change(part, slot, |part| part.totals().plus_equals(&delta))
                    }
                    PartState::Values(delta) => {
                        let part = state.part(slot, PartState::no_values);
                        recorder.change(part, slot, |part| part.values().merge(delta))
                    }
                }
            }
            recorder.events(state, delta.events);
            state.tidy();
            if state.is_empty() {
                self.users.remove(&user);
            }
        }
    }
}

/// Records the changes to one user's state at one time as output updates.
struct Recorder<'a> {
    layout: &'a Layout,
    user: UserKey,
    time: u64,
    scratch: &'a mut Scratch,
    out: &'a mut Emitted,
}

impl<'a> Recorder<'a> {
    fn new(
        layout: &'a Layout,
        user: UserKey,
        time: u64,
        scratch: &'a mut Scratch,
        out: &'a mut Emitted,
    ) -> Self {
        Recorder {
            layout,
            user,
            time,
            scratch,
            out,
        }
    }

    /// Changes the part of `slot` by `change`, and records how the slot's aggregates
    /// changed: the change of the facts they give (none when no atom flips), and of
    /// the rows wanted.
    fn change(&mut self, part: &mut PartState, slot: u32, change: impl FnOnce(&mut PartState)) {
        let plan = &self.layout.slots[slot as usize];
        let Scratch {
            before,
            after,
            old_facts,
            new_facts,
        } = &mut *self.scratch;
        read(part, &plan.reads, before);
        change(part);
        read(part, &plan.reads, after);
        if before == after {
            return;
        }
        let (user, time) = (self.user, self.time);
        let reads = &plan.reads;
        let readers = &self.layout.readers;
        let value = |values: &[Option<Value>], read| lookup(reads, values, read);
        readers.facts_into(plan.source, |read| value(before, read), old_facts);
        readers.facts_into(plan.source, |read| value(after, read), new_facts);
        if old_facts != new_facts {
            let out = &mut self.out.facts;
            out.extend(old_facts.drain(..).map(|fact| ((user, fact), time, -1)));
            out.extend(new_facts.drain(..).map(|fact| ((user, fact), time, 1)));
        } else {
            old_facts.clear();
            new_facts.clear();
        }
        for &(operand, func) in &self.layout.rows[slot as usize] {
            let read = Read::Aggregate(func);
            let old = lookup(reads, before, read);
            let new = lookup(reads, after, read);
            if old != new {
                let key = (operand, user);
                let rows = &mut self.out.rows;
                rows.extend(old.map(|old| ((key, old), time, -1)));
                rows.extend(new.map(|new| ((key, new), time, 1)));
            }
        }
    }

    /// Adds `diff` visible events; a user with events is known.
    fn events(&mut self, state: &mut UserState, diff: isize) {
        let before = state.events > 0;
        state.events += diff;
        let after = state.events > 0;
        if before != after {
            let diff = if after { 1 } else { -1 };
            self.out.known.push((self.user, self.time, diff));
        }
    }
}

/// The aggregates `reads` of a part, into `values` (`None` where it has no data).
fn read(part: &PartState, reads: &[AggFunc], values: &mut Vec<Option<Value>>) {
    values.clear();
    values.extend(reads.iter().map(|&func| part.read(func)));
}

/// The value of `read` among the aggregates `reads` read as `values`.
fn lookup(reads: &[AggFunc], values: &[Option<Value>], read: Read) -> Option<Value> {
    match read {
        Read::Aggregate(func) => {
            let at = reads.iter().position(|&f| f == func)?;
            values[at].clone()
        }
        Read::Value => None,
    }
}
