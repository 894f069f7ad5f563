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

#[cfg(test)]
mod tests {
    use timely::logging::{OperatesEvent, ScheduleEvent};

    use super::*;

    fn schedule(id: usize, start_stop: StartStop) -> TimelyEvent {
        TimelyEvent::Schedule(ScheduleEvent { id, start_stop })
    }

    #[test]
    fn time_is_summed_per_named_operator_and_reset_forgets_it() {
        let profile = OperatorProfile::default();
        let ms = Duration::from_millis;
        {
            let mut state = profile.state.borrow_mut();
            for (id, name) in [(1, "Slow"), (2, "Fast")] {
                let operates = OperatesEvent {
                    id,
                    addr: vec![0, id],
                    name: name.to_string(),
                };
                state.record(ms(0), &TimelyEvent::Operates(operates));
            }
            // Two calls of `Slow` (3 ms and 5 ms) around one nested call of `Fast` (1 ms).
            state.record(ms(10), &schedule(1, StartStop::Start));
            state.record(ms(11), &schedule(2, StartStop::Start));
            state.record(ms(12), &schedule(2, StartStop::Stop));
            state.record(ms(13), &schedule(1, StartStop::Stop));
            state.record(ms(20), &schedule(1, StartStop::Start));
            state.record(ms(25), &schedule(1, StartStop::Stop));
        }
        let report = profile.report(10);
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines.len(), 2, "{report}");
        assert!(lines[0].contains("8.0 ms") && lines[0].contains("2 calls"));
        assert!(lines[0].ends_with("Slow (#1)"), "{report}");
        assert!(lines[1].contains("1.0 ms") && lines[1].ends_with("Fast (#2)"));
        profile.reset();
        assert_eq!(profile.report(10), "");
    }
}
