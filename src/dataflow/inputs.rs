//! [`Inputs`]: the input collections a segmentation dataflow is rendered over.

use differential_dataflow::VecCollection;

use super::explain::Question;
use super::records::{Event, ModelRecord, ScoreRecord, UserKey, UserRecord};
use super::timing::Timing;
use crate::value::Text;

/// The input collections of one segmentation dataflow.
#[derive(Clone)]
pub struct Inputs<'scope> {
    /// `users` rows keyed by user; the greatest `seq` of a key is its current row.
    pub users: VecCollection<'scope, u64, (UserKey, UserRecord)>,
    /// Events keyed by user.
    pub events: VecCollection<'scope, u64, (UserKey, Event)>,
    /// Model scores keyed by user.
    pub scores: VecCollection<'scope, u64, (UserKey, ScoreRecord)>,
    /// Switches of models' active versions, keyed by model.
    pub models: VecCollection<'scope, u64, (Text, ModelRecord)>,
    /// Questions about users' values `(question, query id)`, answered when the plan
    /// keeps operand values ([`crate::plan::Physical::explained`]).
    pub queries: Option<VecCollection<'scope, u64, (Question, u64)>>,
    /// How logical time relates to event time, and how far the run looks.
    pub timing: Timing,
}
