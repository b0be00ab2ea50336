//! Plaintext connections: HTTP/1.1, or HTTP/2 with prior knowledge (h2c, RFC 9113
//! §3.3), told apart by the first bytes; and the bytes read to tell, handed back to
//! hyper first.
//!
//! Threat: a connection that sends part of the preface (`P`) and stops. Finding out
//! must cost nothing while it waits: no timer polling (a peek would return the same
//! bytes at once); the connection's `header_timeout` still ends it.

use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Whether a plaintext connection opens with the HTTP/2 preface (h2c with prior
/// knowledge, RFC 9113 §3.3), and the bytes consumed to find out.
///
/// Peeks first, consuming nothing: the first byte that differs from the preface
/// decides, so an HTTP/1 request (or a whole preface) is known from one peek. Only a
/// client that has sent part of the preface so far makes it read (a peek would return
/// the same bytes at once, and waiting on a timer costs CPU per connection: a
/// connection that sends `P` and stops must cost nothing while it waits). The bytes
/// read are given back to hyper by [`Replay`].
pub(super) async fn sniff_h2_preface(stream: &mut TcpStream) -> io::Result<(bool, Replay)> {
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
            let replay = Replay(Bytes::copy_from_slice(&buf[..read]));
            return Ok((matches && read == PREFACE.len(), replay));
        }
    }
}

/// What was read from a plaintext connection to tell HTTP/1 from HTTP/2 (at most the
/// 24 bytes of a preface; usually nothing, as a peek decides most connections).
#[derive(Debug, Default)]
pub(super) struct Replay(Bytes);

impl Replay {
    /// `inner` with these bytes read first.
    pub(super) fn before<IO>(self, inner: IO) -> Replayed<IO> {
        Replayed {
            first: self.0,
            inner,
        }
    }
}

/// A connection whose first reads return the replayed bytes.
#[derive(Debug)]
pub(super) struct Replayed<IO> {
    first: Bytes,
    inner: IO,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Replayed<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.first.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = self.first.len().min(buf.remaining());
        let chunk = self.first.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Replayed<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn replayed_bytes_come_first_then_the_connection() {
        let (mut client, server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b" * HTTP/1.1")
            .await
            .unwrap();
        drop(client);
        let mut io = Replay(Bytes::from_static(b"PRI")).before(server);
        let mut all = String::new();
        io.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "PRI * HTTP/1.1");
    }
}
