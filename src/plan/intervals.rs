//! Validity intervals: the logical times at which a time-dependent test holds.
//!
//! Every predicate that mentions `now` is turned into intervals of `now` for each row
//! (`users.signup_ts > now - 14d` holds for `now < signup_ts + 14d`), and the dataflow's
//! temporal filter inserts the row when an interval opens and retracts it when it closes.
//! It serves `now` comparisons on inputs and on derived features; event windows are
//! restricted the same way inside the event sources' operator.

use std::cmp::Ordering;

use rust_decimal::prelude::ToPrimitive;

use crate::value::{CmpOp, Value};

/// The half-open range `[start, end)` of logical times; `end == None` is unbounded.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval {
    /// First logical time in the interval.
    pub start: u64,
    /// First logical time after it; `None` when it never ends.
    pub end: Option<u64>,
}

impl Interval {
    /// Every logical time.
    pub const ALWAYS: Interval = Interval {
        start: 0,
        end: None,
    };

    /// The interval in logical time units of `ticks_per_second` per second: a second
    /// `s` covers the ticks `[s * ticks, (s + 1) * ticks)`.
    pub fn in_ticks(self, ticks_per_second: u64) -> Interval {
        Interval {
            start: self.start.saturating_mul(ticks_per_second),
            end: self.end.map(|end| end.saturating_mul(ticks_per_second)),
        }
    }

    /// An interval from signed bounds, clamped to the logical time range; `None` when
    /// it contains no logical time.
    fn clamped(start: i128, end: Option<i128>) -> Option<Interval> {
        let start = start.clamp(0, u64::MAX as i128);
        let end = match end {
            Some(end) if end <= start => return None,
            Some(end) if end > u64::MAX as i128 => None,
            Some(end) => Some(end as u64),
            None => None,
        };
        Some(Interval {
            start: start as u64,
            end,
        })
    }

    /// Whether `time` lies in `[start, end)`.
    pub fn contains(&self, time: u64) -> bool {
        self.start <= time && self.end.is_none_or(|end| time < end)
    }
}

/// The times `now` at which `now + offset  op  value` holds.
///
/// `value` is a time (or an integer number, as literals compared with times are); a
/// missing value never satisfies a comparison, so it gives no interval.
pub fn solve(offset: i64, op: CmpOp, value: &Value) -> Vec<Interval> {
    let Some((floor, exact)) = as_time(value) else {
        return Vec::new();
    };
    // With x = now + offset: x < v  <=>  now < v - offset, and so on. A fractional `v`
    // (only possible for a number literal) lies strictly between two integer times.
    let p = floor - offset as i128;
    let (lt, le) = if exact { (p, p + 1) } else { (p + 1, p + 1) };
    let ranges: Vec<(i128, Option<i128>)> = match op {
        CmpOp::Lt => vec![(0, Some(lt))],
        CmpOp::Le => vec![(0, Some(le))],
        CmpOp::Gt => vec![(le, None)],
        CmpOp::Ge => vec![(lt, None)],
        CmpOp::Eq if exact => vec![(p, Some(p + 1))],
        CmpOp::Eq => vec![],
        CmpOp::Ne if exact => vec![(0, Some(p)), (p + 1, None)],
        CmpOp::Ne => vec![(0, None)],
    };
    ranges
        .into_iter()
        .filter_map(|(s, e)| Interval::clamped(s, e))
        .collect()
}

/// The times at which `now + offset` equals (or, when `negated`, differs from every
/// one of) the listed values.
pub fn solve_in(offset: i64, list: &[Value], negated: bool) -> Vec<Interval> {
    let mut points: Vec<Interval> = list
        .iter()
        .flat_map(|v| solve(offset, CmpOp::Eq, v))
        .collect();
    points.sort();
    points.dedup();
    if !negated {
        return points;
    }
    let mut gaps = Vec::new();
    let mut from: Option<i128> = Some(0);
    for point in points {
        if let Some(start) = from {
            gaps.extend(Interval::clamped(start, Some(point.start as i128)));
        }
        from = point.end.map(|e| e as i128);
    }
    if let Some(start) = from {
        gaps.extend(Interval::clamped(start, None));
    }
    gaps
}

/// The times at which `now + a  op  now + b` holds: always or never.
pub fn solve_now_pair(a: i64, op: CmpOp, b: i64) -> Vec<Interval> {
    if op.holds(a.cmp(&b)) {
        vec![Interval::ALWAYS]
    } else {
        Vec::new()
    }
}

/// A time-like value as (floor, is_integer).
fn as_time(value: &Value) -> Option<(i128, bool)> {
    match value {
        Value::Time(t) => Some((*t as i128, true)),
        Value::Number(d) => {
            let floor = d.floor();
            Some((floor.to_i128()?, floor.cmp(d) == Ordering::Equal))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds_at(intervals: &[Interval], now: u64) -> bool {
        intervals.iter().any(|i| i.contains(now))
    }

    #[test]
    fn intervals_agree_with_direct_comparison() {
        let ops = [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ];
        for op in ops {
            for offset in [-7i64, 0, 3] {
                for v in [0i64, 5, 12] {
                    let value = Value::Time(v);
                    let intervals = solve(offset, op, &value);
                    for now in 0..30u64 {
                        let direct = op.apply(&Value::Time(now as i64 + offset), &value);
                        assert_eq!(
                            holds_at(&intervals, now),
                            direct,
                            "{op:?} off={offset} v={v} now={now}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn membership_lists_and_their_complements() {
        let list = [Value::Time(4), Value::Time(9), Value::Time(4)];
        for negated in [false, true] {
            let intervals = solve_in(-2, &list, negated);
            for now in 0..20u64 {
                let x = now as i64 - 2;
                assert_eq!(
                    holds_at(&intervals, now),
                    (x == 4 || x == 9) != negated,
                    "now={now}"
                );
            }
        }
    }

    #[test]
    fn missing_values_never_hold() {
        assert!(solve(0, CmpOp::Ne, &Value::Null).is_empty());
    }
}
