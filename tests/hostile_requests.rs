//! Hostile requests over raw sockets: path tricks, spoofed identity headers, request
//! smuggling and oversized heads. Each must get a clear refusal, and the upstream must
//! see nothing it should not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{echo, http, proxy};

fn config(upstream: &str) -> String {
    format!(
        r#"
[upstream]
url = "{upstream}"

[limits]
park_after = "100ms"

[identity.claim_headers]
"custom:tenant_id" = "X-Tenant-Id"

[[issuers]]
name = "main"
issuer = "https://issuer.example"
jwks_uri = "http://127.0.0.1:9/jwks.json"
client_ids = ["client1"]

[[routes]]
path = "/public/**"
auth = "public"

[[routes]]
path = "/admin/**"
groups_any = ["admin"]

[[routes]]
path = "/optional/**"
auth = "optional"

[[routes]]
path = "/**"
auth = "deny"
"#
    )
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn dot_segments_resolve_before_matching_and_forwarding() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    // Each climbs out of /public into /admin: the admin rule applies (401, no token).
    for path in [
        "/public/../admin/x",
        "/public/%2e%2e/admin/x",
        "/public/%2E%2e/admin/x",
        "/public/.%2e/admin/x",
        "//admin/x",
        "/public/./../admin/x",
    ] {
        let reply = http::raw(p.addr, get(path).as_bytes()).await;
        assert_eq!(http::status_of(&reply), Some(401), "{path}: {reply}");
    }
    // Staying inside /public is allowed, and the upstream sees the normalized path.
    for (path, forwarded) in [
        ("/public/a/../b", "/public/b"),
        ("/public//b", "/public/b"),
        ("/public/%7Euser", "/public/~user"),
        ("/public/./c?q=%2e%2e", "/public/c?q=%2e%2e"),
    ] {
        let reply = http::raw(p.addr, get(path).as_bytes()).await;
        assert_eq!(http::status_of(&reply), Some(200), "{path}: {reply}");
        assert_eq!(up.last().target, forwarded, "{path}");
    }
    assert!(
        up.requests()
            .iter()
            .all(|r| r.target.starts_with("/public/"))
    );
    p.stop().await;
}

#[tokio::test]
async fn ambiguous_paths_are_400() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    for path in [
        "/public/a%2fb",
        "/public/a%2Fb",
        "/public/a%5cb",
        "/public/a\\b",
        "/public/a;b",
        "/public/a%3bb",
        "/public/a%00",
        "/public/a%25",
        "/public/a%zz",
        "/..",
        "/public/../../x",
        "/public/a%3Fb",
        "/public/a%23b",
    ] {
        let reply = http::raw(p.addr, get(path).as_bytes()).await;
        assert_eq!(http::status_of(&reply), Some(400), "{path}: {reply}");
        assert!(
            reply.contains("\"error\":\"bad_request\""),
            "{path}: {reply}"
        );
    }
    assert!(up.requests().is_empty());
    p.stop().await;
}

#[tokio::test]
async fn spoofed_identity_headers_are_removed_in_every_spelling() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    let raw = "GET /public/x HTTP/1.1\r\nHost: t\r\nX-Auth-Sub: admin\r\nx-auth-groups: admin\r\nX_Auth_Sub: admin\r\n\
               x.auth.username: root\r\nX-AUTH-CLAIMS: e30\r\nX-Tenant-Id: other\r\nx_tenant_id: other\r\nX-Ok: 1\r\n\
               Connection: close\r\n\r\n";
    let reply = http::raw(p.addr, raw.as_bytes()).await;
    assert_eq!(http::status_of(&reply), Some(200), "{reply}");
    let seen = up.last();
    for (name, _) in &seen.headers {
        let folded = name.to_ascii_lowercase().replace(['_', '.'], "-");
        assert!(
            !folded.starts_with("x-auth-") && folded != "x-tenant-id",
            "{name} reached the upstream"
        );
    }
    assert_eq!(seen.header("x-ok"), ["1"]);
    p.stop().await;
}

/// RFC 9112 §3.2: no Host on HTTP/1.1, or two Host lines (the route's host rule and
/// the upstream could read different ones), is a 400; HTTP/1.0 may omit it.
#[tokio::test]
async fn missing_or_repeated_host_is_400() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    for raw in [
        "GET /public/x HTTP/1.1\r\n\r\n",
        "GET /public/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ] {
        let reply = http::raw(p.addr, raw.as_bytes()).await;
        assert_eq!(http::status_of(&reply), Some(400), "{raw:?}: {reply}");
        assert!(reply.contains("bad_request"), "{reply}");
    }
    assert!(up.requests().is_empty());
    let reply = http::raw(p.addr, b"GET /public/x HTTP/1.0\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.0 200"), "{reply}");
    p.stop().await;
}

#[tokio::test]
async fn connection_header_naming_identity_is_400() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    for named in ["X-Auth-Sub", "x_auth_groups", "X-Tenant-Id"] {
        let raw =
            format!("GET /public/x HTTP/1.1\r\nHost: t\r\nConnection: close, {named}\r\n\r\n");
        let reply = http::raw(p.addr, raw.as_bytes()).await;
        assert_eq!(http::status_of(&reply), Some(400), "{named}: {reply}");
    }
    assert!(up.requests().is_empty());
    p.stop().await;
}

#[tokio::test]
async fn spoofed_identity_trailers_are_removed() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    let raw = "POST /public/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\
               Trailer: X-Auth-Sub, X-Other\r\nConnection: close\r\n\r\n\
               5\r\nhello\r\n0\r\nX-Auth-Sub: admin\r\nX-Other: kept\r\n\r\n";
    let reply = http::raw(p.addr, raw.as_bytes()).await;
    assert_eq!(http::status_of(&reply), Some(200), "{reply}");
    let seen = up.last();
    assert_eq!(seen.body_len, 5);
    assert_eq!(
        seen.trailers,
        [("x-other".to_owned(), "kept".to_owned())],
        "other trailers pass, identity ones do not"
    );
    p.stop().await;
}

#[tokio::test]
async fn smuggling_attempts_are_refused_and_never_reach_the_upstream() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    let smuggled = "GET /admin/secret HTTP/1.1\r\nHost: t\r\n\r\n";
    let cases = [
        ("CL+TE", format!("POST /public/x HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}", 5 + smuggled.len())),
        ("TE+CL", format!("POST /public/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n{smuggled}\r\n0\r\n\r\n")),
        ("two CL", format!("POST /public/x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{smuggled}", smuggled.len())),
        ("TE chunked, identity", "POST /public/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n".to_owned()),
        ("obs-fold", "GET /public/x HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n".to_owned()),
        ("bad chunk size", "POST /public/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_owned()),
        ("NUL in header", "GET /public/x HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n".to_owned()),
        ("bare CR", "GET /public/x HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n".to_owned()),
    ];
    for (name, raw) in cases {
        // A second request pipelined behind: it must never reach the upstream either.
        let raw = format!("{raw}GET /public/pipelined HTTP/1.1\r\nHost: t\r\n\r\n");
        let reply = http::raw(p.addr, raw.as_bytes()).await;
        let status = http::status_of(&reply);
        // Refused up front (400), or (bad chunk size) the body stream fails mid-way; the
        // smuggled request never reaches the upstream in any case.
        assert!(
            matches!(status, Some(400) | None) || name == "bad chunk size",
            "{name}: {reply}"
        );
        assert!(
            up.requests()
                .iter()
                .all(|r| !r.target.contains("secret") && !r.target.contains("pipelined")),
            "{name}: smuggled or pipelined request forwarded"
        );
    }
    p.stop().await;
}

#[tokio::test]
async fn oversized_request_head_is_431() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    // Sizes around the read buffer's growth steps: the limit must hold at each.
    for kib in [33, 40, 48, 60, 100] {
        let big = "a".repeat(kib * 1024);
        let raw = format!("GET /public/x HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n");
        let reply = http::raw(p.addr, raw.as_bytes()).await;
        assert_eq!(http::status_of(&reply), Some(431), "{kib} KiB: {reply}");
    }
    assert!(up.requests().is_empty());
    let fits = "a".repeat(30 * 1024);
    let raw =
        format!("GET /public/x HTTP/1.1\r\nHost: t\r\nX-Big: {fits}\r\nConnection: close\r\n\r\n");
    let reply = http::raw(p.addr, raw.as_bytes()).await;
    assert_eq!(http::status_of(&reply), Some(200), "30 KiB");
    p.stop().await;
}

#[tokio::test]
async fn a_request_pipelined_behind_an_ambiguous_one_never_reaches_the_upstream() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    let second = "GET /public/second HTTP/1.1\r\nHost: t\r\n\r\n";
    let smuggled = "GET /admin/secret HTTP/1.1\r\nHost: t\r\n\r\n";
    for ambiguous in [
        format!(
            "POST /public/x HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
            5 + smuggled.len()
        ),
        format!(
            "POST /public/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n{smuggled}\r\n0\r\n\r\n"
        ),
    ] {
        // A plain request first, so the ambiguous one is not the connection's first.
        let wire = format!("{}{ambiguous}{second}", get_keep_alive("/public/first"));
        let reply = http::raw(p.addr, wire.as_bytes()).await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains("HTTP/1.1 400"), "{reply}");
        let seen: Vec<_> = up.requests().into_iter().map(|r| r.target).collect();
        assert!(
            seen.iter()
                .all(|t| !t.contains("secret") && !t.contains("second")),
            "{seen:?}"
        );
    }
    p.stop().await;
}

fn get_keep_alive(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

#[tokio::test]
async fn a_refused_upgrade_keeps_the_connection_and_its_smuggling_guard() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    let upgrade =
        "GET /public/ws HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
    let cl_te = "POST /public/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let mut conn = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    // The echo upstream answers 200, not 101: no tunnel, the connection stays HTTP.
    let reply = http::exchange(&mut conn, upgrade.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // Idle past the moment an idle connection is parked (`park_after`): it must still
    // be there.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let reply = http::exchange(&mut conn, get_keep_alive("/public/later").as_bytes()).await;
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "closed after idling: {reply:?}"
    );
    let reply = http::exchange(&mut conn, cl_te.as_bytes()).await;
    assert_eq!(http::status_of(&reply), Some(400), "{reply}");
    // The same with the ambiguous request pipelined right behind the upgrade request.
    let reply = http::raw(p.addr, format!("{upgrade}{cl_te}").as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("HTTP/1.1 400"), "{reply}");
    assert!(up.requests().iter().all(|r| r.method != "POST"));
    p.stop().await;
}

#[tokio::test]
async fn invalid_host_headers_are_400() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    for host in ["public.example:1@admin.example", ":abc", "a:80:90", "a b"] {
        let raw = format!("GET /public/x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let reply = http::raw(p.addr, raw.as_bytes()).await;
        assert_eq!(http::status_of(&reply), Some(400), "{host}: {reply}");
    }
    // An absolute-form target naming another host than Host.
    let raw = "GET http://admin.example/public/x HTTP/1.1\r\nHost: public.example\r\nConnection: close\r\n\r\n";
    let reply = http::raw(p.addr, raw.as_bytes()).await;
    assert_eq!(http::status_of(&reply), Some(400), "{reply}");
    assert!(up.requests().is_empty());
    p.stop().await;
}

#[tokio::test]
async fn connect_is_refused_400() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    for raw in [
        "CONNECT /public/x HTTP/1.1\r\nHost: t\r\n\r\n",
        "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n",
    ] {
        let reply = http::raw(p.addr, raw.as_bytes()).await;
        assert_eq!(http::status_of(&reply), Some(400), "{raw}: {reply}");
        assert!(reply.contains("bad_request"), "{reply}");
    }
    assert!(up.requests().is_empty());
    p.stop().await;
}

#[tokio::test]
async fn client_stated_routing_and_method_headers_never_reach_the_upstream() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    let stated = [
        ("X-HTTP-Method-Override", "DELETE"),
        ("X-HTTP-Method", "DELETE"),
        ("X-Method-Override", "DELETE"),
        ("X_HTTP_Method_Override", "DELETE"),
        ("Forwarded", "for=1.2.3.4;host=admin.example;proto=https"),
        ("X-Real-IP", "1.2.3.4"),
        ("True-Client-IP", "1.2.3.4"),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Prefix", "/admin"),
        ("X-Forwarded-Scheme", "https"),
        ("X-Forwarded-Ssl", "on"),
        ("X-Original-URL", "/admin/x"),
        ("X-Rewrite-URL", "/admin/x"),
        ("X-Original-Host", "admin.example"),
        ("X_Forwarded_Host", "admin.example"),
    ];
    let lines: String = stated
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    let raw = format!(
        "POST /public/x HTTP/1.1\r\nHost: t\r\n{lines}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let reply = http::raw(p.addr, raw.as_bytes()).await;
    assert_eq!(http::status_of(&reply), Some(200), "{reply}");
    let seen = up.last();
    assert_eq!(seen.method, "POST");
    for (name, _) in stated {
        let folded = name.to_ascii_lowercase();
        assert!(
            seen.header(&folded).is_empty(),
            "{name} reached the upstream"
        );
    }
    assert_eq!(seen.header("x-forwarded-host"), ["t"]);
    p.stop().await;
}

#[tokio::test]
async fn a_bearer_header_of_another_shape_is_401_even_on_an_optional_route() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    for value in [
        "Bearer\tforged",
        "Bearer:x",
        "Bearerx",
        "Bearer",
        "bearer\tx",
    ] {
        let raw = format!(
            "GET /optional/x HTTP/1.1\r\nHost: t\r\nAuthorization: {value}\r\nConnection: close\r\n\r\n"
        );
        let reply = http::raw(p.addr, raw.as_bytes()).await;
        assert_eq!(http::status_of(&reply), Some(401), "{value:?}: {reply}");
        assert!(reply.contains("invalid_token"), "{reply}");
        assert!(!reply.contains("forged"), "the token is echoed: {reply}");
    }
    // Another scheme is no token: it passes on an optional route.
    let raw = "GET /optional/x HTTP/1.1\r\nHost: t\r\nAuthorization: Basic Zm9vOmJhcg==\r\nConnection: close\r\n\r\n";
    assert_eq!(
        http::status_of(&http::raw(p.addr, raw.as_bytes()).await),
        Some(200)
    );
    assert_eq!(up.requests().len(), 1);
    p.stop().await;
}

/// An HTTP/2 connection (h2c, prior knowledge) to the proxy, driven with the h2 crate,
/// which sends what hyper's client would tidy up (two `cookie` fields, a `host` field).
async fn h2_client(addr: std::net::SocketAddr) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    send
}

async fn h2_send(
    send: &mut h2::client::SendRequest<bytes::Bytes>,
    req: ::http::Request<()>,
    body: &'static [u8],
) -> (u16, String) {
    let mut ready = send.clone().ready().await.unwrap();
    let (resp, mut stream) = ready.send_request(req, body.is_empty()).unwrap();
    if !body.is_empty() {
        stream
            .send_data(bytes::Bytes::from_static(body), true)
            .unwrap();
    }
    let resp = resp.await.unwrap();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        text.extend_from_slice(&chunk);
    }
    (status, String::from_utf8_lossy(&text).into_owned())
}

fn h2_get(authority: &str, path: &str) -> ::http::request::Builder {
    ::http::Request::builder().uri(format!("http://{authority}{path}"))
}

#[tokio::test]
async fn http2_bytes_are_never_read_as_http1_framing() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    let mut send = h2_client(p.addr).await;
    // An upload whose bytes look like an HTTP/1 head with an ambiguous length: the
    // HTTP/1 smuggling guard must not read HTTP/2 frames at all.
    let lookalike: &'static [u8] =
        b"\n\nPOST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let post = h2_get("t", "/public/upload")
        .method("POST")
        .body(())
        .unwrap();
    let (status, _) = h2_send(&mut send, post, lookalike).await;
    assert_eq!(status, 200);
    for i in 0..6 {
        let (status, body) = h2_send(
            &mut send,
            h2_get("t", &format!("/public/{i}")).body(()).unwrap(),
            b"",
        )
        .await;
        assert_eq!(status, 200, "request {i}: {body}");
    }
    p.stop().await;
}

#[tokio::test]
async fn http2_authority_and_host_must_agree_and_cookies_are_joined() {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url())).await;
    let mut send = h2_client(p.addr).await;
    let other = h2_get("public.example", "/public/x")
        .header("host", "admin.example")
        .body(())
        .unwrap();
    let (status, body) = h2_send(&mut send, other, b"").await;
    assert_eq!(status, 400, "{body}");
    assert!(up.requests().is_empty());
    let cookies = h2_get("public.example", "/public/x")
        .header("cookie", "a=1")
        .header("cookie", "b=2")
        .body(())
        .unwrap();
    let (status, body) = h2_send(&mut send, cookies, b"").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(up.last().header("cookie"), ["a=1; b=2"]);
    p.stop().await;
}
