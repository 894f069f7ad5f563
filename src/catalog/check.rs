//! The checker: parsed files in, one resolved [`Catalog`] out.
//!
//! Order of work: the schema (all files), the namespace (all files), features (each
//! after the features it names), segments, then cycles
//! between segments. Each step reports what it finds and carries on with what is left,
//! so one run shows every independent error; the catalog is only assembled, and
//! hashed, when there are none.

use super::ast::{DefKind, Definition, Stmt};
use super::diagnostic::{Checked, Reported, Reports};
use super::expr::{feature_body, feature_refs, PredChecker};
use super::graph::{self, Cycle};
use super::hash;
use super::ir::{Catalog, Feature, Pred, Segment, ValueExpr};
use super::names::Names;
use super::schema::Schema;
use super::scope::Scope;
use super::source::{SourceMap, Span};
use crate::value::Type;

/// Checks all files together. Returns `None` when `reports` holds any error, including
/// those of earlier passes.
pub(crate) fn check(
    sources: &SourceMap,
    files: &[Vec<Stmt>],
    reports: &mut Reports,
) -> Option<Catalog> {
    let schema = Schema::build(files, sources, reports);
    let names = Names::collect(files, sources, reports);
    let features = resolve_features(sources, &schema, &names, reports);
    let scope = Scope {
        sources,
        schema: &schema,
        names: &names,
        features: &features,
    };
    let mut preds = Vec::with_capacity(names.segments.len());
    let mut edges = Vec::with_capacity(names.segments.len());
    for def in &names.segments {
        let mut checker = PredChecker::new(&scope, reports);
        let pred = def
            .body
            .as_ref()
            .map_or(Err(Reported), |body| checker.pred(body));
        edges.push(checker.into_deps());
        preds.push(pred);
    }
    for def in &names.duplicates {
        if let Some(body) = &def.body {
            // Checked for their own errors only; the first definition is the one kept.
            let _ = match def.kind {
                DefKind::Feature | DefKind::Model => feature_body(body, &scope, reports).map(drop),
                DefKind::Segment => PredChecker::new(&scope, reports).pred(body).map(drop),
            };
        }
    }
    let (order, cycles) = graph::analyze(&edges);
    report_cycles("segment", &names.segments, &cycles, reports);
    if !reports.is_empty() {
        return None;
    }

    let preds: Vec<Pred> = preds.into_iter().collect::<Result<_, _>>().ok()?;
    let hashes = hash::segment_hashes(&schema.users, &schema.events, &preds, &order);
    let features = names
        .features
        .iter()
        .zip(features)
        .map(|(def, resolved)| {
            let (expr, ty) = resolved.ok()?;
            Some(Feature {
                name: def.name.name.clone(),
                expr,
                ty,
                model: def.kind == DefKind::Model,
                loc: sources.location(def.name.span),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let segments = names
        .segments
        .iter()
        .zip(preds)
        .zip(hashes)
        .map(|((def, pred), hash)| Segment {
            name: def.name.name.clone(),
            pred,
            loc: sources.location(def.name.span),
            hash,
            text: def.body.as_ref().map_or_else(String::new, |body| {
                format!("segment {} = {}", def.name.name, sources.snippet(body.span))
            }),
        })
        .collect();
    Some(Catalog {
        users: schema.users,
        events: schema.events,
        features,
        segments,
    })
}

/// Checks every feature body, each after the features it names (a feature's value is
/// inlined where it is named), reporting cycles of features.
fn resolve_features(
    sources: &SourceMap,
    schema: &Schema,
    names: &Names,
    reports: &mut Reports,
) -> Vec<Checked<(ValueExpr, Type)>> {
    let edges: Vec<Vec<(usize, Span)>> = (names.features.iter())
        .map(|def| {
            def.body
                .as_ref()
                .map_or_else(Vec::new, |body| feature_refs(body, names))
        })
        .collect();
    let (order, cycles) = graph::analyze(&edges);
    report_cycles("feature", &names.features, &cycles, reports);
    // A feature on a cycle finds what it names still unresolved and fails quietly (the
    // cycle itself is reported above).
    let mut resolved = vec![Err(Reported); names.features.len()];
    for i in order {
        let Some(body) = &names.features[i].body else {
            continue;
        };
        let scope = Scope {
            sources,
            schema,
            names,
            features: &resolved,
        };
        let value = feature_body(body, &scope, reports);
        resolved[i] = value;
    }
    resolved
}

/// Reports each cycle by the names along it, at the reference that closes it.
fn report_cycles(kind: &str, defs: &[&Definition], cycles: &[Cycle], reports: &mut Reports) {
    for cycle in cycles {
        let path: Vec<&str> = cycle
            .path
            .iter()
            .map(|&i| defs[i].name.name.as_str())
            .collect();
        let message = format!("{kind} cycle: {}", path.join(" -> "));
        reports.error(cycle.span, message, "this reference closes the cycle");
    }
}
