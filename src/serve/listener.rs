//! The server's listener: at most so many connections open at once.
//!
//! A burst of clients (or one client opening a connection per request) must not take
//! every file descriptor of the process: the live run shares them, and a followed
//! directory it cannot list stops it. Past the limit the listener stops accepting;
//! connections wait in the kernel's backlog until one closes, and their latency shows
//! the overload instead of the process failing.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections open at once, at most.
pub const MAX_CONNECTIONS: usize = 1024;

/// A TCP listener that holds a permit for every open connection.
pub struct Limited {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

impl Limited {
    /// Limits `inner` to `connections` open connections.
    pub fn new(inner: TcpListener, connections: usize) -> Limited {
        Limited {
            inner,
            permits: Arc::new(Semaphore::new(connections)),
        }
    }
}

impl Listener for Limited {
    type Io = Counted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Counted, SocketAddr) {
        // The semaphore is never closed.
        let permit = self.permits.clone().acquire_owned().await;
        let (stream, address) = Listener::accept(&mut self.inner).await;
        let counted = Counted {
            stream,
            _permit: permit.ok(),
        };
        (counted, address)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that gives its permit back when it closes.
pub struct Counted {
    stream: TcpStream,
    _permit: Option<OwnedSemaphorePermit>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_connection_past_the_limit_waits_until_one_closes() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = inner.local_addr().unwrap();
            let mut listener = Limited::new(inner, 1);
            let _first = TcpStream::connect(address).await.unwrap();
            let (held, _) = listener.accept().await;
            let _second = TcpStream::connect(address).await.unwrap();
            let waiting = tokio::time::timeout(Duration::from_millis(100), listener.accept());
            assert!(waiting.await.is_err(), "accepted past the limit");
            drop(held);
            let accepted = tokio::time::timeout(Duration::from_secs(5), listener.accept());
            assert!(
                accepted.await.is_ok(),
                "not accepted once a connection closed"
            );
        });
    }
}
