//! Starting timely workers on this process, alone or as one process of a cluster, and
//! ending a cluster process with one line when a peer is lost.
//!
//! For a cluster the sockets are connected by `engine::connect` (with a deadline) and
//! handed to timely's `initialize_networking_from_sockets`. When a peer dies, timely
//! takes the job down by panicking: the communication thread of the broken connection
//! panics, poisons the queues it shares with the workers, and every worker panics in
//! turn — and may abort the process, when a buffer's destructor panics again during
//! that unwinding. So there is no reliable way back from the first panic, and a panic
//! hook acts on it instead: when a thread timely names `timely:recv-P` or
//! `timely:send-P` reports a broken connection, the hook prints one line naming process
//! `P` and exits with status 1, before anything unwinds. Nothing has been written by
//! then (results are written after the workers finish), and the job replays from its
//! sources when restarted. Panics that merely echo an earlier one are kept quiet; every
//! other panic is reported as usual.
//!
//! A peer that stops responding without closing its connections is noticed by
//! `engine::heartbeat` after the peer timeout and ends the process the same way.
//!
//! The hook and the addresses it names are global: one process runs one cluster
//! execution at a time.

use std::panic;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::ProcessBuilder;
use timely::communication::{AllocatorBuilder, Hooks};
use timely::worker::Worker;
use timely::CommunicationConfig;

use super::connect::connect;
use super::heartbeat;

/// How a run's workers are laid out: timely's configuration, how long the processes
/// of a cluster wait for each other to start, and how long a silent peer is waited for.
#[derive(Clone, Debug)]
pub struct Workers {
    pub config: timely::Config,
    pub connect_timeout: Duration,
    pub peer_timeout: Duration,
}

impl Workers {
    /// Long enough to start the processes of a job by hand in several terminals.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
    /// Long enough that a loaded machine never misses a heartbeat for that long (they
    /// are sent by a thread of their own), short enough that a stopped peer is noticed
    /// while someone is still watching.
    pub const DEFAULT_PEER_TIMEOUT: Duration = Duration::from_secs(30);
}

impl From<timely::Config> for Workers {
    fn from(config: timely::Config) -> Workers {
        Workers {
            config,
            connect_timeout: Workers::DEFAULT_CONNECT_TIMEOUT,
            peer_timeout: Workers::DEFAULT_PEER_TIMEOUT,
        }
    }
}

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
    /// Printed by the panic hook, which then ends the process (see the module docs).
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

/// Runs `func` on every worker of this process and returns their results in order.
pub fn execute<T, F>(workers: Workers, func: F) -> Result<Vec<T>, ClusterError>
where
    T: Send + 'static,
    F: Fn(&mut Worker) -> T + Send + Sync + 'static,
{
    let Workers {
        config,
        connect_timeout,
        peer_timeout,
    } = workers;
    let CommunicationConfig::Cluster {
        threads,
        process,
        addresses,
        zerocopy,
        ..
    } = config.communication
    else {
        let guards = timely::execute(config, func).map_err(ClusterError::Setup)?;
        return guards
            .join()
            .into_iter()
            .map(|outcome| outcome.map_err(|_| ClusterError::WorkerPanicked))
            .collect();
    };

    end_on_disconnection(&addresses);
    let links = connect(&addresses, process, connect_timeout)?;
    heartbeat::watch(links.heartbeat, &addresses, peer_timeout);
    let sockets = links.data;
    let hooks = Hooks::default();
    let local = if zerocopy {
        ProcessBuilder::new_bytes_vector(threads, hooks.refill.clone(), hooks.spill.clone())
    } else {
        ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), hooks.spill.clone())
    };
    let (builders, comms) =
        initialize_networking_from_sockets(local, sockets, process, threads, hooks)
            .map_err(|e| ClusterError::Setup(e.to_string()))?;
    let builders = builders.into_iter().map(AllocatorBuilder::Tcp).collect();
    let guards = timely::execute::execute_from(builders, Box::new(()), config.worker, func)
        .map_err(ClusterError::Setup)?;
    match guards.join().into_iter().collect() {
        Ok(results) => {
            // Joining the communication threads sends the last messages to the peers.
            drop(comms);
            Ok(results)
        }
        Err(_) => {
            // A worker panicked; the peers may be waiting for it forever, so do not
            // join the threads that talk to them. The process is about to exit.
            std::mem::forget(comms);
            Err(ClusterError::WorkerPanicked)
        }
    }
}

/// Ends the process with status 1 and one line saying why; a thread that calls this
/// after another has waits for the exit, so only the first reason is printed.
pub(crate) fn end_process(error: &ClusterError) -> ! {
    static ENDING: AtomicBool = AtomicBool::new(false);
    if !ENDING.swap(true, Ordering::SeqCst) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
    loop {
        std::thread::park();
    }
}

/// The addresses of the current cluster execution's processes, for the hook's message.
fn peers() -> MutexGuard<'static, Vec<String>> {
    static PEERS: Mutex<Vec<String>> = Mutex::new(Vec::new());
    PEERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How timely's communication threads report a broken connection.
const BROKEN: &str = "timely communication error";
/// Panics that only repeat an earlier one: a worker or communication thread finding
/// the queues poisoned by a panicking thread, or timely joining a panicked thread.
const ECHOES: [&str; 2] = ["MergeQueue poisoned", "thread panic"];

/// Installs (once) the panic hook described in the module documentation, and records
/// `addresses` for its message.
fn end_on_disconnection(addresses: &[String]) {
    *peers() = addresses.to_vec();
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let report = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or_default();
            let message = info.payload_as_str().unwrap_or_default();
            let peer: Option<usize> = name
                .strip_prefix("timely:recv-")
                .or_else(|| name.strip_prefix("timely:send-"))
                .and_then(|peer| peer.parse().ok());
            match peer {
                Some(process) if message.starts_with(BROKEN) => {
                    let address = peers().get(process).cloned().unwrap_or_default();
                    end_process(&ClusterError::Disconnected { process, address });
                }
                _ if name.starts_with("timely:") && ECHOES.iter().any(|m| message.contains(m)) => {}
                _ => report(info),
            }
        }));
    });
}
