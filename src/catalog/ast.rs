//! The syntax tree of a catalog file, as written: names are unresolved and nothing is
//! typed yet.
//!
//! Feature bodies and segment predicates share one expression grammar; whether an
//! expression is a value or a condition, and whether it is allowed where it appears, is
//! the checker's business. This keeps the parser small and lets the checker explain
//! misuse ("`purchases` is a number; compare it") instead of failing with "syntax error".

use rust_decimal::Decimal;

use super::source::Span;
use crate::arith::ArithOp;
use crate::value::CmpOp;

/// A name with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ident {
    pub name: String,
    pub span: Span,
}

/// The two tables a catalog can name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    Users,
    Events,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Events => "events",
        }
    }
}

/// `name: type` in a `schema` statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ColumnDecl {
    pub name: Ident,
    pub ty: Ident,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum DefKind {
    Feature,
    /// A feature that reads as a model (`model churn_lr = logistic(...)`).
    Model,
    Segment,
}

impl DefKind {
    pub fn name(self) -> &'static str {
        match self {
            DefKind::Feature => "feature",
            DefKind::Model => "model",
            DefKind::Segment => "segment",
        }
    }
}

/// `feature NAME = EXPR`, `model NAME = EXPR` or `segment NAME = EXPR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Definition {
    pub kind: DefKind,
    pub name: Ident,
    /// `None` when the body had a syntax error (already reported): the name still
    /// exists, so references to it do not cause a second, misleading error.
    pub body: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stmt {
    Schema {
        table: Table,
        columns: Vec<ColumnDecl>,
        /// False when a syntax error cut the column list short, so that uses of the
        /// missing columns are not reported again as unknown.
        complete: bool,
    },
    Define(Definition),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Literal {
    Bool(bool),
    Number(Decimal),
    Str(String),
}

/// A literal with where it was written (an element of an `in` list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lit {
    pub value: Literal,
    pub span: Span,
}

/// The arguments of a function call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Args {
    /// `events[.FIELD] [where P] [within D]`, the argument of an aggregate.
    Events(EventsArg),
    /// Comma-separated expressions, such as `'churn'` in `score('churn')`.
    Values(Vec<Expr>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EventsArg {
    pub field: Option<Ident>,
    pub filter: Option<Box<Expr>>,
    /// The window in seconds (already validated).
    pub within: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ExprKind {
    Lit(Literal),
    /// A duration in seconds, such as `14d` in `now - 14d`.
    Duration(u64),
    Now,
    /// A bare name: a feature, a segment, or inside `where` an event field.
    Name(String),
    /// `users.ATTR` or `events.FIELD`.
    Field {
        table: Table,
        field: Ident,
    },
    Call {
        func: Ident,
        args: Args,
    },
    Arith {
        left: Box<Expr>,
        op: ArithOp,
        right: Box<Expr>,
    },
    /// `-x` where `x` is not a number literal (`-3` is a literal).
    Neg(Box<Expr>),
    Cmp {
        left: Box<Expr>,
        op: CmpOp,
        right: Box<Expr>,
    },
    In {
        expr: Box<Expr>,
        list: Vec<Lit>,
        negated: bool,
    },
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// The height of this tree (a leaf is 1). The parser caps it so that no later pass,
    /// nor dropping the tree, can recurse deep enough to overflow the stack.
    pub depth: usize,
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        let depth = 1 + kind.children().map(|c| c.depth).max().unwrap_or(0);
        Expr { kind, span, depth }
    }
}

impl ExprKind {
    pub(crate) fn children(&self) -> Box<dyn Iterator<Item = &Expr> + '_> {
        match self {
            ExprKind::Lit(_)
            | ExprKind::Duration(_)
            | ExprKind::Now
            | ExprKind::Name(_)
            | ExprKind::Field { .. } => Box::new(std::iter::empty()),
            ExprKind::Call { args, .. } => match args {
                Args::Events(arg) => Box::new(arg.filter.iter().map(|f| &**f)),
                Args::Values(values) => Box::new(values.iter()),
            },
            ExprKind::Arith { left, right, .. }
            | ExprKind::Cmp { left, right, .. }
            | ExprKind::And(left, right)
            | ExprKind::Or(left, right) => Box::new([&**left, &**right].into_iter()),
            ExprKind::In { expr, .. } | ExprKind::Not(expr) | ExprKind::Neg(expr) => {
                Box::new(std::iter::once(&**expr))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_the_height_of_the_tree() {
        let span = Span::new(0, 0, 1);
        let leaf = || Box::new(Expr::new(ExprKind::Now, span));
        let not = Expr::new(ExprKind::Not(leaf()), span);
        assert_eq!(not.depth, 2);
        let and = Expr::new(ExprKind::And(Box::new(not), leaf()), span);
        assert_eq!(and.depth, 3);
    }
}
