//! The data model's scalar values and their types.
//!
//! Numbers are exact decimals ([`rust_decimal::Decimal`]) so that sums of money never
//! drift across a threshold (ten `0.10` amounts sum to exactly `1.00`); only division and
//! the functions that cannot be exact (`ln`, `exp`, `sqrt`, `logistic`) give approximate
//! numbers, IEEE-754 doubles ([`Float`], see [`crate::arith`]). Times are integer
//! seconds since the Unix epoch. Text is reference counted because the same few strings
//! (event kinds, categories, countries) repeat millions of times.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The greatest logical time and the greatest `ts` an input may carry: times must fit
/// a signed 64-bit `time` value, and a run as of `T` completes when the frontier
/// reaches `T + 1`.
pub const MAX_TIME: u64 = i64::MAX as u64;

/// The mean of two numbers, as a median of an even count takes it: exact wherever the
/// result fits `Decimal`'s 28 significant digits (halving adds one decimal place),
/// rounded half to even beyond; a sum beyond `Decimal`'s range is halved first.
pub fn midpoint(low: Decimal, high: Decimal) -> Decimal {
    match low.checked_add(high) {
        Some(sum) => sum / Decimal::TWO,
        None => low / Decimal::TWO + high / Decimal::TWO,
    }
}

/// The double nearest to an exact decimal (correctly rounded, ties to even), as a
/// decimal's text is read as a double: the same whatever the decimal's scale, so that
/// `1.5` and `1.50` convert alike and SQL can do the same by way of text.
pub fn to_float(d: Decimal) -> f64 {
    // A mantissa and a power of ten that are both exact doubles give the correctly
    // rounded quotient in one IEEE division; other decimals are read from their text.
    const EXACT_POWERS: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let mantissa = d.mantissa();
    if mantissa.unsigned_abs() < 1 << 53 && (d.scale() as usize) < EXACT_POWERS.len() {
        return mantissa as f64 / EXACT_POWERS[d.scale() as usize];
    }
    d.to_string().parse().expect("a decimal's text is a number")
}

/// An approximate number: a finite IEEE-754 double. Never NaN nor infinite (operations
/// that would give one give a missing value instead), and zero is always `+0`, so equal
/// numbers have one representation, one hash and one place in the order.
#[derive(Copy, Clone, Debug, Serialize, Deserialize)]
pub struct Float(f64);

impl Float {
    /// `x` as a value: `None` when it is NaN or infinite.
    pub fn new(x: f64) -> Option<Float> {
        x.is_finite()
            .then_some(Float(if x == 0.0 { 0.0 } else { x }))
    }

    /// The double.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl PartialEq for Float {
    fn eq(&self, other: &Float) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Float {}

impl std::hash::Hash for Float {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

impl PartialOrd for Float {
    fn partial_cmp(&self, other: &Float) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Float {
    fn cmp(&self, other: &Float) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl fmt::Display for Float {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The declared type of a column, attribute, feature or literal.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Type {
    /// `text`: a string, ordered byte-wise.
    Text,
    /// `number`: an exact decimal, or an approximate double where division or a
    /// function such as `ln` produced it.
    Number,
    /// `time`: integer seconds since the Unix epoch.
    Time,
    /// `bool`: only `=` and `!=` apply to it.
    Bool,
}

impl Type {
    /// Parses a type name as written in a `schema` statement.
    pub fn from_name(name: &str) -> Option<Type> {
        match name {
            "text" => Some(Type::Text),
            "number" => Some(Type::Number),
            "time" => Some(Type::Time),
            "bool" => Some(Type::Bool),
            _ => None,
        }
    }

    /// The type's name as written in a `schema` statement.
    pub fn name(self) -> &'static str {
        match self {
            Type::Text => "text",
            Type::Number => "number",
            Type::Time => "time",
            Type::Bool => "bool",
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Shared, immutable text.
pub type Text = Arc<str>;

/// A scalar value. `Null` is a missing value: an empty CSV cell, an attribute of a user
/// without a `users` row, or an aggregate with no defined result (`max` of nothing).
///
/// Values of different types are never compared with each other (the checker rejects
/// such comparisons), so the derived cross-variant order is only used for sorting.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Value {
    /// A missing value.
    Null,
    /// A `bool`.
    Bool(bool),
    /// A `number`: exact, up to 28 significant digits.
    Number(Decimal),
    /// A `number` that is approximate: the result of `/` or of a function such as `ln`.
    Float(Float),
    /// A `time`: seconds since the Unix epoch.
    Time(i64),
    /// A `text`.
    Text(Text),
}

impl Value {
    /// Whether the value is missing.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The order between two non-null values of the same type; `None` when either is
    /// null, which makes every comparison with a missing value false.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Null, _) | (_, Value::Null) => None,
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Value::Number(a), Value::Number(b)) => Some(a.cmp(b)),
            (Value::Float(a), Value::Float(b)) => Some(a.cmp(b)),
            // The checker makes both sides of a comparison approximate when one is; this
            // is what that conversion gives.
            (Value::Float(a), Value::Number(b)) => a.get().partial_cmp(&to_float(*b)),
            (Value::Number(a), Value::Float(b)) => to_float(*a).partial_cmp(&b.get()),
            (Value::Time(a), Value::Time(b)) => Some(a.cmp(b)),
            (Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
            // Times and integer numbers meet when a literal like `1700000000` is compared
            // with a time; the checker only allows that pairing.
            (Value::Time(a), Value::Number(b)) => Some(Decimal::from(*a).cmp(b)),
            (Value::Number(a), Value::Time(b)) => Some(a.cmp(&Decimal::from(*b))),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Time(t) => write!(f, "{t}"),
            Value::Text(s) => f.write_str(s),
        }
    }
}

/// A comparison operator.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// Whether `ordering` (left compared with right) satisfies the operator.
    pub fn holds(self, ordering: Ordering) -> bool {
        match self {
            CmpOp::Eq => ordering == Ordering::Equal,
            CmpOp::Ne => ordering != Ordering::Equal,
            CmpOp::Lt => ordering == Ordering::Less,
            CmpOp::Le => ordering != Ordering::Greater,
            CmpOp::Gt => ordering == Ordering::Greater,
            CmpOp::Ge => ordering != Ordering::Less,
        }
    }

    /// Applies the operator; false when either side is missing.
    pub fn apply(self, left: &Value, right: &Value) -> bool {
        match (self, left, right) {
            // Every event meets `kind = '...'` filters: texts of different lengths are
            // unequal without comparing their bytes.
            (CmpOp::Eq, Value::Text(a), Value::Text(b)) => a == b,
            (CmpOp::Ne, Value::Text(a), Value::Text(b)) => a != b,
            _ => left.compare(right).is_some_and(|o| self.holds(o)),
        }
    }

    /// The operator with its operands swapped: `a < b` is `b > a`.
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }

    /// The operator as written in a catalog: `=`, `!=`, `<`, ...
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn missing_values_fail_every_comparison() {
        let one = Value::Number(Decimal::ONE);
        for op in [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ] {
            assert!(!op.apply(&Value::Null, &one), "{op:?}");
            assert!(!op.apply(&one, &Value::Null), "{op:?}");
        }
    }

    #[test]
    fn decimals_compare_numerically() {
        let a = Value::Number(Decimal::from_str("1.0").unwrap());
        let b = Value::Number(Decimal::from_str("1.00").unwrap());
        assert!(CmpOp::Eq.apply(&a, &b));
        assert!(CmpOp::Lt.apply(&Value::Time(5), &Value::Number(Decimal::from(6))));
    }

    #[test]
    fn decimals_convert_to_the_nearest_double_whatever_their_scale() {
        for text in [
            "0.3",
            "0.30",
            "12.5",
            "-7.000000001",
            "123456789012345678901234.5678",
            "0.0000000000000000000000000001",
            "79228162514264337593543950335",
        ] {
            let d = Decimal::from_str(text).unwrap();
            assert_eq!(to_float(d), text.parse::<f64>().unwrap(), "{text}");
        }
    }

    #[test]
    fn floats_have_one_zero_and_no_nan() {
        assert_eq!(Float::new(-0.0), Float::new(0.0));
        assert_eq!(Float::new(-0.0).unwrap().get().to_bits(), 0.0f64.to_bits());
        assert!(Float::new(f64::NAN).is_none());
        assert!(Float::new(f64::INFINITY).is_none());
        let third = Value::Float(Float::new(1.0 / 3.0).unwrap());
        assert!(CmpOp::Lt.apply(&Value::Number(Decimal::from_str("0.3").unwrap()), &third));
        assert!(CmpOp::Eq.apply(
            &Value::Float(Float::new(0.3).unwrap()),
            &Value::Number(Decimal::from_str("0.3").unwrap())
        ));
    }

    #[test]
    fn texts_are_equal_exactly_when_their_order_says_so() {
        let texts = [
            "",
            "a",
            "view",
            "purchase",
            "purchasf",
            "Purchase",
            "purchase ",
        ];
        for a in texts {
            for b in texts {
                let (left, right) = (Value::Text(Text::from(a)), Value::Text(Text::from(b)));
                for op in [CmpOp::Eq, CmpOp::Ne] {
                    assert_eq!(
                        op.apply(&left, &right),
                        op.holds(a.cmp(b)),
                        "{a:?} {op:?} {b:?}"
                    );
                }
            }
        }
    }
}
