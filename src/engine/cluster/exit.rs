//! Ending a cluster process with one line when a peer is lost.
//!
//! When a peer dies, timely takes the job down by panicking: the communication thread
//! of the broken connection panics, poisons the queues it shares with the workers, and
//! every worker panics in turn — and may abort the process, when a buffer's destructor
//! panics again during that unwinding. So there is no reliable way back from the first
//! panic, and a panic hook acts on it instead: when a thread timely names
//! `timely:recv-P` or `timely:send-P` reports a broken connection, the hook prints one
//! line naming process `P` and exits with status 1, before anything unwinds. Nothing
//! has been written by then (results are written after the workers finish), and the
//! job replays from its sources when restarted. Panics that merely echo an earlier one
//! are kept quiet; every other panic is reported as usual.
//!
//! A peer that stops responding without closing its connections is noticed by
//! [`super::heartbeat`] after the peer timeout, which ends the process the same way
//! ([`end_process`]).
//!
//! The hook and the addresses it names are global: one process runs one cluster
//! execution at a time.

use std::panic;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

use super::error::ClusterError;

/// Ends the process with status 1 and one line saying why; a thread that calls this
/// after another has waits for the exit, so only the first reason is printed.
pub fn end_process(error: &ClusterError) -> ! {
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
pub fn end_on_disconnection(addresses: &[String]) {
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
