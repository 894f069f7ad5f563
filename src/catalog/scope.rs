//! What checking an expression can see: the sources (for snippets), the schema, the
//! catalog's names and the features resolved so far. Shared by the checkers of feature
//! bodies, segment predicates, calls and `where` clauses.

use super::diagnostic::Checked;
use super::ir::ValueExpr;
use super::names::Names;
use super::schema::Schema;
use super::source::SourceMap;
use crate::value::Type;

/// What checking an expression can see.
pub(crate) struct Scope<'a> {
    pub sources: &'a SourceMap,
    pub schema: &'a Schema,
    pub names: &'a Names<'a>,
    /// Resolved features by index. While feature bodies are checked, those not yet
    /// resolved (checked later, or failed) are errors already reported.
    pub features: &'a [Checked<(ValueExpr, Type)>],
}
