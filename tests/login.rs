//! `[login]`: browsers signed in through the managed-login stand-in (`cognigate::standin`,
//! Cognito-shaped), sessions in sealed cookies, refresh on the request, logout, and the
//! bad input around them. The client here is a small cookie-keeping "browser" over real
//! sockets; `tests/browser.rs` runs the same flow in headless Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use cognigate::standin::{StandIn, StandInConfig};
use std::net::SocketAddr;
use std::time::Duration;
use support::echo::{self, Echo};
use support::http;
use support::jar::{Browser, NAVIGATE, location, query_param};
use support::proxy::{self, TestProxy};
use support::tokens;

const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Login1";
const CLIENT: &str = "loginclient";
/// base64 of 32 bytes.
const SECRET: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

struct Setup {
    key: cognigate::mint::DevKey,
    idp: StandIn,
    proxy: TestProxy,
    echo: Echo,
}

impl Setup {
    fn url(&self, path: &str) -> String {
        self.proxy.url(path)
    }
}

fn standin_config(access_ttl: Duration, rotate: bool) -> StandInConfig {
    let mut cfg = StandInConfig::new(ISSUER, CLIENT);
    cfg.access_ttl = access_ttl;
    cfg.rotate_refresh_tokens = rotate;
    cfg
}

/// The proxy's config in front of `echo`, signing in at `domain`, whose keys are at
/// `jwks_uri`. `extra` goes into `[login]`.
fn config(echo: &Echo, domain: &str, jwks_uri: &str, extra: &str, mode: &str) -> String {
    let upstream = match mode {
        "proxy" => format!("[upstream]\nurl = \"{}\"\n", echo.url()),
        _ => "mode = \"forward_auth\"\n".to_owned(),
    };
    format!(
        r#"
{upstream}
[jwks]
fetch_timeout = "1s"

[token]
leeway = "0s"

[[issuers]]
name = "pool"
issuer = "{ISSUER}"
jwks_uri = "{jwks_uri}"
client_ids = ["{CLIENT}"]

[login]
domain = "{domain}"
client_id = "{CLIENT}"
cookie_secrets = ["{SECRET}"]
cookie_secure = false
logout_redirect = "http://127.0.0.1:1/signed-out"
{extra}

[[routes]]
path = "/public/**"
auth = "public"

[[routes]]
path = "/api/**"
login = false

[[routes]]
path = "/admin/**"
groups_any = ["admin"]

[[routes]]
path = "/fresh/**"
max_age = "2s"

[[routes]]
path = "/**"
"#
    )
}

async fn setup_with(idp_cfg: StandInConfig, extra: &str) -> Setup {
    let echo = echo::start().await;
    let key = tokens::key();
    let idp = StandIn::start(idp_cfg, key.clone()).await.unwrap();
    let proxy = proxy::start(&config(&echo, &idp.url(), &idp.jwks_uri(), extra, "proxy")).await;
    Setup {
        key,
        idp,
        proxy,
        echo,
    }
}

async fn setup() -> Setup {
    setup_with(standin_config(Duration::from_secs(3600), false), "").await
}

/// Signs `user` in from a navigation to `path`; returns the browser with its session.
async fn signed_in(s: &Setup, path: &str, user: &str) -> Browser {
    let mut browser = Browser::default();
    let first = browser.navigate(&s.url(path)).await;
    assert_eq!(first.status, 302, "{}", first.body);
    let back = browser.sign_in_at(&location(&first), user).await;
    assert_eq!(back.status, 302, "the callback: {}", back.body);
    assert_eq!(location(&back), path);
    browser
}

#[tokio::test]
async fn a_navigation_signs_in_and_lands_back_with_the_identity_at_the_upstream() {
    let s = setup().await;
    let mut browser = Browser::default();
    let first = browser.navigate(&s.url("/app/page?x=1&y=%2F")).await;
    assert_eq!(first.status, 302, "{}", first.body);
    let authorize = location(&first);
    assert!(
        authorize.starts_with(&format!("{}/oauth2/authorize?", s.idp.url())),
        "{authorize}"
    );
    for (name, value) in [
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", &s.url("/oauth2/callback")),
        ("scope", "openid email profile"),
        ("code_challenge_method", "S256"),
    ] {
        assert_eq!(
            query_param(&authorize, name).as_deref(),
            Some(value),
            "{name} in {authorize}"
        );
    }
    for name in ["state", "nonce", "code_challenge"] {
        assert!(
            query_param(&authorize, name).is_some_and(|v| v.len() >= 43),
            "{name}"
        );
    }
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let state_cookie = first.header("set-cookie").unwrap();
    assert!(
        state_cookie.contains("HttpOnly") && state_cookie.contains("Path=/oauth2/callback"),
        "{state_cookie}"
    );

    let back = browser.sign_in_at(&authorize, "alice").await;
    assert_eq!(back.status, 302, "{}", back.body);
    assert_eq!(location(&back), "/app/page?x=1&y=%2F");
    let set: Vec<&str> = back
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with("cognigate_session=")
            && c.contains("HttpOnly")
            && c.contains("Path=/")
            && c.contains("SameSite=Lax")),
        "{set:?}"
    );
    assert!(
        set.iter()
            .any(|c| c.contains("_login_") && c.contains("Max-Age=0")),
        "the state cookie is cleared: {set:?}"
    );

    let page = browser.navigate(&s.url("/app/page?x=1")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let seen = s.echo.last();
    assert_eq!(seen.header("x-auth-username"), ["alice"]);
    assert_eq!(seen.header("x-auth-email"), ["alice@example.com"]);
    assert_eq!(seen.header("x-auth-token-use"), ["access"]);
    assert_eq!(seen.header("x-auth-client-id"), [CLIENT]);
    assert!(
        seen.header("authorization").is_empty(),
        "pass_access_token is off"
    );
    let cookies = seen.header("cookie").join("; ");
    assert!(
        !cookies.contains("cognigate_session"),
        "the sealed session never reaches the upstream: {cookies}"
    );

    // A script on the page calls an API route with the session cookie: no redirect.
    let api = browser.fetch(&s.url("/api/orders")).await;
    assert_eq!(api.status, 200, "{}", api.body);
    assert_eq!(s.echo.last().header("x-auth-username"), ["alice"]);
    // Route rules apply to the session's access token: alice is in no admin group.
    let admin = browser.navigate(&s.url("/admin/")).await;
    assert_eq!(
        admin.status, 403,
        "a 403 is never redirected: {}",
        admin.body
    );
}

/// A request (method, path, headers) and the status it gets.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], u16);

#[tokio::test]
async fn only_navigations_are_sent_to_sign_in() {
    let s = setup().await;
    let cases: [Case; 6] = [
        (
            "GET",
            "/app",
            &[("sec-fetch-mode", "cors"), ("accept", "text/html")],
            401,
        ),
        ("GET", "/app", &[("accept", "application/json")], 401),
        ("POST", "/app", &NAVIGATE, 401),
        (
            "GET",
            "/app",
            &[("accept", "text/html,application/xhtml+xml")],
            302,
        ),
        ("HEAD", "/app", &[("sec-fetch-mode", "navigate")], 302),
        ("GET", "/api/x", &NAVIGATE, 401), // login = false on this route
    ];
    for (method, path, headers, status) in cases {
        let reply = http::send(method, &s.url(path), headers, None).await;
        assert_eq!(
            reply.status, status,
            "{method} {path} {headers:?}: {}",
            reply.body
        );
        if status == 401 {
            assert_eq!(
                reply.header("www-authenticate"),
                Some("Bearer realm=\"cognigate\"")
            );
            assert!(reply.header("location").is_none());
        }
    }
}

#[tokio::test]
async fn bearer_tokens_keep_working_and_a_bad_one_never_falls_back_to_the_session() {
    let s = setup().await;
    let mut browser = signed_in(&s, "/app", "alice").await;
    let spec = cognigate::mint::TokenSpec {
        issuer: ISSUER.into(),
        client_id: CLIENT.into(),
        ..tokens::access("bob-sub", &[])
    };
    let token = tokens::sign(&s.key, &spec);
    let auth = format!("Bearer {token}");
    let reply = http::get(&s.url("/api/x"), &[("authorization", &auth)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(s.echo.last().header("x-auth-sub"), ["bob-sub"]);
    let reply = browser
        .send(
            "GET",
            &s.url("/app"),
            &[("authorization", "Bearer not.a.token")],
            None,
        )
        .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.json()["error"], "invalid_token");
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_on_the_request_and_rotation_is_followed() {
    let s = setup_with(standin_config(Duration::from_secs(2), true), "").await;
    let mut browser = signed_in(&s, "/app", "alice").await;
    let before = browser.cookies.clone();
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let reply = browser.fetch(&s.url("/api/x")).await;
    assert_eq!(
        reply.status, 200,
        "refreshed in place, no redirect: {}",
        reply.body
    );
    assert!(
        reply
            .header("set-cookie")
            .is_some_and(|c| c.starts_with("cognigate_session="))
    );
    assert_ne!(browser.cookies, before, "a new session is set");
    assert_eq!(s.echo.last().header("x-auth-username"), ["alice"]);
    // The next request uses the new session without another refresh.
    let again = browser.fetch(&s.url("/api/x")).await;
    assert_eq!(again.status, 200);
    assert!(again.header("set-cookie").is_none(), "no refresh needed");
    // A request still carrying the old cookie (sent in parallel) gets the same refresh.
    let mut stale = Browser { cookies: before };
    let reply = stale.fetch(&s.url("/api/x")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Past the sharing window the rotated-out refresh token is refused: that session ends.
    let metrics = http::get(&s.proxy.admin_url("/metrics"), &[]).await.body;
    assert!(
        metrics.contains("cognigate_session_refreshes_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cognigate_logins_total{result=\"ok\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_failed_refresh_ends_the_session() {
    let s = setup_with(standin_config(Duration::from_secs(2), false), "").await;
    let mut browser = signed_in(&s, "/app", "alice").await;
    // Sign out elsewhere: the refresh token is revoked at the provider.
    let mut other = browser.clone();
    let out = other.navigate(&s.url("/oauth2/logout")).await;
    assert_eq!(out.status, 302);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let api = browser.fetch(&s.url("/api/x")).await;
    assert_eq!(api.status, 401, "{}", api.body);
    assert!(
        browser.session_cookies().is_empty(),
        "the session is cleared"
    );
    let page = browser.navigate(&s.url("/app")).await;
    assert_eq!(page.status, 302, "sent to sign in again");
    let metrics = http::get(&s.proxy.admin_url("/metrics"), &[]).await.body;
    assert!(
        metrics.contains("cognigate_session_refreshes_total{result=\"error\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn logout_revokes_clears_every_cookie_and_ends_at_cognitos_logout() {
    let s = setup().await;
    let mut browser = signed_in(&s, "/app", "alice").await;
    assert!(!browser.session_cookies().is_empty());
    let saved = browser.cookies.clone();
    let out = browser
        .send("POST", &s.url("/oauth2/logout"), &[], None)
        .await;
    assert_eq!(out.status, 302, "{}", out.body);
    let to = location(&out);
    assert!(to.starts_with(&format!("{}/logout?", s.idp.url())), "{to}");
    assert_eq!(query_param(&to, "client_id").as_deref(), Some(CLIENT));
    assert_eq!(
        query_param(&to, "logout_uri").as_deref(),
        Some("http://127.0.0.1:1/signed-out")
    );
    assert!(
        out.headers
            .get_all("set-cookie")
            .iter()
            .all(|c| c.to_str().unwrap().contains("Max-Age=0"))
    );
    assert!(browser.session_cookies().is_empty());
    // The stand-in's own sign-in cookie goes at its /logout: the next sign-in asks again.
    let idp_out = browser.navigate(&to).await;
    assert_eq!(idp_out.status, 302);
    let page = browser.navigate(&s.url("/app")).await;
    assert_eq!(page.status, 302);
    let picker = browser.navigate(&location(&page)).await;
    assert_eq!(
        picker.status, 200,
        "the picker again, not straight back: {}",
        picker.body
    );
    let _ = saved;
}

#[tokio::test]
async fn callback_bad_input_gets_a_clear_answer_and_no_session() {
    let s = setup().await;
    // No state, unknown state, provider error.
    let mut b = Browser::default();
    let r = b.navigate(&s.url("/oauth2/callback?code=abc")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = b
        .navigate(&s.url("/oauth2/callback?code=abc&state=nope"))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "login_failed");
    let r = b
        .navigate(
            &s.url("/oauth2/callback?error=access_denied&error_description=User+cancelled&state=x"),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("access_denied")
    );

    // A state from another browser: the cookie is not there.
    let mut a = Browser::default();
    let first = a.navigate(&s.url("/app")).await;
    let authorize = location(&first);
    let back = a.pick(&authorize, "alice").await;
    let callback = location(&back);
    let r = Browser::default().navigate(&callback).await;
    assert_eq!(
        r.status, 400,
        "the state cookie belongs to another browser: {}",
        r.body
    );

    // The right browser gets in once; the replayed code is refused.
    let ok = a.navigate(&callback).await;
    assert_eq!(ok.status, 302, "{}", ok.body);
    let mut replay = Browser::default();
    let first = replay.navigate(&s.url("/app")).await;
    let state = query_param(&location(&first), "state").unwrap();
    let code = query_param(&callback, "code").unwrap();
    let r = replay
        .navigate(&s.url(&format!("/oauth2/callback?code={code}&state={state}")))
        .await;
    assert_eq!(r.status, 400, "a used code: {}", r.body);
    assert!(replay.session_cookies().is_empty());
    let metrics = http::get(&s.proxy.admin_url("/metrics"), &[]).await.body;
    assert!(
        metrics.contains("cognigate_logins_total{result=\"invalid_grant\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cognigate_logins_total{result=\"bad_state\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_id_token_with_another_nonce_makes_no_session() {
    let s = setup().await;
    let mut b = Browser::default();
    let first = b.navigate(&s.url("/app")).await;
    let authorize = location(&first);
    // The same PKCE challenge and state, another nonce: the code exchange succeeds, the
    // id token names the wrong nonce.
    let nonce = query_param(&authorize, "nonce").unwrap();
    let forged = authorize.replace(&format!("nonce={nonce}"), "nonce=someone-elses");
    assert_ne!(forged, authorize);
    let back = b.pick(&forged, "alice").await;
    let r = b.navigate(&location(&back)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.json()["message"].as_str().unwrap().contains("nonce"),
        "{}",
        r.body
    );
    assert!(b.session_cookies().is_empty());
}

#[tokio::test]
async fn tokens_from_another_issuer_or_codes_from_another_provider_make_no_session() {
    let s = setup().await;
    // A provider for the same client that signs as another issuer.
    let mut other_cfg = standin_config(Duration::from_secs(3600), false);
    other_cfg.issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other".into();
    let other = StandIn::start(other_cfg, tokens::key()).await.unwrap();
    let proxy = proxy::start(&config(
        &s.echo,
        &other.url(),
        &s.idp.jwks_uri(),
        "",
        "proxy",
    ))
    .await;
    let mut b = Browser::default();
    let first = b.navigate(&proxy.url("/app")).await;
    let back = b.sign_in_at(&location(&first), "alice").await;
    assert_eq!(back.status, 401, "{}", back.body);
    assert!(b.session_cookies().is_empty());

    // A code the configured provider never issued (the other one did).
    let mut b = Browser::default();
    let first = b.navigate(&s.url("/app")).await;
    let authorize = location(&first).replace(&s.idp.url(), &other.url());
    let back = b.pick(&authorize, "alice").await;
    let r = b.navigate(&location(&back)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(b.session_cookies().is_empty());
}

#[tokio::test]
async fn open_redirects_are_refused_in_the_return_path() {
    let s = setup().await;
    for rd in [
        "//evil.example/x",
        "/\\evil.example",
        "https://evil.example/",
        "%2F%2Fevil.example",
    ] {
        let mut b = Browser::default();
        let start = b.navigate(&s.url(&format!("/oauth2/start?rd={rd}"))).await;
        assert_eq!(start.status, 302, "{rd}: {}", start.body);
        let back = b.sign_in_at(&location(&start), "alice").await;
        assert_eq!(back.status, 302);
        assert_eq!(location(&back), "/", "{rd}");
    }
    let mut b = Browser::default();
    let start = b
        .navigate(&s.url("/oauth2/start?rd=%2Fapp%2Fx%3Fq%3D1"))
        .await;
    let back = b.sign_in_at(&location(&start), "alice").await;
    assert_eq!(location(&back), "/app/x?q=1");
}

#[tokio::test]
async fn a_tampered_truncated_or_foreign_session_cookie_is_no_session() {
    let s = setup().await;
    let browser = signed_in(&s, "/app", "alice").await;
    let value = browser.cookies["cognigate_session"].clone();
    let mut flipped = value.clone().into_bytes();
    flipped[20] = if flipped[20] == b'A' { b'B' } else { b'A' };
    let foreign = {
        // The same session sealed by a proxy with another secret.
        let other = proxy::start(
            &config(&s.echo, &s.idp.url(), &s.idp.jwks_uri(), "", "proxy")
                .replace(SECRET, "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="),
        )
        .await;
        let b = signed_in_at(&other, &s).await;
        b.cookies["cognigate_session"].clone()
    };
    for bad in [
        String::from_utf8(flipped).unwrap(),
        value[..value.len() / 2].to_owned(),
        foreign,
        "A".repeat(30_000),
    ] {
        let mut b = Browser::default();
        b.cookies.insert("cognigate_session".into(), bad.clone());
        let r = b.fetch(&s.url("/app")).await;
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(
            r.headers
                .get_all("set-cookie")
                .iter()
                .any(|c| c.to_str().unwrap().starts_with("cognigate_session=;")),
            "cleared"
        );
        let r = b.navigate(&s.url("/app")).await;
        assert_eq!(r.status, 302);
    }
}

async fn signed_in_at(p: &TestProxy, s: &Setup) -> Browser {
    let _ = s;
    let mut browser = Browser::default();
    let first = browser.navigate(&p.url("/app")).await;
    let back = browser.sign_in_at(&location(&first), "alice").await;
    assert_eq!(back.status, 302, "{}", back.body);
    browser
}

/// A token endpoint that is down, slow or answers garbage: the callback says so (502 or
/// 504) and makes no session.
#[tokio::test]
async fn a_failing_token_endpoint_gets_a_gateway_error_and_no_session() {
    let echo = echo::start().await;
    let jwks = support::jwks_server::start(&tokens::key().jwks_json).await;
    for (behaviour, status) in [
        ("closed", 502),
        ("silent", 504),
        ("garbage", 502),
        ("html500", 502),
    ] {
        let fake = fake_token_endpoint(behaviour).await;
        let p = proxy::start(&config(
            &echo,
            &format!("http://{fake}"),
            &jwks.uri(),
            "",
            "proxy",
        ))
        .await;
        let mut b = Browser::default();
        let first = b.navigate(&p.url("/app")).await;
        let state = query_param(&location(&first), "state").unwrap();
        let started = std::time::Instant::now();
        let r = b
            .navigate(&p.url(&format!("/oauth2/callback?code=c&state={state}")))
            .await;
        assert_eq!(r.status, status, "{behaviour}: {}", r.body);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "bounded by fetch_timeout"
        );
        assert!(b.session_cookies().is_empty());
        p.stop().await;
    }
}

/// `closed`: nothing listens; `silent`: accepts and never answers; `garbage`: 200 with
/// a body that is no token answer; `html500`: a 500 page.
async fn fake_token_endpoint(behaviour: &'static str) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    if behaviour == "closed" {
        drop(listener);
        return addr;
    }
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let reply: &[u8] = match behaviour {
                    "garbage" => b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!",
                    "html500" => {
                        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 6\r\n\r\n<html>"
                    }
                    _ => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                };
                let _ = conn.write_all(reply).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn forward_auth_redirects_for_traefik_and_envoy_and_answers_401_to_ingress_nginx() {
    let echo = echo::start().await;
    let idp = StandIn::start(
        standin_config(Duration::from_secs(3600), false),
        tokens::key(),
    )
    .await
    .unwrap();
    let p = proxy::start(&config(
        &echo,
        &idp.url(),
        &idp.jwks_uri(),
        "",
        "forward_auth",
    ))
    .await;
    let check = p.url("/auth");
    // Traefik: the original request in X-Forwarded-*; its non-2xx answer reaches the browser.
    let traefik = [
        ("x-forwarded-method", "GET"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example.com"),
        ("x-forwarded-uri", "/dash?tab=2"),
        ("sec-fetch-mode", "navigate"),
    ];
    let r = http::get(&check, &traefik).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let to = location(&r);
    assert_eq!(
        query_param(&to, "redirect_uri").as_deref(),
        Some("http://app.example.com/oauth2/callback")
    );
    // ingress-nginx: 401 (its auth-signin annotation sends the browser to start_path).
    let nginx = [
        ("x-original-method", "GET"),
        ("x-original-url", "https://app.example.com/dash"),
        ("sec-fetch-mode", "navigate"),
    ];
    let r = http::get(&check, &nginx).await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Envoy: the check is the request itself.
    let r = http::get(&p.url("/dash"), &NAVIGATE).await;
    assert_eq!(r.status, 302);

    // The whole flow through Traefik-style checks: start, callback, then a 200 check
    // with the identity.
    let mut b = Browser::default();
    let start = b.navigate(&p.url("/oauth2/start?rd=/dash")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let back = b.sign_in_at(&location(&start), "alice").await;
    assert_eq!(back.status, 302, "{}", back.body);
    assert_eq!(location(&back), "/dash");
    let ok = b
        .send(
            "GET",
            &check,
            &[
                ("x-forwarded-uri", "/dash"),
                ("x-forwarded-method", "GET"),
                ("x-forwarded-host", "x"),
            ],
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.header("x-auth-username"), Some("alice"));
    assert_eq!(ok.header("x-auth-email"), Some("alice@example.com"));
}

#[tokio::test]
async fn pass_access_token_sends_the_session_token_upstream() {
    let s = setup_with(
        standin_config(Duration::from_secs(3600), false),
        "pass_access_token = true",
    )
    .await;
    let mut browser = signed_in(&s, "/app", "alice").await;
    let r = browser.fetch(&s.url("/api/x")).await;
    assert_eq!(r.status, 200);
    let auth = s.echo.last().header("authorization").join("");
    assert!(auth.starts_with("Bearer ey"), "{auth}");
}

/// `explain` reports the token source (session or bearer) and, with `[login]`, that a
/// navigation would be sent to sign in; it never refreshes a session.
#[tokio::test(flavor = "multi_thread")]
async fn explain_names_the_token_source_and_the_sign_in_redirect() {
    let s = setup().await;
    let browser = signed_in(&s, "/app", "alice").await;
    let config = s.proxy.dir.path().join("cognigate.toml");
    let explain = |extra: &[&str]| {
        let mut args = vec!["explain", "--config", config.to_str().unwrap(), "--fetch"];
        args.extend(extra);
        let out = std::process::Command::new(proxy::binary_path())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let cookie = browser.cookie_header();
    let with_session = tokio::task::block_in_place(|| {
        explain(&["--cookie", &cookie, "GET", "http://app.example/app"])
    });
    assert!(
        with_session.contains("token source: the browser session"),
        "{with_session}"
    );
    assert!(with_session.contains("decision: allowed"), "{with_session}");
    assert!(with_session.contains("alice"), "{with_session}");

    let without = tokio::task::block_in_place(|| explain(&["GET", "http://app.example/app"]));
    assert!(without.contains("only a browser navigation"), "{without}");
    assert!(without.contains("decision: 401"), "{without}");

    let broken = tokio::task::block_in_place(|| {
        explain(&[
            "--cookie",
            "cognigate_session=garbage",
            "GET",
            "http://app.example/app",
        ])
    });
    assert!(broken.contains("does not open"), "{broken}");

    let spec = cognigate::mint::TokenSpec {
        issuer: ISSUER.into(),
        client_id: CLIENT.into(),
        ..tokens::access("bob-sub", &[])
    };
    let token = tokens::sign(&s.key, &spec);
    let bearer = tokio::task::block_in_place(|| {
        explain(&[
            "--token",
            &token,
            "--cookie",
            &cookie,
            "GET",
            "http://app.example/app",
        ])
    });
    assert!(bearer.contains("(Authorization: Bearer)"), "{bearer}");
    assert!(
        !bearer.contains("token source: the browser session"),
        "{bearer}"
    );
}

/// Session contents never reach a log line: the real binary at debug level through a
/// sign-in, a refresh, a failed callback, a tampered cookie and a logout; no line holds
/// the code, the state, a cookie value or the access token.
#[tokio::test(flavor = "multi_thread")]
async fn no_log_line_holds_a_token_a_code_or_a_cookie() {
    let echo = echo::start().await;
    let key = tokens::key();
    let idp = StandIn::start(standin_config(Duration::from_secs(2), true), key)
        .await
        .unwrap();
    let body = config(
        &echo,
        &idp.url(),
        &idp.jwks_uri(),
        "pass_access_token = true",
        "proxy",
    );
    let (_dir, path) = proxy::write_config(&body);
    let bin = tokio::task::block_in_place(|| {
        proxy::spawn_binary(&path, &[("RUST_LOG", "debug,hyper=debug,h2=debug")])
    });
    http::wait_ready(bin.admin).await;
    let mut secrets: Vec<String> = Vec::new();
    let mut browser = Browser::default();
    let first = browser.navigate(&bin.url("/app")).await;
    let authorize = location(&first);
    secrets.push(query_param(&authorize, "state").unwrap());
    let back = browser.pick(&authorize, "alice").await;
    let callback = location(&back);
    secrets.push(query_param(&callback, "code").unwrap());
    let landed = browser.navigate(&callback).await;
    assert_eq!(landed.status, 302, "{}", landed.body);
    secrets.extend(browser.cookies.values().filter(|v| v.len() > 20).cloned());
    let ok = browser.fetch(&bin.url("/api/x")).await;
    assert_eq!(ok.status, 200);
    let token = echo.last().header("authorization").join("");
    secrets.push(token.trim_start_matches("Bearer ").to_owned());
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let refreshed = browser.fetch(&bin.url("/api/x")).await;
    assert_eq!(refreshed.status, 200);
    secrets.extend(browser.cookies.values().filter(|v| v.len() > 20).cloned());
    let replay = browser.navigate(&callback).await;
    assert_eq!(replay.status, 400);
    let mut tampered = browser.clone();
    tampered
        .cookies
        .insert("cognigate_session".into(), format!("{}x", secrets[2]));
    let _ = tampered.fetch(&bin.url("/api/x")).await;
    let out = browser.navigate(&bin.url("/oauth2/logout")).await;
    assert_eq!(out.status, 302);
    let _ = bin.log_line(&["\"status\":302", "/oauth2/logout"]).await;
    let logs = bin.logs();
    assert!(logs.len() > 8, "{logs:#?}");
    for secret in &secrets {
        // Any 24-character window of the secret would do to rebuild or replay it.
        let probe = &secret[..24.min(secret.len())];
        for line in &logs {
            assert!(
                !line.contains(probe),
                "a log line holds a secret ({probe}): {line}"
            );
        }
    }
}

/// `max_age` on a session: a navigation signs in again with `prompt=login`; a session
/// that has just signed in but still carries an old `auth_time` (the provider reused its
/// own session) gets the RFC 9470 401 instead of another redirect.
#[tokio::test]
async fn max_age_signs_a_navigation_in_again_with_prompt_login_and_never_loops() {
    let s = setup().await;
    let mut browser = signed_in(&s, "/fresh/x", "alice").await;
    let page = browser.navigate(&s.url("/fresh/x")).await;
    assert_eq!(page.status, 200, "a fresh sign-in: {}", page.body);
    // auth_time has whole seconds: 3.2 s is past max_age = 2s wherever in its second it fell.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let api = browser.fetch(&s.url("/fresh/x")).await;
    assert_eq!(api.status, 401, "{}", api.body);
    assert_eq!(
        api.header("www-authenticate"),
        Some("Bearer realm=\"cognigate\", error=\"insufficient_user_authentication\", max_age=2")
    );
    let again = browser.navigate(&s.url("/fresh/x")).await;
    assert_eq!(again.status, 302, "{}", again.body);
    let authorize = location(&again);
    assert_eq!(
        query_param(&authorize, "prompt").as_deref(),
        Some("login"),
        "{authorize}"
    );
    let back = browser.sign_in_at(&authorize, "alice").await;
    assert_eq!(back.status, 302, "{}", back.body);
    let page = browser.navigate(&s.url("/fresh/x")).await;
    assert_eq!(page.status, 200, "signed in again: {}", page.body);

    // The provider's own session (no prompt=login) brings back the old auth_time.
    // auth_time has whole seconds: 3.2 s is past max_age = 2s wherever in its second it fell.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let start = browser.navigate(&s.url("/oauth2/start?rd=/fresh/x")).await;
    let straight_back = browser.navigate(&location(&start)).await;
    assert_eq!(straight_back.status, 302, "the stand-in remembers alice");
    let landed = browser.navigate(&location(&straight_back)).await;
    assert_eq!(landed.status, 302, "{}", landed.body);
    let page = browser.navigate(&s.url("/fresh/x")).await;
    assert_eq!(
        page.status, 401,
        "a new session, still an old sign-in: no loop: {}",
        page.body
    );
}

/// `[resource] audience = true` with `[login]`: the sign-in asks the provider for the
/// resource (RFC 8707, Cognito's resource binding), the stand-in puts it in the access
/// token's `aud`, and the session passes the audience check that a token without it fails.
#[tokio::test]
async fn a_session_is_bound_to_the_resource_when_audience_is_on() {
    const RESOURCE: &str = "https://api.example.com/mcp";
    let extra = format!("\n[resource]\nurl = \"{RESOURCE}\"\naudience = true\n");
    let echo = echo::start().await;
    let key = tokens::key();
    let idp = StandIn::start(
        standin_config(Duration::from_secs(3600), false),
        key.clone(),
    )
    .await
    .unwrap();
    // `[resource]` goes after the routes: the config ends with `[[routes]]` tables.
    let body = config(&echo, &idp.url(), &idp.jwks_uri(), "", "proxy") + &extra;
    let p = proxy::start(&body).await;
    let mut browser = Browser::default();
    let first = browser.navigate(&p.url("/app")).await;
    assert_eq!(first.status, 302, "{}", first.body);
    let authorize = location(&first);
    assert_eq!(
        query_param(&authorize, "resource").as_deref(),
        Some(RESOURCE)
    );
    let back = browser.sign_in_at(&authorize, "alice").await;
    assert_eq!(back.status, 302, "{}", back.body);
    let page = browser.fetch(&p.url("/api/x")).await;
    assert_eq!(
        page.status, 200,
        "the session's token is for this resource: {}",
        page.body
    );
    let claims = echo.last().header("x-auth-claims").join("");
    let claims =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap();
    assert_eq!(claims["aud"], RESOURCE, "{claims}");
    // A bearer token of the same pool without `aud` is refused.
    let spec = cognigate::mint::TokenSpec {
        issuer: ISSUER.into(),
        client_id: CLIENT.into(),
        ..tokens::access("bob-sub", &[])
    };
    let auth = format!("Bearer {}", tokens::sign(&key, &spec));
    let r = http::get(&p.url("/api/x"), &[("authorization", &auth)]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("aud"), "{}", r.body);
}
