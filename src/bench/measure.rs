//! Latency histograms and memory readings.
//!
//! Latencies go into an HDR histogram in nanoseconds (three significant digits, up to
//! an hour): recording is a few nanoseconds, so every update of a run is recorded, and
//! the tail percentiles are exact to 0.1% rather than estimated from a sample.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The largest latency recorded exactly; longer ones are recorded as this.
const MAX_NANOS: u64 = 3_600 * 1_000_000_000;

/// A histogram of latencies.
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Latencies(Histogram::new_with_bounds(1, MAX_NANOS, 3).expect("valid histogram bounds"))
    }
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.0.saturating_record(nanos.max(1));
    }

    pub fn summary(&self) -> LatencySummary {
        let micros = |nanos: u64| nanos as f64 / 1_000.0;
        let at = |quantile: f64| micros(self.0.value_at_quantile(quantile));
        LatencySummary {
            count: self.0.len(),
            mean_us: self.0.mean() / 1_000.0,
            p50_us: at(0.5),
            p90_us: at(0.9),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: micros(self.0.max()),
        }
    }
}

/// Percentiles of a latency histogram, in microseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

/// The process's peak resident memory so far (`VmHWM`), in bytes.
pub fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// A `kB` field of `/proc/self/status` (Linux only; `None` elsewhere).
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), to report how busy the
/// machine was.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_every_recorded_latency() {
        let mut latencies = Latencies::default();
        for micros in 1..=1000 {
            latencies.record(Duration::from_micros(micros));
        }
        for _ in 0..10 {
            latencies.record(Duration::from_secs(2));
        }
        let summary = latencies.summary();
        assert_eq!(summary.count, 1010);
        assert!((summary.p50_us - 505.0).abs() < 2.0, "{summary:?}");
        assert!(summary.p999_us > 1_000_000.0, "{summary:?}");
        assert!(
            (summary.max_us - 2_000_000.0).abs() < 2_000.0,
            "{summary:?}"
        );
    }

    #[test]
    fn memory_and_load_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            let now = status_bytes("VmRSS:").unwrap();
            assert!(peak_rss().unwrap() >= now);
            assert!(load_average().is_some());
        }
    }
}
