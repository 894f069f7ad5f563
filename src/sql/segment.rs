//! Segments as CTEs: `name AS (SELECT user_id FROM features WHERE <predicate>)`.
//!
//! A segment's rows are users of the universe (`features` has one row per user), so a
//! reference to another segment is `user_id IN (SELECT user_id FROM other)`, which is
//! never NULL, and `not` within a predicate is the complement over the universe, as in
//! segflow. SQL needs a CTE defined before it is used, while a catalog may reference a
//! segment defined further down, so the CTEs come in dependency order.

use crate::catalog::ir::{Catalog, Pred, Segment, ValueExpr};

use super::ctes::{FEATURES, PARAMS};
use super::error::SqlError;
use super::predicate::{self, Cond, Imprecise, Prec};
use super::values::Values;

/// Calls `f` on `pred` and on every predicate inside it.
pub(super) fn visit<'p>(pred: &'p Pred, f: &mut impl FnMut(&'p Pred)) {
    f(pred);
    match pred {
        Pred::And(a, b) | Pred::Or(a, b) => {
            visit(a, f);
            visit(b, f);
        }
        Pred::Not(p) => visit(p, f),
        Pred::Const(_) | Pred::Cmp(..) | Pred::In { .. } | Pred::Segment(_) => {}
    }
}

/// The per-user values compared in `pred`.
pub(super) fn values_of(pred: &Pred) -> Vec<&ValueExpr> {
    let mut out = Vec::new();
    visit(pred, &mut |p| match p {
        Pred::Cmp(l, _, r) => out.extend([l, r]),
        Pred::In { expr, .. } => out.push(expr),
        _ => {}
    });
    out
}

/// Segment indices such that every segment comes after the segments it references.
pub(super) fn dependency_order(catalog: &Catalog) -> Vec<usize> {
    fn place(catalog: &Catalog, i: usize, placed: &mut [bool], order: &mut Vec<usize>) {
        if placed[i] {
            return;
        }
        // Marked before its references are placed: the checker rejects cycles, and this
        // keeps a cycle from recursing forever all the same.
        placed[i] = true;
        let mut references = Vec::new();
        visit(&catalog.segments[i].pred, &mut |p| {
            if let Pred::Segment(j) = p {
                references.push(*j);
            }
        });
        for j in references {
            place(catalog, j, placed, order);
        }
        order.push(i);
    }
    let mut placed = vec![false; catalog.segments.len()];
    let mut order = Vec::with_capacity(catalog.segments.len());
    for i in 0..catalog.segments.len() {
        place(catalog, i, &mut placed, &mut order);
    }
    order
}

/// Writes segment predicates over `features`.
pub(super) struct SegmentWriter<'a> {
    pub values: &'a Values,
    /// The CTE name of each segment, by index.
    pub names: &'a [String],
}

impl SegmentWriter<'_> {
    /// The CTE of one segment, with a comment saying where it was defined.
    pub fn cte(&self, segment: &Segment, name: &str) -> Result<String, SqlError> {
        let (cond, _) = self
            .pred(&segment.pred)
            .map_err(|e| e.within(&format!("segment `{}`", segment.name)))?;
        let mut uses_now = false;
        visit(&segment.pred, &mut |p| {
            if let Pred::Cmp(l, _, r) = p {
                uses_now |= matches!(l, ValueExpr::Now(_)) || matches!(r, ValueExpr::Now(_));
            }
        });
        let from = if uses_now {
            format!("{FEATURES}, {PARAMS}")
        } else {
            FEATURES.to_string()
        };
        Ok(format!(
            "-- segment {} ({}, hash {})\n{name} AS (\n  SELECT user_id FROM {from}\n  WHERE {cond}\n)",
            segment.name, segment.loc, segment.hash
        ))
    }

    fn pred(&self, pred: &Pred) -> Result<Cond, Imprecise> {
        let in_segment = |i: usize| {
            Ok((
                format!("user_id IN (SELECT user_id FROM {})", self.names[i]),
                Prec::Cmp,
            ))
        };
        predicate::condition(pred, &mut |value| self.values.term(value), &in_segment)
    }
}
