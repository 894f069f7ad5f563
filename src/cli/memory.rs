//! A limit on the process's memory: stopping with a message before the system's
//! out-of-memory killer stops it without one.
//!
//! What a run holds grows with users × segments (each membership) and with the events
//! of open windows; a catalog of a hundred thousand segments can need more memory than
//! the machine has, and the kernel's answer is SIGKILL, which says nothing. A thread
//! samples the process's resident memory ten times a second; above the limit it
//! prints what was reached and why that can happen, and exits with status 1. Nothing
//! is half-written by that: batch output is staged and swapped in only when complete,
//! and a live run resumes from its change log as after any crash.

use std::io::Write;
use std::time::Duration;

use clap::Args;

/// How often resident memory is sampled.
const SAMPLE: Duration = Duration::from_millis(100);
/// The share of the machine's (or cgroup's) memory a process may use by default.
const SHARE: f64 = 0.9;

/// The `--max-memory` flag, shared by every command.
#[derive(Args, Debug, Clone)]
pub struct MemoryArgs {
    /// Stop with an error once the process uses this much memory (`512MiB`, `20GiB`)
    /// [default: 90% of the machine's or the container's memory].
    #[arg(long, global = true, value_parser = parse_size, value_name = "SIZE")]
    pub max_memory: Option<u64>,
}

/// Starts the watching thread (once per process).
pub fn guard(args: &MemoryArgs) {
    let (limit, source) = match args.max_memory {
        Some(limit) => (limit, "--max-memory".to_owned()),
        None => match available() {
            Some(total) => (
                (total as f64 * SHARE) as u64,
                format!(
                    "{:.0}% of the {} this machine or container has; set another with \
                     --max-memory",
                    SHARE * 100.0,
                    shown(total)
                ),
            ),
            None => return,
        },
    };
    std::thread::Builder::new()
        .name("segflow-memory".into())
        .spawn(move || loop {
            if let Some(resident) = resident() {
                if resident > limit {
                    // Whoever reads stderr may be gone: exit whether or not it prints.
                    let _ = writeln!(
                        std::io::stderr(),
                        "error: segflow stopped at {} of memory, over its limit of {} ({source}). \
                         A run holds every member of every segment (about 300 bytes each) and \
                         the events of open windows: fewer segments, fewer users per process \
                         (segflow cluster), or a larger machine",
                        shown(resident),
                        shown(limit)
                    );
                    std::process::exit(1);
                }
            }
            std::thread::sleep(SAMPLE);
        })
        .ok();
}

/// The process's resident memory in bytes.
fn resident() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

/// The memory this process may use: the machine's, or its cgroup's limit if lower.
fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total = meminfo.lines().find_map(|line| {
        let kib = line.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
        kib.trim().parse::<u64>().ok().map(|kib| kib * 1024)
    })?;
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|path| {
        std::fs::read_to_string(path)
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
    })
    .min();
    Some(cgroup.map_or(total, |limit| limit.min(total)))
}

/// A size such as `512MiB`, `20GiB`, `1.5GiB` or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let units = [
        ("KiB", 1u64 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("TiB", 1 << 40),
    ];
    let (number, unit) = units
        .iter()
        .find_map(|(name, factor)| Some((text.strip_suffix(name)?, *factor)))
        .unwrap_or((text, 1));
    match number.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok((value * unit as f64) as u64),
        _ => Err(format!(
            "`{text}` is not a size: write a number of bytes, or one with KiB, MiB, GiB or TiB \
             (`512MiB`, `20GiB`)"
        )),
    }
}

/// Bytes as GiB or MiB.
fn shown(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_their_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").unwrap_err().contains("is not a size"));
        assert!(parse_size("0MiB").is_err());
    }

    #[test]
    fn this_process_has_memory_and_a_limit() {
        assert!(resident().unwrap() > 0);
        assert!(available().unwrap() > resident().unwrap());
    }
}
