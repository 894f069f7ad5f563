//! `segflow check`'s explanation of a plan: per segment, its kind, the features and
//! inputs it depends on, and which features are shared between segments.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::catalog::ir::{Catalog, Feature, ValueExpr};
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
    /// `model-based` (it compares models' values only), `hybrid` (models or scores
    /// and other values), `time-based` (it mentions `now` or a window), `score-based`
    /// (scores only) or `rule`.
    pub kind: &'static str,
    /// The plan's operands it reads, by index.
    pub operands: Vec<usize>,
    /// The computed features and models it reads (by name), then each of its
    /// operands by its feature name, or its expression.
    pub features: Vec<String>,
    /// The inputs it reads: `users`, `events`, `scores`.
    pub inputs: Vec<&'static str>,
}

/// Every segment's summary, in catalog order.
pub fn summaries(catalog: &Catalog, plan: &Plan) -> Vec<SegmentSummary> {
    plan.segments
        .iter()
        .enumerate()
        .map(|(segment, &set)| {
            let mut footprint = Footprint::default();
            walk(plan, set, &mut footprint, &mut BTreeSet::new());
            let computed = computed_features(catalog, plan, segment);
            let mut inputs = BTreeSet::new();
            for &operand in &footprint.operands {
                let source = &plan.sources[plan.operands[operand].source];
                inputs.insert(source.input());
                let windowed = source.selection().is_some_and(|s| s.within.is_some());
                if windowed || matches!(source, Source::DaysSince { .. }) {
                    footprint.uses_now = true;
                }
            }
            // The operands read through models, and whether anything else is read.
            let mut modelled = BTreeSet::new();
            for feature in computed.iter().filter(|f| f.model) {
                feature
                    .expr
                    .visit(&mut |part| modelled.extend(plan.operand_of(part)));
            }
            let kind = if !modelled.is_empty() && modelled.is_superset(&footprint.operands) {
                "model-based"
            } else if !modelled.is_empty() {
                "hybrid"
            } else if footprint.uses_now {
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
                features: (computed.iter().map(|feature| feature.name.clone()))
                    .chain(
                        operands
                            .iter()
                            .map(|&operand| operand_label(catalog, plan, operand)),
                    )
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

/// The features and models computed from other values (not a single operand) whose
/// value a segment reads, directly or through the segments it names, in catalog order.
fn computed_features<'c>(catalog: &'c Catalog, plan: &Plan, segment: usize) -> Vec<&'c Feature> {
    let mut values: Vec<&ValueExpr> = Vec::new();
    let mut pending = vec![segment];
    let mut seen = BTreeSet::new();
    while let Some(index) = pending.pop() {
        if !seen.insert(index) {
            continue;
        }
        let pred = &catalog.segments[index].pred;
        pred.visit_values(&mut |value| values.push(value));
        pred.visit_segments(&mut |named| pending.push(named));
    }
    (catalog.features.iter())
        .filter(|f| plan.operand_of(&f.expr).is_none() && values.contains(&&f.expr))
        .collect()
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
        (Source::Score(model, version), _) => version.call(model),
        (Source::Events { selection: sel, .. }, Read::Aggregate(func)) => {
            show::aggregate(catalog, func, sel.field, sel.filter.as_ref(), sel.within)
        }
        (Source::Events { .. }, Read::Value) => unreachable!("an event source is aggregated"),
        (Source::DaysSince { of, read }, _) => {
            let time = (plan.operand_reading(of, *read)).expect("the days' time has an operand");
            format!("days_since({})", operand_label(catalog, plan, time))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::check_sources;

    #[test]
    fn segments_are_classified_by_what_they_read() {
        let catalog = check_sources(&[(
            "t.seg",
            "schema events(amount: number)
             feature ltv = sum(events.amount)
             feature n = count(events)
             feature rate = ltv / n
             model churn_lr = logistic(1 - 0.002 * ltv)
             segment rule = rate > 10
             segment modelled = churn_lr > 0.7
             segment both = churn_lr > 0.7 and n > 3
             segment through = modelled
             segment scored = score('m') > 0.5
             segment mixed = score('m') > 0.5 and n > 1
             segment recent = exists(events within 1d)",
        )])
        .unwrap();
        let plan = Plan::new(&catalog);
        let kinds: Vec<(&str, Vec<String>)> = summaries(&catalog, &plan)
            .into_iter()
            .map(|s| (s.kind, s.features))
            .collect();
        let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            kinds,
            [
                ("rule", names(&["rate", "ltv", "n"])),
                ("model-based", names(&["churn_lr", "ltv"])),
                ("hybrid", names(&["churn_lr", "ltv", "n"])),
                ("model-based", names(&["churn_lr", "ltv"])),
                ("score-based", names(&["score('m')"])),
                ("hybrid", names(&["n", "score('m')"])),
                ("time-based", names(&["count(events within 1d)"])),
            ]
        );
    }
}
