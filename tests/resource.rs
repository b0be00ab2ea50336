//! `[resource]` end to end (RFC 9728, RFC 8707, RFC 8414): the metadata documents, the
//! challenges that point at them, audience binding, and the authorization-server
//! metadata rebuilt from a discovery document we serve (and break) ourselves.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use cognigate::mint::DevKey;
use serde_json::json;
use std::time::Duration;
use support::jwks_server::{self, JwksServer, Mode};
use support::tokens::{self, bearer, sign};
use support::{echo, http, proxy};

const RESOURCE: &str = "https://api.example/mcp";
const METADATA: &str = "https://api.example/.well-known/oauth-protected-resource/mcp";

struct Setup {
    key: DevKey,
    _jwks: JwksServer,
    /// Serves the issuer's discovery document (the issuer is its origin).
    discovery: JwksServer,
    _up: echo::Echo,
    proxy: proxy::TestProxy,
}

impl Setup {
    fn issuer(&self) -> String {
        format!("http://{}", self.discovery.addr)
    }

    /// An access token of this issuer with `scope` and, if given, `aud`.
    fn token(&self, scope: &str, aud: Option<serde_json::Value>) -> String {
        let mut spec = tokens::access("u-1", &[]);
        spec.issuer = self.issuer();
        spec.scope = Some(scope.to_owned());
        spec.claims = aud.map(|a| ("aud".to_owned(), a)).into_iter().collect();
        sign(&self.key, &spec)
    }
}

fn discovery_doc(issuer: &str) -> String {
    json!({
        "issuer": issuer,
        "authorization_endpoint": "https://pool.auth.us-east-1.amazoncognito.com/oauth2/authorize",
        "token_endpoint": "https://pool.auth.us-east-1.amazoncognito.com/oauth2/token",
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "response_types_supported": ["code", "token"],
        "scopes_supported": ["openid", "mcp/read"],
    })
    .to_string()
}

/// The proxy in `mode` with `[resource]` + `extra`, routes `/mcp/admin/**` (scopes)
/// and `/**` (required), the issuer's discovery document served from the start.
async fn setup(mode: &str, resource: &str, refresh: &str) -> Setup {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let discovery = jwks_server::start("{}").await;
    let issuer = format!("http://{}", discovery.addr);
    discovery.set(Mode::Serve(discovery_doc(&issuer)));
    let up = echo::start().await;
    let body = format!(
        r#"
mode = "{mode}"
[upstream]
url = "{upstream}"
[jwks]
refresh_interval = "{refresh}"
fetch_timeout = "1s"
[[issuers]]
name = "main"
issuer = "{issuer}"
jwks_uri = "{jwks_uri}"
client_ids = ["{client}"]
[[routes]]
path = "/mcp/admin/**"
scopes_all = ["mcp/admin"]
[[routes]]
path = "/**"
[resource]
url = "{RESOURCE}"
name = "Orders API"
{resource}
"#,
        upstream = up.url(),
        jwks_uri = jwks.uri(),
        client = tokens::CLIENT,
    );
    let proxy = proxy::start(&body).await;
    http::wait_ready(proxy.admin).await;
    Setup {
        key,
        _jwks: jwks,
        discovery,
        _up: up,
        proxy,
    }
}

/// Both URL forms of RFC 9728 §3.1 answer the same document, public, before the
/// `/**` route that would otherwise ask for a token; HEAD too.
#[tokio::test]
async fn protected_resource_metadata_is_served_at_both_paths_before_routes() {
    let s = setup("proxy", "", "15m").await;
    let plain = http::get(&s.proxy.url("/.well-known/oauth-protected-resource"), &[]).await;
    let pathed = http::get(
        &s.proxy.url("/.well-known/oauth-protected-resource/mcp"),
        &[],
    )
    .await;
    assert_eq!((plain.status, pathed.status), (200, 200), "{}", plain.body);
    assert_eq!(plain.body, pathed.body);
    assert_eq!(plain.header("content-type"), Some("application/json"));
    assert_eq!(plain.header("access-control-allow-origin"), Some("*"));
    let doc = plain.json();
    assert_eq!(doc["resource"], RESOURCE);
    assert_eq!(doc["authorization_servers"], json!([s.issuer()]));
    assert_eq!(doc["scopes_supported"], json!(["mcp/admin"]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    assert_eq!(doc["resource_name"], "Orders API");
    let head = http::send(
        "HEAD",
        &s.proxy.url("/.well-known/oauth-protected-resource"),
        &[],
        None,
    )
    .await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    let other = http::get(
        &s.proxy.url("/.well-known/oauth-protected-resource/other"),
        &[],
    )
    .await;
    assert_eq!(
        other.status, 401,
        "another resource's path goes to the routes"
    );
    s.proxy.stop().await;
}

/// In forward-auth mode the ingress sends the well-known paths to cognigate too.
#[tokio::test]
async fn protected_resource_metadata_is_served_in_forward_auth_mode() {
    let s = setup("forward_auth", "", "15m").await;
    let direct = http::get(
        &s.proxy.url("/.well-known/oauth-protected-resource/mcp"),
        &[],
    )
    .await;
    assert_eq!(direct.status, 200, "{}", direct.body);
    assert_eq!(direct.json()["resource"], RESOURCE);
    let check = http::get(
        &s.proxy.url("/auth"),
        &[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/mcp"),
            ("x-forwarded-host", "api.example"),
        ],
    )
    .await;
    assert_eq!(check.status, 401);
    assert!(check.header("www-authenticate").unwrap().contains(METADATA));
    s.proxy.stop().await;
}

/// Odd metadata paths follow the path model: encoded slashes and climbing dot-segments
/// are 400; a path that normalizes elsewhere is that path (no metadata).
#[tokio::test]
async fn odd_metadata_paths_follow_the_path_model() {
    let s = setup("proxy", "", "15m").await;
    let status = |path: &'static str| {
        let url = s.proxy.url(path);
        async move { http::get(&url, &[]).await }
    };
    assert_eq!(
        status("/.well-known/oauth-protected-resource%2Fmcp")
            .await
            .status,
        400
    );
    assert_eq!(
        status("/.well-known/oauth-protected-resource%2fmcp")
            .await
            .status,
        400
    );
    assert_eq!(
        status("/.well-known/oauth-protected-resource/%2e%2e/%2e%2e/%2e%2e/x")
            .await
            .status,
        400
    );
    let escaped = status("/.well-known/oauth-protected-resource/../admin").await;
    assert_eq!(
        escaped.status, 401,
        "normalized to /admin: a protected route"
    );
    assert_eq!(escaped.json()["error"], "missing_token");
    let dotted = status("/x/../.well-known/oauth-protected-resource").await;
    assert_eq!(dotted.status, 200, "normalizes to the metadata path");
    let post = http::send(
        "POST",
        &s.proxy.url("/.well-known/oauth-protected-resource"),
        &[],
        Some(""),
    )
    .await;
    assert_eq!(post.status, 401, "only GET and HEAD are answered");
    s.proxy.stop().await;
}

/// Every 401 names the metadata (RFC 9728 §5.1); on a route with scopes, 401 and 403
/// name them (RFC 6750 §3), and the 403 keeps `insufficient_scope`.
#[tokio::test]
async fn challenges_point_at_the_metadata_and_name_route_scopes() {
    let s = setup("proxy", "", "15m").await;
    let challenge = |r: &http::Reply| r.header("www-authenticate").unwrap().to_owned();
    let missing = http::get(&s.proxy.url("/mcp"), &[]).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        challenge(&missing),
        format!("Bearer realm=\"cognigate\", resource_metadata=\"{METADATA}\"")
    );
    let scoped = http::get(&s.proxy.url("/mcp/admin/tools"), &[]).await;
    assert_eq!(
        challenge(&scoped),
        format!(
            "Bearer realm=\"cognigate\", resource_metadata=\"{METADATA}\", scope=\"mcp/admin\""
        )
    );
    let invalid = http::get(
        &s.proxy.url("/mcp/admin/tools"),
        &[("authorization", "Bearer x.y.z")],
    )
    .await;
    assert_eq!(invalid.status, 401);
    let text = challenge(&invalid);
    assert!(
        text.starts_with("Bearer realm=\"cognigate\", error=\"invalid_token\""),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            ", resource_metadata=\"{METADATA}\", scope=\"mcp/admin\""
        )),
        "{text}"
    );
    let reader = bearer(&s.token("mcp/read", None));
    let forbidden = http::get(
        &s.proxy.url("/mcp/admin/tools"),
        &[("authorization", &reader)],
    )
    .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        challenge(&forbidden),
        format!(
            "Bearer realm=\"cognigate\", error=\"insufficient_scope\", resource_metadata=\"{METADATA}\", scope=\"mcp/admin\""
        )
    );
    let allowed = http::get(&s.proxy.url("/mcp"), &[("authorization", &reader)]).await;
    assert_eq!(allowed.status, 200, "audience = false: no aud needed");
    s.proxy.stop().await;
}

/// `audience = true`: only a token whose `aud` holds `url` passes; others are 401
/// `invalid_token`, counted under reason `audience`.
#[tokio::test]
async fn audience_binding_refuses_tokens_issued_for_other_resources() {
    let s = setup("proxy", "audience = true", "15m").await;
    let get = |token: String| {
        let url = s.proxy.url("/mcp");
        async move { http::get(&url, &[("authorization", &bearer(&token))]).await }
    };
    assert_eq!(
        get(s.token("mcp/read", Some(json!([RESOURCE]))))
            .await
            .status,
        200
    );
    assert_eq!(
        get(s.token("mcp/read", Some(json!(RESOURCE)))).await.status,
        200
    );
    let extra = json!(["https://other.example", RESOURCE]);
    assert_eq!(get(s.token("mcp/read", Some(extra))).await.status, 200);
    for aud in [
        None,
        Some(json!(["https://other.example/mcp"])),
        Some(json!("https://api.example/mcp/")),
    ] {
        let refused = get(s.token("mcp/read", aud.clone())).await;
        assert_eq!(refused.status, 401, "{aud:?}");
        assert_eq!(refused.json()["error"], "invalid_token");
        let text = refused.header("www-authenticate").unwrap();
        assert!(
            text.contains("error=\"invalid_token\"") && text.contains(METADATA),
            "{text}"
        );
    }
    let metrics = http::get(&s.proxy.admin_url("/metrics"), &[]).await.body;
    assert!(
        metrics.contains("cognigate_auth_failures_total{reason=\"audience\"} 3"),
        "{metrics}"
    );
    s.proxy.stop().await;
}

async fn as_metadata(s: &Setup) -> http::Reply {
    http::get(&s.proxy.url("/.well-known/oauth-authorization-server"), &[]).await
}

/// Polls until the document has loaded (bounded).
async fn loaded_as_metadata(s: &Setup) -> serde_json::Value {
    for _ in 0..100 {
        let reply = as_metadata(s).await;
        if reply.status == 200 {
            return reply.json();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the authorization-server metadata never loaded");
}

/// The issuer's discovery document, served as this origin's metadata: `issuer`
/// rewritten, S256 added, every endpoint the pool's; fetched once, in the background
/// (requests never fetch it).
#[tokio::test]
async fn authorization_server_metadata_is_the_discovery_document_rewritten() {
    let s = setup("proxy", "as_metadata = true", "1h").await;
    let doc = loaded_as_metadata(&s).await;
    assert_eq!(doc["issuer"], "https://api.example");
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["token_endpoint"],
        "https://pool.auth.us-east-1.amazoncognito.com/oauth2/token"
    );
    assert_eq!(
        doc["jwks_uri"],
        format!("{}/.well-known/jwks.json", s.issuer())
    );
    let prm = http::get(&s.proxy.url("/.well-known/oauth-protected-resource"), &[])
        .await
        .json();
    assert_eq!(prm["authorization_servers"], json!(["https://api.example"]));
    for _ in 0..20 {
        assert_eq!(as_metadata(&s).await.status, 200);
    }
    assert_eq!(
        s.discovery.fetches(),
        1,
        "fetched once at start, never per request"
    );
    s.proxy.stop().await;
}

/// Before any good fetch the document is 503 + Retry-After; then a failing, non-JSON,
/// oversized or foreign document never replaces the last good one; a good one does.
#[tokio::test]
async fn a_bad_discovery_document_keeps_the_last_good_one() {
    let s = setup("proxy", "as_metadata = true", "1s").await;
    // Two fetches after a change: the second surely saw the new answer.
    let wait_fetches = |n: usize| {
        let d = s.discovery.clone();
        async move {
            let start = d.fetches();
            for _ in 0..100 {
                if d.fetches() >= start + n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("the discovery document was not refetched");
        }
    };
    let first = loaded_as_metadata(&s).await;
    let issuer = s.issuer();
    let bad = [
        Mode::Status500,
        Mode::Garbage,
        Mode::Huge {
            bytes: 200_000,
            content_length: false,
        },
        Mode::Serve(discovery_doc("http://127.0.0.1:1")),
        Mode::Serve("[\"not an object\"]".to_owned()),
    ];
    for mode in bad {
        s.discovery.set(mode.clone());
        wait_fetches(2).await;
        let reply = as_metadata(&s).await;
        assert_eq!(reply.status, 200, "{mode:?}");
        assert_eq!(
            reply.json(),
            first,
            "{mode:?} replaced the last good document"
        );
    }
    let mut newer: serde_json::Value = serde_json::from_str(&discovery_doc(&issuer)).unwrap();
    newer["revocation_endpoint"] =
        json!("https://pool.auth.us-east-1.amazoncognito.com/oauth2/revoke");
    s.discovery.set(Mode::Serve(newer.to_string()));
    wait_fetches(2).await;
    let doc = as_metadata(&s).await.json();
    assert_eq!(doc["revocation_endpoint"], newer["revocation_endpoint"]);
    assert_eq!(doc["issuer"], "https://api.example");
    s.proxy.stop().await;
}

/// Until the first good fetch: 503 with Retry-After, never an empty or guessed document.
#[tokio::test]
async fn authorization_server_metadata_is_503_until_it_loads() {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let discovery = jwks_server::start("{}").await;
    discovery.set(Mode::Status500);
    let issuer = format!("http://{}", discovery.addr);
    let up = echo::start().await;
    let body = format!(
        "[upstream]\nurl = \"{}\"\n[[issuers]]\nname = \"main\"\nissuer = \"{issuer}\"\n\
         jwks_uri = \"{}\"\n[[routes]]\npath = \"/**\"\n[resource]\nurl = \"{RESOURCE}\"\n\
         as_metadata = true\n",
        up.url(),
        jwks.uri()
    );
    let p = proxy::start(&body).await;
    http::wait_ready(p.admin).await;
    let url = p.url("/.well-known/oauth-authorization-server");
    let reply = http::get(&url, &[]).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("5"));
    assert_eq!(reply.json()["error"], "temporarily_unavailable");
    discovery.set(Mode::Serve(discovery_doc(&issuer)));
    // The retry backoff starts at 1 s (half to all of it, jittered).
    http::wait_for_status(&url, 200).await;
    p.stop().await;
}

/// `explain` answers as the proxy does: the metadata before any route, the challenge
/// with its parameters, and the audience check (on the claims as read, without keys).
#[tokio::test]
async fn explain_shows_the_metadata_challenges_and_audience() {
    use cognigate::commands::explain::{Query, TokenSource, explain};
    let key = tokens::key();
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, &key.jwks_json).unwrap();
    let config = dir.path().join("cognigate.toml");
    let issuer = "https://idp.example";
    std::fs::write(
        &config,
        format!(
            "[upstream]\nurl = \"http://127.0.0.1:3\"\n[[issuers]]\nname = \"main\"\n\
             issuer = \"{issuer}\"\njwks_uri = \"file://{}\"\nclient_ids = [\"{}\"]\n\
             [[routes]]\npath = \"/mcp/admin/**\"\nscopes_all = [\"mcp/admin\"]\n\
             [[routes]]\npath = \"/**\"\n[resource]\nurl = \"{RESOURCE}\"\naudience = true\n",
            jwks.display(),
            tokens::CLIENT
        ),
    )
    .unwrap();
    let run = |url: &str, token: Option<String>| {
        let query = Query {
            method: "GET".into(),
            url: url.into(),
            token: token.map_or(TokenSource::None, TokenSource::Inline),
            fetch: false,
            cookie: None,
        };
        let config = config.clone();
        async move { explain(&config, &query).await.unwrap().stdout.join("\n") }
    };
    let doc = run("/.well-known/oauth-protected-resource/mcp", None).await;
    assert!(
        doc.contains("decision: 200 OK (answered by cognigate)"),
        "{doc}"
    );
    assert!(doc.contains(RESOURCE), "{doc}");
    let challenge = run("/mcp/admin/x", None).await;
    let expected = format!(
        "www-authenticate: Bearer realm=\"cognigate\", resource_metadata=\"{METADATA}\", scope=\"mcp/admin\""
    );
    assert!(challenge.contains(&expected), "{challenge}");
    let mut spec = tokens::access("u-1", &[]);
    spec.issuer = issuer.into();
    spec.claims = vec![("aud".into(), json!(["https://other.example"]))];
    let wrong = run("/mcp", Some(sign(&key, &spec))).await;
    assert!(
        wrong.contains("decision: 401 Unauthorized (audience)"),
        "{wrong}"
    );
    spec.claims = vec![("aud".into(), json!([RESOURCE]))];
    let right = run("/mcp", Some(sign(&key, &spec))).await;
    assert!(right.contains("decision: allowed"), "{right}");
}

/// A refused discovery document is logged (why, and that the last good one stays),
/// from the real binary; a good one is logged as refreshed.
#[tokio::test]
async fn a_refused_discovery_document_is_logged() {
    let key = tokens::key();
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, &key.jwks_json).unwrap();
    let discovery = jwks_server::start("{}").await;
    let issuer = format!("http://{}", discovery.addr);
    discovery.set(Mode::Serve(discovery_doc("https://someone.else")));
    let (_dir, config) = proxy::write_config(&format!(
        "[upstream]\nurl = \"http://127.0.0.1:3\"\n[jwks]\nrefresh_interval = \"1s\"\n\
         [[issuers]]\nname = \"main\"\nissuer = \"{issuer}\"\njwks_uri = \"file://{}\"\n\
         [[routes]]\npath = \"/**\"\n[resource]\nurl = \"{RESOURCE}\"\nas_metadata = true\n",
        jwks.display()
    ));
    let bin = proxy::spawn_binary(&config, &[]);
    let line = bin
        .log_line(&[
            "discovery document refused",
            "someone.else",
            "kept_last_good",
        ])
        .await;
    assert!(line.contains("\"kept_last_good\":false"), "{line}");
    discovery.set(Mode::Huge {
        bytes: 100_000,
        content_length: true,
    });
    bin.log_line(&["discovery document refused", "larger than 65536 bytes"])
        .await;
    discovery.set(Mode::Serve(discovery_doc(&issuer)));
    bin.log_line(&["discovery document refreshed"]).await;
    discovery.set(Mode::Garbage);
    let line = bin
        .log_line(&[
            "discovery document refused",
            "not a JSON object",
            "\"kept_last_good\":true",
        ])
        .await;
    assert!(!line.contains("eyJ"), "{line}");
}
