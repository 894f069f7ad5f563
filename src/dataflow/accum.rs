//! [`Accum`]: a count and an exact sum carried in the difference type.
//!
//! `count`, `sum` and `avg` are linear: the aggregate of a union is the sum of the
//! aggregates. Carrying `(count, sum)` as the *difference* of a per-user record lets
//! differential dataflow add them up while it consolidates, so the engine keeps one
//! accumulated value per user instead of every event, and an update costs one addition.

use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalog::ir::AggFunc;
use crate::value::Value;

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Accum {
    pub count: i64,
    pub sum: Decimal,
}

impl Accum {
    /// One event contributing `value` to the sum (zero when only counting).
    pub fn one(value: Decimal) -> Accum {
        Accum {
            count: 1,
            sum: value,
        }
    }

    /// An aggregate of these totals; `None` when undefined (the average of nothing) or
    /// not an aggregate of totals.
    pub fn read(&self, func: AggFunc) -> Option<Value> {
        let number = match func {
            AggFunc::Count => Decimal::from(self.count),
            AggFunc::Sum => self.sum,
            AggFunc::Avg => self.sum.checked_div(Decimal::from(self.count))?,
            AggFunc::Min | AggFunc::Max | AggFunc::CountDistinct | AggFunc::Median => return None,
        };
        Some(Value::Number(number))
    }
}

impl IsZero for Accum {
    fn is_zero(&self) -> bool {
        self.count == 0 && self.sum.is_zero()
    }
}

impl Semigroup for Accum {
    fn plus_equals(&mut self, rhs: &Self) {
        self.count += rhs.count;
        // Saturating rather than panicking: sums beyond ±7.9e28 are not meaningful data,
        // and a panic would take down the worker.
        self.sum = self.sum.saturating_add(rhs.sum);
    }
}

impl Monoid for Accum {
    fn zero() -> Self {
        Accum::default()
    }
}

impl Abelian for Accum {
    fn negate(&mut self) {
        self.count = -self.count;
        self.sum = -self.sum;
    }
}

impl Multiply<isize> for Accum {
    type Output = Accum;
    fn multiply(self, rhs: &isize) -> Accum {
        Accum {
            count: self.count * (*rhs as i64),
            sum: self.sum.saturating_mul(Decimal::from(*rhs)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn ten_dimes_make_exactly_one() {
        let dime = Accum::one(Decimal::from_str("0.10").unwrap());
        let mut total = Accum::zero();
        for _ in 0..10 {
            total.plus_equals(&dime);
        }
        assert_eq!(total.sum, Decimal::ONE);
        assert_eq!(total.count, 10);
    }

    #[test]
    fn retraction_cancels_to_zero() {
        let mut a = Accum::one(Decimal::from(7));
        let mut b = a.clone();
        b.negate();
        a.plus_equals(&b);
        assert!(a.is_zero());
        assert_eq!(
            Accum::one(Decimal::from(2)).multiply(&-3),
            Accum {
                count: -3,
                sum: Decimal::from(-6)
            }
        );
    }
}
