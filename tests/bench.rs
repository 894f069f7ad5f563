//! `segflow bench --quick --tail` on the sample data: every section of the JSON report
//! is there, counts match the data, and the figures are sane. No timing is asserted:
//! the machine running the tests decides those.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A latency summary is ordered and positive.
#[track_caller]
fn check_latency(latency: &Value, what: &str) {
    let field = |name: &str| {
        latency[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: no {name} in {latency}"))
    };
    assert!(latency["count"].as_u64().unwrap() > 0, "{what}: {latency}");
    let (p50, p90, p99, p999, max) = (
        field("p50_us"),
        field("p90_us"),
        field("p99_us"),
        field("p999_us"),
        field("max_us"),
    );
    assert!(
        0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max,
        "{what}: {latency}"
    );
}

/// A loop moved events and measured them.
#[track_caller]
fn check_series(series: &Value, what: &str) {
    assert!(series["events"].as_u64().unwrap() > 0, "{what}: {series}");
    assert!(
        series["events_per_second"].as_f64().unwrap() > 0.0,
        "{what}: {series}"
    );
    check_latency(&series["latency"], what);
}

/// Runs `segflow bench --catalog dataflows/ecommerce.seg ARGS` from the repository's
/// root; it must succeed. Returns what it printed.
fn bench(args: &[OsString]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_segflow"))
        .args(["bench", "--catalog", "dataflows/ecommerce.seg"])
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn quick_bench_reports_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = (dir.path().join("report.json"), dir.path().join("chart.svg"));
    let mut args: Vec<OsString> = ["--data", "datasets/sample"].map(Into::into).to_vec();
    args.extend(["--quick", "--tail", "--serve", "-w", "2", "--out"].map(Into::into));
    args.extend([
        json.clone().into_os_string(),
        "--svg".into(),
        svg.clone().into_os_string(),
    ]);
    let stdout = bench(&args);
    for heading in [
        "backfill:",
        "closed loop, 1 event",
        "batch 10000",
        "open loop 500k/s",
        "targets",
    ] {
        assert!(stdout.contains(heading), "no `{heading}` in\n{stdout}");
    }

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let setup = &report["setup"];
    assert_eq!(
        (
            setup["users"].as_u64(),
            setup["events"].as_u64(),
            setup["scores"].as_u64()
        ),
        (Some(1_500), Some(30_000), Some(3_105))
    );
    assert_eq!(setup["workers"], 2);

    let backfill = &report["backfill"];
    assert_eq!(backfill["rows"], 34_607);
    assert!(backfill["memberships"].as_u64().unwrap() > 0);
    assert!(backfill["peak_rss_bytes"].as_u64().unwrap() > 0);
    for field in ["seconds", "parse_seconds", "events_per_second"] {
        assert!(
            backfill[field].as_f64().unwrap() > 0.0,
            "{field}: {backfill}"
        );
    }

    check_series(&report["closed_loop"], "closed loop");
    let batches: Vec<u64> = report["batch_sweep"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            check_series(s, "batch");
            s["batch"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(batches, [1, 10, 100, 1_000, 10_000]);
    let rates: Vec<f64> = report["open_loop"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            check_series(s, "open loop");
            s["offered_per_second"].as_f64().unwrap()
        })
        .collect();
    assert_eq!(rates, [10_000.0, 100_000.0, 500_000.0]);

    // The reference always runs; DuckDB runs or says why not, and under CI (which
    // installs it) it must run.
    let peers = &report["peers"];
    assert!(peers["reference"]["median_seconds"].as_f64().unwrap() > 0.0);
    assert!(peers["reference_ratio"].as_f64().unwrap() > 0.0);
    let skipped = peers["skipped"].as_array().unwrap();
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    match peers["duckdb"].as_object() {
        Some(duckdb) => assert!(duckdb["median_seconds"].as_f64().unwrap() > 0.0),
        None => {
            assert!(
                !ci,
                "CI is set, so the bench's DuckDB peer must run: {skipped:?}"
            );
            assert!(skipped
                .iter()
                .any(|s| s.as_str().unwrap().contains("DuckDB")))
        }
    }

    let live = &report["live"];
    let file_path = &live["file_path"];
    // A fresh user's event always enters active_30d.
    assert_eq!(file_path["probes_with_change"], file_path["probes"]);
    check_latency(&file_path["latency"], "file path");
    assert!(
        file_path["throughput"]["events_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(file_path["rejected"], 0);
    let windows = &live["windows"];
    assert_eq!(windows["shortest_window_seconds"], 30 * 86_400);
    assert_eq!(windows["longest_window_seconds"], 90 * 86_400);
    assert!(
        windows["inside"]["pending_records"].as_i64().unwrap()
            > windows["outside"]["pending_records"].as_i64().unwrap(),
        "{windows}"
    );

    // The service's API: every endpoint under every load, all answered, while the
    // writer's events reached the service.
    let serve = &report["serve"];
    let runs: Vec<(&str, &str)> = serve["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| {
            check_latency(&run["latency"], "serve");
            assert_eq!(run["errors"], 0, "{run}");
            assert!(run["requests"].as_u64().unwrap() > 0, "{run}");
            (
                run["endpoint"].as_str().unwrap(),
                run["load"].as_str().unwrap(),
            )
        })
        .collect();
    let users = "GET /v1/users/{id}/segments";
    let page = "GET /v1/segments/{name}/members?limit=1000";
    assert_eq!(
        runs,
        [
            (users, "closed loop"),
            (users, "1000/s"),
            (users, "10000/s"),
            (page, "closed loop"),
            (page, "1000/s"),
            (page, "10000/s")
        ]
    );
    assert!(serve["ingest"]["applied"].as_u64().unwrap() > 0, "{serve}");
    let definition = &serve["definition"];
    for seconds in ["put_seconds", "delete_seconds"] {
        assert!(definition[seconds].as_f64().unwrap() > 0.0, "{definition}");
    }
    assert!(definition["size"].as_u64().is_some(), "{definition}");
    assert!(
        stdout.contains("PUT `segment segflow_bench_defined"),
        "{stdout}"
    );
    assert!(stdout.contains("segflow serve's API"), "{stdout}");

    // The sample's churn scores have two versions: the bench times switches between
    // them, and the second moves memberships back.
    assert!(stdout.contains("switch of model `churn`"), "{stdout}");
    let switches = &report["model_switches"];
    check_series(switches, "model switches");
    assert_eq!(switches["events"], 2, "{switches}");
    assert!(switches["changes"].as_u64().unwrap() > 0, "{switches}");

    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 11, "{targets:?}");
    assert!(
        targets
            .iter()
            .any(|t| t["name"] == "model-version switch ≤ 5 s"),
        "{targets:?}"
    );
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
}
