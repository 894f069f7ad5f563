//! Starting timely workers on this process, alone or as one process of a cluster, and
//! turning a broken cluster into one error.
//!
//! For a cluster the sockets are connected by [`super::connect`] (with a deadline) and
//! handed to timely's `initialize_networking_from_sockets`. When a peer dies, timely
//! takes the job down by panicking: the communication thread of the broken connection
//! panics, poisons the queues it shares with the workers, and every worker panics in
//! turn. That is the right outcome — the job cannot go on without the peer — but not
//! the right message, so a panic hook keeps those panics quiet, remembers which peer's
//! thread saw the connection break (timely names the threads `timely:recv-P` and
//! `timely:send-P`), and [`execute`] returns [`ClusterError::Disconnected`] naming it.
//! Every other panic is reported as usual.
//!
//! The record of the broken peer is global, as the panic hook is: one process runs one
//! cluster execution at a time.

use std::panic;
use std::sync::{Mutex, Once};
use std::time::Duration;

use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::ProcessBuilder;
use timely::communication::{AllocatorBuilder, Hooks};
use timely::worker::Worker;
use timely::CommunicationConfig;

use super::connect::connect;

/// How a run's workers are laid out: timely's configuration, and how long the
/// processes of a cluster wait for each other to start.
#[derive(Clone, Debug)]
pub struct Workers {
    pub config: timely::Config,
    pub connect_timeout: Duration,
}

impl Workers {
    /// Long enough to start the processes of a job by hand in several terminals.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
}

impl From<timely::Config> for Workers {
    fn from(config: timely::Config) -> Workers {
        Workers {
            config,
            connect_timeout: Workers::DEFAULT_CONNECT_TIMEOUT,
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
    #[error(
        "process {process} ({address}) disconnected; restart the job — it replays from the sources"
    )]
    Disconnected { process: usize, address: String },
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

    quiet_communication_panics();
    let sockets = connect(&addresses, process, connect_timeout)?;
    let hooks = Hooks::default();
    let local = if zerocopy {
        ProcessBuilder::new_bytes_vector(threads, hooks.refill.clone(), hooks.spill.clone())
    } else {
        ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), hooks.spill.clone())
    };
    *broken_peer() = None;
    let (builders, comms) =
        initialize_networking_from_sockets(local, sockets, process, threads, hooks)
            .map_err(|e| ClusterError::Setup(e.to_string()))?;
    let builders = builders.into_iter().map(AllocatorBuilder::Tcp).collect();
    let guards = timely::execute::execute_from(builders, Box::new(()), config.worker, func)
        .map_err(ClusterError::Setup)?;
    let outcomes: Result<Vec<T>, _> = guards.join().into_iter().collect();
    // Joining the communication threads flushes the last messages to the peers. After a
    // failure it could wait forever on a peer that is failing too; the process is
    // about to exit with an error, which ends the threads.
    let closed = match outcomes {
        Ok(_) => std::thread::Builder::new()
            .name("timely:comms".into())
            .spawn(move || drop(comms))
            .is_ok_and(|closing| closing.join().is_ok()),
        Err(_) => {
            std::mem::forget(comms);
            false
        }
    };
    let broken = broken_peer().take();
    match (outcomes, closed, broken) {
        (Ok(results), true, _) => Ok(results),
        (_, _, Some(process)) => Err(ClusterError::Disconnected {
            process,
            address: addresses[process].clone(),
        }),
        _ => Err(ClusterError::WorkerPanicked),
    }
}

/// The peer whose connection broke first in the current cluster execution.
fn broken_peer() -> std::sync::MutexGuard<'static, Option<usize>> {
    static BROKEN_PEER: Mutex<Option<usize>> = Mutex::new(None);
    BROKEN_PEER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Messages of the panics by which timely spreads a broken connection to every thread.
const CASCADE: [&str; 3] = [
    "timely communication error",
    "MergeQueue poisoned",
    "thread panic",
];

/// Installs (once) the panic hook described in the module documentation.
fn quiet_communication_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let report = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or_default();
            let message = info.payload_as_str().unwrap_or_default();
            if !name.starts_with("timely:") || !CASCADE.iter().any(|m| message.contains(m)) {
                return report(info);
            }
            let peer = name
                .strip_prefix("timely:recv-")
                .or_else(|| name.strip_prefix("timely:send-"))
                .and_then(|peer| peer.parse().ok());
            if let Some(peer) = peer.filter(|_| message.starts_with(CASCADE[0])) {
                broken_peer().get_or_insert(peer);
            }
        }));
    });
}
