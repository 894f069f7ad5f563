//! Noticing a peer process that stops responding without closing its connections.
//!
//! A peer that dies closes its sockets, and timely's communication threads report the
//! broken connection (see [`super::exit`]). A peer that is stopped (`kill -STOP`, a
//! debugger), hung at the operating-system level, or cut off by the network keeps its
//! connections open: timely has no heartbeat of its own, so the job would wait for it
//! forever. Each pair of processes therefore has a second connection that carries one
//! byte every [`interval`] in each direction, written and read by threads of their own
//! (so a busy worker never delays a heartbeat). A peer silent for the whole timeout ends
//! this process with one line naming it.
//!
//! A heartbeat connection that closes is not an error here: the peer finished, or died
//! and its data connection reports that.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::error::ClusterError;
use super::exit::end_process;

/// Starts the heartbeat threads for every peer connection; `addresses` name the peers
/// in the message.
pub fn watch(links: Vec<Option<TcpStream>>, addresses: &[String], timeout: Duration) {
    for (process, stream) in links.into_iter().enumerate() {
        let Some(stream) = stream else { continue };
        let address = addresses[process].clone();
        if let Ok(writer) = stream.try_clone() {
            std::thread::Builder::new()
                .name(format!("segflow:heartbeat-send-{process}"))
                .spawn(move || send(writer, interval(timeout)))
                .expect("spawning a heartbeat thread");
        }
        std::thread::Builder::new()
            .name(format!("segflow:heartbeat-recv-{process}"))
            .spawn(move || {
                if listen(stream, timeout) {
                    end_process(&ClusterError::Silent {
                        process,
                        address,
                        waited: timeout.as_secs_f64(),
                    });
                }
            })
            .expect("spawning a heartbeat thread");
    }
}

/// Time between heartbeats: several per timeout, at most one a second.
fn interval(timeout: Duration) -> Duration {
    (timeout / 4).min(Duration::from_secs(1))
}

/// Writes a heartbeat every `interval` until the connection fails.
fn send(mut stream: TcpStream, interval: Duration) {
    while stream.write_all(&[0]).is_ok() {
        std::thread::sleep(interval);
    }
}

/// Reads heartbeats until the connection closes (`false`) or nothing arrives for
/// `timeout` (`true`).
fn listen(mut stream: TcpStream, timeout: Duration) -> bool {
    if stream.set_read_timeout(Some(timeout)).is_err() {
        return false;
    }
    let mut beats = [0u8; 64];
    loop {
        match stream.read(&mut beats) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Instant;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let dialled = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (dialled, listener.accept().unwrap().0)
    }

    #[test]
    fn a_beating_peer_is_heard_and_a_silent_one_is_not() {
        let timeout = Duration::from_millis(300);
        let (beating, heard) = pair();
        std::thread::spawn(move || send(beating, interval(timeout)));
        let (_silent, unheard) = pair();
        let started = Instant::now();
        let listening = std::thread::spawn(move || listen(heard, timeout));
        assert!(listen(unheard, timeout), "silence went unnoticed");
        assert!(started.elapsed() >= timeout);
        // The beating peer is still being heard well after the silent one timed out.
        std::thread::sleep(timeout * 3);
        assert!(!listening.is_finished());
    }

    #[test]
    fn a_closed_connection_is_not_silence() {
        let (closed, open) = pair();
        drop(closed);
        assert!(!listen(open, Duration::from_secs(5)));
    }
}
