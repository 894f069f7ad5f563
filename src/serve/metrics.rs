//! `GET /metrics`: the service's counters in the Prometheus text exposition format.
//!
//! Request latencies are counted per route (the path pattern, so that user ids do not
//! become labels) in fixed buckets; everything else (records, changes, sizes, lag) is
//! read from the live run's summary and the index when the page is asked for.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Request latencies, per route and status.
#[derive(Debug, Default)]
pub struct RequestMetrics {
    routes: Mutex<BTreeMap<(String, u16), Latencies>>,
}

/// One route's latency histogram.
#[derive(Clone, Debug, Default)]
struct Latencies {
    /// Requests at or under each bound of [`BUCKETS`] (not cumulative).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl RequestMetrics {
    /// Counts one request to `route` answered with `status` after `elapsed`.
    pub fn observe(&self, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let latencies = routes.entry((route.to_owned(), status)).or_default();
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            latencies.buckets[bucket] += 1;
        }
        latencies.count += 1;
        latencies.sum += seconds;
    }

    /// Writes the request histograms.
    pub fn write(&self, out: &mut Exposition) {
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        out.header(
            "segflow_http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to its answer, by route and status.",
        );
        for ((route, status), latencies) in routes {
            let labels = format!("route=\"{}\",status=\"{status}\"", escape(&route));
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(latencies.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out.text,
                    "segflow_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out.text,
                "segflow_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                latencies.count
            );
            let _ = writeln!(
                out.text,
                "segflow_http_request_duration_seconds_sum{{{labels}}} {}",
                latencies.sum
            );
            let _ = writeln!(
                out.text,
                "segflow_http_request_duration_seconds_count{{{labels}}} {}",
                latencies.count
            );
        }
    }
}

/// A metrics page being written.
#[derive(Debug, Default)]
pub struct Exposition {
    /// The page so far.
    pub text: String,
}

impl Exposition {
    /// The `# HELP` and `# TYPE` lines of a metric.
    pub fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// A metric with one value and no labels.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.header(name, kind, help);
        let _ = writeln!(self.text, "{name} {value}");
    }

    /// One sample of a metric whose header was written, with one label.
    pub fn sample(
        &mut self,
        name: &str,
        label: &str,
        value_of_label: &str,
        value: impl std::fmt::Display,
    ) {
        let _ = writeln!(
            self.text,
            "{name}{{{label}=\"{}\"}} {value}",
            escape(value_of_label)
        );
    }
}

/// A label value with `\`, `"` and line breaks escaped.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_count_every_request() {
        let metrics = RequestMetrics::default();
        metrics.observe("/v1/users/{id}/segments", 200, Duration::from_micros(80));
        metrics.observe("/v1/users/{id}/segments", 200, Duration::from_millis(3));
        metrics.observe("/v1/users/{id}/segments", 200, Duration::from_secs(10));
        let mut page = Exposition::default();
        metrics.write(&mut page);
        let labels = "route=\"/v1/users/{id}/segments\",status=\"200\"";
        for (bound, count) in [
            ("0.0001", 1),
            ("0.0025", 1),
            ("0.005", 2),
            ("2.5", 2),
            ("+Inf", 3),
        ] {
            let line = format!(
                "segflow_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}\n"
            );
            assert!(page.text.contains(&line), "{line} not in\n{}", page.text);
        }
        assert!(page.text.contains(&format!(
            "segflow_http_request_duration_seconds_count{{{labels}}} 3\n"
        )));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut page = Exposition::default();
        page.sample("m", "segment", "a\"b\\c", 1);
        assert_eq!(page.text, "m{segment=\"a\\\"b\\\\c\"} 1\n");
    }
}
