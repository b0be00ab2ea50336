//! The managed-login stand-in over real sockets: the code flow with PKCE, its refusals,
//! refresh and rotation, revocation, the stand-in's own sign-in session and logout, and
//! the tokens going through cognigate itself. Last, the same client steps against
//! oauth2-mock-server (npm), an implementation nobody here wrote.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cognigate::mint::{self, DevKey};
use cognigate::standin::{DemoUser, StandIn, StandInConfig};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use support::http::{self, Reply};
use support::{echo, npm, proxy};

const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_StandIn1";
const CLIENT: &str = "standinclient1";
const SECRET: &str = "s3cr3t-of-the-confidential-client";
const CALLBACK: &str = "http://127.0.0.1:9/oauth2/callback";

fn config() -> StandInConfig {
    let mut cfg = StandInConfig::new(ISSUER, CLIENT);
    cfg.users = vec![
        DemoUser::new("alice", &["admin"]),
        DemoUser::new("bob", &["reader"]),
    ];
    cfg.scopes = ["openid", "email", "profile", "orders/read"]
        .map(str::to_owned)
        .to_vec();
    cfg.access_ttl = Duration::from_secs(3);
    cfg
}

async fn start(cfg: StandInConfig) -> (StandIn, DevKey) {
    let key = mint::generate_rsa_key().unwrap();
    (StandIn::start(cfg, key.clone()).await.unwrap(), key)
}

// ----- client-side helpers -----

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", enc(n), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn query_of(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// A PKCE pair: a fresh verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let mut raw = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw).unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(raw);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    (verifier, URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

fn authorize_url(base: &str, path: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", CALLBACK),
        ("scope", "openid email"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    format!("{base}{path}?{}", form(&pairs))
}

fn location(r: &Reply) -> HashMap<String, String> {
    assert_eq!(r.status, 302, "{}", r.body);
    let loc = r.header("location").unwrap();
    assert!(loc.starts_with(CALLBACK), "{loc}");
    query_of(loc)
}

/// The hidden inputs of the picker's form for `username`, as a browser would post them.
fn picker_form(html: &str, username: &str) -> String {
    let marker = format!("name=\"username\" value=\"{username}\"");
    let form_html = html
        .split("<form ")
        .find(|f| f.contains(&marker))
        .unwrap_or_else(|| panic!("no form for {username}: {html}"));
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    };
    let mut pairs = Vec::new();
    for input in form_html.split("<input ").skip(1) {
        let attr = |a: &str| {
            let start = input.find(&format!("{a}=\"")).unwrap() + a.len() + 2;
            let len = input[start..].find('"').unwrap();
            unescape(&input[start..start + len])
        };
        pairs.push((attr("name"), attr("value")));
    }
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    form(&refs)
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// Signs `username` in through the picker: authorize (200 page), post its form.
/// Returns the redirect's query and the stand-in's session cookie.
async fn sign_in(
    s: &StandIn,
    username: &str,
    challenge: &str,
) -> (HashMap<String, String>, String) {
    let page = http::get(
        &authorize_url(&s.url(), "/oauth2/authorize", challenge, &[]),
        &[],
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let body = picker_form(&page.body, username);
    let r = http::send("POST", &format!("{}/login", s.url()), &[FORM], Some(&body)).await;
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (location(&r), cookie)
}

async fn code_for(s: &StandIn, username: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let (q, _) = sign_in(s, username, &challenge).await;
    (q["code"].clone(), verifier)
}

async fn token(s: &StandIn, pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
    post(&format!("{}/oauth2/token", s.url()), pairs, basic).await
}

async fn post(url: &str, pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
    let auth =
        basic.map(|(id, secret)| format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
    let mut headers = vec![FORM];
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    http::send("POST", url, &headers, Some(&form(pairs))).await
}

async fn redeem(s: &StandIn, code: &str, verifier: &str) -> Reply {
    token(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ],
        None,
    )
    .await
}

async fn refresh(s: &StandIn, refresh_token: &str) -> Reply {
    token(
        s,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("refresh_token", refresh_token),
        ],
        None,
    )
    .await
}

fn assert_oauth_error(r: &Reply, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.json()["error"], error, "{}", r.body);
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn user_info(s: &StandIn, access: &str) -> Reply {
    let bearer = format!("Bearer {access}");
    http::get(
        &format!("{}/oauth2/userInfo", s.url()),
        &[("authorization", &bearer)],
    )
    .await
}

// ----- the stand-in -----

#[tokio::test]
async fn code_flow_with_pkce_gives_cognito_shaped_tokens_that_cognigate_accepts() {
    let (s, key) = start(config()).await;
    let (verifier, challenge) = pkce();
    let (q, _) = sign_in(&s, "alice", &challenge).await;
    assert_eq!(q["state"], "st-123");
    let r = redeem(&s, &q["code"], &verifier).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let t = r.json();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3);
    let refresh_token = t["refresh_token"].as_str().unwrap();
    assert!(refresh_token.len() >= 64 && !refresh_token.contains('.'));

    let access = claims(t["access_token"].as_str().unwrap());
    let id = claims(t["id_token"].as_str().unwrap());
    let alice = DemoUser::new("alice", &["admin"]);
    assert_eq!(access["sub"], alice.sub.as_str());
    assert_eq!(access["iss"], ISSUER);
    assert_eq!(access["client_id"], CLIENT);
    assert_eq!(access["token_use"], "access");
    assert_eq!(access["scope"], "openid email");
    assert_eq!(access["username"], "alice");
    assert_eq!(access["cognito:groups"], serde_json::json!(["admin"]));
    assert_eq!(
        access["exp"].as_u64().unwrap() - access["iat"].as_u64().unwrap(),
        3
    );
    for claim in ["origin_jti", "event_id", "jti", "auth_time"] {
        assert!(!access[claim].is_null(), "{claim} missing: {access}");
    }
    assert!(access.get("aud").is_none());
    assert_eq!(id["aud"], CLIENT);
    assert_eq!(id["token_use"], "id");
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["cognito:username"], "alice");
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["origin_jti"], access["origin_jti"]);
    assert_eq!(id["event_id"], access["event_id"]);
    assert_eq!(id["auth_time"], access["auth_time"]);
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        t["access_token"].as_str().unwrap().as_bytes(),
    );
    assert_eq!(
        id["at_hash"],
        URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
    );

    // The JWKS is the key's, and cognigate (fetching it from the stand-in) accepts both
    // tokens and routes on their claims.
    let jwks = http::get(&s.jwks_uri(), &[]).await;
    assert_eq!(jwks.body, key.jwks_json);
    let up = echo::start().await;
    let p = proxy::start(&format!(
        r#"
[upstream]
url = "{}"

[[issuers]]
name = "standin"
issuer = "{ISSUER}"
jwks_uri = "{}"
client_ids = ["{CLIENT}"]
token_use = ["access", "id"]

[[routes]]
path = "/admin/**"
groups_any = ["admin"]
"#,
        up.url(),
        s.jwks_uri()
    ))
    .await;
    http::wait_ready(p.admin).await;
    for jwt in [&t["access_token"], &t["id_token"]] {
        let bearer = format!("Bearer {}", jwt.as_str().unwrap());
        let r = http::get(&p.url("/admin/x"), &[("authorization", &bearer)]).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let seen = up.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.header("x-auth-sub"), [alice.sub.as_str()]);
    p.stop().await;
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_refused_and_spends_the_code() {
    let (s, _) = start(config()).await;
    let (code, verifier) = code_for(&s, "bob").await;
    let (other_verifier, _) = pkce();
    assert_oauth_error(
        &redeem(&s, &code, &other_verifier).await,
        400,
        "invalid_grant",
    );
    // One try per code: the right verifier now comes too late.
    assert_oauth_error(&redeem(&s, &code, &verifier).await, 400, "invalid_grant");

    let (code, _) = code_for(&s, "bob").await;
    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
        None,
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request");
    let (code, _) = code_for(&s, "bob").await;
    assert_oauth_error(&redeem(&s, &code, "too-short").await, 400, "invalid_grant");
}

#[tokio::test]
async fn a_replayed_code_is_invalid_grant_and_revokes_what_it_issued() {
    let (s, _) = start(config()).await;
    let (code, verifier) = code_for(&s, "alice").await;
    let first = redeem(&s, &code, &verifier).await.json();
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(user_info(&s, access).await.status, 200);
    assert_oauth_error(&redeem(&s, &code, &verifier).await, 400, "invalid_grant");
    let refreshed = refresh(&s, first["refresh_token"].as_str().unwrap()).await;
    assert_oauth_error(&refreshed, 400, "invalid_grant");
    let info = user_info(&s, access).await;
    assert_eq!(info.status, 401, "{}", info.body);
    assert!(
        info.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    assert_oauth_error(
        &redeem(&s, "never-issued", &verifier).await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_and_redirect_uri() {
    let mut cfg = config();
    cfg.redirect_uris = vec!["https://app.example.com/cb".into()];
    let (s, _) = start(cfg).await;
    let (code, verifier) = code_for(&s, "alice").await;
    let other_uri = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", &code),
            ("redirect_uri", "https://app.example.com/cb"),
            ("code_verifier", &verifier),
        ],
        None,
    )
    .await;
    assert_oauth_error(&other_uri, 400, "invalid_grant");
    let (code, verifier) = code_for(&s, "alice").await;
    let other_client = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "someoneelse"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
        None,
    )
    .await;
    assert_oauth_error(&other_client, 400, "invalid_client");
    // The code was not spent by a request from an unknown client.
    assert_eq!(redeem(&s, &code, &verifier).await.status, 200);
}

#[tokio::test]
async fn a_confidential_client_must_authenticate() {
    let mut cfg = config();
    cfg.client_secret = Some(SECRET.into());
    let (s, _) = start(cfg).await;
    let (code, verifier) = code_for(&s, "alice").await;
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.as_str()),
    ];
    let mut with_id = pairs.to_vec();
    with_id.push(("client_id", CLIENT));
    assert_oauth_error(&token(&s, &with_id, None).await, 400, "invalid_client");
    assert_oauth_error(
        &token(&s, &pairs, Some((CLIENT, "wrong"))).await,
        400,
        "invalid_client",
    );
    assert_oauth_error(
        &token(&s, &pairs, Some(("other", SECRET))).await,
        400,
        "invalid_client",
    );
    let ok = token(&s, &pairs, Some((CLIENT, SECRET))).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let refresh_token = ok.json()["refresh_token"].as_str().unwrap().to_owned();

    // client_secret_post works too; refresh without credentials does not.
    let mut post_secret = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    let no_secret = token(
        &s,
        &[post_secret.clone(), vec![("client_id", CLIENT)]].concat(),
        None,
    )
    .await;
    assert_oauth_error(&no_secret, 400, "invalid_client");
    post_secret.extend([("client_id", CLIENT), ("client_secret", SECRET)]);
    assert_eq!(token(&s, &post_secret, None).await.status, 200);

    let revoke_url = format!("{}/oauth2/revoke", s.url());
    let revoke = [("token", refresh_token.as_str()), ("client_id", CLIENT)];
    assert_oauth_error(
        &post(&revoke_url, &revoke, None).await,
        401,
        "invalid_client",
    );
    let r = post(
        &revoke_url,
        &[("token", refresh_token.as_str())],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "");
}

#[tokio::test]
async fn refresh_keeps_the_lineage_and_rotation_retires_the_used_token() {
    let (s, _) = start(config()).await;
    let (code, verifier) = code_for(&s, "alice").await;
    let first = redeem(&s, &code, &verifier).await.json();
    let rt = first["refresh_token"].as_str().unwrap();
    let a0 = claims(first["access_token"].as_str().unwrap());
    for _ in 0..2 {
        let r = refresh(&s, rt).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let t = r.json();
        assert!(t.get("refresh_token").is_none(), "no rotation: {t}");
        let a = claims(t["access_token"].as_str().unwrap());
        let id = claims(t["id_token"].as_str().unwrap());
        assert_eq!(a["origin_jti"], a0["origin_jti"]);
        assert_eq!(a["auth_time"], a0["auth_time"]);
        assert_ne!(a["jti"], a0["jti"]);
        assert_ne!(a["event_id"], a0["event_id"]);
        assert_eq!(a["scope"], a0["scope"]);
        assert!(id.get("nonce").is_none());
        assert_eq!(id["origin_jti"], a0["origin_jti"]);
    }
    assert_oauth_error(
        &refresh(&s, "not-a-refresh-token").await,
        400,
        "invalid_grant",
    );

    let mut cfg = config();
    cfg.rotate_refresh_tokens = true;
    let (s, _) = start(cfg).await;
    let (code, verifier) = code_for(&s, "alice").await;
    let mut rt = redeem(&s, &code, &verifier).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let r = refresh(&s, &rt).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let new = r.json()["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(new, rt);
        assert_oauth_error(&refresh(&s, &rt).await, 400, "invalid_grant");
        rt = new;
    }
}

#[tokio::test]
async fn revoke_ends_the_refresh_token_and_the_tokens_it_issued() {
    let (s, _) = start(config()).await;
    let revoke_url = format!("{}/oauth2/revoke", s.url());
    let (code, verifier) = code_for(&s, "alice").await;
    let t = redeem(&s, &code, &verifier).await.json();
    let (rt, access) = (
        t["refresh_token"].as_str().unwrap(),
        t["access_token"].as_str().unwrap(),
    );
    let later = refresh(&s, rt).await.json();
    let later_access = later["access_token"].as_str().unwrap();
    let info = user_info(&s, later_access).await;
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(info.json()["username"], "alice");

    assert_oauth_error(
        &post(&revoke_url, &[("client_id", CLIENT)], None).await,
        400,
        "invalid_request",
    );
    let jws = post(
        &revoke_url,
        &[("token", access), ("client_id", CLIENT)],
        None,
    )
    .await;
    assert_oauth_error(&jws, 400, "unsupported_token_type");
    let r = post(&revoke_url, &[("token", rt), ("client_id", CLIENT)], None).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_oauth_error(&refresh(&s, rt).await, 400, "invalid_grant");
    for a in [access, later_access] {
        assert_eq!(user_info(&s, a).await.status, 401);
    }
    // Unknown or already revoked: nothing to do, still 200 (RFC 7009).
    let again = post(&revoke_url, &[("token", rt), ("client_id", CLIENT)], None).await;
    assert_eq!(again.status, 200);
    let unknown = post(
        &revoke_url,
        &[("token", "nope"), ("client_id", CLIENT)],
        None,
    )
    .await;
    assert_eq!(unknown.status, 200);
}

#[tokio::test]
async fn a_signed_in_browser_comes_straight_back_until_logout_or_prompt_login() {
    let (s, _) = start(config()).await;
    let (_, challenge) = pkce();
    let (_, cookie) = sign_in(&s, "bob", &challenge).await;
    assert!(cookie.starts_with("cognito="), "{cookie}");
    let url = authorize_url(&s.url(), "/oauth2/authorize", &challenge, &[]);
    let again = http::get(&url, &[("cookie", &cookie)]).await;
    let q = location(&again);
    assert_eq!(q["state"], "st-123");
    assert!(q.contains_key("code"));
    let login = authorize_url(
        &s.url(),
        "/oauth2/authorize",
        &challenge,
        &[("prompt", "login")],
    );
    assert_eq!(http::get(&login, &[("cookie", &cookie)]).await.status, 200);
    let none = authorize_url(
        &s.url(),
        "/oauth2/authorize",
        &challenge,
        &[("prompt", "none")],
    );
    assert_eq!(
        location(&http::get(&none, &[]).await)["error"],
        "login_required"
    );
    assert!(location(&http::get(&none, &[("cookie", &cookie)]).await).contains_key("code"));

    let bye = "http://localhost:9/signed-out";
    let logout = format!(
        "{}/logout?{}",
        s.url(),
        form(&[("client_id", CLIENT), ("logout_uri", bye)])
    );
    let r = http::get(&logout, &[("cookie", &cookie)]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.header("location"), Some(bye));
    let cleared = r.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with("cognito=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // The old cookie no longer signs in: the picker again.
    assert_eq!(http::get(&url, &[("cookie", &cookie)]).await.status, 200);

    for bad in [
        form(&[("logout_uri", bye)]),
        form(&[("client_id", CLIENT)]),
        form(&[("client_id", "other"), ("logout_uri", bye)]),
        form(&[
            ("client_id", CLIENT),
            ("logout_uri", "https://evil.example/"),
        ]),
    ] {
        let r = http::get(&format!("{}/logout?{bad}", s.url()), &[]).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.header("location").is_none());
    }
    // logout with redirect_uri: signs out and starts a new sign-in.
    let relogin = format!(
        "{}/logout?{}",
        s.url(),
        form(&[
            ("client_id", CLIENT),
            ("redirect_uri", CALLBACK),
            ("response_type", "code")
        ])
    );
    let r = http::get(&relogin, &[]).await;
    assert_eq!(r.status, 302);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/oauth2/authorize?")
    );
}

#[tokio::test]
async fn authorize_errors_are_an_error_page_or_a_redirect_as_at_cognito() {
    let (s, _) = start(config()).await;
    let (_, challenge) = pkce();
    let base = s.url();
    // Never a redirect: unknown client, disallowed or missing redirect_uri.
    for (name, value) in [
        ("client_id", "someoneelse"),
        ("redirect_uri", "https://evil.example/cb"),
        ("redirect_uri", ""),
    ] {
        let url = authorize_url(&base, "/oauth2/authorize", &challenge, &[]);
        let url = url.replace(
            &format!(
                "{name}={}",
                enc(if name == "client_id" {
                    CLIENT
                } else {
                    CALLBACK
                })
            ),
            &format!("{name}={}", enc(value)),
        );
        let r = http::get(&url, &[]).await;
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        assert!(r.header("location").is_none());
    }
    // Back to the client with error=... and the state.
    let cases: [(&str, &str, &str); 4] = [
        ("scope=openid+email", "scope=openid+admin", "invalid_scope"),
        (
            "code_challenge_method=S256",
            "code_challenge_method=plain",
            "invalid_request",
        ),
        (
            "response_type=code",
            "response_type=token",
            "unsupported_response_type",
        ),
        ("code_challenge_method=S256", "x=1", "invalid_request"),
    ];
    for (from, to, error) in cases {
        let url = authorize_url(&base, "/oauth2/authorize", &challenge, &[])
            .replace(&from.replace('+', "%20"), to);
        let q = location(&http::get(&url, &[]).await);
        assert_eq!(q.get("error").map(String::as_str), Some(error), "{url}");
        assert_eq!(q["state"], "st-123");
    }
}

#[tokio::test]
async fn discovery_and_token_endpoint_refusals_are_cognito_shaped() {
    let (s, _) = start(config()).await;
    let d = http::get(
        &format!("{}/.well-known/openid-configuration", s.url()),
        &[],
    )
    .await
    .json();
    assert_eq!(d["issuer"], ISSUER);
    assert_eq!(
        d["authorization_endpoint"],
        format!("{}/oauth2/authorize", s.url())
    );
    assert_eq!(d["token_endpoint"], format!("{}/oauth2/token", s.url()));
    assert_eq!(d["jwks_uri"], s.jwks_uri());
    assert!(d.get("code_challenge_methods_supported").is_none());
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));

    let url = format!("{}/oauth2/token", s.url());
    let json_body = http::send(
        "POST",
        &url,
        &[("content-type", "application/json")],
        Some(r#"{"grant_type":"refresh_token"}"#),
    )
    .await;
    assert_oauth_error(&json_body, 400, "invalid_request");
    let grant = |g: &'static str| [("grant_type", g), ("client_id", CLIENT)];
    assert_oauth_error(
        &post(&url, &grant("password"), None).await,
        400,
        "unsupported_grant_type",
    );
    assert_oauth_error(
        &post(&url, &[("client_id", CLIENT)], None).await,
        400,
        "invalid_request",
    );
    assert_oauth_error(
        &post(&url, &[("grant_type", "refresh_token")], None).await,
        400,
        "invalid_request",
    );
    let code_only = [
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT),
        ("code", "x"),
    ];
    assert_oauth_error(&post(&url, &code_only, None).await, 400, "invalid_request");
    let twice = "grant_type=refresh_token&grant_type=refresh_token&client_id=standinclient1&refresh_token=x";
    assert_oauth_error(
        &http::send("POST", &url, &[FORM], Some(twice)).await,
        400,
        "invalid_request",
    );
    assert_eq!(http::get(&url, &[]).await.status, 405);
    assert_eq!(
        http::get(&format!("{}/nope", s.url()), &[]).await.status,
        404
    );
}

// ----- the same client steps against oauth2-mock-server -----

/// One of the two servers under comparison.
struct Server {
    base: String,
    /// Path prefix of the OAuth endpoints: `/oauth2` at the stand-in (Cognito), none at
    /// oauth2-mock-server (`/authorize`, `/token`, `/revoke`).
    prefix: &'static str,
    standin: bool,
}

impl Server {
    fn url(&self, endpoint: &str) -> String {
        format!("{}{}/{endpoint}", self.base, self.prefix)
    }

    /// Authorize with an S256 challenge and come back with a code: through the picker
    /// at the stand-in, straight away at oauth2-mock-server (it has no sign-in step).
    async fn code(&self, challenge: &str, method: &str) -> Reply {
        let url = authorize_url(
            &self.base,
            &format!("{}/authorize", self.prefix),
            challenge,
            &[],
        )
        .replace(
            "code_challenge_method=S256",
            &format!("code_challenge_method={method}"),
        );
        let r = http::get(&url, &[]).await;
        if !self.standin || r.status != 200 {
            return r;
        }
        let body = picker_form(&r.body, "alice");
        http::send(
            "POST",
            &format!("{}/login", self.base),
            &[FORM],
            Some(&body),
        )
        .await
    }

    async fn token(&self, pairs: &[(&str, &str)]) -> Reply {
        post(&self.url("token"), pairs, None).await
    }

    async fn redeem(&self, code: &str, verifier: &str) -> Reply {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ])
        .await
    }

    async fn refresh(&self, rt: &str) -> Reply {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("refresh_token", rt),
        ])
        .await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_client_steps_behave_alike_at_the_stand_in_and_oauth2_mock_server() {
    let mock = tokio::task::spawn_blocking(npm::start_mock_server)
        .await
        .unwrap();
    let (s, _) = start(config()).await;
    let servers = [
        Server {
            base: s.url(),
            prefix: "/oauth2",
            standin: true,
        },
        Server {
            base: mock.url.clone(),
            prefix: "",
            standin: false,
        },
    ];
    for srv in &servers {
        let who = if srv.standin {
            "stand-in"
        } else {
            "oauth2-mock-server"
        };

        // 1. authorize: 302 to the callback with a code and our state.
        let (verifier, challenge) = pkce();
        let q = location(&srv.code(&challenge, "S256").await);
        assert_eq!(q["state"], "st-123", "{who}");
        let code = q["code"].clone();

        // 2. token with a wrong verifier: refused (400) by both. The error code differs
        // by design: oauth2-mock-server answers every failed check `invalid_request`;
        // Cognito (RFC 6749 §5.2, RFC 7636 §4.6) says `invalid_grant`.
        let (wrong, _) = pkce();
        let r = srv.redeem(&code, &wrong).await;
        let expected = if srv.standin {
            "invalid_grant"
        } else {
            "invalid_request"
        };
        assert_oauth_error(&r, 400, expected);

        // 3. a fresh code with the right verifier: tokens from both.
        let (verifier2, challenge2) = pkce();
        let code2 = location(&srv.code(&challenge2, "S256").await)["code"].clone();
        let r = srv.redeem(&code2, &verifier2).await;
        assert_eq!(r.status, 200, "{who}: {}", r.body);
        let t = r.json();
        assert_eq!(t["token_type"], "Bearer", "{who}");
        assert!(t["expires_in"].as_u64().unwrap() > 0, "{who}");
        let id = claims(t["id_token"].as_str().unwrap());
        assert_eq!(id["aud"], CLIENT, "{who}");
        assert_eq!(id["nonce"], "n-456", "{who}");
        assert!(
            claims(t["access_token"].as_str().unwrap())["exp"].is_u64(),
            "{who}"
        );
        let rt = t["refresh_token"].as_str().unwrap().to_owned();

        // 4. the first code again, now with its right verifier: refused (400) by both.
        // At oauth2-mock-server because the failed try in step 2 consumed the code's
        // challenge (`invalid_request`, "code_challenge required"); at the stand-in
        // because a code is one try (`invalid_grant`).
        let r = srv.redeem(&code, &verifier).await;
        assert_oauth_error(&r, 400, expected);

        // 5. refresh: new tokens from both.
        let r = srv.refresh(&rt).await;
        assert_eq!(r.status, 200, "{who}: {}", r.body);
        assert!(r.json()["access_token"].is_string(), "{who}");

        // 6. revoke the refresh token: 200 with an empty body at both.
        let r = post(
            &srv.url("revoke"),
            &[("token", &rt), ("client_id", CLIENT)],
            None,
        )
        .await;
        assert_eq!((r.status, r.body.as_str()), (200, ""), "{who}");

        // 7. refresh with the revoked token. oauth2-mock-server keeps no refresh tokens
        // (any string refreshes, and /revoke only answers 200), so it still gives
        // tokens; the stand-in, like Cognito, refuses with `invalid_grant`.
        let r = srv.refresh(&rt).await;
        if srv.standin {
            assert_oauth_error(&r, 400, "invalid_grant");
        } else {
            assert_eq!(r.status, 200, "{who}: {}", r.body);
        }

        // 8. PKCE `plain`: RFC 7636 allows it and oauth2-mock-server takes it; Cognito
        // takes only S256, so the stand-in sends the browser back with
        // `error=invalid_request`.
        let r = srv.code(&challenge, "plain").await;
        let q = location(&r);
        if srv.standin {
            assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
        } else {
            assert!(q.contains_key("code"), "{who}: {q:?}");
        }
    }
    drop(mock);
}
