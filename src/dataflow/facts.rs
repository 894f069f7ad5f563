//! Facts: what the evaluating reduce knows about a user, and the readers that turn a
//! source's row into facts as the physical plan says ([`crate::plan::Reader`]).
//!
//! A row gives [`Fact::Exception`] for every atom decided by its reader whose result
//! differs from the atom's default, and [`Fact::Operand`] for every operand passed on
//! to the reduce. A row change that flips no atom (a sixth purchase when the test is
//! `> 5`) gives the same facts before and after, so nothing downstream changes.

use serde::{Deserialize, Serialize};

use differential_dataflow::VecCollection;

use crate::plan::{Atom, Plan, Read};
use crate::value::Value;

use super::records::UserKey;

/// Something known about a user, as one value of the evaluation's input.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Fact {
    /// The user is in the universe.
    Known,
    /// The atom of this index differs from its default result for the user.
    Exception(u32),
    /// An operand's value, for the atoms decided in the reduce.
    Operand { operand: u32, value: Value },
}

/// Facts keyed by user.
pub type Facts<'scope> = VecCollection<'scope, u64, (UserKey, Fact)>;

/// The plan's readers, ready to read rows: by source, each operand read from it.
pub struct Readers {
    by_source: Vec<Vec<OperandReader>>,
}

/// One operand as read from a row of its source.
struct OperandReader {
    read: Read,
    /// The atoms decided here, with their results for a user without a row.
    atoms: Vec<(u32, Atom, bool)>,
    /// The operand's index, when it is passed on to the reduce.
    passed_on: Option<u32>,
}

impl Readers {
    /// The readers of `plan`'s physical plan.
    pub fn new(plan: &Plan) -> Readers {
        let by_source = plan.physical.readers.iter().map(|readers| {
            let readers = readers.iter().map(|reader| OperandReader {
                read: reader.read,
                atoms: (reader.atoms.iter())
                    .map(|&(atom, default)| (atom as u32, plan.atoms[atom].clone(), default))
                    .collect(),
                passed_on: reader.passed_on.then_some(reader.operand as u32),
            });
            readers.collect()
        });
        Readers {
            by_source: by_source.collect(),
        }
    }

    /// The facts of a user whose row of `source` reads as `value(read)` (`None` where
    /// the read is undefined, which leaves the operand at its default).
    pub fn facts(&self, source: usize, value: impl Fn(Read) -> Option<Value>) -> Vec<Fact> {
        let mut facts = Vec::new();
        self.facts_into(source, value, &mut facts);
        facts
    }

    /// [`Readers::facts`], appended to `facts`.
    pub fn facts_into(
        &self,
        source: usize,
        value: impl Fn(Read) -> Option<Value>,
        facts: &mut Vec<Fact>,
    ) {
        for reader in &self.by_source[source] {
            let Some(value) = value(reader.read) else {
                continue;
            };
            for (index, atom, default) in &reader.atoms {
                if atom.evaluate(std::slice::from_ref(&value), 0) != *default {
                    facts.push(Fact::Exception(*index));
                }
            }
            if let Some(operand) = reader.passed_on {
                facts.push(Fact::Operand { operand, value });
            }
        }
    }
}
