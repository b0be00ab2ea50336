//! `[login]` in a real browser: headless Chromium, driven over WebDriver (chromedriver,
//! started here), through the whole flow against the managed-login stand-in
//! (`cognigate::standin`): sent to sign in, the picker, back on the page with the
//! identity at the upstream, a script's `fetch` on the session, a refresh in place once
//! the access token expires, logout through the stand-in's `/logout`, and signing in
//! again. `tests/login.rs` checks the same flow (and its bad input) with a plain client.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (`.ci/run` installs them);
//! without them the test fails saying so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::Engine as _;
use bytes::Bytes;
use cognigate::standin::{StandIn, StandInConfig};
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::http;
use support::proxy::{self, TestProxy};
use support::tokens;
use tokio::net::TcpListener;

const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Browser1";
const CLIENT: &str = "browserclient";
/// base64 of 32 bytes.
const SECRET: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The access (and id) tokens' lifetime at the stand-in: short, so the test sees one expire.
const ACCESS_TTL: Duration = Duration::from_secs(4);
/// How long any one step may take.
const STEP: Duration = Duration::from_secs(10);
/// The protected page, with a query that must survive the round trip through sign-in.
const PAGE: &str = "/app/page?x=1&y=%2F";

// ---------------------------------------------------------------------------------------
// The upstream: an HTML page showing the identity it received, with a button that calls
// an API route with `fetch`; API routes answer JSON; every request is recorded.

#[derive(Debug, Clone)]
struct Seen {
    target: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
struct Upstream {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = Upstream {
            url: format!("http://{}", listener.local_addr().unwrap()),
            seen: Arc::default(),
        };
        let seen = upstream.seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                let service = service_fn(move |req| answer(req, seen.clone()));
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        upstream
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The last request whose target starts with `prefix`.
    fn last(&self, prefix: &str) -> Seen {
        (self.requests().into_iter().rev())
            .find(|r| r.target.starts_with(prefix))
            .unwrap_or_else(|| panic!("no request to {prefix} reached the upstream"))
    }

    fn count(&self, prefix: &str) -> usize {
        (self.requests().iter())
            .filter(|r| r.target.starts_with(prefix))
            .count()
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn answer(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let target = req.uri().path_and_query().map_or("", |p| p.as_str());
    let record = Seen {
        target: target.to_owned(),
        headers: (req.headers().iter())
            .map(|(n, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_owned(), v)
            })
            .collect(),
    };
    seen.lock().unwrap().push(record.clone());
    let h = |name: &str| record.header(name).unwrap_or("-").to_owned();
    let (content_type, body) = if target.starts_with("/api/") {
        let body = json!({
            "target": record.target,
            "username": h("x-auth-username"),
            "email": h("x-auth-email"),
            "authorization": h("authorization"),
        });
        ("application/json", body.to_string())
    } else if target.starts_with("/public/signed-out") {
        let body = "<!doctype html><html><head><meta charset=\"utf-8\"><title>signed out\
                    </title></head><body><p id=\"bye\">signed out</p></body></html>";
        ("text/html; charset=utf-8", body.to_owned())
    } else {
        let who = html_escape(&format!("{} {}", h("x-auth-username"), h("x-auth-email")));
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>app</title></head>\
             <body><pre id=\"who\">{who}</pre>\
             <button id=\"call\" onclick=\"call()\">Call the API</button><pre id=\"api\"></pre>\
             <script>function call() {{\
               fetch('/api/orders').then(r => r.text().then(t => {{\
                 document.getElementById('api').textContent = r.status + ' ' + t;\
               }})).catch(e => {{ document.getElementById('api').textContent = 'error ' + e; }});\
             }}</script></body></html>"
        );
        ("text/html; charset=utf-8", body)
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut()
        .insert("content-type", content_type.parse().unwrap());
    resp.headers_mut()
        .insert("cache-control", "no-store".parse().unwrap());
    Ok(resp)
}

// ---------------------------------------------------------------------------------------
// chromedriver and Chromium.

/// chromedriver, started by the test on a loopback port, with Chromium's profile in a
/// fresh directory. Dropped (also on panic): chromedriver is killed by its PID, then
/// any Chromium process still running with this profile (found in `/proc` by its
/// `--user-data-dir`, which no other process has) by its PID.
struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
    log: PathBuf,
}

impl Driver {
    fn start() -> Driver {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).is_file(),
                "{binary} is missing: the browser test drives headless Chromium through \
                 chromedriver. Run .ci/run (it installs them), or apt-get install chromium \
                 chromium-driver"
            );
        }
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().join("chromedriver.log");
        let port = support::nginx::free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{CHROMEDRIVER} did not start: {e}"));
        Driver {
            child,
            port,
            profile,
            log,
        }
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Waits (bounded) for chromedriver to listen, then opens a session: headless
    /// Chromium with a fresh profile, page loads and scripts bounded by [`STEP`].
    async fn connect(&self) -> Client {
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < STEP,
                "chromedriver does not listen on {}; its log:\n{}",
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = format!("--user-data-dir={}", self.profile.path().display());
        let caps = json!({
            "browserName": "chrome",
            "timeouts": { "pageLoad": STEP.as_millis(), "script": STEP.as_millis(), "implicit": 0 },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    profile,
                ],
            },
        });
        let caps = caps.as_object().cloned().unwrap();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut builder = ClientBuilder::new(connector);
        builder.capabilities(caps);
        let url = format!("http://127.0.0.1:{}", self.port);
        let session = builder.connect(&url);
        match tokio::time::timeout(Duration::from_secs(30), session).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!(
                "no WebDriver session: {e}; chromedriver's log:\n{}",
                self.log()
            ),
            Err(_) => panic!(
                "no WebDriver session within 30 s; chromedriver's log:\n{}",
                self.log()
            ),
        }
    }

    /// PIDs of the processes started with this driver's Chromium profile.
    fn chromium_pids(&self) -> Vec<u32> {
        let needle = format!("--user-data-dir={}", self.profile.path().display());
        let Ok(proc) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        proc.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(&needle))
            })
            .collect()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in self.chromium_pids() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// Polls `check` until it gives a value, for at most [`STEP`]; panics naming `what`.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if started.elapsed() > STEP => {
                panic!("{what}: not after {STEP:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn current_url(browser: &Client) -> String {
    browser.current_url().await.unwrap().to_string()
}

/// The text of the element `css`, once there.
async fn text_of(browser: &Client, css: &str) -> String {
    eventually(&format!("the element {css}"), async || {
        let element = browser.find(Locator::Css(css)).await;
        let text = element.map_err(|e| e.to_string())?.text().await;
        text.map_err(|e| e.to_string())
    })
    .await
}

/// `fetch(path)` from the page: status, whether it was redirected, its final URL and
/// body.
async fn page_fetch(browser: &Client, path: &str) -> Value {
    let script = "const done = arguments[arguments.length - 1];\
                  fetch(arguments[0]).then(r => r.text().then(body => done({\
                    status: r.status, redirected: r.redirected, url: r.url, body })))\
                  .catch(e => done({ error: String(e) }));";
    browser
        .execute_async(script, vec![json!(path)])
        .await
        .unwrap()
}

/// The browser's cookies for the current page's host (HttpOnly ones too), by name.
async fn cookies(browser: &Client) -> Vec<(String, String)> {
    (browser.get_all_cookies().await.unwrap().iter())
        .map(|c| (c.name().to_owned(), c.value().to_owned()))
        .collect()
}

async fn metric(proxy: &TestProxy, series: &str) -> String {
    let metrics = http::get(&proxy.admin_url("/metrics"), &[]).await.body;
    (metrics.lines())
        .find(|l| l.starts_with(series))
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{metrics}"))
        .to_owned()
}

/// The `exp` of a `Bearer` JWT.
fn expiry(authorization: &str) -> u64 {
    let token = authorization.strip_prefix("Bearer ").unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["exp"].as_u64().unwrap()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn config(upstream: &Upstream, idp: &StandIn) -> String {
    format!(
        r#"
[upstream]
url = "{upstream}"

[jwks]
fetch_timeout = "2s"

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
logout_redirect = "http://127.0.0.1:{{port}}/public/signed-out"
pass_access_token = true

[[routes]]
path = "/public/**"
auth = "public"

[[routes]]
path = "/api/**"
login = false

[[routes]]
path = "/**"
"#,
        upstream = upstream.url,
        jwks_uri = idp.jwks_uri(),
        domain = idp.url(),
    )
}

// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn chromium_signs_in_calls_the_api_refreshes_in_place_and_signs_out() {
    let driver = Driver::start();
    let upstream = Upstream::start().await;
    let mut idp_cfg = StandInConfig::new(ISSUER, CLIENT);
    idp_cfg.access_ttl = ACCESS_TTL;
    let idp = StandIn::start(idp_cfg, tokens::key()).await.unwrap();
    let proxy = proxy::start_on_known_port(&config(&upstream, &idp)).await;
    let browser = driver.connect().await;
    let authorize = format!("{}/oauth2/authorize?", idp.url());
    let alice = "//form[input[@name='username' and @value='alice']]//button";

    // 1. A protected page: the navigation is sent to sign in, the picker shows.
    browser.goto(&proxy.url(PAGE)).await.unwrap();
    let at = current_url(&browser).await;
    assert!(at.starts_with(&authorize), "sent to the picker: {at}");
    assert_eq!(upstream.requests().len(), 0, "nothing reached the upstream");

    // 2. Pick alice: back through the callback on the same page, path and query.
    browser
        .find(Locator::XPath(alice))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let page = proxy.url(PAGE);
    eventually("back on the protected page", async || {
        let at = current_url(&browser).await;
        if at == page { Ok(()) } else { Err(at) }
    })
    .await;
    assert_eq!(text_of(&browser, "#who").await, "alice alice@example.com");
    let seen = upstream.last("/app/page");
    assert_eq!(seen.target, PAGE);
    assert_eq!(seen.header("x-auth-username"), Some("alice"));
    assert_eq!(seen.header("x-auth-email"), Some("alice@example.com"));
    let cookie = seen.header("cookie").unwrap_or("");
    assert!(
        !cookie.contains("cognigate_session"),
        "the sealed session never reaches the upstream: {cookie}"
    );
    assert_eq!(
        metric(&proxy, "cognigate_logins_total{result=\"ok\"}").await,
        "cognigate_logins_total{result=\"ok\"} 1"
    );

    // 3. The page's button calls an API route with fetch: the session cookie admits it,
    //    no redirect, the page stays.
    browser
        .find(Locator::Css("#call"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let api = eventually("the API answer on the page", async || {
        let text = text_of(&browser, "#api").await;
        if text.is_empty() { Err(text) } else { Ok(text) }
    })
    .await;
    let body = api
        .strip_prefix("200 ")
        .unwrap_or_else(|| panic!("the page's fetch: {api}"));
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["username"], "alice");
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(body["target"], "/api/orders");
    assert_eq!(current_url(&browser).await, page, "no redirect");
    let first_token = upstream
        .last("/api/orders")
        .header("authorization")
        .unwrap()
        .to_owned();
    assert!(first_token.starts_with("Bearer ey"), "{first_token}");
    assert_eq!(body["authorization"], first_token.as_str());
    let refreshed_ok = "cognigate_session_refreshes_total{result=\"ok\"}";
    assert!(
        http::get(&proxy.admin_url("/metrics"), &[])
            .await
            .body
            .lines()
            .all(|l| !l.starts_with(refreshed_ok) || l.ends_with(" 0")),
        "no refresh yet (this machine took longer than the {ACCESS_TTL:?} access token \
         lifetime to get here)"
    );
    let session_before = cookies(&browser).await;

    // 4. Past the access token's expiry, the next fetch is refreshed in place: 200, a
    //    new access token at the upstream, a new session cookie, no redirect.
    let exp = expiry(&first_token);
    let waited = Instant::now();
    while unix_now() < exp {
        assert!(waited.elapsed() < STEP, "exp {exp} is too far off");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = page_fetch(&browser, "/api/orders?after=expiry").await;
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(reply["redirected"], false, "{reply}");
    assert_eq!(reply["url"], proxy.url("/api/orders?after=expiry"));
    let body: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["username"], "alice");
    assert_eq!(body["email"], "alice@example.com");
    let second_token = upstream
        .last("/api/orders?after=expiry")
        .header("authorization")
        .unwrap()
        .to_owned();
    assert_ne!(
        second_token, first_token,
        "a new access token after the refresh"
    );
    assert!(expiry(&second_token) > exp, "the new token expires later");
    assert_eq!(
        metric(&proxy, refreshed_ok).await,
        format!("{refreshed_ok} 1")
    );
    let session_after = cookies(&browser).await;
    let session = |all: &[(String, String)]| {
        (all.iter())
            .find(|(n, _)| n == "cognigate_session")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no session cookie in {all:?}"))
    };
    assert_ne!(
        session(&session_after),
        session(&session_before),
        "the refreshed session is set"
    );
    assert_eq!(current_url(&browser).await, page, "no redirect");

    // The next navigation uses the refreshed session as it is: no second refresh.
    browser.goto(&page).await.unwrap();
    assert_eq!(text_of(&browser, "#who").await, "alice alice@example.com");
    assert_eq!(
        upstream.last("/app/page").header("authorization"),
        Some(second_token.as_str())
    );
    assert_eq!(
        metric(&proxy, refreshed_ok).await,
        format!("{refreshed_ok} 1")
    );

    // 5. Logout: the session cookie goes, the browser goes through the stand-in's
    //    /logout (its own sign-in cookie goes too) to logout_redirect, a public page.
    browser.goto(&proxy.url("/oauth2/logout")).await.unwrap();
    let signed_out = proxy.url("/public/signed-out");
    eventually("at logout_redirect", async || {
        let at = current_url(&browser).await;
        if at == signed_out { Ok(()) } else { Err(at) }
    })
    .await;
    assert_eq!(text_of(&browser, "#bye").await, "signed out");
    let seen = upstream.last("/public/signed-out");
    assert_eq!(seen.header("x-auth-username"), None, "no identity any more");
    let left = cookies(&browser).await;
    assert!(
        left.iter()
            .all(|(n, _)| !n.starts_with("cognigate_session") && n != "cognito"),
        "the proxy's and the stand-in's cookies are gone: {left:?}"
    );

    // 6. The protected page again: sent to the picker, not straight back.
    let pages_before = upstream.count("/app/page");
    browser.goto(&proxy.url(PAGE)).await.unwrap();
    let at = current_url(&browser).await;
    assert!(at.starts_with(&authorize), "sent to the picker again: {at}");
    browser.find(Locator::XPath(alice)).await.unwrap();
    assert_eq!(upstream.count("/app/page"), pages_before);
    assert_eq!(
        metric(&proxy, "cognigate_logins_total{result=\"ok\"}").await,
        "cognigate_logins_total{result=\"ok\"} 1"
    );

    browser.close().await.unwrap();
    proxy.stop().await;
    drop(driver);
}
