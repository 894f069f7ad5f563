//! Starting timely workers on this process, alone or as one process of a cluster.
//!
//! For a cluster the sockets are connected by `connect` (with a deadline) and handed
//! to timely's `initialize_networking_from_sockets`; a second connection to every peer
//! carries heartbeats (`heartbeat`). A peer that is lost, by a broken connection or
//! by silence, ends this process with one line naming it (`exit`).

mod connect;
mod error;
mod exit;
mod heartbeat;

use std::time::Duration;

use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::ProcessBuilder;
use timely::communication::{AllocatorBuilder, Hooks};
use timely::worker::Worker;
use timely::CommunicationConfig;

pub use error::ClusterError;

/// How a run's workers are laid out: timely's configuration, how long the processes
/// of a cluster wait for each other to start, and how long a silent peer is waited for.
#[derive(Clone, Debug)]
pub struct Workers {
    /// Timely's configuration: threads per process and, for a cluster, every process's
    /// address and this one's index.
    pub config: timely::Config,
    /// How long the processes of a cluster wait for each other to connect.
    pub connect_timeout: Duration,
    /// How long a peer may miss heartbeats before this process ends, naming it.
    pub peer_timeout: Duration,
}

impl Workers {
    /// Long enough to start the processes of a job by hand in several terminals.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
    /// Long enough that a loaded machine never misses a heartbeat for that long (they
    /// are sent by a thread of their own), short enough that a stopped peer is noticed
    /// while someone is still watching.
    pub const DEFAULT_PEER_TIMEOUT: Duration = Duration::from_secs(30);

    /// The index of this process in the job, from 0.
    pub fn process(&self) -> usize {
        match &self.config.communication {
            CommunicationConfig::Cluster { process, .. } => *process,
            _ => 0,
        }
    }

    /// The number of processes in the job.
    pub fn processes(&self) -> usize {
        match &self.config.communication {
            CommunicationConfig::Cluster { addresses, .. } => addresses.len(),
            _ => 1,
        }
    }

    /// The number of worker threads of each process.
    pub fn threads(&self) -> usize {
        match &self.config.communication {
            CommunicationConfig::Thread => 1,
            CommunicationConfig::Process(threads) | CommunicationConfig::ProcessBinary(threads) => {
                *threads
            }
            CommunicationConfig::Cluster { threads, .. } => *threads,
        }
    }
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

    exit::end_on_disconnection(&addresses);
    let links = connect::connect(&addresses, process, connect_timeout)?;
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
