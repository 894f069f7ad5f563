//! The definition language: parsing, checking and the checked form.
//!
//! [`load`] and [`check_sources`] run the whole pipeline. Each file is tokenized and
//! parsed on its own (a syntax error costs only the statement it is in), then all
//! files are checked together as one namespace and one schema. Every error found is
//! returned, not just the first, each displayed like a rustc diagnostic.
//!
//! Modules, one job each: `source` (texts and spans), `lexer`, `parser` (into `ast`),
//! `duration`, then the checker: `schema`, `names`, `expr` (features and segment
//! predicates), `call` (aggregates, `exists`, `score`), `event` (`where` clauses),
//! `typing` (comparisons), `graph` (cycles and dependency order), `hash`, driven by
//! `check`; `diagnostic` and `suggest` serve them all. `show` writes checked
//! expressions back as catalog text.

mod ast;
mod call;
mod check;
mod diagnostic;
mod duration;
pub(crate) use duration::parse as parse_duration;
mod event;
mod expr;
mod graph;
mod hash;
pub mod ir;
mod lexer;
mod names;
mod parser;
mod schema;
mod scope;
pub mod show;
mod source;
mod suggest;
#[cfg(test)]
mod tests;
mod typing;

use std::path::PathBuf;

pub use diagnostic::{CatalogError, Diagnostic};

/// Loads, parses and checks catalog files together (one namespace across files).
///
/// Locations in errors and in the catalog name each file as its path is written here.
pub fn load(paths: &[PathBuf]) -> Result<ir::Catalog, CatalogError> {
    check_texts(read_sources(paths)?)
}

/// The catalog files' `(name, text)` pairs, as [`load`] reads them.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<(String, String)>, CatalogError> {
    let mut texts = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|error| CatalogError::Io {
            path: path.clone(),
            error,
        })?;
        texts.push((path.display().to_string(), text));
    }
    Ok(texts)
}

/// Same as [`load`], from in-memory `(file name, text)` pairs — used by tests.
pub fn check_sources(sources: &[(&str, &str)]) -> Result<ir::Catalog, CatalogError> {
    let texts = sources
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect();
    check_texts(texts)
}

/// Parses and checks `(file name, text)` pairs together, as [`load`] does.
pub fn check_texts(texts: Vec<(String, String)>) -> Result<ir::Catalog, CatalogError> {
    let mut sources = source::SourceMap::default();
    let mut reports = diagnostic::Reports::default();
    let files: Vec<_> = texts
        .into_iter()
        .map(|(name, text)| {
            let file = sources.add(&name, text);
            parser::parse(file, sources.text(file), &mut reports)
        })
        .collect();
    match check::check(&sources, &files, &mut reports) {
        Some(catalog) => Ok(catalog),
        None => Err(CatalogError::Invalid(reports.into_diagnostics(&sources))),
    }
}
