//! Content hashes of segment definitions, so an output can name the exact version of
//! the definition that produced it.
//!
//! The hash is the first 16 hex digits of the SHA-256 of a canonical text of the
//! resolved predicate, in which
//! - features are already inlined (renaming a feature changes nothing),
//! - columns are written `name:type` rather than by index (declaring an unrelated
//!   column, which shifts indices, changes nothing),
//! - a referenced segment is written as its own hash (so a change anywhere below a
//!   segment changes its hash, while renaming the referenced segment does not),
//! - numbers are normalised (`5.0` and `5` are the same threshold).
//!
//! The segment's own name is not part of it: the hash identifies the definition.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use super::ir::{
    Aggregate, Column, EventField, EventOperand, EventPred, Pred, ScoreVersion, ValueExpr,
};
use crate::value::Value;

/// The hash of every segment; `order` lists each segment after the ones it references.
pub(crate) fn segment_hashes(
    users: &[Column],
    events: &[Column],
    preds: &[Pred],
    order: &[usize],
) -> Vec<String> {
    let mut hashes = vec![String::new(); preds.len()];
    for &i in order {
        let mut text = String::new();
        Canonical {
            users,
            events,
            hashes: &hashes,
            out: &mut text,
        }
        .pred(&preds[i]);
        hashes[i] = digest(&text);
    }
    hashes
}

fn digest(text: &str) -> String {
    let sum = Sha256::digest(text.as_bytes());
    sum.iter()
        .take(8)
        .fold(String::with_capacity(16), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Writes the canonical text (an s-expression) of a resolved predicate.
struct Canonical<'a> {
    users: &'a [Column],
    events: &'a [Column],
    hashes: &'a [String],
    out: &'a mut String,
}

impl Canonical<'_> {
    fn put(&mut self, text: &str) {
        self.out.push_str(text);
    }

    fn pred(&mut self, pred: &Pred) {
        match pred {
            Pred::Const(b) => self.put(if *b { "true" } else { "false" }),
            Pred::Cmp(l, op, r) => {
                self.put("(");
                self.put(op.symbol());
                self.put(" ");
                self.value_expr(l);
                self.put(" ");
                self.value_expr(r);
                self.put(")");
            }
            Pred::In {
                expr,
                list,
                negated,
            } => {
                self.put(if *negated { "(not-in " } else { "(in " });
                self.value_expr(expr);
                self.list(list);
                self.put(")");
            }
            Pred::Segment(i) => {
                let hashes = self.hashes;
                self.put("(segment ");
                self.put(hashes.get(*i).map_or("?", String::as_str));
                self.put(")");
            }
            Pred::And(l, r) => self.binary("and", &**l, &**r, Self::pred),
            Pred::Or(l, r) => self.binary("or", &**l, &**r, Self::pred),
            Pred::Not(inner) => {
                self.put("(not ");
                self.pred(inner);
                self.put(")");
            }
        }
    }

    fn binary<T>(&mut self, name: &str, l: &T, r: &T, each: fn(&mut Self, &T)) {
        self.put("(");
        self.put(name);
        self.put(" ");
        each(self, l);
        self.put(" ");
        each(self, r);
        self.put(")");
    }

    fn list(&mut self, list: &[Value]) {
        self.put(" [");
        for (i, value) in list.iter().enumerate() {
            if i > 0 {
                self.put(" ");
            }
            self.value(value);
        }
        self.put("]");
    }

    fn value_expr(&mut self, expr: &ValueExpr) {
        match expr {
            ValueExpr::Const(value) => self.value(value),
            ValueExpr::Now(offset) => {
                let _ = write!(self.out, "(now {offset})");
            }
            ValueExpr::Attr(i) => {
                self.put("(users ");
                self.column(self.users, *i);
                self.put(")");
            }
            ValueExpr::Score(model, version) => {
                self.put("(score ");
                self.quoted(model);
                // The active version adds nothing: definitions written before versions
                // keep their hashes.
                if let ScoreVersion::Fixed(version) = version {
                    self.put(" ");
                    self.quoted(version);
                }
                self.put(")");
            }
            ValueExpr::Agg(aggregate) => self.aggregate(aggregate),
            ValueExpr::DaysSince(x) => self.call("days_since", std::slice::from_ref(&**x)),
            ValueExpr::Neg(x) => self.call("neg", std::slice::from_ref(&**x)),
            ValueExpr::Approx(x) => self.call("approx", std::slice::from_ref(&**x)),
            ValueExpr::Arith(l, op, r) => self.binary(op.symbol(), &**l, &**r, Self::value_expr),
            ValueExpr::Func(func, args) => self.call(func.name(), args),
            ValueExpr::If(cond, then, otherwise) => {
                self.put("(if ");
                self.pred(cond);
                self.put(" ");
                self.value_expr(then);
                self.put(" ");
                self.value_expr(otherwise);
                self.put(")");
            }
            ValueExpr::Truth(cond) => {
                self.put("(truth ");
                self.pred(cond);
                self.put(")");
            }
        }
    }

    fn call(&mut self, name: &str, args: &[ValueExpr]) {
        self.put("(");
        self.put(name);
        for arg in args {
            self.put(" ");
            self.value_expr(arg);
        }
        self.put(")");
    }

    fn aggregate(&mut self, aggregate: &Aggregate) {
        self.put("(");
        self.put(aggregate.func.name());
        self.put(" ");
        match aggregate.field {
            Some(field) => self.field(field),
            None => self.put("-"),
        }
        self.put(" ");
        match &aggregate.filter {
            Some(filter) => self.event_pred(filter),
            None => self.put("-"),
        }
        match aggregate.within {
            Some(seconds) => {
                let _ = write!(self.out, " {seconds})");
            }
            None => self.put(" -)"),
        }
    }

    fn event_pred(&mut self, pred: &EventPred) {
        match pred {
            EventPred::Const(b) => self.put(if *b { "true" } else { "false" }),
            EventPred::Cmp(l, op, r) => {
                self.put("(");
                self.put(op.symbol());
                self.put(" ");
                self.operand(l);
                self.put(" ");
                self.operand(r);
                self.put(")");
            }
            EventPred::In {
                operand,
                list,
                negated,
            } => {
                self.put(if *negated { "(not-in " } else { "(in " });
                self.operand(operand);
                self.list(list);
                self.put(")");
            }
            EventPred::And(l, r) => self.binary("and", &**l, &**r, Self::event_pred),
            EventPred::Or(l, r) => self.binary("or", &**l, &**r, Self::event_pred),
            EventPred::Not(inner) => {
                self.put("(not ");
                self.event_pred(inner);
                self.put(")");
            }
        }
    }

    fn operand(&mut self, operand: &EventOperand) {
        match operand {
            EventOperand::Field(field) => self.field(*field),
            EventOperand::Const(value) => self.value(value),
        }
    }

    fn field(&mut self, field: EventField) {
        match field {
            EventField::Ts => self.put("ts"),
            EventField::Kind => self.put("kind"),
            EventField::Column(i) => {
                self.put("(events ");
                self.column(self.events, i);
                self.put(")");
            }
        }
    }

    fn column(&mut self, columns: &[Column], index: usize) {
        match columns.get(index) {
            Some(column) => {
                let _ = write!(self.out, "{}:{}", column.name, column.ty);
            }
            None => self.put("?"),
        }
    }

    fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.put("null"),
            Value::Bool(b) => {
                let _ = write!(self.out, "bool:{b}");
            }
            Value::Number(n) => {
                let _ = write!(self.out, "number:{}", n.normalize());
            }
            Value::Float(x) => {
                let _ = write!(self.out, "float:{x}");
            }
            Value::Time(t) => {
                let _ = write!(self.out, "time:{t}");
            }
            Value::Text(text) => {
                self.put("text:");
                self.quoted(text);
            }
        }
    }

    fn quoted(&mut self, text: &str) {
        self.put("'");
        self.put(&text.replace('\'', "''"));
        self.put("'");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ir::{AggFunc, Location};
    use crate::value::{CmpOp, Type};

    fn column(name: &str, ty: Type) -> Column {
        Column {
            name: name.into(),
            ty,
            loc: Location {
                file: "t".into(),
                line: 1,
                col: 1,
            },
        }
    }

    fn canonical(users: &[Column], events: &[Column], pred: &Pred) -> String {
        let mut out = String::new();
        let hashes = ["abc".to_string()];
        Canonical {
            users,
            events,
            hashes: &hashes,
            out: &mut out,
        }
        .pred(pred);
        out
    }

    #[test]
    fn canonical_text_names_columns_and_references_by_content() {
        let users = [column("country", Type::Text)];
        let events = [column("amount", Type::Number)];
        let spend = ValueExpr::Agg(Aggregate {
            func: AggFunc::Sum,
            field: Some(EventField::Column(0)),
            filter: Some(EventPred::Cmp(
                EventOperand::Field(EventField::Kind),
                CmpOp::Eq,
                EventOperand::Const(Value::Text("it's".into())),
            )),
            within: Some(60),
        });
        let pred = Pred::And(
            Box::new(Pred::Cmp(
                spend,
                CmpOp::Gt,
                ValueExpr::Const(Value::Number("5.0".parse().unwrap())),
            )),
            Box::new(Pred::Or(
                Box::new(Pred::Segment(0)),
                Box::new(Pred::In {
                    expr: ValueExpr::Attr(0),
                    list: vec![Value::Text("US".into())],
                    negated: true,
                }),
            )),
        );
        assert_eq!(
            canonical(&users, &events, &pred),
            "(and (> (sum (events amount:number) (= kind text:'it''s') 60) number:5) \
             (or (segment abc) (not-in (users country:text) [text:'US'])))"
        );
    }

    #[test]
    fn hashes_are_sixteen_hex_digits_and_follow_references() {
        let a = Pred::Cmp(
            ValueExpr::Now(0),
            CmpOp::Gt,
            ValueExpr::Const(Value::Time(5)),
        );
        let preds = [Pred::Not(Box::new(Pred::Segment(1))), a.clone()];
        let hashes = segment_hashes(&[], &[], &preds, &[1, 0]);
        assert_eq!(hashes[1].len(), 16);
        assert!(hashes[1].chars().all(|c| c.is_ascii_hexdigit()));
        let changed = Pred::Cmp(
            ValueExpr::Now(0),
            CmpOp::Gt,
            ValueExpr::Const(Value::Time(6)),
        );
        let other = segment_hashes(&[], &[], &[preds[0].clone(), changed], &[1, 0]);
        assert_ne!(hashes[1], other[1]);
        assert_ne!(hashes[0], other[0]);
    }
}
