//! Claim rules (`claims`) and tenant binding (`bind`) end to end: a JWKS server we own,
//! tokens we mint with custom claims, the proxy in front of an echo upstream. A refused
//! request must never reach the upstream.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use cognigate::mint::{DevKey, TokenSpec};
use serde_json::{Value, json};
use support::jwks_server::{self, JwksServer};
use support::tokens::{self, CLIENT, ISSUER, bearer, sign};
use support::{echo, http, proxy};

struct Setup {
    key: DevKey,
    _jwks: JwksServer,
    up: echo::Echo,
    proxy: proxy::TestProxy,
}

fn config(mode: &str, upstream: &str, jwks_uri: &str) -> String {
    format!(
        r#"
mode = "{mode}"

[upstream]
url = "{upstream}"

[[issuers]]
name = "main"
issuer = "{ISSUER}"
jwks_uri = "{jwks_uri}"
client_ids = ["{CLIENT}"]

[[routes]]
path = "/t/{{tenant}}/**"
bind = {{ tenant = "custom:tenant_id" }}

[[routes]]
path = "/plans/**"
claims = {{ "custom:plan" = ["pro", "team"] }}

[[routes]]
path = "/users/{{id}}/**"
bind = {{ id = "sub" }}

[[routes]]
path = "/maybe/{{tenant}}/**"
auth = "optional"
bind = {{ tenant = "custom:tenant_id" }}
"#
    )
}

async fn setup_mode(mode: &str) -> Setup {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let up = echo::start().await;
    let proxy = proxy::start(&config(mode, &up.url(), &jwks.uri())).await;
    http::wait_ready(proxy.admin).await;
    Setup {
        key,
        _jwks: jwks,
        up,
        proxy,
    }
}

async fn setup() -> Setup {
    setup_mode("proxy").await
}

/// An access token of `sub` with these further claims.
fn token(s: &Setup, sub: &str, claims: &[(&str, Value)]) -> String {
    let spec = TokenSpec {
        claims: (claims.iter())
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        ..tokens::access(sub, &[])
    };
    sign(&s.key, &spec)
}

fn tenant(s: &Setup, tenant: &str) -> String {
    token(s, "u-1", &[("custom:tenant_id", json!(tenant))])
}

async fn get(s: &Setup, path: &str, token: &str) -> http::Reply {
    http::get(&s.proxy.url(path), &[("authorization", &bearer(token))]).await
}

/// A 403 with the scope challenge, whose message names `rule` and not `secret`, and
/// which the upstream never saw.
fn assert_refused(s: &Setup, r: &http::Reply, seen_before: usize, rule: &str, secret: &str) {
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"cognigate\", error=\"insufficient_scope\"")
    );
    assert_eq!(r.json()["error"], "forbidden");
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains(rule), "{message}");
    assert!(
        !message.contains(secret),
        "the token's value is echoed: {message}"
    );
    assert_eq!(s.up.requests().len(), seen_before, "reached the upstream");
}

#[tokio::test]
async fn a_tenant_reaches_its_own_tenant_only() {
    let s = setup().await;
    let a = tenant(&s, "acme");
    let r = get(&s, "/t/acme/orders?x=1", &a).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = s.up.last();
    assert_eq!(seen.target, "/t/acme/orders?x=1");
    assert_eq!(seen.header("x-auth-sub"), ["u-1"]);

    let before = s.up.requests().len();
    let r = get(&s, "/t/globex/orders", &a).await;
    assert_refused(&s, &r, before, "custom:tenant_id", "acme");
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert_eq!(
        message,
        "route '/t/{tenant}/**' requires path segment {tenant} to equal claim custom:tenant_id"
    );
    for other in ["/t/Acme/x", "/t/acme2/x", "/t/acm/x"] {
        assert_refused(&s, &get(&s, other, &a).await, before, "tenant", "acme");
    }
}

#[tokio::test]
async fn binding_reads_the_normalized_path_which_is_the_one_forwarded() {
    let s = setup().await;
    let a = tenant(&s, "acme");
    let before = s.up.requests().len();
    let r = get(&s, "/t/acme/../globex/x", &a).await;
    assert_refused(&s, &r, before, "custom:tenant_id", "acme");

    let r = get(&s, "/t/globex/../acme/x", &a).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.up.last().target, "/t/acme/x");
    let r = get(&s, "/t/%61cme//x", &a).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.up.last().target, "/t/acme/x");

    let before = s.up.requests().len();
    let r = get(&s, "/t/acme%2Fglobex/x", &a).await;
    assert_eq!(r.status, 400, "an encoded slash never reaches a capture");
    assert_eq!(s.up.requests().len(), before);
}

#[tokio::test]
async fn a_binding_needs_a_string_claim() {
    let s = setup().await;
    let before = s.up.requests().len();
    for (claims, what) in [
        (vec![], "absent"),
        (vec![("custom:tenant_id", json!(["acme"]))], "an array"),
        (vec![("custom:tenant_id", json!(42))], "a number"),
        (vec![("custom:tenant_id", json!(null))], "null"),
    ] {
        let t = token(&s, "u-1", &claims);
        let path = if what == "a number" {
            "/t/42/x"
        } else {
            "/t/acme/x"
        };
        let r = get(&s, path, &t).await;
        assert_eq!(r.status, 403, "{what}: {}", r.body);
    }
    assert_eq!(s.up.requests().len(), before);
}

#[tokio::test]
async fn claim_rules_are_met_by_a_string_or_an_array_holding_a_value() {
    let s = setup().await;
    for (plan, status) in [
        (json!("pro"), 200),
        (json!("team"), 200),
        (json!(["free", "team"]), 200),
        (json!("free"), 403),
        (json!("PRO"), 403),
        (json!(["free"]), 403),
        (json!(1), 403),
        (json!(true), 403),
        (json!({"plan": "pro"}), 403),
    ] {
        let t = token(&s, "u-2", &[("custom:plan", plan.clone())]);
        let before = s.up.requests().len();
        let r = get(&s, "/plans/x", &t).await;
        assert_eq!(r.status, status, "{plan}: {}", r.body);
        if status == 403 {
            assert_refused(&s, &r, before, "custom:plan: any of pro, team", "free");
        }
    }
    let before = s.up.requests().len();
    let r = get(&s, "/plans/x", &token(&s, "u-2", &[])).await;
    assert_refused(&s, &r, before, "custom:plan", "-");
}

#[tokio::test]
async fn a_typed_claim_can_be_bound_too() {
    let s = setup().await;
    let alice = token(&s, "alice", &[]);
    assert_eq!(get(&s, "/users/alice/profile", &alice).await.status, 200);
    let before = s.up.requests().len();
    let r = get(&s, "/users/bob/profile", &alice).await;
    assert_refused(&s, &r, before, "claim sub", "alice");
}

/// As with group rules: on an optional route a request without a token passes
/// anonymous (no identity headers); one with a token is held to the binding.
#[tokio::test]
async fn on_an_optional_route_the_binding_applies_to_tokens() {
    let s = setup().await;
    let r = http::get(&s.proxy.url("/maybe/globex/x"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(s.up.last().header("x-auth-sub").is_empty());
    let a = tenant(&s, "acme");
    assert_eq!(get(&s, "/maybe/acme/x", &a).await.status, 200);
    assert_eq!(s.up.last().header("x-auth-sub"), ["u-1"]);
    let before = s.up.requests().len();
    let r = get(&s, "/maybe/globex/x", &a).await;
    assert_refused(&s, &r, before, "custom:tenant_id", "acme");
}

#[tokio::test]
async fn refusals_are_counted_by_their_own_reason() {
    let s = setup().await;
    let a = tenant(&s, "acme");
    assert_eq!(get(&s, "/t/globex/x", &a).await.status, 403);
    assert_eq!(get(&s, "/plans/x", &a).await.status, 403);
    assert_eq!(get(&s, "/plans/y", &a).await.status, 403);
    let metrics = http::get(&s.proxy.admin_url("/metrics"), &[]).await.body;
    for line in [
        "cognigate_auth_failures_total{reason=\"binding\"} 1",
        "cognigate_auth_failures_total{reason=\"claims\"} 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
}

#[tokio::test]
async fn forward_auth_checks_the_original_request_for_its_tenant() {
    let s = setup_mode("forward_auth").await;
    let a = bearer(&tenant(&s, "acme"));
    let check = |uri: &'static str| {
        let auth = a.clone();
        let url = s.proxy.url("/");
        async move {
            let headers = [
                ("authorization", auth.as_str()),
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", uri),
                ("x-forwarded-host", "app.example.com"),
            ];
            http::get(&url, &headers).await
        }
    };
    let r = check("/t/acme/x").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-auth-sub"), Some("u-1"));
    let r = check("/t/globex/x").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"], "forbidden");
    assert!(s.up.requests().is_empty(), "forward_auth forwards nothing");
}
