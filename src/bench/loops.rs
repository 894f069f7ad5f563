//! The update loops: closed loop, batch sweep and open loop, run by worker 0 through a
//! [`Driver`].
//!
//! Latency is measured from the moment an update is handed to the engine until every
//! membership change it causes has reached worker 0. In the open loop it is measured
//! from the update's *scheduled* arrival instead: updates arrive at a fixed rate
//! whether or not the engine has kept up, so time spent waiting behind earlier rounds
//! counts (no coordinated omission).
//!
//! A round's events are drawn before it is timed (the open loop's, before its clock
//! starts), as a live run's reading thread parses records ahead of the workers.

use std::time::{Duration, Instant};

use serde::Serialize;
use timely::worker::Worker;

use super::driver::Driver;
use super::measure::{Latencies, LatencySummary};
use super::workload::Workload;
use crate::engine::profile::OperatorProfile;
use crate::io::scored::ScoredVersions;
use crate::value::Text;

/// How much of each loop to run.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Single-event updates timed in the closed loop, after `warmup` untimed ones (for
    /// at most a tenth of `closed_time`);
    /// fewer if `closed_time` runs out first (rounds are slow on large data).
    pub closed: usize,
    pub closed_time: Duration,
    pub warmup: usize,
    pub batch_sizes: Vec<usize>,
    /// Each batch size runs at least this long and at least `min_batches` batches.
    pub batch_time: Duration,
    pub min_batches: usize,
    /// Offered rates of the open loop, in events per second.
    pub rates: Vec<f64>,
    /// Events offered at each rate: `rate × open_time`.
    pub open_time: Duration,
    /// Switches of a model's active version timed, when the data has two versions.
    pub switches: usize,
}

impl Schedule {
    pub fn new(quick: bool) -> Schedule {
        let scale = |full: u64, quick_ms: u64| {
            if quick {
                Duration::from_millis(quick_ms)
            } else {
                Duration::from_secs(full)
            }
        };
        Schedule {
            closed: if quick { 200 } else { 20_000 },
            closed_time: scale(60, 1_000),
            warmup: if quick { 20 } else { 1_000 },
            batch_sizes: vec![1, 10, 100, 1_000, 10_000],
            batch_time: scale(2, 20),
            min_batches: if quick { 2 } else { 10 },
            rates: vec![10_000.0, 100_000.0, 500_000.0],
            open_time: scale(3, 50),
            switches: if quick { 2 } else { 8 },
        }
    }
}

/// One loop's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Series {
    pub label: String,
    /// Events per round (batch sweep).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    /// Events per second offered (open loop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_per_second: Option<f64>,
    pub events: u64,
    pub rounds: u64,
    /// The rounds' time from handing their events to the engine until their changes
    /// were out (closed loop, batch sweep), or the loop's wall time (open loop).
    pub seconds: f64,
    /// `events / seconds`.
    pub events_per_second: f64,
    /// Membership changes output.
    pub changes: u64,
    /// Per update in the closed and open loops, per batch in the sweep.
    pub latency: LatencySummary,
}

/// What [`run`] measured.
pub struct Figures {
    pub closed_loop: Series,
    pub batch_sweep: Vec<Series>,
    pub open_loop: Vec<Series>,
    /// Switches of a model's active version, when the data has a model with two
    /// versions.
    pub model_switches: Option<Series>,
}

/// Runs every loop of `schedule`.
pub fn run(
    worker: &mut Worker,
    driver: &mut Driver,
    workload: &mut Workload,
    schedule: &Schedule,
    scored: &ScoredVersions,
    profile: Option<&OperatorProfile>,
) -> Figures {
    // With `SEGFLOW_PROFILE` set: where each phase's time went, operator by operator.
    let phase_done = |phase: &str| {
        if let Some(profile) = profile {
            eprintln!(
                "time per operator on worker 0, {phase}:\n{}",
                profile.report(30)
            );
            profile.reset();
        }
    };
    let warmup = Instant::now();
    for _ in 0..schedule.warmup {
        if warmup.elapsed() > schedule.closed_time / 10 {
            break;
        }
        driver.feed(workload.events(1));
        driver.finish(worker);
    }
    let mut closed = Tally::new();
    while closed.events < schedule.closed as u64
        && (closed.events == 0 || closed.started.elapsed() < schedule.closed_time)
    {
        let event = workload.events(1);
        let started = Instant::now();
        driver.feed(event);
        closed.changes += driver.finish(worker) as u64;
        closed.timed_round(1, started.elapsed());
    }
    let closed_loop = closed.series("closed loop, 1 event".into(), closed.busy);
    phase_done("closed loop (and its warm-up)");

    let batch_sweep = schedule
        .batch_sizes
        .iter()
        .map(|&size| batches(worker, driver, workload, size, schedule))
        .collect();
    phase_done("batch sweep");
    let open_loop = schedule
        .rates
        .iter()
        .map(|&rate| open(worker, driver, workload, rate, schedule.open_time))
        .collect();
    phase_done("open loop");
    let model_switches = switches(worker, driver, scored, schedule.switches);
    phase_done("model switches");
    Figures {
        closed_loop,
        batch_sweep,
        open_loop,
        model_switches,
    }
}

/// Switches of the active version of the first model with scores of two versions or
/// more, to each of its versions in turn (the first switch to its second version);
/// latency per switch, until every membership it moves is out.
fn switches(
    worker: &mut Worker,
    driver: &mut Driver,
    scored: &ScoredVersions,
    count: usize,
) -> Option<Series> {
    let pairs = scored.pairs();
    let model = pairs.first()?.0.clone();
    let versions: Vec<Text> = (pairs.iter())
        .filter(|(m, _)| *m == model)
        .map(|(_, v)| v.clone())
        .collect();
    if versions.len() < 2 {
        return None;
    }
    let mut tally = Tally::new();
    for i in 0..count {
        let version = versions[(i + 1) % versions.len()].clone();
        let started = Instant::now();
        driver.switch(model.clone(), version);
        tally.changes += driver.finish(worker) as u64;
        tally.timed_round(1, started.elapsed());
    }
    Some(tally.series(format!("switch of model `{model}`"), tally.busy))
}

/// Batches of `size` events, back to back; latency per batch.
fn batches(
    worker: &mut Worker,
    driver: &mut Driver,
    workload: &mut Workload,
    size: usize,
    schedule: &Schedule,
) -> Series {
    let mut tally = Tally::new();
    while tally.started.elapsed() < schedule.batch_time
        || tally.rounds < schedule.min_batches as u64
    {
        let events = workload.events(size);
        let started = Instant::now();
        driver.feed(events);
        tally.changes += driver.finish(worker) as u64;
        tally.timed_round(size as u64, started.elapsed());
    }
    let mut series = tally.series(format!("batch {size}"), tally.busy);
    series.batch = Some(size);
    series
}

/// Events in one round at most when the open loop has fallen behind: about what one
/// 8 MiB read of a followed file holds, as a live run would take them.
const MAX_ROUND: u64 = 1 << 16;

/// Events arriving at `rate` per second for `duration`; each round takes every event
/// due by then.
fn open(
    worker: &mut Worker,
    driver: &mut Driver,
    workload: &mut Workload,
    rate: f64,
    duration: Duration,
) -> Series {
    let total = (rate * duration.as_secs_f64()).ceil().max(1.0) as u64;
    // Drawn before the clock starts, as arrivals a reading thread has parsed.
    let mut arrivals = workload.events(total as usize).into_iter();
    let mut tally = Tally::new();
    let start = tally.started;
    let scheduled = |i: u64| start + Duration::from_secs_f64(i as f64 / rate);
    let mut sent = 0;
    while sent < total {
        // Events i with i / rate <= elapsed are due.
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        if due <= sent {
            wait_until(scheduled(sent));
            continue;
        }
        let count = (due - sent).min(MAX_ROUND);
        driver.feed(arrivals.by_ref().take(count as usize));
        tally.changes += driver.finish(worker) as u64;
        let done = Instant::now();
        for i in sent..sent + count {
            tally
                .latencies
                .record(done.saturating_duration_since(scheduled(i)));
        }
        sent += count;
        tally.round(count);
    }
    // Over the loop's wall time: below saturation, the offered rate.
    let mut series = tally.series(format!("open loop {}/s", si(rate)), start.elapsed());
    series.offered_per_second = Some(rate);
    series
}

/// Sleeps, then spins for the last stretch: a sleep alone overshoots by tens of
/// microseconds, which would delay arrivals at high rates.
fn wait_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > Duration::from_millis(2) {
            std::thread::sleep(left - Duration::from_millis(1));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// A rate as `10k`, `500k`, `2M`.
pub fn si(value: f64) -> String {
    match value {
        v if v >= 1e6 && (v / 1e6).fract() == 0.0 => format!("{}M", v / 1e6),
        v if v >= 1e3 && (v / 1e3).fract() == 0.0 => format!("{}k", v / 1e3),
        v => format!("{v}"),
    }
}

/// Counts of a loop while it runs.
struct Tally {
    started: Instant,
    /// The time of the rounds timed by [`Tally::timed_round`]: the closed loop and the
    /// batch sweep draw a round's events between rounds, and their throughput is over
    /// the engine's time alone.
    busy: Duration,
    events: u64,
    rounds: u64,
    changes: u64,
    latencies: Latencies,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            started: Instant::now(),
            busy: Duration::ZERO,
            events: 0,
            rounds: 0,
            changes: 0,
            latencies: Latencies::default(),
        }
    }

    fn round(&mut self, events: u64) {
        self.events += events;
        self.rounds += 1;
    }

    /// A round of `events` whose latency is `took`, from handing them to the engine.
    fn timed_round(&mut self, events: u64, took: Duration) {
        self.latencies.record(took);
        self.busy += took;
        self.round(events);
    }

    /// The loop's figures, its throughput over `over`.
    fn series(&self, label: String, over: Duration) -> Series {
        let seconds = over.as_secs_f64();
        Series {
            label,
            batch: None,
            offered_per_second: None,
            events: self.events,
            rounds: self.rounds,
            seconds,
            events_per_second: self.events as f64 / seconds,
            changes: self.changes,
            latency: self.latencies.summary(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_print_short() {
        assert_eq!(si(10_000.0), "10k");
        assert_eq!(si(500_000.0), "500k");
        assert_eq!(si(2_000_000.0), "2M");
        assert_eq!(si(1_500.5), "1500.5");
    }
}
