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
        let reply = http::raw(p.addr, raw.as_bytes()).await;
        let status = http::status_of(&reply);
        // Refused up front (400), or (bad chunk size) the body stream fails mid-way; the
        // smuggled request never reaches the upstream in any case.
        assert!(
            matches!(status, Some(400) | None) || name == "bad chunk size",
            "{name}: {reply}"
        );
        assert!(
            up.requests().iter().all(|r| !r.target.contains("secret")),
            "{name}: smuggled request forwarded"
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
