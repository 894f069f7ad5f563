//! Test support: feeds an operator rounds of timed updates and reads what it has
//! output through each round, for property tests against a from-scratch evaluation.

use std::cell::RefCell;
use std::rc::Rc;

use differential_dataflow::consolidation::consolidate;
use differential_dataflow::input::Input;
use differential_dataflow::{ExchangeData, VecCollection};
use timely::dataflow::operators::probe::Handle;

/// Updates `(data, delay, diff)`, one list per round: round `r` feeds its updates at
/// time `r + delay`, so some arrive before their time (as window retractions do).
pub type Rounds<D> = Vec<Vec<(D, u8, isize)>>;

/// Runs `render` over the rounds in one worker and returns, after each round, the
/// rows its output holds at times before the next round, sorted. Fails if a row is
/// held other than once.
pub fn outputs_after_rounds<D, O, F>(rounds: Rounds<D>, render: F) -> Vec<Vec<O>>
where
    D: ExchangeData + Sync,
    O: ExchangeData,
    F: for<'s> Fn(VecCollection<'s, u64, D>) -> VecCollection<'s, u64, O> + Send + Sync + 'static,
{
    timely::execute_directly(move |worker| {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = seen.clone();
        let probe = Handle::new();
        let mut input = worker.dataflow::<u64, _, _>(|scope| {
            let (input, data) = scope.new_collection::<D, isize>();
            render(data)
                .inspect(move |(row, time, diff)| {
                    sink.borrow_mut().push((row.clone(), *time, *diff))
                })
                .probe_with(&probe);
            input
        });
        let mut after = Vec::new();
        for (round, updates) in rounds.into_iter().enumerate() {
            for (data, delay, diff) in updates {
                input.update_at(data, round as u64 + u64::from(delay), diff);
            }
            let next = round as u64 + 1;
            input.advance_to(next);
            input.flush();
            worker.step_while(|| probe.less_than(&next));
            let mut out: Vec<(O, isize)> = (seen.borrow().iter())
                .filter(|(_, time, _)| *time < next)
                .map(|(row, _, diff)| (row.clone(), *diff))
                .collect();
            consolidate(&mut out);
            assert!(out.iter().all(|(_, d)| *d == 1), "each row once: {out:?}");
            after.push(out.into_iter().map(|(row, _)| row).collect());
        }
        after
    })
}
