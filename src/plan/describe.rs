//! `segflow check`'s explanation of a plan: per segment, its kind, the features and
//! inputs it depends on, and which features are shared between segments.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::catalog::ir::Catalog;
use crate::catalog::show;

use super::{Plan, Read, SetNode, Source};

/// What a segment reads, collected by walking its set nodes.
#[derive(Default)]
struct Footprint {
    operands: BTreeSet<usize>,
    uses_now: bool,
}

/// What one segment is made of: its kind, the values it reads and their inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// `rule`, `time-based` (it mentions `now` or a window), `score-based` (scores
    /// only) or `hybrid` (scores and other inputs).
    pub kind: &'static str,
    /// The plan's operands it reads, by index.
    pub operands: Vec<usize>,
    /// Each of those operands by its feature name, or its expression.
    pub features: Vec<String>,
    /// The inputs it reads: `users`, `events`, `scores`.
    pub inputs: Vec<&'static str>,
}

/// Every segment's summary, in catalog order.
pub fn summaries(catalog: &Catalog, plan: &Plan) -> Vec<SegmentSummary> {
    plan.segments
        .iter()
        .map(|&set| {
            let mut footprint = Footprint::default();
            walk(plan, set, &mut footprint, &mut BTreeSet::new());
            let mut inputs = BTreeSet::new();
            for &operand in &footprint.operands {
                let source = &plan.sources[plan.operands[operand].source];
                inputs.insert(match source {
                    Source::Attr(_) => "users",
                    Source::Score(_) => "scores",
                    Source::Events { .. } => "events",
                });
                if source.selection().is_some_and(|s| s.within.is_some()) {
                    footprint.uses_now = true;
                }
            }
            let kind = if footprint.uses_now {
                "time-based"
            } else if inputs.contains("scores") && inputs.len() > 1 {
                "hybrid"
            } else if inputs.contains("scores") {
                "score-based"
            } else {
                "rule"
            };
            let operands: Vec<usize> = footprint.operands.into_iter().collect();
            SegmentSummary {
                kind,
                features: operands
                    .iter()
                    .map(|&operand| operand_label(catalog, plan, operand))
                    .collect(),
                operands,
                inputs: inputs.into_iter().collect(),
            }
        })
        .collect()
}

/// A human-readable description of the plan.
pub fn describe(catalog: &Catalog, plan: &Plan) -> String {
    let mut out = String::new();
    let mut users_of_operand: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    let _ = writeln!(
        out,
        "{} segments, {} features; dataflow: {} sources, {} operands, {} atoms, {} set nodes",
        catalog.segments.len(),
        catalog.features.len(),
        plan.sources.len(),
        plan.operands.len(),
        plan.atoms.len(),
        plan.sets.len()
    );
    for (segment, summary) in catalog.segments.iter().zip(summaries(catalog, plan)) {
        for &operand in &summary.operands {
            users_of_operand
                .entry(operand)
                .or_default()
                .push(&segment.name);
        }
        let _ = writeln!(
            out,
            "\nsegment {}  [{}]  hash {}  ({})",
            segment.name, summary.kind, segment.hash, segment.loc
        );
        let _ = writeln!(
            out,
            "  depends on: {}",
            list(summary.features.iter().map(String::as_str))
        );
        let _ = writeln!(
            out,
            "  inputs:     {}",
            list(summary.inputs.iter().copied())
        );
    }
    let shared: Vec<_> = users_of_operand
        .iter()
        .filter(|(_, segs)| segs.len() > 1)
        .collect();
    let _ = writeln!(out, "\nshared between segments (computed once):");
    if shared.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for (&operand, segments) in shared {
        let _ = writeln!(
            out,
            "  {}  <- {}",
            operand_label(catalog, plan, operand),
            segments.join(", ")
        );
    }
    out
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<_> = items.collect();
    if items.is_empty() {
        "(nothing)".to_string()
    } else {
        items.join(", ")
    }
}

fn walk(plan: &Plan, set: usize, footprint: &mut Footprint, seen: &mut BTreeSet<usize>) {
    if !seen.insert(set) {
        return;
    }
    match &plan.sets[set] {
        SetNode::Universe | SetNode::Empty => {}
        SetNode::Exceptions(atom) => {
            let atom = &plan.atoms[*atom];
            footprint.operands.extend(atom.operands.iter().copied());
            footprint.uses_now |= atom.mentions_now();
        }
        SetNode::And(parts) | SetNode::Or(parts) => {
            for &part in parts {
                walk(plan, part, footprint, seen);
            }
        }
        SetNode::Not(inner) => walk(plan, *inner, footprint, seen),
    }
}

/// A feature's name(s) where it has one, else its expression.
pub fn operand_label(catalog: &Catalog, plan: &Plan, operand: usize) -> String {
    if let Some(names) = plan.feature_names.get(&operand) {
        return names.join("/");
    }
    let op = &plan.operands[operand];
    match (&plan.sources[op.source], op.read) {
        (Source::Attr(i), _) => format!("users.{}", catalog.users[*i].name),
        (Source::Score(model), _) => format!("score('{model}')"),
        (Source::Events { selection: sel, .. }, Read::Aggregate(func)) => {
            show::aggregate(catalog, func, sel.field, sel.filter.as_ref(), sel.within)
        }
        (Source::Events { .. }, Read::Value) => unreachable!("an event source is aggregated"),
    }
}
