//! An upstream that answers every request with the request it received, as JSON, and
//! records it. `/slow/<ms>/...` waits that long before answering; `/stream/<n>` answers
//! with n bytes streamed in 64 KiB chunks; `/trailers/<n>` the same, then the trailer
//! `x-checksum: n` (announced in `Trailer`).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    /// The request-target exactly as received (path and query).
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body_len: usize,
    pub(crate) trailers: Vec<(String, String)>,
}

impl Seen {
    /// Every value of header `name` (lower-case).
    pub(crate) fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A running echo upstream.
#[derive(Clone)]
pub(crate) struct Echo {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    /// TCP connections accepted so far.
    pub(crate) connections: Arc<AtomicUsize>,
}

impl Echo {
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (bounded: 10 s) until a request whose target starts with `prefix` has
    /// arrived (recorded as it arrives, before any `/slow/` wait).
    pub(crate) async fn wait_for(&self, prefix: &str) {
        let start = std::time::Instant::now();
        while !self.requests().iter().any(|r| r.target.starts_with(prefix)) {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "no request to {prefix} reached the upstream"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub(crate) fn last(&self) -> Seen {
        self.requests()
            .last()
            .cloned()
            .expect("the upstream saw no request")
    }
}

pub(crate) async fn start() -> Echo {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo = Echo {
        addr: listener.local_addr().unwrap(),
        seen: Arc::default(),
        connections: Arc::default(),
    };
    let state = echo.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            state.connections.fetch_add(1, Ordering::SeqCst);
            let seen = state.seen.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(req, seen.clone()));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    echo
}

type EchoBody = http_body_util::Either<Full<Bytes>, Chunks>;

async fn handle(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<EchoBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // Read the body frame by frame (never whole in memory), keeping trailers.
    let mut body = body;
    let mut body_len = 0;
    let mut trailers = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        match frame.into_data() {
            Ok(data) => body_len += data.len(),
            Err(frame) => {
                if let Ok(t) = frame.into_trailers() {
                    trailers = t
                        .iter()
                        .map(|(n, v)| {
                            (
                                n.as_str().to_owned(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect();
                }
            }
        }
    }
    let record = Seen {
        method: parts.method.to_string(),
        target: target.clone(),
        headers,
        body_len,
        trailers,
    };
    seen.lock().unwrap().push(record.clone());
    let mut segments = parts.uri.path().split('/').skip(1);
    match (
        segments.next(),
        segments.next().and_then(|n| n.parse::<u64>().ok()),
    ) {
        (Some("slow"), Some(ms)) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
        (Some("stream"), Some(n)) => {
            let body = Chunks {
                left: n,
                trailers: None,
            };
            return Ok(Response::new(EchoBody::Right(body)));
        }
        (Some("trailers"), Some(n)) => {
            let mut trailers = hyper::HeaderMap::new();
            trailers.insert("x-checksum", n.into());
            let body = Chunks {
                left: n,
                trailers: Some(trailers),
            };
            let mut resp = Response::new(EchoBody::Right(body));
            resp.headers_mut()
                .insert("trailer", "x-checksum".parse().unwrap());
            return Ok(resp);
        }
        _ => {}
    }
    let json: Value = json!({
        "method": record.method,
        "target": record.target,
        "headers": record.headers,
        "body_len": record.body_len,
    });
    let mut resp = Response::new(EchoBody::Left(Full::new(Bytes::from(json.to_string()))));
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp.headers_mut()
        .insert("x-upstream", "echo".parse().unwrap());
    // A hop-by-hop header the proxy must not pass back.
    resp.headers_mut()
        .insert("keep-alive", "timeout=5".parse().unwrap());
    Ok(resp)
}

/// `n` bytes in 64 KiB frames, produced as they are polled, then the trailers if any.
pub(crate) struct Chunks {
    left: u64,
    trailers: Option<hyper::HeaderMap>,
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))));
        }
        let n = self.left.min(65536);
        self.left -= n;
        std::task::Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; n as usize])))))
    }
}
