//! The admin listener: `/livez` (alias `/healthz`), `/readyz`, `/metrics`, and with
//! `[revocation].admin_api` `POST`/`GET /revocations`. Never proxied.

use super::Lifecycle;
use crate::proxy::Snapshot;
use crate::proxy::body::{ResponseBody, full};
use crate::revoke::{Entry, Revocations};
use arc_swap::ArcSwap;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the admin endpoints read.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The current config snapshot: its issuers and, by the same index, their key sets
    /// (a reload may add or remove issuers).
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Ready, or shutting down (`/readyz`).
    pub lifecycle: Lifecycle,
    /// What `/metrics` renders.
    pub metrics: Arc<crate::telemetry::Metrics>,
    /// What `/revocations` reads and adds to.
    pub revocations: Arc<Revocations>,
}

/// Largest `POST /revocations` body read (one entry).
const MAX_ENTRY_BYTES: usize = 4096;

/// Serves the admin endpoints until `stop` turns true.
pub async fn serve(listener: TcpListener, state: AdminState, mut stop: watch::Receiver<bool>) {
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let (state, builder) = (state.clone(), builder.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, req).await) }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn respond(state: &AdminState, req: Request<Incoming>) -> Response<ResponseBody> {
    if req.uri().path() == "/revocations" {
        return revocations(state, req).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return json(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"error":"method_not_allowed"}"#.to_owned(),
        );
    }
    match req.uri().path() {
        "/livez" | "/healthz" => json(StatusCode::OK, r#"{"status":"ok"}"#.to_owned()),
        "/readyz" => readiness(state),
        "/metrics" => {
            let mut resp = Response::new(full(state.metrics.encode(&issuer_stats(state))));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            resp
        }
        _ => json(StatusCode::NOT_FOUND, r#"{"error":"not_found"}"#.to_owned()),
    }
}

/// `GET /revocations`: every entry in force, `{"file": [...], "api": [...]}`;
/// `POST /revocations` with one entry (the file's line format): added until restart.
/// 404 unless `[revocation].admin_api`.
async fn revocations(state: &AdminState, req: Request<Incoming>) -> Response<ResponseBody> {
    if !state.snapshot.load().config.revocation.admin_api {
        return json(StatusCode::NOT_FOUND, r#"{"error":"not_found"}"#.to_owned());
    }
    match *req.method() {
        Method::GET | Method::HEAD => {
            let (file, api) = state.revocations.entries();
            let body = serde_json::json!({ "file": file, "api": api });
            json(StatusCode::OK, body.to_string())
        }
        Method::POST => {
            let body = Limited::new(req.into_body(), MAX_ENTRY_BYTES)
                .collect()
                .await;
            let Ok(body) = body else {
                let why = format!("expected one JSON entry of at most {MAX_ENTRY_BYTES} bytes");
                return bad_entry(&why);
            };
            let bytes = body.to_bytes();
            let entry = std::str::from_utf8(&bytes)
                .map_err(|_| "the body is not UTF-8".to_owned())
                .and_then(|text| Entry::parse(text).map_err(|e| e.to_string()));
            match entry {
                Ok(entry) => {
                    let added = state.revocations.add(&entry);
                    tracing::info!(
                        kind = entry.kind(),
                        added,
                        "revocation added through the admin API"
                    );
                    let body = serde_json::json!({ "added": added, "entry": entry });
                    json(StatusCode::OK, body.to_string())
                }
                Err(why) => bad_entry(&why),
            }
        }
        _ => json(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"error":"method_not_allowed"}"#.to_owned(),
        ),
    }
}

fn bad_entry(why: &str) -> Response<ResponseBody> {
    let body = serde_json::json!({ "error": "bad_request", "message": why });
    json(StatusCode::BAD_REQUEST, body.to_string())
}

fn readiness(state: &AdminState) -> Response<ResponseBody> {
    if state.lifecycle.is_draining() {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"draining","reason":"shutting down"}"#.to_owned(),
        );
    }
    let snap = state.snapshot.load();
    let missing: Vec<&str> = (snap.config.issuers.iter().enumerate())
        .filter(|(idx, _)| snap.keys.get(*idx).is_none())
        .map(|(_, issuer)| issuer.name.as_str())
        .collect();
    if missing.is_empty() {
        return json(StatusCode::OK, r#"{"status":"ready"}"#.to_owned());
    }
    let body = serde_json::json!({
        "status": "not_ready",
        "reason": format!("no key set loaded yet for issuer(s): {}", missing.join(", ")),
    });
    json(StatusCode::SERVICE_UNAVAILABLE, body.to_string())
}

/// Per issuer: name, keys in the current set, age of the set in seconds.
fn issuer_stats(state: &AdminState) -> Vec<(String, usize, Option<f64>)> {
    let snap = state.snapshot.load();
    (snap.config.issuers.iter().enumerate())
        .map(|(idx, issuer)| {
            let name = &issuer.name;
            let set = snap.keys.get(idx);
            let age = set
                .as_ref()
                .and_then(|s| s.fetched_at().elapsed().ok())
                .map(|d| d.as_secs_f64());
            (name.clone(), set.map_or(0, |s| s.len()), age)
        })
        .collect()
}

fn json(status: StatusCode, body: String) -> Response<ResponseBody> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
