//! The `segflow` binary end to end: `run`, `check` and `gen` as a user calls them.
//!
//! Covered here:
//! - `run` over the bundled sample: the printed size table, `members/<segment>.csv`
//!   (header, sorted, no duplicates), `sizes.csv`, both checked against a checked-in
//!   expected file *and* against `segflow::reference::evaluate` on the same data (read
//!   by a CSV loader written in this file, independent of `segflow::io`);
//! - `-w 1` and `-w 4` giving byte-identical output directories;
//! - `--as-of` before the end of the data (different sizes, equal to the reference);
//! - bad input (row-level and header-level), with `--on-error stop` (non-zero exit, a
//!   message naming file, line, column and reason, nothing written, an existing out
//!   directory left untouched) and `--on-error skip` (`rejects.csv` with the original
//!   fields, good rows still counted); exact line numbers with CRLF and blank lines,
//!   whatever the workers; a `ts` beyond the time range as a bad row;
//! - missing data directory / catalog / input files: one clear line, no panic;
//! - `check`: segment kinds, the shared section, diagnostics with `file:line:col` and
//!   a caret; catalogs spread over two files; opaque user ids; `gen` determinism.

mod full_disk;
mod loader;
mod output_dir;

use loader::load_dataset;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use segflow::catalog::ir::Catalog;
use segflow::data::Dataset;
use segflow::reference;
use segflow::value::{Text, Value};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ecommerce() -> PathBuf {
    root().join("dataflows/ecommerce.seg")
}

fn sample() -> PathBuf {
    root().join("datasets/sample")
}

/// Runs the binary with `args` (from the crate root, so relative paths work).
fn segflow<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_segflow"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("cannot start the segflow binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "segflow failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

/// Asserts a clean failure: non-zero exit code, an error on stderr, no panic.
#[track_caller]
fn assert_failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "segflow should have failed\nstdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit code (a panic gives 101)"
    );
    let err = stderr(output);
    assert!(!err.contains("panicked"), "panic:\n{err}");
    assert!(err.starts_with("error: "), "stderr:\n{err}");
    err
}

/// `segflow run --catalog C... --data DATA --out OUT EXTRA...`.
fn run_cmd(catalogs: &[&Path], data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["run".into()];
    for c in catalogs {
        args.push("--catalog".into());
        args.push(c.display().to_string());
    }
    args.extend([
        "--data".into(),
        data.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    segflow(&args)
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, bytes).unwrap();
}

/// All records of a CSV file, header included.
fn records(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// `OUT/members/*.csv`: segment -> members in file order. Checks the header.
fn member_files(out: &Path) -> BTreeMap<String, Vec<String>> {
    let mut all = BTreeMap::new();
    for entry in fs::read_dir(out.join("members")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let rows = records(&path);
        assert_eq!(rows[0], ["user_id"], "header of {}", path.display());
        let ids = rows[1..]
            .iter()
            .map(|r| {
                assert_eq!(r.len(), 1, "{}: {r:?}", path.display());
                r[0].clone()
            })
            .collect();
        all.insert(name, ids);
    }
    all
}

/// `OUT/sizes.csv` as (segment, size) pairs in file order. Checks the header.
fn sizes_file(out: &Path) -> Vec<(String, usize)> {
    let rows = records(&out.join("sizes.csv"));
    assert_eq!(rows[0], ["segment", "size"]);
    rows[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap()))
        .collect()
}

/// `OUT/rejects.csv` as maps from column name to value. Checks the header.
fn rejects_file(out: &Path) -> Vec<HashMap<String, String>> {
    let rows = records(&out.join("rejects.csv"));
    assert_eq!(rows[0], ["file", "line", "column", "reason", "row"]);
    rows[1..]
        .iter()
        .map(|r| rows[0].iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

fn load_catalog(paths: &[PathBuf]) -> Catalog {
    segflow::catalog::load(paths).unwrap_or_else(|e| panic!("{e}"))
}

/// The reference's members as the output files would hold them.
fn reference_members(
    catalog: &Catalog,
    data: &Dataset,
    as_of: u64,
) -> BTreeMap<String, Vec<String>> {
    reference::evaluate(catalog, data, as_of)
        .into_iter()
        .map(|(segment, members)| (segment, members.into_iter().collect()))
        .collect()
}

/// The "as of T:" time printed by `run`.
fn printed_as_of(output: &Output) -> u64 {
    let out = stdout(output);
    let line = out
        .lines()
        .find(|l| l.starts_with("as of "))
        .unwrap_or_else(|| panic!("no 'as of' line in:\n{out}"));
    line["as of ".len()..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Every member file is sorted without duplicates, `sizes.csv` lists exactly the
/// catalog's segments in catalog order with the member files' line counts.
#[track_caller]
fn assert_consistent_output(out: &Path, catalog: &Catalog) {
    let members = member_files(out);
    let names: Vec<&str> = catalog.segments.iter().map(|s| s.name.as_str()).collect();
    let files: BTreeSet<&str> = members.keys().map(String::as_str).collect();
    assert_eq!(files, names.iter().copied().collect::<BTreeSet<_>>());
    for (segment, ids) in &members {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "members/{segment}.csv is not sorted or has duplicates"
        );
    }
    let sizes = sizes_file(out);
    let order: Vec<&str> = sizes.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        order, names,
        "sizes.csv lists the segments in catalog order"
    );
    for (segment, size) in &sizes {
        let lines = fs::read_to_string(out.join("members").join(format!("{segment}.csv")))
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, size + 1, "sizes.csv vs members/{segment}.csv");
    }
}

// ---------------------------------------------------------------------------------
// 1–3. Runs over the sample data
// ---------------------------------------------------------------------------------

/// The hybrid catalog (arithmetic, ratios in doubles, models, `if`, `coalesce`,
/// `greatest`) on the sample, at the latest time and a month earlier, with two workers:
/// every member file equals the reference evaluator's answer, and every segment is a
/// proper, non-empty part of the users (so the comparison says something).
#[test]
fn the_hybrid_catalog_on_the_sample_equals_the_reference() {
    let hybrid = root().join("dataflows/hybrid.seg");
    let catalog = load_catalog(std::slice::from_ref(&hybrid));
    let data = load_dataset(&sample(), &catalog);
    let latest = data.max_ts().unwrap();
    for as_of in [latest, latest - 30 * 86_400] {
        let tmp = TempDir::new().unwrap();
        let out = tmp.path().join("out");
        let as_of_text = as_of.to_string();
        let output = run_cmd(
            &[&hybrid],
            &sample(),
            &out,
            &["--as-of", &as_of_text, "-w", "2"],
        );
        assert_success(&output);
        assert_consistent_output(&out, &catalog);
        let reference = reference_members(&catalog, &data, as_of);
        if as_of == latest {
            for (segment, members) in &reference {
                assert!(
                    !members.is_empty() && members.len() < data.users.len(),
                    "{segment} has {} members",
                    members.len()
                );
            }
        }
        assert_eq!(member_files(&out), reference, "as of {as_of}");
    }
}

/// `tests/expected/sample_sizes.csv` was produced by running
/// `segflow run --catalog dataflows/ecommerce.seg --data datasets/sample` and copying
/// `sizes.csv`, after checking that every size (and every member list) equalled
/// `reference::evaluate` over the same files read by `load_dataset` above, as of the
/// greatest `ts` (1767225578). This test repeats that cross-check on every run, so the
/// expected file can't just be "whatever the engine says".
#[test]
fn run_on_sample_writes_members_and_sizes_equal_to_reference() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let output = run_cmd(&[&ecommerce()], &sample(), &out, &[]);
    assert_success(&output);

    let catalog = load_catalog(&[ecommerce()]);
    assert_eq!(catalog.segments.len(), 12);
    assert_consistent_output(&out, &catalog);

    // The expected file, checked in.
    let expected = fs::read_to_string(root().join("tests/expected/sample_sizes.csv")).unwrap();
    let actual = fs::read_to_string(out.join("sizes.csv")).unwrap();
    assert_eq!(actual, expected);

    // The reference, from scratch, on the same data at the same time.
    let data = load_dataset(&sample(), &catalog);
    assert_eq!(data.users.len(), 1500);
    assert_eq!(data.events.len(), 30_000);
    let as_of = data.max_ts().unwrap();
    assert_eq!(as_of, 1_767_225_578);
    assert_eq!(printed_as_of(&output), as_of);
    let reference = reference_members(&catalog, &data, as_of);
    let expected_sizes: Vec<(String, usize)> =
        records(&root().join("tests/expected/sample_sizes.csv"))[1..]
            .iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap()))
            .collect();
    for (segment, size) in &expected_sizes {
        assert_eq!(
            reference[segment].len(),
            *size,
            "reference size of {segment}"
        );
    }
    assert_eq!(member_files(&out), reference);

    // The printed table: a header and one row per segment with its size.
    let printed = stdout(&output);
    let table: Vec<&str> = printed
        .lines()
        .skip_while(|l| !l.starts_with("segment "))
        .collect();
    assert!(
        table[0].split_whitespace().eq(["segment", "size"]),
        "{printed}"
    );
    for (i, (segment, size)) in expected_sizes.iter().enumerate() {
        let row: Vec<&str> = table[i + 1].split_whitespace().collect();
        assert_eq!(row, [segment.as_str(), &size.to_string()], "{printed}");
    }
    assert!(!out.join("rejects.csv").exists());
}

#[test]
fn one_and_four_workers_write_identical_outputs() {
    let tmp = TempDir::new().unwrap();
    let (one, four) = (tmp.path().join("w1"), tmp.path().join("w4"));
    let a = run_cmd(&[&ecommerce()], &sample(), &one, &["-w", "1"]);
    let b = run_cmd(&[&ecommerce()], &sample(), &four, &["-w", "4"]);
    assert_success(&a);
    assert_success(&b);
    let (a_files, b_files) = (output_dir::snapshot(&one), output_dir::snapshot(&four));
    assert_eq!(
        a_files.len(),
        14,
        "12 member files, sizes.csv and the manifest"
    );
    assert_eq!(a_files, b_files);
    let table = |o: &Output| -> Vec<String> {
        stdout(o)
            .lines()
            .skip_while(|l| !l.starts_with("segment "))
            .filter(|l| !l.starts_with("members written"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(table(&a), table(&b));
}

#[test]
fn as_of_before_the_end_of_the_data_equals_the_reference_at_that_time() {
    let tmp = TempDir::new().unwrap();
    let catalog = load_catalog(&[ecommerce()]);
    let data = load_dataset(&sample(), &catalog);
    // About two months before the last event: windows, `now - 14d` and the visible
    // events and scores all change.
    let as_of: u64 = 1_762_000_000;
    assert!(as_of < data.max_ts().unwrap());
    let latest = tmp.path().join("latest");
    let early = tmp.path().join("early");
    assert_success(&run_cmd(&[&ecommerce()], &sample(), &latest, &[]));
    let output = run_cmd(
        &[&ecommerce()],
        &sample(),
        &early,
        &["--as-of", &as_of.to_string(), "-w", "2"],
    );
    assert_success(&output);
    assert_eq!(printed_as_of(&output), as_of);
    let unseen = data.events.iter().filter(|e| e.ts > as_of).count()
        + data.scores.iter().filter(|s| s.ts > as_of).count()
        + data.models.iter().filter(|m| m.ts > as_of).count();
    assert!(
        stdout(&output).contains(&format!(
            "{unseen} rows (events, scores, timed users rows, model switches) after the as-of \
             time were not counted"
        )),
        "{}",
        stdout(&output)
    );
    assert_consistent_output(&early, &catalog);
    let members = member_files(&early);
    assert_eq!(members, reference_members(&catalog, &data, as_of));
    assert_ne!(sizes_file(&early), sizes_file(&latest));
    // Segments driven by recent activity must differ, not just one of them.
    let differs = |segment: &str| members[segment] != member_files(&latest)[segment];
    for segment in ["active_30d", "new_us", "churn_risk", "high_value_repeat"] {
        assert!(differs(segment), "{segment} is the same at both times");
    }
}

#[test]
fn as_of_before_every_event_sees_only_users() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let output = run_cmd(&[&ecommerce()], &sample(), &out, &["--as-of", "0"]);
    assert_success(&output);
    let catalog = load_catalog(&[ecommerce()]);
    let data = load_dataset(&sample(), &catalog);
    assert_eq!(member_files(&out), reference_members(&catalog, &data, 0));
    // Users rows have no time: all 1500 are known at 0, but nobody did anything yet.
    // `purchases < 2 and not churn_risk` holds for everyone; `signup_ts > now - 14d`
    // for every US user with a signup time; nothing else for anyone.
    let us_with_signup = data
        .users
        .iter()
        .filter(|u| u.attrs[0] == Value::Text(Text::from("US")) && !u.attrs[1].is_null())
        .count();
    assert!(us_with_signup > 100);
    let sizes: BTreeMap<String, usize> = sizes_file(&out).into_iter().collect();
    for (segment, size) in &sizes {
        let expected = match segment.as_str() {
            "low_engagement" => 1500,
            "new_us" => us_with_signup,
            _ => 0,
        };
        assert_eq!(*size, expected, "{segment}");
    }
}

// ---------------------------------------------------------------------------------
// 4. Bad input
// ---------------------------------------------------------------------------------

/// A small catalog for the bad-input cases.
const SMALL: &str = "\
schema users(country: text)
schema events(amount: number, category: text)
segment everyone = true
segment buyers   = exists(events where kind = 'purchase')
segment spenders = sum(events.amount) > 5
";

const EVENTS_HEADER: &str = "user_id,ts,kind,amount,category\n";
const GOOD_USERS: &str = "user_id,country\nu1,US\nu2,DE\n";

/// A data directory with `users.csv` (u1, u2) and an `events.csv` holding three good
/// rows and `bad_row` at line 3: u1 buys 5 of shoes, u2 buys 7.5, u3 views.
fn data_with_bad_event_row(dir: &Path, bad_row: &[u8]) -> PathBuf {
    let data = dir.join("data");
    write(&data.join("users.csv"), GOOD_USERS);
    let mut events = EVENTS_HEADER.as_bytes().to_vec();
    events.extend_from_slice(b"u1,10,purchase,5,shoes\n");
    events.extend_from_slice(bad_row);
    events.extend_from_slice(b"\nu2,11,purchase,7.5,shoes\nu3,12,view,,books\n");
    write(&data.join("events.csv"), events);
    data
}

struct BadRow {
    name: &'static str,
    row: &'static [u8],
    column: Option<&'static str>,
    /// Substrings the reason must contain.
    reason: &'static [&'static str],
}

const BAD_ROWS: &[BadRow] = &[
    BadRow {
        name: "too few columns",
        row: b"u4,11,purchase,5",
        column: None,
        reason: &["expected 5 columns", "found 4"],
    },
    BadRow {
        name: "too many columns",
        row: b"u4,11,purchase,5,shoes,extra",
        column: None,
        reason: &["expected 5 columns", "found 6"],
    },
    BadRow {
        name: "decimal comma in a quoted number",
        row: b"u4,11,purchase,\"12,5\",shoes",
        column: Some("amount"),
        reason: &["`12,5`", "number"],
    },
    BadRow {
        name: "a word for a number",
        row: b"u4,11,purchase,abc,shoes",
        column: Some("amount"),
        reason: &["`abc`", "number"],
    },
    BadRow {
        name: "unparsable time",
        row: b"u4,yesterday,purchase,1,shoes",
        column: Some("ts"),
        reason: &["`yesterday`", "time"],
    },
    BadRow {
        name: "negative time",
        row: b"u4,-5,purchase,1,shoes",
        column: Some("ts"),
        reason: &["`-5`", "time"],
    },
    BadRow {
        name: "empty user_id",
        row: b",11,purchase,1,shoes",
        column: Some("user_id"),
        reason: &["empty"],
    },
    BadRow {
        name: "empty kind",
        row: b"u4,11,,1,shoes",
        column: Some("kind"),
        reason: &["empty"],
    },
    BadRow {
        name: "invalid UTF-8 in a declared field",
        row: b"u4,11,purchase,1,sh\xff\xfees",
        column: Some("category"),
        reason: &["UTF-8"],
    },
    BadRow {
        name: "an unterminated quote",
        row: b"u4,11,purchase,\"12.5,shoes",
        column: None,
        reason: &["unterminated quote", "does not close"],
    },
    BadRow {
        name: "invalid UTF-8 in the user id",
        row: b"u\xc3\x284,11,purchase,1,shoes",
        column: Some("user_id"),
        reason: &["UTF-8"],
    },
];

#[test]
fn bad_rows_stop_the_run_naming_file_line_column_and_reason() {
    for case in BAD_ROWS {
        let tmp = TempDir::new().unwrap();
        let catalog = tmp.path().join("small.seg");
        write(&catalog, SMALL);
        let data = data_with_bad_event_row(tmp.path(), case.row);
        let out = tmp.path().join("out");
        let err = assert_failure(&run_cmd(&[&catalog], &data, &out, &[]));
        let first = err.lines().next().unwrap();
        let place = format!("{}:3:", data.join("events.csv").display());
        assert!(first.contains(&place), "{}: {first}", case.name);
        if let Some(column) = case.column {
            assert!(
                first.contains(&format!("column `{column}`")),
                "{}: {first}",
                case.name
            );
        }
        for part in case.reason {
            assert!(first.contains(part), "{}: {first}", case.name);
        }
        assert!(err.contains("1 bad row(s) in all"), "{}: {err}", case.name);
        assert!(err.contains("--on-error skip"), "{}: {err}", case.name);
        assert!(!out.exists(), "{}: the out dir was created", case.name);
    }
}

#[test]
fn bad_rows_are_set_aside_with_on_error_skip() {
    for case in BAD_ROWS {
        let tmp = TempDir::new().unwrap();
        let catalog = tmp.path().join("small.seg");
        write(&catalog, SMALL);
        let data = data_with_bad_event_row(tmp.path(), case.row);
        let out = tmp.path().join("out");
        for workers in ["1", "3"] {
            let output = run_cmd(
                &[&catalog],
                &data,
                &out,
                &["--on-error", "skip", "-w", workers],
            );
            assert_success(&output);
            assert!(
                stdout(&output).contains("1 bad row(s) set aside"),
                "{}: {}",
                case.name,
                stdout(&output)
            );
            let rejects = rejects_file(&out);
            assert_eq!(rejects.len(), 1, "{}", case.name);
            let r = &rejects[0];
            assert_eq!(r["file"], data.join("events.csv").display().to_string());
            assert_eq!(r["line"], "3", "{}", case.name);
            assert_eq!(r["column"], case.column.unwrap_or(""), "{}", case.name);
            for part in case.reason {
                assert!(r["reason"].contains(part), "{}: {r:?}", case.name);
            }
            // The good rows still count: u1 and u2 from users.csv, u3 from its view;
            // the rejected row's u4 is known from nothing else.
            let members = member_files(&out);
            assert_eq!(members["everyone"], ["u1", "u2", "u3"], "{}", case.name);
            assert_eq!(members["buyers"], ["u1", "u2"], "{}", case.name);
            assert_eq!(members["spenders"], ["u2"], "{}", case.name);
            let sizes: BTreeMap<_, _> = sizes_file(&out).into_iter().collect();
            assert_eq!(sizes["everyone"], 3);
        }
    }
}

/// A models.csv row that switches to a version scores.csv does not hold (a typo in a
/// deployment would otherwise make every score of the model missing) is a bad row on
/// its `version`; skipped, the model keeps its active version.
#[test]
fn a_switch_to_a_version_without_scores_is_a_bad_row() {
    let tmp = TempDir::new().unwrap();
    let catalog = tmp.path().join("c.seg");
    write(
        &catalog,
        "segment risky = score('churn') > 0.5\nsegment risky_v2 = score('churn', 'v2') > 0.5\n",
    );
    let data = tmp.path().join("data");
    write(
        &data.join("scores.csv"),
        "user_id,model,score,ts,version\nu1,churn,0.9,5,v1\nu2,churn,0.2,5,v1\n\
         u2,churn,0.8,6,v2\nu3,churn,0.7,6,\n",
    );
    write(
        &data.join("models.csv"),
        "model,version,ts\nchurn,v1,7\nchurn,v3,8\nfraud,v1,8\n",
    );
    let out = tmp.path().join("out");
    let err = assert_failure(&run_cmd(&[&catalog], &data, &out, &["-w", "2"]));
    let models = data.join("models.csv").display().to_string();
    assert!(
        err.contains(&format!(
            "{models}:3: column `version`: model `churn` has no scores of version `v3`"
        )),
        "{err}"
    );
    assert!(err.contains("2 bad row(s) in all"), "{err}");

    assert_success(&run_cmd(
        &[&catalog],
        &data,
        &out,
        &["--on-error", "skip", "-w", "2"],
    ));
    let rejects: Vec<(String, String)> = rejects_file(&out)
        .into_iter()
        .map(|r| (r["line"].clone(), r["column"].clone()))
        .collect();
    assert_eq!(
        rejects,
        [
            ("3".into(), "version".into()),
            ("4".into(), "version".into())
        ]
    );
    let members = member_files(&out);
    // v1 stays active: u1's 0.9 counts, u2's v1 score is 0.2, u3's has no version.
    assert_eq!(members["risky"], ["u1"]);
    assert_eq!(members["risky_v2"], ["u2"]);
}

#[test]
fn bad_rows_in_users_and_scores_are_reported_too() {
    let tmp = TempDir::new().unwrap();
    let catalog = tmp.path().join("c.seg");
    write(
        &catalog,
        "schema users(country: text, signup_ts: time)\n\
         segment risky = score('churn') > 0.5\n\
         segment us = users.country = 'US'\n",
    );
    let data = tmp.path().join("data");
    write(
        &data.join("users.csv"),
        "user_id,country,signup_ts\nu1,US,100\nu2,US,soon\nu3,DE,100\n",
    );
    write(
        &data.join("scores.csv"),
        "user_id,model,score,ts\nu1,churn,0.9,5\nu3,churn,high,5\nu3,,0.9,5\nu3,churn,0.8,6\n",
    );
    let out = tmp.path().join("out");
    let err = assert_failure(&run_cmd(&[&catalog], &data, &out, &[]));
    // The first bad row in (file, line) order, and the count of all of them.
    let scores = data.join("scores.csv").display().to_string();
    let users = data.join("users.csv").display().to_string();
    assert!(
        err.contains(&format!("{scores}:3: column `score`: cannot parse `high`")),
        "{err}"
    );
    assert!(err.contains("3 bad row(s) in all"), "{err}");
    assert!(!out.exists());

    assert_success(&run_cmd(&[&catalog], &data, &out, &["--on-error", "skip"]));
    let rejects: Vec<(String, String, String)> = rejects_file(&out)
        .into_iter()
        .map(|r| (r["file"].clone(), r["line"].clone(), r["column"].clone()))
        .collect();
    assert_eq!(
        rejects,
        [
            (scores.clone(), "3".into(), "score".into()),
            (scores, "4".into(), "model".into()),
            (users, "3".into(), "signup_ts".into()),
        ]
    );
    let members = member_files(&out);
    assert_eq!(members["risky"], ["u1", "u3"]);
    assert_eq!(members["us"], ["u1"]);
}

#[test]
fn a_failed_run_leaves_an_existing_out_dir_untouched() {
    let tmp = TempDir::new().unwrap();
    let catalog = tmp.path().join("small.seg");
    write(&catalog, SMALL);
    let good = tmp.path().join("good");
    write(&good.join("users.csv"), GOOD_USERS);
    let out = tmp.path().join("out");
    assert_success(&run_cmd(&[&catalog], &good, &out, &[]));
    let before = output_dir::snapshot(&out);
    assert_eq!(
        before.len(),
        5,
        "3 member files, sizes.csv and the manifest"
    );

    let bad = data_with_bad_event_row(tmp.path(), b"u4,11,purchase,abc,shoes");
    assert_failure(&run_cmd(&[&catalog], &bad, &out, &[]));
    assert_eq!(output_dir::snapshot(&out), before);
    let header_bad = tmp.path().join("header_bad");
    write(&header_bad.join("users.csv"), "user_id,colour\nu1,red\n");
    assert_failure(&run_cmd(&[&catalog], &header_bad, &out, &[]));
    assert_eq!(output_dir::snapshot(&out), before);
}

/// Files in `OUT` that segflow did not write — a hidden file in `members/`, a user's
/// CSV file, a symlinked `members/` — make the run refuse `OUT`, touching nothing.
#[test]
fn a_run_never_deletes_what_it_did_not_write() {
    let tmp = TempDir::new().unwrap();
    let catalog = tmp.path().join("small.seg");
    write(&catalog, SMALL);
    let data = tmp.path().join("good");
    write(&data.join("users.csv"), GOOD_USERS);
    let elsewhere = tmp.path().join("elsewhere");
    write(&elsewhere.join("precious.csv"), "mine\n");
    type Setup = fn(&Path, &Path);
    let cases: [(&str, Setup); 4] = [
        ("no manifest", |out, _| {
            fs::remove_file(out.join(".segflow-manifest")).unwrap()
        }),
        ("hidden", |out, _| {
            write(&out.join("members/.hidden.csv"), "x\n")
        }),
        ("user file", |out, _| {
            write(&out.join("members/notes.csv"), "x\n")
        }),
        ("symlinked members", |out, elsewhere| {
            fs::remove_dir_all(out.join("members")).unwrap();
            std::os::unix::fs::symlink(elsewhere, out.join("members")).unwrap();
        }),
    ];
    for (name, setup) in cases {
        let out = tmp.path().join(format!("out-{name}"));
        assert_success(&run_cmd(&[&catalog], &data, &out, &[]));
        setup(&out, &elsewhere);
        let (before, theirs) = (output_dir::snapshot(&out), output_dir::snapshot(&elsewhere));
        let err = assert_failure(&run_cmd(&[&catalog], &data, &out, &[]));
        assert!(
            err.contains("refusing to replace output directory"),
            "{name}: {err}"
        );
        assert!(
            name != "no manifest" || err.contains("no manifest"),
            "{err}"
        );
        assert_eq!(output_dir::snapshot(&out), before, "{name}");
        assert_eq!(output_dir::snapshot(&elsewhere), theirs, "{name}");
    }
    // A directory segflow wrote is replaced whole: member files of segments gone from
    // the catalog go, and nothing is left beside it.
    let out = tmp.path().join("out-hidden");
    fs::remove_file(out.join("members/.hidden.csv")).unwrap();
    let smaller = tmp.path().join("smaller.seg");
    write(
        &smaller,
        SMALL.replace("segment spenders", "segment big_spenders"),
    );
    assert_success(&run_cmd(&[&smaller], &data, &out, &[]));
    let members = member_files(&out);
    assert!(members.contains_key("big_spenders") && !members.contains_key("spenders"));
    // The swapped-in directory has the permissions of any directory made here.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    fs::create_dir(tmp.path().join("plain")).unwrap();
    assert_eq!(mode(&out), mode(&tmp.path().join("plain")));
    fs::remove_dir(tmp.path().join("plain")).unwrap();
    let beside: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("segflow-"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
}

/// A write that fails half-way (here: a file-size limit, as a full disk would) leaves
/// the previous results exactly as they were and names the file it could not write.
#[test]
fn a_failed_write_leaves_the_previous_results_whole() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    assert_success(&run_cmd(
        &[&ecommerce()],
        &sample(),
        &out,
        &["--as-of", "1765000000"],
    ));
    let before = output_dir::snapshot(&out);
    let largest = before.values().map(Vec::len).max().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_segflow"));
    command.current_dir(root()).args([
        "run",
        "--catalog",
        &ecommerce().display().to_string(),
        "--data",
        &sample().display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    full_disk::limit_file_size(&mut command, (largest / 2) as u64);
    let err = assert_failure(&command.output().unwrap());
    assert!(err.contains("cannot write '"), "{err}");
    assert!(err.contains(".csv'"), "the message names the file: {err}");
    assert_eq!(output_dir::snapshot(&out), before);
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "nothing left beside"
    );
}

struct BadFile {
    name: &'static str,
    file: &'static str,
    content: &'static [u8],
    /// Substrings the one-line message must contain (besides `FILE:1`).
    message: &'static [&'static str],
}

const BAD_FILES: &[BadFile] = &[
    BadFile {
        name: "unknown header column",
        file: "events.csv",
        content: b"user_id,ts,kind,amount,category,colour\nu1,10,view,1,a,red\n",
        message: &["unknown column `colour`", "schema events(colour"],
    },
    BadFile {
        name: "unknown scores column",
        file: "scores.csv",
        content: b"user_id,model,score,ts,extra\nu1,churn,0.5,1,x\n",
        message: &["unknown column `extra`"],
    },
    BadFile {
        name: "missing required column",
        file: "events.csv",
        content: b"user_id,kind,amount,category\nu1,view,1,a\n",
        message: &["lacks column `ts`", "required"],
    },
    BadFile {
        name: "missing declared column",
        file: "events.csv",
        content: b"user_id,ts,kind,amount\nu1,10,view,1\n",
        message: &["lacks column `category`", "small.seg:2:"],
    },
    BadFile {
        name: "missing declared users column",
        file: "users.csv",
        content: b"user_id\nu1\n",
        message: &["lacks column `country`"],
    },
    BadFile {
        name: "duplicate header column",
        file: "users.csv",
        content: b"user_id,country,country\nu1,US,US\n",
        message: &["`country` appears twice"],
    },
    BadFile {
        name: "empty file",
        file: "events.csv",
        content: b"",
        message: &["empty", "header"],
    },
];

#[test]
fn bad_headers_and_empty_files_fail_with_or_without_skip() {
    for case in BAD_FILES {
        let tmp = TempDir::new().unwrap();
        let catalog = tmp.path().join("small.seg");
        write(&catalog, SMALL);
        let data = tmp.path().join("data");
        // A good users.csv beside the bad file (unless the bad file is users.csv).
        write(&data.join("users.csv"), GOOD_USERS);
        write(&data.join(case.file), case.content);
        let out = tmp.path().join("out");
        // A header problem makes the whole file unusable: `skip` is about rows and
        // cannot set it aside, so both modes stop.
        for mode in ["stop", "skip"] {
            let err = assert_failure(&run_cmd(&[&catalog], &data, &out, &["--on-error", mode]));
            assert_eq!(err.trim_end().lines().count(), 1, "{}: {err}", case.name);
            let place = format!("{}:1:", data.join(case.file).display());
            assert!(err.contains(&place), "{}: {err}", case.name);
            for part in case.message {
                assert!(err.contains(part), "{}: {err}", case.name);
            }
            assert!(!out.exists(), "{}: out dir created", case.name);
        }
    }
}

#[test]
fn many_bad_rows_are_reported_at_their_lines_whatever_the_workers() {
    let tmp = TempDir::new().unwrap();
    let catalog = tmp.path().join("small.seg");
    write(&catalog, SMALL);
    let data = tmp.path().join("data");
    let mut events = String::from(EVENTS_HEADER);
    let mut bad_lines = Vec::new();
    for i in 0..3000u32 {
        let line = i + 2;
        if i % 450 == 7 {
            events.push_str(&format!("v{i},{i},purchase,1;0,shoes\n"));
            bad_lines.push(line.to_string());
        } else {
            events.push_str(&format!("v{i},{i},purchase,1,shoes\n"));
        }
    }
    write(&data.join("events.csv"), events);
    let mut seen = Vec::new();
    for workers in ["1", "2", "4", "7"] {
        let out = tmp.path().join(format!("out{workers}"));
        let output = run_cmd(
            &[&catalog],
            &data,
            &out,
            &["--on-error", "skip", "-w", workers],
        );
        assert_success(&output);
        let rejects = rejects_file(&out);
        let lines: Vec<String> = rejects.iter().map(|r| r["line"].clone()).collect();
        assert_eq!(lines, bad_lines, "-w {workers}");
        for r in &rejects {
            let i: u32 = r["line"].parse::<u32>().unwrap() - 2;
            assert_eq!(r["row"], format!("v{i},{i},purchase,1;0,shoes"));
        }
        let sizes: BTreeMap<_, _> = sizes_file(&out).into_iter().collect();
        assert_eq!(sizes["everyone"], 3000 - bad_lines.len());
        seen.push(output_dir::snapshot(&out));

        // Stopping reports the first bad row, whichever worker read it.
        let stop = tmp.path().join("stopped");
        let err = assert_failure(&run_cmd(&[&catalog], &data, &stop, &["-w", workers]));
        let place = format!("{}:{}:", data.join("events.csv").display(), bad_lines[0]);
        assert!(err.contains(&place), "-w {workers}: {err}");
        assert!(
            err.contains(&format!("{} bad row(s) in all", bad_lines.len())),
            "{err}"
        );
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]));
}

/// The sample's `events.csv` with an unterminated quote at line 7: the line is the only
/// reject, every later row still counts, with any number of workers.
#[test]
fn an_unterminated_quote_costs_its_own_line_whatever_the_workers() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let mut events = fs::read_to_string(sample().join("events.csv")).unwrap();
    let line_7 = events.match_indices('\n').nth(5).unwrap().0 + 1;
    let bad = "u0000001,1735690000,purchase,\"12.5,shoes";
    events.insert_str(line_7, &format!("{bad}\n"));
    write(&data.join("events.csv"), events);
    for file in ["users.csv", "scores.csv"] {
        fs::copy(sample().join(file), data.join(file)).unwrap();
    }
    let clean = tmp.path().join("clean");
    assert_success(&run_cmd(&[&ecommerce()], &sample(), &clean, &[]));
    let mut clean = output_dir::snapshot(&clean);
    clean.remove(Path::new(".segflow-manifest"));
    for workers in ["1", "2", "3", "4"] {
        let out = tmp.path().join(format!("out{workers}"));
        let args = ["--on-error", "skip", "-w", workers];
        assert_success(&run_cmd(&[&ecommerce()], &data, &out, &args));
        let rejects = rejects_file(&out);
        assert_eq!(rejects.len(), 1, "-w {workers}: {rejects:?}");
        assert_eq!(rejects[0]["line"], "7");
        assert_eq!(rejects[0]["row"], bad);
        let mut written = output_dir::snapshot(&out);
        for aside in ["rejects.csv", ".segflow-manifest"] {
            written.remove(Path::new(aside));
        }
        assert_eq!(
            written, clean,
            "-w {workers}: the other rows are the sample's"
        );
    }
}

/// Lines end at LF, CRLF or a bare CR: the sample with any of them gives the same
/// results.
#[test]
fn cr_and_crlf_line_ends_read_like_lf() {
    let tmp = TempDir::new().unwrap();
    let lf = tmp.path().join("lf");
    assert_success(&run_cmd(&[&ecommerce()], &sample(), &lf, &[]));
    let expected = output_dir::snapshot(&lf);
    for (name, end) in [("cr", "\r"), ("crlf", "\r\n")] {
        let data = tmp.path().join(name);
        for file in ["users.csv", "events.csv", "scores.csv"] {
            let text = fs::read_to_string(sample().join(file)).unwrap();
            write(&data.join(file), text.replace('\n', end));
        }
        for workers in ["1", "3"] {
            let out = tmp.path().join(format!("{name}{workers}"));
            assert_success(&run_cmd(&[&ecommerce()], &data, &out, &["-w", workers]));
            assert_eq!(output_dir::snapshot(&out), expected, "{name}, -w {workers}");
        }
    }
}

/// Errors quote input cut short: a multi-megabyte cell or catalog name does not fill
/// the terminal.
#[test]
fn errors_cut_huge_values_they_quote() {
    let tmp = TempDir::new().unwrap();
    let catalog = tmp.path().join("small.seg");
    write(&catalog, SMALL);
    let huge = "9".repeat(3 << 20);
    let data = data_with_bad_event_row(tmp.path(), format!("u4,{huge},view,1,a").as_bytes());
    let err = assert_failure(&run_cmd(&[&catalog], &data, &tmp.path().join("o"), &[]));
    assert!(err.len() < 1000, "{} bytes: {}", err.len(), &err[..300]);
    assert!(
        err.contains(&format!("{}… ({} bytes)`", &huge[..80], huge.len())),
        "{err}"
    );

    let name = "n".repeat(1 << 20);
    let bad_catalog = tmp.path().join("huge.seg");
    write(&bad_catalog, format!("segment s = {name} > 1\n"));
    let err = assert_failure(&segflow(["check", &bad_catalog.display().to_string()]));
    assert!(err.len() < 3000, "{} bytes: {}", err.len(), &err[..300]);
    assert!(err.contains("huge.seg:1:13"), "{err}");
}

/// Line numbers are counted from byte offsets: CRLF line ends and blank lines before
/// a bad row do not shift them.
#[test]
fn line_numbers_survive_crlf_and_blank_lines() {
    let cases = [
        ("user_id,ts,kind,amount,category\r\nu1,10,view,,a\r\nu2,10,view,,a\r\nu3,abc,view,,a\r\n", 4),
        ("user_id,ts,kind,amount,category\nu1,10,view,,a\n\n\nu3,abc,view,,a\n", 5),
    ];
    for (contents, line) in cases {
        let tmp = TempDir::new().unwrap();
        let catalog = tmp.path().join("small.seg");
        write(&catalog, SMALL);
        let data = tmp.path().join("data");
        write(&data.join("events.csv"), contents);
        let err = assert_failure(&run_cmd(&[&catalog], &data, &tmp.path().join("o"), &[]));
        let place = format!("{}:{line}:", data.join("events.csv").display());
        assert!(err.contains(&place), "u3 is on line {line}: {err}");
    }
}

#[test]
fn rejected_row_reads_back_as_the_original_fields() {
    let tmp = TempDir::new().unwrap();
    let catalog = tmp.path().join("small.seg");
    write(&catalog, SMALL);
    let data = data_with_bad_event_row(tmp.path(), b"u4,11,purchase,\"12,5\",shoes");
    let out = tmp.path().join("out");
    assert_success(&run_cmd(&[&catalog], &data, &out, &["--on-error", "skip"]));
    let row = rejects_file(&out)[0]["row"].clone();
    let fields: Vec<String> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(row.as_bytes())
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        fields,
        ["u4", "11", "purchase", "12,5", "shoes"],
        "row: {row}"
    );
}

/// Times are limited to `i64::MAX` seconds (see `value::MAX_TIME`): a larger `ts` is a
/// bad row, reported like any other, and `--as-of` beyond it is a usage error.
#[test]
fn a_timestamp_beyond_the_time_range_is_a_bad_row() {
    let tmp = TempDir::new().unwrap();
    let catalog = tmp.path().join("small.seg");
    write(&catalog, SMALL);
    let data = tmp.path().join("data");
    write(
        &data.join("events.csv"),
        "user_id,ts,kind,amount,category\nu1,18446744073709551615,view,,a\nu2,10,purchase,6,b\n",
    );
    let out = tmp.path().join("out");
    let output = run_cmd(&[&catalog], &data, &out, &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("events.csv:2")
            && stderr.contains("`ts`")
            && stderr.contains("out of range"),
        "{stderr}"
    );
    let output = run_cmd(
        &[&catalog],
        &data,
        &out,
        &["--as-of", "18446744073709551615"],
    );
    assert!(!output.status.success());
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
}

// ---------------------------------------------------------------------------------
// 5. Missing inputs
// ---------------------------------------------------------------------------------

#[test]
fn missing_inputs_are_one_line_errors() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let no_dir = tmp.path().join("no-such-dir");
    let no_catalog = tmp.path().join("no-such.seg");
    let empty = tmp.path().join("empty");
    write(&empty.join("readme.txt"), "not data");

    let cases: Vec<(Output, Vec<String>)> = vec![
        (
            run_cmd(&[&ecommerce()], &no_dir, &out, &[]),
            vec![no_dir.display().to_string(), "does not exist".into()],
        ),
        (
            run_cmd(&[&no_catalog], &sample(), &out, &[]),
            vec![no_catalog.display().to_string(), "cannot read".into()],
        ),
        (
            run_cmd(&[&ecommerce()], &empty, &out, &[]),
            vec![
                empty.display().to_string(),
                "none of users.csv, events.csv, scores.csv".into(),
            ],
        ),
        (
            run_cmd(&[&ecommerce()], &sample(), &out, &["-w", "0"]),
            vec!["--workers".into()],
        ),
    ];
    for (output, parts) in cases {
        let err = assert_failure(&output);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        for part in parts {
            assert!(err.contains(&part), "{err}");
        }
        assert!(!out.exists());
    }
    let err = assert_failure(&segflow(["check", &no_catalog.display().to_string()]));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn missing_catalog_message_is_not_repeated() {
    let err = assert_failure(&segflow(["check", "no-such.seg"]));
    assert_eq!(
        err.trim_end(),
        "error: cannot read catalog file 'no-such.seg': No such file or directory"
    );
}

// ---------------------------------------------------------------------------------
// 6. `segflow check`
// ---------------------------------------------------------------------------------

#[test]
fn check_prints_kinds_and_shared_features() {
    let output = segflow(["check", "dataflows/ecommerce.seg"]);
    assert_success(&output);
    let text = stdout(&output);
    let kinds: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("segment "))
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().unwrap().to_string();
            let kind = words.next().unwrap().to_string();
            assert_eq!(words.next(), Some("hash"), "{l}");
            let hash = words.next().unwrap();
            assert!(
                hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                "{l}"
            );
            assert!(
                words
                    .next()
                    .unwrap()
                    .starts_with("(dataflows/ecommerce.seg:"),
                "{l}"
            );
            (name, kind)
        })
        .collect();
    let expected: BTreeMap<String, String> = [
        ("high_value_repeat", "rule"),
        ("churn_risk", "score-based"),
        ("vip_retention", "hybrid"),
        ("active_30d", "time-based"),
        ("lapsed", "time-based"),
        ("new_us", "time-based"),
        ("shoes_fans", "time-based"),
        ("big_basket", "time-based"),
        ("explorers", "time-based"),
        ("paid_plans_quiet", "time-based"),
        ("low_engagement", "hybrid"),
        ("recent_big_spend", "time-based"),
    ]
    .into_iter()
    .map(|(n, k)| (n.to_string(), format!("[{k}]")))
    .collect();
    assert_eq!(kinds, expected, "{text}");

    let shared: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("shared between segments"))
        .skip(1)
        .collect();
    let users_of = |feature: &str| -> BTreeSet<String> {
        let line = shared
            .iter()
            .find(|l| l.trim_start().starts_with(&format!("{feature} ")))
            .unwrap_or_else(|| panic!("{feature} not in the shared section:\n{text}"));
        line.split("<-")
            .nth(1)
            .unwrap()
            .split(',')
            .map(|s| s.trim().to_string())
            .collect()
    };
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        users_of("purchases"),
        set(&[
            "high_value_repeat",
            "vip_retention",
            "lapsed",
            "low_engagement"
        ])
    );
    assert_eq!(
        users_of("churn"),
        set(&["churn_risk", "vip_retention", "low_engagement"])
    );
    assert_eq!(
        users_of("ltv"),
        set(&["high_value_repeat", "vip_retention"])
    );
}

/// `check --plan` shows every choice the renderer will carry out.
#[test]
fn check_plan_prints_the_physical_plan() {
    let tmp = TempDir::new().unwrap();
    let catalog = tmp.path().join("plan.seg");
    write(
        &catalog,
        "schema users(signup_ts: time)\n\
         schema events(amount: number)\n\
         feature spend  = sum(events.amount)\n\
         feature orders = count(events.amount)\n\
         feature low    = min(events.amount)\n\
         feature high   = max(events.amount)\n\
         feature mid    = median(events.amount)\n\
         feature last   = max(events.ts)\n\
         feature unused = count(events where kind = 'x')\n\
         segment big    = spend > 100 and orders >= 2\n\
         segment spread = high > low and mid > 5\n\
         segment recent = last > now - 1d\n\
         segment fresh  = users.signup_ts > now - 7d\n",
    );
    let output = segflow(["check", "--plan", &catalog.display().to_string()]);
    assert_success(&output);
    let text = stdout(&output);
    let line = |start: &str| -> &str {
        let found = text.lines().find(|l| l.trim_start().starts_with(start));
        found.unwrap_or_else(|| panic!("no line starting with {start:?} in:\n{text}"))
    };
    // count and sum share one totals slot; min, max and median one values slot, which
    // keeps every value; max(events.ts) alone keeps only the greatest.
    assert!(
        line("s0  totals of events.amount").contains("reads sum, count"),
        "{text}"
    );
    let values = line("s1  values of events.amount");
    assert!(
        values.contains("reads min, max, median") && !values.contains("keeps"),
        "{text}"
    );
    assert!(
        line("s2  values of events.ts").contains("keeps the greatest value"),
        "{text}"
    );
    // A feature no segment reads is not rendered.
    assert!(
        line("s3  totals of events where kind = 'x'").contains("unread"),
        "{text}"
    );
    // Where each atom is decided.
    assert!(
        line("a0  spend > 100").contains("decided by the reader of s0"),
        "{text}"
    );
    assert!(
        line("a2  high > low").contains("decided in the reduce from o3, o2"),
        "{text}"
    );
    assert!(
        line("a4  last > now - 1d").contains("temporal filter over the rows of o5"),
        "{text}"
    );
    assert!(line("o5  last").contains("out as rows"), "{text}");
    assert!(
        line("a5  users.signup_ts > now - 1w").contains("temporal filter"),
        "{text}"
    );
    assert_eq!(line("recent ="), "  recent = n6", "{text}");
}

#[test]
fn check_reports_errors_with_location_and_caret() {
    let tmp = TempDir::new().unwrap();
    let bad = tmp.path().join("bad.seg");
    write(
        &bad,
        "schema users(country: text)\n\
         feature purchases = count(events where kind = 'purchase')\n\
         segment s = purchse > 5\n\
         segment t = users.country > 5\n",
    );
    let name = bad.display().to_string();
    for output in [
        segflow(["check", &name]),
        run_cmd(&[&bad], &sample(), &tmp.path().join("out"), &[]),
    ] {
        let err = assert_failure(&output);
        assert!(!tmp.path().join("out").exists());
        assert!(err.contains(&format!("{name}:3:13")), "{err}");
        assert!(err.contains(&format!("{name}:4:")), "{err}");
        assert!(err.contains("did you mean `purchases`"), "{err}");
        // The source line, and under it a caret under `purchse`.
        let lines: Vec<&str> = err.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.ends_with("| segment s = purchse > 5"))
            .unwrap_or_else(|| panic!("no source line:\n{err}"));
        let column = lines[at].find("purchse").unwrap();
        let caret = lines[at + 1];
        assert_eq!(caret.find('^'), Some(column), "{err}");
        assert!(caret[column..].starts_with("^^^^^^^"), "{err}");
    }
}

#[test]
fn catalog_errors_have_one_error_prefix() {
    let tmp = TempDir::new().unwrap();
    let bad = tmp.path().join("bad.seg");
    write(&bad, "segment s = nope > 5\n");
    let err = assert_failure(&segflow(["check", &bad.display().to_string()]));
    assert!(!err.contains("error: error:"), "{err}");
}

// ---------------------------------------------------------------------------------
// 7–8. Several catalog files; opaque ids
// ---------------------------------------------------------------------------------

#[test]
fn catalog_over_two_files() {
    let tmp = TempDir::new().unwrap();
    let a = tmp.path().join("a.seg");
    let b = tmp.path().join("b.seg");
    write(
        &a,
        "schema users(country: text)\n\
         schema events(amount: number)\n\
         feature spend = sum(events.amount)\n\
         segment big = spend > 10\n",
    );
    // b uses a's feature and segment, and declares a column again with the same type.
    write(
        &b,
        "schema events(amount: number)\n\
         segment big_us = big and users.country = 'US'\n\
         segment rich = spend >= 100\n",
    );
    let data = tmp.path().join("data");
    write(
        &data.join("users.csv"),
        "user_id,country\nu1,US\nu2,DE\nu3,US\n",
    );
    write(
        &data.join("events.csv"),
        "user_id,ts,kind,amount\nu1,1,buy,20\nu2,2,buy,200\nu3,3,buy,5\nu4,4,buy,100\n",
    );
    let out = tmp.path().join("out");
    assert_success(&run_cmd(&[&a, &b], &data, &out, &[]));
    let expected: BTreeMap<String, Vec<String>> = [
        ("big", vec!["u1", "u2", "u4"]),
        ("big_us", vec!["u1"]),
        ("rich", vec!["u2", "u4"]),
    ]
    .into_iter()
    .map(|(s, m)| (s.to_string(), m.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(member_files(&out), expected);
    let order: Vec<String> = sizes_file(&out).into_iter().map(|(s, _)| s).collect();
    assert_eq!(order, ["big", "big_us", "rich"]);

    // One namespace: the order of the files does not matter for the members.
    let out2 = tmp.path().join("out2");
    assert_success(&run_cmd(&[&b, &a], &data, &out2, &["-w", "2"]));
    assert_eq!(member_files(&out2), expected);

    // Rerunning a one-file catalog into the same out dir leaves only its segments.
    assert_success(&run_cmd(&[&a], &data, &out, &[]));
    assert_eq!(
        member_files(&out).keys().collect::<Vec<_>>(),
        ["big"],
        "stale member files were left behind"
    );

    // `check` accepts both files; either alone fails (b needs a).
    assert_success(&segflow([
        "check",
        &a.display().to_string(),
        &b.display().to_string(),
    ]));
    let err = assert_failure(&segflow(["check", &b.display().to_string()]));
    assert!(err.contains(&format!("{}:2:", b.display())), "{err}");
}

#[test]
fn user_ids_are_opaque_strings() {
    let tmp = TempDir::new().unwrap();
    let catalog = tmp.path().join("c.seg");
    write(
        &catalog,
        "schema users(country: text)\n\
         segment everyone = true\n\
         segment us = users.country = 'US'\n\
         segment active = exists(events)\n",
    );
    let data = tmp.path().join("data");
    write(
        &data.join("users.csv"),
        "user_id,country\n00042,US\n42,DE\n\"0x2A\",FR\n",
    );
    write(
        &data.join("events.csv"),
        "user_id,ts,kind\n42,5,view\n042,6,view\n",
    );
    let out = tmp.path().join("out");
    for workers in ["1", "3"] {
        assert_success(&run_cmd(&[&catalog], &data, &out, &["-w", workers]));
        let members = member_files(&out);
        assert_eq!(members["us"], ["00042"]);
        assert_eq!(members["active"], ["042", "42"]);
        assert_eq!(members["everyone"], ["00042", "042", "0x2A", "42"]);
        let raw = fs::read_to_string(out.join("members/us.csv")).unwrap();
        assert_eq!(raw, "user_id\n00042\n");
    }
}

// ---------------------------------------------------------------------------------
// 9. `segflow gen`
// ---------------------------------------------------------------------------------

#[test]
fn generated_data_runs_and_is_deterministic() {
    let tmp = TempDir::new().unwrap();
    let (g1, g2, g3) = (
        tmp.path().join("g1"),
        tmp.path().join("g2"),
        tmp.path().join("g3"),
    );
    for (dir, seed) in [(&g1, "3"), (&g2, "3"), (&g3, "4")] {
        let output = segflow([
            "gen",
            "--users",
            "50",
            "--events",
            "500",
            "--seed",
            seed,
            "--out",
            &dir.display().to_string(),
        ]);
        assert_success(&output);
        assert!(
            stdout(&output).contains("wrote 50 users, 500 events"),
            "{}",
            stdout(&output)
        );
    }
    let files = output_dir::snapshot(&g1);
    let names: Vec<String> = files.keys().map(|p| p.display().to_string()).collect();
    assert_eq!(names, ["events.csv", "scores.csv", "users.csv"]);
    assert_eq!(
        files,
        output_dir::snapshot(&g2),
        "same seed, different files"
    );
    assert_ne!(files, output_dir::snapshot(&g3), "the seed is ignored");
    assert_eq!(records(&g1.join("users.csv")).len(), 51);
    assert_eq!(records(&g1.join("events.csv")).len(), 501);

    let out = tmp.path().join("out");
    assert_success(&run_cmd(&[&ecommerce()], &g1, &out, &["-w", "2"]));
    let catalog = load_catalog(&[ecommerce()]);
    assert_consistent_output(&out, &catalog);
    let data = load_dataset(&g1, &catalog);
    let as_of = data.max_ts().unwrap();
    assert_eq!(
        member_files(&out),
        reference_members(&catalog, &data, as_of)
    );
}

/// `gen --model-versions`: churn scores of two versions and a switch in `models.csv`.
/// Before the switch and after it, two workers give the reference evaluator's answer,
/// and the switch moves users in and out of `churn_risk` (so versions are read).
#[test]
fn a_switch_of_model_versions_moves_exactly_the_users_the_reference_says() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("data");
    let output = segflow([
        "gen",
        "--users",
        "400",
        "--events",
        "4000",
        "--model-versions",
        "--out",
        &dir.display().to_string(),
    ]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("2 models rows"),
        "{}",
        stdout(&output)
    );
    let catalog = load_catalog(&[ecommerce()]);
    let data = load_dataset(&dir, &catalog);
    assert_eq!(data.models.len(), 2);
    assert!(data
        .scores
        .iter()
        .any(|s| s.version.as_deref() == Some("v2")));
    let switch = data.models[1].ts;
    let mut risky = Vec::new();
    for as_of in [switch - 1, data.max_ts().unwrap()] {
        let out = tmp.path().join(format!("out-{as_of}"));
        let as_of_text = as_of.to_string();
        assert_success(&run_cmd(
            &[&ecommerce()],
            &dir,
            &out,
            &["--as-of", &as_of_text, "-w", "2"],
        ));
        let members = member_files(&out);
        assert_eq!(
            members,
            reference_members(&catalog, &data, as_of),
            "as of {as_of}"
        );
        risky.push(members["churn_risk"].clone());
    }
    assert_ne!(
        risky[0], risky[1],
        "the switch changed nobody's churn score"
    );
}

#[test]
fn a_run_over_its_memory_limit_stops_with_a_message_and_leaves_out_as_it_was() {
    let tmp = TempDir::new().unwrap();
    // Thousands of segments over the sample: each member of each is held in memory.
    let base = std::fs::read_to_string(ecommerce()).unwrap();
    let mut catalog: String = base
        .lines()
        .filter(|line| line.starts_with("schema") || line.starts_with("feature"))
        .map(|line| format!("{line}\n"))
        .collect();
    for i in 0..3000 {
        catalog.push_str(&format!("segment s{i} = purchases < {}\n", i + 1000));
    }
    let path = tmp.path().join("many.seg");
    write(&path, &catalog);
    let out = tmp.path().join("out");
    let small = ecommerce();
    assert_success(&run_cmd(&[small.as_path()], &sample(), &out, &[]));
    let before = output_dir::snapshot(&out);
    let output = run_cmd(
        &[path.as_path()],
        &sample(),
        &out,
        &["--max-memory", "100MiB"],
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("error: segflow stopped at") && err.contains("over its limit of 100 MiB"),
        "{err}"
    );
    assert_eq!(output_dir::snapshot(&out), before);

    let bad = segflow([
        "run",
        "--max-memory",
        "lots",
        "--catalog",
        "x",
        "--data",
        "y",
    ]);
    assert!(
        stderr(&bad).contains("`lots` is not a size"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn users_rows_with_a_ts_column_take_effect_at_their_time() {
    let tmp = TempDir::new().unwrap();
    let catalog = tmp.path().join("users.seg");
    write(
        &catalog,
        "schema users(country: text)\nsegment us = users.country = 'US'\nsegment known = true\n",
    );
    let data = tmp.path().join("data");
    // u1 moves to the US at 20 (its row at 10 comes later in the file but earlier in
    // time); u2 signs up at 30; u3 has no time: known from the start.
    write(
        &data.join("users.csv"),
        "user_id,ts,country\nu1,20,US\nu1,10,FR\nu2,30,US\nu3,,US\n",
    );
    let members_at = |as_of: &str| {
        let out = tmp.path().join(format!("out{as_of}"));
        assert_success(&run_cmd(
            &[catalog.as_path()],
            &data,
            &out,
            &["--as-of", as_of],
        ));
        member_files(&out)
    };
    let at = members_at("15");
    assert_eq!(at["us"], ["u3"]);
    assert_eq!(at["known"], ["u1", "u3"]);
    let at = members_at("25");
    assert_eq!(at["us"], ["u1", "u3"]);
    assert_eq!(at["known"], ["u1", "u3"]);
    // Without --as-of, the run is as of the greatest ts, users' included.
    let out = tmp.path().join("latest");
    let run = run_cmd(&[catalog.as_path()], &data, &out, &[]);
    assert_success(&run);
    assert_eq!(member_files(&out)["us"], ["u1", "u2", "u3"]);

    write(&tmp.path().join("bad.seg"), "schema users(ts: time)\n");
    let check = segflow(["check".as_ref(), tmp.path().join("bad.seg").as_os_str()]);
    assert!(
        stderr(&check).contains("`ts` is when a users row takes effect"),
        "{}",
        stderr(&check)
    );
}
