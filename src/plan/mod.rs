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

use std::collections::HashMap;

pub use atom::{Atom, Term, Test};
pub use describe::describe;
pub use explain::explain;
pub use intervals::Interval;
pub use physical::{Decision, EventSlot, Keep, Physical, Placement, Reader, TemporalFilter};
pub use set::SetNode;
pub use source::{EventSelection, Family, Operand, Read, Source};

use crate::catalog::ir::Catalog;

use lower::Builder;

/// A lowered catalog and how to compute it.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub sources: Vec<Source>,
    pub operands: Vec<Operand>,
    pub atoms: Vec<Atom>,
    /// Set nodes; each refers only to nodes before it.
    pub sets: Vec<SetNode>,
    /// The set node of each segment, in catalog order.
    pub segments: Vec<usize>,
    /// The names of the catalog's features, by operand, for explaining the plan.
    pub feature_names: HashMap<usize, Vec<String>>,
    /// How the dataflow computes the nodes above.
    pub physical: Physical,
}

impl Plan {
    /// Lowers a checked catalog and plans its dataflow.
    pub fn new(catalog: &Catalog) -> Plan {
        let mut builder = Builder::default();
        for feature in &catalog.features {
            if let Some(operand) = builder.operand(&feature.expr) {
                builder
                    .plan
                    .feature_names
                    .entry(operand)
                    .or_default()
                    .push(feature.name.clone());
            }
        }
        let mut segment_sets = vec![None; catalog.segments.len()];
        for index in 0..catalog.segments.len() {
            let set = builder.segment(catalog, index, &mut segment_sets);
            builder.plan.segments.push(set);
        }
        let mut plan = builder.plan;
        plan.physical = Physical::new(&plan.sources, &plan.operands, &plan.atoms);
        plan
    }
}
