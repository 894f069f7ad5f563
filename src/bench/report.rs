//! The bench report: JSON for tools, a table for people, and the targets.

use std::fmt::Write;

use serde::Serialize;

use super::engine::Backfill;
use super::file_path::FilePath;
use super::inputs::ParsePass;
use super::loops::Series;
use super::peers::{DuckDbPeer, ReferencePeer};
use super::serve::ServeFigures;
use super::windows::WindowMemory;

/// Everything one `segflow bench` run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The report format's version.
    pub segflow_bench: u32,
    pub setup: Setup,
    pub backfill: BackfillReport,
    pub closed_loop: Series,
    pub batch_sweep: Vec<Series>,
    pub open_loop: Vec<Series>,
    /// Switches of a model's active version, when the data has two versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_switches: Option<Series>,
    pub peers: Peers,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
    /// `segflow serve`'s API under load (`--serve`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serve: Option<ServeFigures>,
    pub targets: Vec<Target>,
}

/// What ran where.
#[derive(Clone, Debug, Serialize)]
pub struct Setup {
    pub version: String,
    pub catalogs: Vec<String>,
    /// The data directory, or how the data was generated.
    pub data: String,
    pub users: u64,
    pub events: u64,
    pub scores: u64,
    pub processes: usize,
    pub workers: usize,
    pub cores: usize,
    pub quick: bool,
    /// Unix time when the bench started.
    pub started: u64,
    /// 1, 5 and 15 minute load averages before and after the bench.
    pub load_before: Option<[f64; 3]>,
    pub load_after: Option<[f64; 3]>,
}

/// The backfill, with the parse-only pass beside it.
#[derive(Clone, Debug, Serialize)]
pub struct BackfillReport {
    #[serde(flatten)]
    pub engine: Backfill,
    pub events_per_second: f64,
    /// Parsing every row alone, on as many threads as workers.
    pub parse_seconds: f64,
    /// The backfill's time less parsing: the dataflow's share, roughly (the two
    /// overlap while rows are fed).
    pub dataflow_seconds: f64,
}

impl BackfillReport {
    pub fn new(engine: Backfill, parse: &ParsePass) -> BackfillReport {
        let parse_seconds = parse.elapsed.as_secs_f64();
        BackfillReport {
            events_per_second: parse.events as f64 / engine.seconds,
            dataflow_seconds: (engine.seconds - parse_seconds).max(0.0),
            parse_seconds,
            engine,
        }
    }
}

/// The from-scratch peers, with how many times slower than segflow's closed-loop
/// median an update is for them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Peers {
    pub reference: Option<ReferencePeer>,
    pub reference_ratio: Option<f64>,
    pub duckdb: Option<DuckDbPeer>,
    pub duckdb_ratio: Option<f64>,
    /// Why a peer did not run.
    pub skipped: Vec<String>,
}

impl Peers {
    /// Fills in the ratios against segflow's closed-loop p50.
    pub fn with_ratios(mut self, closed_loop: &Series) -> Peers {
        let p50 = closed_loop.latency.p50_us / 1e6;
        self.reference_ratio = self.reference.as_ref().map(|r| r.median_seconds / p50);
        self.duckdb_ratio = self.duckdb.as_ref().map(|d| d.median_seconds / p50);
        self
    }
}

/// Live-run figures (`--tail`).
#[derive(Clone, Debug, Serialize)]
pub struct Live {
    pub file_path: FilePath,
    /// `None` when the catalog has no window.
    pub windows: Option<WindowMemory>,
}

/// One target of the issues, and whether this run met it.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub name: String,
    pub measured: String,
    /// `None` when it was not measured.
    pub met: Option<bool>,
}

impl Report {
    /// Checks the figures against the targets of issues #3 and #4.
    pub fn check_targets(&mut self) {
        let closed = &self.closed_loop.latency;
        let mut targets = vec![
            target(
                "single-event p50 ≤ 100 µs",
                duration(closed.p50_us),
                Some(closed.p50_us <= 100.0),
            ),
            target(
                "single-event p99 ≤ 1 ms",
                duration(closed.p99_us),
                Some(closed.p99_us <= 1_000.0),
            ),
        ];
        let sustained = self
            .open_loop
            .iter()
            .filter(|s| s.offered_per_second.unwrap_or(0.0) >= 500_000.0)
            .max_by(|a, b| a.events_per_second.total_cmp(&b.events_per_second));
        targets.push(match sustained {
            Some(s) => target(
                "sustained ≥ 500k events/s with p99 ≤ 100 ms (open loop)",
                format!(
                    "{}: {} events/s, p99 {}",
                    s.label,
                    count(s.events_per_second),
                    duration(s.latency.p99_us)
                ),
                Some(
                    s.events_per_second >= 0.95 * s.offered_per_second.unwrap_or(0.0)
                        && s.latency.p99_us <= 100_000.0,
                ),
            ),
            None => target(
                "sustained ≥ 500k events/s with p99 ≤ 100 ms",
                "no open loop at 500k/s".into(),
                None,
            ),
        });
        if let Some(switches) = &self.model_switches {
            let p99 = switches.latency.p99_us;
            targets.push(target(
                "model-version switch ≤ 5 s",
                format!("{}: p99 {}", switches.label, duration(p99)),
                Some(p99 <= 5_000_000.0),
            ));
        }
        targets.push(match self.peers.duckdb_ratio {
            Some(ratio) => target(
                "≥ 1000× lower latency than DuckDB from scratch",
                format!("{}×", count(ratio)),
                Some(ratio >= 1_000.0),
            ),
            None => target(
                "≥ 1000× lower latency than DuckDB from scratch",
                "not measured".into(),
                None,
            ),
        });
        if let Some(live) = &self.live {
            let file = &live.file_path;
            targets.extend([
                target(
                    "file path p50 ≤ 5 ms",
                    duration(file.latency.p50_us),
                    Some(file.latency.p50_us <= 5_000.0),
                ),
                target(
                    "file path p99 ≤ 50 ms",
                    duration(file.latency.p99_us),
                    Some(file.latency.p99_us <= 50_000.0),
                ),
                target(
                    "file path ≥ 200k events/s",
                    format!("{} events/s", count(file.throughput.events_per_second)),
                    Some(file.throughput.events_per_second >= 200_000.0),
                ),
            ]);
        }
        if let Some(serve) = &self.serve {
            let users = |load: &str| {
                serve
                    .runs
                    .iter()
                    .find(|run| run.endpoint.starts_with("GET /v1/users") && run.load == load)
            };
            if let Some(run) = users("closed loop") {
                targets.push(target(
                    "users→segments p99 ≤ 1 ms, closed loop, with ingest",
                    duration(run.latency.p99_us),
                    Some(run.latency.p99_us <= 1_000.0 && run.errors == 0),
                ));
            }
            if let Some(run) = users("10000/s") {
                targets.push(target(
                    "users→segments p99 ≤ 5 ms at 10,000 req/s, with ingest",
                    duration(run.latency.p99_us),
                    Some(run.latency.p99_us <= 5_000.0 && run.errors == 0),
                ));
            }
            let ingest = &serve.ingest;
            targets.push(target(
                "ingest holds while the API is asked",
                format!(
                    "{} of {} events/s offered",
                    count(ingest.applied_per_second),
                    count(ingest.offered_per_second as f64)
                ),
                Some(ingest.applied_per_second >= 0.95 * ingest.offered_per_second as f64),
            ));
        }
        self.targets = targets;
    }

    /// The report as a table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.setup;
        let load = |l: &Option<[f64; 3]>| {
            l.map_or("?".into(), |[a, b, c]| format!("{a:.2} {b:.2} {c:.2}"))
        };
        let _ = writeln!(
            out,
            "segflow bench: {} over {}\n  {} users, {} events, {} scores; {} process(es) × {} worker(s) on {} cores; load {} before, {} after{}",
            s.catalogs.join(" + "),
            s.data,
            count(s.users as f64),
            count(s.events as f64),
            count(s.scores as f64),
            s.processes,
            s.workers,
            s.cores,
            load(&s.load_before),
            load(&s.load_after),
            if s.quick { " (--quick)" } else { "" },
        );
        let b = &self.backfill;
        let _ = writeln!(
            out,
            "\nbackfill: {} rows in {:.2} s ({} events/s); parsing alone {:.2} s, the rest ≈ {:.2} s\n  read and fed {:.2} s, complete {:.2} s later; {} memberships; peak RSS {}",
            count(b.engine.rows as f64),
            b.engine.seconds,
            count(b.events_per_second),
            b.parse_seconds,
            b.dataflow_seconds,
            b.engine.load_seconds,
            b.engine.complete_seconds,
            count(b.engine.memberships as f64),
            b.engine.peak_rss_bytes.map_or("?".into(), bytes),
        );

        let mut rows = vec![cells(&[
            "updates (latency per update; per batch in batches)",
            "events",
            "events/s",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
        ])];
        for series in std::iter::once(&self.closed_loop)
            .chain(&self.batch_sweep)
            .chain(&self.open_loop)
            .chain(&self.model_switches)
        {
            let l = &series.latency;
            rows.push(vec![
                series.label.clone(),
                count(series.events as f64),
                count(series.events_per_second),
                duration(l.p50_us),
                duration(l.p90_us),
                duration(l.p99_us),
                duration(l.p999_us),
                duration(l.max_us),
            ]);
        }
        out.push('\n');
        out.push_str(&table(&rows));

        let mut rows = vec![cells(&[
            "from scratch, per update",
            "runs",
            "median",
            "× segflow p50",
        ])];
        if let (Some(r), Some(ratio)) = (&self.peers.reference, self.peers.reference_ratio) {
            rows.push(vec![
                "reference evaluator".into(),
                r.seconds.len().to_string(),
                duration(r.median_seconds * 1e6),
                count(ratio),
            ]);
        }
        if let (Some(d), Some(ratio)) = (&self.peers.duckdb, self.peers.duckdb_ratio) {
            rows.push(vec![
                format!("DuckDB {} ({} threads)", d.duckdb, d.threads),
                d.query_seconds.len().to_string(),
                duration(d.median_seconds * 1e6),
                count(ratio),
            ]);
        }
        out.push('\n');
        out.push_str(&table(&rows));
        for note in &self.peers.skipped {
            let _ = writeln!(out, "  skipped: {note}");
        }

        if let Some(live) = &self.live {
            let f = &live.file_path;
            let _ = writeln!(
                out,
                "\nlive run (segflow tail's engine, backfill {:.2} s)\n  append → change log, {} probes ({} with a change): p50 {}, p90 {}, p99 {}, max {}\n  one append of {} events: {:.2} s, {} events/s",
                f.backfill_seconds,
                f.probes,
                f.probes_with_change,
                duration(f.latency.p50_us),
                duration(f.latency.p90_us),
                duration(f.latency.p99_us),
                duration(f.latency.max_us),
                count(f.throughput.events as f64),
                f.throughput.seconds,
                count(f.throughput.events_per_second),
            );
            match &live.windows {
                Some(w) => {
                    let per = &w.per_million_events;
                    let _ = writeln!(
                        out,
                        "  windows, per million events inside every window (against none, {} events): {} more pending records ({:.0} MiB), {} more arranged records",
                        count(w.events as f64),
                        count(per.pending_records as f64),
                        mebibytes(per.pending_bytes),
                        count(per.arranged_records as f64),
                    );
                }
                None => out.push_str("  window memory: the catalog has no window\n"),
            }
        }

        if let Some(serve) = &self.serve {
            let i = &serve.ingest;
            let _ = writeln!(
                out,
                "\nsegflow serve's API (backfill {:.2} s), while {} events/s are offered ({} applied/s)",
                serve.backfill_seconds,
                count(i.offered_per_second as f64),
                count(i.applied_per_second),
            );
            let mut rows = vec![vec![
                "  endpoint".to_string(),
                "load".into(),
                "requests".into(),
                "errors".into(),
                "p50".into(),
                "p99".into(),
                "p99.9".into(),
                "max".into(),
            ]];
            rows.extend(serve.runs.iter().map(|run| {
                vec![
                    format!("  {}", run.endpoint),
                    run.load.clone(),
                    count(run.requests as f64),
                    run.errors.to_string(),
                    duration(run.latency.p50_us),
                    duration(run.latency.p99_us),
                    duration(run.latency.p999_us),
                    duration(run.latency.max_us),
                ]
            }));
            out.push_str(&table(&rows));
            let d = &serve.definition;
            let _ = writeln!(
                out,
                "  PUT `{}`: {:.3} s ({} members); DELETE: {:.3} s",
                d.body,
                d.put_seconds,
                count(d.size as f64),
                d.delete_seconds
            );
        }

        out.push_str("\ntargets\n");
        let rows: Vec<Vec<String>> = self
            .targets
            .iter()
            .map(|t| {
                let verdict = match t.met {
                    Some(true) => "met",
                    Some(false) => "NOT met",
                    None => "not measured",
                };
                vec![format!("  {}", t.name), t.measured.clone(), verdict.into()]
            })
            .collect();
        out.push_str(&table(&rows));
        out
    }
}

fn target(name: &str, measured: String, met: Option<bool>) -> Target {
    Target {
        name: name.into(),
        measured,
        met,
    }
}

fn cells(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| t.to_string()).collect()
}

/// Rows as aligned columns: the first left-aligned, the others right-aligned.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if c == 0 {
                let _ = write!(out, "{cell}{pad}");
            } else {
                let _ = write!(out, "  {pad}{cell}");
            }
        }
        out.push('\n');
    }
    out
}

/// Microseconds in the unit that suits them: `62 µs`, `1.25 ms`, `3.40 s`.
pub fn duration(micros: f64) -> String {
    match micros {
        m if m < 1_000.0 => format!("{m:.0} µs"),
        m if m < 1_000_000.0 => format!("{:.2} ms", m / 1e3),
        m => format!("{:.2} s", m / 1e6),
    }
}

/// A count with thousands separators, rounded: `1,234,567`.
pub fn count(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if value < -0.5 {
        out.insert(0, '-');
    }
    out
}

/// Bytes in MiB, signed (a difference of two readings).
fn mebibytes(value: i64) -> f64 {
    value as f64 / (1u64 << 20) as f64
}

/// Bytes in binary units.
fn bytes(value: u64) -> String {
    let value = value as f64;
    match value {
        v if v >= (1u64 << 30) as f64 => format!("{:.2} GiB", v / (1u64 << 30) as f64),
        v => format!("{:.1} MiB", v / (1u64 << 20) as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(1_234_567.4), "1,234,567");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(-1_000.0), "-1,000");
        assert_eq!(duration(62.4), "62 µs");
        assert_eq!(duration(1_250.0), "1.25 ms");
        assert_eq!(duration(3_400_000.0), "3.40 s");
        assert_eq!(bytes(3 << 29), "1.50 GiB");
    }

    #[test]
    fn tables_align() {
        let rows = vec![cells(&["a", "bb"]), cells(&["ccc", "d"])];
        assert_eq!(table(&rows), "a    bb\nccc   d\n");
    }
}
