//! Connecting the processes of a cluster, within a deadline.
//!
//! The shape is timely's own start-up — process `i` listens on its hostfile address,
//! connects to every process before it and is connected to by every process after it —
//! but bounded in time: timely's `create_sockets` retries a missing peer forever and
//! prints its progress on stdout, so a peer that was never started would hang the job.
//! Each connection opens with a greeting (a tag, the process index, the process count
//! and the channel) so that a stray connection is ignored and a process started with
//! another process count is refused with a message rather than misread.
//!
//! Every pair of processes gets two connections: one for timely's data and progress,
//! and one that carries nothing but heartbeats ([`super::heartbeat`]), so that a peer
//! that stops responding without closing its connection is noticed.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::error::ClusterError;

/// Opens every greeting; anything else connecting to the port is not a peer. The last
/// byte is the greeting's version.
const TAG: [u8; 8] = *b"segflow\x02";
/// Tag, process index, process count and channel.
const GREETING_BYTES: usize = 32;
/// The channels between two processes: data (0) and heartbeats (1), as in [`Links`].
const CHANNELS: usize = 2;

/// Longest wait for a greeting: a peer sends it as soon as it has connected.
const GREETING_WAIT: Duration = Duration::from_secs(5);
/// Pause between rounds of accepting and dialling.
const POLL: Duration = Duration::from_millis(50);
/// Longest single connection attempt, so that accepting goes on meanwhile.
const DIAL: Duration = Duration::from_secs(1);

/// The connections of this process to every other one (`None` at its own index).
pub struct Links {
    /// What timely's `initialize_networking_from_sockets` takes.
    pub data: Vec<Option<TcpStream>>,
    /// One connection per peer for heartbeats only.
    pub heartbeat: Vec<Option<TcpStream>>,
}

/// Both connections to every other process, within `timeout`.
pub fn connect(
    addresses: &[String],
    process: usize,
    timeout: Duration,
) -> Result<Links, ClusterError> {
    let deadline = Instant::now() + timeout;
    let processes = addresses.len();
    let listener = if process + 1 < processes {
        Some(listen(addresses, process)?)
    } else {
        None
    };
    let mut sockets: Vec<[Option<TcpStream>; CHANNELS]> =
        (0..processes).map(|_| [None, None]).collect();
    // Why each earlier process could not be reached yet, for the final message.
    let mut failures: Vec<String> = vec![String::new(); processes];
    loop {
        if let Some(listener) = &listener {
            accept_pending(listener, process, processes, &mut sockets)?;
        }
        for peer in 0..process {
            for (channel, socket) in sockets[peer].iter_mut().enumerate() {
                if socket.is_none() {
                    match dial(addresses, peer, process, channel, deadline)? {
                        Ok(stream) => *socket = Some(stream),
                        Err(error) => failures[peer] = error.to_string(),
                    }
                }
            }
        }
        let connected = |peer: usize| sockets[peer].iter().all(Option::is_some);
        let missing = (0..processes).find(|&peer| peer != process && !connected(peer));
        let Some(missing) = missing else {
            let (data, heartbeat) = sockets
                .into_iter()
                .map(|[data, heartbeat]| (data, heartbeat))
                .unzip();
            return Ok(Links { data, heartbeat });
        };
        if Instant::now() >= deadline {
            let detail = if missing < process {
                std::mem::take(&mut failures[missing])
            } else {
                "it did not connect".to_string()
            };
            return Err(ClusterError::Unreachable {
                process: missing,
                address: addresses[missing].clone(),
                waited: timeout.as_secs_f64(),
                detail,
            });
        }
        sleep(POLL);
    }
}

fn resolve(addresses: &[String], process: usize) -> Result<Vec<SocketAddr>, ClusterError> {
    let address = &addresses[process];
    let invalid = |reason: String| ClusterError::Address {
        process,
        address: address.clone(),
        reason,
    };
    let resolved: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|e| invalid(e.to_string()))?
        .collect();
    if resolved.is_empty() {
        return Err(invalid("the host name resolves to no address".into()));
    }
    Ok(resolved)
}

fn listen(addresses: &[String], process: usize) -> Result<TcpListener, ClusterError> {
    let listener = TcpListener::bind(&resolve(addresses, process)?[..]).map_err(|source| {
        ClusterError::Listen {
            process,
            address: addresses[process].clone(),
            source,
        }
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ClusterError::Setup(e.to_string()))?;
    Ok(listener)
}

/// Takes every connection waiting on `listener`; a connection that does not greet as a
/// later process of this job is dropped.
fn accept_pending(
    listener: &TcpListener,
    process: usize,
    processes: usize,
    sockets: &mut [[Option<TcpStream>; CHANNELS]],
) -> Result<(), ClusterError> {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(ClusterError::Setup(format!("accepting a peer: {e}"))),
        };
        let Some((peer, count, channel)) = read_greeting(&stream) else {
            continue;
        };
        if count != processes {
            return Err(ClusterError::Handshake(format!(
                "process {peer} was started with {count} processes, this one (process \
                 {process}) with {processes}; start every process with the same -n and hostfile"
            )));
        }
        if peer <= process || peer >= processes || sockets[peer][channel].is_some() {
            return Err(ClusterError::Handshake(format!(
                "process {process} was greeted twice by a process {peer} or by one that should \
                 not connect to it; give every process its own -p and the same hostfile"
            )));
        }
        sockets[peer][channel] = Some(ready(stream)?);
    }
}

/// The peer index, process count and channel a connection greets with, or `None` if it
/// is not a segflow peer (or says nothing in time).
fn read_greeting(stream: &TcpStream) -> Option<(usize, usize, usize)> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(GREETING_WAIT)).ok()?;
    let mut greeting = [0u8; GREETING_BYTES];
    (&*stream).read_exact(&mut greeting).ok()?;
    if greeting[..8] != TAG {
        return None;
    }
    let number = |at: usize| u64::from_be_bytes(greeting[at..at + 8].try_into().unwrap());
    let channel = usize::try_from(number(24)).ok().filter(|c| *c < CHANNELS)?;
    Some((
        usize::try_from(number(8)).ok()?,
        usize::try_from(number(16)).ok()?,
        channel,
    ))
}

/// One attempt to connect to the earlier process `peer` for `channel` and greet it. The
/// outer error ends the job (an address that cannot be resolved); the inner one is
/// worth retrying.
fn dial(
    addresses: &[String],
    peer: usize,
    process: usize,
    channel: usize,
    deadline: Instant,
) -> Result<io::Result<TcpStream>, ClusterError> {
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .clamp(Duration::from_millis(100), DIAL);
    let mut last = io::Error::new(ErrorKind::NotFound, "no address");
    for address in resolve(addresses, peer)? {
        match TcpStream::connect_timeout(&address, wait) {
            Ok(mut stream) => {
                let mut greeting = Vec::with_capacity(GREETING_BYTES);
                greeting.extend_from_slice(&TAG);
                greeting.extend_from_slice(&(process as u64).to_be_bytes());
                greeting.extend_from_slice(&(addresses.len() as u64).to_be_bytes());
                greeting.extend_from_slice(&(channel as u64).to_be_bytes());
                return Ok(stream.write_all(&greeting).and_then(|()| {
                    stream.set_nodelay(true)?;
                    Ok(stream)
                }));
            }
            Err(error) => last = error,
        }
    }
    Ok(Err(last))
}

/// Puts an accepted connection in the state timely's communication threads expect.
fn ready(stream: TcpStream) -> Result<TcpStream, ClusterError> {
    let setup = |e: io::Error| ClusterError::Setup(format!("preparing a peer connection: {e}"));
    stream.set_read_timeout(None).map_err(setup)?;
    stream.set_nodelay(true).map_err(setup)?;
    Ok(stream)
}
