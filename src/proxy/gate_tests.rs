//! The gate in process: driven by hyper over an in-memory pipe (no listener, no accept
//! loop, no idle timer), in front of a stub upstream `service_fn` that answers with
//! what it received, with keys from the shared test fixture.

use super::*;
use crate::verify::testkit;
use http_body_util::{BodyExt, Empty};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;

/// A stub upstream on loopback: answers 200 with `METHOD TARGET` and the request's
/// headers as `name: value` lines.
async fn stub_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let service = service_fn(|req: Request<Incoming>| async move {
                let mut text = format!("{} {}\n", req.method(), req.uri());
                for (name, value) in req.headers() {
                    text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
                }
                Ok::<_, Infallible>(Response::new(super::super::body::full(text)))
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service);
            tokio::spawn(conn);
        }
    });
    addr
}

/// A gate for `routes` in front of `upstream`, with the fixture issuer's keys loaded.
fn gate(upstream: SocketAddr, routes: &str) -> Gate {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let text = format!(
        "[upstream]\nurl = \"http://{upstream}\"\n[[issuers]]\nname = \"main\"\n\
         issuer = \"{}\"\njwks_uri = \"http://127.0.0.1:9/j\"\nclient_ids = [\"{}\"]\n{routes}",
        testkit::ISS,
        testkit::CLIENT
    );
    std::fs::write(&path, text).unwrap();
    let config = Arc::new(crate::config::load(&path).unwrap().config);
    let snap = Snapshot::build(config).unwrap();
    snap.keys.replace(0, testkit::key_set());
    let metrics = Arc::new(Metrics::new());
    let revocations = Arc::new(crate::revoke::Revocations::new(metrics.clone()));
    Gate::new(
        Arc::new(ArcSwap::from_pointee(snap)),
        metrics,
        "http",
        revocations,
    )
}

/// Sends `req` through `gate` over an in-memory HTTP/1.1 connection.
async fn send(gate: Gate, req: Request<Empty<bytes::Bytes>>) -> (u16, String) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let client_hop = ClientHop::new("127.0.0.1:40000".parse().unwrap());
    let gate = Arc::new((gate, client_hop));
    let service = service_fn(move |req| {
        let gate = gate.clone();
        async move { Ok::<_, Infallible>(gate.0.handle(req, &gate.1, false).await) }
    });
    tokio::spawn(
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(server), service),
    );
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

const ROUTES: &str = "[[routes]]\npath = \"/public/**\"\nauth = \"public\"\n\
                      [[routes]]\npath = \"/api/**\"\n";

fn get(path: &str) -> http::request::Builder {
    Request::get(path).header("host", "app.example")
}

#[tokio::test]
async fn an_admitted_request_reaches_the_upstream_normalized_with_the_verified_identity() {
    let upstream = stub_upstream().await;
    let mut spec = testkit::spec(crate::config::TokenUse::Access);
    spec.now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = crate::mint::mint(testkit::key(), &spec).unwrap();
    let req = get("/public/../api/x?q=1")
        .header("authorization", format!("Bearer {token}"))
        .header("x-auth-sub", "forged")
        .body(Empty::new())
        .unwrap();
    let (status, seen) = send(gate(upstream, ROUTES), req).await;
    assert_eq!(status, 200, "{seen}");
    assert!(seen.starts_with("GET /api/x?q=1\n"), "{seen}");
    assert!(seen.contains("x-auth-sub: 5e1f-user\n"), "{seen}");
    assert!(!seen.contains("forged"), "{seen}");
    assert!(seen.contains("x-forwarded-host: app.example\n"), "{seen}");
}

#[tokio::test]
async fn refusals_come_from_the_gate_and_the_upstream_is_not_asked() {
    let upstream = stub_upstream().await;
    for (req, status) in [
        (get("/api/x"), 401),
        (get("/other"), 403),
        (get("/public/%2Fx"), 400),
        (get("/api/x").header("authorization", "Bearer a.b.c"), 401),
    ] {
        let (got, body) = send(gate(upstream, ROUTES), req.body(Empty::new()).unwrap()).await;
        assert_eq!(got, status, "{body}");
        assert!(body.starts_with("{\"error\""), "{body}");
    }
}

#[tokio::test]
async fn an_unreachable_upstream_is_502() {
    // A port nothing listens on: bound, then let go.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = gone.local_addr().unwrap();
    drop(gone);
    let req = get("/public/x").body(Empty::new()).unwrap();
    let (status, body) = send(gate(addr, ROUTES), req).await;
    assert_eq!(status, 502, "{body}");
}

fn parts(target: &str) -> Parts {
    Request::get(target).body(()).unwrap().into_parts().0
}

#[test]
fn the_normalized_path_is_forwarded_with_the_query_as_sent() {
    let p = parts("/public/../admin/x?a=%2F&b");
    assert_eq!(
        path_and_query(&p, Some("/admin/x")).unwrap(),
        "/admin/x?a=%2F&b"
    );
    assert_eq!(
        path_and_query(&p, None).unwrap(),
        "/public/../admin/x?a=%2F&b"
    );
}

#[test]
fn a_normalized_path_that_is_no_request_target_is_refused_not_replaced() {
    let p = parts("/public/x");
    let refused = path_and_query(&p, Some("/admin/x y")).unwrap_err();
    assert!(matches!(refused, Refusal::BadRequest(_)), "{refused:?}");
}
