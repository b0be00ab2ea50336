//! One connection, from its first byte to its end, through the stack drawn in the
//! module doc of `server`: TLS or the h2c preface check, then the idle timer, the
//! smuggling guard (HTTP/1.1), hyper, parking (HTTP/1.1) and the drain.

use super::drain::DrainWatcher;
use super::framing::{FramingGuard, Sniffed};
use super::{idle, park, preface, tls};
use crate::config::Limits;
use crate::proxy::Gate;
use crate::proxy::body::ResponseBody;
use crate::proxy::headers::ClientHop;
use crate::proxy::upgrade::Splice;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::TlsAcceptor;

/// The HTTP connection settings from `[limits]`, one builder per protocol. The protocol
/// is known before serving (ALPN after TLS, a peek at the first bytes otherwise), so
/// hyper-util's auto-detection is not used: it hands hyper the preface it read as a
/// first chunk of its own, which makes hyper's read buffer grow to 16 KiB on every
/// connection (1.6 GB of buffers for 100,000 idle keep-alive clients).
#[derive(Debug)]
pub(super) struct Protocols {
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    pub(super) fn new(limits: &Limits) -> Protocols {
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

/// A request's answer, boxed: hyper keeps a slot the size of the service's future for
/// the life of the connection, and a pointer-sized one keeps idle connections small.
type Answer = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

/// One accepted connection, ready to speak HTTP over whatever byte stream it gets.
pub(super) struct Conn {
    gate: Arc<Gate>,
    protocols: Arc<Protocols>,
    peer: SocketAddr,
}

impl Conn {
    pub(super) fn new(gate: Arc<Gate>, protocols: Arc<Protocols>, peer: SocketAddr) -> Conn {
        Conn {
            gate,
            protocols,
            peer,
        }
    }

    /// Completes the TLS handshake when `tls` is set, or finds out whether a plaintext
    /// client speaks HTTP/2, both within `handshake_limit`; then serves. The
    /// connection's slot (`permit`) is held until it ends.
    pub(super) async fn run(
        self,
        stream: TcpStream,
        tls: Option<TlsAcceptor>,
        handshake_limit: Duration,
        watcher: DrainWatcher,
        permit: OwnedSemaphorePermit,
    ) {
        match tls {
            None => {
                let sniffed = preface::opens_with_h2_preface(&stream);
                match tokio::time::timeout(handshake_limit, sniffed).await {
                    Ok(Ok(h2)) => self.serve(stream, h2, watcher).await,
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
