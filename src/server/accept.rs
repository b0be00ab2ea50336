//! The proxy listener's accept loop: the connection limit (`max_connections`, past it
//! a clean 503 and close), then one task per connection (see `conn`).

use super::conn::{Conn, Protocols};
use super::drain::Drain;
use crate::proxy::Gate;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

/// What a connection past `max_connections` gets before it is closed.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
connection: close\r\ncontent-length: 72\r\nretry-after: 1\r\n\r\n\
{\"error\":\"unavailable\",\"message\":\"too many connections, retry shortly\"}\n";

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
        let conn = Conn::new(gate.clone(), protocols.clone(), peer);
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
