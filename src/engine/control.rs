//! Stopping a cluster of workers from one of them.
//!
//! In a live run only worker 0 reads input; the others work on their share of the
//! dataflow until told to stop. Stopping is a broadcast of one message, and every
//! worker then drops its dataflows: a live run never finishes its pending window
//! retractions, which lie in the future.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::InputHandle;
use timely::worker::Worker;

/// Worker 0 telling the other workers to stop: a broadcast of one message.
pub struct Control {
    input: Option<InputHandle<u64, CapacityContainerBuilder<Vec<()>>>>,
    probe: ProbeHandle<u64>,
    stopped: Rc<Cell<bool>>,
}

impl Control {
    pub fn build(worker: &mut Worker) -> Control {
        let stopped = Rc::new(Cell::new(false));
        let flag = stopped.clone();
        let probe = ProbeHandle::new();
        let input = worker.dataflow::<u64, _, _>(|scope| {
            let (input, stream) = scope.new_input::<()>();
            stream
                .broadcast()
                .inspect(move |_| flag.set(true))
                .probe_with(&probe);
            input
        });
        Control {
            input: Some(input),
            probe,
            stopped,
        }
    }

    /// Tells every worker to stop (from any worker), waits until they have heard, and
    /// drops this worker's dataflows.
    pub fn stop(&mut self, worker: &mut Worker) {
        if let Some(mut input) = self.input.take() {
            input.send(());
            input.advance_to(1);
        }
        worker.step_while(|| !self.stopped.get() || self.probe.less_than(&1));
        drop_dataflows(worker);
    }

    /// Works on this worker's share until some worker says stop.
    pub fn wait(&mut self, worker: &mut Worker) {
        while !self.stopped.get() {
            worker.step_or_park(Some(Duration::from_millis(50)));
        }
        // Release this worker's input and let that be known before dropping anything.
        self.input.take();
        worker.step_while(|| self.probe.less_than(&1));
        drop_dataflows(worker);
    }
}

/// Drops every dataflow: a live run never finishes its pending window retractions.
fn drop_dataflows(worker: &mut Worker) {
    for dataflow in worker.installed_dataflows() {
        worker.drop_dataflow(dataflow);
    }
}
