//! Recursive-descent parser: the tokens of one file into [`Stmt`]s.
//!
//! Every statement starts with `schema`, `feature` or `segment`, which are reserved, so
//! after a syntax error the parser skips to the next of those keywords and carries on:
//! one typo costs one statement and one message, and the other statements are still
//! parsed and checked.
//!
//! Grammar, loosest binding first (`not` binds tighter than `and`, which binds tighter
//! than `or`):
//! ```text
//! stmt       = "schema" ("users" | "events") "(" [column ("," column)* [","]] ")"
//!            | ("feature" | "segment") NAME "=" or
//! column     = NAME ":" NAME
//! or         = and ("or" and)*
//! and        = not ("and" not)*
//! not        = "not" not | comparison
//! comparison = additive [CMP additive | ["not"] "in" "(" literal ("," literal)* [","] ")"]
//! additive   = primary (("+" | "-") primary)*
//! primary    = literal | DURATION | "now" | "(" or ")" | NAME ["(" args ")"]
//!            | ("users" | "events") "." NAME
//! args       = "events" ["." NAME] ["where" or] ["within" DURATION] | [or ("," or)*]
//! literal    = NUMBER | "-" NUMBER | STRING | "true" | "false"
//! ```

use std::str::FromStr;

use rust_decimal::Decimal;

use super::ast::{
    Args, ColumnDecl, DefKind, Definition, EventsArg, Expr, ExprKind, Ident, Lit, Literal, Stmt,
    Table,
};
use super::diagnostic::{Checked, Reported, Reports};
use super::duration;
use super::lexer::{tokenize, Keyword, Token, TokenKind};
use super::source::Span;
use super::suggest;
use crate::arith::ArithOp;
use crate::value::CmpOp;

/// The tallest expression tree accepted (a chain of 100 `and`s is 100 levels). Real
/// definitions are a handful of levels deep; the cap keeps every recursive pass over
/// the tree (in the checker, the planner, even dropping it) far from the end of the
/// stack.
const MAX_DEPTH: usize = 256;

/// The most parentheses and `not`s that may enclose a point of an expression. Each
/// level costs the parser several stack frames, hence a lower cap than [`MAX_DEPTH`].
const MAX_NESTING: usize = 64;

/// Parses one file. Syntax errors are reported and the statements they are in dropped
/// (a definition keeps its name, without a body).
pub(crate) fn parse(file: usize, text: &str, reports: &mut Reports) -> Vec<Stmt> {
    let tokens = tokenize(file, text, reports);
    let mut parser = Parser {
        tokens,
        pos: 0,
        nesting: 0,
        reports,
    };
    parser.file()
}

struct Parser<'s, 'r> {
    /// Never empty: the last token is `Eof`, and `pos` never moves past it.
    tokens: Vec<Token<'s>>,
    pos: usize,
    /// How many `not`s and parentheses enclose the current position (at most
    /// [`MAX_NESTING`]).
    nesting: usize,
    reports: &'r mut Reports,
}

/// How a token is named in "expected X, found Y".
fn describe(token: &Token) -> String {
    match token.kind {
        TokenKind::Eof => "end of file".to_string(),
        TokenKind::Keyword(_) => format!("keyword `{}`", token.text),
        _ => {
            let mut text: String = token.text.chars().take(40).collect();
            if text.len() < token.text.len() {
                text.push('…');
            }
            format!("`{text}`")
        }
    }
}

impl<'s> Parser<'s, '_> {
    fn peek(&self) -> &Token<'s> {
        &self.tokens[self.pos]
    }

    fn peek_kind(&self) -> &TokenKind {
        &self.peek().kind
    }

    fn nth_kind(&self, n: usize) -> &TokenKind {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.pos + n).min(last)].kind
    }

    fn advance(&mut self) -> Token<'s> {
        let token = self.tokens[self.pos].clone();
        if token.kind != TokenKind::Eof {
            self.pos += 1;
        }
        token
    }

    fn at_keyword(&self, keyword: Keyword) -> bool {
        *self.peek_kind() == TokenKind::Keyword(keyword)
    }

    fn eat(&mut self, kind: &TokenKind) -> Option<Span> {
        (self.peek_kind() == kind).then(|| self.advance().span)
    }

    fn eat_keyword(&mut self, keyword: Keyword) -> Option<Span> {
        self.eat(&TokenKind::Keyword(keyword))
    }

    /// Reports "expected {what}, found ..." at the current token, unless that token is
    /// a lexical error, which has been reported already.
    fn expected(&mut self, what: &str) -> Reported {
        self.expected_with(what, "")
    }

    fn expected_with(&mut self, what: &str, label: &str) -> Reported {
        let token = self.peek();
        if token.kind == TokenKind::Invalid {
            return Reported;
        }
        let message = format!("expected {what}, found {}", describe(token));
        let span = token.span;
        self.reports.error(span, message, label)
    }

    fn expect(&mut self, kind: &TokenKind, what: &str) -> Checked<Span> {
        match self.eat(kind) {
            Some(span) => Ok(span),
            None => Err(self.expected(what)),
        }
    }

    fn at_statement_start(&self) -> bool {
        matches!(
            self.peek_kind(),
            TokenKind::Eof
                | TokenKind::Keyword(
                    Keyword::Schema | Keyword::Feature | Keyword::Model | Keyword::Segment
                )
        )
    }

    /// Skips the rest of a broken statement.
    fn recover(&mut self) {
        while !self.at_statement_start() {
            self.advance();
        }
    }

    fn end_of_statement(&mut self, what: &str) -> Checked<()> {
        if self.at_statement_start() {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn file(&mut self) -> Vec<Stmt> {
        let mut statements = Vec::new();
        loop {
            let statement = match self.peek_kind() {
                TokenKind::Eof => break,
                TokenKind::Keyword(Keyword::Schema) => self.schema(),
                TokenKind::Keyword(Keyword::Feature) => self.definition(DefKind::Feature),
                TokenKind::Keyword(Keyword::Model) => self.definition(DefKind::Model),
                TokenKind::Keyword(Keyword::Segment) => self.definition(DefKind::Segment),
                _ => {
                    let token = self.peek();
                    let label = if token.kind == TokenKind::Ident {
                        let starts = ["schema", "feature", "model", "segment"];
                        suggest::did_you_mean(token.text, starts, "")
                    } else {
                        String::new()
                    };
                    self.expected_with(
                        "a statement (`schema`, `feature`, `model` or `segment`)",
                        &label,
                    );
                    self.advance();
                    None
                }
            };
            statements.extend(statement);
            self.recover();
        }
        statements
    }

    fn name(&mut self, what: &str) -> Checked<Ident> {
        if *self.peek_kind() == TokenKind::Ident {
            let token = self.advance();
            Ok(Ident {
                name: token.text.to_string(),
                span: token.span,
            })
        } else {
            Err(self.expected(what))
        }
    }

    fn schema(&mut self) -> Option<Stmt> {
        self.advance();
        let table = match self.peek_kind() {
            TokenKind::Keyword(Keyword::Users) => Table::Users,
            TokenKind::Keyword(Keyword::Events) => Table::Events,
            _ => {
                let label = match self.peek().kind {
                    TokenKind::Ident => {
                        suggest::did_you_mean(self.peek().text, ["users", "events"], "")
                    }
                    _ => String::new(),
                };
                self.expected_with("`users` or `events` after `schema`", &label);
                return None;
            }
        };
        self.advance();
        let mut columns = Vec::new();
        let complete = self.columns(table, &mut columns).is_ok();
        Some(Stmt::Schema {
            table,
            columns,
            complete,
        })
    }

    fn columns(&mut self, table: Table, columns: &mut Vec<ColumnDecl>) -> Checked<()> {
        self.expect(
            &TokenKind::LParen,
            &format!("`(` after `schema {}`", table.name()),
        )?;
        while self.eat(&TokenKind::RParen).is_none() {
            let name = self.name("a column name")?;
            self.expect(
                &TokenKind::Colon,
                &format!("`:` and a type after column `{}`", name.name),
            )?;
            let ty = self.name("a type (text, number, time or bool)")?;
            let after = format!("`,` or `)` after column `{}: {}`", name.name, ty.name);
            columns.push(ColumnDecl { name, ty });
            if self.eat(&TokenKind::Comma).is_none() && *self.peek_kind() != TokenKind::RParen {
                return Err(self.expected(&after));
            }
        }
        self.end_of_statement("a new statement after `schema (...)`")
    }

    fn definition(&mut self, kind: DefKind) -> Option<Stmt> {
        self.advance();
        let what = kind.name();
        let name = self.name(&format!("a {what} name after `{what}`")).ok()?;
        let body = self.definition_body(kind).ok();
        Some(Stmt::Define(Definition { kind, name, body }))
    }

    fn definition_body(&mut self, kind: DefKind) -> Checked<Expr> {
        self.expect(&TokenKind::Eq, &format!("`=` after {} name", kind.name()))?;
        let body = self.or()?;
        self.end_of_statement("an operator or the start of a new statement")?;
        Ok(body)
    }

    /// Builds a node, refusing trees deeper than [`MAX_DEPTH`].
    fn node(&mut self, kind: ExprKind, span: Span) -> Checked<Expr> {
        let expr = Expr::new(kind, span);
        if expr.depth > MAX_DEPTH {
            return Err(self.too_deep(span));
        }
        Ok(expr)
    }

    fn too_deep(&mut self, span: Span) -> Reported {
        let message = format!(
            "expression is nested too deeply (more than {MAX_DEPTH} operators or {MAX_NESTING} parentheses deep); split it into several definitions"
        );
        self.reports.error(span, message, "")
    }

    fn or(&mut self) -> Checked<Expr> {
        let mut left = self.and()?;
        while self.eat_keyword(Keyword::Or).is_some() {
            let right = self.and()?;
            let span = left.span.to(right.span);
            left = self.node(ExprKind::Or(Box::new(left), Box::new(right)), span)?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Checked<Expr> {
        let mut left = self.not()?;
        while self.eat_keyword(Keyword::And).is_some() {
            let right = self.not()?;
            let span = left.span.to(right.span);
            left = self.node(ExprKind::And(Box::new(left), Box::new(right)), span)?;
        }
        Ok(left)
    }

    /// Every nested expression passes through here, so this is where recursion is capped.
    fn not(&mut self) -> Checked<Expr> {
        if self.nesting >= MAX_NESTING {
            let span = self.peek().span;
            return Err(self.too_deep(span));
        }
        self.nesting += 1;
        let result = match self.eat_keyword(Keyword::Not) {
            Some(start) => self.not().and_then(|inner| {
                let span = start.to(inner.span);
                self.node(ExprKind::Not(Box::new(inner)), span)
            }),
            None => self.comparison(),
        };
        self.nesting -= 1;
        result
    }

    fn comparison_operator(&self) -> Option<CmpOp> {
        Some(match self.peek_kind() {
            TokenKind::Eq => CmpOp::Eq,
            TokenKind::Ne => CmpOp::Ne,
            TokenKind::Lt => CmpOp::Lt,
            TokenKind::Le => CmpOp::Le,
            TokenKind::Gt => CmpOp::Gt,
            TokenKind::Ge => CmpOp::Ge,
            _ => return None,
        })
    }

    fn comparison(&mut self) -> Checked<Expr> {
        let left = self.additive()?;
        if let Some(op) = self.comparison_operator() {
            self.advance();
            let right = self.additive()?;
            if self.comparison_operator().is_some() {
                let span = self.peek().span;
                let message = "comparisons cannot be chained; combine them with `and`";
                return Err(self.reports.error(span, message, ""));
            }
            let span = left.span.to(right.span);
            let kind = ExprKind::Cmp {
                left: Box::new(left),
                op,
                right: Box::new(right),
            };
            return self.node(kind, span);
        }
        let negated = self.at_keyword(Keyword::Not);
        if negated {
            if *self.nth_kind(1) != TokenKind::Keyword(Keyword::In) {
                self.advance();
                return Err(self.expected("`in` after `not`"));
            }
            self.advance();
        }
        if self.eat_keyword(Keyword::In).is_none() {
            return Ok(left);
        }
        self.expect(&TokenKind::LParen, "`(` and a list of literals after `in`")?;
        let mut list = vec![self.literal()?];
        loop {
            if let Some(close) = self.eat(&TokenKind::RParen) {
                let span = left.span.to(close);
                let kind = ExprKind::In {
                    expr: Box::new(left),
                    list,
                    negated,
                };
                return self.node(kind, span);
            }
            self.expect(&TokenKind::Comma, "`,` or `)` in the `in` list")?;
            if *self.peek_kind() != TokenKind::RParen {
                list.push(self.literal()?);
            }
        }
    }

    fn literal(&mut self) -> Checked<Lit> {
        let token = self.peek().clone();
        let value = match &token.kind {
            TokenKind::Number | TokenKind::Minus => return self.number(),
            TokenKind::Str(text) => Literal::Str(text.clone()),
            TokenKind::Keyword(Keyword::True) => Literal::Bool(true),
            TokenKind::Keyword(Keyword::False) => Literal::Bool(false),
            _ => return Err(self.expected("a literal (a number, 'text', true or false)")),
        };
        self.advance();
        Ok(Lit {
            value,
            span: token.span,
        })
    }

    /// `5`, `0.75` or `-3`: exact decimals.
    fn number(&mut self) -> Checked<Lit> {
        let minus = self.eat(&TokenKind::Minus);
        if *self.peek_kind() != TokenKind::Number {
            return Err(self.expected("a number after `-`"));
        }
        let token = self.advance();
        let span = minus.map_or(token.span, |m| m.to(token.span));
        let Ok(value) = Decimal::from_str(token.text) else {
            let message = format!("number `{}` is out of range", token.text);
            return Err(self
                .reports
                .error(span, message, "numbers have at most 28 digits"));
        };
        let value = if minus.is_some() { -value } else { value };
        Ok(Lit {
            value: Literal::Number(value),
            span,
        })
    }

    fn additive(&mut self) -> Checked<Expr> {
        self.binary(Self::multiplicative, |kind| match kind {
            TokenKind::Plus => Some(ArithOp::Add),
            TokenKind::Minus => Some(ArithOp::Sub),
            _ => None,
        })
    }

    fn multiplicative(&mut self) -> Checked<Expr> {
        self.binary(Self::unary, |kind| match kind {
            TokenKind::Star => Some(ArithOp::Mul),
            TokenKind::Slash => Some(ArithOp::Div),
            _ => None,
        })
    }

    /// A left-associative chain of `operand`s joined by the operators `op_of` knows.
    fn binary(
        &mut self,
        operand: fn(&mut Self) -> Checked<Expr>,
        op_of: fn(&TokenKind) -> Option<ArithOp>,
    ) -> Checked<Expr> {
        let mut left = operand(self)?;
        loop {
            let Some(op) = op_of(self.peek_kind()) else {
                return Ok(left);
            };
            self.advance();
            let right = operand(self)?;
            let span = left.span.to(right.span);
            let kind = ExprKind::Arith {
                left: Box::new(left),
                op,
                right: Box::new(right),
            };
            left = self.node(kind, span)?;
        }
    }

    /// `-x`; a minus before a number is the number's sign (`-3` is a literal).
    fn unary(&mut self) -> Checked<Expr> {
        if *self.peek_kind() != TokenKind::Minus {
            return self.primary();
        }
        if *self.nth_kind(1) == TokenKind::Number {
            let lit = self.number()?;
            return self.node(ExprKind::Lit(lit.value), lit.span);
        }
        let minus = self.advance().span;
        let inner = self.unary()?;
        let span = minus.to(inner.span);
        self.node(ExprKind::Neg(Box::new(inner)), span)
    }

    fn duration(&mut self) -> Checked<(u64, Span)> {
        let token = self.advance();
        match duration::parse(token.text) {
            Ok(seconds) => Ok((seconds, token.span)),
            Err(reason) => {
                let message = format!("bad duration `{}`: {reason}", token.text);
                Err(self.reports.error(token.span, message, ""))
            }
        }
    }

    fn primary(&mut self) -> Checked<Expr> {
        let token = self.peek().clone();
        let kind = match token.kind {
            TokenKind::Number => {
                let lit = self.number()?;
                return self.node(ExprKind::Lit(lit.value), lit.span);
            }
            TokenKind::Str(text) => ExprKind::Lit(Literal::Str(text)),
            TokenKind::Keyword(Keyword::True) => ExprKind::Lit(Literal::Bool(true)),
            TokenKind::Keyword(Keyword::False) => ExprKind::Lit(Literal::Bool(false)),
            TokenKind::Keyword(Keyword::Now) => ExprKind::Now,
            TokenKind::Duration => {
                let (seconds, span) = self.duration()?;
                return self.node(ExprKind::Duration(seconds), span);
            }
            TokenKind::LParen => {
                self.advance();
                let inner = self.or()?;
                let close = self.expect(&TokenKind::RParen, "`)` to close `(`")?;
                return Ok(Expr {
                    span: token.span.to(close),
                    ..inner
                });
            }
            TokenKind::Ident if *self.nth_kind(1) == TokenKind::LParen => return self.call(),
            TokenKind::Ident => ExprKind::Name(token.text.to_string()),
            TokenKind::Keyword(Keyword::Users) => return self.field(Table::Users),
            TokenKind::Keyword(Keyword::Events) => return self.field(Table::Events),
            _ => return Err(self.expected("a value or a condition")),
        };
        self.advance();
        self.node(kind, token.span)
    }

    /// `users.ATTR` or `events.FIELD`.
    fn field(&mut self, table: Table) -> Checked<Expr> {
        let start = self.advance().span;
        if self.eat(&TokenKind::Dot).is_none() {
            let what = match table {
                Table::Users => "`.` and an attribute name after `users`",
                Table::Events => "`.` and a field name after `events` (or use `events` inside an aggregate, e.g. `count(events)`)",
            };
            return Err(self.expected(what));
        }
        let field = self.name(&format!("a column name after `{}.`", table.name()))?;
        let span = start.to(field.span);
        self.node(ExprKind::Field { table, field }, span)
    }

    fn call(&mut self) -> Checked<Expr> {
        let token = self.advance();
        let func = Ident {
            name: token.text.to_string(),
            span: token.span,
        };
        self.advance();
        let args = if self.at_keyword(Keyword::Events) {
            Args::Events(self.events_arg()?)
        } else {
            Args::Values(self.values(&func.name)?)
        };
        let span = func.span.to(self.tokens[self.pos - 1].span);
        self.node(ExprKind::Call { func, args }, span)
    }

    /// `events[.FIELD] [where P] [within D] )`.
    fn events_arg(&mut self) -> Checked<EventsArg> {
        self.advance();
        let field = match self.eat(&TokenKind::Dot) {
            Some(_) => Some(self.name("a field name after `events.`")?),
            None => None,
        };
        let filter = match self.eat_keyword(Keyword::Where) {
            Some(_) => Some(Box::new(self.or()?)),
            None => None,
        };
        let within = match self.eat_keyword(Keyword::Within) {
            Some(_) if matches!(self.peek_kind(), TokenKind::Duration | TokenKind::Number) => {
                Some(self.duration()?.0)
            }
            Some(_) => return Err(self.expected("a duration such as `30d` after `within`")),
            None => None,
        };
        if self.eat(&TokenKind::RParen).is_none() {
            let what = match (&filter, within) {
                (_, Some(_)) => "`)` to close the aggregate",
                (Some(_), None) => "an operator, `within` or `)`",
                (None, None) => "`where`, `within` or `)`",
            };
            return Err(self.expected(what));
        }
        Ok(EventsArg {
            field,
            filter,
            within,
        })
    }

    /// Comma-separated arguments up to and including the closing `)`.
    fn values(&mut self, func: &str) -> Checked<Vec<Expr>> {
        let mut values = Vec::new();
        if self.eat(&TokenKind::RParen).is_some() {
            return Ok(values);
        }
        loop {
            values.push(self.or()?);
            if self.eat(&TokenKind::RParen).is_some() {
                return Ok(values);
            }
            self.expect(
                &TokenKind::Comma,
                &format!("`,` or `)` in the arguments of `{func}`"),
            )?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::source::SourceMap;

    fn parse_text(text: &str) -> (Vec<Stmt>, Vec<String>) {
        let mut sources = SourceMap::default();
        let file = sources.add("t.seg", text.to_string());
        let mut reports = Reports::default();
        let statements = parse(file, sources.text(file), &mut reports);
        let errors = reports
            .into_diagnostics(&sources)
            .into_iter()
            .map(|d| format!("{}:{}: {}", d.loc.line, d.loc.col, d.message))
            .collect();
        (statements, errors)
    }

    fn body(text: &str) -> Expr {
        let (statements, errors) = parse_text(text);
        assert!(errors.is_empty(), "{errors:?}");
        match statements.into_iter().next() {
            Some(Stmt::Define(Definition {
                body: Some(body), ..
            })) => body,
            other => panic!("not a definition: {other:?}"),
        }
    }

    /// The tree's shape in prefix notation, ignoring spans.
    fn shape(expr: &Expr) -> String {
        match &expr.kind {
            ExprKind::Name(name) => name.clone(),
            ExprKind::Not(inner) => format!("(not {})", shape(inner)),
            ExprKind::And(l, r) => format!("(and {} {})", shape(l), shape(r)),
            ExprKind::Or(l, r) => format!("(or {} {})", shape(l), shape(r)),
            ExprKind::Cmp { left, op, right } => {
                format!("({} {} {})", op.symbol(), shape(left), shape(right))
            }
            ExprKind::In {
                expr,
                list,
                negated,
            } => {
                format!(
                    "({}in {} {})",
                    if *negated { "not " } else { "" },
                    shape(expr),
                    list.len()
                )
            }
            ExprKind::Arith { left, op, right } => {
                format!("({op:?} {} {})", shape(left), shape(right))
            }
            ExprKind::Neg(inner) => format!("(neg {})", shape(inner)),
            ExprKind::Lit(Literal::Number(n)) => n.to_string(),
            ExprKind::Lit(lit) => format!("{lit:?}"),
            ExprKind::Duration(seconds) => format!("{seconds}s"),
            ExprKind::Now => "now".into(),
            ExprKind::Field { table, field } => format!("{}.{}", table.name(), field.name),
            ExprKind::Call { func, .. } => format!("{}()", func.name),
        }
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let e = body("segment s = not a and b or c and not d");
        assert_eq!(shape(&e), "(or (and (not a) b) (and c (not d)))");
        let e = body("segment s = not x > 5 or (a or b) and c");
        assert_eq!(shape(&e), "(or (not (> x 5)) (and (or a b) c))");
    }

    #[test]
    fn products_bind_tighter_than_sums_and_minus_tighter_than_both() {
        let e = body("feature f = a + b * c / d - -e * -2");
        assert_eq!(
            shape(&e),
            "(Sub (Add a (Div (Mul b c) d)) (Mul (neg e) -2))"
        );
        let e = body("segment s = 0.9 * (x = 0) - (a + b) * c > 1");
        assert_eq!(shape(&e), "(> (Sub (Mul 0.9 (= x 0)) (Mul (Add a b) c)) 1)");
    }

    #[test]
    fn in_lists_and_arithmetic() {
        let e = body("segment s = x not in ('a', 'b',) and now - 14d + 1h < y");
        assert_eq!(
            shape(&e),
            "(and (not in x 2) (< (Add (Sub now 1209600s) 3600s) y))"
        );
        let e = body("segment s = x in (-1.5)");
        match e.kind {
            ExprKind::In { list, .. } => {
                assert_eq!(
                    list[0].value,
                    Literal::Number(Decimal::from_str("-1.5").unwrap())
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statements_continue_across_lines() {
        let (statements, errors) = parse_text("segment s = a >\n  5\n  and b\nfeature f = users.x");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(statements.len(), 2);
    }

    #[test]
    fn aggregates() {
        let e = body("feature f = sum(events.amount where kind = 'x' within 30d)");
        let ExprKind::Call {
            func,
            args: Args::Events(arg),
        } = e.kind
        else {
            panic!()
        };
        assert_eq!(func.name, "sum");
        assert_eq!(arg.field.unwrap().name, "amount");
        assert_eq!(shape(&arg.filter.unwrap()), "(= kind Str(\"x\"))");
        assert_eq!(arg.within, Some(30 * 86_400));
    }

    #[test]
    fn syntax_errors_name_what_was_expected() {
        let (statements, errors) = parse_text("segment s > 5\nsegment t = (a\nfeature = 3");
        assert_eq!(
            errors,
            [
                "1:11: expected `=` after segment name, found `>`",
                "3:1: expected `)` to close `(`, found keyword `feature`",
                "3:9: expected a feature name after `feature`, found `=`",
            ]
        );
        // The broken definitions keep their names.
        assert_eq!(statements.len(), 2);
    }

    #[test]
    fn more_syntax_errors() {
        let cases = [
            (
                "segment s = a < b < c",
                "1:19: comparisons cannot be chained; combine them with `and`",
            ),
            (
                "segment s = a not b",
                "1:19: expected `in` after `not`, found `b`",
            ),
            (
                "segment s = a b",
                "1:15: expected an operator or the start of a new statement, found `b`",
            ),
            (
                "segment s = count(events kind)",
                "1:26: expected `where`, `within` or `)`, found `kind`",
            ),
            (
                "segment s = x in ()",
                "1:19: expected a literal (a number, 'text', true or false), found `)`",
            ),
            (
                "schema users(a text)",
                "1:16: expected `:` and a type after column `a`, found `text`",
            ),
            (
                "schema user(a: text)",
                "1:8: expected `users` or `events` after `schema`, found `user`",
            ),
            (
                "segmnt s = a",
                "1:1: expected a statement (`schema`, `feature`, `model` or `segment`), found `segmnt`",
            ),
            (
                "segment s = ltv * > 2",
                "1:19: expected a value or a condition, found `>`",
            ),
            (
                "segment s = users",
                "1:18: expected `.` and an attribute name after `users`, found end of file",
            ),
            (
                "segment s = count(events within x)",
                "1:33: expected a duration such as `30d` after `within`, found `x`",
            ),
        ];
        for (text, expected) in cases {
            let (_, errors) = parse_text(text);
            assert_eq!(errors, [expected], "{text}");
        }
    }

    #[test]
    fn bad_durations() {
        let (_, errors) = parse_text("segment a = x > now - 30x\nsegment b = count(events within 1.5d) > 0\nsegment c = count(events within 0d) > 0");
        let unit = duration::EXPECTED;
        assert_eq!(
            errors,
            [
                format!("1:23: bad duration `30x`: {unit}"),
                format!("2:33: bad duration `1.5d`: {unit}"),
                "3:33: bad duration `0d`: a duration must be longer than zero".to_string(),
            ]
        );
    }

    #[test]
    fn one_error_per_broken_statement_and_recovery() {
        let (statements, errors) =
            parse_text("foo bar baz\nsegment a = @ > (\nsegment b = x > 1\nsegment c = 'open");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("1:1: expected a statement"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("2:13: unexpected character `@`"),
            "{errors:?}"
        );
        assert_eq!(statements.len(), 3);
        let Stmt::Define(b) = &statements[1] else {
            panic!()
        };
        assert!(b.body.is_some());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = format!(
            "segment s = {}x{}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        let (_, errors) = parse_text(&text);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("nested too deeply"), "{errors:?}");
        let text = format!("segment s = x{}", " and x".repeat(100_000));
        let (_, errors) = parse_text(&text);
        assert!(errors[0].contains("nested too deeply"), "{errors:?}");
        let text = format!("segment s = {}x", "not ".repeat(100_000));
        let (_, errors) = parse_text(&text);
        assert!(errors[0].contains("nested too deeply"), "{errors:?}");
    }
}
