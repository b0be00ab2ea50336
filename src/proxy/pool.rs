//! Connections to the upstream: opened on demand (TCP, then rustls for `https`), HTTP/1.1
//! ones parked in a bounded lock-free queue between exchanges, one shared HTTP/2
//! connection multiplexing every request when `upstream.http2` is set.
//!
//! Why not hyper-util's pooled client: per request it clones its connector, races a
//! lazy connect against the checkout, keys a mutex-guarded map by scheme and host, and
//! spawns a task that waits for the connection to become idle again. There is one
//! upstream here, so a connection goes back to the queue from the response body itself,
//! the moment its last byte has been read (see [`UpstreamBody`]).

use super::body::RequestBody;
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use crossbeam_queue::ArrayQueue;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::{http1, http2};
use hyper::rt::{Read, Write};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Idle HTTP/1.1 connections kept for reuse. Past it, a connection is closed after its
/// exchange (a burst's extra connections do not stay open, nor keep their buffers).
pub const MAX_IDLE: usize = 1024;

/// A request the pool could not get an answer to.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection to the upstream could be opened.
    #[error("connect: {0}")]
    Connect(String),
    /// The exchange failed on an open connection.
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// Where and how to open connections.
#[derive(Debug)]
pub struct Target {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Set for `https`: the TLS client config (its ALPN already set).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Speak HTTP/2 (one shared connection) rather than pooled HTTP/1.1 ones.
    pub http2: bool,
    /// `upstream.connect_timeout`.
    pub connect_timeout: Duration,
}

/// The upstream's connections. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    target: Target,
    idle: ArrayQueue<http1::SendRequest<RequestBody>>,
    shared_h2: ArcSwapOption<http2::SendRequest<RequestBody>>,
}

impl Pool {
    /// An empty pool for `target`: connections are opened on demand.
    pub fn new(target: Target) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                target,
                idle: ArrayQueue::new(MAX_IDLE),
                shared_h2: ArcSwapOption::empty(),
            }),
        }
    }

    /// Sends `req` (its URI already in the form the protocol needs) on a reused or new
    /// connection. A request that never left (the connection closed as it was picked) is
    /// retried on another one; anything sent is never retried.
    pub async fn send(
        &self,
        req: Request<RequestBody>,
    ) -> Result<Response<UpstreamBody>, SendError> {
        // The connect and HTTP/2 paths are boxed: rare (or not the default), their
        // futures would otherwise enlarge the future of every request, which is moved.
        if self.inner.target.http2 {
            return Box::pin(self.send_h2(req)).await;
        }
        let mut req = req;
        loop {
            let (mut conn, reused) = match self.checkout() {
                Some(conn) => (conn, true),
                None => (Box::pin(self.inner.connect_h1()).await?, false),
            };
            match conn.try_send_request(req).await {
                Ok(resp) => return Ok(self.relay(resp, conn)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) if reused => req = unsent,
                    _ => return Err(e.into_error().into()),
                },
            }
        }
    }

    /// An idle connection ready for a request; closed or still busy ones are dropped.
    fn checkout(&self) -> Option<http1::SendRequest<RequestBody>> {
        while let Some(conn) = self.inner.idle.pop() {
            if conn.is_ready() {
                return Some(conn);
            }
        }
        None
    }

    fn relay(
        &self,
        resp: Response<Incoming>,
        conn: http1::SendRequest<RequestBody>,
    ) -> Response<UpstreamBody> {
        // After a 101 the connection belongs to the tunnel.
        let reuse = resp.status() != http::StatusCode::SWITCHING_PROTOCOLS;
        resp.map(|inner| UpstreamBody {
            inner,
            release: reuse.then(|| Release {
                conn,
                pool: self.inner.clone(),
            }),
        })
    }

    async fn send_h2(
        &self,
        req: Request<RequestBody>,
    ) -> Result<Response<UpstreamBody>, SendError> {
        let mut sender = match self.inner.shared_h2.load_full() {
            Some(s) if !s.is_closed() => (*s).clone(),
            _ => {
                let s = self.inner.connect_h2().await?;
                self.inner.shared_h2.store(Some(Arc::new(s.clone())));
                s
            }
        };
        let resp = sender.send_request(req).await?;
        Ok(resp.map(|inner| UpstreamBody {
            inner,
            release: None,
        }))
    }
}

impl Inner {
    async fn connect_h1(&self) -> Result<http1::SendRequest<RequestBody>, SendError> {
        match self.tls_stream().await? {
            Stream::Plain(io) => handshake_h1(io).await,
            Stream::Tls(io) => handshake_h1(*io).await,
        }
    }

    async fn connect_h2(&self) -> Result<http2::SendRequest<RequestBody>, SendError> {
        match self.tls_stream().await? {
            Stream::Plain(io) => handshake_h2(io).await,
            Stream::Tls(io) => handshake_h2(*io).await,
        }
    }

    async fn tls_stream(&self) -> Result<Stream, SendError> {
        let t = &self.target;
        let tcp = tokio::time::timeout(t.connect_timeout, connect_tcp(&t.host, t.port))
            .await
            .map_err(|_| SendError::Connect("timed out".into()))?
            .map_err(|e| SendError::Connect(e.to_string()))?;
        let Some(tls) = &t.tls else {
            return Ok(Stream::Plain(TokioIo::new(tcp)));
        };
        let name = ServerName::try_from(t.host.clone())
            .map_err(|e| SendError::Connect(format!("TLS server name {}: {e}", t.host)))?;
        let handshake = TlsConnector::from(tls.clone()).connect(name, tcp);
        let tls = tokio::time::timeout(t.connect_timeout, handshake)
            .await
            .map_err(|_| SendError::Connect("TLS handshake timed out".into()))?
            .map_err(|e| SendError::Connect(describe_io(&e)))?;
        Ok(Stream::Tls(Box::new(TokioIo::new(tls))))
    }
}

enum Stream {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>),
}

/// Tries each address the name resolves to, in order.
async fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other(format!("{host} resolved to no address"))))
}

/// The innermost cause: a TLS alert or certificate error sits inside the io::Error.
fn describe_io(e: &io::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        text = inner.to_string();
        source = inner.source();
    }
    text
}

async fn handshake_h1<T>(io: T) -> Result<http1::SendRequest<RequestBody>, SendError>
where
    T: Read + Write + Unpin + Send + 'static,
{
    let (sender, conn) = http1::Builder::new().handshake(io).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

async fn handshake_h2<T>(io: T) -> Result<http2::SendRequest<RequestBody>, SendError>
where
    T: Read + Write + Unpin + Send + 'static,
{
    let (sender, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(io)
        .await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream HTTP/2 connection ended with an error");
        }
    });
    Ok(sender)
}

/// The upstream's response body. Once it has been read to its end, its HTTP/1.1
/// connection goes back to the pool; dropped before that, the connection is closed
/// (what is left of the response is not worth reading to reuse it).
#[derive(Debug)]
pub struct UpstreamBody {
    inner: Incoming,
    release: Option<Release>,
}

#[derive(Debug)]
struct Release {
    conn: http1::SendRequest<RequestBody>,
    pool: Arc<Inner>,
}

impl Release {
    fn park(self) {
        if self.conn.is_ready() {
            // A full queue drops (closes) the connection.
            let _ = self.pool.idle.push(self.conn);
        } else if !self.conn.is_closed()
            // No runtime (a body dropped while the process shuts down): just close it.
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // Still writing the request body (the upstream answered early): park it
            // once that is done.
            let Release { mut conn, pool } = self;
            runtime.spawn(async move {
                if conn.ready().await.is_ok() {
                    let _ = pool.idle.push(conn);
                }
            });
        }
    }
}

impl UpstreamBody {
    fn release_if_done(&mut self) {
        if self.inner.is_end_stream()
            && let Some(release) = self.release.take()
        {
            release.park();
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some(release) = self.release.take() {
                    release.park();
                }
            }
            Poll::Ready(Some(Err(_))) => self.release = None,
            _ => self.release_if_done(),
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        self.release_if_done();
    }
}
