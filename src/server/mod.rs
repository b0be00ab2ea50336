//! Listeners: the proxy accept loop (connection limit, HTTP/1.1 + h2c, graceful
//! drain) and the admin endpoints.

pub mod admin;
mod framing;
mod lifecycle;

pub use lifecycle::Lifecycle;

use crate::config::Limits;
use crate::proxy::Gate;
use framing::{FramingGuard, Sniffed};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

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

/// Accepts connections until `stop` turns true, serving each with `gate`. Returns the
/// handle that drains the connections still open.
pub async fn accept_loop(
    listener: TcpListener,
    gate: Arc<Gate>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> GracefulShutdown {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let builder = Arc::new(connection_builder(&limits));
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
        let _ = stream.set_nodelay(true);
        let (gate, builder, watcher) = (gate.clone(), builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            let framing = Arc::new(FramingGuard::default());
            let io = TokioIo::new(Sniffed::new(stream, framing.clone()));
            let service = service_fn(move |req| {
                let gate = gate.clone();
                let ambiguous = framing.next_request_is_ambiguous();
                async move { Ok::<_, Infallible>(gate.handle(req, peer, ambiguous).await) }
            });
            let conn = builder.serve_connection_with_upgrades(io, service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    graceful
}

async fn refuse_over_capacity(mut stream: TcpStream) {
    tracing::warn!("max_connections reached: refusing a connection");
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(OVER_CAPACITY).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
