//! Listeners: the proxy accept loop (connection limit, optional TLS, HTTP/1.1 and
//! HTTP/2 by ALPN or h2c prior knowledge, upgrades, graceful drain) and the admin
//! endpoints.

pub mod admin;
mod drain;
mod framing;
mod idle;
mod lifecycle;
mod park;
mod replay;
pub mod tls;

pub use lifecycle::Lifecycle;

use crate::config::Limits;
use crate::proxy::Gate;
use crate::proxy::body::ResponseBody;
use crate::proxy::headers::ClientHop;
use crate::proxy::upgrade::Splice;
use drain::{Drain, DrainWatcher};
use framing::{FramingGuard, Sniffed};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use replay::Replay;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;

/// What a connection past `max_connections` gets before it is closed.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
connection: close\r\ncontent-length: 72\r\nretry-after: 1\r\n\r\n\
{\"error\":\"unavailable\",\"message\":\"too many connections, retry shortly\"}\n";

/// The HTTP connection settings from `[limits]`, one builder per protocol. The protocol
/// is known before serving (ALPN after TLS, a peek at the first bytes otherwise), so
/// hyper-util's auto-detection is not used: it hands hyper the preface it read as a
/// first chunk of its own, which makes hyper's read buffer grow to 16 KiB on every
/// connection (1.6 GB of buffers for 100,000 idle keep-alive clients).
#[derive(Debug)]
pub struct Protocols {
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    pub fn new(limits: &Limits) -> Protocols {
        let mut h1 = http1::Builder::new();
        // No timer: the head deadline is kept by `idle` (once per connection).
        h1.header_read_timeout(None)
            // A larger request head is answered 431. Both: the buffer bound alone is
            // soft (a read may fill the buffer past it with a complete head).
            .max_header_size(limits.max_header_bytes)
            .max_buf_size(limits.max_header_bytes)
            .keep_alive(true);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(256)
            .keep_alive_interval(Some(limits.idle_timeout / 2))
            .keep_alive_timeout(Duration::from_secs(20));
        Protocols { h1, h2 }
    }
}

/// Whether a plaintext connection opens with the HTTP/2 preface (h2c with prior
/// knowledge, RFC 9113 §3.3), and the bytes consumed to find out.
///
/// Peeks first, consuming nothing: the first byte that differs from the preface
/// decides, so an HTTP/1 request (or a whole preface) is known from one peek. Only a
/// client that has sent part of the preface so far makes it read (a peek would return
/// the same bytes at once, and waiting on a timer costs CPU per connection: a
/// connection that sends `P` and stops must cost nothing while it waits). The bytes
/// read are given back to hyper by [`Replay`].
async fn sniff_h2_preface(stream: &mut TcpStream) -> std::io::Result<(bool, Replay)> {
    const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut buf = [0; 24];
    let n = stream.peek(&mut buf).await?;
    if n == 0 || buf[..n] != PREFACE[..n] {
        return Ok((false, Replay::default()));
    }
    if n == PREFACE.len() {
        return Ok((true, Replay::default()));
    }
    let mut read = 0;
    loop {
        let n = stream.read(&mut buf[read..]).await?;
        read += n;
        let matches = buf[..read] == PREFACE[..read];
        if n == 0 || !matches || read == PREFACE.len() {
            let replay = Replay(bytes::Bytes::copy_from_slice(&buf[..read]));
            return Ok((matches && read == PREFACE.len(), replay));
        }
    }
}

/// Accepts connections until `stop` turns true, serving each with `gate` (behind TLS
/// when `tls` is set). Returns the handle that drains the connections still open.
///
/// `max_connections` is fixed here; the other `[limits]` are read from the gate's
/// current snapshot as each connection arrives, so a reload applies them to new ones.
pub async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    gate: Arc<Gate>,
    mut stop: watch::Receiver<bool>,
) -> Drain {
    let graceful = Drain::default();
    let mut limits = gate.limits();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut protocols = Arc::new(Protocols::new(&limits));
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning on the error.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(refuse_over_capacity(stream, tls.is_none()));
            continue;
        };
        let current = gate.limits();
        if current != limits {
            protocols = Arc::new(Protocols::new(&current));
            limits = current;
        }
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            gate: gate.clone(),
            protocols: protocols.clone(),
            peer,
        };
        let handshake_limit = limits.header_timeout;
        tokio::spawn(conn.run(
            stream,
            tls.clone(),
            handshake_limit,
            graceful.watcher(),
            permit,
        ));
    }
    graceful
}

/// A request's answer, boxed: hyper keeps a slot the size of the service's future for
/// the life of the connection, and a pointer-sized one keeps idle connections small.
type Answer = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

/// One accepted connection, ready to speak HTTP over whatever byte stream it gets.
struct Conn {
    gate: Arc<Gate>,
    protocols: Arc<Protocols>,
    peer: SocketAddr,
}

impl Conn {
    /// Completes the TLS handshake when `tls` is set, or finds out whether a plaintext
    /// client speaks HTTP/2, both within `handshake_limit`; then serves. The
    /// connection's slot (`permit`) is held until it ends.
    async fn run(
        self,
        stream: TcpStream,
        tls: Option<TlsAcceptor>,
        handshake_limit: Duration,
        watcher: DrainWatcher,
        permit: OwnedSemaphorePermit,
    ) {
        match tls {
            None => {
                let mut stream = stream;
                match tokio::time::timeout(handshake_limit, sniff_h2_preface(&mut stream)).await {
                    Ok(Ok((h2, replay))) => self.serve(replay.before(stream), h2, watcher).await,
                    Ok(Err(e)) => tracing::debug!(peer = %self.peer, error = %e, "read failed"),
                    Err(_) => tracing::debug!(peer = %self.peer, "nothing sent: connection closed"),
                }
            }
            // Boxed: a TLS connection's state is twice a plain one's, and every task
            // would otherwise be allocated (and copied) at the larger size.
            Some(acceptor) => {
                Box::pin(async move {
                    match tls::handshake(&acceptor, stream, handshake_limit).await {
                        Ok(stream) => {
                            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                            self.serve(stream, h2, watcher).await
                        }
                        Err(e) => {
                            tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed")
                        }
                    }
                })
                .await
            }
        }
        drop(permit);
    }

    /// Serves HTTP/2 when `h2` is set, else HTTP/1.1, until the connection ends or the
    /// drain closes it.
    async fn serve<IO>(self, io: IO, h2: bool, mut watcher: DrainWatcher)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let gate = self.gate.clone();
        let ended = match h2 {
            // Boxed: an HTTP/2 connection's state is several times an HTTP/1.1 one's.
            true => Box::pin(self.serve_h2(io, &mut watcher)).await,
            false => self.serve_h1(io, &mut watcher).await,
        };
        if let Err(e) = ended {
            if e.is_parse_too_large() {
                gate.head_too_large();
            }
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }

    async fn serve_h2<IO>(self, io: IO, watcher: &mut DrainWatcher) -> hyper::Result<()>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let idle = idle::Idle::new(&self.gate.limits(), true);
        let (io, service) = idle.wrap(TokioIo::new(io), self.service(None));
        let conn = pin!(self.protocols.h2.serve_connection(io, service));
        watcher.watch(conn, |c| c.graceful_shutdown()).await
    }

    /// HTTP/1.1: the bytes read pass the smuggling guard (`framing`) first.
    async fn serve_h1<IO>(self, io: IO, watcher: &mut DrainWatcher) -> hyper::Result<()>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let idle = idle::Idle::new(&self.gate.limits(), false);
        let framing = Arc::new(FramingGuard::default());
        let io = TokioIo::new(Sniffed::new(io, framing.clone()));
        let (io, service) = idle.wrap(io, self.service(Some(framing)));
        let parking = service.parking();
        let conn = self
            .protocols
            .h1
            .serve_connection(io, service)
            .with_upgrades();
        park::serve_h1(&self.protocols.h1, conn, parking, watcher).await
    }

    /// The connection's service: the gate, told by the smuggling guard (HTTP/1.1)
    /// whether each request's length was ambiguous, and telling it how each upgrade
    /// request was answered.
    fn service(
        &self,
        framing: Option<Arc<FramingGuard>>,
    ) -> impl hyper::service::Service<
        Request<Incoming>,
        Response = Response<ResponseBody>,
        Error = Infallible,
        Future = Answer,
    > + Clone
    + Send
    + 'static {
        // One reference count per request for what the connection's requests share.
        let shared = Arc::new((self.gate.clone(), ClientHop::new(self.peer)));
        service_fn(move |req: Request<Incoming>| {
            let shared = shared.clone();
            let framing = framing.clone();
            let ambiguous = framing
                .as_ref()
                .is_some_and(|f| f.next_request_is_ambiguous());
            // hyper took the request as an upgrade (it left the upgrade's handle).
            let upgrade = req.extensions().get::<OnUpgrade>().is_some();
            Box::pin(async move {
                let (gate, client) = &*shared;
                let mut resp = gate.handle(req, client, ambiguous).await;
                let switched = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
                if let (true, Some(framing)) = (upgrade, &framing) {
                    framing.upgrade_answered(switched);
                }
                if let Some(splice) = resp.extensions_mut().remove::<Splice>() {
                    // Runs past this response (and past the connection's drain).
                    tokio::spawn(splice.run());
                }
                Ok::<_, Infallible>(resp)
            }) as Answer
        })
    }
}

/// Answers 503 on a plaintext listener. A TLS client would read those bytes as a
/// broken handshake, and completing handshakes is the work an overloaded proxy must
/// not take on, so TLS connections are only closed.
async fn refuse_over_capacity(mut stream: TcpStream, plaintext: bool) {
    tracing::warn!("max_connections reached: refusing a connection");
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        if plaintext {
            let _ = stream.write_all(OVER_CAPACITY).await;
        }
        let _ = stream.shutdown().await;
    })
    .await;
}
