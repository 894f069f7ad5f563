//! From-scratch peers: what an update costs when the answer is recomputed.
//!
//! - The reference evaluator (`segflow::reference`), in this process: each run adds
//!   one update to the data set in memory and evaluates every segment again, as a
//!   program without incremental state must.
//! - DuckDB, through `benches/duckdb_peer.py`: the catalog compiled by `segflow sql`,
//!   evaluated `K` times over tables already loaded. Its time per evaluation is the
//!   latency of an update for a warehouse job that recomputes the segments (inserting
//!   the update's row is left out, in DuckDB's favour).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::catalog::ir::Catalog;
use crate::data::Dataset;
use crate::reference::evaluate;

use super::workload::Workload;

/// The reference evaluator's runs.
#[derive(Clone, Debug, Serialize)]
pub struct ReferencePeer {
    /// Seconds of each recomputation after one update.
    pub seconds: Vec<f64>,
    pub median_seconds: f64,
    /// Members of all segments after the last run (a sanity check).
    pub members: u64,
}

/// Runs the reference evaluator after each of a few updates at second `now`: at most
/// `runs`, and no more once `budget` has been spent (at least one).
pub fn reference(
    catalog: &Catalog,
    data: &mut Dataset,
    workload: &mut Workload,
    now: u64,
    runs: usize,
    budget: Duration,
) -> ReferencePeer {
    let started = Instant::now();
    let mut seconds = Vec::new();
    let mut members = 0;
    while seconds.is_empty() || (seconds.len() < runs && started.elapsed() < budget) {
        let row = workload.row().clone();
        data.events.push(crate::data::EventRow { ts: now, ..row });
        let run = Instant::now();
        let result = evaluate(catalog, data, now);
        seconds.push(run.elapsed().as_secs_f64());
        members = result.values().map(|m| m.len() as u64).sum();
    }
    ReferencePeer {
        median_seconds: median(&seconds),
        seconds,
        members,
    }
}

/// What `duckdb_peer.py --repeat K` prints, and the median evaluation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DuckDbPeer {
    pub duckdb: String,
    pub threads: serde_json::Value,
    pub load_seconds: f64,
    pub query_seconds: Vec<f64>,
    pub members: u64,
    #[serde(default)]
    pub median_seconds: f64,
}

/// The DuckDB peer script, from the source tree this binary was built from.
pub fn duckdb_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/duckdb_peer.py")
}

/// The Python interpreter that runs the DuckDB peer: `SEGFLOW_PYTHON` if set, else the
/// virtual environment `.ci/run` installs DuckDB into (`target/peers/venv`) in the source
/// tree this crate was built from, if it exists, else `python3` from `PATH`.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("SEGFLOW_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(python);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// [`python`] if it can import the `duckdb` package; `Err` says why not and how to
/// install it.
pub fn python_with_duckdb() -> Result<PathBuf, String> {
    let python = python();
    let why = match Command::new(&python).args(["-c", "import duckdb"]).output() {
        Ok(out) if out.status.success() => return Ok(python),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            stderr.trim().lines().last().unwrap_or("").to_string()
        }
        Err(e) => e.to_string(),
    };
    Err(format!(
        "`{} -c \"import duckdb\"` failed ({why}); to install DuckDB, run `.ci/run` once \
         (it makes the virtual environment target/peers/venv with the pinned `duckdb` \
         package), or set SEGFLOW_PYTHON to a Python that has `duckdb`",
        python.display()
    ))
}

/// Runs the DuckDB peer `repeat` times over `data`; `Err` holds why it was skipped
/// (no Python with the `duckdb` package, no script) or failed.
pub fn duckdb(catalogs: &[PathBuf], data: &Path, repeat: usize) -> Result<DuckDbPeer, String> {
    let script = duckdb_script();
    if !script.is_file() {
        return Err(format!("{} not found", script.display()));
    }
    let python = python_with_duckdb()?;
    let segflow = std::env::current_exe().map_err(|e| format!("cannot find segflow: {e}"))?;
    let output = Command::new(&python)
        .arg(&script)
        .arg("--segflow")
        .arg(segflow)
        .arg("--data")
        .arg(data)
        .arg("--repeat")
        .arg(repeat.to_string())
        .args(catalogs)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !output.status.success() {
        return Err(format!(
            "the DuckDB peer failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let mut peer: DuckDbPeer = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("unreadable output of the DuckDB peer: {e}"))?;
    peer.median_seconds = median(&peer.query_seconds);
    Ok(peer)
}

/// The median of some timings (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
