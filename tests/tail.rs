//! `segflow tail` end to end, as a user runs it:
//! - the bundled example: header with definition hashes, initial memberships at the
//!   backfill time, live changes, a rejected line in the rejects file, windows that
//!   expire when the clock moves;
//! - restart after a real `kill -9` in the middle of a stream that keeps growing: the
//!   log afterwards holds exactly the changes of an uninterrupted run, none twice;
//! - a log written for another catalog is refused, not appended to.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn catalog() -> String {
    root().join("dataflows/ecommerce.seg").display().to_string()
}

fn sample() -> String {
    root().join("datasets/sample").display().to_string()
}

fn tail_args(follow: &Path, changes: &Path) -> Vec<String> {
    [
        "tail",
        "--catalog",
        &catalog(),
        "--backfill",
        &sample(),
        "--follow",
        &follow.display().to_string(),
        "--changes",
        &changes.display().to_string(),
        "--quiet",
    ]
    .map(str::to_string)
    .to_vec()
}

fn segflow(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_segflow"))
        .args(args)
        .output()
        .expect("segflow runs")
}

/// The change records of a log (progress records and the header left out).
fn changes(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && *l != "time,segment,user_id,diff")
        .map(str::to_string)
        .collect()
}

#[test]
fn the_bundled_example_runs_from_the_readme() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("changes.csv");
    let mut args = tail_args(&root().join("datasets/live"), &log);
    args.push("--once".into());
    let output = segflow(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let text = fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("# segflow change log v1\n# definition high_value_repeat "));
    assert!(text.contains("# clock event, allowed lateness 0s, backfill through 1767225578\n"));
    let records = changes(&log);
    // Initial memberships at the backfill time, then live changes in time order.
    assert!(records[0].starts_with("1767225578,"));
    let times: Vec<&str> = records
        .iter()
        .map(|r| r.split(',').next().unwrap())
        .collect();
    assert!(times
        .windows(2)
        .all(|w| w[0].parse::<f64>().unwrap() <= w[1].parse::<f64>().unwrap()));
    // A new user's purchase; a correction; an erasure; windows expiring by the clock.
    assert!(records.contains(&"1767225587,active_30d,u9000001,1".to_string()));
    assert!(records.contains(&"1767225590.000001,big_basket,u0000752,-1".to_string()));
    assert!(records.iter().any(|r| r.ends_with(",u0000080,-1")));
    assert!(!records
        .iter()
        .any(|r| r.contains(",u0000080,1") && !r.starts_with("1767225578,")));
    assert!(records
        .iter()
        .any(|r| r.contains(",lapsed,") && r.ends_with(",1") && !r.starts_with("17672255")));
    // The bad line is set aside with its file, line and field.
    let rejects = fs::read_to_string(dir.path().join("changes.csv.rejects.csv")).unwrap();
    assert!(
        rejects.contains("example.jsonl,10,ts,cannot parse `not a time` as a time"),
        "{rejects}"
    );
}

#[test]
fn the_json_lines_log_carries_the_same_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, jsonl) = (
        dir.path().join("changes.csv"),
        dir.path().join("changes.jsonl"),
    );
    for (log, format) in [(&csv, "csv"), (&jsonl, "jsonl")] {
        let mut args = tail_args(&root().join("datasets/live"), log);
        args.extend(["--once".into(), "--format".into(), format.into()]);
        assert!(segflow(&args).status.success());
    }
    let text = fs::read_to_string(&jsonl).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    assert_eq!(records[0]["segflow_change_log"], 1);
    assert!(records[0]["definitions"]["lapsed"].is_string());
    let as_csv: Vec<String> = records
        .iter()
        .filter(|r| r.get("diff").is_some())
        .map(|r| {
            format!(
                "{},{},{},{}",
                r["time"].as_str().unwrap(),
                r["segment"].as_str().unwrap(),
                r["user_id"].as_str().unwrap(),
                r["diff"]
            )
        })
        .collect();
    assert_eq!(as_csv, changes(&csv));
    assert_eq!(records.last().unwrap()["progress"], "1769903978");
}

#[test]
fn a_missing_live_directory_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = segflow(&tail_args(
        &dir.path().join("nowhere"),
        &dir.path().join("c.csv"),
    ));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("nowhere' does not exist"), "{stderr}");
}

#[test]
fn a_log_of_another_catalog_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("changes.csv");
    fs::create_dir(dir.path().join("live")).unwrap();
    fs::write(&log, "# segflow change log v1\n# definition other 1234\n").unwrap();
    let mut args = tail_args(&dir.path().join("live"), &log);
    args.push("--once".into());
    let output = segflow(&args);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("changes.csv:2: this change log was written by a different catalog"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "# segflow change log v1\n# definition other 1234\n"
    );
}

/// A switch to a version of which no score was read is a rejected line; a switch to
/// a version with scores makes it the one `score('churn')` reads.
#[test]
fn a_switch_to_a_version_without_scores_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (live, log) = (dir.path().join("live"), dir.path().join("changes.csv"));
    fs::create_dir(&live).unwrap();
    let lines = [
        r#"{"type":"score","user_id":"u0000001","model":"churn","score":"0.95","ts":1767225583,"version":"v3"}"#,
        r#"{"type":"model","model":"churn","version":"v4","ts":1767225584}"#,
        r#"{"type":"model","model":"churn","version":"v3","ts":1767225585}"#,
    ];
    fs::write(live.join("a.jsonl"), lines.join("\n") + "\n").unwrap();
    assert_succeeded(&tail_once(&live, &log));
    let rejects = fs::read_to_string(dir.path().join("changes.csv.rejects.csv")).unwrap();
    let place = format!(
        "{},2,version,model `churn` has no scores of version `v4`",
        live.join("a.jsonl").display()
    );
    assert!(rejects.contains(&place), "{rejects}");
    // From the switch to v3 on, u0000001's v3 score is the only churn score that counts.
    let mut risky: BTreeMap<String, i64> = BTreeMap::new();
    for record in changes(&log) {
        let fields: Vec<&str> = record.split(',').collect();
        if fields[1] == "churn_risk" {
            *risky.entry(fields[2].to_string()).or_default() += fields[3].parse::<i64>().unwrap();
        }
    }
    risky.retain(|_, n| *n > 0);
    assert_eq!(risky.keys().collect::<Vec<_>>(), ["u0000001"]);
}

/// A live line over the limit is a rejected line, and the lines after it are read.
#[test]
fn a_line_over_the_limit_is_rejected_and_the_stream_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (live, log) = (dir.path().join("live"), dir.path().join("changes.csv"));
    fs::create_dir(&live).unwrap();
    let event = |user: &str| {
        format!(r#"{{"type":"event","user_id":"{user}","ts":1767225583,"kind":"view"}}"#)
    };
    let long = format!(
        r#"{{"type":"event","user_id":"{}","ts":1767225583,"kind":"view"}}"#,
        "u".repeat(9 << 20)
    );
    let text = format!("{}\n{long}\n{}\n", event("u9000001"), event("u9000002"));
    fs::write(live.join("a.jsonl"), text).unwrap();
    assert_succeeded(&tail_once(&live, &log));
    let records = changes(&log);
    for user in ["u9000001", "u9000002"] {
        let entered = format!(",active_30d,{user},1");
        assert!(records.iter().any(|r| r.ends_with(&entered)), "{user}");
    }
    let rejects = fs::read_to_string(dir.path().join("changes.csv.rejects.csv")).unwrap();
    let place = format!(
        "{},2,,line longer than 8388608 bytes",
        live.join("a.jsonl").display()
    );
    assert!(
        rejects.contains(&place),
        "{}",
        &rejects[..rejects.len().min(500)]
    );
    assert!(
        rejects.len() < 1000,
        "the reject holds the line's start only"
    );
}

/// A live stream over the sample's users: purchases and views in time order with some
/// out of order, a bad line, corrections, an erasure, and clock records that let
/// windows expire.
fn stream() -> Vec<String> {
    let start = 1_767_225_579u64;
    let mut lines = Vec::new();
    for i in 0..600u64 {
        let user = format!("u{:07}", (i * 37) % 1500);
        let ts = start + i * 3_000 - if i % 7 == 0 { 1_000 } else { 0 };
        let kind = if i % 3 == 0 { "purchase" } else { "view" };
        lines.push(format!(
            r#"{{"type":"event","user_id":"{user}","ts":{ts},"kind":"{kind}","amount":"{}.50","category":"shoes"}}"#,
            i % 400
        ));
        if i % 50 == 0 {
            lines.push(format!(
                r#"{{"type":"retract_event","user_id":"{user}","ts":{ts},"kind":"{kind}","amount":"{}.50","category":"shoes"}}"#,
                i % 400
            ));
            lines.push(format!(
                r#"{{"type":"delete_user","user_id":"u{:07}"}}"#,
                i % 1500
            ));
            lines.push(r#"{"type":"event","user_id":"u1","ts":"soon"}"#.to_string());
        }
        if i % 100 == 99 {
            lines.push(format!(r#"{{"type":"clock","ts":{}}}"#, ts + 20 * 86_400));
        }
    }
    lines
}

fn append(path: &Path, lines: &[String]) {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
}

/// Waits until the log's last progress record says every live line was read.
fn wait_until_read(log: &Path, live_file: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let size = fs::metadata(live_file).unwrap().len();
    let wanted = format!("\"offset\":{size},");
    loop {
        let text = fs::read_to_string(log).unwrap_or_default();
        if text
            .lines()
            .rev()
            .find(|l| l.starts_with("# progress "))
            .is_some_and(|l| l.contains(&wanted))
        {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "segflow tail exited early"
        );
        assert!(
            Instant::now() < deadline,
            "segflow tail did not catch up:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_tail(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_segflow"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_restart_after_kill_9_neither_loses_nor_repeats_changes() {
    let lines = stream();
    let dir = tempfile::tempdir().unwrap();

    // Uninterrupted: every line there from the start, read at once.
    let whole = dir.path().join("whole");
    fs::create_dir(&whole).unwrap();
    append(&whole.join("stream.jsonl"), &lines);
    let whole_log = dir.path().join("whole.csv");
    let mut args = tail_args(&whole, &whole_log);
    args.push("--once".into());
    assert!(segflow(&args).status.success());
    let expected = changes(&whole_log);
    assert!(
        expected.len() > 1000,
        "the stream should change many memberships"
    );

    // Interrupted: the stream grows while segflow follows it, and segflow is killed.
    let live = dir.path().join("live");
    fs::create_dir(&live).unwrap();
    let file = live.join("stream.jsonl");
    let log = dir.path().join("changes.csv");
    let args = tail_args(&live, &log);
    let chunks: Vec<&[String]> = lines.chunks(lines.len() / 6 + 1).collect();
    let mut child = spawn_tail(&args);
    for chunk in &chunks[..3] {
        append(&file, chunk);
        wait_until_read(&log, &file, &mut child);
    }
    // More input, and the kill while it is being read.
    append(&file, chunks[3]);
    std::thread::sleep(Duration::from_millis(5));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = changes(&log);
    assert!(!before.is_empty() && before.len() < expected.len());
    // A torn last line, as a crash in the middle of a write leaves it.
    fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(b"1767999999,lap")
        .unwrap();

    // Input that arrives while segflow is down, then the restart with the same arguments.
    append(&file, chunks[4]);
    let mut child = spawn_tail(&args);
    for chunk in &chunks[5..] {
        append(&file, chunk);
    }
    wait_until_read(&log, &file, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();

    let after = changes(&log);
    assert_eq!(after.len(), expected.len(), "changes lost or repeated");
    assert_eq!(after, expected);
    // Bad lines are in the rejects file once each.
    let rejects = |log: &Path| -> Vec<String> {
        let mut name = log.as_os_str().to_owned();
        name.push(".rejects.csv");
        let text = fs::read_to_string(PathBuf::from(name)).unwrap();
        text.lines()
            .skip(1)
            .map(|l| l.split_once(',').unwrap().1.to_string())
            .collect()
    };
    assert_eq!(rejects(&log), rejects(&whole_log));
}

#[test]
fn a_lone_event_of_a_new_second_is_reported_without_waiting_for_another() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    fs::create_dir(&live).unwrap();
    let file = live.join("stream.jsonl");
    // One event, in a second after the backfill's, and then nothing more: the user
    // enters `active_30d` as soon as the line is read.
    append(
        &file,
        &[r#"{"type":"event","user_id":"lone","ts":1767225700,"kind":"view","amount":null,"category":"shoes"}"#.to_string()],
    );
    let log = dir.path().join("changes.csv");
    let mut child = spawn_tail(&tail_args(&live, &log));
    wait_until_read(&log, &file, &mut child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let entered = "1767225700,active_30d,lone,1";
    while !changes(&log).iter().any(|c| c == entered) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        changes(&log).iter().any(|c| c == entered),
        "the change waits for a later record:\n{}",
        fs::read_to_string(&log).unwrap()
    );
}

fn tail_once(live: &Path, log: &Path) -> Output {
    let mut args = tail_args(live, log);
    args.push("--once".into());
    segflow(&args)
}

#[track_caller]
fn assert_succeeded(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
}

/// The one-line error of a refused run (exit status 1, never a panic).
#[track_caller]
fn refusal(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A second `segflow tail` on a log that a running one writes is refused at start
/// and changes nothing; once the first has ended, the log takes a writer again.
#[test]
fn a_second_writer_of_one_change_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (live, log) = (dir.path().join("live"), dir.path().join("changes.csv"));
    fs::create_dir(&live).unwrap();
    let mut first = spawn_tail(&tail_args(&live, &log));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("# progress ")
    {
        assert!(first.try_wait().unwrap().is_none(), "the first run exited");
        assert!(Instant::now() < deadline, "the first run wrote no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = fs::read(&log).unwrap();
    let stderr = refusal(&tail_once(&live, &log));
    assert!(
        stderr.contains("another running `segflow tail`"),
        "{stderr}"
    );
    assert_eq!(fs::read(&log).unwrap(), before);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_succeeded(&tail_once(&live, &log));
}

/// Progress records lost after a bad line was set aside (a full disk, a crash between
/// the two files): the restart reads the line again and sets it aside once.
#[test]
fn a_restart_sets_each_bad_line_aside_once() {
    let dir = tempfile::tempdir().unwrap();
    let (live, log) = (dir.path().join("live"), dir.path().join("changes.csv"));
    fs::create_dir(&live).unwrap();
    fs::write(
        live.join("a.jsonl"),
        "{\"type\":\"event\",\"user_id\":\"u1\",\"ts\":\"soon\"}\n",
    )
    .unwrap();
    assert_succeeded(&tail_once(&live, &log));
    let rejects = dir.path().join("changes.csv.rejects.csv");
    let entries = |path: &Path| fs::read_to_string(path).unwrap().lines().count() - 1;
    assert_eq!(entries(&rejects), 1);
    // The log loses the progress record of the round that read a.jsonl.
    let text = fs::read_to_string(&log).unwrap();
    let last = text.trim_end().rfind('\n').unwrap() + 1;
    assert!(text[last..].contains("a.jsonl"), "{text}");
    fs::write(&log, &text[..last]).unwrap();
    assert_succeeded(&tail_once(&live, &log));
    assert_eq!(
        entries(&rejects),
        1,
        "{}",
        fs::read_to_string(&rejects).unwrap()
    );
    assert_eq!(fs::read_to_string(&log).unwrap(), text);
}

/// A log that no single run could have written is refused with its line, never a
/// panic; a log cut by a crash (inside its header, or inside its last record) resumes.
#[test]
fn a_corrupt_change_log_is_an_error_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (live, log) = (dir.path().join("live"), dir.path().join("changes.csv"));
    fs::create_dir(&live).unwrap();
    let events: Vec<String> = (0..4)
        .map(|i| {
            format!(
                r#"{{"type":"event","user_id":"u{i}","ts":{},"kind":"view"}}"#,
                1767225583 + i
            )
        })
        .collect();
    append(&live.join("a.jsonl"), &events[..2]);
    assert_succeeded(&tail_once(&live, &log));
    append(&live.join("a.jsonl"), &events[2..]);
    assert_succeeded(&tail_once(&live, &log));
    let good = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    let progress: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("# progress ") && lines[i].contains("a.jsonl"))
        .collect();
    assert_eq!(progress.len(), 2, "{good}");
    let (first, second) = (progress[0], progress[1]);
    let with = |line: usize, text: &str| {
        let mut edited = lines.clone();
        edited[line] = text;
        edited.join("\n") + "\n"
    };
    let offset_back = lines[second].replace("\"line\":4", "\"line\":1");
    let time_back = format!(
        "# progress 1000 {}",
        lines[first].rsplit_once(' ').unwrap().1
    );
    let cases = [
        (with(second, &offset_back), second, "goes back from line 2"),
        (with(second, &time_back), second, "the progress goes back"),
        (
            with(first, "# progress 1767225584 {\"a.jsonl\":"),
            first,
            "malformed progress",
        ),
    ];
    for (text, line, why) in cases {
        fs::write(&log, &text).unwrap();
        let stderr = refusal(&tail_once(&live, &log));
        let place = format!("changes.csv:{}: ", line + 1);
        assert!(
            stderr.contains(&place) && stderr.contains(why),
            "{why}: {stderr}"
        );
        assert_eq!(fs::read_to_string(&log).unwrap(), text, "left as it was");
    }
    // Cut inside the header, or inside the last progress record: the run resumes and
    // the log ends as an uninterrupted run's.
    let header_end = good.find("time,segment").unwrap() + 5;
    let last_end = good.len() - 3;
    for cut in [header_end, last_end] {
        fs::write(&log, &good[..cut]).unwrap();
        assert_succeeded(&tail_once(&live, &log));
        assert_eq!(changes(&log), changes_of(&good), "cut at {cut}");
    }
}

fn changes_of(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    fs::write(&path, text).unwrap();
    changes(&path)
}

/// A change log or rejects file that the run would read back as live input is refused.
#[test]
fn outputs_in_the_followed_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    fs::create_dir(&live).unwrap();
    let stderr = refusal(&tail_once(&live, &live.join("changes.jsonl")));
    assert!(
        stderr.contains("would be read back as live input"),
        "{stderr}"
    );
    let mut args = tail_args(&live, &dir.path().join("changes.csv"));
    let rejects = live.join("bad.jsonl").display().to_string();
    args.extend(["--once".into(), "--rejects".into(), rejects]);
    let stderr = refusal(&segflow(&args));
    assert!(stderr.contains("rejects file"), "{stderr}");
    assert!(!live.join("bad.jsonl").exists());
}

/// Sources deliver at least once: a copy of an event (same user, same `event_id`)
/// counts once, in the first run and after a restart, which reads the files again.
#[test]
fn a_redelivered_event_counts_once_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (live, log) = (dir.path().join("live"), dir.path().join("changes.csv"));
    fs::create_dir(&live).unwrap();
    let catalog = dir.path().join("spend.seg");
    fs::write(
        &catalog,
        "schema events(amount: number)\nsegment exact = sum(events.amount) = 10\n",
    )
    .unwrap();
    let event = |ts: u64, amount: u32, id: &str| {
        format!(
            "{{\"type\":\"event\",\"user_id\":\"n1\",\"ts\":{ts},\"kind\":\"buy\",\"amount\":{amount},\"event_id\":\"{id}\"}}"
        )
    };
    let run = || {
        segflow(
            &[
                "tail",
                "--catalog",
                &catalog.display().to_string(),
                "--follow",
                &live.display().to_string(),
                "--changes",
                &log.display().to_string(),
                "--once",
            ]
            .map(str::to_string),
        )
    };
    let clock = |ts: u64| format!("{{\"type\":\"clock\",\"ts\":{ts}}}");
    append(
        &live.join("a.jsonl"),
        &[
            event(100, 6, "p1"),
            event(100, 6, "p1"),
            event(101, 4, "p2"),
            clock(200),
        ],
    );
    let first = run();
    assert_succeeded(&first);
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("1 duplicates"),
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );
    assert_eq!(changes(&log), ["101,exact,n1,1"]);
    // Redelivered after the restart, with its own time: still the same event.
    append(&live.join("a.jsonl"), &[event(100, 6, "p1"), clock(300)]);
    let second = run();
    assert_succeeded(&second);
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("2 duplicates"), "{stdout}");
    assert_eq!(changes(&log), ["101,exact,n1,1"]);
}
