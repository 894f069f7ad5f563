//! The physical plan: every choice the renderer carries out.
//!
//! The logical plan says *what* is computed (sources, operands, atoms, sets); this
//! says *how*, so that `src/dataflow/` renders it without deciding anything:
//!
//! - where each source lives ([`Placement`]): a slot of the event sources' operator,
//!   the latest-score or current-user operators over the inputs, a day clock over a
//!   time's rows (`days_since`), or nowhere when nothing reads it;
//! - each event slot's family, selection, what its state keeps in a batch run
//!   ([`Keep`]), the aggregates read from it and the operands it emits as rows;
//! - how each atom is decided ([`Decision`]): by the reader of its one operand's source
//!   as the source's rows change, by a temporal filter (it mentions `now`), or in the
//!   evaluating reduce from its operands' values;
//! - what is read from each source's rows ([`Reader`]): the atoms decided there and
//!   the operand values passed on to the reduce;
//! - which operands come out as rows, for the temporal filters ([`TemporalFilter`]).

use crate::catalog::ir::AggFunc;

use super::atom::Atom;
use super::source::{EventSelection, Family, Operand, Read, Source};

/// How the dataflow computes a plan.
#[derive(Clone, Debug, Default)]
pub struct Physical {
    /// Where each source lives, by source index.
    pub placements: Vec<Placement>,
    /// The event sources' operator's slots, in slot order.
    pub slots: Vec<EventSlot>,
    /// How each atom is decided, by atom index.
    pub decisions: Vec<Decision>,
    /// What is read from each source's rows, by source index.
    pub readers: Vec<Vec<Reader>>,
    /// One temporal filter per atom on `now`, in atom order.
    pub temporal: Vec<TemporalFilter>,
    /// The operands whose values the dataflow keeps arranged by user, so that a
    /// service can say why a user is or is not in a segment (every operand a segment
    /// reads, or none). Their event slots emit them as rows.
    pub explained: Vec<usize>,
}

/// Whether a dataflow answers questions about users' values (`segflow serve`'s
/// explain), at the cost of keeping every operand's value by user.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Explain {
    /// Only the memberships.
    Off,
    /// Every operand's value by user as well.
    On,
}

/// Where a source's per-user state is kept.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Nothing reads it (a feature no segment uses): not rendered.
    Unread,
    /// In this slot of the event sources' operator.
    EventSlot(u32),
    /// Each user's latest score of the model: an arrangement of the score rows and the
    /// least-per-key operator over it.
    LatestScore,
    /// Each user's current `users` row: an arrangement of the rows and the
    /// least-per-key operator over it (shared by every attribute).
    CurrentUser,
    /// The days since a time, counted by a day clock over the rows of the operand
    /// that reads the time (which its source emits as rows).
    DayClock {
        /// The time's operand.
        time: usize,
    },
}

/// One event source in the event sources' operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSlot {
    /// The source's index in the plan.
    pub source: usize,
    /// The kind of state the slot keeps.
    pub family: Family,
    /// The events the state is kept over, and the field it reads.
    pub selection: EventSelection,
    /// What the state keeps where nothing is ever retracted.
    pub keep: Keep,
    /// The aggregates read from the state: a change that leaves all of them equal
    /// changes nothing downstream.
    pub reads: Vec<AggFunc>,
    /// The operands emitted as rows `((operand, user), value)`, for temporal filters.
    pub rows: Vec<usize>,
}

/// What a values slot keeps of the values inserted at a batch run's single time, where
/// nothing is ever retracted (see `dataflow::Timing::horizon`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Every value (totals; values read by anything but one extreme).
    Every,
    /// Only the least value: `min` is all that is read.
    Least,
    /// Only the greatest value: `max` is all that is read.
    Greatest,
}

/// How an atom is decided.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// By the reader of its one operand's source, as the source's rows change: the
    /// users for whom it differs from its default come out as facts.
    ByReader,
    /// By a temporal filter over its operand's rows (or over the universe when it reads
    /// no operand): it mentions `now`.
    ByTemporalFilter,
    /// In the evaluating reduce, from its operands' values passed on as facts.
    InEvaluation,
}

/// One operand as read from its source's rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reader {
    /// The operand, by index into [`Plan::operands`](crate::plan::Plan::operands).
    pub operand: usize,
    /// How its value is read from the source's rows.
    pub read: Read,
    /// The atoms decided here ([`Decision::ByReader`] over this operand), with their
    /// results for a user without a row.
    pub atoms: Vec<(usize, bool)>,
    /// Whether the operand's value is passed on to the reduce (an atom decided there
    /// reads it).
    pub passed_on: bool,
}

/// A temporal filter deciding an atom on `now`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TemporalFilter {
    /// The atom it decides, by index into [`Plan::atoms`](crate::plan::Plan::atoms).
    pub atom: usize,
    /// The operand whose rows it reads; `None`: every known user (`now > T` alone).
    pub over: Option<usize>,
}

impl Physical {
    /// Decides how to compute the logical plan's nodes.
    pub fn new(
        sources: &[Source],
        operands: &[Operand],
        atoms: &[Atom],
        explain: Explain,
    ) -> Physical {
        let decisions: Vec<Decision> = atoms.iter().map(decide).collect();
        let temporal: Vec<TemporalFilter> = (atoms.iter().enumerate())
            .filter(|(index, _)| decisions[*index] == Decision::ByTemporalFilter)
            .map(|(atom, a)| TemporalFilter {
                atom,
                over: a.operands.first().copied(),
            })
            .collect();
        let mut readers: Vec<Vec<Reader>> = sources.iter().map(|_| Vec::new()).collect();
        for (index, operand) in operands.iter().enumerate() {
            let mut reader = Reader {
                operand: index,
                read: operand.read,
                atoms: Vec::new(),
                passed_on: false,
            };
            for (a, atom) in atoms.iter().enumerate() {
                if !atom.operands.contains(&index) {
                    continue;
                }
                match decisions[a] {
                    Decision::ByReader => reader.atoms.push((a, atom.default_result())),
                    Decision::InEvaluation => reader.passed_on = true,
                    Decision::ByTemporalFilter => {}
                }
            }
            if !reader.atoms.is_empty() || reader.passed_on {
                readers[operand.source].push(reader);
            }
        }
        // The operands wanted as rows, by source: those temporal filters read, and when
        // explaining, every operand read at all.
        let explained: Vec<usize> = match explain {
            Explain::Off => Vec::new(),
            Explain::On => (0..operands.len())
                .filter(|&operand| atoms.iter().any(|atom| atom.operands.contains(&operand)))
                .collect(),
        };
        let mut rows: Vec<Vec<usize>> = sources.iter().map(|_| Vec::new()).collect();
        let filtered = temporal.iter().filter_map(|filter| filter.over);
        for operand in filtered.chain(explained.iter().copied()) {
            let wanted = &mut rows[operands[operand].source];
            if !wanted.contains(&operand) {
                wanted.push(operand);
            }
        }
        // The day clock of a time that is read counts days over the time's rows.
        let mut day_clocks = vec![None; sources.len()];
        for (index, source) in sources.iter().enumerate() {
            let Source::DaysSince { of, read } = source else {
                continue;
            };
            if readers[index].is_empty() && rows[index].is_empty() {
                continue;
            }
            let of = sources.iter().position(|s| s == &**of);
            let time = (operands.iter())
                .position(|o| Some(o.source) == of && o.read == *read)
                .expect("the days' time has an operand");
            day_clocks[index] = Some(time);
            let wanted = &mut rows[operands[time].source];
            if !wanted.contains(&time) {
                wanted.push(time);
            }
        }
        let mut slots = Vec::new();
        let placements = (sources.iter().enumerate())
            .map(|(index, source)| {
                if readers[index].is_empty() && rows[index].is_empty() {
                    return Placement::Unread;
                }
                match source {
                    Source::Events { family, selection } => {
                        let mut reads = Vec::new();
                        let read_by = readers[index].iter().map(|r| r.read);
                        for read in read_by.chain(rows[index].iter().map(|&o| operands[o].read)) {
                            if let Read::Aggregate(func) = read {
                                if !reads.contains(&func) {
                                    reads.push(func);
                                }
                            }
                        }
                        slots.push(EventSlot {
                            source: index,
                            family: *family,
                            selection: selection.clone(),
                            keep: keep(&reads),
                            reads,
                            rows: std::mem::take(&mut rows[index]),
                        });
                        Placement::EventSlot(slots.len() as u32 - 1)
                    }
                    Source::Score(..) => Placement::LatestScore,
                    Source::Attr(_) => Placement::CurrentUser,
                    Source::DaysSince { .. } => Placement::DayClock {
                        time: day_clocks[index].expect("a read day clock has its time"),
                    },
                }
            })
            .collect();
        Physical {
            placements,
            slots,
            decisions,
            readers,
            temporal,
            explained,
        }
    }

    /// The slot of an event source.
    pub fn slot(&self, source: usize) -> Option<u32> {
        match self.placements[source] {
            Placement::EventSlot(slot) => Some(slot),
            _ => None,
        }
    }

    /// The atoms the reduce decides itself, in order.
    pub fn decided_in_evaluation(&self) -> impl Iterator<Item = usize> + '_ {
        (self.decisions.iter().enumerate())
            .filter(|(_, decision)| **decision == Decision::InEvaluation)
            .map(|(atom, _)| atom)
    }
}

/// How an atom is decided: atoms on `now` by a temporal filter (they read at most one
/// operand, a time), atoms over one operand by its reader, the rest (two operands, or
/// none and no `now`, which the planner folds away) in the reduce.
fn decide(atom: &Atom) -> Decision {
    if atom.mentions_now() {
        Decision::ByTemporalFilter
    } else if atom.operands.len() == 1 {
        Decision::ByReader
    } else {
        Decision::InEvaluation
    }
}

/// What a values state must keep when nothing is retracted: only the extreme when
/// that extreme is all that is read.
fn keep(reads: &[AggFunc]) -> Keep {
    match reads {
        [AggFunc::Min] => Keep::Least,
        [AggFunc::Max] => Keep::Greatest,
        _ => Keep::Every,
    }
}
