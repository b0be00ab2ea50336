//! A misbehaving upstream over raw TCP, chosen by a segment of the request path:
//! - `/ok...`: a small 200 (keep-alive);
//! - `/closing-ok...`: a small 200 (keep-alive by its headers), then a close, as an
//!   upstream whose keep-alive timeout fires right after answering;
//! - `/reset...`: a 200 head announcing 1 MB, 64 KiB of it, then a TCP reset;
//! - `/close-mid-body...`: reads 16 KiB of the request body, then closes;
//! - `/never...`: reads the request and never answers;
//! - `/early...`: answers 200 at once, then reads the request body to the end (counting
//!   it) and keeps the connection;
//! - `/upload...`: reads the request body to the end (counting it), then answers 200.
//!
//! It counts connections still open, so a test can tell whether the proxy let go of them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone)]
pub(crate) struct Faulty {
    pub(crate) addr: SocketAddr,
    /// Connections accepted and not yet closed.
    pub(crate) open: Arc<AtomicUsize>,
    /// Request body bytes read so far, over all connections.
    pub(crate) body_bytes: Arc<AtomicU64>,
}

impl Faulty {
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    pub(crate) fn body_bytes(&self) -> u64 {
        self.body_bytes.load(Ordering::SeqCst)
    }
}

pub(crate) async fn start() -> Faulty {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let faulty = Faulty {
        addr: listener.local_addr().unwrap(),
        open: Arc::default(),
        body_bytes: Arc::default(),
    };
    let state = faulty.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            state.open.fetch_add(1, Ordering::SeqCst);
            let state = state.clone();
            tokio::spawn(async move {
                serve(stream, &state).await;
                state.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    faulty
}

/// Serves requests on one connection until a fault ends it or the peer closes.
async fn serve(mut stream: TcpStream, state: &Faulty) {
    let mut buf = Vec::new();
    loop {
        let Some((path, body_len, body_start)) = read_head(&mut stream, &mut buf).await else {
            return;
        };
        buf.drain(..body_start);
        if path.contains("/closing-ok") {
            skip_body(&mut stream, &mut buf, body_len, state).await;
            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            let _ = stream.write_all(ok).await;
            return;
        } else if path.contains("/ok") {
            skip_body(&mut stream, &mut buf, body_len, state).await;
            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if stream.write_all(ok).await.is_err() {
                return;
            }
        } else if path.contains("/reset") {
            let head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n";
            let _ = stream.write_all(head).await;
            let _ = stream.write_all(&[b'r'; 65536]).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = stream.set_zero_linger(); // close = RST
            return;
        } else if path.contains("/close-mid-body") {
            skip_body(&mut stream, &mut buf, body_len.min(16 * 1024), state).await;
            return;
        } else if path.contains("/early") {
            let early = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nearly";
            if stream.write_all(early).await.is_err()
                || !skip_body(&mut stream, &mut buf, body_len, state).await
            {
                return;
            }
        } else if path.contains("/never") {
            // Hold the connection without answering until the peer gives up.
            while matches!(stream.read(&mut [0; 4096]).await, Ok(n) if n > 0) {}
            return;
        } else {
            if !skip_body(&mut stream, &mut buf, body_len, state).await {
                return;
            }
            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nuploaded";
            if stream.write_all(ok).await.is_err() {
                return;
            }
        }
    }
}

/// Reads a request head into `buf`: the path, the Content-Length (0 if none) and where
/// the body starts in `buf`. `None` when the peer closes first.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, u64, usize)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
            let len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            return Some((path, len, end + 4));
        }
        let mut chunk = [0; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Reads (and drops) `len` body bytes, some of which may already be in `buf`. False if
/// the peer closed first.
async fn skip_body(stream: &mut TcpStream, buf: &mut Vec<u8>, len: u64, state: &Faulty) -> bool {
    let buffered = (buf.len() as u64).min(len);
    buf.drain(..buffered as usize);
    state.body_bytes.fetch_add(buffered, Ordering::SeqCst);
    let mut left = len - buffered;
    let mut chunk = vec![0; 65536];
    while left > 0 {
        let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        match stream.read(&mut chunk[..want]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                left -= n as u64;
                state.body_bytes.fetch_add(n as u64, Ordering::SeqCst);
            }
        }
    }
    true
}
