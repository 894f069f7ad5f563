//! Agreement between workers before the main dataflow is built.
//!
//! Every worker parses its own part of the inputs; before any of them can choose the
//! default `--as-of` or decide to stop on a bad row, all must see every worker's
//! summary. A tiny dataflow broadcasts each worker's item to all workers — the same code
//! works for threads in one process and for several processes.

use std::cell::RefCell;
use std::rc::Rc;

use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::{Exchange, Inspect, Probe};
use timely::worker::Worker;
use timely::ExchangeData;

/// Every worker's `item`, in worker order, on every worker.
pub fn all_gather<T: ExchangeData + Clone>(worker: &mut Worker, item: T) -> Vec<T> {
    let index = worker.index();
    let gathered = Rc::new(RefCell::new(Vec::new()));
    let sink = gathered.clone();
    let (mut input, probe) = worker.dataflow::<u64, _, _>(move |scope| {
        let (input, stream) = scope.new_input::<(usize, T)>();
        let (probe, _) = stream
            .broadcast()
            .inspect(move |item| sink.borrow_mut().push(item.clone()))
            .probe();
        (input, probe)
    });
    input.send((index, item));
    input.advance_to(1);
    drop(input);
    worker.step_while(|| !probe.done());
    let mut items = gathered.take();
    items.sort_by_key(|(index, _)| *index);
    items.into_iter().map(|(_, item)| item).collect()
}

/// Every worker's `items`, concatenated on worker 0 in no particular order (`None` on
/// the other workers): for data only one worker needs, without copying it to all.
pub fn gather_to_first<T: ExchangeData + Clone>(
    worker: &mut Worker,
    items: Vec<T>,
) -> Option<Vec<T>> {
    let index = worker.index();
    let gathered = Rc::new(RefCell::new(Vec::new()));
    let sink = gathered.clone();
    let (mut input, probe) = worker.dataflow::<u64, _, _>(move |scope| {
        let (input, stream) = scope.new_input::<T>();
        let (probe, _) = stream
            .exchange(|_| 0)
            .inspect(move |item| sink.borrow_mut().push(item.clone()))
            .probe();
        (input, probe)
    });
    for item in items {
        input.send(item);
    }
    input.advance_to(1);
    drop(input);
    worker.step_while(|| !probe.done());
    (index == 0).then(|| gathered.take())
}
