//! Worker 0 telling the other workers what to do: stop, or build a dataflow.
//!
//! In a live run only worker 0 reads input; the others work on their share of the
//! dataflow until told otherwise. Commands are broadcast on a dataflow of their own,
//! in the order they are sent, so every worker builds the dataflows they ask for in the
//! same order (as timely requires). On `Stop` every worker drops its dataflows: a live
//! run never finishes its pending window retractions, which lie in the future.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::InputHandle;
use timely::worker::Worker;

use crate::live::definitions::Build;

/// What every worker is told to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Stop: drop every dataflow.
    Stop,
    /// Build the dataflow of a segment version defined at runtime.
    Define {
        /// The version's number.
        version: u32,
        /// How to compute it.
        build: Build,
    },
}

/// The commands' dataflow on one worker.
pub struct Control {
    input: Option<InputHandle<u64, CapacityContainerBuilder<Vec<Command>>>>,
    probe: ProbeHandle<u64>,
    received: Rc<RefCell<VecDeque<Command>>>,
    /// Commands this worker has sent (the time of its next one).
    sent: u64,
}

impl Control {
    pub fn build(worker: &mut Worker) -> Control {
        let received = Rc::new(RefCell::new(VecDeque::new()));
        let sink = received.clone();
        let probe = ProbeHandle::new();
        let input = worker.dataflow::<u64, _, _>(|scope| {
            let (input, stream) = scope.new_input::<Command>();
            stream
                .broadcast()
                .inspect(move |command| sink.borrow_mut().push_back(command.clone()))
                .probe_with(&probe);
            input
        });
        Control {
            input: Some(input),
            probe,
            received,
            sent: 0,
        }
    }

    /// Sends `command` to every worker (this one included) and waits until every
    /// worker has it; returns the commands this worker has received, in order.
    pub fn send(&mut self, worker: &mut Worker, command: Command) -> Vec<Command> {
        let input = self
            .input
            .as_mut()
            .expect("a worker that sends keeps its input");
        input.send(command);
        self.sent += 1;
        input.advance_to(self.sent);
        let sent = self.sent;
        worker.step_while(|| self.probe.less_than(&sent));
        self.received.borrow_mut().drain(..).collect()
    }

    /// Tells every worker to stop (from any worker), waits until they have heard, and
    /// drops this worker's dataflows.
    pub fn stop(&mut self, worker: &mut Worker) {
        if let Some(mut input) = self.input.take() {
            input.send(Command::Stop);
        }
        worker.step_while(|| !self.stopped() || !self.probe.done());
        drop_dataflows(worker);
    }

    /// Works on this worker's share until some worker says stop, carrying out every
    /// other command with `handle` as it arrives (and calling it with `None` after
    /// each step, for upkeep).
    pub fn wait(
        &mut self,
        worker: &mut Worker,
        mut handle: impl FnMut(&mut Worker, Option<Command>),
    ) {
        // This worker sends nothing more: let the others' commands pass.
        self.input.take();
        loop {
            worker.step_or_park(Some(Duration::from_millis(50)));
            handle(worker, None);
            let received: Vec<Command> = self.received.borrow_mut().drain(..).collect();
            for command in received {
                match command {
                    Command::Stop => {
                        worker.step_while(|| !self.probe.done());
                        drop_dataflows(worker);
                        return;
                    }
                    command => handle(worker, Some(command)),
                }
            }
        }
    }

    /// Whether a stop has been received.
    fn stopped(&self) -> bool {
        self.received.borrow().contains(&Command::Stop)
    }
}

/// Drops every dataflow: a live run never finishes its pending window retractions.
fn drop_dataflows(worker: &mut Worker) {
    for dataflow in worker.installed_dataflows() {
        worker.drop_dataflow(dataflow);
    }
}
