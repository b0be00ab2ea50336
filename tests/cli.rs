//! The real binary: `check`, `health`, usage errors, env overrides, signals and
//! graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::{echo, http, proxy};

fn cognigate(args: &[&str]) -> std::process::Output {
    Command::new(proxy::binary_path())
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const VALID: &str = r#"
[upstream]
url = "http://127.0.0.1:3000"

[[issuers]]
name = "main"
region = "us-east-1"
user_pool_id = "us-east-1_AbCdEf123"
client_ids = ["client1"]

[[routes]]
path = "/health"
auth = "public"

[[routes]]
path = "/**"
"#;

#[test]
fn check_accepts_a_valid_config() {
    let (_dir, path) = proxy::write_config(VALID);
    let out = cognigate(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ok"));
}

#[test]
fn check_reports_every_problem_with_its_key_path() {
    let (_dir, path) = proxy::write_config(
        r#"
mode = "sideways"
shutdown_delay = "soon"

[upstream]
url = "ftp://x"

[[issuers]]
name = "main"
region = "us-east-1"
user_pool_id = "eu-west-1_Abc"
algorithms = ["HS256", "none"]

[[routes]]
path = "admin"

[[routes]]
path = "/x/**"
auth = "public"
groups_any = ["admin"]

[[routes]]
path = "/y/**"
methods = []
groups_any = []
scopes_all = []
"#,
    );
    let out = cognigate(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    for expected in [
        "mode:",
        "shutdown_delay:",
        "upstream.url:",
        "issuers[0].user_pool_id:",
        "issuers[0].algorithms[0]:",
        "issuers[0].algorithms[1]:",
        "routes[0].path:",
        "routes[1].auth:",
        "routes[2].methods:",
        "routes[2].groups_any:",
        "routes[2].scopes_all:",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let file = path.display().to_string();
    assert!(
        err.lines().all(|l| l.starts_with(&file)),
        "every line names the file:\n{err}"
    );
}

/// Every unknown key is reported, each with its key path, along with the other
/// problems (serde alone would stop at the first).
#[test]
fn check_refuses_every_unknown_key() {
    let (_dir, path) = proxy::write_config(&format!(
        "bogus = 1\n{VALID}\ngrups_any = [\"a\"]\nauth = \"maybe\"\n[limits]\nmax_conections = 5\n"
    ));
    let out = cognigate(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    for expected in [
        ": bogus: unknown key",
        ": limits.max_conections: unknown key",
        ": routes[1].grups_any: unknown key",
        ": routes[1].auth: expected",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

/// A syntax error is one line naming the file and the position.
#[test]
fn check_reports_a_syntax_error_on_one_line() {
    let (_dir, path) = proxy::write_config("[upstream]\nurl = \n");
    let out = cognigate(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with(&path.display().to_string()), "{err}");
    assert!(err.contains("line ") && err.contains("column "), "{err}");
}

#[test]
fn check_warns_about_a_header_prefix_without_a_dash() {
    let (_dir, path) = proxy::write_config(&format!(
        "{VALID}\n[identity]\nheader_prefix = \"X-Auth\"\n"
    ));
    let out = cognigate(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: identity.header_prefix") && err.contains("X-AuthSub"),
        "{err}"
    );
}

#[test]
fn check_warns_about_shadowed_routes() {
    let (_dir, path) = proxy::write_config(&format!(
        "{VALID}\n[[routes]]\npath = \"/admin/**\"\ngroups_any = [\"admin\"]\n"
    ));
    let out = cognigate(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("routes[2]") && err.contains("routes[1]"),
        "{err}"
    );
}

/// Captures, `claims` and `bind`: every misuse with its key path in one run; a capture
/// shadows like `*`.
#[test]
fn check_reports_claim_rule_and_binding_problems_and_shadowing_through_captures() {
    let (_dir, path) = proxy::write_config(&format!(
        r#"{VALID}
[[routes]]
path = "/t/**"
bind = {{ tenant = "custom:tenant_id" }}

[[routes]]
path = "/p/{{x}}/q/{{x}}"

[[routes]]
path = "/h/{{t}}"
auth = "public"
claims = {{ "custom:plan" = ["pro"] }}
"#
    ));
    let out = cognigate(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    for expected in [
        ": routes[2].bind.tenant: capture {tenant} does not appear in path \"/t/**\"",
        ": routes[3].path: capture {x} appears more than once",
        ": routes[4].claims: not allowed on a public route",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }

    let (_dir, path) = proxy::write_config(
        r#"
[upstream]
url = "http://127.0.0.1:3000"

[[issuers]]
name = "main"
region = "us-east-1"
user_pool_id = "us-east-1_AbCdEf123"
client_ids = ["client1"]

[[routes]]
path = "/t/{tenant}/**"
bind = { tenant = "custom:tenant_id" }

[[routes]]
path = "/t/acme/admin"
groups_any = ["admin"]
"#,
    );
    let out = cognigate(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: routes[1]") && err.contains("routes[0] (/t/{tenant}/**)"),
        "{err}"
    );
}

#[test]
fn yaml_and_json_configs_load_and_env_overrides_apply() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("c.yaml");
    std::fs::write(
        &yaml,
        "upstream:\n  url: http://127.0.0.1:3000\nroutes:\n  - path: /**\n    auth: public\n",
    )
    .unwrap();
    let out = cognigate(&["check", "--config", yaml.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json = dir.path().join("c.json");
    std::fs::write(
        &json,
        r#"{"upstream":{"url":"http://127.0.0.1:3000"},"routes":[{"path":"/**","auth":"public"}]}"#,
    )
    .unwrap();
    let out = cognigate(&["check", "--config", json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = Command::new(proxy::binary_path())
        .args(["check", "--config", json.to_str().unwrap()])
        .env("COGNIGATE_UPSTREAM__URL", "not a url")
        .env("COGNIGATE_LIMITS__MAX_CONNECTIONS", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("upstream.url") && err.contains("limits.max_connections"),
        "{err}"
    );
}

/// An array entry's key is overridden in place (a sidecar configured by environment
/// alone), not by replacing the whole array.
#[test]
fn env_overrides_reach_array_entries() {
    let (_dir, path) = proxy::write_config(VALID);
    let check = |env: &[(&str, &str)]| {
        let out = Command::new(proxy::binary_path())
            .args(["check", "--config", path.to_str().unwrap()])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (out.status.code(), text(&out.stderr))
    };
    let (code, err) = check(&[
        ("COGNIGATE_ISSUERS__0__USER_POOL_ID", "eu-west-1_Other"),
        ("COGNIGATE_ROUTES__1__AUTH", "sometimes"),
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("issuers[0].user_pool_id:") && err.contains("eu-west-1_Other"),
        "{err}"
    );
    assert!(
        err.contains("routes[1].auth:") && err.contains("sometimes"),
        "{err}"
    );
    let (code, err) = check(&[("COGNIGATE_ROUTES__1__AUTH", "public")]);
    assert_eq!(code, Some(0), "{err}");

    // An entry past the end would leave empty ones before it: named, with the count.
    let routes = VALID.matches("[[routes]]").count();
    let past = format!("COGNIGATE_ROUTES__{}__AUTH", routes + 3);
    let (code, err) = check(&[(past.as_str(), "public")]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!("routes[{}]: {past} names entry", routes + 3))
            && err.contains(&format!("or add routes[{routes}]")),
        "{err}"
    );
    // The next entry may be added: it is then validated like one from the file.
    let next = format!("COGNIGATE_ROUTES__{routes}__AUTH");
    let (code, err) = check(&[(next.as_str(), "public")]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!("routes[{routes}].path: required")),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(cognigate(&[]).status.code(), Some(2));
    assert_eq!(cognigate(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(cognigate(&["check"]).status.code(), Some(2));
    assert_eq!(cognigate(&["--version"]).status.code(), Some(0));
}

#[test]
fn missing_config_file_is_exit_1() {
    let out = cognigate(&["check", "--config", "/nonexistent/cognigate.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/cognigate.toml"));
}

#[tokio::test]
async fn health_probes_the_admin_listener() {
    let up = echo::start().await;
    let p = proxy::start(&format!(
        "[upstream]\nurl = \"{}\"\n[[routes]]\npath = \"/**\"\nauth = \"public\"\n",
        up.url()
    ))
    .await;
    let url = p.admin_url("/livez");
    let ok = tokio::task::spawn_blocking(move || cognigate(&["health", "--url", &url]))
        .await
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let url = p.admin_url("/nope");
    let bad = tokio::task::spawn_blocking(move || cognigate(&["health", "--url", &url]))
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    p.stop().await;
    let down =
        tokio::task::spawn_blocking(|| cognigate(&["health", "--url", "http://127.0.0.1:9/"]))
            .await
            .unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(
        text(&down.stderr).contains("connection refused"),
        "{}",
        text(&down.stderr)
    );
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/readyz", silent.local_addr().unwrap());
    let hung = tokio::task::spawn_blocking(move || cognigate(&["health", "--url", &url]))
        .await
        .unwrap();
    assert_eq!(hung.status.code(), Some(1));
    assert!(
        text(&hung.stderr).contains("timed out after 2s"),
        "{}",
        text(&hung.stderr)
    );
}

#[test]
fn a_failed_jwks_fetch_is_logged_with_its_cause() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_dir, path) = proxy::write_config(&format!(
        "[upstream]\nurl = \"http://127.0.0.1:3000\"\n[[issuers]]\nname = \"main\"\nissuer = \"https://issuer.example\"\nclient_ids = [\"c\"]\njwks_uri = \"http://127.0.0.1:{port}/jwks.json\"\n[[routes]]\npath = \"/**\"\n"
    ));
    let bin = proxy::spawn_binary(&path, &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let line = runtime.block_on(bin.log_line(&["JWKS", "connection refused"]));
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_then_exits_0() {
    let up = echo::start().await;
    let (_dir, path) = proxy::write_config(&format!(
        "shutdown_delay = \"1s\"\n[upstream]\nurl = \"{}\"\n[[routes]]\npath = \"/**\"\nauth = \"public\"\n",
        up.url()
    ));
    let mut bin = proxy::spawn_binary(&path, &[]);
    let admin = format!("http://{}/readyz", bin.admin);
    assert_eq!(http::get(&admin, &[]).await.status, 200);
    let slow_url = bin.url("/slow/2500");
    let slow = tokio::spawn(async move { http::get(&slow_url, &[]).await });
    up.wait_for("/slow/").await;
    bin.signal("TERM");
    // During shutdown_delay: not ready, but still serving.
    http::wait_for_status(&admin, 503).await;
    assert_eq!(http::get(&bin.url("/fast"), &[]).await.status, 200);
    let started = Instant::now();
    let reply = slow.await.unwrap();
    assert_eq!(reply.status, 200, "the in-flight request completed");
    let code = tokio::task::spawn_blocking(move || bin.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn bodies_stream_through_without_growing_the_proxy() {
    let up = echo::start().await;
    let (_dir, path) = proxy::write_config(&format!(
        "[upstream]\nurl = \"{}\"\n[[routes]]\npath = \"/**\"\nauth = \"public\"\n",
        up.url()
    ));
    let bin = proxy::spawn_binary(&path, &[("RUST_LOG", "warn,cognigate::app=info")]);
    // Warm up the connection pools and allocator, then measure.
    assert_eq!(
        http::get(&bin.url("/stream/1048576"), &[]).await.status,
        200
    );
    let before = rss_kib(bin.child.id());
    let r = http::get(&bin.url("/stream/52428800"), &[]).await;
    assert_eq!(r.body.len(), 52_428_800);
    let upload = "u".repeat(50 * 1024 * 1024);
    let r = http::send("POST", &bin.url("/upload"), &[], Some(&upload)).await;
    assert_eq!(r.json()["body_len"], 50 * 1024 * 1024);
    let grown = rss_kib(bin.child.id()).saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "proxy RSS grew by {grown} KiB while streaming 2 x 50 MB"
    );
}
