//! The in-process update path: the parts of a live run, driven by worker 0.
//!
//! Every worker builds the live run's dataflow (ticks of
//! [`TICKS_PER_SECOND`](crate::live::frontier::TICKS_PER_SECOND)) and loads its part of
//! the backfill with [`backfill_then_serve`]; the other workers then work on their share
//! until worker 0 stops them ([`Control`]), exactly as in `segflow tail`. Worker 0
//! applies updates through a [`Driver`], in rounds shaped like the live run's: each
//! event takes effect at the frontier's tick, the frontier moves past it, and the
//! worker steps until the probe passes the frontier and takes the membership changes
//! that reached it. What the file path adds to that (reading and parsing lines,
//! writing the change log) is measured separately, by the tail section.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::catalog::ir::Catalog;
use crate::data::EventRow;
use crate::dataflow::Ids;
use crate::engine::backfill::{backfill_then_serve, BackfillError};
use crate::engine::batch::{BatchInput, OnError};
use crate::engine::cluster::{execute, Workers};
use crate::engine::control::Control;
use crate::engine::profile::OperatorProfile;
use crate::engine::segmentation::InputsKept;
use crate::plan::Plan;

use super::driver::Driver;
use super::loops::{self, Schedule, Series};
use super::measure::peak_rss;
use super::workload::Workload;

/// The backfill as the live run loads it.
#[derive(Clone, Debug, Serialize)]
pub struct Backfill {
    /// The backfill's time (its greatest `ts`).
    pub time: u64,
    pub rows: u64,
    /// Until every row was parsed and fed (the dataflow working meanwhile).
    pub load_seconds: f64,
    /// From then until the frontier passed the backfill's time.
    pub complete_seconds: f64,
    pub seconds: f64,
    /// Memberships output when the backfill completed.
    pub memberships: u64,
    /// The process's peak resident memory once the backfill completed.
    pub peak_rss_bytes: Option<u64>,
}

/// What the engine section measured.
#[derive(Clone, Debug, Serialize)]
pub struct EngineFigures {
    pub backfill: Backfill,
    pub closed_loop: Series,
    pub batch_sweep: Vec<Series>,
    pub open_loop: Vec<Series>,
    pub model_switches: Option<Series>,
}

/// Seed of the updates' draws: every run applies the same sequence.
const SEED: u64 = 0x5e9f;

/// Loads `input` on `workers` and runs `schedule` through the live update path. The
/// figures come back on the process of worker 0 (`None` on the others).
pub fn measure(
    catalog: &Catalog,
    input: Arc<dyn BatchInput>,
    templates: Arc<Vec<EventRow>>,
    schedule: Schedule,
    workers: Workers,
) -> anyhow::Result<Option<EngineFigures>> {
    let plan = Arc::new(Plan::new(catalog));
    let outcomes = execute(workers, move |worker| {
        let started = Instant::now();
        let profile = OperatorProfile::install(worker);
        let mut control = Control::build(worker);
        let backfilled = backfill_then_serve(
            worker,
            &mut control,
            &plan,
            Some(&*input),
            OnError::Stop,
            None,
            Ids::Omitted,
            InputsKept::No,
        )?;
        let Some((segmentation, loaded)) = backfilled else {
            return Ok::<_, BackfillError>(None);
        };
        let fed = started.elapsed();
        let time = loaded.time.unwrap_or(0);
        let mut driver = Driver::new(segmentation, time);
        let memberships = driver.finish(worker) as u64;
        let seconds = started.elapsed();
        let backfill = Backfill {
            time,
            rows: loaded.rows,
            load_seconds: fed.as_secs_f64(),
            complete_seconds: (seconds - fed).as_secs_f64(),
            seconds: seconds.as_secs_f64(),
            memberships,
            peak_rss_bytes: peak_rss(),
        };
        let mut workload = Workload::new(templates.clone(), SEED);
        if let Some(profile) = &profile {
            profile.reset();
        }
        let figures = loops::run(
            worker,
            &mut driver,
            &mut workload,
            &schedule,
            &loaded.scored,
            profile.as_ref(),
        );
        control.stop(worker);
        Ok(Some(EngineFigures {
            backfill,
            closed_loop: figures.closed_loop,
            batch_sweep: figures.batch_sweep,
            open_loop: figures.open_loop,
            model_switches: figures.model_switches,
        }))
    })?;
    let mut figures = None;
    for outcome in outcomes {
        figures = figures.or(outcome?);
    }
    Ok(figures)
}
