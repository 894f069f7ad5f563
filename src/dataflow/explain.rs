//! Answering "what are this user's values?" from an arrangement of every operand's
//! value by user, for a service that explains memberships.
//!
//! A query is `(user, query id)` fed at a time `t`. The worker that holds the user's
//! part of the arrangement waits until the arrangement is complete before `t`, then
//! reads the user's values from its trace — every update at a time before `t` — and
//! sends `(query id, values)` on: one answer per query, even for a user with no values,
//! so the asker knows when it has them all without waiting for `t` itself to close.
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

use crate::value::Value;

use super::records::UserKey;

/// Every operand's value by user: `(user, (operand, value))`.
pub type ValuesTrace = TraceAgent<ValSpine<UserKey, (u32, Value), u64, isize>>;

/// One answer: the query's id and the user's values `(operand, value)`, by operand.
pub type Answer = (u64, Vec<(u32, Value)>);

/// Answers `queries` (`(user, query id)`) from `values`, each once every time before
/// the query's is complete in the arrangement.
pub fn answer_queries<'scope>(
    queries: VecCollection<'scope, u64, (UserKey, u64)>,
    values: Arranged<'scope, ValuesTrace>,
) -> Stream<'scope, u64, Vec<Answer>> {
    let by_user = Exchange::new(|((user, _), _, _): &((UserKey, u64), u64, isize)| user.hashed());
    let mut trace = values.trace;
    queries.inner.binary_frontier(
        values.stream,
        by_user,
        Pipeline,
        "AnswerQueries",
        |_capability, _info| {
            let mut waiting: Vec<(Capability<u64>, UserKey, u64)> = Vec::new();
            move |(queries, queries_frontier), (batches, values_frontier), output| {
                queries.for_each(|capability, received| {
                    for ((user, query), time, diff) in received.drain(..) {
                        if diff > 0 {
                            waiting.push((capability.delayed(&time, 0), user, query));
                        }
                    }
                });
                // The batches themselves are read through the trace.
                batches.for_each(|_, _| {});
                let complete = values_frontier.frontier();
                waiting.retain(|(capability, user, query)| {
                    let time = *capability.time();
                    if complete.less_than(&time) {
                        return true;
                    }
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

/// The values of `user` at the times before `time`, consolidated.
fn read(values: &mut ValuesTrace, user: &UserKey, time: u64) -> Vec<(u32, Value)> {
    let mut out = Vec::new();
    let Some(batches) = values.batches_through(Antichain::new().borrow()) else {
        return out;
    };
    let (mut cursor, storage) = cursor_list(batches);
    cursor.seek_key(&storage, user);
    if cursor.get_key(&storage) == Some(user) {
        while let Some(value) = cursor.get_val(&storage) {
            let mut count = 0;
            cursor.map_times(&storage, |at, diff| {
                if *at < time {
                    count += *diff;
                }
            });
            if count > 0 {
                out.push(value.clone());
            }
            cursor.step_val(&storage);
        }
    }
    out
}
