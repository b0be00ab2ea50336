//! End to end against moto's server as the Cognito emulator: a real user pool, app
//! client, groups and users, real RS256 tokens from `USER_PASSWORD_AUTH`, the pool's
//! JWKS served by moto. What moto puts in its tokens is documented in
//! `tests/support/moto_cognito.py`. moto comes from the test tools' venv, made on first
//! use (`tests/support/tools.rs`); without python3 this test fails saying what to
//! install. It is never skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use std::time::Duration;
use support::{echo, http, moto, proxy};

fn config(upstream: &str, pool: &Value) -> String {
    format!(
        r#"
[upstream]
url = "{upstream}"

[[issuers]]
name = "moto"
region = "{region}"
user_pool_id = "{pool_id}"
jwks_uri = "{jwks_uri}"
client_ids = ["{client_id}"]
token_use = ["access", "id"]

[[routes]]
path = "/admin/**"
groups_any = ["admin"]

[[routes]]
path = "/profile/**"
token_use = ["id"]

[[routes]]
path = "/**"
token_use = ["access"]
"#,
        region = pool["region"].as_str().unwrap(),
        pool_id = pool["pool_id"].as_str().unwrap(),
        jwks_uri = pool["jwks_uri"].as_str().unwrap(),
        client_id = pool["client_id"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn real_cognito_tokens_from_moto() {
    let (pool, _moto) = tokio::task::spawn_blocking(|| {
        let moto = moto::start();
        (moto.provision(), moto)
    })
    .await
    .unwrap();
    // The issuer cognigate derives from region + pool id is exactly moto's `iss`.
    let derived = format!(
        "https://cognito-idp.{}.amazonaws.com/{}",
        pool["region"].as_str().unwrap(),
        pool["pool_id"].as_str().unwrap()
    );
    assert_eq!(pool["issuer"].as_str().unwrap(), derived);

    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), &pool)).await;
    let mut ready = false;
    for _ in 0..100 {
        if http::get(&p.admin_url("/readyz"), &[]).await.status == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "moto's JWKS never loaded");

    let token = |user: &str, kind: &str| format!("Bearer {}", pool[user][kind].as_str().unwrap());
    let get = |path: &'static str, auth: String| {
        let url = p.url(path);
        async move { http::get(&url, &[("authorization", &auth)]).await }
    };

    // Plain user, access token: allowed on the API, with the verified identity.
    assert_eq!(
        get("/api/orders", token("plain", "access")).await.status,
        200
    );
    let seen = up.last();
    assert_eq!(seen.header("x-auth-username"), ["plain-user"]);
    assert_eq!(seen.header("x-auth-token-use"), ["access"]);
    assert_eq!(
        seen.header("x-auth-client-id"),
        [pool["client_id"].as_str().unwrap()]
    );
    assert_eq!(seen.header("x-auth-issuer"), ["moto"]);
    assert!(seen.header("x-auth-groups").is_empty());

    // Group rule: the plain user is refused on /admin, the admin allowed.
    let r = get("/admin/users", token("plain", "access")).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"cognigate\", error=\"insufficient_scope\"")
    );
    assert_eq!(
        get("/admin/users", token("admin", "access")).await.status,
        200
    );
    assert_eq!(up.last().header("x-auth-groups"), ["admin"]);

    // token_use rules: id tokens on /profile only, access tokens elsewhere.
    assert_eq!(get("/profile/me", token("plain", "id")).await.status, 200);
    let seen = up.last();
    assert_eq!(seen.header("x-auth-token-use"), ["id"]);
    assert_eq!(seen.header("x-auth-username"), ["plain-user"]);
    assert!(
        !seen.header("x-auth-email").is_empty(),
        "moto id tokens carry email"
    );
    assert_eq!(
        get("/profile/me", token("plain", "access")).await.status,
        403
    );
    assert_eq!(get("/api/orders", token("plain", "id")).await.status, 403);

    // A moto token with one claim changed no longer verifies.
    let access = pool["plain"]["access"].as_str().unwrap();
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    parts[2] = parts[2].chars().rev().collect();
    let r = get("/api/orders", format!("Bearer {}", parts.join("."))).await;
    assert_eq!(r.status, 401);
    p.stop().await;
}

/// Revocation at the edge: with `[revocation].online`, a token whose user was signed out
/// everywhere (`AdminUserGlobalSignOut`) is refused within `online_ttl`, though it is
/// still cryptographically valid for most of an hour. `api_endpoint` points the
/// `GetUser` calls at moto (which removes the user's access tokens on global sign-out
/// and answers `GetUser` for them with `NotAuthorizedException`).
#[tokio::test]
async fn a_globally_signed_out_token_is_refused_within_online_ttl() {
    let (pool, moto) = tokio::task::spawn_blocking(|| {
        let moto = moto::start();
        (moto.provision(), moto)
    })
    .await
    .unwrap();
    let up = echo::start().await;
    let online = format!(
        "{}\n[revocation]\nonline = true\nonline_ttl = \"2s\"\n",
        config(&up.url(), &pool).replace(
            "token_use = [\"access\", \"id\"]",
            &format!(
                "token_use = [\"access\", \"id\"]\napi_endpoint = \"{}\"",
                moto.endpoint
            )
        )
    );
    let p = proxy::start(&online).await;
    http::wait_ready(p.admin).await;
    let bearer = |user: &str| format!("Bearer {}", pool[user]["access"].as_str().unwrap());
    let status = |user: &'static str| {
        let (url, auth) = (p.url("/api/orders"), bearer(user));
        async move { http::get(&url, &[("authorization", &auth)]).await.status }
    };
    assert_eq!(status("plain").await, 200, "GetUser honours a live token");
    assert_eq!(status("admin").await, 200);

    let signed_out = http::send(
        "POST",
        &format!("{}/", moto.endpoint),
        &[
            ("content-type", "application/x-amz-json-1.1"),
            (
                "x-amz-target",
                "AWSCognitoIdentityProviderService.AdminUserGlobalSignOut",
            ),
        ],
        Some(
            &serde_json::json!({
                "UserPoolId": pool["pool_id"], "Username": "plain-user"
            })
            .to_string(),
        ),
    )
    .await;
    assert_eq!(signed_out.status, 200, "{}", signed_out.body);
    let start = std::time::Instant::now();
    let mut refused = None;
    while start.elapsed() < Duration::from_secs(10) {
        if status("plain").await == 401 {
            refused = Some(start.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = refused.expect("the signed-out token was never refused");
    assert!(took <= Duration::from_secs(3), "refused after {took:?}");
    let r = http::get(
        &p.url("/api/orders"),
        &[("authorization", &bearer("plain"))],
    )
    .await;
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            "Bearer realm=\"cognigate\", error=\"invalid_token\", error_description=\"token revoked\""
        )
    );
    assert_eq!(status("admin").await, 200, "another user is not affected");
    let metrics = http::get(&p.admin_url("/metrics"), &[]).await.body;
    assert!(
        metrics.contains("cognigate_online_checks_total{result=\"revoked\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cognigate_online_checks_total{result=\"unreachable\"} 0"),
        "{metrics}"
    );
    p.stop().await;
}
