//! Time spent in each dataflow operator, from timely's own event log.
//!
//! A live round's latency is the sum of many small operator invocations, and sampling
//! profilers cannot tell two differential `reduce`s apart (they share their code). The
//! log names every operator and brackets each invocation, so this attributes time to
//! operators by name. Enabled by `SEGFLOW_PROFILE=1` (for `segflow bench`), since
//! logging costs a little in every invocation.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt::Write;
use std::rc::Rc;
use std::time::Duration;

use timely::logging::{StartStop, TimelyEvent, TimelyEventBuilder};
use timely::worker::Worker;

/// The environment variable that turns the profile on.
pub const ENABLE: &str = "SEGFLOW_PROFILE";

/// Operator names and time per operator on one worker.
#[derive(Clone, Default)]
pub struct OperatorProfile {
    state: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    names: HashMap<usize, String>,
    /// When each running operator started (operators nest: a scope runs its children).
    started: HashMap<usize, Duration>,
    /// Total time and invocations per operator id.
    spent: HashMap<usize, (Duration, u64)>,
}

impl OperatorProfile {
    /// Starts recording on `worker` when [`ENABLE`] is set; call before building the
    /// dataflows, whose operators are named when they are created.
    pub fn install(worker: &mut Worker) -> Option<OperatorProfile> {
        std::env::var_os(ENABLE)?;
        let profile = OperatorProfile::default();
        let state = profile.state.clone();
        worker.log_register()?.insert::<TimelyEventBuilder, _>(
            "timely",
            move |_time, events: &mut Option<Vec<(Duration, TimelyEvent)>>| {
                let mut state = state.borrow_mut();
                for (at, event) in events.iter().flatten() {
                    state.record(*at, event);
                }
            },
        );
        Some(profile)
    }

    /// Forgets the time spent so far (operator names stay).
    pub fn reset(&self) {
        self.state.borrow_mut().spent.clear();
    }

    /// The `top` operators by time spent since the last reset, one line each.
    pub fn report(&self, top: usize) -> String {
        let state = self.state.borrow();
        let mut rows: Vec<_> = state.spent.iter().collect();
        rows.sort_by_key(|(_, (spent, _))| Reverse(*spent));
        let mut text = String::new();
        for (id, (spent, calls)) in rows.into_iter().take(top) {
            let name = state.names.get(id).map_or("?", String::as_str);
            let per_call = spent.as_nanos() / u128::from((*calls).max(1));
            let _ = writeln!(
                text,
                "{:>10.1} ms {:>9} calls {:>7} ns/call  {name} (#{id})",
                spent.as_secs_f64() * 1e3,
                calls,
                per_call
            );
        }
        text
    }
}

impl State {
    fn record(&mut self, at: Duration, event: &TimelyEvent) {
        match event {
            TimelyEvent::Operates(operates) => {
                self.names.insert(operates.id, operates.name.clone());
            }
            TimelyEvent::Schedule(schedule) => match schedule.start_stop {
                StartStop::Start => {
                    self.started.insert(schedule.id, at);
                }
                StartStop::Stop => {
                    if let Some(start) = self.started.remove(&schedule.id) {
                        let spent = self.spent.entry(schedule.id).or_default();
                        spent.0 += at.saturating_sub(start);
                        spent.1 += 1;
                    }
                }
            },
            _ => {}
        }
    }
}
