//! A JWKS server we own: serves whatever set the test puts in, counts fetches, and can
//! be told to fail (500, garbage, slow, an endless body, a redirect loop).

use bytes::Bytes;
use http::HeaderValue;
use http::header::LOCATION;
use http_body_util::Either;
use http_body_util::Full;
use hyper::body::{Frame, SizeHint};
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;

/// How the server answers.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    Serve(String),
    Status500,
    Garbage,
    Slow(Duration),
    /// A body of this many bytes, produced lazily in 64 KiB chunks; with
    /// `content_length` it is announced, otherwise sent chunked.
    Huge {
        bytes: u64,
        content_length: bool,
    },
    /// `302` to the very same URI: a redirect loop, if anyone followed it.
    RedirectLoop,
}

#[derive(Clone)]
pub(crate) struct JwksServer {
    pub(crate) addr: SocketAddr,
    pub(crate) fetches: Arc<AtomicUsize>,
    /// Body bytes the `Huge` mode has handed to the connection so far.
    pub(crate) body_bytes_sent: Arc<AtomicU64>,
    mode: Arc<Mutex<Mode>>,
}

impl JwksServer {
    pub(crate) fn uri(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    pub(crate) fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    pub(crate) fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

pub(crate) async fn start(jwks_json: &str) -> JwksServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = JwksServer {
        addr: listener.local_addr().unwrap(),
        fetches: Arc::default(),
        body_bytes_sent: Arc::default(),
        mode: Arc::new(Mutex::new(Mode::Serve(jwks_json.to_owned()))),
    };
    let state = server.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let state = state.clone();
                    async move {
                        state.fetches.fetch_add(1, Ordering::SeqCst);
                        let mode = state.mode.lock().unwrap().clone();
                        Ok::<_, Infallible>(answer(&state, mode).await)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    server
}

type Body = Either<Full<Bytes>, Lazy>;

async fn answer(state: &JwksServer, mode: Mode) -> Response<Body> {
    let (status, body) = match mode {
        Mode::Serve(json) => (StatusCode::OK, json),
        Mode::Status500 => (StatusCode::INTERNAL_SERVER_ERROR, "oops".to_owned()),
        Mode::Garbage => (StatusCode::OK, "{\"keys\": [garb".to_owned()),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "{\"keys\":[]}".to_owned())
        }
        Mode::Huge {
            bytes,
            content_length,
        } => {
            let lazy = Lazy {
                left: bytes,
                exact: content_length,
                sent: state.body_bytes_sent.clone(),
            };
            return Response::new(Either::Right(lazy));
        }
        Mode::RedirectLoop => {
            let mut resp = Response::new(Either::Left(Full::new(Bytes::new())));
            *resp.status_mut() = StatusCode::FOUND;
            let location = HeaderValue::from_str(&state.uri()).unwrap();
            resp.headers_mut().insert(LOCATION, location);
            return resp;
        }
    };
    let mut resp = Response::new(Either::Left(Full::new(Bytes::from(body))));
    *resp.status_mut() = status;
    resp
}

/// A body produced as it is polled, counting what it hands out.
pub(crate) struct Lazy {
    left: u64,
    /// Announce the exact length (`Content-Length`) instead of streaming chunked.
    exact: bool,
    sent: Arc<AtomicU64>,
}

impl hyper::body::Body for Lazy {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(65536);
        self.left -= n;
        self.sent.fetch_add(n, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; n as usize])))))
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.left)
        } else {
            SizeHint::default()
        }
    }
}
