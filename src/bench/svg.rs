//! The latency-vs-throughput chart, as hand-written SVG.
//!
//! Both axes are logarithmic: throughput spans batch sizes from 1 to 10,000 and
//! latency spans microseconds (one update) to seconds (a from-scratch peer). Each
//! series is a line through its points, p50 solid and p99 dashed; peers are
//! horizontal lines, since their latency does not depend on the update rate.

use std::fmt::Write;

use super::loops::{si, Series};
use super::report::{count, duration, Report};

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 520.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 60.0;

/// A line of points (events/s, latency in µs).
struct Line {
    name: String,
    color: &'static str,
    dashed: bool,
    points: Vec<(f64, f64)>,
    /// A label at each point (batch size, offered rate).
    labels: Vec<String>,
}

/// The chart of a report.
pub fn chart(report: &Report) -> String {
    let mut lines = Vec::new();
    let mut series_lines =
        |name: &str, color: &'static str, series: &[&Series], label: &dyn Fn(&Series) -> String| {
            for (quantile, dashed) in [("p50", false), ("p99", true)] {
                lines.push(Line {
                    name: format!("{name} {quantile}"),
                    color,
                    dashed,
                    points: series
                        .iter()
                        .map(|s| {
                            let l = &s.latency;
                            (
                                s.events_per_second,
                                if dashed { l.p99_us } else { l.p50_us },
                            )
                        })
                        .collect(),
                    labels: if dashed {
                        series.iter().map(|s| label(s)).collect()
                    } else {
                        Vec::new()
                    },
                });
            }
        };
    series_lines("closed loop", "#2ca02c", &[&report.closed_loop], &|_| {
        String::new()
    });
    let batches: Vec<&Series> = report.batch_sweep.iter().collect();
    series_lines("batches", "#1f77b4", &batches, &|s| {
        s.batch.map_or(String::new(), |b| format!("{b}/batch"))
    });
    let open: Vec<&Series> = report.open_loop.iter().collect();
    series_lines("open loop", "#d62728", &open, &|s| {
        s.offered_per_second
            .map_or(String::new(), |r| format!("{}/s offered", si(r)))
    });

    let mut levels: Vec<(String, &'static str, f64)> = Vec::new();
    if let Some(d) = &report.peers.duckdb {
        levels.push((
            format!("DuckDB from scratch ({})", duration(d.median_seconds * 1e6)),
            "#9467bd",
            d.median_seconds * 1e6,
        ));
    }
    if let Some(r) = &report.peers.reference {
        levels.push((
            format!("reference evaluator ({})", duration(r.median_seconds * 1e6)),
            "#8c564b",
            r.median_seconds * 1e6,
        ));
    }
    if let Some(live) = &report.live {
        levels.push((
            format!(
                "file path p99 ({})",
                duration(live.file_path.latency.p99_us)
            ),
            "#ff7f0e",
            live.file_path.latency.p99_us,
        ));
    }

    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let ys = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(levels.iter().map(|l| l.2));
    let (x0, x1) = decades(xs);
    let (y0, y1) = decades(ys);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |v: f64| LEFT + (v.max(1e-9).log10() - x0) / (x1 - x0) * plot_w;
    let y = |v: f64| TOP + plot_h - (v.max(1e-9).log10() - y0) / (y1 - y0) * plot_h;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let s = &report.setup;
    let title = format!(
        "segflow bench: {}, {} process(es) × {} worker(s)",
        s.catalogs.join(" + "),
        s.processes,
        s.workers
    );
    let subtitle = format!(
        "{}: {} users, {} events; load {} before",
        s.data,
        count(s.users as f64),
        count(s.events as f64),
        s.load_before.map_or("?".into(), |l| format!("{:.2}", l[0]))
    );
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="22" font-size="14">{}</text>"#,
        escape(&title)
    );
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="40" fill="#555">{}</text>"##,
        escape(&subtitle)
    );

    // Grid and axes.
    for decade in x0 as i32..=x1 as i32 {
        let px = x(10f64.powi(decade));
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0,
            si(10f64.powi(decade))
        );
    }
    for decade in y0 as i32..=y1 as i32 {
        let py = y(10f64.powi(decade));
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            py + 4.0,
            escape(&decade_label(decade))
        );
    }
    let _ = writeln!(
        svg,
        r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">throughput (events/s)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 18.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">latency (per update; per batch for batches)</text>"#,
        TOP + plot_h / 2.0
    );

    // Peers and the file path: horizontal levels.
    for (name, color, level) in &levels {
        let py = y(*level);
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="{color}" stroke-dasharray="2 3"/><text x="{:.1}" y="{:.1}" fill="{color}">{}</text>"#,
            LEFT + plot_w,
            LEFT + 6.0,
            py - 4.0,
            escape(name)
        );
    }

    // Series.
    for line in &lines {
        let points: Vec<String> = line
            .points
            .iter()
            .map(|&(vx, vy)| format!("{:.1},{:.1}", x(vx), y(vy)))
            .collect();
        let dash = if line.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"{dash}/>"#,
            points.join(" "),
            line.color
        );
        for (i, &(vx, vy)) in line.points.iter().enumerate() {
            let (px, py) = (x(vx), y(vy));
            let fill = if line.dashed { "white" } else { line.color };
            let _ = writeln!(
                svg,
                r#"<circle cx="{px:.1}" cy="{py:.1}" r="3" fill="{fill}" stroke="{}"/>"#,
                line.color
            );
            if let Some(label) = line.labels.get(i).filter(|l| !l.is_empty()) {
                let _ = writeln!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" font-size="10" fill="{}">{}</text>"#,
                    px + 5.0,
                    py - 5.0,
                    line.color,
                    escape(label)
                );
            }
        }
    }

    // Legend.
    let lx = LEFT + plot_w + 16.0;
    for (i, line) in lines.iter().enumerate() {
        let ly = TOP + 10.0 + 18.0 * i as f64;
        let dash = if line.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{}" stroke-width="1.5"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 24.0,
            line.color,
            lx + 30.0,
            ly + 4.0,
            escape(&line.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A power of ten of microseconds as `1 µs`, `100 ms`, `10 s`.
fn decade_label(decade: i32) -> String {
    let (unit, exponent) = match decade {
        ..=-1 => ("ns", decade + 3),
        0..=2 => ("µs", decade),
        3..=5 => ("ms", decade - 3),
        _ => ("s", decade - 6),
    };
    format!("{} {unit}", 10u64.pow(exponent.max(0) as u32))
}

/// The whole decades (as exponents) around some positive values.
fn decades(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| *v > 0.0 && v.is_finite())
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let (lo, hi) = (lo.log10().floor(), hi.log10().ceil());
    (lo, hi.max(lo + 1.0))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decades_cover_the_values() {
        assert_eq!(decades([50.0, 2_000.0].into_iter()), (1.0, 4.0));
        assert_eq!(decades([100.0].into_iter()), (2.0, 3.0));
        assert_eq!(decades(std::iter::empty()), (0.0, 1.0));
    }

    #[test]
    fn decades_are_labelled_in_their_unit() {
        let labels: Vec<String> = (-1..8).map(decade_label).collect();
        assert_eq!(
            labels,
            ["100 ns", "1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms", "1 s", "10 s"]
        );
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a < b & c"), "a &lt; b &amp; c");
    }
}
