//! Why the workers of a run could not run to the end: [`ClusterError`].

/// Why the workers could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot start the workers: {0}")]
    Setup(String),
    #[error("process {process}'s address `{address}`: {reason}")]
    Address {
        process: usize,
        address: String,
        reason: String,
    },
    #[error("process {process} cannot listen on {address}: {source}")]
    Listen {
        process: usize,
        address: String,
        source: std::io::Error,
    },
    #[error(
        "process {process} ({address}) could not be reached within {waited}s ({detail}); start \
         every process of the job with the same hostfile (segflow cluster does), or raise \
         --connect-timeout"
    )]
    Unreachable {
        process: usize,
        address: String,
        waited: f64,
        detail: String,
    },
    #[error("{0}")]
    Handshake(String),
    /// Printed by the panic hook, which then ends the process (see `super::exit`).
    #[error(
        "process {process} ({address}) disconnected; restart the job — it replays from the sources"
    )]
    Disconnected { process: usize, address: String },
    /// Printed by the heartbeat watcher, which then ends the process.
    #[error(
        "process {process} ({address}) has not responded for {waited}s (stopped, hung or cut \
         off); stop it and restart the job — it replays from the sources"
    )]
    Silent {
        process: usize,
        address: String,
        waited: f64,
    },
    #[error("a timely thread panicked (see the message above)")]
    WorkerPanicked,
}

impl ClusterError {
    /// Whether the job failed only because this process's port was taken, so that the
    /// same job with other ports may succeed.
    pub fn is_port_taken(&self) -> bool {
        matches!(self, ClusterError::Listen { source, .. }
            if source.kind() == std::io::ErrorKind::AddrInUse)
    }
}
