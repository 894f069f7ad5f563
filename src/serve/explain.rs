//! `GET /v1/users/{id}/explain`: why a user is or is not in a segment.
//!
//! The dataflow answers with the user's value of every operand it keeps (see
//! `dataflow::explain`); here each segment's definition is walked with those values,
//! giving every node's truth value and every compared value, by the same rules as the
//! reference evaluator (a comparison with a missing value is false, `not` is plain
//! negation for a known user, a segment named in a definition is its own definition).
//! `now` is the second the answer is as of.

use serde_json::{json, Value as Json};

use crate::catalog::ir::{Catalog, Pred, ValueExpr};
use crate::catalog::show;
use crate::plan::{operand_label, Plan};
use crate::reference::{in_list, now_plus};
use crate::value::Value;

/// One user's values, ready to be walked through definitions.
pub struct UserValues<'a> {
    catalog: &'a Catalog,
    plan: &'a Plan,
    /// By operand; an operand without a row has its default.
    values: Vec<Value>,
    now: u64,
}

impl<'a> UserValues<'a> {
    /// One user's values `(operand, value)` as the dataflow answered them, at second
    /// `now`.
    pub fn new<'v>(
        catalog: &'a Catalog,
        plan: &'a Plan,
        answered: impl IntoIterator<Item = (u32, &'v Value)>,
        now: u64,
    ) -> UserValues<'a> {
        let mut values: Vec<Value> = (plan.operands.iter()).map(|o| o.default.clone()).collect();
        for (operand, value) in answered {
            values[operand as usize] = value.clone();
        }
        UserValues {
            catalog,
            plan,
            values,
            now,
        }
    }

    /// Segment `segment`'s definition as a tree of nodes with their truth values; the
    /// root's `value` is whether the user is a member.
    pub fn segment(&self, segment: usize) -> Json {
        self.pred(&self.catalog.segments[segment].pred)
    }

    fn pred(&self, pred: &Pred) -> Json {
        match pred {
            Pred::Const(b) => json!({"node": "constant", "value": b}),
            Pred::Cmp(left, op, right) => {
                let (l, r) = (self.value(left), self.value(right));
                json!({
                    "node": "compare",
                    "text": format!("{} {} {}", self.label(left), op.symbol(), self.label(right)),
                    "value": op.apply(&l, &r),
                    "operands": self.operands([(left, &l), (right, &r)]),
                })
            }
            Pred::In {
                expr,
                list,
                negated,
            } => {
                let value = self.value(expr);
                let items: Vec<String> = list.iter().map(show::literal).collect();
                let not = if *negated { "not " } else { "" };
                json!({
                    "node": "in",
                    "text": format!("{} {not}in ({})", self.label(expr), items.join(", ")),
                    "value": in_list(&value, list, *negated),
                    "operands": self.operands([(expr, &value)]),
                })
            }
            Pred::Segment(index) => {
                let tree = self.segment(*index);
                json!({
                    "node": "segment",
                    "segment": self.catalog.segments[*index].name,
                    "value": tree["value"],
                    "children": [tree],
                })
            }
            Pred::And(a, b) => self.junction("and", a, b, |x, y| x && y),
            Pred::Or(a, b) => self.junction("or", a, b, |x, y| x || y),
            Pred::Not(inner) => {
                let child = self.pred(inner);
                json!({"node": "not", "value": child["value"] != true, "children": [child]})
            }
        }
    }

    /// Whether `pred` holds for this user (what [`UserValues::segment`]'s root says,
    /// without building the tree).
    pub fn holds(&self, pred: &Pred) -> bool {
        match pred {
            Pred::Const(b) => *b,
            Pred::Cmp(left, op, right) => op.apply(&self.value(left), &self.value(right)),
            Pred::In {
                expr,
                list,
                negated,
            } => in_list(&self.value(expr), list, *negated),
            Pred::Segment(index) => self.holds(&self.catalog.segments[*index].pred),
            Pred::And(a, b) => self.holds(a) && self.holds(b),
            Pred::Or(a, b) => self.holds(a) || self.holds(b),
            Pred::Not(inner) => !self.holds(inner),
        }
    }

    fn junction(&self, node: &str, a: &Pred, b: &Pred, combine: fn(bool, bool) -> bool) -> Json {
        let (a, b) = (self.pred(a), self.pred(b));
        let value = combine(a["value"] == true, b["value"] == true);
        json!({"node": node, "value": value, "children": [a, b]})
    }

    /// The value of an expression for this user.
    fn value(&self, expr: &ValueExpr) -> Value {
        let leaf = |leaf: &ValueExpr| match leaf {
            ValueExpr::Const(value) => value.clone(),
            ValueExpr::Now(offset) => now_plus(self.now, *offset),
            // Checked by the caller ([`unkept`]): a served segment's values are kept.
            _ => match self.plan.operand_of(leaf) {
                Some(operand) => self.values[operand].clone(),
                None => Value::Null,
            },
        };
        expr.compute(&leaf, &|cond| self.holds(cond))
    }

    /// How an expression is named: a feature's name, or the expression as written.
    fn label(&self, expr: &ValueExpr) -> String {
        match self.plan.operand_of(expr) {
            Some(operand) => operand_label(self.catalog, self.plan, operand),
            None => show::value(self.catalog, expr),
        }
    }

    /// The per-user values a node compared (constants left out): each side, and for a
    /// side computed from per-user values, each of those too.
    fn operands<'e>(&self, sides: impl IntoIterator<Item = (&'e ValueExpr, &'e Value)>) -> Json {
        let mut listed: Vec<Json> = Vec::new();
        for (expr, value) in sides {
            if matches!(expr, ValueExpr::Const(_)) {
                continue;
            }
            listed.push(json!({"name": self.label(expr), "value": shown(value)}));
            let mut parts: Vec<&ValueExpr> = Vec::new();
            expr.visit(&mut |part| {
                if part.is_per_user() && part != expr && !parts.contains(&part) {
                    parts.push(part);
                }
            });
            for part in parts {
                let value = self.value(part);
                listed.push(json!({"name": self.label(part), "value": shown(&value)}));
            }
        }
        Json::Array(listed)
    }
}

/// The first per-user value `pred` reads that `plan` does not keep by user, written as
/// in a catalog: a definition reading it cannot be evaluated from the kept values.
pub fn unkept(catalog: &Catalog, plan: &Plan, pred: &Pred) -> Option<String> {
    let kept = |expr: &ValueExpr| {
        let mut all = true;
        expr.visit(&mut |part| {
            if part.is_per_user() {
                all &= plan
                    .operand_of(part)
                    .is_some_and(|operand| plan.physical.explained.contains(&operand));
            }
        });
        all
    };
    match pred {
        Pred::Const(_) => None,
        Pred::Segment(index) => unkept(catalog, plan, &catalog.segments[*index].pred),
        Pred::Cmp(left, _, right) => [left, right]
            .into_iter()
            .find(|expr| !kept(expr))
            .map(|expr| show::value(catalog, expr)),
        Pred::In { expr, .. } => (!kept(expr)).then(|| show::value(catalog, expr)),
        Pred::And(a, b) | Pred::Or(a, b) => {
            unkept(catalog, plan, a).or_else(|| unkept(catalog, plan, b))
        }
        Pred::Not(inner) => unkept(catalog, plan, inner),
    }
}

/// A value as the API shows it: `missing` for a missing one.
fn shown(value: &Value) -> String {
    if value.is_null() {
        "missing".to_owned()
    } else {
        value.to_string()
    }
}
