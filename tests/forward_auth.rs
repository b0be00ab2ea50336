//! `mode = "forward_auth"`: cognigate answers an ingress's auth check for the original
//! request, described by Traefik (`X-Forwarded-*`), ingress-nginx (`X-Original-*`) or
//! Envoy ext_authz (the request itself). Allowed: exactly 200 with identity headers.
//! A malformed original request is refused 403 with its JSON reason, never 400: nginx's
//! `auth_request` turns a 400 into a 500 (`tests/nginx_auth_request.rs` shows it with a
//! real nginx).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::jwks_server;
use support::tokens::{self, CLIENT, ISSUER, bearer, sign};
use support::{http, proxy};

async fn start() -> (
    cognigate::mint::DevKey,
    jwks_server::JwksServer,
    proxy::TestProxy,
) {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let p = proxy::start(&format!(
        r#"
mode = "forward_auth"

[[issuers]]
name = "main"
issuer = "{ISSUER}"
jwks_uri = "{}"
client_ids = ["{CLIENT}"]

[[routes]]
path = "/public/**"
auth = "public"

[[routes]]
path = "/admin/**"
groups_any = ["admin"]

[[routes]]
path = "/api/**"
"#,
        jwks.uri()
    ))
    .await;
    http::wait_ready(p.admin).await;
    (key, jwks, p)
}

/// The auth-check request each ingress would send for `method path`.
fn check_headers(style: &str, method: &'static str, path: &str) -> (String, Vec<(String, String)>) {
    match style {
        "traefik" => (
            "/".into(),
            vec![
                ("x-forwarded-method".into(), method.into()),
                ("x-forwarded-uri".into(), path.into()),
                ("x-forwarded-host".into(), "app.example.com".into()),
            ],
        ),
        "nginx" => (
            "/".into(),
            vec![
                ("x-original-method".into(), method.into()),
                (
                    "x-original-url".into(),
                    format!("https://app.example.com{path}"),
                ),
            ],
        ),
        _ => (path.into(), Vec::new()),
    }
}

async fn ask(
    p: &proxy::TestProxy,
    style: &str,
    method: &'static str,
    path: &str,
    extra: &[(&str, &str)],
) -> http::Reply {
    let (target, mut headers) = check_headers(style, method, path);
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // Envoy forwards the original method; the others send their check as GET.
    let check_method = if style == "envoy" { method } else { "GET" };
    let url = format!("http://{}{target}", p.addr);
    http::send(check_method, &url, &refs, None).await
}

const STYLES: [&str; 3] = ["traefik", "nginx", "envoy"];

#[tokio::test]
async fn allowed_is_exactly_200_with_identity_headers() {
    let (key, _jwks, p) = start().await;
    let admin = bearer(&sign(&key, &tokens::access("boss", &["admin"])));
    for style in STYLES {
        let r = ask(
            &p,
            style,
            "POST",
            "/admin/users?x=1",
            &[("authorization", &admin)],
        )
        .await;
        assert_eq!(r.status, 200, "{style}: {}", r.body);
        assert_eq!(r.header("x-auth-sub"), Some("boss"), "{style}");
        assert_eq!(r.header("x-auth-groups"), Some("admin"), "{style}");
        assert_eq!(r.header("x-auth-issuer"), Some("main"), "{style}");
    }
}

#[tokio::test]
async fn refusals_carry_the_contract_status_and_headers() {
    let (key, _jwks, p) = start().await;
    let user = bearer(&sign(&key, &tokens::access("u", &["dev"])));
    for style in STYLES {
        let r = ask(&p, style, "GET", "/api/x", &[]).await;
        assert_eq!(r.status, 401, "{style}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"cognigate\""),
            "{style}"
        );
        let r = ask(
            &p,
            style,
            "GET",
            "/api/x",
            &[("authorization", "Bearer not.a.token")],
        )
        .await;
        assert_eq!(r.status, 401, "{style}");
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .contains("invalid_token"),
            "{style}"
        );
        let r = ask(&p, style, "GET", "/admin/x", &[("authorization", &user)]).await;
        assert_eq!(r.status, 403, "{style}");
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .contains("insufficient_scope"),
            "{style}"
        );
        assert_eq!(
            ask(&p, style, "GET", "/elsewhere", &[("authorization", &user)])
                .await
                .status,
            403,
            "{style}"
        );
        assert_eq!(
            ask(&p, style, "GET", "/public/x", &[]).await.status,
            200,
            "{style}"
        );
    }
}

#[tokio::test]
async fn path_tricks_in_the_original_uri_are_normalized_and_still_protected() {
    let (key, _jwks, p) = start().await;
    let user = bearer(&sign(&key, &tokens::access("u", &["dev"])));
    for style in STYLES {
        for trick in ["/public/../admin/x", "/public/%2e%2e/admin/x", "//admin/x"] {
            let r = ask(&p, style, "GET", trick, &[("authorization", &user)]).await;
            assert_eq!(r.status, 403, "{style} {trick}");
        }
        for refused in ["/public/a%2fb", "/public;x", "/public/x%00"] {
            let r = ask(&p, style, "GET", refused, &[]).await;
            assert_malformed(&r, &format!("{style} {refused}"));
        }
    }
}

/// The forward-auth answer to a malformed original request: 403 with the reason.
fn assert_malformed(r: &http::Reply, what: &str) {
    assert_eq!(r.status, 403, "{what}: {}", r.body);
    assert_eq!(r.json()["error"], "bad_request", "{what}");
    assert!(
        r.json()["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}"
    );
    assert_eq!(r.header("www-authenticate"), None, "{what}");
}

#[tokio::test]
async fn spoofed_identity_on_the_check_is_never_echoed() {
    let (key, _jwks, p) = start().await;
    let user = bearer(&sign(&key, &tokens::access("real", &[])));
    for style in STYLES {
        let spoof = [
            ("x-auth-sub", "admin"),
            ("x-auth-groups", "admin"),
            ("authorization", user.as_str()),
        ];
        let r = ask(&p, style, "GET", "/api/x", &spoof).await;
        assert_eq!(r.status, 200, "{style}");
        assert_eq!(r.header("x-auth-sub"), Some("real"), "{style}");
        assert_eq!(r.header("x-auth-groups"), None, "{style}");
        let r = ask(&p, style, "GET", "/public/x", &spoof[..2]).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("x-auth-sub"),
            None,
            "{style}: a public check has no identity"
        );
    }
}

#[tokio::test]
async fn a_check_with_both_header_families_is_refused() {
    let (key, _jwks, p) = start().await;
    let user = bearer(&sign(&key, &tokens::access("u", &["dev"])));
    // ingress-nginx passes client headers through: a client-added X-Forwarded-Uri must
    // not turn a check of /admin into a check of /public.
    let r = ask(
        &p,
        "nginx",
        "GET",
        "/admin/x",
        &[("x-forwarded-uri", "/public/x"), ("authorization", &user)],
    )
    .await;
    assert_malformed(&r, "nginx + X-Forwarded-Uri");
    assert!(r.body.contains("ambiguous"), "{}", r.body);
    let r = ask(
        &p,
        "traefik",
        "GET",
        "/admin/x",
        &[("x-original-url", "https://a/public/x")],
    )
    .await;
    assert_malformed(&r, "traefik + X-Original-URL");
}

#[tokio::test]
async fn unparsable_original_request_is_403_with_its_reason() {
    let (_key, _jwks, p) = start().await;
    let r = http::get(
        &p.url("/"),
        &[
            ("x-forwarded-uri", "not a uri"),
            ("x-forwarded-method", "GET"),
        ],
    )
    .await;
    assert_malformed(&r, "X-Forwarded-Uri not a URI");
    let r = http::get(
        &p.url("/"),
        &[
            ("x-original-url", "https://a/x"),
            ("x-original-method", "G E T"),
        ],
    )
    .await;
    assert_malformed(&r, "X-Original-Method not a method");
}

#[tokio::test]
async fn an_ambiguously_framed_or_connect_check_is_403_too() {
    let (_key, _jwks, p) = start().await;
    // Envoy sends the original request itself: its framing is the original's.
    let reply = http::raw(
        p.addr,
        b"POST /public/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(http::status_of(&reply), Some(403), "{reply}");
    assert!(reply.contains("\"error\":\"bad_request\""), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("connection: close"),
        "{reply}"
    );
    let connect = http::raw(p.addr, b"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n").await;
    assert_eq!(http::status_of(&connect), Some(403), "{connect}");
}

#[tokio::test]
async fn a_fragment_or_a_repeated_original_request_header_is_refused() {
    let (key, _jwks, p) = start().await;
    let user = bearer(&sign(&key, &tokens::access("u1", &[])));
    // 403 with the reason: nginx's auth_request turns a 400 into a 500.
    let refused = |r: &http::Reply| r.status == 403 && r.json()["error"] == "bad_request";
    // `#` would end the URI: `/public/x` would be checked, `/admin/y` reached.
    for (name, value) in [
        ("x-forwarded-uri", "/public/x#/../../admin/y"),
        (
            "x-original-url",
            "https://app.example.com/public/x#/../../admin/y",
        ),
    ] {
        let method = name.replace("uri", "method").replace("url", "method");
        let r = http::get(
            &p.url("/"),
            &[
                (name, value),
                (method.as_str(), "GET"),
                ("authorization", &user),
            ],
        )
        .await;
        assert!(refused(&r), "{name}: {} {}", r.status, r.body);
    }
    // Two of a header: the ingress's and a client's; either could be the one meant.
    for (name, first, second) in [
        ("x-forwarded-uri", "/public/x", "/admin/y"),
        ("x-forwarded-host", "app.example.com", "admin.example.com"),
    ] {
        let mut headers = vec![
            ("x-forwarded-method", "GET"),
            ("authorization", user.as_str()),
            (name, first),
            (name, second),
        ];
        if name != "x-forwarded-uri" {
            headers.push(("x-forwarded-uri", "/public/x"));
        }
        let r = http::get(&p.url("/"), &headers).await;
        assert!(refused(&r), "two {name}: {} {}", r.status, r.body);
    }
    // A host that is no host[:port].
    let r = http::get(
        &p.url("/"),
        &[
            ("x-forwarded-uri", "/public/x"),
            ("x-forwarded-host", "public.example:1@admin.example"),
        ],
    )
    .await;
    assert!(refused(&r), "{} {}", r.status, r.body);
    p.stop().await;
}

/// What Envoy's ext_authz filter forwards after an allowing answer: the client's
/// headers, each `x-auth-*` header of the answer set over them
/// (`allowed_upstream_headers`), then the names in `x-envoy-auth-headers-to-remove`
/// removed, in that order (Envoy's `ext_authz.cc`, `CheckStatus::OK`).
fn envoy_forwards(client: &[(&str, &str)], answer: &http::Reply) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = client
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .collect();
    for (name, value) in &answer.headers {
        if name.as_str().starts_with("x-auth-") {
            headers.retain(|(n, _)| n != name.as_str());
            headers.push((name.to_string(), value.to_str().unwrap().to_owned()));
        }
    }
    let removed = answer
        .header("x-envoy-auth-headers-to-remove")
        .unwrap_or("")
        .to_owned();
    for name in removed.split(',').map(str::trim) {
        headers.retain(|(n, _)| n != name);
    }
    headers
}

#[tokio::test]
async fn envoy_is_told_to_remove_every_spoofed_identity_header_it_would_keep() {
    let (key, _jwks, p) = start().await;
    let user = bearer(&sign(&key, &tokens::access("real", &[])));
    let spoof = [
        ("x-auth-sub", "admin"),
        ("x-auth-groups", "admin"),
        ("x-auth-tenant", "evil"),
        ("X_Auth_Email", "boss@example.com"),
        ("authorization", user.as_str()),
    ];
    for (path, sub) in [("/api/x", Some("real")), ("/public/x", None)] {
        let r = ask(&p, "envoy", "GET", path, &spoof).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let forwarded = envoy_forwards(&spoof, &r);
        let identity: Vec<&(String, String)> = forwarded
            .iter()
            .filter(|(n, _)| n.replace('_', "-").starts_with("x-auth-"))
            .collect();
        assert!(
            identity
                .iter()
                .all(|(n, v)| r.header(n) == Some(v.as_str())),
            "{path}: only cognigate's own answers reach the app: {identity:?}"
        );
        let forwarded_sub = identity
            .iter()
            .find(|(n, _)| n == "x-auth-sub")
            .map(|(_, v)| v.as_str());
        assert_eq!(forwarded_sub, sub, "{path}: {identity:?}");
    }
    // Nothing to remove, nothing said.
    let r = ask(&p, "envoy", "GET", "/api/x", &[("authorization", &user)]).await;
    assert_eq!(r.header("x-envoy-auth-headers-to-remove"), None);
}
