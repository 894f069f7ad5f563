//! `segflow check --plan`: the whole physical plan, as the dataflow will run it.
//!
//! Every line names a node by its index (`s` sources, `o` operands, `a` atoms, `n` set
//! nodes) and says where and how it is computed, so a user (and a test) can see
//! exactly what will run: which event slot keeps which state, which atoms each source's
//! reader decides, which operands come out as rows for a temporal filter, and which
//! set nodes the evaluating reduce computes.

use std::fmt::Write;

use crate::catalog::ir::{Catalog, ValueExpr};
use crate::catalog::show;

use super::describe::operand_label;
use super::{Atom, Decision, Keep, Placement, Plan, Read, SetNode, Source, Term, Test};

/// The physical plan of `plan`, one node a line.
pub fn explain(catalog: &Catalog, plan: &Plan) -> String {
    let physical = &plan.physical;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "physical plan: {} sources ({} event slots), {} operands, {} atoms, {} set nodes, {} segments",
        plan.sources.len(),
        physical.slots.len(),
        plan.operands.len(),
        plan.atoms.len(),
        plan.sets.len(),
        plan.segments.len()
    );
    let _ = writeln!(out, "\nsources:");
    for (index, source) in plan.sources.iter().enumerate() {
        let what = source_text(catalog, source);
        let place = match physical.placements[index] {
            Placement::Unread => "unread: not rendered".to_string(),
            Placement::LatestScore => "latest score per user".to_string(),
            Placement::CurrentUser => "current users row per user".to_string(),
            Placement::DayClock { time } => format!("day clock over the rows of operand {time}"),
            Placement::EventSlot(slot) => {
                let slot_plan = &physical.slots[slot as usize];
                let reads: Vec<_> = slot_plan.reads.iter().map(|f| f.name()).collect();
                let mut text = format!("event slot {slot}, reads {}", reads.join(", "));
                match slot_plan.keep {
                    Keep::Every => {}
                    Keep::Least => text.push_str(", keeps the least value at a batch time"),
                    Keep::Greatest => text.push_str(", keeps the greatest value at a batch time"),
                }
                text
            }
        };
        let _ = writeln!(out, "  s{index}  {what}  [{place}]");
    }
    let _ = writeln!(out, "\noperands:");
    for (index, operand) in plan.operands.iter().enumerate() {
        let read = match operand.read {
            Read::Aggregate(func) => format!("{} of s{}", func.name(), operand.source),
            Read::Value => format!("value of s{}", operand.source),
        };
        let rows = physical.slots.iter().any(|slot| slot.rows.contains(&index))
            || (physical.temporal.iter()).any(|filter| filter.over == Some(index));
        let _ = writeln!(
            out,
            "  o{index}  {}  = {read}, default {}{}",
            operand_label(catalog, plan, index),
            if operand.default.is_null() {
                "missing".to_string()
            } else {
                show::literal(&operand.default)
            },
            if rows { ", out as rows" } else { "" }
        );
    }
    let _ = writeln!(out, "\natoms:");
    for (index, atom) in plan.atoms.iter().enumerate() {
        let how = match physical.decisions[index] {
            Decision::ByReader => {
                let source = plan.operands[atom.operands[0]].source;
                format!("decided by the reader of s{source}")
            }
            Decision::ByTemporalFilter => match atom.operands.first() {
                Some(operand) => format!("temporal filter over the rows of o{operand}"),
                None => "temporal filter over the universe".to_string(),
            },
            Decision::InEvaluation => {
                let operands: Vec<_> = atom.operands.iter().map(|o| format!("o{o}")).collect();
                format!("decided in the reduce from {}", operands.join(", "))
            }
        };
        let _ = writeln!(
            out,
            "  a{index}  {}  [{how}; default {}]",
            atom_text(catalog, plan, atom),
            atom.default_result()
        );
    }
    let _ = writeln!(
        out,
        "\nset nodes (evaluated per user by one reduce, in order):"
    );
    for (index, node) in plan.sets.iter().enumerate() {
        let list = |parts: &[usize]| {
            let parts: Vec<_> = parts.iter().map(|p| format!("n{p}")).collect();
            parts.join(", ")
        };
        let text = match node {
            SetNode::Universe => "universe".to_string(),
            SetNode::Empty => "empty".to_string(),
            SetNode::Exceptions(atom) => format!("exceptions of a{atom}"),
            SetNode::And(parts) => format!("and({})", list(parts)),
            SetNode::Or(parts) => format!("or({})", list(parts)),
            SetNode::Not(inner) => format!("universe minus n{inner}"),
        };
        let _ = writeln!(out, "  n{index}  {text}");
    }
    let _ = writeln!(out, "\nsegments:");
    for (segment, &set) in catalog.segments.iter().zip(&plan.segments) {
        let _ = writeln!(out, "  {} = n{set}", segment.name);
    }
    out
}

/// An atom as a comparison of its terms.
fn atom_text(catalog: &Catalog, plan: &Plan, atom: &Atom) -> String {
    test_text(catalog, plan, &atom.test)
}

fn test_text(catalog: &Catalog, plan: &Plan, test: &Test) -> String {
    let term = |t: &Term| term_text(catalog, plan, t);
    let inner = |t: &Test| test_text(catalog, plan, t);
    match test {
        Test::Cmp(left, op, right) => format!("{} {} {}", term(left), op.symbol(), term(right)),
        Test::In {
            term: value,
            list,
            negated,
        } => {
            let list: Vec<_> = list.iter().map(show::literal).collect();
            let not = if *negated { " not" } else { "" };
            format!("{}{not} in ({})", term(value), list.join(", "))
        }
        Test::Const(b) => b.to_string(),
        Test::And(a, b) => format!("({} and {})", inner(a), inner(b)),
        Test::Or(a, b) => format!("({} or {})", inner(a), inner(b)),
        Test::Not(a) => format!("not {}", inner(a)),
    }
}

/// A term as written, its operands by their labels.
fn term_text(catalog: &Catalog, plan: &Plan, term: &Term) -> String {
    let text = |t: &Term| term_text(catalog, plan, t);
    let operand = |t: &Term| match t {
        Term::Arith(..) | Term::Neg(_) => format!("({})", text(t)),
        _ => text(t),
    };
    match term {
        Term::Operand(operand) => operand_label(catalog, plan, *operand),
        Term::Const(value) => show::literal(value),
        Term::Now(offset) => show::value(catalog, &ValueExpr::Now(*offset)),
        Term::Approx(x) => text(x),
        Term::Neg(x) => format!("-{}", operand(x)),
        Term::Arith(l, op, r) => format!("{} {} {}", operand(l), op.symbol(), operand(r)),
        Term::Func(func, args) => {
            let args: Vec<String> = args.iter().map(text).collect();
            format!("{}({})", func.name(), args.join(", "))
        }
        Term::If(test, then, otherwise) => format!(
            "if({}, {}, {})",
            test_text(catalog, plan, test),
            text(then),
            text(otherwise)
        ),
        Term::Truth(test) => format!("({})", test_text(catalog, plan, test)),
    }
}

/// What a source keeps, as the plan explains it.
fn source_text(catalog: &Catalog, source: &Source) -> String {
    match source {
        Source::Events { family, selection } => {
            let mut text = format!("{} of events", family.name());
            if let Some(field) = selection.field {
                let _ = write!(text, ".{}", catalog.event_field_name(field));
            }
            if let Some(filter) = &selection.filter {
                let _ = write!(text, " where {}", show::event_pred(catalog, filter));
            }
            if let Some(within) = selection.within {
                let _ = write!(text, " within {}", show::duration(within));
            }
            text
        }
        Source::Score(model, version) => version.call(model),
        Source::Attr(column) => format!("users.{}", catalog.users[*column].name),
        Source::DaysSince { of, read } => match read {
            Read::Aggregate(func) => {
                format!("days since {} of {}", func.name(), source_text(catalog, of))
            }
            Read::Value => format!("days since {}", source_text(catalog, of)),
        },
    }
}
