//! The HTTP server loop shared by every server of the binary (the facade, and the metrics and
//! health server of `nexus-operator`).
//!
//! `axum::serve` runs hyper without a timer, which silently disables hyper's header-read
//! timeout, and accepts connections without limit: idle or slow connections accumulate for as
//! long as their clients like. [`serve`] instead
//! - accepts at most [`ServerLimits::max_connections`] connections at once: the next one is
//!   not accepted (it waits in the kernel's accept queue) until one closes;
//! - closes a connection that has not delivered a complete request head within
//!   [`ServerLimits::header_read_timeout`] of opening or of its previous response (hyper's
//!   header-read timeout, with tokio's timer), which also bounds idle keep-alive connections;
//! - closes a connection on which nothing was read or written for
//!   [`ServerLimits::idle_timeout`] (a client that stops reading its response);
//! - caps the read buffer of a connection (request heads larger than 64 KiB are refused);
//! - tells handlers the peer address ([`PeerAddr`] request extension);
//! - on shutdown stops accepting and lets in-flight requests finish.
//!
//! All timers are tokio's, so tests on a paused clock see them in virtual time.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// Largest read buffer of one connection (hyper's default is ~400 KiB): bounds what a request
/// head can hold in memory.
pub const MAX_READ_BUFFER: usize = 64 * 1024;

/// Connection cap and timeouts of one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Time a connection has to deliver a complete request head (from opening, or from its
    /// previous response).
    pub header_read_timeout: Duration,
    /// Time without any byte read or written after which a connection is closed.
    pub idle_timeout: Duration,
}

impl Default for ServerLimits {
    /// The facade's defaults: 256 connections, 10 s to send a request head, 60 s idle.
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// The source address of the connection a request came on (a request extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then stops
/// accepting and waits for the open connections to finish their in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_READ_BUFFER);
    tokio::pin!(shutdown);
    loop {
        // The permit first: without one, the connection stays in the kernel's queue.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(PeerAddr(peer));
            router.clone().oneshot(request.map(Body::new))
        });
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A stream that fails with `TimedOut` once nothing was read or written for `timeout`.
pub struct IdleTimeout {
    inner: TcpStream,
    timeout: Duration,
    last_activity: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl IdleTimeout {
    /// Wraps `inner`.
    pub fn new(inner: TcpStream, timeout: Duration) -> Self {
        let now = Instant::now();
        Self {
            inner,
            timeout,
            last_activity: now,
            sleep: Box::pin(tokio::time::sleep_until(now + timeout)),
        }
    }

    /// `Pending`, or the timeout error once the connection has been idle too long.
    fn idle<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let deadline = self.last_activity + self.timeout;
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.last_activity = Instant::now();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.idle(cx),
        }
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                if matches!(result, Ok(n) if n > 0) {
                    this.last_activity = Instant::now();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.idle(cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.idle(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(limits: ServerLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", get(|| async { "ok" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, router, limits, async move {
            let _ = rx.await;
        }));
        (addr, tx)
    }

    /// Reads until the server closes the connection; `None` if it is still open after an hour.
    async fn closed_after(stream: &mut TcpStream) -> Option<Duration> {
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(Duration::from_secs(3600), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        closed.ok().map(|()| started.elapsed())
    }

    /// Slow headers (one byte a second, forever) are cut at the header-read timeout, although
    /// every byte resets the idle timer.
    #[tokio::test(start_paused = true)]
    async fn slow_headers_are_closed_after_the_header_read_timeout() {
        let limits = ServerLimits {
            max_connections: 8,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        };
        let (addr, _stop) = start(limits).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nX-Slow: ")
            .await
            .unwrap();
        let (mut read, mut write) = stream.into_split();
        let dribble = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if write.write_all(b"a").await.is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(Duration::from_secs(3600), async {
            loop {
                match read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        dribble.abort();
        assert!(
            closed.is_ok(),
            "the slow connection is still open after an hour"
        );
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_secs(10) && elapsed < Duration::from_secs(12),
            "{elapsed:?}"
        );
    }

    /// A connection that sends nothing at all is closed too (the header timer runs from the
    /// start), and a served keep-alive connection is closed once idle.
    #[tokio::test(start_paused = true)]
    async fn silent_and_idle_keep_alive_connections_are_closed() {
        let limits = ServerLimits {
            max_connections: 8,
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
        };
        let (addr, _stop) = start(limits).await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let elapsed = closed_after(&mut silent).await.expect("closed");
        assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");

        let mut served = TcpStream::connect(addr).await.unwrap();
        served
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = served.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        let elapsed = closed_after(&mut served).await.expect("closed");
        assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    }

    /// The (cap+1)th connection is not served until one of the others closes.
    #[tokio::test(start_paused = true)]
    async fn the_connection_cap_holds_the_next_connection() {
        let limits = ServerLimits {
            max_connections: 2,
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        };
        let (addr, _stop) = start(limits).await;
        let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut open = Vec::new();
        for _ in 0..2 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(request).await.unwrap();
            let mut buf = [0u8; 1024];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            open.push(stream);
        }
        // Connected (the kernel queues it) but not served while two are open.
        let mut third = TcpStream::connect(addr).await.unwrap();
        third.write_all(request).await.unwrap();
        let mut buf = [0u8; 1024];
        let early = tokio::time::timeout(Duration::from_secs(20), third.read(&mut buf)).await;
        assert!(
            early.is_err(),
            "the third connection was served while two were open"
        );
        // One closes: the third is accepted and served.
        drop(open.pop());
        let n = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf))
            .await
            .expect("served once a slot is free")
            .unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }

    /// A client that stops reading a large response is cut after the idle timeout.
    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_closed_after_the_idle_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let big = "x".repeat(32 * 1024 * 1024);
        let router = Router::new().route("/", get(move || async move { big.clone() }));
        let limits = ServerLimits {
            max_connections: 8,
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(20),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, limits, async move {
            let _ = rx.await;
        }));
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        // The response has started; from now on the client reads nothing, so the server's
        // writes block once the socket buffers are full. Shutdown then waits for that
        // connection, which only the idle timeout ends.
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        let _ = tx.send(());
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(3600), server)
            .await
            .expect("the stuck connection was closed")
            .unwrap()
            .unwrap();
        let elapsed = started.elapsed();
        assert!(elapsed <= Duration::from_secs(21), "{elapsed:?}");
        drop(stream);
    }
}
