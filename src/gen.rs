//! `segflow gen`: deterministic synthetic `users.csv`, `events.csv` and `scores.csv`.
//!
//! The data is shaped to exercise what the engine has to get right, not to look uniform:
//! - heavy-tailed activity (Pareto weights: a few very heavy users, many light ones), so
//!   skewed keys and big per-user state show up in benchmarks;
//! - users with no events (~10% of `users.csv`) and users known only from events (~1% of
//!   the ids in `events.csv`), so the universe is not just `users.csv`;
//! - empty `country` cells (~3%), so missing-value semantics are exercised;
//! - activity that stops: about a quarter of the users with events go quiet at least 90
//!   days before the end, others sign up or start late, so `within` windows and `lapsed`-style segments have members;
//! - evening-heavy daily cycles, rows only roughly sorted by time (an arrival delay of up to
//!   15 minutes interleaves them) and ~0.1% exact duplicate rows, as in real exports
//!   (with [`GenOptions::event_ids`], an `event_id` column: a duplicate row keeps its
//!   original's id, so deduplication sets it aside);
//! - churn scores rescored several times (the latest `ts` wins) and `ltv_pred` scores;
//!   with [`GenOptions::model_versions`], the churn rows are version `v1`, every
//!   churn-scored user also gets a `v2` score on the last scoring day, and `models.csv`
//!   makes `v1` active from the start and `v2` from that day on.
//!
//! Determinism: every random choice comes from one [`ChaCha8Rng`] seeded from
//! [`GenOptions::seed`] and consumed in a fixed order, and is mapped to values with integer
//! arithmetic and correctly rounded IEEE operations only (`+ - * /`, `sqrt`): no `ln`, `exp`
//! or `powf` from the platform's libm, whose last bits differ between systems. The same
//! options therefore give byte-identical files everywhere. `users.csv` and `scores.csv` do
//! not depend on how many events there are (as long as there are some), so more events
//! keep the same users.
//!
//! Memory: one small record per user id; events are generated a week at a time, sorted and
//! written, so only one week of events is held at once.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::io::staging::Staged;

/// 2026-01-01T00:00:00Z: the default end of the data, fixed so that data generated on
/// different days is the same.
pub const DEFAULT_END_TS: u64 = 1_767_225_600;

const DAY: u64 = 86_400;
const HOUR: u64 = 3_600;

/// Upper bound of [`GenOptions::days`]: a century keeps all day arithmetic small.
const MAX_DAYS: u32 = 36_500;
/// Upper bound of [`GenOptions::users`], far above what fits in memory, so that id
/// arithmetic cannot overflow.
const MAX_USERS: u64 = 1 << 40;
/// Days of events generated, sorted and written together; bounds memory to about
/// `events * CHUNK_DAYS / days` buffered events.
const CHUNK_DAYS: u32 = 7;
/// Lapsed users have no event in this many final days.
const QUIET_DAYS: u32 = 90;

/// Share of `users.csv` users that never have events.
const NO_EVENTS: f64 = 0.10;
/// One user id appears only in `events.csv` per this many rows of `users.csv`.
const EVENTS_ONLY_PER_USER: u64 = 100;
/// Share of users whose activity starts some time after their signup.
const LATE_START: f64 = 0.15;
/// Share of users active before the last [`QUIET_DAYS`] who go quiet before them.
const LAPSES: f64 = 0.30;
/// Chance that an event repeats the same user's previous event of the same week exactly:
/// ~0.1% of all rows, since an event without such a predecessor cannot repeat.
const DUPLICATE: f64 = 0.0024;
/// Chance that a non-login event is in the user's favourite category.
const FAVORITE: f64 = 0.40;
/// Rows are written in order of `ts` plus an arrival delay below this, so they are only
/// roughly ordered by event time.
const MAX_DELAY: u64 = 900;

/// Share of users with a `churn` score.
const CHURN_SCORED: f64 = 0.60;
/// Share of churn-scored users that also have an `ltv_pred` score (30% of all users).
const LTV_SCORED: f64 = 0.50;
/// Scoring runs happen weekly; rows are drawn from the most recent this many runs.
const SCORING_RUNS: u64 = 12;
/// How far a rescoring moves a user's score toward a fresh draw.
const RESCORE_PULL: f64 = 0.4;

/// Purchase and refund amounts are log-normal: `ln` of the median (40.00) and the spread.
const AMOUNT_LN_MEDIAN: f64 = 3.688_879_454_113_936;
const AMOUNT_SIGMA: f64 = 0.9;
/// Amounts are clamped to 5.00..=2000.00, in cents.
const AMOUNT_CENTS: (f64, f64) = (500.0, 200_000.0);

/// Country codes with weights; the empty code is a missing value (~3%).
const COUNTRIES: [(&str, u32); 11] = [
    ("US", 34),
    ("GB", 10),
    ("DE", 9),
    ("IN", 9),
    ("FR", 7),
    ("BR", 7),
    ("CA", 6),
    ("JP", 5),
    ("AU", 4),
    ("MX", 3),
    ("", 3),
];

const PLANS: [(&str, u32); 4] = [("free", 55), ("basic", 25), ("pro", 15), ("enterprise", 5)];

const CATEGORIES: [(&str, u32); 12] = [
    ("shoes", 18),
    ("apparel", 16),
    ("electronics", 12),
    ("home", 10),
    ("beauty", 9),
    ("sports", 8),
    ("books", 7),
    ("toys", 6),
    ("grocery", 5),
    ("jewelry", 4),
    ("garden", 3),
    ("automotive", 2),
];

/// Events per hour of the day (UTC): a night trough and an evening peak.
const HOURS: [(u64, u32); 24] = [
    (0, 30),
    (1, 22),
    (2, 15),
    (3, 10),
    (4, 7),
    (5, 6),
    (6, 6),
    (7, 8),
    (8, 12),
    (9, 18),
    (10, 24),
    (11, 30),
    (12, 36),
    (13, 38),
    (14, 38),
    (15, 40),
    (16, 44),
    (17, 52),
    (18, 62),
    (19, 72),
    (20, 78),
    (21, 74),
    (22, 60),
    (23, 44),
];

/// The `kind` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    View,
    AddToCart,
    Purchase,
    Refund,
    Login,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::View => "view",
            Kind::AddToCart => "add_to_cart",
            Kind::Purchase => "purchase",
            Kind::Refund => "refund",
            Kind::Login => "login",
        }
    }

    /// Only money-moving kinds carry an `amount`.
    fn has_amount(self) -> bool {
        matches!(self, Kind::Purchase | Kind::Refund)
    }
}

type KindMix = [(Kind, u32); 5];

/// Users differ in how often they buy: browsers, regular shoppers and buyers, mixed so
/// that ~12% of all events are purchases and ~1% refunds.
const PROFILES: [(KindMix, u32); 3] = [
    (
        [
            (Kind::View, 700),
            (Kind::AddToCart, 140),
            (Kind::Purchase, 40),
            (Kind::Refund, 3),
            (Kind::Login, 117),
        ],
        35,
    ),
    (
        [
            (Kind::View, 600),
            (Kind::AddToCart, 140),
            (Kind::Purchase, 120),
            (Kind::Refund, 10),
            (Kind::Login, 130),
        ],
        45,
    ),
    (
        [
            (Kind::View, 450),
            (Kind::AddToCart, 150),
            (Kind::Purchase, 250),
            (Kind::Refund, 20),
            (Kind::Login, 130),
        ],
        20,
    ),
];

/// Rows per user and model: 1 to 4 churn scorings, 1 or 2 for `ltv_pred`.
const CHURN_ROWS: [(u64, u32); 4] = [(1, 50), (2, 25), (3, 15), (4, 10)];
const LTV_ROWS: [(u64, u32); 2] = [(1, 80), (2, 20)];

/// What to generate. Build it with [`GenOptions::new`] and adjust fields as needed.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Rows in `users.csv`.
    pub users: u64,
    /// Rows in `events.csv`, duplicates included.
    pub events: u64,
    /// Seed of the random generator: the same options give the same bytes.
    pub seed: u64,
    /// Every event and score `ts` is below this; signups too.
    pub end_ts: u64,
    /// Events and scores span this many days before `end_ts`; signups span twice as many.
    pub days: u32,
    /// Whether `events.csv` has an `event_id` column (`e1`, `e2`, ...; a duplicate row
    /// has its original's id).
    pub event_ids: bool,
    /// Whether scores carry model versions and `models.csv` switches churn from `v1`
    /// to `v2` (see the module docs).
    pub model_versions: bool,
}

impl GenOptions {
    /// `users` users and `events` events over the 365 days before [`DEFAULT_END_TS`].
    pub fn new(users: u64, events: u64, seed: u64) -> Self {
        GenOptions {
            users,
            events,
            seed,
            end_ts: DEFAULT_END_TS,
            days: 365,
            event_ids: false,
            model_versions: false,
        }
    }

    fn check(&self) -> Result<()> {
        if self.users > MAX_USERS {
            bail!("at most {MAX_USERS} users, not {}", self.users);
        }
        if self.days == 0 || self.days > MAX_DAYS {
            bail!("days must be in 1..={MAX_DAYS}, not {}", self.days);
        }
        if self.end_ts < 2 * u64::from(self.days) * DAY {
            bail!(
                "end_ts {} is too early for {} days of signups before it",
                self.end_ts,
                2 * self.days
            );
        }
        Ok(())
    }
}

impl Default for GenOptions {
    /// A small data set: 10,000 users and 100,000 events.
    fn default() -> Self {
        GenOptions::new(10_000, 100_000, 0)
    }
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenSummary {
    /// Rows in `users.csv`, header excluded.
    pub users: u64,
    /// Rows in `events.csv`, header excluded.
    pub events: u64,
    /// Rows in `scores.csv`, header excluded.
    pub scores: u64,
    /// Rows in `models.csv` (none without [`GenOptions::model_versions`]).
    pub models: u64,
    /// Least `ts` over events and scores (0 when there are none).
    pub min_ts: u64,
    /// Greatest `ts` over events and scores (0 when there are none): a batch run's default
    /// `--as-of`.
    pub max_ts: u64,
}

/// Writes users.csv, events.csv, scores.csv into `out` (creating the directory). Each
/// is written beside its place and moved there once all three are complete, so a
/// failure (a full disk) leaves files of an earlier run in `out` as they were.
pub fn generate(options: &GenOptions, out: &Path) -> Result<GenSummary> {
    options.check()?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut users = CsvOut::create(out.join("users.csv"), "user_id,country,signup_ts,plan")?;
    let scores_header = match options.model_versions {
        false => "user_id,model,score,ts",
        true => "user_id,model,score,ts,version",
    };
    let mut scores = CsvOut::create(out.join("scores.csv"), scores_header)?;
    let header = match options.event_ids {
        false => "user_id,ts,kind,amount,category",
        true => "user_id,ts,kind,amount,category,event_id",
    };
    let mut events = CsvOut::create(out.join("events.csv"), header)?;

    let mut gen = Generator::new(options);
    let (mut people, weights) = gen.people(&mut users, &mut scores)?;
    assign_event_counts(&mut people, &weights, options.events);
    drop(weights);
    gen.events(&mut people, &mut events)?;

    let models = match options.model_versions {
        false => None,
        true => Some(gen.models(out)?),
    };
    // Every file is complete before any replaces its namesake in `out`.
    let (users, events, scores) = (users.finish()?, events.finish()?, scores.finish()?);
    let summary = GenSummary {
        users: users.publish()?,
        events: events.publish()?,
        scores: scores.publish()?,
        models: match models {
            Some(models) => models.publish()?,
            None => 0,
        },
        min_ts: gen.ts_range.map_or(0, |r| r.0),
        max_ts: gen.ts_range.map_or(0, |r| r.1),
    };
    debug_assert_eq!(summary.users, options.users);
    debug_assert_eq!(summary.events, options.events);
    Ok(summary)
}

/// What the event pass needs to know about one user id.
struct Person {
    /// Events still to be written.
    events: u64,
    /// Active days `first_day..end_day`, counted from the start of the event span.
    first_day: u32,
    end_day: u32,
    /// Index into [`PROFILES`].
    profile: u8,
    /// Index into [`CATEGORIES`]: the category this user's events lean toward.
    favorite: u8,
}

/// One event row, ordered by arrival time (then by content, so sorting is deterministic).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    arrival: u64,
    ts: u64,
    user: u64,
    kind: Kind,
    category: Option<u8>,
    cents: u32,
    /// The event's id at its source, shared by its duplicates.
    id: u64,
}

struct Generator<'o> {
    options: &'o GenOptions,
    rng: Rng,
    /// Digits of the zero-padded number in a user id.
    width: usize,
    /// `ts` of the first second of the event span.
    span_start: u64,
    /// Least and greatest `ts` of the events and scores written so far.
    ts_range: Option<(u64, u64)>,
    /// Events generated so far, duplicates left out: the next event's id.
    events_made: u64,
}

impl<'o> Generator<'o> {
    fn new(options: &'o GenOptions) -> Self {
        let ids = options.users + events_only_users(options);
        Generator {
            options,
            rng: Rng::new(options.seed),
            width: digits(ids.saturating_sub(1)).max(7),
            span_start: options.end_ts - u64::from(options.days) * DAY,
            ts_range: None,
            events_made: 0,
        }
    }

    fn saw_ts(&mut self, ts: u64) {
        self.ts_range = Some(match self.ts_range {
            None => (ts, ts),
            Some((lo, hi)) => (lo.min(ts), hi.max(ts)),
        });
    }

    /// Decides every user id's attributes, activity span and weight, writing `users.csv`
    /// and `scores.csv` on the way. Returns the people and their activity weights.
    fn people(
        &mut self,
        users: &mut CsvOut,
        scores: &mut CsvOut,
    ) -> Result<(Vec<Person>, Vec<f64>)> {
        let days = self.options.days;
        let quiet_from = days.saturating_sub(QUIET_DAYS);
        let signup_days = 2 * u64::from(days);
        let signup_start = self.options.end_ts - signup_days * DAY;
        let events_only = events_only_users(self.options);
        let ids = self.options.users + events_only;
        let capacity = usize::try_from(ids).context("too many users for this machine")?;
        let mut people = Vec::with_capacity(capacity);
        let mut weights = Vec::with_capacity(capacity);
        let mut events_only_left = events_only;
        for id in 0..ids {
            // Selection sampling (Knuth's algorithm S): exactly `events_only` ids, spread
            // at random over the id space, are missing from users.csv.
            let in_users = self.rng.below(ids - id) >= events_only_left;
            events_only_left -= u64::from(!in_users);

            // Signups grow over time: an age of 2·days·u^1.5 favours recent days.
            let u = self.rng.unit();
            let age = ((signup_days as f64 * u * u.sqrt()) as u64).min(signup_days - 1);
            let signup_day = signup_days - 1 - age;
            let signup_ts = signup_start + signup_day * DAY + self.rng.below(DAY);

            // Activity starts the day after signup (event days start `days` signup days in).
            let mut first_day = (signup_day + 1).saturating_sub(u64::from(days)) as u32;
            if first_day < days && self.rng.chance(LATE_START) {
                first_day += self.rng.below(u64::from(days - first_day)) as u32;
            }
            if !in_users {
                // Known only from events: they must have some.
                first_day = first_day.min(days - 1);
            }
            let lapsed = first_day < quiet_from && self.rng.chance(LAPSES);
            let end_day = if lapsed {
                first_day + 1 + self.rng.below(u64::from(quiet_from - first_day)) as u32
            } else {
                days
            };
            let silent = first_day >= days || (in_users && self.rng.chance(NO_EVENTS));
            // Pareto weight with α = 4/3: u^(-3/4), from square roots only. The top 1% of
            // weights hold about 0.01^(1 - 1/α) ≈ 30% of the total.
            let u = 1.0 - self.rng.unit();
            let weight = if silent {
                0.0
            } else {
                1.0 / (u.sqrt() * u.sqrt().sqrt())
            };
            let profile = self.rng.pick(&PROFILES) as u8;
            let favorite = self.rng.pick(&CATEGORIES) as u8;

            if in_users {
                users.id(b'u', id, self.width);
                users.text(COUNTRIES[self.rng.pick(&COUNTRIES)].0);
                users.num(signup_ts);
                users.text(PLANS[self.rng.pick(&PLANS)].0);
                users.end_row()?;
                self.scores(scores, id, lapsed, weight)?;
            }
            people.push(Person {
                events: 0,
                first_day,
                end_day,
                profile,
                favorite,
            });
            weights.push(weight);
        }
        Ok((people, weights))
    }

    /// Scores for one user: churn is higher for users who lapse (~15% end above 0.7 in
    /// all), `ltv_pred` grows with the user's activity weight.
    fn scores(&mut self, out: &mut CsvOut, id: u64, lapsed: bool, weight: f64) -> Result<()> {
        if !self.rng.chance(CHURN_SCORED) {
            return Ok(());
        }
        let rows = CHURN_ROWS[self.rng.pick(&CHURN_ROWS)].0;
        let churn = move |rng: &mut Rng| {
            let u = rng.unit();
            if lapsed {
                0.3 + 0.7 * u
            } else {
                0.01 + 0.99 * u * u * u
            }
        };
        self.score_rows(out, id, "churn", rows, churn)?;
        if self.options.model_versions {
            // The new model scores every user once, on the last scoring day, an hour
            // after the old one's run.
            let value = churn(&mut self.rng);
            let ts = self.last_scoring_day() + 3 * HOUR + self.rng.below(HOUR);
            self.score_row(out, id, "churn", value, ts, "v2")?;
        }
        if self.rng.chance(LTV_SCORED) {
            let rows = LTV_ROWS[self.rng.pick(&LTV_ROWS)].0;
            let level = (weight + 0.5) / (weight + 8.5);
            self.score_rows(out, id, "ltv_pred", rows, |rng| {
                level * (0.5 + 0.5 * rng.unit())
            })?;
        }
        Ok(())
    }

    /// The start of the last day with a scoring run.
    fn last_scoring_day(&self) -> u64 {
        self.span_start + (u64::from(self.options.days) - 1) * DAY
    }

    /// `models.csv`: churn `v1` active from the start, `v2` from the last scoring day
    /// on, after its scores.
    fn models(&mut self, out: &Path) -> Result<Written> {
        let mut models = CsvOut::create(out.join("models.csv"), "model,version,ts")?;
        let switch = self.last_scoring_day() + 5 * HOUR;
        for (version, ts) in [("v1", self.span_start), ("v2", switch)] {
            models.text("churn");
            models.text(version);
            models.num(ts);
            models.end_row()?;
            self.saw_ts(ts);
        }
        models.finish()
    }

    /// One score row (with its version cell when the options ask for versions).
    fn score_row(
        &mut self,
        out: &mut CsvOut,
        id: u64,
        model: &str,
        value: f64,
        ts: u64,
        version: &str,
    ) -> Result<()> {
        out.id(b'u', id, self.width);
        out.text(model);
        out.fixed((value.clamp(0.0, 1.0) * 10_000.0).round() as u64, 4);
        out.num(ts);
        if self.options.model_versions {
            out.text(version);
        }
        out.end_row()?;
        self.saw_ts(ts);
        Ok(())
    }

    /// `rows` rescorings of one user by `model`, in distinct weekly runs (02:00–03:00 UTC),
    /// written oldest first. Each rescoring moves part way toward a fresh `draw` (in
    /// `[0, 1]`), so scores stay correlated over time yet the latest one matters.
    fn score_rows(
        &mut self,
        out: &mut CsvOut,
        id: u64,
        model: &str,
        rows: u64,
        draw: impl Fn(&mut Rng) -> f64,
    ) -> Result<()> {
        let days = u64::from(self.options.days);
        let runs = SCORING_RUNS.min((days - 1) / 7 + 1);
        let rows = rows.min(runs);
        let mut chosen = 0u64;
        while u64::from(chosen.count_ones()) < rows {
            chosen |= 1 << self.rng.below(runs);
        }
        let mut score = None;
        for run in (0..runs).rev().filter(|run| chosen & (1 << run) != 0) {
            let fresh = draw(&mut self.rng);
            let value = score.map_or(fresh, |old| old + RESCORE_PULL * (fresh - old));
            score = Some(value);
            let ts = self.span_start + (days - 1 - 7 * run) * DAY + 2 * HOUR + self.rng.below(HOUR);
            let version = if model == "churn" { "v1" } else { "" };
            self.score_row(out, id, model, value, ts, version)?;
        }
        Ok(())
    }

    /// Writes every person's events a chunk of days at a time, each chunk sorted by
    /// arrival.
    fn events(&mut self, people: &mut [Person], out: &mut CsvOut) -> Result<()> {
        let days = self.options.days;
        let mut batch = Vec::new();
        let mut start = 0;
        while start < days {
            let end = (start + CHUNK_DAYS).min(days);
            batch.clear();
            for (user, person) in (0u64..).zip(people.iter_mut()) {
                if person.events == 0 || person.end_day <= start || person.first_day >= end {
                    continue;
                }
                let lo = person.first_day.max(start);
                let hi = person.end_day.min(end);
                let here = if hi == person.end_day {
                    person.events
                } else {
                    // Randomised rounding of this chunk's share of the remaining active
                    // days: uniform over the active span, and exact in total.
                    let share =
                        person.events as f64 * f64::from(hi - lo) / f64::from(person.end_day - lo);
                    ((share + self.rng.unit()) as u64).min(person.events)
                };
                person.events -= here;
                self.person_events(user, person, lo, hi, here, &mut batch);
            }
            batch.sort_unstable();
            for event in &batch {
                out.id(b'u', event.user, self.width);
                out.num(event.ts);
                out.text(event.kind.name());
                if event.kind.has_amount() {
                    out.fixed(u64::from(event.cents), 2);
                } else {
                    out.text("");
                }
                out.text(event.category.map_or("", |c| CATEGORIES[usize::from(c)].0));
                if self.options.event_ids {
                    out.id(b'e', event.id, 1);
                }
                out.end_row()?;
                self.saw_ts(event.ts);
            }
            start = end;
        }
        Ok(())
    }

    /// `n` events of one person on days `lo..hi`.
    fn person_events(
        &mut self,
        user: u64,
        person: &Person,
        lo: u32,
        hi: u32,
        n: u64,
        batch: &mut Vec<Event>,
    ) {
        let mix = &PROFILES[usize::from(person.profile)].0;
        for i in 0..n {
            if i > 0 && self.rng.chance(DUPLICATE) {
                if let Some(&previous) = batch.last() {
                    // Delivered twice: same row, arriving at another time.
                    let arrival = previous.ts + self.rng.below(MAX_DELAY);
                    batch.push(Event {
                        arrival,
                        ..previous
                    });
                    continue;
                }
            }
            let day = u64::from(lo) + self.rng.below(u64::from(hi - lo));
            let hour = HOURS[self.rng.pick(&HOURS)].0;
            let ts = self.span_start + day * DAY + hour * HOUR + self.rng.below(HOUR);
            let kind = mix[self.rng.pick(mix)].0;
            let category = if kind == Kind::Login {
                None
            } else if self.rng.chance(FAVORITE) {
                Some(person.favorite)
            } else {
                Some(self.rng.pick(&CATEGORIES) as u8)
            };
            let cents = if kind.has_amount() {
                self.amount_cents()
            } else {
                0
            };
            let arrival = ts + self.rng.below(MAX_DELAY);
            self.events_made += 1;
            batch.push(Event {
                arrival,
                ts,
                user,
                kind,
                category,
                cents,
                id: self.events_made,
            });
        }
    }

    /// A log-normal amount in cents. The normal deviate is an Irwin–Hall sum of 12
    /// uniforms (mean 0, variance 1, bounded by ±6), which needs no `ln`.
    fn amount_cents(&mut self) -> u32 {
        let z = (0..12).map(|_| self.rng.unit()).sum::<f64>() - 6.0;
        let amount = exp(AMOUNT_LN_MEDIAN + AMOUNT_SIGMA * z);
        (amount * 100.0)
            .round()
            .clamp(AMOUNT_CENTS.0, AMOUNT_CENTS.1) as u32
    }
}

/// Ids that appear only in `events.csv`: ~1% of the event users, and at least one when
/// there are events so that even a data set without users can hold them.
fn events_only_users(options: &GenOptions) -> u64 {
    if options.events == 0 {
        0
    } else {
        (options.users / EVENTS_ONLY_PER_USER).max(1)
    }
}

/// Splits `events` over the people in proportion to their weights, exactly: each active
/// person (weight > 0) gets one event if there are enough to go round, and the rest go by
/// the floors of the cumulative weight share, which never overshoot and end at the total.
fn assign_event_counts(people: &mut [Person], weights: &[f64], events: u64) {
    let active = weights.iter().filter(|&&w| w > 0.0).count() as u64;
    let Some(last) = weights.iter().rposition(|&w| w > 0.0) else {
        return;
    };
    let base = u64::from(events >= active);
    let extra = events - base * active;
    let total: f64 = weights.iter().sum();
    let mut cumulative = 0.0;
    let mut given = 0;
    for (i, (person, &weight)) in people.iter_mut().zip(weights).enumerate() {
        if weight == 0.0 {
            continue;
        }
        cumulative += weight;
        let target = if i == last {
            extra
        } else {
            ((extra as f64 * cumulative / total) as u64).min(extra)
        };
        person.events = base + target - given;
        given = target;
    }
}

/// `e^x` from basic arithmetic only (range reduction by powers of two, then a Taylor
/// series), because `f64::exp` comes from the platform's libm and its last bit differs
/// between systems, which could change a rounded amount. Valid for |x| < 700.
fn exp(x: f64) -> f64 {
    let k = (x * std::f64::consts::LOG2_E).round();
    let r = x - k * std::f64::consts::LN_2;
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..=16 {
        term *= r / f64::from(i);
        sum += term;
    }
    sum * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// Decimal digits of `n`.
fn digits(mut n: u64) -> usize {
    let mut count = 1;
    while n >= 10 {
        n /= 10;
        count += 1;
    }
    count
}

/// The random source. Values are mapped from raw 64-bit outputs here rather than by
/// `rand`'s distributions so that the bytes depend only on the ChaCha8 stream.
struct Rng(ChaCha8Rng);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in `0..n` for `n > 0`, by multiply-shift (bias below `n / 2^64`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.0.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An index into `table`, with probability proportional to its weight.
    fn pick<T>(&mut self, table: &[(T, u32)]) -> usize {
        let total = table.iter().map(|&(_, w)| u64::from(w)).sum();
        let mut r = self.below(total);
        for (i, &(_, w)) in table.iter().enumerate() {
            let w = u64::from(w);
            if r < w {
                return i;
            }
            r -= w;
        }
        unreachable!("r < total weight")
    }
}

/// A CSV file written through one reusable byte buffer. Fields are formatted by hand,
/// which is several times faster than `write!`; no value needs quoting (none holds a
/// comma, quote or newline).
struct CsvOut {
    path: PathBuf,
    /// Where the file is written until it is complete.
    staged: Staged,
    file: File,
    buf: Vec<u8>,
    /// Whether the next field starts a row (so gets no comma before it).
    row_start: bool,
    rows: u64,
}

/// The buffer is written out when it grows past this.
const FLUSH_AT: usize = 1 << 20;

impl CsvOut {
    fn create(path: PathBuf, header: &str) -> Result<Self> {
        let staged = Staged::beside(&path)?;
        let file =
            File::create(staged.path()).with_context(|| format!("creating {}", path.display()))?;
        let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
        buf.extend_from_slice(header.as_bytes());
        buf.push(b'\n');
        Ok(CsvOut {
            path,
            staged,
            file,
            buf,
            row_start: true,
            rows: 0,
        })
    }

    fn separate(&mut self) {
        if !self.row_start {
            self.buf.push(b',');
        }
        self.row_start = false;
    }

    /// A user id: `u` and the zero-padded number, so ids sort and never read as numbers.
    fn id(&mut self, prefix: u8, id: u64, width: usize) {
        self.separate();
        self.buf.push(prefix);
        push_digits(&mut self.buf, id, width);
    }

    fn num(&mut self, n: u64) {
        self.separate();
        push_digits(&mut self.buf, n, 1);
    }

    /// `n / 10^places` with exactly `places` decimals.
    fn fixed(&mut self, n: u64, places: u32) {
        self.separate();
        let scale = 10u64.pow(places);
        push_digits(&mut self.buf, n / scale, 1);
        self.buf.push(b'.');
        push_digits(&mut self.buf, n % scale, places as usize);
    }

    fn text(&mut self, s: &str) {
        self.separate();
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn end_row(&mut self) -> Result<()> {
        self.buf.push(b'\n');
        self.row_start = true;
        self.rows += 1;
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.file
            .write_all(&self.buf)
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is left.
    fn finish(mut self) -> Result<Written> {
        self.flush()?;
        Ok(Written {
            path: self.path,
            staged: self.staged,
            rows: self.rows,
        })
    }
}

/// A complete file, not yet in its place.
struct Written {
    path: PathBuf,
    staged: Staged,
    rows: u64,
}

impl Written {
    /// Moves the file into its place; returns its rows, header excluded.
    fn publish(self) -> Result<u64> {
        self.staged.replace_file(&self.path)?;
        Ok(self.rows)
    }
}

/// Appends `n` in decimal, zero-padded to at least `width` digits.
fn push_digits(buf: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = tmp.len() - i;
    buf.resize(buf.len() + width.saturating_sub(len), b'0');
    buf.extend_from_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_closely() {
        for i in -60..=60 {
            let x = f64::from(i) * 0.17;
            let (ours, libm) = (exp(x), x.exp());
            assert!(
                (ours - libm).abs() <= libm * 1e-14,
                "exp({x}): {ours} vs {libm}"
            );
        }
    }

    #[test]
    fn digits_are_padded_and_counted() {
        let mut buf = Vec::new();
        push_digits(&mut buf, 42, 7);
        buf.push(b' ');
        push_digits(&mut buf, 0, 1);
        buf.push(b' ');
        push_digits(&mut buf, u64::MAX, 3);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            format!("0000042 0 {}", u64::MAX)
        );
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9_999_999), 7);
        assert_eq!(digits(10_000_000), 8);
    }

    #[test]
    fn counts_are_exact_and_skip_inactive_people() {
        let mut people: Vec<Person> = (0..5)
            .map(|_| Person {
                events: 0,
                first_day: 0,
                end_day: 1,
                profile: 0,
                favorite: 0,
            })
            .collect();
        let weights = [0.0, 3.0, 1.0, 0.0, 1.5];
        for events in [0, 2, 3, 4, 1000] {
            assign_event_counts(&mut people, &weights, events);
            let counts: Vec<u64> = people.iter().map(|p| p.events).collect();
            assert_eq!(counts.iter().sum::<u64>(), events, "{counts:?}");
            assert_eq!((counts[0], counts[3]), (0, 0));
            if events >= 3 {
                assert!(counts.iter().zip(weights).all(|(&c, w)| w == 0.0 || c >= 1));
            }
        }
    }

    #[test]
    fn picks_follow_weights() {
        let mut rng = Rng::new(7);
        let mut seen = [0u32; 3];
        for _ in 0..10_000 {
            seen[rng.pick(&[((), 1), ((), 0), ((), 3)])] += 1;
        }
        assert_eq!(seen[1], 0);
        assert!((7_000..8_000).contains(&seen[2]), "{seen:?}");
    }
}
