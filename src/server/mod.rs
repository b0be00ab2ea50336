//! Listeners: the proxy accept loop (connection limit, optional TLS, HTTP/1.1 and
//! HTTP/2 by ALPN or h2c prior knowledge, upgrades, graceful drain) and the admin
//! endpoints.

pub mod admin;
mod framing;
mod idle;
mod lifecycle;
pub mod tls;

pub use lifecycle::Lifecycle;

use crate::config::Limits;
use crate::proxy::Gate;
use crate::proxy::headers::ClientHop;
use crate::proxy::upgrade::Splice;
use framing::{FramingGuard, Sniffed};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;

/// What a connection past `max_connections` gets before it is closed.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
connection: close\r\ncontent-length: 72\r\nretry-after: 1\r\n\r\n\
{\"error\":\"unavailable\",\"message\":\"too many connections, retry shortly\"}\n";

/// The HTTP connection settings from `[limits]`.
pub fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // A request head that does not fit in the read buffer is answered 431.
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(limits.idle_timeout / 2))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
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
) -> GracefulShutdown {
    let graceful = GracefulShutdown::new();
    let mut limits = gate.limits();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = Arc::new(connection_builder(&limits));
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
            tokio::spawn(refuse_over_capacity(stream));
            continue;
        };
        let current = gate.limits();
        if current != limits {
            builder = Arc::new(connection_builder(&current));
            limits = current;
        }
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            gate: gate.clone(),
            builder: builder.clone(),
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

/// One accepted connection, ready to speak HTTP over whatever byte stream it gets.
struct Conn {
    gate: Arc<Gate>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    peer: SocketAddr,
}

impl Conn {
    /// Completes the TLS handshake when `tls` is set (within `handshake_limit`), then
    /// serves. The connection's slot (`permit`) is held until it ends.
    async fn run(
        self,
        stream: TcpStream,
        tls: Option<TlsAcceptor>,
        handshake_limit: Duration,
        watcher: Watcher,
        permit: OwnedSemaphorePermit,
    ) {
        match tls {
            None => self.serve(stream, watcher).await,
            Some(acceptor) => match tls::handshake(&acceptor, stream, handshake_limit).await {
                Ok(stream) => self.serve(stream, watcher).await,
                Err(e) => tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed"),
            },
        }
        drop(permit);
    }

    /// Serves HTTP/1.1 or HTTP/2 (by preface; after TLS, ALPN made the client send the
    /// matching one) until the connection ends or the drain closes it. The smuggling
    /// guard reads the plaintext, so it works the same behind TLS.
    async fn serve<IO>(self, io: IO, watcher: Watcher)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            gate,
            builder,
            peer,
        } = self;
        let idle = idle::Idle::new(&gate.limits());
        let framing = Arc::new(FramingGuard::default());
        let io = TokioIo::new(Sniffed::new(io, framing.clone()));
        // One reference count per request for what the connection's requests share.
        let shared = Arc::new((gate, ClientHop::new(peer)));
        let service = service_fn(move |req| {
            let shared = shared.clone();
            let ambiguous = framing.next_request_is_ambiguous();
            async move {
                let (gate, client) = &*shared;
                let mut resp = gate.handle(req, client, ambiguous).await;
                if let Some(splice) = resp.extensions_mut().remove::<Splice>() {
                    // Runs past this response (and past the connection's drain).
                    tokio::spawn(splice.run());
                }
                Ok::<_, Infallible>(resp)
            }
        });
        let (io, service) = idle.wrap(io, service);
        let conn = builder.serve_connection_with_upgrades(io, service);
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

async fn refuse_over_capacity(mut stream: TcpStream) {
    tracing::warn!("max_connections reached: refusing a connection");
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(OVER_CAPACITY).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
