//! A JWKS server we own: serves whatever set the test puts in, counts fetches, and can
//! be told to fail (500, garbage, slow).

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// How the server answers.
#[derive(Debug, Clone)]
pub enum Mode {
    Serve(String),
    Status500,
    Garbage,
    Slow(Duration),
}

#[derive(Clone)]
pub struct JwksServer {
    pub addr: SocketAddr,
    pub fetches: Arc<AtomicUsize>,
    mode: Arc<Mutex<Mode>>,
}

impl JwksServer {
    pub fn uri(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

pub async fn start(jwks_json: &str) -> JwksServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = JwksServer {
        addr: listener.local_addr().unwrap(),
        fetches: Arc::default(),
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
                        let (status, body) = match mode {
                            Mode::Serve(json) => (StatusCode::OK, json),
                            Mode::Status500 => {
                                (StatusCode::INTERNAL_SERVER_ERROR, "oops".to_owned())
                            }
                            Mode::Garbage => (StatusCode::OK, "{\"keys\": [garb".to_owned()),
                            Mode::Slow(d) => {
                                tokio::time::sleep(d).await;
                                (StatusCode::OK, "{\"keys\":[]}".to_owned())
                            }
                        };
                        let mut resp = Response::new(Full::new(Bytes::from(body)));
                        *resp.status_mut() = status;
                        Ok::<_, Infallible>(resp)
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
