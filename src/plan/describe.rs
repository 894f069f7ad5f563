//! `segflow check`'s explanation of a plan: per segment, its kind, the features and
//! inputs it depends on, and which features are shared between segments.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::catalog::ir::{Catalog, EventOperand, EventPred};

use super::{Plan, Projection, SetNode, Source};

/// What a segment reads, collected by walking its set nodes.
#[derive(Default)]
struct Footprint {
    operands: BTreeSet<usize>,
    uses_now: bool,
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
    for (segment, &set) in catalog.segments.iter().zip(&plan.segments) {
        let mut footprint = Footprint::default();
        walk(plan, set, &mut footprint, &mut BTreeSet::new());
        let mut inputs = BTreeSet::new();
        let mut features = Vec::new();
        for &operand in &footprint.operands {
            let source = &plan.sources[plan.operands[operand].source];
            inputs.insert(match source {
                Source::Attr(_) => "users",
                Source::Score(_) => "scores",
                _ => "events",
            });
            if source.selection().is_some_and(|s| s.within.is_some()) {
                footprint.uses_now = true;
            }
            features.push(operand_label(catalog, plan, operand));
            users_of_operand
                .entry(operand)
                .or_default()
                .push(&segment.name);
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
        let _ = writeln!(
            out,
            "\nsegment {}  [{}]  hash {}  ({})",
            segment.name, kind, segment.hash, segment.loc
        );
        let _ = writeln!(
            out,
            "  depends on: {}",
            list(features.iter().map(String::as_str))
        );
        let _ = writeln!(out, "  inputs:     {}", list(inputs.iter().copied()));
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
fn operand_label(catalog: &Catalog, plan: &Plan, operand: usize) -> String {
    if let Some(names) = plan.feature_names.get(&operand) {
        return names.join("/");
    }
    let op = &plan.operands[operand];
    let source = &plan.sources[op.source];
    match source {
        Source::Attr(i) => format!("users.{}", catalog.users[*i].name),
        Source::Score(model) => format!("score('{model}')"),
        Source::Linear(sel) | Source::Distinct(sel) | Source::Extreme { selection: sel, .. } => {
            let func = match (source, op.projection) {
                (Source::Linear(_), Projection::Count) => "count",
                (Source::Linear(_), Projection::Sum) => "sum",
                (Source::Linear(_), _) => "avg",
                (Source::Distinct(_), _) => "count_distinct",
                (Source::Extreme { max: true, .. }, _) => "max",
                _ => "min",
            };
            let mut text = format!("{func}(events");
            if let Some(field) = sel.field {
                let _ = write!(text, ".{}", catalog.event_field_name(field));
            }
            if let Some(filter) = &sel.filter {
                let _ = write!(text, " where {}", event_pred(catalog, filter));
            }
            if let Some(within) = sel.within {
                let _ = write!(text, " within {}", duration(within));
            }
            text.push(')');
            text
        }
    }
}

/// A duration in the largest unit that divides it: `30d`, `90m`, `45s`.
fn duration(seconds: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(604_800, "w"), (86_400, "d"), (3_600, "h"), (60, "m")];
    UNITS
        .iter()
        .find(|(size, _)| seconds.is_multiple_of(*size))
        .map_or_else(
            || format!("{seconds}s"),
            |(size, unit)| format!("{}{unit}", seconds / size),
        )
}

fn event_pred(catalog: &Catalog, pred: &EventPred) -> String {
    let operand = |o: &EventOperand| match o {
        EventOperand::Field(f) => catalog.event_field_name(*f).to_string(),
        EventOperand::Const(v) => literal(v),
    };
    match pred {
        EventPred::Const(b) => b.to_string(),
        EventPred::Cmp(l, op, r) => format!("{} {} {}", operand(l), op.symbol(), operand(r)),
        EventPred::In {
            operand: o,
            list,
            negated,
        } => {
            let items: Vec<_> = list.iter().map(literal).collect();
            let not = if *negated { " not" } else { "" };
            format!("{}{not} in ({})", operand(o), items.join(", "))
        }
        EventPred::And(l, r) => format!(
            "({} and {})",
            event_pred(catalog, l),
            event_pred(catalog, r)
        ),
        EventPred::Or(l, r) => {
            format!("({} or {})", event_pred(catalog, l), event_pred(catalog, r))
        }
        EventPred::Not(p) => format!("not {}", event_pred(catalog, p)),
    }
}

fn literal(value: &crate::value::Value) -> String {
    match value {
        crate::value::Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_shown_in_their_largest_exact_unit() {
        assert_eq!(duration(2_592_000), "30d");
        assert_eq!(duration(1_209_600), "2w");
        assert_eq!(duration(5_400), "90m");
        assert_eq!(duration(45), "45s");
    }
}
