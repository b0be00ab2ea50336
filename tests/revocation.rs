//! Revocation and freshness end to end: the revocation file (watched, reloaded, invalid
//! lines skipped), the admin API, the online check against a fake Cognito we own
//! (counting its `GetUser` calls), per-route `max_age` (RFC 9470), their metrics, and
//! `explain`. The same check against moto's Cognito is in `cognito_e2e.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use bytes::Bytes;
use cognigate::mint::DevKey;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::tokens::{self, CLIENT, ISSUER, bearer};
use support::{echo, http, jwks_server, proxy};

const ADMIN_SCOPE: &str = "aws.cognito.signin.user.admin";

fn config(upstream: &str, jwks_uri: &str, extra_issuer: &str, extra: &str) -> String {
    format!(
        r#"
[upstream]
url = "{upstream}"

[[issuers]]
name = "main"
issuer = "{ISSUER}"
jwks_uri = "{jwks_uri}"
client_ids = ["{CLIENT}"]
token_use = ["access", "id"]
{extra_issuer}

[[routes]]
path = "/fresh/**"
max_age = "15m"

[[routes]]
path = "/**"

{extra}
"#
    )
}

/// An access token of `sub` with these extra claims.
fn token(key: &DevKey, sub: &str, claims: &[(&str, Value)]) -> String {
    let mut spec = tokens::access(sub, &[]);
    spec.claims = claims
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    tokens::sign(key, &spec)
}

async fn get(p: &proxy::TestProxy, path: &str, token: &str) -> http::Reply {
    http::get(&p.url(path), &[("authorization", &bearer(token))]).await
}

/// Polls until `path` with `token` answers `status` (bounded: 15 s); returns how long
/// that took.
async fn until_status(p: &proxy::TestProxy, path: &str, token: &str, status: u16) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if get(p, path, token).await.status == status {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never answered {status}");
}

async fn metrics(p: &proxy::TestProxy) -> String {
    http::get(&p.admin_url("/metrics"), &[]).await.body
}

fn metric_line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
}

fn write(path: &Path, text: &str) {
    // Written whole, then renamed over: the watcher never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

const REVOKED: &str =
    "Bearer realm=\"cognigate\", error=\"invalid_token\", error_description=\"token revoked\"";

#[tokio::test]
async fn file_entries_refuse_cached_tokens_and_reloads_apply_with_bad_lines_skipped() {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let up = echo::start().await;
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("revoked.jsonl");
    // Line 1 is invalid (skipped), line 2 applies at once.
    write(&file, "{\"jti\": 7}\n{\"origin_jti\":\"signin-1\"}\n");
    let extra = format!("[revocation]\nfile = \"{}\"\n", file.display());
    let p = proxy::start(&config(&up.url(), &jwks.uri(), "", &extra)).await;
    http::wait_ready(p.admin).await;

    let first_signin = token(&key, "ann", &[("origin_jti", "signin-1".into())]);
    let r = get(&p, "/api", &first_signin).await;
    assert_eq!(r.status, 401, "denied from the first request");
    assert_eq!(r.header("www-authenticate"), Some(REVOKED));
    assert_eq!(r.json()["error"], "invalid_token");

    // A token used (and so cached) before its jti is denied is refused once the file
    // changes, within the watcher's debounce.
    let used = token(&key, "bob", &[("jti", "jti-used".into())]);
    assert_eq!(get(&p, "/api", &used).await.status, 200);
    assert_eq!(get(&p, "/api", &used).await.status, 200, "now cached");
    let now = tokens::now();
    let text = format!(
        "{{\"origin_jti\":\"signin-1\"}}\nnot json\n{{\"jti\":\"jti-used\"}}\n{{\"sub\":\"cyd\",\"before\":{}}}\n",
        now - 10
    );
    write(&file, &text);
    let took = until_status(&p, "/api", &used, 401).await;
    assert!(took < Duration::from_secs(5), "reload took {took:?}");
    assert_eq!(get(&p, "/api", &first_signin).await.status, 401, "kept");

    // sub + before: tokens issued before are refused, tokens issued after are not.
    let mut old = tokens::access("cyd", &[]);
    old.now = now - 100;
    let old = tokens::sign(&key, &old);
    assert_eq!(get(&p, "/api", &old).await.status, 401);
    let mut new = tokens::access("cyd", &[]);
    new.now = now;
    assert_eq!(get(&p, "/api", &tokens::sign(&key, &new)).await.status, 200);

    let m = metrics(&p).await;
    assert_eq!(
        metric_line(&m, "cognigate_revocations{kind=\"jti\"}"),
        "cognigate_revocations{kind=\"jti\"} 1"
    );
    assert!(m.contains("cognigate_revocations{kind=\"sub\"} 1"), "{m}");
    assert!(
        m.contains("cognigate_revocations{kind=\"origin_jti\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("cognigate_auth_failures_total{reason=\"revoked\"} 4"),
        "{m}"
    );

    // Emptied: the entries no longer apply.
    write(&file, "\n");
    until_status(&p, "/api", &used, 200).await;
    p.stop().await;
}

#[tokio::test]
async fn an_unreadable_revocation_file_stops_the_start() {
    let (_dir, path) = proxy::write_config(&config(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9/j",
        "",
        "[revocation]\nfile = \"/nonexistent/revoked.jsonl\"\n",
    ));
    let err = cognigate::app::start_from_file(&path).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("revocation.file: cannot read /nonexistent/revoked.jsonl"),
        "{err:#}"
    );
}

#[tokio::test]
async fn the_admin_api_adds_and_lists_entries_only_when_enabled() {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let up = echo::start().await;
    let cfg = config(
        &up.url(),
        &jwks.uri(),
        "",
        "[revocation]\nadmin_api = true\n",
    );
    let p = proxy::start(&cfg).await;
    http::wait_ready(p.admin).await;
    let t = token(&key, "ann", &[("origin_jti", "s-9".into())]);
    assert_eq!(get(&p, "/api", &t).await.status, 200);

    let url = p.admin_url("/revocations");
    let post = |body: &'static str| {
        let url = url.clone();
        async move { http::send("POST", &url, &[], Some(body)).await }
    };
    let r = post(r#"{"origin_jti":"s-9"}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["added"], true);
    assert_eq!(get(&p, "/api", &t).await.status, 401, "cached, yet refused");
    assert_eq!(post(r#"{"origin_jti":"s-9"}"#).await.json()["added"], false);
    let bad = post(r#"{"sub":"no-before"}"#).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "bad_request");
    assert_eq!(post("{}{}{}").await.status, 400);
    let listed = http::get(&url, &[]).await.json();
    assert_eq!(listed["api"], serde_json::json!([{"origin_jti": "s-9"}]));
    assert_eq!(listed["file"], serde_json::json!([]));
    p.stop().await;

    let off = proxy::start(&config(&up.url(), &jwks.uri(), "", "")).await;
    let r = http::send("POST", &off.admin_url("/revocations"), &[], Some("{}")).await;
    assert_eq!(r.status, 404, "admin_api is off by default");
    off.stop().await;
}

#[tokio::test]
async fn max_age_refuses_an_old_sign_in_with_the_rfc_9470_challenge() {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), &jwks.uri(), "", "")).await;
    http::wait_ready(p.admin).await;
    let now = tokens::now();
    let old = token(&key, "ann", &[("auth_time", (now - 3600).into())]);
    let r = get(&p, "/fresh/x", &old).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"cognigate\", error=\"insufficient_user_authentication\", max_age=900")
    );
    assert_eq!(r.json()["error"], "insufficient_user_authentication");
    assert_eq!(
        get(&p, "/other", &old).await.status,
        200,
        "no max_age there"
    );
    let recent = token(&key, "ann", &[("auth_time", (now - 60).into())]);
    assert_eq!(get(&p, "/fresh/x", &recent).await.status, 200);
    let header = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, key.kid);
    let payload = format!(
        r#"{{"sub":"ann","iss":"{ISSUER}","token_use":"access","client_id":"{CLIENT}","iat":{now},"exp":{}}}"#,
        now + 3600
    );
    let without = tokens::raw(&key, &header, &payload);
    assert_eq!(get(&p, "/other", &without).await.status, 200, "valid");
    assert_eq!(
        get(&p, "/fresh/x", &without).await.status,
        401,
        "no auth_time: cannot show it is fresh"
    );
    let m = metrics(&p).await;
    assert!(
        m.contains("cognigate_auth_failures_total{reason=\"max_age\"} 2"),
        "{m}"
    );
    p.stop().await;
}

/// A fake Cognito `GetUser`: counts calls, answers after 150 ms as `mode` says.
struct FakeCognito {
    url: String,
    calls: Arc<AtomicUsize>,
    mode: Arc<AtomicU8>,
}

const VALID: u8 = 0;
const REVOKE: u8 = 1;
const DOWN: u8 = 2;

async fn fake_cognito() -> FakeCognito {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let mode = Arc::new(AtomicU8::new(VALID));
    let (c, m) = (calls.clone(), mode.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (c, m) = (c.clone(), m.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: ::http::Request<hyper::body::Incoming>| {
                    let (c, m) = (c.clone(), m.clone());
                    async move {
                        assert_eq!(
                            req.headers()["x-amz-target"],
                            "AWSCognitoIdentityProviderService.GetUser"
                        );
                        c.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(150)).await;
                        let (status, body) = match m.load(Ordering::SeqCst) {
                            VALID => (200, r#"{"Username":"ann","UserAttributes":[]}"#),
                            REVOKE => (
                                400,
                                r#"{"__type":"NotAuthorizedException","message":"Access Token has been revoked"}"#,
                            ),
                            _ => (500, r#"{"__type":"InternalErrorException"}"#),
                        };
                        let resp = ::http::Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::from(body)))
                            .unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    FakeCognito { url, calls, mode }
}

#[tokio::test]
async fn the_online_check_calls_once_per_sign_in_per_ttl_and_fails_open_when_cognito_is_down() {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let up = echo::start().await;
    let cognito = fake_cognito().await;
    let issuer = format!("api_endpoint = \"{}\"", cognito.url);
    let extra = "[revocation]\nonline = true\nonline_ttl = \"2s\"\n";
    let p = Arc::new(proxy::start(&config(&up.url(), &jwks.uri(), &issuer, extra)).await);
    http::wait_ready(p.admin).await;
    let signed_in = |origin: &str| {
        let mut spec = tokens::access("ann", &[]);
        spec.scope = Some(format!("openid {ADMIN_SCOPE}"));
        spec.claims = vec![("origin_jti".into(), origin.into())];
        tokens::sign(&key, &spec)
    };
    let t = signed_in("o-1");

    // Ten concurrent requests of one sign-in share one call.
    let requests: Vec<_> = (0..10)
        .map(|_| {
            let (p, t) = (p.clone(), t.clone());
            tokio::spawn(async move { get(&p, "/api", &t).await.status })
        })
        .collect();
    for r in requests {
        assert_eq!(r.await.unwrap(), 200);
    }
    assert_eq!(cognito.calls.load(Ordering::SeqCst), 1);
    assert_eq!(get(&p, "/api", &t).await.status, 200);
    assert_eq!(
        cognito.calls.load(Ordering::SeqCst),
        1,
        "answer still fresh"
    );

    // Revoked at Cognito: refused once the answer is older than online_ttl.
    cognito.mode.store(REVOKE, Ordering::SeqCst);
    let took = until_status(&p, "/api", &t, 401).await;
    assert!(took <= Duration::from_secs(3), "took {took:?}");
    let r = get(&p, "/api", &t).await;
    assert_eq!(r.header("www-authenticate"), Some(REVOKED));
    let calls = cognito.calls.load(Ordering::SeqCst);
    assert!(calls == 2, "one call per ttl, got {calls}");

    // Cognito down: the last answer stands (revoked stays revoked; a sign-in never
    // answered for is let through), and it is counted.
    cognito.mode.store(DOWN, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(get(&p, "/api", &t).await.status, 401);
    assert_eq!(get(&p, "/api", &signed_in("o-2")).await.status, 200);

    // A token without the admin scope is never checked online.
    let before = cognito.calls.load(Ordering::SeqCst);
    let plain = token(&key, "ann", &[("origin_jti", "o-3".into())]);
    assert_eq!(get(&p, "/api", &plain).await.status, 200);
    assert_eq!(cognito.calls.load(Ordering::SeqCst), before);

    let m = metrics(&p).await;
    assert!(
        m.contains("cognigate_online_checks_total{result=\"valid\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("cognigate_online_checks_total{result=\"revoked\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("cognigate_online_checks_total{result=\"unreachable\"} 2"),
        "{m}"
    );
    Arc::into_inner(p).unwrap().stop().await;
}

#[tokio::test]
async fn explain_shows_revocation_and_freshness_decisions() {
    let key = tokens::key();
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, &key.jwks_json).unwrap();
    let file = dir.path().join("revoked.jsonl");
    std::fs::write(&file, "{\"jti\":\"gone\"}\nbad line\n").unwrap();
    let extra = format!("[revocation]\nfile = \"{}\"\n", file.display());
    let text = config(
        "http://127.0.0.1:9",
        &format!("file://{}", jwks.display()),
        "",
        &extra,
    );
    let (_cfg_dir, cfg) = proxy::write_config(&text);
    let explain = |token: &str, path: &str| {
        let out = std::process::Command::new(proxy::binary_path())
            .args(["explain", "--config", cfg.to_str().unwrap(), "--fetch"])
            .args(["--token", token, "GET", path])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let revoked = explain(&token(&key, "ann", &[("jti", "gone".into())]), "/api");
    assert!(revoked.contains("line 2 skipped"), "{revoked}");
    assert!(
        revoked.contains("FAIL         deny lists: token revoked (by jti)"),
        "{revoked}"
    );
    assert!(revoked.contains("decision: 401"), "{revoked}");
    let old = token(&key, "ann", &[("auth_time", (tokens::now() - 3600).into())]);
    let stale = explain(&old, "/fresh/x");
    assert!(stale.contains("ok           deny lists"), "{stale}");
    assert!(stale.contains("FAIL         max_age 15m"), "{stale}");
    assert!(stale.contains("max_age=900"), "{stale}");
    let fine = explain(&token(&key, "ann", &[]), "/fresh/x");
    assert!(fine.contains("ok           max_age 15m"), "{fine}");
}
