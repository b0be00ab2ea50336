//! End to end against moto_server as the Cognito emulator: a real user pool, app
//! client, groups and users, real RS256 tokens from `USER_PASSWORD_AUTH`, the pool's
//! JWKS served by moto. What moto puts in its tokens is documented in
//! `tests/support/moto_cognito.py`. The test needs `moto_server` on PATH; it is skipped
//! (with a message) when it is missing, except under CI (`CI=true`), where `.ci/run`
//! installs it and a missing emulator is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{echo, http, proxy};

/// moto_server on a free loopback port, killed by PID when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_moto() -> Option<Moto> {
    let port = free_port().to_string();
    let spawned = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        Ok(child) => Some(Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("moto_server is required in CI: {e}")
        }
        Err(e) => {
            eprintln!(
                "skipping the Cognito e2e test: cannot start moto_server ({e}); pip install 'moto[server]'"
            );
            None
        }
    }
}

/// Creates the pool, client, groups and users; returns the script's JSON.
fn provision(moto: &Moto) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_cognito.py");
    let out = Command::new("python3")
        .args([script, "--endpoint", &moto.endpoint, "--wait", "20"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "moto provisioning failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

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
    let Some(moto) = tokio::task::spawn_blocking(start_moto).await.unwrap() else {
        return;
    };
    let pool = tokio::task::spawn_blocking(move || (provision(&moto), moto))
        .await
        .unwrap();
    let (pool, _moto) = pool;
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
