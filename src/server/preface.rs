//! Plaintext connections: HTTP/1.1, or HTTP/2 with prior knowledge (h2c, RFC 9113
//! §3.3), told apart by their first bytes, which are peeked at, never consumed.
//!
//! Threat: a connection that sends part of the preface (`P`) and stops. Finding out
//! must cost nothing while it waits: a peek would return the same bytes at once, and
//! polling on a timer costs CPU for every such connection. The connection's
//! `header_timeout` still ends it.

use std::io;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Whether a plaintext connection opens with the HTTP/2 preface. The first byte that
/// differs from the preface decides, so an HTTP/1 request (or a whole preface) is known
/// from one peek.
pub(super) async fn opens_with_h2_preface(stream: &TcpStream) -> io::Result<bool> {
    const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut buf = [0; 24];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 || buf[..n] != PREFACE[..n] {
            return Ok(false);
        }
        if n == PREFACE.len() {
            return Ok(true);
        }
        // Part of the preface so far. tokio keeps the socket marked readable (the peek
        // consumed nothing): clear that mark, so the next peek waits for the next bytes.
        // tokio clears it only if no readiness event came after the peek (its tick), so
        // bytes that arrived meanwhile are not missed.
        let _ = stream.try_io(Interest::READABLE, || {
            Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
        });
    }
}
