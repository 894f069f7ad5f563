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

/// The catalog files' `(name, contents)` pairs, as [`load`] reads them.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>, CatalogError> {
    let mut texts = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read(path).map_err(|error| CatalogError::Io {
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
        .map(|(name, text)| (name.to_string(), text.as_bytes().to_vec()))
        .collect();
    check_texts(texts)
}

/// Checks `(file name, contents)` pairs together, as [`load`] does. A leading byte
/// order mark is ignored; a file that is not UTF-8 is reported at its first invalid
/// byte, and not parsed.
pub fn check_texts(texts: Vec<(String, Vec<u8>)>) -> Result<ir::Catalog, CatalogError> {
    check_edited(texts, &[])
}

/// Checks `(file name, contents)` pairs together as [`check_texts`] does, leaving out
/// the segments `dropped` names as `(file index, segment name)`: a catalog edited at
/// runtime is its files, minus the definitions replaced or deleted, plus the new ones
/// (as more files).
pub fn check_edited(
    texts: Vec<(String, Vec<u8>)>,
    dropped: &[(usize, String)],
) -> Result<ir::Catalog, CatalogError> {
    let mut sources = source::SourceMap::default();
    let mut reports = diagnostic::Reports::default();
    let mut files = Vec::with_capacity(texts.len());
    let mut not_utf8 = false;
    for (name, bytes) in texts {
        let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                let file = sources.add(&name, text.to_string());
                let mut statements = parser::parse(file, sources.text(file), &mut reports);
                statements.retain(|statement| match statement {
                    ast::Stmt::Define(def) if def.kind == ast::DefKind::Segment => !dropped
                        .iter()
                        .any(|(at, name)| *at == files.len() && *name == def.name.name),
                    _ => true,
                });
                files.push(statements);
            }
            Err(error) => {
                let at = error.valid_up_to();
                let file = sources.add(&name, String::from_utf8_lossy(bytes).into_owned());
                let message = format!("the file is not valid UTF-8 (byte 0x{:02x})", bytes[at]);
                // The lossy text holds U+FFFD where the invalid byte was.
                let span = source::Span::new(file, at, at + '\u{fffd}'.len_utf8());
                reports.error(span, message, "catalogs are UTF-8 text");
                not_utf8 = true;
            }
        }
    }
    if not_utf8 {
        return Err(CatalogError::Invalid(reports.into_diagnostics(&sources)));
    }
    match check::check(&sources, &files, &mut reports) {
        Some(catalog) => Ok(catalog),
        None => Err(CatalogError::Invalid(reports.into_diagnostics(&sources))),
    }
}
