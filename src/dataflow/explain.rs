//! Answering "what are this user's values?" from an arrangement of every operand's
//! value by user, for a service that explains memberships.
//!
//! A query is `(question, query id)` fed at a time `t`: one user's values, or every
//! user's values held by one worker (asked of each worker, to preview a definition over
//! everyone). The worker that holds the user's part of the arrangement (or the worker
//! asked) waits until the arrangement is complete before `t`, then reads the values
//! from its trace — every update at a time before `t` — and sends `(query id, values)`
//! on: one answer per query, even when there are no values, so the asker knows when it
//! has them all without waiting for `t` itself to close.
//! The operator holds the trace and lets it compact up to the earliest time a query
//! may still ask about.

use differential_dataflow::hashable::Hashable;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::cursor::cursor_list;
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::trace::{Cursor, TraceReader};
use differential_dataflow::VecCollection;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use timely::progress::Antichain;

use serde::{Deserialize, Serialize};

use crate::value::Value;

use super::records::UserKey;

/// Every operand's value by user: `(user, (operand, value))`.
pub type ValuesTrace = TraceAgent<ValSpine<UserKey, (u32, Value), u64, isize>>;

/// What a query asks.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Question {
    /// One user's values.
    User(UserKey),
    /// The values of every user the worker of this index holds.
    Everyone(u32),
}

impl Question {
    /// Routes the question to the worker holding its values (the arrangement places a
    /// user by the hash of its key; a worker index routes to that worker).
    fn route(&self) -> u64 {
        match self {
            Question::User(user) => user.hashed(),
            Question::Everyone(worker) => u64::from(*worker),
        }
    }
}

/// One answer: the query's id and the values `(user, operand, value)`.
pub type Answer = (u64, Vec<(UserKey, u32, Value)>);

/// Answers `queries` (`(question, query id)`) from `values`, each once every time
/// before the query's is complete in the arrangement.
pub fn answer_queries<'scope>(
    queries: VecCollection<'scope, u64, (Question, u64)>,
    values: Arranged<'scope, ValuesTrace>,
) -> Stream<'scope, u64, Vec<Answer>> {
    let by_user =
        Exchange::new(|((question, _), _, _): &((Question, u64), u64, isize)| question.route());
    let mut trace = values.trace;
    queries.inner.binary_frontier(
        values.stream,
        by_user,
        Pipeline,
        "AnswerQueries",
        |_capability, _info| {
            let mut waiting: Vec<(Capability<u64>, Question, u64)> = Vec::new();
            move |(queries, queries_frontier), (batches, values_frontier), output| {
                queries.for_each(|capability, received| {
                    for ((question, query), time, diff) in received.drain(..) {
                        if diff > 0 {
                            waiting.push((capability.delayed(&time, 0), question, query));
                        }
                    }
                });
                // The batches themselves are read through the trace.
                batches.for_each(|_, _| {});
                let complete = values_frontier.frontier();
                waiting.retain(|(capability, question, query)| {
                    let time = *capability.time();
                    if complete.less_than(&time) {
                        return true;
                    }
                    let user = match question {
                        Question::User(user) => Some(user),
                        Question::Everyone(_) => None,
                    };
                    let answer = (*query, read(&mut trace, user, time));
                    output.session(capability).give(answer);
                    false
                });
                // No later query reads a time before the queries' frontier.
                let mut frontier = queries_frontier.frontier().to_owned();
                for (capability, ..) in &waiting {
                    frontier.insert(*capability.time());
                }
                trace.set_logical_compaction(frontier.borrow());
                trace.set_physical_compaction(frontier.borrow());
            }
        },
    )
}

/// The values of `user` (of every user when `None`) at the times before `time`,
/// consolidated.
fn read(values: &mut ValuesTrace, user: Option<&UserKey>, time: u64) -> Vec<(UserKey, u32, Value)> {
    let mut out = Vec::new();
    let Some(batches) = values.batches_through(Antichain::new().borrow()) else {
        return out;
    };
    let (mut cursor, storage) = cursor_list(batches);
    if let Some(user) = user {
        cursor.seek_key(&storage, user);
    }
    while let Some(key) = cursor.get_key(&storage) {
        if user.is_some_and(|user| user != key) {
            break;
        }
        while let Some((operand, value)) = cursor.get_val(&storage) {
            let mut count = 0;
            cursor.map_times(&storage, |at, diff| {
                if *at < time {
                    count += *diff;
                }
            });
            if count > 0 {
                out.push((*key, *operand, value.clone()));
            }
            cursor.step_val(&storage);
        }
        cursor.step_key(&storage);
    }
    out
}
