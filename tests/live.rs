//! The invariant that ties batch and live together, property-tested: for random
//! catalogs, a random backfill and a random live stream (out-of-order and late events,
//! corrections, erasures, users, scores and switches of model versions, clock-only
//! advances), summing the change
//! log up to any time gives exactly what the reference evaluator computes from scratch
//! over the records in effect at that time.
//!
//! When a record takes effect is the documented rule of `segflow::live::frontier`,
//! restated here on its own: at its event time if that is still open, else at the
//! frontier, which follows the watermark and moves one tick past each applied record
//! once every earlier tick is final. Rejected: a retraction of no event present, a
//! switch to a version of which no score was read before.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use common::{catalog_text, dataset};
use proptest::prelude::*;
use segflow::catalog::{self, ir::Catalog};
use segflow::data::{Dataset, EventRow, ModelRow, ScoreRow, UserRow};
use segflow::engine::batch::{BatchInput, OnError};
use segflow::engine::tail::{run_tail, TailOptions};
use segflow::live::changelog::LogFormat;
use segflow::live::frontier::{parse_tick, ClockKind, TICKS_PER_SECOND as T};
use segflow::reference;
use segflow::value::{Text, Value};
use serde_json::{json, Map, Value as Json};

/// One live record as the test generates it.
#[derive(Clone, Debug)]
enum Op {
    Event(EventRow),
    Retract(EventRow),
    User(UserRow),
    Score(ScoreRow),
    Model(ModelRow),
    Delete(String),
    Clock(u64),
}

impl Op {
    fn ts(&self) -> Option<u64> {
        match self {
            Op::Event(e) | Op::Retract(e) => Some(e.ts),
            Op::Score(s) => Some(s.ts),
            Op::Model(m) => Some(m.ts),
            Op::Clock(ts) => Some(*ts),
            Op::User(u) => u.ts,
            Op::Delete(_) => None,
        }
    }

    fn json(&self, catalog: &Catalog) -> String {
        let value = |v: &Value| match v {
            Value::Null => Json::Null,
            Value::Bool(b) => json!(b),
            Value::Number(n) => json!(n.to_string()),
            Value::Float(x) => json!(x.get()),
            Value::Time(t) => json!(t),
            Value::Text(t) => json!(t.as_ref()),
        };
        let mut object = Map::new();
        let event = |kind: &str, e: &EventRow, object: &mut Map<String, Json>| {
            object.insert("type".into(), json!(kind));
            object.insert("user_id".into(), json!(e.user_id));
            object.insert("ts".into(), json!(e.ts));
            object.insert("kind".into(), json!(e.kind.as_ref()));
            if let Some(id) = &e.event_id {
                object.insert("event_id".into(), json!(id.as_ref()));
            }
            for (column, v) in catalog.events.iter().zip(&e.fields) {
                object.insert(column.name.clone(), value(v));
            }
        };
        match self {
            Op::Event(e) => event("event", e, &mut object),
            Op::Retract(e) => event("retract_event", e, &mut object),
            Op::User(u) => {
                object.insert("type".into(), json!("user"));
                object.insert("user_id".into(), json!(u.user_id));
                if let Some(ts) = u.ts {
                    object.insert("ts".into(), json!(ts));
                }
                for (column, v) in catalog.users.iter().zip(&u.attrs) {
                    object.insert(column.name.clone(), value(v));
                }
            }
            Op::Score(s) => {
                object.insert("type".into(), json!("score"));
                object.insert("user_id".into(), json!(s.user_id));
                object.insert("model".into(), json!(s.model.as_ref()));
                object.insert("ts".into(), json!(s.ts));
                object.insert("score".into(), json!(s.score.to_string()));
                if let Some(version) = &s.version {
                    object.insert("version".into(), json!(version.as_ref()));
                }
            }
            Op::Model(m) => {
                object.insert("type".into(), json!("model"));
                object.insert("model".into(), json!(m.model.as_ref()));
                object.insert("version".into(), json!(m.version.as_ref()));
                object.insert("ts".into(), json!(m.ts));
            }
            Op::Delete(id) => {
                object.insert("type".into(), json!("delete_user"));
                object.insert("user_id".into(), json!(id));
            }
            Op::Clock(ts) => {
                object.insert("type".into(), json!("clock"));
                object.insert("ts".into(), json!(ts));
            }
        }
        Json::Object(object).to_string()
    }
}

/// A live stream: events, scores and users drawn from a second random dataset and
/// shifted in time, interleaved with corrections of earlier events (or of events that
/// never happened), erasures and clock records.
fn stream(
    backfill: &Dataset,
    pool: &Dataset,
    kinds: &[u8],
    picks: &[usize],
    shift: u64,
) -> Vec<Op> {
    let mut events: Vec<EventRow> = backfill.events.clone();
    let (mut next_event, mut next_user, mut next_score, mut next_model) = (0, 0, 0, 0);
    let mut ops = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        let pick = picks[i % picks.len()];
        let op = match kind {
            0..=2 if next_event < pool.events.len() => {
                let mut event = pool.events[next_event].clone();
                next_event += 1;
                event.ts += shift;
                events.push(event.clone());
                Op::Event(event)
            }
            3 if !events.is_empty() => Op::Retract(events[pick % events.len()].clone()),
            4 if !pool.events.is_empty() => {
                Op::Retract(pool.events[pick % pool.events.len()].clone())
            }
            5 if next_user < pool.users.len() => {
                next_user += 1;
                Op::User(pool.users[next_user - 1].clone())
            }
            6 if next_score < pool.scores.len() => {
                let mut score = pool.scores[next_score].clone();
                next_score += 1;
                score.ts += shift;
                Op::Score(score)
            }
            7 => Op::Delete(format!("u{:02}", pick % 10)),
            8 if next_model < pool.models.len() => {
                let mut model = pool.models[next_model].clone();
                next_model += 1;
                model.ts += shift;
                Op::Model(model)
            }
            _ => Op::Clock(pick as u64 % 130),
        };
        ops.push(op);
    }
    ops
}

/// Where each op takes effect (`None`: rejected), by the rule in the module docs.
fn effect_ticks(ops: &[Op], backfill: &Dataset, lateness: u64) -> (Vec<Option<u64>>, u64) {
    let start = backfill.max_ts().unwrap_or(0);
    let (mut now, mut max_ts) = ((start + 1) * T, start);
    let mut present: BTreeMap<String, Vec<EventRow>> = BTreeMap::new();
    for e in &backfill.events {
        present
            .entry(e.user_id.clone())
            .or_default()
            .push(e.clone());
    }
    // A switch must name a version of which a score was read before it.
    let mut scored: BTreeSet<(Text, Text)> = backfill
        .scores
        .iter()
        .filter_map(|s| Some((s.model.clone(), s.version.clone()?)))
        .collect();
    let mut ticks = Vec::new();
    for op in ops {
        match op {
            Op::Clock(ts) => {
                max_ts = max_ts.max(*ts);
                now = now.max(max_ts.saturating_sub(lateness) * T);
                ticks.push(None);
                continue;
            }
            Op::Retract(e) => {
                let mine = present.entry(e.user_id.clone()).or_default();
                match mine.iter().position(|x| x == e) {
                    Some(i) => {
                        mine.remove(i);
                    }
                    None => {
                        ticks.push(None);
                        continue;
                    }
                }
            }
            Op::Event(e) => present
                .entry(e.user_id.clone())
                .or_default()
                .push(e.clone()),
            Op::Delete(id) => {
                present.remove(id);
            }
            Op::Score(s) => {
                if let Some(version) = &s.version {
                    scored.insert((s.model.clone(), version.clone()));
                }
            }
            Op::Model(m) => {
                if !scored.contains(&(m.model.clone(), m.version.clone())) {
                    ticks.push(None);
                    continue;
                }
            }
            Op::User(_) => {}
        }
        let at = op.ts().map_or(now, |ts| (ts * T).max(now));
        ticks.push(Some(at));
        if let Some(ts) = op.ts() {
            max_ts = max_ts.max(ts);
            now = now.max(max_ts.saturating_sub(lateness) * T);
        }
        if now == at && (at + 1) % T != 0 {
            now = at + 1;
        }
    }
    (ticks, now)
}

/// The records in effect at `tick`, as a dataset for the reference evaluator.
fn visible(backfill: &Dataset, ops: &[Op], ticks: &[Option<u64>], tick: u64) -> Dataset {
    let mut data = backfill.clone();
    for (op, at) in ops.iter().zip(ticks) {
        if !at.is_some_and(|at| at <= tick) {
            continue;
        }
        match op {
            Op::Event(e) => data.events.push(e.clone()),
            Op::Retract(e) => {
                let i = data
                    .events
                    .iter()
                    .position(|x| x == e)
                    .expect("checked on arrival");
                data.events.remove(i);
            }
            // A row without a time of its own is as of its application.
            Op::User(u) => data.users.push(UserRow {
                ts: u.ts.or(at.map(|at| at / T)),
                ..u.clone()
            }),
            Op::Score(s) => data.scores.push(s.clone()),
            Op::Model(m) => data.models.push(m.clone()),
            Op::Delete(id) => {
                data.events.retain(|e| &e.user_id != id);
                data.users.retain(|u| &u.user_id != id);
                data.scores.retain(|s| &s.user_id != id);
            }
            Op::Clock(_) => {}
        }
    }
    data
}

/// The change log's records: `(tick, segment, user, diff)`, and its last progress.
fn read_log(path: &std::path::Path) -> (Vec<(u64, String, String, i64)>, u64) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut changes = Vec::new();
    let mut progress = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# progress ") {
            progress = parse_tick(rest.split(' ').next().unwrap()).unwrap();
        } else if !line.starts_with('#') && line != "time,segment,user_id,diff" {
            let fields: Vec<&str> = line.split(',').collect();
            changes.push((
                parse_tick(fields[0]).unwrap(),
                fields[1].to_string(),
                fields[2].to_string(),
                fields[3].parse().unwrap(),
            ));
        }
    }
    (changes, progress)
}

fn run(
    catalog: &Catalog,
    backfill: &Dataset,
    ops: &[Op],
    lateness: u64,
    workers: usize,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    std::fs::create_dir(&live).unwrap();
    // Two files, read in name order: the stream is their concatenation.
    let half = ops.len() / 2;
    for (name, part) in [("a.jsonl", &ops[..half]), ("b.jsonl", &ops[half..])] {
        let text: String = part.iter().map(|op| op.json(catalog) + "\n").collect();
        std::fs::write(live.join(name), text).unwrap();
    }
    let options = TailOptions {
        follow: live,
        changes: dir.path().join("changes.csv"),
        format: LogFormat::Csv,
        rejects: dir.path().join("rejects.csv"),
        clock: ClockKind::Event,
        lateness,
        on_error: OnError::Stop,
        once: true,
        poll_interval: Duration::from_millis(1),
        status_every: None,
        stop: Arc::new(AtomicBool::new(false)),
        progress: None,
        publish: None,
        serving: false,
        sources: Vec::new(),
    };
    let input: Arc<dyn BatchInput> = Arc::new(backfill.clone());
    run_tail(
        catalog,
        Some(input),
        options,
        timely::Config::process(workers),
    )
    .unwrap();
    dir
}

/// Which times `check` compares, besides every tick that changed something and every
/// op's tick.
enum Checks {
    /// The end of every second.
    EverySecond,
    /// Each second of `phases` (modulo a day), just before it starts and at its start:
    /// where a `days_since` of those times moves.
    DayBoundaries(BTreeSet<u64>),
}

fn check(
    text: &str,
    backfill: Dataset,
    ops: Vec<Op>,
    lateness: u64,
    workers: usize,
) -> Result<(), TestCaseError> {
    check_at(text, backfill, ops, lateness, workers, Checks::EverySecond)
}

fn check_at(
    text: &str,
    backfill: Dataset,
    ops: Vec<Op>,
    lateness: u64,
    workers: usize,
    at: Checks,
) -> Result<(), TestCaseError> {
    let catalog = catalog::check_sources(&[("random.seg", text)]).unwrap();
    let dir = run(&catalog, &backfill, &ops, lateness, workers);
    let (changes, progress) = read_log(&dir.path().join("changes.csv"));
    let (ticks, frontier) = effect_ticks(&ops, &backfill, lateness);
    prop_assert_eq!(progress, frontier, "final progress");

    // In time order, consolidated per time.
    let keys: Vec<_> = changes
        .iter()
        .map(|(t, s, u, _)| (*t, s.clone(), u.clone()))
        .collect();
    prop_assert!(keys.windows(2).all(|w| w[0].0 <= w[1].0), "time order");
    prop_assert_eq!(
        keys.iter().collect::<BTreeSet<_>>().len(),
        keys.len(),
        "consolidated"
    );
    prop_assert!(changes.iter().all(|c| c.3 == 1 || c.3 == -1));

    let start = backfill.max_ts().unwrap_or(0);
    let mut checks: BTreeSet<u64> = changes.iter().map(|c| c.0).collect();
    match at {
        Checks::EverySecond => checks.extend((start..frontier / T).map(|s| (s + 1) * T - 1)),
        Checks::DayBoundaries(phases) => {
            for phase in phases {
                let first = start - start % DAY + phase;
                for second in (first..frontier / T + 1).step_by(DAY as usize) {
                    checks.extend([(second * T).saturating_sub(1), second * T]);
                }
            }
        }
    }
    checks.extend(ticks.iter().flatten().copied());
    for tick in checks
        .into_iter()
        .filter(|t| *t < frontier && *t >= start * T)
    {
        let data = visible(&backfill, &ops, &ticks, tick);
        let expected = reference::evaluate(&catalog, &data, tick / T);
        let mut summed: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for (_, segment, user, diff) in changes.iter().filter(|c| c.0 <= tick) {
            *summed
                .entry(segment.clone())
                .or_default()
                .entry(user.clone())
                .or_default() += diff;
        }
        let actual: BTreeMap<String, BTreeSet<String>> = catalog
            .segments
            .iter()
            .map(|s| {
                let members = summed.get(&s.name).into_iter().flatten();
                let members = members.filter(|(_, n)| **n > 0).map(|(u, _)| u.clone());
                (s.name.clone(), members.collect())
            })
            .collect();
        prop_assert!(
            summed.values().flatten().all(|(_, n)| *n == 0 || *n == 1),
            "a membership summed to more than one at tick {}",
            tick
        );
        prop_assert_eq!(
            actual,
            expected,
            "at tick {} (second {})\ncatalog:\n{}\nops: {:#?}",
            tick,
            tick / T,
            text,
            ops
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn summed_change_log_equals_reference_at_every_time(
        text in catalog_text(),
        backfill in dataset(),
        pool in dataset(),
        kinds in prop::collection::vec(0..10u8, 0..30),
        picks in prop::collection::vec(0..1000usize, 1..30),
        shift in 0..40u64,
        lateness in prop::sample::select(&[0u64, 3, 10][..]),
        workers in prop::sample::select(&[1usize, 4][..]),
    ) {
        let ops = stream(&backfill, &pool, &kinds, &picks, shift);
        check(&text, backfill, ops, lateness, workers)?;
    }
}

/// Segments that move with the days since users' times, with no input at all.
const DAYS_CATALOG: &str = "\
schema users(country: text, signup_ts: time, vip: bool, age: number)
schema events(amount: number, category: text)
feature last_seen = max(events.ts)
model lapse = days_since(last_seen) - 2 * count(events where kind = 'buy')
segment quiet = days_since(last_seen) >= 2
segment new_users = days_since(users.signup_ts) < 3 and days_since(min(events.ts)) >= 1
segment lapsing = lapse > 1
";

/// Seconds in a day.
const DAY: u64 = 86_400;

/// Stretches a dataset's times (events, signups, scores, switches) over days, to odd
/// seconds of the day.
fn stretched(mut data: Dataset) -> Dataset {
    let stretch = |ts: u64| ts * STRETCH;
    for event in &mut data.events {
        event.ts = stretch(event.ts);
    }
    for user in &mut data.users {
        user.ts = user.ts.map(stretch);
        if let Value::Time(signup) = &mut user.attrs[1] {
            *signup *= STRETCH as i64;
        }
    }
    for score in &mut data.scores {
        score.ts = stretch(score.ts);
    }
    for model in &mut data.models {
        model.ts = stretch(model.ts);
    }
    data
}

/// How far apart `stretched` puts consecutive seconds: a little over seven hours.
const STRETCH: u64 = 7 * 3600 + 13;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Live runs over weeks: `days_since` moves memberships at day boundaries, checked
    /// against the reference just before and at each boundary of every time in the data.
    #[test]
    fn days_since_moves_memberships_at_day_boundaries(
        backfill in dataset(),
        pool in dataset(),
        kinds in prop::collection::vec(0..10u8, 0..20),
        picks in prop::collection::vec(0..1000usize, 1..20),
        shift in 0..40u64,
        workers in prop::sample::select(&[1usize, 3][..]),
    ) {
        let (backfill, pool) = (stretched(backfill), stretched(pool));
        let mut ops = stream(&backfill, &pool, &kinds, &picks, shift * STRETCH);
        // Then the clock runs on for a few days.
        let last = ops.iter().filter_map(Op::ts).chain(backfill.max_ts()).max().unwrap_or(0);
        ops.push(Op::Clock(last + 4 * DAY));
        let mut phases = BTreeSet::new();
        let times = (backfill.events.iter()).chain(&pool.events).map(|e| e.ts as i64);
        let signups = (backfill.users.iter()).chain(&pool.users).filter_map(|u| match u.attrs[1] {
            Value::Time(signup) => Some(signup),
            _ => None,
        });
        for time in times.chain(signups) {
            phases.insert(time.rem_euclid(DAY as i64) as u64);
        }
        check_at(DAYS_CATALOG, backfill, ops, 0, workers, Checks::DayBoundaries(phases))?;
    }
}
