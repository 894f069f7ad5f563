//! Arithmetic and functions over per-user values: what `+ - * /`, unary `-`, `abs`, `ln`,
//! `exp`, `sqrt`, `logistic`, `least`, `greatest` and `coalesce` compute.
//!
//! The rules, shared by the dataflow and the reference evaluator (and restated in SQL by
//! `segflow sql`):
//!
//! - `+`, `-`, `*`, unary `-` and `abs` of exact numbers stay exact decimals (up to 28
//!   significant digits; a result beyond `Decimal`'s range is missing).
//! - `/`, `ln`, `exp`, `sqrt` and `logistic` compute in IEEE-754 doubles: an exact operand
//!   is first converted to the nearest double ([`to_float`]), and the result is an
//!   approximate number ([`Value::Float`]). Once approximate, `+ - *` stay approximate.
//!   The checker makes every conversion explicit (`ValueExpr::Approx`), so an
//!   expression is approximate or exact by its form alone, never by its data.
//! - Missing in, missing out: arithmetic with a missing value, division by zero, `ln`
//!   and `sqrt` of a value that is not positive, and any double result that is not
//!   finite (`exp(1000)`) are missing.
//! - `least` and `greatest` skip missing arguments (missing only when all are), as SQL's
//!   do; `coalesce` is the first argument that is not missing.
//! - `logistic(x)` is `1 / (1 + exp(-x))`, computed in that order.
//! - `days_since(x)` of a time `x` at `now` is the exact whole number
//!   `floor((now - x) / 86400)` ([`days_since`]): it changes at `x + k × 86400` only.

use std::cmp::Ordering;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::value::{to_float, Float, Value};

/// A binary arithmetic operator.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`: always approximate.
    Div,
}

impl ArithOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }

    /// `left op right`.
    pub fn apply(self, left: &Value, right: &Value) -> Value {
        match (left, right) {
            (Value::Number(a), Value::Number(b)) if self != ArithOp::Div => {
                let exact = match self {
                    ArithOp::Add => a.checked_add(*b),
                    ArithOp::Sub => a.checked_sub(*b),
                    ArithOp::Mul => a.checked_mul(*b),
                    ArithOp::Div => unreachable!("guarded"),
                };
                exact.map_or(Value::Null, Value::Number)
            }
            _ => {
                let (Some(a), Some(b)) = (double(left), double(right)) else {
                    return Value::Null;
                };
                float(match self {
                    ArithOp::Add => a + b,
                    ArithOp::Sub => a - b,
                    ArithOp::Mul => a * b,
                    ArithOp::Div if b == 0.0 => return Value::Null,
                    ArithOp::Div => a / b,
                })
            }
        }
    }
}

/// A function over per-user values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Func {
    /// `abs(x)`: exact when `x` is.
    Abs,
    /// `ln(x)`: the natural logarithm, missing unless `x > 0`.
    Ln,
    /// `exp(x)`.
    Exp,
    /// `sqrt(x)`: missing unless `x > 0`.
    Sqrt,
    /// `logistic(x)` = `1 / (1 + exp(-x))`.
    Logistic,
    /// `least(a, b, ...)`: the least argument that is not missing.
    Least,
    /// `greatest(a, b, ...)`: the greatest argument that is not missing.
    Greatest,
    /// `coalesce(a, b, ...)`: the first argument that is not missing.
    Coalesce,
}

impl Func {
    /// Every function, in the order the checker lists them.
    pub const ALL: [Func; 8] = [
        Func::Abs,
        Func::Ln,
        Func::Exp,
        Func::Sqrt,
        Func::Logistic,
        Func::Least,
        Func::Greatest,
        Func::Coalesce,
    ];

    /// The function's name as written.
    pub fn name(self) -> &'static str {
        match self {
            Func::Abs => "abs",
            Func::Ln => "ln",
            Func::Exp => "exp",
            Func::Sqrt => "sqrt",
            Func::Logistic => "logistic",
            Func::Least => "least",
            Func::Greatest => "greatest",
            Func::Coalesce => "coalesce",
        }
    }

    /// The function called `name`.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether it takes one number (the rest take one or more values of one type).
    pub fn is_unary(self) -> bool {
        !matches!(self, Func::Least | Func::Greatest | Func::Coalesce)
    }

    /// Whether its result is approximate whatever its argument (it computes in doubles).
    pub fn is_approximate(self) -> bool {
        matches!(self, Func::Ln | Func::Exp | Func::Sqrt | Func::Logistic)
    }

    /// The function applied to its arguments.
    pub fn apply(self, args: &[Value]) -> Value {
        match self {
            Func::Least => pick(args, Ordering::Less),
            Func::Greatest => pick(args, Ordering::Greater),
            Func::Coalesce => args
                .iter()
                .find(|v| !v.is_null())
                .cloned()
                .unwrap_or(Value::Null),
            Func::Abs => match &args[0] {
                Value::Number(d) => Value::Number(d.abs()),
                other => double(other).map_or(Value::Null, |x| float(x.abs())),
            },
            Func::Ln | Func::Exp | Func::Sqrt | Func::Logistic => {
                let Some(x) = double(&args[0]) else {
                    return Value::Null;
                };
                float(match self {
                    Func::Ln | Func::Sqrt if x <= 0.0 => return Value::Null,
                    Func::Ln => x.ln(),
                    Func::Sqrt => x.sqrt(),
                    Func::Exp => x.exp(),
                    _ => 1.0 / (1.0 + (-x).exp()),
                })
            }
        }
    }
}

/// Seconds in a day, the unit of [`days_since`].
pub const DAY: i64 = 86_400;

/// `days_since(x)` at `now` (seconds): whole days from the time `x` to `now`, rounded
/// down (negative while `x` is ahead); missing when `x` is.
pub fn days_since(x: &Value, now: i64) -> Value {
    match x {
        Value::Time(x) => whole_days(*x, now, DAY),
        _ => Value::Null,
    }
}

/// Whole days of `day` seconds from `x` to `now`, rounded down.
pub fn whole_days(x: i64, now: i64, day: i64) -> Value {
    let days = (i128::from(now) - i128::from(x)).div_euclid(i128::from(day));
    Value::Number(Decimal::from_i128_with_scale(days, 0))
}

/// `-x`: exact when `x` is.
pub fn negate(value: &Value) -> Value {
    match value {
        Value::Number(d) => Value::Number(-*d),
        other => double(other).map_or(Value::Null, |x| float(-x)),
    }
}

/// An exact number made approximate (the checker's explicit conversion); other values
/// unchanged.
pub fn approximate(value: &Value) -> Value {
    match value {
        Value::Number(d) => float(to_float(*d)),
        other => other.clone(),
    }
}

/// A number as a double; `None` when missing (or not a number).
fn double(value: &Value) -> Option<f64> {
    match value {
        Value::Number(d) => Some(to_float(*d)),
        Value::Float(x) => Some(x.get()),
        _ => None,
    }
}

/// A double result: missing unless finite.
fn float(x: f64) -> Value {
    Float::new(x).map_or(Value::Null, Value::Float)
}

/// The argument that is `towards` every other one, skipping missing ones; the first
/// of equal ones.
fn pick(args: &[Value], towards: Ordering) -> Value {
    let mut best: Option<&Value> = None;
    for arg in args.iter().filter(|v| !v.is_null()) {
        if best.is_none_or(|b| arg.compare(b) == Some(towards)) {
            best = Some(arg);
        }
    }
    best.cloned().unwrap_or(Value::Null)
}

/// The value of a condition used as a number: 1 when it holds, 0 otherwise.
pub fn truth(holds: bool) -> Value {
    Value::Number(if holds { Decimal::ONE } else { Decimal::ZERO })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_since_counts_whole_days_rounded_down() {
        let days = |x: i64, now: i64| days_since(&Value::Time(x), now);
        let n = |k: i64| Value::Number(Decimal::from(k));
        assert_eq!(days(1_000, 1_000), n(0));
        assert_eq!(days(1_000, 1_000 + DAY - 1), n(0));
        assert_eq!(days(1_000, 1_000 + DAY), n(1));
        assert_eq!(days(1_000, 1_000 + 90 * DAY + 5), n(90));
        assert_eq!(days(1_000, 999), n(-1), "a time ahead of now");
        assert_eq!(days(1_000, 1_000 - DAY), n(-1));
        assert_eq!(days(1_000, 999 - DAY), n(-2));
        assert_eq!(days_since(&Value::Null, 5), Value::Null);
    }
    use std::str::FromStr;

    fn n(text: &str) -> Value {
        Value::Number(Decimal::from_str(text).unwrap())
    }

    fn f(x: f64) -> Value {
        Value::Float(Float::new(x).unwrap())
    }

    #[test]
    fn add_subtract_and_multiply_stay_exact() {
        assert_eq!(ArithOp::Add.apply(&n("0.1"), &n("0.2")), n("0.3"));
        assert_eq!(ArithOp::Sub.apply(&n("1"), &n("0.9")), n("0.1"));
        assert_eq!(ArithOp::Mul.apply(&n("0.002"), &n("512.40")), n("1.02480"));
        assert_eq!(negate(&n("2.5")), n("-2.5"));
        assert_eq!(Func::Abs.apply(&[n("-2.5")]), n("2.5"));
        let max = Value::Number(Decimal::MAX);
        assert_eq!(ArithOp::Add.apply(&max, &n("1")), Value::Null);
        assert_eq!(ArithOp::Mul.apply(&max, &n("2")), Value::Null);
    }

    #[test]
    fn division_and_functions_are_doubles() {
        assert_eq!(ArithOp::Div.apply(&n("3"), &n("10")), f(0.3));
        assert_eq!(ArithOp::Div.apply(&n("1"), &n("3")), f(1.0 / 3.0));
        assert_eq!(ArithOp::Add.apply(&f(0.5), &n("0.25")), f(0.75));
        assert_eq!(Func::Ln.apply(&[n("1")]), f(0.0));
        assert_eq!(Func::Sqrt.apply(&[n("2.25")]), f(1.5));
        assert_eq!(Func::Exp.apply(&[n("0")]), f(1.0));
        assert_eq!(Func::Logistic.apply(&[n("0")]), f(0.5));
        assert_eq!(Func::Logistic.apply(&[n("-1000")]), f(0.0));
        assert_eq!(Func::Logistic.apply(&[n("1000")]), f(1.0));
        assert_eq!(approximate(&n("0.1")), f(0.1));
    }

    #[test]
    fn undefined_results_are_missing() {
        assert_eq!(ArithOp::Div.apply(&n("1"), &n("0")), Value::Null);
        assert_eq!(ArithOp::Div.apply(&n("1"), &f(0.0)), Value::Null);
        assert_eq!(ArithOp::Add.apply(&n("1"), &Value::Null), Value::Null);
        assert_eq!(Func::Ln.apply(&[n("0")]), Value::Null);
        assert_eq!(Func::Ln.apply(&[n("-1")]), Value::Null);
        assert_eq!(Func::Sqrt.apply(&[n("0")]), Value::Null);
        assert_eq!(Func::Exp.apply(&[n("1000")]), Value::Null);
        assert_eq!(ArithOp::Mul.apply(&f(1e300), &f(1e300)), Value::Null);
        assert_eq!(negate(&Value::Null), Value::Null);
    }

    #[test]
    fn choices_skip_missing_values() {
        let args = [Value::Null, n("3"), n("1.5"), Value::Null];
        assert_eq!(Func::Least.apply(&args), n("1.5"));
        assert_eq!(Func::Greatest.apply(&args), n("3"));
        assert_eq!(Func::Coalesce.apply(&args), n("3"));
        assert_eq!(Func::Least.apply(&[Value::Null]), Value::Null);
        assert_eq!(
            Func::Coalesce.apply(&[Value::Null, Value::Null]),
            Value::Null
        );
        let times = [Value::Time(5), Value::Time(2)];
        assert_eq!(Func::Greatest.apply(&times), Value::Time(5));
    }
}
