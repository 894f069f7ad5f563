//! Values computed from other values — `+ - * /`, unary `-`, the functions, `if`,
//! conditions used as numbers — written in SQL so that they give what segflow gives
//! ([`crate::arith`]).
//!
//! - **Exact numbers** are decimals whose places (scale) follow from the expression:
//!   9 for number columns and scores, 10 for a median, 28 for an average, a literal's
//!   own, none for counts; a sum or difference has the greater scale of its two terms,
//!   a product their total. DuckDB computes `+ - *` of decimals exactly at that scale.
//!   segflow's decimals hold 96 bits (28 or 29 significant digits) and at most 28
//!   places, and round a result that does not fit, half to even, to the most places
//!   that do. The SQL rounds the same way ([`Values::fit`]) every result of 19 places
//!   or more, the ones segflow can round below 10^10; a product of more than 28
//!   places is rounded without computing it whole, which DuckDB could not hold
//!   ([`Values::long_product`]). Results of fewer places stay exact in SQL (below
//!   10^(38 − scale)) where segflow rounds past 7.9·10^(28 − scale).
//! - **An average** used in a computation is segflow's quotient, sum / count rounded
//!   half to even to the most places (at most 28) that fit 96 bits: long division in
//!   `HUGEINT` ([`Values::quotient`]).
//! - **Approximate numbers** are `DOUBLE`s. An exact number becomes the nearest double
//!   through its text, which DuckDB reads correctly rounded (its own cast of a decimal
//!   divides by a power of ten, which is not always the nearest). Where segflow's
//!   result is missing — division by zero, `ln` or `sqrt` of a value that is not
//!   positive, a result that is not finite — DuckDB gives an infinity or NaN, so the
//!   SQL makes those NULL explicitly.
//! - `days_since(x)` is an exact integer, `floor((now - x) / 86400)` in `HUGEINT`
//!   seconds, with the rounding down written out: DuckDB's integer `//` truncates
//!   toward zero ([`days_since`]).
//! - `least`, `greatest` and `coalesce` skip NULLs in DuckDB as in segflow. Their
//!   arguments, and the two values of `if`, are cast to one decimal scale first: for
//!   decimals of different scales DuckDB picks a common type that may hold fewer
//!   places.

use crate::arith::{ArithOp, Func, DAY};
use crate::catalog::ir::{AggFunc, Aggregate, Catalog, Pred, ValueExpr};
use crate::catalog::show;
use crate::value::Value;

use super::ctes::PARAMS;
use super::error::SqlError;
use super::number::{Kind, MAX_PLACES};
use super::predicate::{self, Cond, Imprecise, Term};
use super::values::{Column, Values};

/// Results with this many places or more are rounded as segflow rounds them
/// ([`Values::fit`]): their 96 bits hold less than 10^10.
const FIT_FROM: u32 = 19;

/// The greatest mantissa of segflow's decimals, 2^96 − 1.
const MAX_MANTISSA: u128 = (1 << 96) - 1;

/// What comes before each case of a long `CASE`, and before its `END`: one a line,
/// under the column they compute.
const CASE: &str = "\n      ";
const END: &str = "\n    END";

/// The construct refused in a product DuckDB cannot hold.
const LONG_PRODUCT: &str = "a product of numbers with more than 38 decimal places between \
                            them (an average has 28, a median 10, other values 9, literals \
                            as written)";

/// The construct refused where `now` or a segment is inside a value (the checker refuses
/// both first).
const NOT_A_VALUE: &str = "`now` or a segment inside a computed value";

/// How tightly an SQL expression binds, for parentheses.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    /// `a + b`, `a - b`.
    Sum,
    /// `a * b`.
    Product,
    /// A name, a literal, a call, `-x`, `CASE ... END`.
    Atom,
}

/// A value as an SQL expression over the columns of `features`.
#[derive(Clone, Debug)]
pub(super) struct Sql {
    pub text: String,
    pub kind: Kind,
    /// Whether it can be NULL (missing).
    pub nullable: bool,
    strength: Strength,
    /// Whether `text` is a column or a literal, cheap to write more than once.
    simple: bool,
    /// The last stage of `features` whose columns it reads (0: the values read from
    /// the data, or none).
    pub stage: usize,
}

impl Sql {
    /// A computed expression reading the columns of `parts`.
    fn of(text: String, kind: Kind, nullable: bool, strength: Strength, parts: &[&Sql]) -> Sql {
        Sql {
            text,
            kind,
            nullable,
            strength,
            simple: false,
            stage: parts.iter().map(|p| p.stage).max().unwrap_or(0),
        }
    }

    /// `self`, in parentheses if it binds less tightly than `strength`.
    fn within(&self, strength: Strength) -> String {
        if self.strength < strength {
            format!("({})", self.text)
        } else {
            self.text.clone()
        }
    }

    /// `self` as a comparison operand.
    fn term(&self) -> Term {
        Term {
            nullable: self.nullable,
            atomic: self.strength == Strength::Atom,
            ..Term::known(self.text.clone())
        }
    }
}

/// Why a computed value has no SQL.
#[derive(Debug)]
pub(super) enum Refusal {
    /// A literal has more places than SQL numbers keep.
    Imprecise(Imprecise),
    /// A construct `segflow sql` does not express.
    Unsupported(&'static str),
}

impl From<Imprecise> for Refusal {
    fn from(imprecise: Imprecise) -> Refusal {
        Refusal::Imprecise(imprecise)
    }
}

impl Refusal {
    /// The error, naming the definition (`context`) that holds the value.
    pub fn within(self, context: &str) -> SqlError {
        match self {
            Refusal::Imprecise(imprecise) => imprecise.within(context),
            Refusal::Unsupported(what) => SqlError::Unsupported {
                context: context.to_string(),
                what,
            },
        }
    }
}

impl Values {
    /// Gives `expr` its column(s), and every value it is computed from theirs.
    /// Constants and `now` are written inline and get none; a value seen before keeps
    /// its first column. `context` names the definition in errors.
    pub(super) fn add(
        &mut self,
        catalog: &Catalog,
        expr: &ValueExpr,
        context: &str,
    ) -> Result<(), SqlError> {
        match expr {
            ValueExpr::Const(_) | ValueExpr::Now(_) => {}
            _ if self.index.contains_key(expr) => {}
            ValueExpr::Attr(_) | ValueExpr::Score(..) | ValueExpr::Agg(_) => {
                self.base(catalog, expr);
            }
            ValueExpr::Approx(_) => {
                let label = show::value(catalog, expr);
                let sql = self
                    .build(catalog, expr, &label)
                    .map_err(|e| e.within(context))?;
                let column = Column::Inline(sql.text);
                self.register(expr, label, column, sql.kind, sql.nullable, sql.stage);
            }
            _ => {
                let label = self.label(catalog, expr);
                self.computed(catalog, expr, label)
                    .map_err(|e| e.within(context))?;
            }
        }
        Ok(())
    }

    /// Gives the computed value `expr` a column named `label`; returns the column.
    fn computed(
        &mut self,
        catalog: &Catalog,
        expr: &ValueExpr,
        label: String,
    ) -> Result<Sql, Refusal> {
        let sql = self.build(catalog, expr, &label)?;
        let column = self.column(&label, sql);
        let value = Column::Value(column.text.clone());
        self.register(
            expr,
            label,
            value,
            column.kind,
            column.nullable,
            column.stage,
        );
        Ok(column)
    }

    /// `sql` as a new column of the stage after the ones it reads, named after `label`.
    fn column(&mut self, label: &str, sql: Sql) -> Sql {
        let name = self.columns.claim(label);
        let stage = sql.stage + 1;
        if self.stages.len() < stage {
            self.stages.resize_with(stage, Vec::new);
        }
        self.stages[stage - 1].push(format!("{} AS {name}", sql.text));
        Sql {
            text: name,
            strength: Strength::Atom,
            simple: true,
            stage,
            ..sql
        }
    }

    /// `sql` as something cheap to write several times: itself if it is a column or a
    /// literal, else a new column named after the value it computes.
    fn reusable(&mut self, catalog: &Catalog, expr: &ValueExpr, sql: Sql) -> Sql {
        if sql.simple {
            sql
        } else {
            let label = show::value(catalog, expr);
            self.column(&label, sql)
        }
    }

    /// Any value inside a computation: a column if it has one (a value read from the
    /// data, a feature's value), a literal, or the computation written out.
    fn sql(&mut self, catalog: &Catalog, expr: &ValueExpr) -> Result<Sql, Refusal> {
        if let Some(&index) = self.index.get(expr) {
            return Ok(self.entry(index));
        }
        match expr {
            ValueExpr::Const(value) => literal(value),
            ValueExpr::Now(_) => Err(Refusal::Unsupported(NOT_A_VALUE)),
            ValueExpr::Attr(_) | ValueExpr::Score(..) | ValueExpr::Agg(_) => {
                let index = self.base(catalog, expr);
                Ok(self.entry(index))
            }
            _ => match self.names.get(expr) {
                // A feature's value gets its column, named after it, and is read there.
                Some(name) => {
                    let name = name.clone();
                    self.computed(catalog, expr, name)
                }
                None => {
                    let label = show::value(catalog, expr);
                    self.build(catalog, expr, &label)
                }
            },
        }
    }

    /// The value of entry `index` (an average's quotient, made if needed).
    fn entry(&mut self, index: usize) -> Sql {
        let entry = &self.entries[index];
        let (text, simple, stage) = match &entry.column {
            Column::Value(name) => (name.clone(), true, entry.stage),
            Column::Inline(sql) => (sql.clone(), false, entry.stage),
            Column::Avg {
                quotient: Some((name, stage)),
                ..
            } => (name.clone(), true, *stage),
            Column::Avg { quotient: None, .. } => return self.quotient(index),
        };
        Sql {
            text,
            kind: entry.kind,
            nullable: entry.nullable,
            strength: Strength::Atom,
            simple,
            stage,
        }
    }

    /// A computation, written out; the columns it needs of its own are named after
    /// `label`.
    fn build(&mut self, catalog: &Catalog, expr: &ValueExpr, label: &str) -> Result<Sql, Refusal> {
        match expr {
            ValueExpr::Neg(x) => Ok(negate(&self.sql(catalog, x)?)),
            ValueExpr::Approx(x) => Ok(approximate(self.sql(catalog, x)?)),
            ValueExpr::Arith(l, op, r) => {
                let (ls, rs) = (self.sql(catalog, l)?, self.sql(catalog, r)?);
                let exact = ls.kind.scale().is_some() && rs.kind.scale().is_some();
                match (exact, op) {
                    (true, ArithOp::Add | ArithOp::Sub) => {
                        let (ls, rs) = widen_integers(ls, rs);
                        let kind = Kind::Decimal(scale(&ls).max(scale(&rs)));
                        let raw = binary(&ls, op.symbol(), &rs, Strength::Sum, kind);
                        Ok(self.fit(label, raw))
                    }
                    (true, ArithOp::Mul) if scale(&ls) + scale(&rs) > MAX_PLACES => {
                        self.long_product(catalog, label, (l, ls), (r, rs))
                    }
                    (true, ArithOp::Mul) => {
                        let (ls, rs) = widen_integers(ls, rs);
                        let kind = Kind::Decimal(scale(&ls) + scale(&rs));
                        let raw = binary(&ls, "*", &rs, Strength::Product, kind);
                        Ok(self.fit(label, raw))
                    }
                    _ => Ok(double_arith(approximate(ls), *op, approximate(rs))),
                }
            }
            ValueExpr::Func(func, args) => {
                let args = args
                    .iter()
                    .map(|a| self.sql(catalog, a))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(function(*func, args))
            }
            ValueExpr::If(cond, then, otherwise) => {
                let cond = self.condition(catalog, cond)?;
                let choices = vec![self.sql(catalog, then)?, self.sql(catalog, otherwise)?];
                let (choices, kind) = one_type(choices);
                let [then, otherwise] = &choices[..] else {
                    unreachable!("two choices")
                };
                let text = format!(
                    "CASE WHEN {} THEN {} ELSE {} END",
                    cond.text, then.text, otherwise.text
                );
                let nullable = then.nullable || otherwise.nullable;
                Ok(Sql::of(
                    text,
                    kind,
                    nullable,
                    Strength::Atom,
                    &[&cond, then, otherwise],
                ))
            }
            ValueExpr::Truth(cond) => {
                let cond = self.condition(catalog, cond)?;
                let text = format!("CASE WHEN {} THEN 1 ELSE 0 END", cond.text);
                Ok(Sql::of(text, Kind::Int, false, Strength::Atom, &[&cond]))
            }
            ValueExpr::DaysSince(x) => {
                let time = self.sql(catalog, x)?;
                let time = self.reusable(catalog, x, time);
                Ok(days_since(&time))
            }
            ValueExpr::Const(_)
            | ValueExpr::Now(_)
            | ValueExpr::Attr(_)
            | ValueExpr::Score(..)
            | ValueExpr::Agg(_) => self.sql(catalog, expr),
        }
    }

    /// A condition inside a value (of `if`, or used as a number), in segflow's
    /// two-valued logic; its `text` is the condition.
    fn condition(&mut self, catalog: &Catalog, pred: &Pred) -> Result<Sql, Refusal> {
        let mut stage = 0;
        let mut term = |value: &ValueExpr| -> Result<Term, Refusal> {
            let (term, at) = self.operand(catalog, value)?;
            stage = stage.max(at);
            Ok(term)
        };
        let no_segments =
            |_: usize| -> Result<Cond, Refusal> { Err(Refusal::Unsupported(NOT_A_VALUE)) };
        let (text, _) = predicate::condition(pred, &mut term, &no_segments)?;
        Ok(Sql {
            text,
            kind: Kind::Other,
            nullable: false,
            strength: Strength::Atom,
            simple: false,
            stage,
        })
    }

    /// A side of a comparison inside a value, with the stage it reads. An average is
    /// compared by its sum and count, as in segments.
    fn operand(&mut self, catalog: &Catalog, value: &ValueExpr) -> Result<(Term, usize), Refusal> {
        match value {
            ValueExpr::Const(v) => Ok((predicate::constant_term(v)?, 0)),
            ValueExpr::Agg(Aggregate {
                func: AggFunc::Avg, ..
            }) => {
                self.base(catalog, value);
                Ok((self.term(value)?, 0))
            }
            _ => {
                let sql = self.sql(catalog, value)?;
                Ok((sql.term(), sql.stage))
            }
        }
    }

    /// An exact result `raw`, as segflow holds it: a result of [`FIT_FROM`] places or
    /// more, rounded half to even to the most places that fit 96 bits. `raw` gets a
    /// column of its own, `<label> (exact)`, read by each case.
    fn fit(&mut self, label: &str, raw: Sql) -> Sql {
        let places = scale(&raw);
        if places < FIT_FROM {
            return raw;
        }
        let exact = if raw.simple {
            raw
        } else {
            self.column(&format!("{label} (exact)"), raw)
        };
        let v = &exact.text;
        // DuckDB compares decimals in the type of more places, where `v` might not fit:
        // below the limit of `places` places means at most the limit cut there.
        let whole = limit(places);
        let whole = &whole[..whole.len() - 1];
        let mut text = format!("CASE{CASE}WHEN abs({v}) <= {whole} THEN {v}");
        // Beyond its range a DECIMAL(38, places) holds nothing: ten cases cover it.
        for kept in (places - 9..places).rev() {
            text.push_str(&format!(
                "{CASE}WHEN abs({v}) < {} THEN CAST(round_even({v}, {kept}) AS DECIMAL(38, {places}))",
                limit(kept)
            ));
        }
        text.push_str(&format!(
            "{CASE}ELSE CAST(round_even({v}, {}) AS DECIMAL(38, {places})){END}",
            places - 10
        ));
        Sql::of(
            text,
            Kind::Decimal(places),
            exact.nullable,
            Strength::Atom,
            &[&exact],
        )
    }

    /// `a * b` of more than [`MAX_PLACES`] places, rounded as segflow rounds it,
    /// without computing the whole product (which DECIMAL(38) could hold only below
    /// 10^(38 − places)).
    ///
    /// With `a` the factor of more places and `t` = 27 − the places of `b`, the product
    /// is `high + low`, where `high` = `trunc(a, t) * b` plus the part of
    /// `(a − trunc(a, t)) * b` above 27 places, and `low` (below 10^−27) the rest;
    /// both are exact. `high` has 27 places, so it is an even number of units of any
    /// place `e` ≤ 28 once truncated to `e − 1` places, and rounding `high + low` to
    /// `e` places, half to even, is that truncation plus the rounding of what is left.
    fn long_product(
        &mut self,
        catalog: &Catalog,
        label: &str,
        left: (&ValueExpr, Sql),
        right: (&ValueExpr, Sql),
    ) -> Result<Sql, Refusal> {
        let (a, b) = match scale(&left.1) >= scale(&right.1) {
            true => (left, right),
            false => (right, left),
        };
        let places = scale(&a.1) + scale(&b.1);
        if places > 38 || scale(&b.1) >= MAX_PLACES {
            return Err(Refusal::Unsupported(LONG_PRODUCT));
        }
        let t = MAX_PLACES - 1 - scale(&b.1);
        let a = self.reusable(catalog, a.0, a.1);
        let b = self.reusable(catalog, b.0, b.1);
        let (x, y) = (&a.text, &b.text);
        let rest = format!("({x} - trunc({x}, {t})) * {y}");
        let nullable = a.nullable || b.nullable;
        let high = Sql::of(
            format!("trunc({x}, {t}) * {y} + trunc({rest}, 27)"),
            Kind::Decimal(27),
            nullable,
            Strength::Sum,
            &[&a, &b],
        );
        let high = self.column(&format!("{label} (high)"), high);
        let low = Sql::of(
            format!("{rest} - trunc({rest}, 27)"),
            Kind::Decimal(places),
            nullable,
            Strength::Sum,
            &[&a, &b],
        );
        let low = self.column(&format!("{label} (low)"), low);
        let (h, l) = (&high.text, &low.text);
        let rounded = |kept: u32| match kept {
            MAX_PLACES => format!("{h} + round_even({l}, {MAX_PLACES})"),
            _ => format!(
                "trunc({h}, {0}) + round_even({h} - trunc({h}, {0}) + {l}, {kept})",
                kept - 1
            ),
        };
        let mut text = String::from("CASE");
        for kept in (MAX_PLACES - 9..=MAX_PLACES).rev() {
            // |high + low| below the limit: `high` below it truncated to 27 places, or
            // equal to that and `low` below the rest.
            let (whole, part) = split_limit(kept);
            let below = match part {
                None => format!("abs({h}) < {whole}"),
                Some(part) => {
                    format!("(abs({h}) < {whole} OR abs({h}) = {whole} AND abs({l}) < {part})")
                }
            };
            text.push_str(&format!(
                "{CASE}WHEN {below} THEN CAST({} AS DECIMAL(38, {MAX_PLACES}))",
                rounded(kept)
            ));
        }
        text.push_str(&format!(
            "{CASE}ELSE CAST({} AS DECIMAL(38, {MAX_PLACES})){END}",
            rounded(MAX_PLACES - 10)
        ));
        Ok(Sql::of(
            text,
            Kind::Decimal(MAX_PLACES),
            nullable,
            Strength::Atom,
            &[&high, &low],
        ))
    }

    /// The quotient of average `index` as segflow computes it, in a column named after
    /// the average (with four helpers before it):
    ///
    /// - `(numerator)`: the sum in units of 10^−9, a `HUGEINT` (its text without the
    ///   point);
    /// - `(digits)` and `(rest)`: the sum divided by the count by long division, to 28
    ///   places — the quotient times 10^28 is `digits + rest / count`;
    /// - `(unit)`: the power of ten the quotient is rounded to, in units of 10^−28: 1
    ///   when 28 places fit 96 bits, else the least that does;
    /// - the average: `digits` rounded to `unit`, half to even (half is decided by
    ///   what is left of `digits` and `rest`), as a DECIMAL(38, 28) — averages of 10^10
    ///   or more stop the query with an overflow error.
    fn quotient(&mut self, index: usize) -> Sql {
        let (label, sum, count) = match &self.entries[index].column {
            Column::Avg { sum, count, .. } => (self.entries[index].label.clone(), sum, count),
            _ => unreachable!("only averages have quotients"),
        };
        let (sum, count) = (sum.clone(), count.clone());
        let base = Sql {
            text: String::new(),
            kind: Kind::Int,
            nullable: true,
            strength: Strength::Atom,
            simple: true,
            stage: 0,
        };
        let step = |text: String, at: &Sql| Sql {
            text,
            simple: false,
            stage: at.stage,
            ..base.clone()
        };
        let m = step(
            format!("CAST(replace(CAST({sum} AS VARCHAR), '.', '') AS HUGEINT)"),
            &base,
        );
        let m = self.column(&format!("{label} (numerator)"), m);
        let shift = "10000000000000000000";
        let mv = &m.text;
        let digits = step(
            format!("({mv} // {count}) * {shift} + (({mv} % {count}) * {shift}) // {count}"),
            &m,
        );
        let rest = step(format!("(({mv} % {count}) * {shift}) % {count}"), &m);
        let digits = self.column(&format!("{label} (digits)"), digits);
        let rest = self.column(&format!("{label} (rest)"), rest);
        let (t, r) = (&digits.text, &rest.text);
        let mut unit = format!(
            "CASE{CASE}WHEN abs({t}) < {MAX_MANTISSA} \
             OR abs({t}) = {MAX_MANTISSA} AND 2 * abs({r}) < {count} THEN CAST(1 AS HUGEINT)"
        );
        for k in 1..10u32 {
            // Rounded to 10^k units, the quotient fits while it stays below
            // (2^96 − 1/2) · 10^k.
            let limit = MAX_MANTISSA * 10u128.pow(k) + 5 * 10u128.pow(k - 1);
            unit.push_str(&format!(
                "{CASE}WHEN abs({t}) < {limit} THEN {}",
                10u128.pow(k)
            ));
        }
        unit.push_str(&format!("{CASE}ELSE {}{END}", 10u128.pow(10)));
        let unit = step(unit, &digits);
        let unit = self.column(&format!("{label} (unit)"), unit);
        let p = &unit.text;
        let left = format!("2 * (abs({t}) % {p} * {count} + abs({r}))");
        let value = Sql {
            text: format!(
                "CAST(sign({mv}) * (abs({t}) // {p} + CASE WHEN {left} > {p} * {count} \
                 OR {left} = {p} * {count} AND abs({t}) // {p} % 2 = 1 THEN 1 ELSE 0 END) \
                 * {p} AS DECIMAL(38, 0)) * 0.{}1",
                "0".repeat(MAX_PLACES as usize - 1)
            ),
            kind: Kind::Decimal(MAX_PLACES),
            ..step(String::new(), &unit)
        };
        let value = self.column(&label, value);
        if let Column::Avg { quotient, .. } = &mut self.entries[index].column {
            *quotient = Some((value.text.clone(), value.stage));
        }
        value
    }
}

/// The places of an exact number's SQL.
fn scale(sql: &Sql) -> u32 {
    sql.kind.scale().unwrap_or(0)
}

/// A literal as SQL: numbers as written (an integer literal is an integer in DuckDB).
fn literal(value: &Value) -> Result<Sql, Refusal> {
    let text = predicate::literal(value)?;
    let kind = match value {
        Value::Number(_) => match text.split_once('.') {
            Some((_, places)) => Kind::Decimal(places.len() as u32),
            None => Kind::Int,
        },
        Value::Float(_) => Kind::Double,
        Value::Null | Value::Bool(_) | Value::Time(_) | Value::Text(_) => Kind::Other,
    };
    Ok(Sql {
        text,
        kind,
        nullable: value.is_null(),
        strength: Strength::Atom,
        simple: true,
        stage: 0,
    })
}

/// `left op right`, with parentheses where the operands bind less tightly (on the
/// right also at the same strength: `a - (b - c)`, and `a + (b + c)` for doubles).
fn binary(left: &Sql, op: &str, right: &Sql, strength: Strength, kind: Kind) -> Sql {
    let right_text = if right.strength <= strength {
        format!("({})", right.text)
    } else {
        right.text.clone()
    };
    let text = format!("{} {op} {right_text}", left.within(strength));
    let nullable = left.nullable || right.nullable;
    Sql::of(text, kind, nullable, strength, &[left, right])
}

/// Two integers of `+ - *`, the left one made a DECIMAL(38, 0): DuckDB's integer
/// arithmetic overflows at 2^31 or 2^63, segflow's at 2^96.
fn widen_integers(left: Sql, right: Sql) -> (Sql, Sql) {
    if left.kind == Kind::Int && right.kind == Kind::Int {
        let text = format!("CAST({} AS DECIMAL(38, 0))", left.text);
        let left = Sql {
            text,
            kind: Kind::Decimal(0),
            strength: Strength::Atom,
            simple: false,
            ..left
        };
        (left, right)
    } else {
        (left, right)
    }
}

/// `days_since(x)` of the time `x` (seconds): the whole days from `x` to `now`,
/// rounded down as segflow rounds them ([`crate::arith::days_since`]), so negative
/// while `x` is ahead of `now`, and NULL where `x` is. DuckDB's `//` and `%` of
/// integers truncate toward zero, so a negative remainder takes one more day off. The
/// seconds are counted in `HUGEINT`, where `now - x` cannot overflow; the days fit a
/// `BIGINT`. `now` is read from `params`, which the stages of `features` do not join.
fn days_since(x: &Sql) -> Sql {
    let seconds = format!(
        "(CAST((SELECT now FROM {PARAMS}) AS HUGEINT) - {})",
        x.within(Strength::Product)
    );
    let text = format!(
        "CAST({seconds} // {DAY} - CASE WHEN {seconds} % {DAY} < 0 THEN 1 ELSE 0 END AS BIGINT)"
    );
    Sql::of(text, Kind::Int, x.nullable, Strength::Atom, &[x])
}

/// `-x`.
fn negate(x: &Sql) -> Sql {
    // `--` would start a comment.
    let text = if x.strength == Strength::Atom && !x.text.starts_with('-') {
        format!("-{}", x.text)
    } else {
        format!("-({})", x.text)
    };
    Sql::of(text, x.kind, x.nullable, Strength::Atom, &[x])
}

/// A number as a double: exact numbers converted to the nearest one.
fn approximate(x: Sql) -> Sql {
    let text = match x.kind {
        Kind::Double | Kind::Other => return x,
        // Integers convert correctly rounded; decimals through their text.
        Kind::Int => format!("CAST({} AS DOUBLE)", x.text),
        Kind::Decimal(_) => format!("CAST(CAST({} AS VARCHAR) AS DOUBLE)", x.text),
    };
    Sql::of(text, Kind::Double, x.nullable, Strength::Atom, &[&x])
}

/// `x`, NULL where it is an infinity (what `+ - * /` and `exp` of finite doubles give
/// on overflow; they never give NaN).
fn finite(x: String) -> String {
    format!("nullif(nullif({x}, CAST('inf' AS DOUBLE)), CAST('-inf' AS DOUBLE))")
}

/// `left op right` in doubles.
fn double_arith(left: Sql, op: ArithOp, right: Sql) -> Sql {
    let text = match op {
        ArithOp::Div => format!(
            "{} / nullif({}, 0)",
            left.within(Strength::Product),
            right.text
        ),
        _ => binary(&left, op.symbol(), &right, Strength::Sum, Kind::Double).text,
    };
    Sql::of(
        finite(text),
        Kind::Double,
        true,
        Strength::Atom,
        &[&left, &right],
    )
}

/// A function of values.
fn function(func: Func, args: Vec<Sql>) -> Sql {
    let name = func.name();
    if !func.is_unary() {
        let nullable = args.iter().all(|a| a.nullable);
        let (args, kind) = one_type(args);
        let texts: Vec<&str> = args.iter().map(|a| a.text.as_str()).collect();
        let parts: Vec<&Sql> = args.iter().collect();
        let text = format!("{name}({})", texts.join(", "));
        return Sql::of(text, kind, nullable, Strength::Atom, &parts);
    }
    let Some(x) = args.into_iter().next() else {
        unreachable!("the checker gives unary functions one argument")
    };
    if func == Func::Abs {
        return Sql::of(
            format!("abs({})", x.text),
            x.kind,
            x.nullable,
            Strength::Atom,
            &[&x],
        );
    }
    let x = approximate(x);
    let (text, nullable) = match func {
        // Defined only above 0: anything else becomes 0, then NULL.
        Func::Ln | Func::Sqrt => (format!("{name}(nullif(greatest({}, 0), 0))", x.text), true),
        Func::Exp => (
            format!("nullif(exp({}), CAST('inf' AS DOUBLE))", x.text),
            true,
        ),
        // In this order, as segflow: exp(1000) is inf, and 1 / inf is 0.
        _ => (format!("1 / (1 + exp({}))", negate(&x).text), x.nullable),
    };
    Sql::of(text, Kind::Double, nullable, Strength::Atom, &[&x])
}

/// Values that must share one SQL type (`least`, `greatest`, `coalesce`, the choices
/// of `if`), and that type: exact numbers cast to the most places among them, or
/// made doubles if one is.
fn one_type(values: Vec<Sql>) -> (Vec<Sql>, Kind) {
    if values.iter().any(|v| v.kind == Kind::Double) {
        return (values.into_iter().map(approximate).collect(), Kind::Double);
    }
    let Some(places) = values.iter().filter_map(|v| v.kind.scale()).max() else {
        return (values, Kind::Other);
    };
    if values.iter().all(|v| v.kind == Kind::Int) {
        return (values, Kind::Int);
    }
    let kind = Kind::Decimal(places);
    let values = values
        .into_iter()
        .map(|v| {
            if v.kind == kind {
                v
            } else {
                let text = format!("CAST({} AS DECIMAL(38, {places}))", v.text);
                Sql::of(text, kind, v.nullable, Strength::Atom, &[&v])
            }
        })
        .collect();
    (values, kind)
}

/// The greatest number that rounds to `places` places within 96 bits, exclusive:
/// (2^96 − 1/2) · 10^−places.
fn limit(places: u32) -> String {
    let digits = format!("{MAX_MANTISSA}5");
    let point = digits.len() - 1 - places as usize;
    format!("{}.{}", &digits[..point], &digits[point..])
}

/// [`limit`] cut at 27 places, and what it has beyond (for 27 and 28 places).
fn split_limit(places: u32) -> (String, Option<String>) {
    let whole = limit(places);
    let point = whole.find('.').unwrap_or(whole.len());
    let kept = point + 1 + 27;
    if whole.len() <= kept {
        return (whole, None);
    }
    let part = format!("0.{}{}", "0".repeat(27), &whole[kept..]);
    (whole[..kept].to_string(), Some(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_half_a_unit_below_two_to_the_96() {
        assert_eq!(limit(28), "7.92281625142643375935439503355");
        assert_eq!(limit(19), "7922816251.42643375935439503355");
        assert_eq!(
            split_limit(28),
            (
                "7.922816251426433759354395033".to_string(),
                Some("0.00000000000000000000000000055".to_string())
            )
        );
        assert_eq!(
            split_limit(27),
            (
                "79.228162514264337593543950335".to_string(),
                Some("0.0000000000000000000000000005".to_string())
            )
        );
        assert_eq!(
            split_limit(26),
            ("792.281625142643375935439503355".to_string(), None)
        );
    }
}
