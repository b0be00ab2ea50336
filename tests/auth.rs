//! Token verification end to end: a JWKS server we own, tokens we mint, the proxy in
//! front of an echo upstream. Each refusal path has a named test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use cognigate::mint::DevKey;
use std::time::Duration;
use support::jwks_server::{self, JwksServer, Mode};
use support::tokens::{self, CLIENT, ISSUER, bearer, sign};
use support::{echo, http, proxy};

struct Setup {
    key: DevKey,
    jwks: JwksServer,
    up: echo::Echo,
    proxy: proxy::TestProxy,
}

fn config(upstream: &str, jwks_uri: &str, extra: &str) -> String {
    format!(
        r#"
[upstream]
url = "{upstream}"

[jwks]
min_refetch_interval = "30s"
fetch_timeout = "1s"

[token]
cookies = ["session"]

[identity.claim_headers]
"custom:tenant_id" = "X-Tenant-Id"

[[issuers]]
name = "main"
issuer = "{ISSUER}"
jwks_uri = "{jwks_uri}"
client_ids = ["{CLIENT}"]
token_use = ["access", "id"]

[[routes]]
path = "/public/**"
auth = "public"

[[routes]]
path = "/optional/**"
auth = "optional"

[[routes]]
path = "/admin/**"
groups_any = ["admin"]

[[routes]]
path = "/ops/**"
groups_all = ["ops", "oncall"]

[[routes]]
path = "/scoped/**"
scopes_any = ["orders:read"]

[[routes]]
path = "/id-only/**"
token_use = ["id"]

[[routes]]
path = "/api/**"
{extra}
"#
    )
}

async fn setup(extra: &str) -> Setup {
    setup_with(|upstream, jwks_uri| config(upstream, jwks_uri, extra)).await
}

/// The same fakes, with the config `config(upstream_url, jwks_uri)` writes.
async fn setup_with(config: impl FnOnce(&str, &str) -> String) -> Setup {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let up = echo::start().await;
    let proxy = proxy::start(&config(&up.url(), &jwks.uri())).await;
    http::wait_ready(proxy.admin).await;
    Setup {
        key,
        jwks,
        up,
        proxy,
    }
}

async fn get_with(s: &Setup, path: &str, token: &str) -> http::Reply {
    http::get(&s.proxy.url(path), &[("authorization", &bearer(token))]).await
}

fn assert_invalid_token(r: &http::Reply, token: &str) {
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_token");
    let www = r.header("www-authenticate").unwrap();
    assert!(
        www.starts_with(
            "Bearer realm=\"cognigate\", error=\"invalid_token\", error_description=\""
        ),
        "{www}"
    );
    let sig = token.rsplit('.').next().unwrap();
    assert!(
        !sig.is_empty() && !r.body.contains(sig) && !www.contains(sig),
        "the token is echoed"
    );
}

#[tokio::test]
async fn valid_access_token_forwards_verified_identity() {
    let s = setup("").await;
    let token = sign(&s.key, &tokens::access("user-1", &["admin", "dev"]));
    let r = get_with(&s, "/api/x", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = s.up.last();
    assert_eq!(seen.header("x-auth-sub"), ["user-1"]);
    assert_eq!(seen.header("x-auth-username"), ["user-1-name"]);
    assert_eq!(seen.header("x-auth-groups"), ["admin,dev"]);
    assert_eq!(seen.header("x-auth-scopes"), ["openid profile"]);
    assert_eq!(seen.header("x-auth-client-id"), [CLIENT]);
    assert_eq!(seen.header("x-auth-token-use"), ["access"]);
    assert_eq!(seen.header("x-auth-issuer"), ["main"]);
    assert_eq!(
        seen.header("x-auth-claims"),
        [token.split('.').nth(1).unwrap()]
    );
    assert!(seen.header("x-auth-email").is_empty());
    assert_eq!(
        seen.header("authorization"),
        [bearer(&token).as_str()],
        "kept unless strip_authorization"
    );
}

#[tokio::test]
async fn id_token_sets_email_and_username_from_cognito_username() {
    let s = setup("").await;
    let token = sign(&s.key, &tokens::id("user-2", &[]));
    assert_eq!(get_with(&s, "/id-only/x", &token).await.status, 200);
    let seen = s.up.last();
    assert_eq!(seen.header("x-auth-email"), ["user-2@example.com"]);
    assert_eq!(seen.header("x-auth-username"), ["user-2-name"]);
    assert_eq!(seen.header("x-auth-client-id"), [CLIENT]);
    assert_eq!(seen.header("x-auth-token-use"), ["id"]);
    // The route accepts id tokens only: an access token is forbidden there.
    let access = sign(&s.key, &tokens::access("user-2", &[]));
    let r = get_with(&s, "/id-only/x", &access).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"cognigate\", error=\"insufficient_scope\"")
    );
}

#[tokio::test]
async fn spoofed_identity_is_replaced_by_the_verified_one() {
    let s = setup("").await;
    let token = sign(&s.key, &tokens::access("real-user", &[]));
    let raw = format!(
        "GET /api/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nX-Auth-Sub: admin\r\nX_Auth_Groups: admin\r\n\
         X-Tenant-Id: evil\r\nConnection: close\r\n\r\n"
    );
    let reply = http::raw(s.proxy.addr, raw.as_bytes()).await;
    assert_eq!(http::status_of(&reply), Some(200), "{reply}");
    let seen = s.up.last();
    assert_eq!(seen.header("x-auth-sub"), ["real-user"]);
    assert!(
        seen.headers
            .iter()
            .all(|(n, _)| n != "x_auth_groups" && n != "x-auth-groups")
    );
    assert!(
        seen.header("x-tenant-id").is_empty(),
        "no such claim: the spoofed header must be gone"
    );
    let raw = format!(
        "GET /api/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nConnection: close, X-Auth-Sub\r\n\r\n"
    );
    assert_eq!(
        http::status_of(&http::raw(s.proxy.addr, raw.as_bytes()).await),
        Some(400)
    );
}

#[tokio::test]
async fn group_and_scope_rules() {
    let s = setup("").await;
    let user = sign(&s.key, &tokens::access("u", &["dev"]));
    let r = get_with(&s, "/admin/x", &user).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "forbidden");
    assert!(r.json()["message"].as_str().unwrap().contains("admin"));
    assert_eq!(
        get_with(
            &s,
            "/admin/x",
            &sign(&s.key, &tokens::access("a", &["admin"]))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        get_with(&s, "/ops/x", &sign(&s.key, &tokens::access("o", &["ops"])))
            .await
            .status,
        403
    );
    assert_eq!(
        get_with(
            &s,
            "/ops/x",
            &sign(&s.key, &tokens::access("o", &["oncall", "ops"]))
        )
        .await
        .status,
        200
    );
    assert_eq!(get_with(&s, "/scoped/x", &user).await.status, 403);
    let mut spec = tokens::access("s", &[]);
    spec.scope = Some("orders:write orders:read".into());
    assert_eq!(
        get_with(&s, "/scoped/x", &sign(&s.key, &spec)).await.status,
        200
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_401() {
    let s = setup("").await;
    let mut spec = tokens::access("u", &[]);
    spec.now = tokens::now() - 7200;
    spec.ttl = Duration::from_secs(7200 - 61); // expired 61 s ago: past the 60 s leeway
    let token = sign(&s.key, &spec);
    let r = get_with(&s, "/api/x", &token).await;
    assert_invalid_token(&r, &token);
    assert!(
        r.json()["message"].as_str().unwrap().contains("expired"),
        "{}",
        r.body
    );
    spec.ttl = Duration::from_secs(7200 - 50); // expired 50 s ago: within leeway
    assert_eq!(
        get_with(&s, "/api/x", &sign(&s.key, &spec)).await.status,
        200
    );
    let now = tokens::now();
    let future = format!(
        r#"{{"sub":"u","iss":"{ISSUER}","token_use":"access","client_id":"{CLIENT}","iat":{now},"nbf":{},"exp":{}}}"#,
        now + 600,
        now + 3600
    );
    let token = tokens::raw(
        &s.key,
        &format!(r#"{{"alg":"RS256","kid":"{}"}}"#, s.key.kid),
        &future,
    );
    assert_invalid_token(&get_with(&s, "/api/x", &token).await, &token);
}

#[tokio::test]
async fn forged_tokens_are_401() {
    let s = setup("").await;
    let good = sign(&s.key, &tokens::access("u", &["dev"]));
    let (h, p, sig) = {
        let mut parts = good.split('.');
        (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        )
    };
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let payload = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap();
    let tampered = format!(
        "{h}.{}.{sig}",
        b64(&payload.replace("\"dev\"", "\"admin\""))
    );
    let none = format!("{}.{p}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
    let none_sig = format!(
        "{}.{p}.{sig}",
        b64(&format!(r#"{{"alg":"none","kid":"{}"}}"#, s.key.kid))
    );
    let other_key = tokens::key();
    let wrong_key = sign(&other_key, &tokens::access("u", &[]));
    let cases = [
        ("tampered payload", tampered),
        ("alg none", none),
        ("alg none with signature", none_sig),
        ("stripped signature", format!("{h}.{p}.")),
        (
            "truncated signature",
            format!("{h}.{p}.{}", &sig[..sig.len() / 2]),
        ),
        ("unknown kid", wrong_key),
        ("two segments", format!("{h}.{p}")),
        ("garbage", "not-a-jwt".to_owned()),
        ("oversized", format!("{h}.{}.{sig}", "A".repeat(17 * 1024))),
    ];
    for (name, token) in cases {
        let r = get_with(&s, "/api/x", &token).await;
        assert_eq!(r.status, 401, "{name}: {}", r.body);
        assert_eq!(r.json()["error"], "invalid_token", "{name}");
    }
    assert!(
        s.up.requests().is_empty(),
        "a forged token reached the upstream"
    );
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let s = setup("").await;
    let jwks: serde_json::Value = serde_json::from_str(&s.key.jwks_json).unwrap();
    let n = jwks["keys"][0]["n"].as_str().unwrap();
    let now = tokens::now();
    let header = format!(r#"{{"alg":"HS256","kid":"{}","typ":"JWT"}}"#, s.key.kid);
    let payload = format!(
        r#"{{"sub":"u","iss":"{ISSUER}","token_use":"access","client_id":"{CLIENT}","exp":{}}}"#,
        now + 600
    );
    use base64::Engine;
    let b64 = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    for secret in [n.as_bytes(), s.key.jwks_json.as_bytes()] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        let token = format!("{input}.{}", b64(tag.as_ref()));
        let r = get_with(&s, "/api/x", &token).await;
        assert_invalid_token(&r, &token);
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("alg"),
            "{}",
            r.body
        );
    }
}

#[tokio::test]
async fn wrong_issuer_client_and_token_use_are_401() {
    let s = setup("").await;
    let mut spec = tokens::access("u", &[]);
    spec.issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other".into();
    let t = sign(&s.key, &spec);
    assert_invalid_token(&get_with(&s, "/api/x", &t).await, &t);
    let mut spec = tokens::access("u", &[]);
    spec.client_id = "someone-else".into();
    let t = sign(&s.key, &spec);
    assert_invalid_token(&get_with(&s, "/api/x", &t).await, &t);
    let mut spec = tokens::id("u", &[]);
    spec.client_id = "someone-else".into();
    let t = sign(&s.key, &spec);
    assert_invalid_token(&get_with(&s, "/api/x", &t).await, &t);
}

#[tokio::test]
async fn optional_route_passes_anonymous_but_not_invalid() {
    let s = setup("").await;
    let r = http::get(&s.proxy.url("/optional/x"), &[("x-auth-sub", "spoof")]).await;
    assert_eq!(r.status, 200);
    assert!(s.up.last().header("x-auth-sub").is_empty());
    let r = http::get(
        &s.proxy.url("/optional/x"),
        &[("authorization", "Bearer garbage")],
    )
    .await;
    assert_eq!(r.status, 401);
    let t = sign(&s.key, &tokens::access("opt", &[]));
    assert_eq!(get_with(&s, "/optional/x", &t).await.status, 200);
    assert_eq!(s.up.last().header("x-auth-sub"), ["opt"]);
}

#[tokio::test]
async fn token_from_cookie_and_bearer_scheme_case() {
    let s = setup("").await;
    let t = sign(&s.key, &tokens::access("cookie-user", &[]));
    let r = http::get(
        &s.proxy.url("/api/x"),
        &[("cookie", &format!("a=b; session={t}"))],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.up.last().header("x-auth-sub"), ["cookie-user"]);
    let r = http::get(
        &s.proxy.url("/api/x"),
        &[("authorization", &format!("bEaReR {t}"))],
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn rotated_key_is_picked_up_through_an_unknown_kid() {
    let s = setup("").await;
    let before = s.jwks.fetches();
    let new_key = tokens::key();
    s.jwks.set(Mode::Serve(new_key.jwks_json.clone()));
    let t = sign(&new_key, &tokens::access("rotated", &[]));
    assert_eq!(get_with(&s, "/api/x", &t).await.status, 200);
    assert_eq!(s.jwks.fetches(), before + 1);
    // The old key is gone from the set: its tokens are now refused.
    let old = sign(&s.key, &tokens::access("old", &[]));
    assert_eq!(get_with(&s, "/api/x", &old).await.status, 401);
}

#[tokio::test]
async fn a_flood_of_random_kids_refetches_at_most_once() {
    let s = setup("").await;
    let before = s.jwks.fetches();
    let now = tokens::now();
    let payload = format!(
        r#"{{"sub":"u","iss":"{ISSUER}","token_use":"access","client_id":"{CLIENT}","exp":{}}}"#,
        now + 600
    );
    for i in 0..50 {
        let t = tokens::raw(
            &s.key,
            &format!(r#"{{"alg":"RS256","kid":"random-{i}"}}"#),
            &payload,
        );
        assert_eq!(get_with(&s, "/api/x", &t).await.status, 401);
    }
    let fetched = s.jwks.fetches() - before;
    assert!(fetched <= 1, "{fetched} refetches for 50 unknown kids");
}

#[tokio::test]
async fn key_server_failures_keep_the_last_good_set() {
    let s = setup("").await;
    let t = sign(&s.key, &tokens::access("u", &[]));
    for mode in [Mode::Status500, Mode::Garbage] {
        s.jwks.set(mode);
        // An unknown kid makes the proxy refetch now; the fetch fails and the old set stays.
        let other = sign(&tokens::key(), &tokens::access("x", &[]));
        assert_eq!(get_with(&s, "/api/x", &other).await.status, 401);
        assert_eq!(get_with(&s, "/api/x", &t).await.status, 200);
    }
    assert_eq!(
        http::get(&s.proxy.admin_url("/readyz"), &[]).await.status,
        200
    );
}

#[tokio::test]
async fn key_server_never_reachable_means_503_and_not_ready() {
    let key = tokens::key();
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), "http://127.0.0.1:9/jwks.json", "")).await;
    let ready = http::get(&p.admin_url("/readyz"), &[]).await;
    assert_eq!(ready.status, 503);
    assert!(ready.body.contains("main"), "{}", ready.body);
    let t = sign(&key, &tokens::access("u", &[]));
    let r = http::get(&p.url("/api/x"), &[("authorization", &bearer(&t))]).await;
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    // Public routes still work.
    assert_eq!(http::get(&p.url("/public/x"), &[]).await.status, 200);
    p.stop().await;
}

#[tokio::test]
async fn strip_authorization_removes_the_token_upstream() {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let up = echo::start().await;
    let cfg = config(&up.url(), &jwks.uri(), "")
        .replace("[token]\n", "[token]\nstrip_authorization = true\n");
    let p = proxy::start(&cfg).await;
    http::wait_ready(p.admin).await;
    let t = sign(&key, &tokens::access("u", &[]));
    assert_eq!(
        http::get(&p.url("/api/x"), &[("authorization", &bearer(&t))])
            .await
            .status,
        200
    );
    assert!(up.last().header("authorization").is_empty());
    p.stop().await;
}

#[tokio::test]
async fn claim_headers_map_custom_claims() {
    let s = setup("").await;
    let now = tokens::now();
    let payload = format!(
        r#"{{"sub":"u","iss":"{ISSUER}","token_use":"access","client_id":"{CLIENT}","exp":{},"custom:tenant_id":"t-42"}}"#,
        now + 600
    );
    let t = tokens::raw(
        &s.key,
        &format!(r#"{{"alg":"RS256","kid":"{}"}}"#, s.key.kid),
        &payload,
    );
    assert_eq!(get_with(&s, "/api/x", &t).await.status, 200);
    assert_eq!(s.up.last().header("x-tenant-id"), ["t-42"]);
}

/// A non-Cognito OIDC issuer: its tokens carry no `token_use`, and `aud` may be an
/// array. The kind is derived (an id token here) and the client found in `aud`; the
/// same token without an accepted audience is refused.
#[tokio::test]
async fn oidc_issuer_tokens_without_token_use_are_accepted() {
    const OIDC: &str = "https://login.example.com";
    let s = setup_with(|upstream, jwks_uri| {
        format!(
            r#"
[upstream]
url = "{upstream}"

[[issuers]]
name = "corp"
issuer = "{OIDC}"
jwks_uri = "{jwks_uri}"
client_ids = ["spa-client"]
token_use = ["access", "id"]

[[routes]]
path = "/**"
"#
        )
    })
    .await;
    let header = format!(r#"{{"alg":"RS256","kid":"{}","typ":"JWT"}}"#, s.key.kid);
    let token_for = |aud: &str| {
        let exp = tokens::now() + 600;
        let payload = format!(r#"{{"sub":"u-7","iss":"{OIDC}","aud":{aud},"exp":{exp}}}"#);
        tokens::raw(&s.key, &header, &payload)
    };
    let good = token_for(r#"["https://api.example.com","spa-client"]"#);
    let r = get_with(&s, "/x", &good).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = s.up.last();
    assert_eq!(seen.header("x-auth-sub"), ["u-7"]);
    assert_eq!(seen.header("x-auth-token-use"), ["id"]);
    assert_eq!(seen.header("x-auth-issuer"), ["corp"]);
    assert_eq!(seen.header("x-auth-client-id"), ["spa-client"]);
    let other = token_for(r#""another-client""#);
    assert_invalid_token(&get_with(&s, "/x", &other).await, &other);
}

/// A signed token whose identity claims cannot be forwarded as they are is refused, not
/// forwarded with a header missing (CR LF in `sub`) or misread (a comma in a group).
#[tokio::test]
async fn claims_the_identity_headers_cannot_carry_are_401() {
    let s = setup("").await;
    let header = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, s.key.kid);
    let exp = tokens::now() + 600;
    for claims in [
        r#""sub":"u\r\nX-Auth-Groups: admin""#,
        r#""sub":"u","cognito:groups":["x,admin"]"#,
    ] {
        let payload = format!(
            r#"{{{claims},"iss":"{ISSUER}","token_use":"access","client_id":"{CLIENT}","exp":{exp}}}"#
        );
        let token = tokens::raw(&s.key, &header, &payload);
        assert_invalid_token(&get_with(&s, "/api/x", &token).await, &token);
    }
    assert!(s.up.requests().is_empty());
}
