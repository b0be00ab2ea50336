//! The proxy core over real sockets: what the upstream receives, what the client gets
//! back, and the upstream's failures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{echo, http, proxy};

/// Routes used by these tests; the issuer's key server is never reachable, which is
/// fine: none of these requests carries a token.
fn config(upstream: &str, extra: &str) -> String {
    format!(
        r#"
[upstream]
url = "{upstream}"
timeout = "1s"
connect_timeout = "1s"

[[issuers]]
name = "main"
issuer = "https://issuer.example"
jwks_uri = "http://127.0.0.1:9/jwks.json"
client_ids = ["client1"]

[[routes]]
path = "/public/**"
auth = "public"

[[routes]]
path = "/slow/**"
auth = "public"

[[routes]]
path = "/stream/**"
auth = "public"

[[routes]]
path = "/trailers/**"
auth = "public"

[[routes]]
path = "/gone/**"
auth = "deny"

[[routes]]
path = "/api/**"
{extra}
"#
    )
}

#[tokio::test]
async fn public_route_forwards_with_forwarded_headers_and_request_id() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), "")).await;
    let r = http::get(
        &p.url("/public/hello?x=1&y=%2F"),
        &[
            ("host", "app.example.com"),
            ("x-forwarded-for", "10.0.0.1"),
            ("traceparent", "00-abc-def-01"),
            ("tracestate", "vendor=a,other=b"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.last();
    assert_eq!(
        seen.target, "/public/hello?x=1&y=%2F",
        "the query passes untouched"
    );
    assert_eq!(seen.header("x-forwarded-for"), ["10.0.0.1, 127.0.0.1"]);
    assert_eq!(seen.header("x-forwarded-proto"), ["http"]);
    assert_eq!(seen.header("x-forwarded-host"), ["app.example.com"]);
    assert_eq!(seen.header("traceparent"), ["00-abc-def-01"]);
    assert_eq!(seen.header("tracestate"), ["vendor=a,other=b"]);
    let id = r
        .header("x-request-id")
        .expect("request id echoed")
        .to_owned();
    assert_eq!(seen.header("x-request-id"), [id.as_str()]);
    assert_eq!(r.header("x-upstream"), Some("echo"));
    assert_eq!(
        r.header("keep-alive"),
        None,
        "hop-by-hop response headers are dropped"
    );
    p.stop().await;
}

/// Several X-Forwarded-For lines are one list: all of it is kept, in order.
#[tokio::test]
async fn repeated_x_forwarded_for_lines_are_joined_then_appended() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), "")).await;
    let raw = "GET /public/x HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 1.1.1.1\r\n\
               X-Forwarded-For: 2.2.2.2, 3.3.3.3\r\nConnection: close\r\n\r\n";
    let reply = http::raw(p.addr, raw.as_bytes()).await;
    assert_eq!(http::status_of(&reply), Some(200), "{reply}");
    assert_eq!(
        up.last().header("x-forwarded-for"),
        ["1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1"]
    );
    p.stop().await;
}

#[tokio::test]
async fn client_request_id_is_kept() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), "")).await;
    let r = http::get(&p.url("/public/x"), &[("x-request-id", "req-42")]).await;
    assert_eq!(r.header("x-request-id"), Some("req-42"));
    assert_eq!(up.last().header("x-request-id"), ["req-42"]);
    p.stop().await;
}

#[tokio::test]
async fn hop_by_hop_and_connection_named_headers_are_not_forwarded() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), "")).await;
    let raw = "GET /public/h HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, x-private\r\nx-private: secret\r\n\
               keep-alive: timeout=5\r\nproxy-authorization: Basic abc\r\nte: trailers\r\nx-kept: yes\r\n\
               Connection: close\r\n\r\n";
    let reply = http::raw(p.addr, raw.as_bytes()).await;
    assert_eq!(http::status_of(&reply), Some(200), "{reply}");
    let seen = up.last();
    for gone in [
        "x-private",
        "keep-alive",
        "proxy-authorization",
        "connection",
    ] {
        assert!(seen.header(gone).is_empty(), "{gone} was forwarded");
    }
    assert_eq!(seen.header("x-kept"), ["yes"]);
    // TE is hop-by-hop, but whether the client takes trailers is passed on.
    assert_eq!(seen.header("te"), ["trailers"]);
    p.stop().await;
}

/// Response trailers reach a client that accepts them (`TE: trailers`).
#[tokio::test]
async fn response_trailers_reach_a_client_that_accepts_them() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), "")).await;
    let raw = "GET /trailers/5 HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n";
    let reply = http::raw(p.addr, raw.as_bytes()).await;
    assert_eq!(http::status_of(&reply), Some(200), "{reply}");
    assert!(
        reply.to_lowercase().contains("\r\n0\r\nx-checksum: 5\r\n"),
        "{reply}"
    );
    p.stop().await;
}

#[tokio::test]
async fn required_route_without_token_is_401_and_never_forwarded() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), "")).await;
    let r = http::get(&p.url("/api/things"), &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"cognigate\"")
    );
    assert_eq!(r.json()["error"], "missing_token");
    assert!(up.requests().is_empty());
    p.stop().await;
}

#[tokio::test]
async fn no_route_and_deny_are_403() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), "")).await;
    for path in ["/other", "/gone/x", "/administrator"] {
        let r = http::get(&p.url(path), &[]).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.json()["error"], "forbidden", "{path}");
    }
    assert!(up.requests().is_empty());
    p.stop().await;
}

#[tokio::test]
async fn upstream_down_is_502_and_slow_upstream_is_504() {
    let up = echo::start().await;
    let p = proxy::start(&config("http://127.0.0.1:9", "")).await;
    let r = http::get(&p.url("/public/x"), &[]).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"], "bad_gateway");
    p.stop().await;

    let p = proxy::start(&config(&up.url(), "")).await;
    let started = std::time::Instant::now();
    let r = http::get(&p.url("/slow/3000"), &[]).await;
    assert_eq!(r.status, 504);
    assert_eq!(r.json()["error"], "gateway_timeout");
    assert!(started.elapsed() < std::time::Duration::from_millis(2500));
    p.stop().await;
}

#[tokio::test]
async fn upstream_connections_are_pooled() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), "")).await;
    for _ in 0..20 {
        assert_eq!(http::get(&p.url("/public/x"), &[]).await.status, 200);
    }
    let opened = up.connections.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        opened <= 2,
        "20 sequential requests opened {opened} upstream connections"
    );
    p.stop().await;
}

#[tokio::test]
async fn large_bodies_stream_both_ways() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), "")).await;
    // 50 MB down, streamed by the upstream in 64 KiB frames.
    let r = http::get(&p.url("/stream/52428800"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 52_428_800);
    // 8 MB up.
    let body = "y".repeat(8 * 1024 * 1024);
    let r = http::send("POST", &p.url("/public/upload"), &[], Some(&body)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["body_len"], 8 * 1024 * 1024);
    p.stop().await;
}

/// The protocol is told from the first bytes (an HTTP/2 preface or not): a request that
/// arrives a few bytes at a time, starting like the preface does, is still HTTP/1.1.
#[tokio::test]
async fn request_head_arriving_in_pieces_is_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), "")).await;
    let mut stream = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    let pieces = [
        "P",
        "OST /public/pieces HTTP/1.1\r\nHost: t\r\n",
        "Content-Length: 0\r\nConnection: close\r\n\r\n",
    ];
    for piece in pieces {
        stream.write_all(piece.as_bytes()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    let mut reply = Vec::new();
    let read = stream.read_to_end(&mut reply);
    tokio::time::timeout(std::time::Duration::from_secs(5), read)
        .await
        .unwrap()
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert_eq!(http::status_of(&reply), Some(200), "{reply}");
    assert_eq!(up.last().target, "/public/pieces");
    p.stop().await;
}

/// A route limited to GET admits HEAD too (RFC 9110 §9.3.2); other methods fall
/// through (here to no route: 403).
#[tokio::test]
async fn a_get_route_admits_head() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), "methods = [\"GET\"]\nauth = \"public\"")).await;
    let head = http::send("HEAD", &p.url("/api/x"), &[], None).await;
    assert_eq!(head.status, 200);
    assert_eq!(up.last().method, "HEAD");
    let post = http::send("POST", &p.url("/api/x"), &[], Some("x")).await;
    assert_eq!(post.status, 403, "{}", post.body);
    p.stop().await;
}

/// An upstream that speaks HTTP/1.0: `ok`, then it closes the connection.
async fn http10_upstream() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_response_carries_the_clients_http_version_whatever_the_upstream_spoke() {
    let upstream = http10_upstream().await;
    let p = proxy::start(&config(&upstream, "")).await;
    let mut conn = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    for i in 0..2 {
        let raw = format!("GET /public/{i} HTTP/1.1\r\nHost: t\r\n\r\n");
        let reply = http::exchange(&mut conn, raw.as_bytes()).await;
        // The same connection serves both: keep-alive survives an HTTP/1.0 upstream.
        assert!(reply.starts_with("HTTP/1.1 200"), "request {i}: {reply:?}");
        assert!(reply.ends_with("ok"), "{reply}");
    }
    p.stop().await;
}
