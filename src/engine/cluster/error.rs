//! Why the workers of a run could not run to the end: [`ClusterError`].

/// Why the workers could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Timely, or a socket it needs, could not be set up; the text says why.
    #[error("cannot start the workers: {0}")]
    Setup(String),
    /// A hostfile address that does not resolve to any socket address.
    #[error("process {process}'s address `{address}`: {reason}")]
    Address {
        /// Index of the process the address belongs to, from 0.
        process: usize,
        /// The address as given, `host:port`.
        address: String,
        /// Why it does not resolve.
        reason: String,
    },
    /// This process could not listen on its own address (e.g. the port is taken).
    #[error("process {process} cannot listen on {address}: {source}")]
    Listen {
        /// Index of this process, from 0.
        process: usize,
        /// The address it tried to listen on.
        address: String,
        /// The error from binding the address.
        source: std::io::Error,
    },
    /// A peer was not connected within the connect timeout.
    #[error(
        "process {process} ({address}) could not be reached within {waited}s ({detail}); start \
         every process of the job with the same hostfile (segflow cluster does), or raise \
         --connect-timeout"
    )]
    Unreachable {
        /// Index of the first peer still missing, from 0.
        process: usize,
        /// That peer's address.
        address: String,
        /// The connect timeout, in seconds.
        waited: f64,
        /// The last error dialling an earlier peer, or "it did not connect" for a later
        /// one.
        detail: String,
    },
    /// A peer's greeting contradicts this process: another process count, or a process
    /// index that greets twice or should not connect here.
    #[error("{0}")]
    Handshake(String),
    /// Printed by the panic hook, which then ends the process (see `super::exit`).
    #[error(
        "process {process} ({address}) disconnected; restart the job — it replays from the sources"
    )]
    Disconnected {
        /// Index of the lost peer, from 0.
        process: usize,
        /// That peer's address.
        address: String,
    },
    /// Printed by the heartbeat watcher, which then ends the process.
    #[error(
        "process {process} ({address}) has not responded for {waited}s (stopped, hung or cut \
         off); stop it and restart the job — it replays from the sources"
    )]
    Silent {
        /// Index of the silent peer, from 0.
        process: usize,
        /// That peer's address.
        address: String,
        /// The peer timeout, in seconds.
        waited: f64,
    },
    /// A worker thread of this process panicked.
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
