//! Where a command's workers run: timely's cluster flags, shared by every command that
//! runs a dataflow (flatten [`ClusterArgs`] into its arguments).
//!
//! The flags are timely's own (`-w`, `-n`, `-p`, `-h`), so `-h` is the hostfile and
//! help is `--help` only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{ArgAction, Args};

use crate::engine::cluster::Workers;

/// Where a command's workers run: timely's `-w`, `-n`, `-p`, `-h` and the timeouts of a
/// cluster.
#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct ClusterArgs {
    /// Worker threads per process.
    #[arg(short = 'w', long, default_value_t = 1, value_name = "N")]
    pub workers: usize,
    /// Number of processes in the job.
    #[arg(short = 'n', long, default_value_t = 1, value_name = "N")]
    pub processes: usize,
    /// Index of this process, from 0 to processes - 1; process 0 writes the results.
    #[arg(short = 'p', long, default_value_t = 0, value_name = "I")]
    pub process: usize,
    /// File of process addresses, one `host:port` per line, line i for process i
    /// (required with more than one process).
    #[arg(short = 'h', long, value_name = "FILE")]
    pub hostfile: Option<PathBuf>,
    /// Seconds to wait for the other processes to start and connect.
    #[arg(long, value_name = "SECS", default_value_t = Workers::DEFAULT_CONNECT_TIMEOUT.as_secs_f64())]
    pub connect_timeout: f64,
    /// Seconds a process of a running job may stay silent (stopped, hung or cut off)
    /// before the others end the job naming it.
    #[arg(long, value_name = "SECS", default_value_t = Workers::DEFAULT_PEER_TIMEOUT.as_secs_f64())]
    pub peer_timeout: f64,
    /// Print help (`-h` is the hostfile).
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

impl ClusterArgs {
    /// timely's configuration and the connection timeout, checked; errors name the
    /// flag, or the hostfile and line.
    pub fn config(&self) -> anyhow::Result<Workers> {
        if self.workers == 0 {
            bail!("--workers must be at least 1");
        }
        if self.processes == 0 {
            bail!("--processes must be at least 1");
        }
        if self.process >= self.processes {
            bail!(
                "--process {} is out of range: with --processes {} it is 0 to {}",
                self.process,
                self.processes,
                self.processes - 1
            );
        }
        let connect_timeout = positive_seconds("--connect-timeout", self.connect_timeout)?;
        let peer_timeout = positive_seconds("--peer-timeout", self.peer_timeout)?;
        let communication = match (&self.hostfile, self.processes) {
            (None, 1) => timely::CommunicationConfig::Process(self.workers),
            (None, _) => bail!(
                "--processes {} needs --hostfile FILE with one host:port per process",
                self.processes
            ),
            (Some(hostfile), processes) => timely::CommunicationConfig::Cluster {
                threads: self.workers,
                process: self.process,
                addresses: read_hostfile(hostfile, processes)?,
                report: false,
                zerocopy: false,
            },
        };
        Ok(Workers {
            config: timely::Config {
                communication,
                worker: timely::WorkerConfig::default(),
            },
            connect_timeout,
            peer_timeout,
        })
    }
}

/// A flag's number of seconds as a duration; it must be positive and representable.
fn positive_seconds(flag: &str, seconds: f64) -> anyhow::Result<Duration> {
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => bail!("{flag} must be a positive number of seconds"),
    }
}

/// The addresses of a hostfile: exactly `processes` lines of `host:port`.
fn read_hostfile(path: &Path, processes: usize) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read hostfile '{}'", path.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != processes {
        bail!(
            "hostfile '{}' has {} line(s) but --processes is {processes}: it needs one \
             host:port line per process",
            path.display(),
            lines.len()
        );
    }
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let address = line.trim();
            check_address(address).map_err(|reason| {
                anyhow::anyhow!("{}:{}: `{address}` {reason}", path.display(), i + 1)
            })?;
            Ok(address.to_string())
        })
        .collect()
}

/// Checks the `host:port` shape (the host is resolved when connecting).
fn check_address(address: &str) -> Result<(), &'static str> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or("is not host:port (no `:`)")?;
    if host.is_empty() {
        return Err("has no host before `:`");
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(()),
        _ => Err("does not end in a port number from 1 to 65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(processes: usize, process: usize, hostfile: Option<PathBuf>) -> ClusterArgs {
        ClusterArgs {
            workers: 1,
            processes,
            process,
            hostfile,
            connect_timeout: 5.0,
            peer_timeout: 3.0,
            help: None,
        }
    }

    fn hostfile(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.txt");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn error(args: &ClusterArgs) -> String {
        format!("{:#}", args.config().unwrap_err())
    }

    #[test]
    fn one_process_needs_no_hostfile() {
        let workers = args(1, 0, None).config().unwrap();
        assert!(matches!(
            workers.config.communication,
            timely::CommunicationConfig::Process(1)
        ));
    }

    #[test]
    fn a_hostfile_gives_a_cluster() {
        let (_dir, path) = hostfile("127.0.0.1:4000\r\n  host-b:4001 \n");
        let workers = args(2, 1, Some(path)).config().unwrap();
        let timely::CommunicationConfig::Cluster {
            process, addresses, ..
        } = workers.config.communication
        else {
            panic!("not a cluster");
        };
        assert_eq!(process, 1);
        assert_eq!(addresses, ["127.0.0.1:4000", "host-b:4001"]);
        assert_eq!(workers.connect_timeout, Duration::from_secs(5));
        assert_eq!(workers.peer_timeout, Duration::from_secs(3));
    }

    #[test]
    fn the_layout_reads_back_from_the_configuration() {
        let mut alone = args(1, 0, None);
        alone.workers = 3;
        let workers = alone.config().unwrap();
        let layout = (workers.process(), workers.processes(), workers.threads());
        assert_eq!(layout, (0, 1, 3));
        let (_dir, path) = hostfile("127.0.0.1:4000\n127.0.0.1:4001\n127.0.0.1:4002\n");
        let mut second = args(3, 1, Some(path));
        second.workers = 2;
        let workers = second.config().unwrap();
        let layout = (workers.process(), workers.processes(), workers.threads());
        assert_eq!(layout, (1, 3, 2));
    }

    #[test]
    fn bad_layouts_are_named() {
        assert!(error(&args(0, 0, None)).contains("--processes must be at least 1"));
        assert!(error(&args(2, 2, None)).contains("--process 2 is out of range"));
        assert!(error(&args(2, 0, None)).contains("needs --hostfile"));
        let missing = PathBuf::from("/nonexistent/hosts.txt");
        assert!(error(&args(2, 0, Some(missing))).contains("cannot read hostfile"));
        for seconds in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e30] {
            let mut timeouts = args(1, 0, None);
            timeouts.peer_timeout = seconds;
            let message = error(&timeouts);
            assert!(
                message.contains("--peer-timeout must be a positive"),
                "{message}"
            );
            timeouts.peer_timeout = 1.0;
            timeouts.connect_timeout = seconds;
            let message = error(&timeouts);
            assert!(
                message.contains("--connect-timeout must be a positive"),
                "{message}"
            );
        }
    }

    #[test]
    fn bad_hostfiles_name_the_file_and_line() {
        let (_dir, path) = hostfile("127.0.0.1:4000\n");
        let message = error(&args(2, 0, Some(path.clone())));
        assert!(
            message.contains("has 1 line(s) but --processes is 2"),
            "{message}"
        );
        for (text, reason) in [
            ("a:1\nlocalhost\n", "no `:`"),
            ("a:1\n:4000\n", "no host"),
            ("a:1\nb:99999\n", "port number"),
            ("a:1\nb:0\n", "port number"),
            ("a:1\n\n", "no `:`"),
        ] {
            let (_dir, path) = hostfile(text);
            let message = error(&args(2, 0, Some(path.clone())));
            let at = format!("{}:2: `", path.display());
            assert!(message.starts_with(&at), "{text:?}: {message}");
            assert!(message.contains(reason), "{text:?}: {message}");
        }
    }
}
