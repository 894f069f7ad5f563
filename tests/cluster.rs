//! Jobs of several processes: `segflow run -n N -p I -h HOSTFILE` started by hand, and
//! `segflow cluster`.
//!
//! Covered here:
//! - 2 processes × 1 worker (by hand and through `segflow cluster`) write output
//!   directories byte-identical to 1 process × 2 workers, on the bundled sample and on
//!   generated datasets (also 2 × 2 against 1 × 1); process 0 prints the usual table,
//!   process 1 one line;
//! - a bad row read by process 1 stops the job on both processes with the file and line
//!   of a single-process run (`--on-error stop`), or reaches process 0's `rejects.csv`
//!   (`--on-error skip`);
//! - a peer that never starts: a one-line error after `--connect-timeout`;
//! - a peer killed mid-run: the other process exits non-zero within seconds with one
//!   line naming the peer; through `segflow cluster`, the launcher names the killed
//!   process and stops the other;
//! - a peer stopped mid-run (`kill -STOP`, connections left open): the other process
//!   exits non-zero after `--peer-timeout` with one line naming the peer;
//! - stopping the launcher (SIGTERM, SIGINT, SIGHUP) stops its processes, and a
//!   launcher killed outright (SIGKILL) leaves no process running;
//! - processes started with different catalogs, flags or data files (even of one size)
//!   refuse to run together;
//! - hostfile mistakes are one line naming the file.
//!
//! Ports come from binding port 0; a job whose port was taken meanwhile (exit code 75)
//! is started again with new ports.

mod output_dir;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use segflow::gen::{generate, GenOptions};
use tempfile::TempDir;

/// Exit code of a process whose port was taken (`segflow::cli::PORT_TAKEN`).
const PORT_TAKEN: i32 = segflow::cli::PORT_TAKEN as i32;
/// Longest a test waits for a process before calling it hung.
const HUNG: Duration = Duration::from_secs(120);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ecommerce() -> String {
    root().join("dataflows/ecommerce.seg").display().to_string()
}

fn sample() -> PathBuf {
    root().join("datasets/sample")
}

fn segflow() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_segflow"));
    command
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// `run --catalog ecommerce.seg --data DATA --out OUT EXTRA...`
fn run_args(data: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "run".to_string(),
        "--catalog".into(),
        ecommerce(),
        "--data".into(),
        data.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Waits for `child`'s output; a process still running after [`HUNG`] fails the test.
fn finish(child: Child) -> Output {
    let pid = child.id();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || send.send(child.wait_with_output()));
    match receive.recv_timeout(HUNG) {
        Ok(output) => output.expect("waiting for segflow"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("segflow (pid {pid}) hung");
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "segflow failed ({})\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Asserts a clean failure (exit code 1, no panic) and returns stderr.
#[track_caller]
fn assert_failure(output: &Output) -> String {
    let err = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr:\n{err}");
    assert!(!err.contains("panicked"), "panic:\n{err}");
    err
}

/// A hostfile of `processes` free local ports, in `dir`.
fn hostfile(dir: &Path, processes: usize) -> (PathBuf, Vec<String>) {
    // All bound at once so the ports differ; released before the processes bind them.
    let listeners: Vec<TcpListener> = (0..processes)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let addresses: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect();
    let path = dir.join("hosts.txt");
    fs::write(&path, addresses.join("\n") + "\n").unwrap();
    (path, addresses)
}

/// Starts process `process` of a job of `processes` with `workers` threads each.
fn spawn(args: &[String], processes: usize, process: usize, workers: usize, hosts: &Path) -> Child {
    segflow()
        .args(args)
        .args(["-n", &processes.to_string(), "-p", &process.to_string()])
        .args(["-w", &workers.to_string(), "--connect-timeout", "30"])
        .arg("-h")
        .arg(hosts)
        .spawn()
        .expect("cannot start segflow")
}

/// Runs every process of one job, started by hand with `args(process)`; their outputs
/// in process order.
fn run_by_hand(
    args: impl Fn(usize) -> Vec<String>,
    processes: usize,
    workers: usize,
) -> Vec<Output> {
    let dir = TempDir::new().unwrap();
    for _attempt in 0..3 {
        let (hosts, _) = hostfile(dir.path(), processes);
        let children: Vec<Child> = (0..processes)
            .map(|process| spawn(&args(process), processes, process, workers, &hosts))
            .collect();
        let outputs: Vec<Output> = children.into_iter().map(finish).collect();
        if !outputs.iter().any(|o| o.status.code() == Some(PORT_TAKEN)) {
            return outputs;
        }
    }
    panic!("ports kept being taken");
}

/// `segflow cluster -n PROCESSES -w WORKERS -- ARGS...`
fn run_cluster(args: &[String], processes: usize, workers: usize) -> Output {
    finish(
        segflow()
            .args(["cluster", "-n", &processes.to_string()])
            .args(["-w", &workers.to_string(), "--"])
            .args(args)
            .spawn()
            .unwrap(),
    )
}

/// `segflow run ARGS... -w WORKERS` as a single process.
fn run_alone(args: &[String], workers: usize) -> Output {
    finish(
        segflow()
            .args(args)
            .args(["-w", &workers.to_string()])
            .spawn()
            .unwrap(),
    )
}

#[track_caller]
fn assert_same_dirs(expected: &Path, actual: &Path) {
    let (expected, actual) = (output_dir::snapshot(expected), output_dir::snapshot(actual));
    assert!(!expected.is_empty(), "nothing was written");
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        actual.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &expected {
        assert!(actual[path] == *bytes, "{} differs", path.display());
    }
}

/// The printed size table: the output without its first line (timings) and last
/// line (the output directory).
fn table(stdout: &[u8]) -> Vec<String> {
    let out = text(stdout);
    let lines: Vec<String> = out.lines().map(str::to_string).collect();
    assert!(lines.len() > 2, "{out}");
    lines[1..lines.len() - 1].to_vec()
}

#[test]
fn two_processes_write_what_one_process_writes_on_the_sample() {
    let dir = TempDir::new().unwrap();
    let out = |name: &str| dir.path().join(name);

    let alone = run_alone(&run_args(&sample(), &out("alone"), &[]), 2);
    assert_success(&alone);

    let by_hand = run_by_hand(|_| run_args(&sample(), &out("by_hand"), &[]), 2, 1);
    by_hand.iter().for_each(assert_success);
    assert_same_dirs(&out("alone"), &out("by_hand"));
    assert_eq!(table(&by_hand[0].stdout), table(&alone.stdout));
    assert_eq!(
        text(&by_hand[1].stdout),
        "process 1 of 2 done; process 0 writes the results\n"
    );

    let launched = run_cluster(&run_args(&sample(), &out("launched"), &[]), 2, 1);
    assert_success(&launched);
    assert_same_dirs(&out("alone"), &out("launched"));
    let stdout = text(&launched.stdout);
    let (others, first): (Vec<&str>, Vec<&str>) =
        stdout.lines().partition(|line| line.starts_with("[p"));
    assert_eq!(table(first.join("\n").as_bytes()), table(&alone.stdout));
    assert_eq!(
        others,
        ["[p1] process 1 of 2 done; process 0 writes the results"]
    );
}

/// Every family of event state crosses the process boundary the same way: medians,
/// distinct counts and extremes of shared multisets, with windows.
#[test]
fn two_processes_agree_on_every_aggregate() {
    let dir = TempDir::new().unwrap();
    let extra = dir.path().join("aggregates.seg");
    std::fs::write(
        &extra,
        "schema events(amount: number, category: text)\n\
         feature mid_amount = median(events.amount)\n\
         segment mid_high   = mid_amount > 40\n\
         segment mid_recent = median(events.amount where kind = 'purchase' within 30d) >= 100\n\
         segment spread     = max(events.amount) > min(events.amount) and mid_amount < 60\n",
    )
    .unwrap();
    let extra = extra.display().to_string();
    let out = |name: &str| dir.path().join(name);
    let args = |name: &str| run_args(&sample(), &out(name), &["--catalog", &extra]);
    let alone = run_alone(&args("alone"), 1);
    assert_success(&alone);
    let launched = run_cluster(&args("launched"), 2, 1);
    assert_success(&launched);
    assert_same_dirs(&out("alone"), &out("launched"));
    // The medians select someone, and not everyone.
    let members = std::fs::read_to_string(out("alone").join("members/mid_high.csv")).unwrap();
    assert!(members.lines().count() > 1, "{members}");
}

#[test]
fn two_processes_write_what_one_process_writes_on_generated_data() {
    let dir = TempDir::new().unwrap();
    for seed in [11, 12, 13] {
        let data = dir.path().join(format!("data{seed}"));
        generate(&GenOptions::new(300, 6_000, seed), &data).unwrap();
        let out = |name: &str| dir.path().join(format!("{name}{seed}"));

        assert_success(&run_alone(&run_args(&data, &out("alone"), &[]), 2));
        assert_success(&run_cluster(&run_args(&data, &out("cluster"), &[]), 2, 1));
        assert_same_dirs(&out("alone"), &out("cluster"));
    }
    // Threads and processes together, against a single worker.
    let data = dir.path().join("data11");
    let out = |name: &str| dir.path().join(name);
    assert_success(&run_alone(&run_args(&data, &out("one"), &[]), 1));
    assert_success(&run_cluster(
        &run_args(&data, &out("two_by_two"), &[]),
        2,
        2,
    ));
    assert_same_dirs(&out("one"), &out("two_by_two"));
}

/// The sample with a bad row at the end of events.csv: in the part process 1 reads.
fn sample_with_a_late_bad_row(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    fs::create_dir_all(&data).unwrap();
    for file in ["users.csv", "scores.csv"] {
        fs::copy(sample().join(file), data.join(file)).unwrap();
    }
    let mut events = fs::read_to_string(sample().join("events.csv")).unwrap();
    events.push_str("u0000001,yesterday,view,,home\n");
    fs::write(data.join("events.csv"), events).unwrap();
    data
}

#[test]
fn a_bad_row_read_by_process_1_stops_the_job_on_process_0() {
    let dir = TempDir::new().unwrap();
    let data = sample_with_a_late_bad_row(dir.path());
    let out = dir.path().join("out");

    let alone = run_alone(&run_args(&data, &out, &[]), 2);
    let expected = assert_failure(&alone);
    assert!(
        expected.contains("events.csv:30002: column `ts`"),
        "{expected}"
    );

    let outputs = run_by_hand(|_| run_args(&data, &out, &[]), 2, 1);
    for output in &outputs {
        assert_eq!(assert_failure(output), expected);
    }
    assert!(!out.exists(), "a stopped job wrote output");
}

#[test]
fn rows_set_aside_by_process_1_reach_process_0s_rejects() {
    let dir = TempDir::new().unwrap();
    let data = sample_with_a_late_bad_row(dir.path());
    let out = |name: &str| dir.path().join(name);
    let skip = ["--on-error", "skip"];

    assert_success(&run_alone(&run_args(&data, &out("alone"), &skip), 2));
    run_by_hand(|_| run_args(&data, &out("by_hand"), &skip), 2, 1)
        .iter()
        .for_each(assert_success);
    assert!(out("by_hand").join("rejects.csv").exists());
    assert_same_dirs(&out("alone"), &out("by_hand"));
}

#[test]
fn a_peer_that_never_starts_is_named_after_the_timeout() {
    let dir = TempDir::new().unwrap();
    let (hosts, addresses) = hostfile(dir.path(), 2);
    let args = run_args(&sample(), &dir.path().join("out"), &[]);
    for (process, missing, detail) in [(0, 1, "it did not connect"), (1, 0, "refused")] {
        let started = Instant::now();
        let output = finish(
            segflow()
                .args(&args)
                .args([
                    "-n",
                    "2",
                    "-p",
                    &process.to_string(),
                    "--connect-timeout",
                    "1",
                ])
                .arg("-h")
                .arg(&hosts)
                .spawn()
                .unwrap(),
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let err = assert_failure(&output);
        let expected = format!(
            "error: process {missing} ({}) could not be reached within 1s (",
            addresses[missing]
        );
        assert!(err.starts_with(&expected), "{err}");
        assert!(
            err.contains(detail) && err.contains("--connect-timeout"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

/// A dataset large enough that a 2-process run lasts several seconds.
fn large_data(dir: &Path) -> PathBuf {
    let data = dir.join("large");
    generate(&GenOptions::new(50_000, 1_500_000, 5), &data).unwrap();
    data
}

/// Waits until `victim` is busy with the job (it has used a third of a second of CPU:
/// connected, and loading), checks the job is still running, sends `victim` `signal`
/// (`-9`, `-STOP`) and returns when. Waiting on the victim's progress rather than a
/// fixed time keeps the signal mid-run however fast the machine or the engine is.
#[track_caller]
fn signal_mid_run(victim: u32, signal: &str, others_running: &mut dyn FnMut() -> bool) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(30);
    while cpu_seconds(victim).is_some_and(|s| s < 0.35) && Instant::now() < deadline {
        sleep(Duration::from_millis(10));
    }
    assert!(
        others_running(),
        "the job ended before the kill; the input must be larger"
    );
    let signalled = Command::new("kill")
        .args([signal, &victim.to_string()])
        .status()
        .unwrap();
    assert!(signalled.success(), "kill {signal} failed");
    Instant::now()
}

/// Starts a 2 × 1 job by hand over a hostfile in `dir` and sends process 1 `signal`
/// mid-run: both processes, their addresses, and when the signal was sent.
fn signal_process_1_mid_run(
    dir: &Path,
    args: &[String],
    signal: &str,
) -> (Child, Child, Vec<String>, Instant) {
    let (hosts, addresses) = hostfile(dir, 2);
    let mut first = spawn(args, 2, 0, 1, &hosts);
    let mut second = spawn(args, 2, 1, 1, &hosts);
    let when = signal_mid_run(second.id(), signal, &mut || {
        first.try_wait().unwrap().is_none() && second.try_wait().unwrap().is_none()
    });
    (first, second, addresses, when)
}

/// User plus system CPU time of a process, from `/proc` (`None` once it is gone).
fn cpu_seconds(process: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{process}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces:
    // utime and stime are the 12th and 13th of them, in clock ticks (100 per second
    // on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

#[test]
fn a_killed_peer_fails_the_job_within_seconds() {
    let dir = TempDir::new().unwrap();
    let data = large_data(dir.path());
    let args = run_args(&data, &dir.path().join("out"), &[]);

    // Started by hand: process 0 names process 1.
    let (first, second, addresses, killed) = signal_process_1_mid_run(dir.path(), &args, "-9");
    let output = finish(first);
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "{:?}",
        killed.elapsed()
    );
    let err = assert_failure(&output);
    assert_eq!(
        err,
        format!(
            "error: process 1 ({}) disconnected; restart the job — it replays from the \
             sources\n",
            addresses[1]
        )
    );
    assert!(!dir.path().join("out").exists());
    let _ = finish(second);

    // Through `segflow cluster`: the launcher names the killed process and stops the
    // other one.
    let mut launcher = segflow()
        .args(["cluster", "-n", "2", "--"])
        .args(&args)
        .spawn()
        .unwrap();
    sleep(Duration::from_millis(300));
    let children = children_of(launcher.id());
    assert_eq!(children.len(), 2, "{children:?}");
    let killed = signal_mid_run(children[1], "-9", &mut || {
        launcher.try_wait().unwrap().is_none()
    });
    let output = finish(launcher);
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "{:?}",
        killed.elapsed()
    );
    let err = assert_failure(&output);
    assert!(
        err.ends_with(
            "error: process 1 failed (signal: 9 (SIGKILL)); stopped the other processes\n"
        ),
        "{err}"
    );
    assert!(!Path::new(&format!("/proc/{}", children[0])).exists());
}

#[test]
fn a_stopped_peer_fails_the_job_after_the_peer_timeout() {
    let dir = TempDir::new().unwrap();
    let data = large_data(dir.path());
    let args = run_args(&data, &dir.path().join("out"), &["--peer-timeout", "2"]);
    let (first, second, addresses, stopped) = signal_process_1_mid_run(dir.path(), &args, "-STOP");
    let output = finish(first);
    let waited = stopped.elapsed();
    let _ = Command::new("kill")
        .args(["-9", &second.id().to_string()])
        .status();
    let _ = finish(second);
    // Silence counts from the last heartbeat heard, up to half a second before the stop.
    assert!(
        waited >= Duration::from_millis(1_500) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    let err = assert_failure(&output);
    assert_eq!(
        err,
        format!(
            "error: process 1 ({}) has not responded for 2s (stopped, hung or cut off); stop \
             it and restart the job — it replays from the sources\n",
            addresses[1]
        )
    );
    assert!(!dir.path().join("out").exists());
}

/// Process ids of the children of `parent`, ordered by their `-p` index.
fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let status = fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let ppid = status.lines().find_map(|l| l.strip_prefix("PPid:"));
        if ppid.map(str::trim) != Some(&parent.to_string()) {
            continue;
        }
        let cmdline = fs::read_to_string(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&str> = cmdline.split('\0').collect();
        let index = args
            .windows(2)
            .find(|w| w[0] == "-p")
            .map(|w| w[1].to_string());
        children.push((index, pid));
    }
    children.sort();
    children.into_iter().map(|(_, pid)| pid).collect()
}

#[test]
fn processes_of_different_jobs_refuse_to_run_together() {
    let dir = TempDir::new().unwrap();
    let other_catalog = dir.path().join("other.seg");
    fs::write(
        &other_catalog,
        "schema users(country: text, signup_ts: time, plan: text)\n\
         schema events(amount: number, category: text)\n\
         segment everyone = exists(events)\n",
    )
    .unwrap();
    let args = |process: usize| {
        let mut args = run_args(&sample(), &dir.path().join("out"), &[]);
        if process == 1 {
            args[2] = other_catalog.display().to_string();
        }
        args
    };
    for output in run_by_hand(args, 2, 1) {
        let err = assert_failure(&output);
        assert!(err.contains("were started for different jobs"), "{err}");
    }
}

#[test]
fn processes_over_files_of_one_size_but_other_content_refuse_to_run_together() {
    let dir = TempDir::new().unwrap();
    let other = dir.path().join("other");
    fs::create_dir(&other).unwrap();
    for file in ["users.csv", "events.csv", "scores.csv"] {
        fs::copy(sample().join(file), other.join(file)).unwrap();
    }
    // One digit of one amount changed: the same length, another row.
    let events = fs::read_to_string(other.join("events.csv")).unwrap();
    let at = events.rfind(|c: char| c.is_ascii_digit()).unwrap();
    let digit = events.as_bytes()[at];
    let mut changed = events.into_bytes();
    changed[at] = if digit == b'9' { b'8' } else { digit + 1 };
    fs::write(other.join("events.csv"), changed).unwrap();
    let args = |process: usize| {
        let data = if process == 1 {
            other.clone()
        } else {
            sample()
        };
        run_args(&data, &dir.path().join("out"), &[])
    };
    for output in run_by_hand(args, 2, 1) {
        let err = assert_failure(&output);
        assert!(err.contains("were started for different jobs"), "{err}");
    }
}

#[test]
fn hostfile_mistakes_name_the_file() {
    let dir = TempDir::new().unwrap();
    let hosts = dir.path().join("hosts.txt");
    fs::write(&hosts, "127.0.0.1:4000\n").unwrap();
    let mut args = run_args(&sample(), &dir.path().join("out"), &["-n", "2", "-h"]);
    args.push(hosts.display().to_string());
    let err = assert_failure(&run_alone(&args, 1));
    assert_eq!(
        err,
        format!(
            "error: hostfile '{}' has 1 line(s) but --processes is 2: it needs one host:port \
             line per process\n",
            hosts.display()
        )
    );
    let help = finish(segflow().args(["run", "--help"]).spawn().unwrap());
    assert!(text(&help.stdout).contains("-h, --hostfile <FILE>"));
}

/// Whether `pid` is still running (a zombie has exited; it waits to be reaped).
fn running(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses.
    let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
    !matches!(state, Some(Some('Z' | 'X')))
}

#[test]
fn stopping_the_launcher_stops_its_processes() {
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGKILL] {
        let dir = TempDir::new().unwrap();
        let live = dir.path().join("live");
        fs::create_dir(&live).unwrap();
        let changes = dir.path().join("changes.csv");
        let mut launcher = segflow()
            .args([
                "cluster",
                "-n",
                "2",
                "--",
                "tail",
                "--catalog",
                &ecommerce(),
            ])
            .arg("--backfill")
            .arg(sample())
            .arg("--follow")
            .arg(&live)
            .arg("--changes")
            .arg(&changes)
            .arg("--quiet")
            .spawn()
            .unwrap();
        // Running: both processes started and the log begun.
        let started = Instant::now();
        let processes = loop {
            let children = children_of(launcher.id());
            if children.len() == 2 && changes.exists() {
                break children;
            }
            assert!(started.elapsed() < HUNG, "the job did not start");
            sleep(Duration::from_millis(20));
        };
        let pid = libc::pid_t::try_from(launcher.id()).unwrap();
        // SAFETY: kill(2) of a child this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        let status = launcher.wait().unwrap();
        assert!(!status.success(), "signal {signal}: {status}");
        let stopped = Instant::now();
        while processes.iter().any(|&p| running(p)) {
            assert!(
                stopped.elapsed() < Duration::from_secs(20),
                "signal {signal}: processes {processes:?} still run"
            );
            sleep(Duration::from_millis(20));
        }
    }
}
