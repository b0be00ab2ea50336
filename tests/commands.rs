//! The first-run commands over the real binary: `demo` (its printed curls give the
//! printed statuses), `token` (accepted by a proxy through a `file://` JWKS, refused after
//! rotation), `check --fetch`, and `explain` (same decision as a running proxy).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use cognigate::mint::DevKey;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::{echo, http, jwks_server, proxy, tokens};

fn cognigate(args: &[&str]) -> Output {
    Command::new(proxy::binary_path())
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------------
// demo

/// `cognigate demo --port N`, its stdout read line by line on a thread.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Demo {
    fn spawn(port: u16) -> Demo {
        let mut child = Command::new(proxy::binary_path())
            .args(["demo", "--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Demo { child, lines }
    }

    /// The banner, up to its last line.
    fn banner(&self) -> Vec<String> {
        let mut banner = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("demo banner incomplete: {banner:#?}"));
            let last = line.starts_with("Ctrl-C");
            banner.push(line);
            if last {
                return banner;
            }
        }
    }

    /// Sends `sig` to the demo (by its PID) and returns its exit code.
    fn stop(mut self, sig: &str) -> Option<i32> {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
        for _ in 0..500 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }
}

/// `(expected status, curl command)` pairs: each `curl` line follows a `# ... -> expect N`.
fn tries(banner: &[String]) -> Vec<(u16, String)> {
    let mut expected = None;
    let mut out = Vec::new();
    for line in banner {
        if let Some((_, status)) = line.split_once("-> expect ") {
            expected = Some(status[..3].parse::<u16>().unwrap());
        } else if line.starts_with("curl ") {
            out.push((
                expected.take().expect("a curl line without expectation"),
                line.clone(),
            ));
        }
    }
    out
}

fn have_curl() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the pasted command in a shell, as a user would, and reads the status curl saw.
fn run_with_curl(line: &str) -> u16 {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{line} -s -o /dev/null -w '%{{http_code}}'"))
        .output()
        .unwrap();
    text(&out.stdout).trim().parse().unwrap()
}

/// Without curl: the URL is the last word, the header the single-quoted part.
async fn run_with_client(line: &str) -> http::Reply {
    let url = line.split_whitespace().last().unwrap();
    let header = line.split('\'').nth(1).map(|h| h.split_once(": ").unwrap());
    let headers: Vec<(&str, &str)> = header.into_iter().collect();
    http::get(url, &headers).await
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_prints_curls_that_give_the_printed_statuses_and_stops_on_ctrl_c() {
    let port = free_port();
    let demo = Demo::spawn(port);
    let banner = tokio::task::block_in_place(|| demo.banner());
    let joined = banner.join("\n");
    for route in ["/public/**", "/api/**", "/admin/**"] {
        assert!(joined.contains(route), "{joined}");
    }
    let tries = tries(&banner);
    let statuses: Vec<u16> = tries.iter().map(|t| t.0).collect();
    assert_eq!(statuses, [200, 403, 200, 401], "{joined}");
    for (expected, line) in &tries {
        assert!(
            line.contains(&format!("http://127.0.0.1:{port}/")),
            "{line}"
        );
        let got = if have_curl() {
            tokio::task::block_in_place(|| run_with_curl(line))
        } else {
            run_with_client(line).await.status
        };
        assert_eq!(got, *expected, "{line}");
    }
    let admin_echo = run_with_client(&tries[2].1).await;
    assert_eq!(admin_echo.json()["headers"]["x-auth-groups"], "admin");
    // The JWKS comes from the managed-login stand-in, which also shows its user picker.
    let jwks_uri = joined
        .split("JWKS on ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no JWKS URL in the banner: {joined}"));
    assert!(http::get(jwks_uri, &[]).await.json()["keys"][0]["kid"].is_string());
    let domain = jwks_uri.trim_end_matches("/.well-known/jwks.json");
    // The browser URL it prints: a navigation is sent to the stand-in's sign-in page.
    let open = (banner.iter())
        .find_map(|l| l.trim().strip_prefix("open"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no browser URL in the banner: {joined}"));
    assert_eq!(open, format!("http://127.0.0.1:{port}/api/hello"));
    let navigation = [("sec-fetch-mode", "navigate"), ("accept", "text/html")];
    let sent = http::get(open, &navigation).await;
    assert_eq!(sent.status, 302, "{}", sent.body);
    let authorize = sent.header("location").unwrap();
    assert!(
        authorize.starts_with(&format!("{domain}/oauth2/authorize?")),
        "{authorize}"
    );
    let picker = http::get(authorize, &navigation).await;
    assert_eq!(picker.status, 200, "{}", picker.body);
    assert!(picker.body.contains("value=\"root\""), "{}", picker.body);
    assert_eq!(tokio::task::block_in_place(|| demo.stop("-INT")), Some(0));
}

#[test]
fn demo_stops_cleanly_on_sigterm() {
    let demo = Demo::spawn(free_port());
    demo.banner();
    assert_eq!(demo.stop("-TERM"), Some(0));
}

#[test]
fn demo_on_a_port_in_use_exits_1_naming_the_port_and_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = cognigate(&["demo", "--port", &port.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let expected =
        format!("cognigate: 127.0.0.1:{port} is in use; pick another port with --port N");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("cognigate: "))
            .collect::<Vec<_>>(),
        [expected.as_str()],
        "{stderr}"
    );
    assert!(text(&out.stdout).is_empty());
}

// ---------------------------------------------------------------------------------
// token

fn generate_key(key: &Path, jwks: &Path) {
    let out = cognigate(&[
        "token",
        "--generate-key",
        path_str(key),
        "--jwks",
        path_str(jwks),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
}

fn mint_with_binary(key: &Path, args: &[&str]) -> String {
    let mut all = vec!["token", "--key", path_str(key)];
    all.extend_from_slice(args);
    let out = cognigate(&all);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let token = stdout
        .strip_suffix('\n')
        .expect("token ends with a newline");
    assert_eq!(token.split('.').count(), 3, "only the token: {stdout:?}");
    assert!(!token.contains(char::is_whitespace));
    token.to_owned()
}

fn file_issuer_config(upstream: &str, jwks: &Path) -> String {
    format!(
        r#"
[upstream]
url = "{upstream}"

[[issuers]]
name = "local"
region = "us-east-1"
user_pool_id = "us-east-1_LocalDev1"
client_ids = ["localdevclient"]
token_use = ["access", "id"]
jwks_uri = "file://{}"

[jwks]
min_refetch_interval = "1s"

[[routes]]
path = "/**"
"#,
        jwks.display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn minted_tokens_pass_through_a_file_jwks_and_fail_after_the_key_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let (key1, key2, jwks) = (
        dir.path().join("key1.pem"),
        dir.path().join("key2.pem"),
        dir.path().join("jwks.json"),
    );
    generate_key(&key1, &jwks);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key1).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let upstream = echo::start().await;
    let proxy = proxy::start(&file_issuer_config(&upstream.url(), &jwks)).await;
    let old = mint_with_binary(
        &key1,
        &["--sub", "alice", "--groups", "a,b", "--scope", "x y"],
    );
    let auth = tokens::bearer(&old);
    let reply = http::get(&proxy.url("/hello"), &[("authorization", &auth)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let seen = upstream.last();
    assert_eq!(seen.header("x-auth-sub"), ["alice"]);
    assert_eq!(seen.header("x-auth-groups"), ["a,b"]);
    assert_eq!(seen.header("x-auth-scopes"), ["x y"]);
    let id = mint_with_binary(
        &key1,
        &[
            "--sub",
            "bob",
            "--token-use",
            "id",
            "--email",
            "b@example.com",
        ],
    );
    let reply = http::get(
        &proxy.url("/hello"),
        &[("authorization", &tokens::bearer(&id))],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(upstream.last().header("x-auth-email"), ["b@example.com"]);

    // Rotate: a new key replaces the old one in the same JWKS file.
    generate_key(&key2, &jwks);
    let new = mint_with_binary(&key2, &["--sub", "alice"]);
    let reply = http::get(
        &proxy.url("/hello"),
        &[("authorization", &tokens::bearer(&new))],
    )
    .await;
    assert_eq!(
        reply.status, 200,
        "new key accepted after an unknown-kid refetch: {}",
        reply.body
    );
    let reply = http::get(&proxy.url("/hello"), &[("authorization", &auth)]).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    let challenge = reply.header("www-authenticate").unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    proxy.stop().await;
}

#[test]
fn token_refuses_to_overwrite_a_key_and_reports_a_bad_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let out = cognigate(&["token", "--generate-key", path_str(&key)]);
    assert_eq!(out.status.code(), Some(0));
    let jwks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    let again = cognigate(&["token", "--generate-key", path_str(&key)]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists"));

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    let out = cognigate(&["token", "--key", path_str(&garbage), "--sub", "x"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("garbage.pem"), "{stderr}");
    let usage = cognigate(&["token", "--key", path_str(&key)]);
    assert_eq!(usage.status.code(), Some(2));
}

// ---------------------------------------------------------------------------------
// check --fetch

fn served_issuer_config(jwks_uri: &str) -> String {
    format!(
        r#"
[upstream]
url = "http://127.0.0.1:3000"

[[issuers]]
name = "pool-a"
issuer = "{}"
client_ids = ["{}"]
jwks_uri = "{jwks_uri}"

[jwks]
fetch_timeout = "2s"

[[routes]]
path = "/**"
"#,
        tokens::ISSUER,
        tokens::CLIENT
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn check_fetch_names_the_kids_and_fails_naming_the_issuer_when_down() {
    let key = tokens::key();
    let server = jwks_server::start(&key.jwks_json).await;
    let (_dir, config) = proxy::write_config(&served_issuer_config(&server.uri()));
    let out = tokio::task::block_in_place(|| {
        cognigate(&["check", "--config", path_str(&config), "--fetch"])
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&key.kid) && stdout.contains("pool-a"),
        "{stdout}"
    );

    let down = format!("http://127.0.0.1:{}/.well-known/jwks.json", free_port());
    let (_dir, config) = proxy::write_config(&served_issuer_config(&down));
    let out = cognigate(&["check", "--config", path_str(&config), "--fetch"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("\"pool-a\"") && stderr.contains(&down),
        "{stderr}"
    );
    let file = path_str(&config);
    assert!(
        stderr.starts_with(&format!("{file}: issuers[0].jwks_uri: ")),
        "{stderr}"
    );
}

/// A loopback listener that accepts connections and never answers.
fn silent_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_fetch_names_why_a_fetch_failed() {
    let silent = silent_listener();
    let plain_http = jwks_server::start(&tokens::key().jwks_json).await;
    let tls_to_plain = plain_http.uri().replacen("http://", "https://", 1);
    let cases = [
        (
            format!("http://127.0.0.1:{}/jwks.json", free_port()),
            "connection refused".to_owned(),
        ),
        (
            "http://nonexistent.invalid/jwks.json".to_owned(),
            "DNS lookup failed for host nonexistent.invalid".to_owned(),
        ),
        (tls_to_plain, "TLS handshake failed: ".to_owned()),
        (
            format!("http://{}/jwks.json", silent.local_addr().unwrap()),
            "timed out after 2s".to_owned(),
        ),
    ];
    for (uri, cause) in cases {
        let (_dir, config) = proxy::write_config(&served_issuer_config(&uri));
        let out = tokio::task::block_in_place(|| {
            cognigate(&["check", "--config", path_str(&config), "--fetch"])
        });
        assert_eq!(out.status.code(), Some(1), "{uri}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(&cause), "{uri}: want {cause:?} in {stderr}");
        assert!(!stderr.contains("client error (Connect)"), "{stderr}");
    }
}

// ---------------------------------------------------------------------------------
// explain

const EXPLAIN_ROUTES: &str = r#"
[[routes]]
path = "/public/**"
auth = "public"

[[routes]]
path = "/api/**"

[[routes]]
path = "/admin/**"
groups_any = ["admin"]

[[routes]]
path = "/t/{tenant}/**"
bind = { tenant = "custom:tenant_id" }
claims = { "custom:plan" = ["pro", "team"] }
"#;

/// The decision line's status: the refusal's, or the echo upstream's 200 when allowed.
fn explain_status(stdout: &str) -> u16 {
    let decision = stdout
        .lines()
        .find_map(|l| l.strip_prefix("decision: "))
        .unwrap_or_else(|| panic!("no decision:\n{stdout}"));
    if decision.starts_with("allowed") {
        200
    } else {
        decision[..3].parse().unwrap()
    }
}

fn explain(config: &Path, token: Option<&str>, fetch: bool, path: &str) -> String {
    let mut args = vec!["explain", "--config", path_str(config)];
    if let Some(token) = token {
        args.extend(["--token", token]);
    }
    if fetch {
        args.push("--fetch");
    }
    args.extend(["GET", path]);
    let out = cognigate(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// An access token of tenant `tenant` on plan `plan`.
fn tenant_token(key: &DevKey, tenant: &str, plan: &str) -> String {
    let mut spec = tokens::access("ann", &[]);
    spec.claims = vec![
        ("custom:tenant_id".into(), tenant.into()),
        ("custom:plan".into(), plan.into()),
    ];
    tokens::sign(key, &spec)
}

fn stale(key: &DevKey, sub: &str) -> String {
    let mut spec = tokens::access(sub, &[]);
    spec.now -= 7200;
    tokens::sign(key, &spec)
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_gives_the_same_decision_as_the_running_proxy() {
    let key = tokens::key();
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, &key.jwks_json).unwrap();
    let upstream = echo::start().await;
    let body = format!(
        r#"
[upstream]
url = "{}"

[[issuers]]
name = "main"
issuer = "{}"
client_ids = ["{}"]
jwks_uri = "file://{}"
{EXPLAIN_ROUTES}"#,
        upstream.url(),
        tokens::ISSUER,
        tokens::CLIENT,
        jwks.display()
    );
    let proxy = proxy::start(&body).await;
    let (_cfg_dir, config) = proxy::write_config(&body);

    let user = tokens::sign(&key, &tokens::access("alice", &[]));
    let admin = tokens::sign(&key, &tokens::access("root", &["admin"]));
    let forged = tokens::sign(&tokens::key(), &tokens::access("root", &["admin"]));
    let mut other_client = tokens::access("alice", &[]);
    other_client.client_id = "someoneelse".into();
    let other_client = tokens::sign(&key, &other_client);
    let expired = stale(&key, "alice");
    let acme_pro = tenant_token(&key, "acme", "pro");
    let acme_free = tenant_token(&key, "acme", "free");

    // (name, token, path, expected status, does the signature decide it?)
    let table: [(&str, Option<&str>, &str, u16, bool); 17] = [
        ("allowed", Some(&user), "/api/hello", 200, false),
        ("admin allowed", Some(&admin), "/admin/stats", 200, false),
        ("public", None, "/public/x", 200, false),
        ("no token", None, "/api/hello", 401, false),
        ("expired", Some(&expired), "/api/hello", 401, false),
        (
            "wrong client",
            Some(&other_client),
            "/api/hello",
            401,
            false,
        ),
        ("forged", Some(&forged), "/admin/stats", 401, true),
        ("bad group", Some(&user), "/admin/stats", 403, false),
        ("no route", Some(&user), "/elsewhere", 403, false),
        ("path trick", Some(&user), "/public/../admin/x", 403, false),
        (
            "path trick, no token",
            None,
            "/public/../admin/x",
            401,
            false,
        ),
        ("encoded slash", None, "/public/..%2fadmin/x", 400, false),
        ("climb above root", None, "/../admin", 400, false),
        ("own tenant", Some(&acme_pro), "/t/acme/x", 200, false),
        ("other tenant", Some(&acme_pro), "/t/globex/x", 403, false),
        (
            "climb to another tenant",
            Some(&acme_pro),
            "/t/acme/../globex",
            403,
            false,
        ),
        (
            "claim rule unmet",
            Some(&acme_free),
            "/t/acme/x",
            403,
            false,
        ),
    ];
    for (name, token, path, expected, signature_decides) in table {
        let auth = token.map(tokens::bearer);
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let reply = http::get(&proxy.url(path), &headers).await;
        assert_eq!(reply.status, expected, "{name}: proxy: {}", reply.body);
        let fetched = tokio::task::block_in_place(|| explain(&config, token, true, path));
        assert_eq!(explain_status(&fetched), expected, "{name}:\n{fetched}");
        if let Some(challenge) = reply.header("www-authenticate") {
            let line = format!("www-authenticate: {challenge}");
            assert!(
                fetched.lines().any(|l| l.trim() == line),
                "{name}: {line}\n{fetched}"
            );
        }
        let unfetched = tokio::task::block_in_place(|| explain(&config, token, false, path));
        if signature_decides {
            // Signed with a key the issuer does not publish: the kid is unknown.
            assert!(
                fetched.contains("FAIL         key: kid"),
                "{name}:\n{fetched}"
            );
            assert!(unfetched.contains("not checked"), "{name}:\n{unfetched}");
        } else {
            assert_eq!(explain_status(&unfetched), expected, "{name}:\n{unfetched}");
        }
    }
    proxy.stop().await;
}

#[test]
fn explain_in_forward_auth_mode_refuses_a_malformed_path_403() {
    let key = tokens::key();
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, &key.jwks_json).unwrap();
    let body = format!(
        "mode = \"forward_auth\"\n\n[[issuers]]\nname = \"main\"\nissuer = \"{}\"\nclient_ids = [\"{}\"]\njwks_uri = \"file://{}\"\n{EXPLAIN_ROUTES}",
        tokens::ISSUER,
        tokens::CLIENT,
        jwks.display()
    );
    let (_cfg_dir, config) = proxy::write_config(&body);
    let out = explain(&config, None, false, "/public/..%2fadmin/x");
    assert_eq!(explain_status(&out), 403, "{out}");
    assert!(out.contains("\"error\":\"bad_request\""), "{out}");
}

#[test]
fn explain_shows_each_step_and_exits_1_on_a_bad_config() {
    let key = tokens::key();
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, &key.jwks_json).unwrap();
    let body = format!(
        "[upstream]\nurl = \"http://127.0.0.1:3000\"\n\n[[issuers]]\nname = \"main\"\nissuer = \"{}\"\nclient_ids = [\"{}\"]\njwks_uri = \"file://{}\"\n{EXPLAIN_ROUTES}",
        tokens::ISSUER,
        tokens::CLIENT,
        jwks.display()
    );
    let (_cfg_dir, config) = proxy::write_config(&body);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", stale(&key, "alice"))).unwrap();
    let out = cognigate(&[
        "explain",
        "--config",
        path_str(&config),
        "--token-file",
        path_str(&token_file),
        "GET",
        "http://api.example.com/public/../api/x?q=1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for expected in [
        "path: /api/x (normalized from /public/../api/x",
        "routes[0] /public/**",
        "path does not match",
        "routes[1] /api/**",
        "MATCH",
        "not checked  signature",
        "claims, UNVERIFIED",
        "FAIL         exp:",
        "note: no keys loaded: the decision below holds if the signature verifies",
        "decision: 401 Unauthorized (expired)",
        "www-authenticate: Bearer realm=\"cognigate\", error=\"invalid_token\"",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
    // The proxy's verifier stops at the first failure, and so does what explain shows.
    assert!(!stdout.contains("token_use:"), "{stdout}");
    let requests = stdout.lines().filter(|l| l.starts_with("request:"));
    assert_eq!(
        requests.count(),
        1,
        "the request is printed once:\n{stdout}"
    );

    let out = cognigate(&[
        "explain",
        "--config",
        "/nonexistent/cognigate.toml",
        "GET",
        "/",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/cognigate.toml"));
}

/// Each claim rule and binding, met or not, with what the token and the path gave it;
/// the decision is the first unmet one's, as the proxy's.
#[test]
fn explain_shows_each_claim_rule_and_binding_met_or_not() {
    let key = tokens::key();
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, &key.jwks_json).unwrap();
    let body = format!(
        "[upstream]\nurl = \"http://127.0.0.1:3000\"\n\n[[issuers]]\nname = \"main\"\nissuer = \"{}\"\nclient_ids = [\"{}\"]\njwks_uri = \"file://{}\"\n{EXPLAIN_ROUTES}",
        tokens::ISSUER,
        tokens::CLIENT,
        jwks.display()
    );
    let (_cfg_dir, config) = proxy::write_config(&body);
    let token = tenant_token(&key, "acme", "free");
    let stdout = explain(&config, Some(&token), true, "/t/acme/../globex/x");
    for expected in [
        "path: /t/globex/x (normalized from /t/acme/../globex/x",
        "routes[3] /t/{tenant}/**   MATCH: auth required; claims custom:plan in pro,team; bind {tenant} to custom:tenant_id",
        "route rules: FAIL route '/t/{tenant}/**' requires claim custom:plan: any of pro, team",
        "  FAIL         claim custom:plan: one of pro, team (token: \"free\")",
        "  FAIL         path segment {tenant} = claim custom:tenant_id (path: \"globex\", token: \"acme\")",
        "decision: 403 Forbidden (claims)",
        "www-authenticate: Bearer realm=\"cognigate\", error=\"insufficient_scope\"",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }

    let pro = tenant_token(&key, "acme", "pro");
    let stdout = explain(&config, Some(&pro), true, "/t/globex/x");
    for expected in [
        "  ok           claim custom:plan: one of pro, team (token: \"pro\")",
        "  FAIL         path segment {tenant} = claim custom:tenant_id (path: \"globex\", token: \"acme\")",
        "decision: 403 Forbidden (binding)",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }

    let stdout = explain(&config, Some(&pro), false, "/t/acme/x");
    for expected in [
        "route rules: ok (claims custom:plan in pro,team; bind {tenant} to custom:tenant_id)",
        "  ok           claim custom:plan: one of pro, team (token: \"pro\")",
        "  ok           path segment {tenant} = claim custom:tenant_id (path: \"acme\", token: \"acme\")",
        "decision: allowed if the signature verifies",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
}
