//! `segflow::gen`: determinism, exact shapes, and the skew the synthetic data promises.

mod full_disk;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use rust_decimal::Decimal;
use segflow::gen::{generate, GenOptions, GenSummary, DEFAULT_END_TS};

const DAY: u64 = 86_400;

fn small() -> GenOptions {
    GenOptions::new(2_000, 20_000, 7)
}

/// All records of one CSV file, header first.
fn read(path: &Path) -> Vec<csv::StringRecord> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap();
    reader.records().map(|r| r.unwrap()).collect()
}

struct Data {
    summary: GenSummary,
    users: Vec<csv::StringRecord>,
    events: Vec<csv::StringRecord>,
    scores: Vec<csv::StringRecord>,
}

fn make(options: &GenOptions) -> Data {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(options, dir.path()).unwrap();
    Data {
        summary,
        users: read(&dir.path().join("users.csv")),
        events: read(&dir.path().join("events.csv")),
        scores: read(&dir.path().join("scores.csv")),
    }
}

#[test]
fn same_options_give_identical_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let sa = generate(&small(), a.path()).unwrap();
    let sb = generate(&small(), b.path()).unwrap();
    let other_seed = GenOptions { seed: 8, ..small() };
    generate(&other_seed, c.path()).unwrap();
    assert_eq!(sa, sb);
    for file in ["users.csv", "events.csv", "scores.csv"] {
        let bytes = |dir: &tempfile::TempDir| std::fs::read(dir.path().join(file)).unwrap();
        assert_eq!(bytes(&a), bytes(&b), "{file} differs between runs");
        assert_ne!(bytes(&a), bytes(&c), "{file} ignores the seed");
    }
}

#[test]
fn users_and_scores_do_not_depend_on_the_event_count() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(&small(), a.path()).unwrap();
    let more = GenOptions {
        events: 50_000,
        ..small()
    };
    generate(&more, b.path()).unwrap();
    for file in ["users.csv", "scores.csv"] {
        let bytes = |dir: &tempfile::TempDir| std::fs::read(dir.path().join(file)).unwrap();
        assert_eq!(bytes(&a), bytes(&b), "{file}");
    }
}

#[test]
fn files_have_headers_and_exact_row_counts() {
    let data = make(&small());
    assert_eq!(
        data.users[0],
        vec!["user_id", "country", "signup_ts", "plan"]
    );
    assert_eq!(
        data.events[0],
        vec!["user_id", "ts", "kind", "amount", "category"]
    );
    assert_eq!(data.scores[0], vec!["user_id", "model", "score", "ts"]);
    assert_eq!(data.users.len() - 1, 2_000);
    assert_eq!(data.events.len() - 1, 20_000);
    assert_eq!(data.summary.users, 2_000);
    assert_eq!(data.summary.events, 20_000);
    assert_eq!(data.summary.scores as usize, data.scores.len() - 1);
}

#[test]
fn users_are_well_formed() {
    let data = make(&small());
    let rows = &data.users[1..];
    let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids are unique and sorted"
    );
    assert!(ids.iter().all(|id| id.len() == 8 && id.starts_with('u')));
    let missing_country = rows.iter().filter(|r| r[1].is_empty()).count();
    assert!(
        (20..=120).contains(&missing_country),
        "{missing_country} empty countries"
    );
    let us = rows.iter().filter(|r| &r[1] == "US").count();
    assert!(us > rows.len() / 4, "US is the most common country");
    let mut recent = 0;
    for row in rows {
        assert_eq!(row.len(), 4);
        let signup: u64 = row[2].parse().unwrap();
        assert!((DEFAULT_END_TS - 730 * DAY..DEFAULT_END_TS).contains(&signup));
        recent += usize::from(signup > DEFAULT_END_TS - 14 * DAY);
        assert!(["free", "basic", "pro", "enterprise"].contains(&&row[3]));
    }
    assert!(
        recent > 20,
        "some users signed up in the last 14 days: {recent}"
    );
}

#[test]
fn events_are_well_formed() {
    let data = make(&small());
    let (mut min_ts, mut max_ts) = (u64::MAX, 0);
    let mut kinds: HashMap<String, usize> = HashMap::new();
    let mut categories: HashMap<String, usize> = HashMap::new();
    let (mut evening, mut early) = (0, 0);
    for row in &data.events[1..] {
        assert_eq!(row.len(), 5, "{row:?}");
        let ts: u64 = row[1].parse().unwrap();
        assert!((DEFAULT_END_TS - 365 * DAY..DEFAULT_END_TS).contains(&ts));
        (min_ts, max_ts) = (min_ts.min(ts), max_ts.max(ts));
        let hour = ts % DAY / 3_600;
        evening += usize::from((18..22).contains(&hour));
        early += usize::from((3..7).contains(&hour));
        let kind = &row[2];
        assert!(["view", "add_to_cart", "purchase", "refund", "login"].contains(&kind));
        *kinds.entry(kind.to_string()).or_default() += 1;
        if kind == "purchase" || kind == "refund" {
            let amount = Decimal::from_str(&row[3]).unwrap();
            assert_eq!(amount.scale(), 2, "{row:?}");
            assert!(amount >= Decimal::new(500, 2) && amount <= Decimal::new(200_000, 2));
        } else {
            assert!(row[3].is_empty(), "{row:?}");
        }
        assert_eq!(kind == "login", row[4].is_empty(), "{row:?}");
        if !row[4].is_empty() {
            *categories.entry(row[4].to_string()).or_default() += 1;
        }
    }
    assert!(max_ts > DEFAULT_END_TS - DAY, "the data runs up to its end");
    let (summary_min, summary_max) = (data.summary.min_ts, data.summary.max_ts);
    assert!(summary_min <= min_ts && summary_max >= max_ts);
    assert!(
        evening > 5 * early,
        "daily cycle: {evening} evening vs {early} early"
    );
    let share = |k: &str| kinds.get(k).copied().unwrap_or(0) as f64 / 20_000.0;
    assert!((0.08..0.18).contains(&share("purchase")), "{kinds:?}");
    assert!((0.001..0.03).contains(&share("refund")), "{kinds:?}");
    assert!(share("view") > 0.4, "{kinds:?}");
    assert_eq!(categories.len(), 12);
    let top = categories.iter().max_by_key(|(_, &n)| n).unwrap().0;
    assert_eq!(top, "shoes");
    // Roughly, not strictly, ordered by time.
    let ts: Vec<u64> = data.events[1..]
        .iter()
        .map(|r| r[1].parse().unwrap())
        .collect();
    let backwards = ts.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(
        backwards > 0 && backwards < ts.len() / 3,
        "{backwards} out of order"
    );
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1] + 900),
        "out of order by at most 15 minutes"
    );
}

#[test]
fn activity_is_skewed_and_spans_the_universe() {
    let data = make(&small());
    let users: HashSet<&str> = data.users[1..].iter().map(|r| &r[0]).collect();
    let mut per_user: HashMap<&str, u64> = HashMap::new();
    let mut last_seen: HashMap<&str, u64> = HashMap::new();
    for row in &data.events[1..] {
        *per_user.entry(&row[0]).or_default() += 1;
        let ts: u64 = row[1].parse().unwrap();
        let last = last_seen.entry(&row[0]).or_default();
        *last = (*last).max(ts);
    }

    // Heavy tail: the top 1% of users hold more than 10% of the events.
    let mut counts: Vec<u64> = per_user.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top: u64 = counts[..counts.len() / 100].iter().sum();
    assert!(top * 10 > 20_000, "top 1% hold only {top} events");

    let silent = users.iter().filter(|u| !per_user.contains_key(*u)).count();
    assert!(
        (100..=300).contains(&silent),
        "{silent} users without events"
    );
    let events_only = per_user.keys().filter(|u| !users.contains(*u)).count();
    assert!(
        events_only * 200 > per_user.len() && events_only * 50 < per_user.len(),
        "{events_only} of {} event users are not in users.csv",
        per_user.len()
    );

    let quiet = last_seen
        .values()
        .filter(|&&t| t <= DEFAULT_END_TS - 90 * DAY)
        .count();
    let active = last_seen
        .values()
        .filter(|&&t| t > DEFAULT_END_TS - 30 * DAY)
        .count();
    assert!(
        quiet > per_user.len() / 10,
        "{quiet} users lapsed 90 days ago"
    );
    assert!(
        active > per_user.len() / 3,
        "{active} users active in 30 days"
    );

    let mut seen = HashSet::new();
    let duplicates = data.events[1..]
        .iter()
        .filter(|r| !seen.insert(r.as_slice().to_string()))
        .count();
    assert!(
        (1..100).contains(&duplicates),
        "{duplicates} duplicate rows"
    );
}

#[test]
fn scores_are_probabilities_with_rescorings() {
    let data = make(&small());
    let users: HashSet<&str> = data.users[1..].iter().map(|r| &r[0]).collect();
    // The latest churn score per user.
    let mut churn: HashMap<&str, (u64, f64)> = HashMap::new();
    let mut churn_rows = 0;
    let mut ltv = HashSet::new();
    for row in &data.scores[1..] {
        assert_eq!(row.len(), 4);
        assert!(users.contains(&row[0]));
        let score = Decimal::from_str(&row[2]).unwrap();
        assert_eq!(score.scale(), 4, "{row:?}");
        assert!(score >= Decimal::ZERO && score <= Decimal::ONE, "{row:?}");
        let ts: u64 = row[3].parse().unwrap();
        assert!((DEFAULT_END_TS - 365 * DAY..DEFAULT_END_TS).contains(&ts));
        let value: f64 = row[2].parse().unwrap();
        match &row[1] {
            "churn" => {
                churn_rows += 1;
                let latest = churn.entry(&row[0]).or_insert((ts, value));
                if ts >= latest.0 {
                    *latest = (ts, value);
                }
            }
            "ltv_pred" => {
                ltv.insert(&row[0]);
            }
            model => panic!("unexpected model {model}"),
        }
    }
    let n = users.len() as f64;
    let churn_share = churn.len() as f64 / n;
    assert!(
        (0.5..0.7).contains(&churn_share),
        "{churn_share} have churn"
    );
    assert!(
        churn_rows > churn.len() * 3 / 2,
        "rescorings: {churn_rows} rows"
    );
    let ltv_share = ltv.len() as f64 / n;
    assert!((0.2..0.4).contains(&ltv_share), "{ltv_share} have ltv_pred");
    let risky = churn.values().filter(|(_, s)| *s > 0.7).count() as f64 / churn.len() as f64;
    assert!(
        (0.08..0.25).contains(&risky),
        "{risky} of churn scores exceed 0.7"
    );
}

#[test]
fn degenerate_sizes_work() {
    for (users, events) in [(0, 0), (0, 10), (10, 0), (1_000, 50), (3, 1_000)] {
        let data = make(&GenOptions::new(users, events, 1));
        assert_eq!(data.users.len() as u64 - 1, users);
        assert_eq!(data.events.len() as u64 - 1, events);
        assert_eq!(data.summary.events, events);
    }
    let one_day = GenOptions {
        days: 1,
        ..GenOptions::new(100, 1_000, 3)
    };
    let data = make(&one_day);
    assert_eq!(data.events.len(), 1_001);
    assert!(data.summary.min_ts >= DEFAULT_END_TS - DAY);
    let dir = tempfile::tempdir().unwrap();
    let no_days = GenOptions { days: 0, ..small() };
    assert!(generate(&no_days, dir.path()).is_err());
}

/// Throughput at full size: `cargo test --release --test gen -- --ignored --nocapture`.
#[test]
#[ignore]
fn ten_million_events() {
    let dir = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let summary = generate(&GenOptions::new(1_000_000, 10_000_000, 42), dir.path()).unwrap();
    let elapsed = start.elapsed();
    let size = std::fs::metadata(dir.path().join("events.csv"))
        .unwrap()
        .len();
    println!("{summary:?} in {elapsed:?}, events.csv {} MB", size >> 20);
    assert_eq!(summary.events, 10_000_000);
}

/// A write that fails (a full disk) leaves the files of an earlier run as they were,
/// and nothing beside them.
#[test]
fn a_failed_write_leaves_earlier_files_whole() {
    let dir = tempfile::tempdir().unwrap();
    generate(&GenOptions::new(50, 500, 1), dir.path()).unwrap();
    let files = ["users.csv", "events.csv", "scores.csv"];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap())
        .collect();
    let mut command = Command::new(env!("CARGO_BIN_EXE_segflow"));
    let out = dir.path().display().to_string();
    command.args([
        "gen", "--users", "50", "--events", "5000", "--seed", "2", "--out", &out,
    ]);
    full_disk::limit_file_size(&mut command, 64 << 10);
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("events.csv"),
        "the message names the file: {stderr}"
    );
    let after: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap())
        .collect();
    assert!(after == before, "the earlier files changed");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

/// FNV-1a: a hash that, unlike std's, is fixed forever.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Pins the exact bytes, so that a platform, toolchain or dependency that changes them
/// fails here rather than silently changing benchmarks. Update the hashes only when the
/// generator is changed on purpose.
#[test]
fn output_bytes_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    generate(&GenOptions::new(50, 500, 1), dir.path()).unwrap();
    let hashes: Vec<String> = ["users.csv", "events.csv", "scores.csv"]
        .iter()
        .map(|f| {
            format!(
                "{:016x}",
                fnv1a(&std::fs::read(dir.path().join(f)).unwrap())
            )
        })
        .collect();
    assert_eq!(
        hashes,
        ["c893e9a193eabf85", "deae62f55158df11", "dbcb9234780bd61c"]
    );
}
