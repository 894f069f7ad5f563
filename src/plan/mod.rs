//! The plan: a catalog lowered to shared nodes, with every choice of how to compute them.
//!
//! Planning is where sharing happens and where the dataflow's shape is decided.
//! Lowering ([`Plan::new`]) turns every per-user value a catalog mentions into an
//! [`Operand`] reading a [`Source`] (the per-user state an aggregate keeps), every
//! comparison into an [`Atom`], and every predicate into a [`SetNode`]; identical nodes
//! are created once, whether written as named features or inline, so a segment that
//! references another reuses its set. The [`Physical`] plan then places each source,
//! decides where each atom is evaluated and which rows must come out for `now`
//! comparisons; `src/dataflow/` renders exactly that.

mod atom;
mod describe;
mod explain;
mod intervals;
mod lower;
mod physical;
mod set;
mod source;

pub use atom::{Atom, Term, Test};
pub use describe::{describe, operand_label, summaries, SegmentSummary};
pub use explain::explain;
pub use intervals::Interval;
pub use lower::Plan;
pub use physical::{
    Decision, EventSlot, Explain, Keep, Physical, Placement, Reader, TemporalFilter,
};
pub use set::SetNode;
pub use source::{EventSelection, Family, Operand, Read, Source};
