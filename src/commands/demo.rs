//! `cognigate demo [--port N]`: cognigate working in one command, with no AWS account.
//!
//! One process holds a local issuer (a fresh RSA key, its JWKS served on loopback by
//! the managed-login stand-in, [`crate::standin`], which also signs browsers in), an
//! echo upstream that answers with the request it received as JSON (so the identity
//! headers cognigate added are visible), and the proxy itself, started by the same
//! `app::start` and validated by the same config code as `cognigate run`.

use super::explain::describe_route;
use super::token::{DEFAULT_CLIENT_ID, DEFAULT_ISSUER, unix_now};
use crate::app::{self, Running};
use crate::config::{self, Config, TokenUse, raw::RawConfig};
use crate::mint::{self, DevKey, TokenSpec};
use crate::standin::{StandIn, StandInConfig};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How long the proxy has to load the demo issuer's keys.
const READY_DEADLINE: Duration = Duration::from_secs(10);
/// Lifetime of the printed tokens.
const TOKEN_TTL: Duration = Duration::from_secs(3600);

/// A running demo: the proxy and its two helpers, and what to print.
#[derive(Debug)]
pub struct Demo {
    /// The text to show the user: route table and curl commands.
    pub banner: Vec<String>,
    running: Running,
    standin: StandIn,
    helpers: Vec<JoinHandle<()>>,
}

impl Demo {
    /// Stops the proxy gracefully, then the managed-login stand-in (which serves the
    /// JWKS) and the echo upstream.
    pub async fn stop(self) {
        self.running.shutdown();
        self.running.wait().await;
        self.standin.stop();
        for task in self.helpers {
            task.abort();
        }
    }
}

/// Starts the demo with the proxy on `127.0.0.1:port` and waits until it is ready.
///
/// # Errors
///
/// One line: the port is in use (naming it and `--port`), or what else failed.
pub async fn start(port: u16) -> Result<Demo, String> {
    let key = mint::generate_rsa_key().map_err(|e| e.to_string())?;
    let standin = StandIn::start(
        StandInConfig::new(DEFAULT_ISSUER, DEFAULT_CLIENT_ID),
        key.clone(),
    )
    .await
    .map_err(|e| format!("cannot start the demo managed-login stand-in: {e}"))?;
    let (echo_addr, echo_task) = serve_loopback(echo)
        .await
        .map_err(|e| format!("cannot start the demo echo upstream: {e}"))?;
    let helpers = vec![echo_task];
    let proxy_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let config = demo_config(proxy_addr, &standin, echo_addr)?;
    let banner_routes = route_lines(&config);
    let running = match app::start(config).await {
        Ok(running) => running,
        Err(e) => {
            helpers.iter().for_each(JoinHandle::abort);
            return Err(start_error(proxy_addr, &e));
        }
    };
    let demo = Demo {
        banner: Vec::new(),
        running,
        standin,
        helpers,
    };
    if let Err(e) = wait_ready(demo.running.admin_addr).await {
        demo.stop().await;
        return Err(e);
    }
    let banner = banner(&demo.running, echo_addr, &demo.standin, banner_routes, &key)?;
    Ok(Demo { banner, ..demo })
}

fn start_error(addr: SocketAddr, e: &anyhow::Error) -> String {
    let in_use = e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
    });
    if in_use {
        format!("{addr} is in use; pick another port with --port N")
    } else {
        format!("{e:#}")
    }
}

/// The demo config, through the same raw -> validated path as a config file. Browsers
/// sign in at the stand-in; the session cookies are sealed with a secret made for this
/// run (a restart signs everyone out).
fn demo_config(proxy: SocketAddr, standin: &StandIn, echo: SocketAddr) -> Result<Config, String> {
    let jwks_uri = standin.jwks_uri();
    let domain = standin.url();
    let secret = cookie_secret()?;
    let text = format!(
        r#"
listen = "{proxy}"
admin_listen = "127.0.0.1:0"
shutdown_timeout = "5s"

[upstream]
url = "http://{echo}"

[[issuers]]
name = "demo"
issuer = "{DEFAULT_ISSUER}"
client_ids = ["{DEFAULT_CLIENT_ID}"]
token_use = ["access", "id"]
jwks_uri = "{jwks_uri}"

[login]
domain = "{domain}"
client_id = "{DEFAULT_CLIENT_ID}"
cookie_secrets = ["{secret}"]
cookie_secure = false
logout_redirect = "http://{proxy}/public/signed-out"

[[routes]]
path = "/public/**"
auth = "public"

[[routes]]
path = "/api/**"
auth = "required"

[[routes]]
path = "/admin/**"
groups_any = ["admin"]
"#
    );
    let raw: RawConfig = ::config::Config::builder()
        .add_source(::config::File::from_str(&text, ::config::FileFormat::Toml))
        .build()
        .and_then(::config::Config::try_deserialize)
        .map_err(|e| format!("demo config: {e}"))?;
    let validated = config::validate(raw).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        format!("demo config: {}", list.join("; "))
    })?;
    Ok(validated.config)
}

/// 32 random bytes, base64: the demo's `cookie_secrets`.
fn cookie_secret() -> Result<String, String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| "no random bytes for the demo's cookie secret")?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn route_lines(config: &Config) -> Vec<String> {
    config
        .routes
        .iter()
        .map(|r| format!("  {:<12} {}", r.path, describe_route(r)))
        .collect()
}

/// Polls `/readyz` until the proxy has the demo issuer's keys.
async fn wait_ready(admin: SocketAddr) -> Result<(), String> {
    let url = format!("http://{admin}/readyz");
    let started = Instant::now();
    loop {
        match super::health::probe(&url).await {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() > READY_DEADLINE => {
                return Err(format!("the demo proxy did not become ready: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The four requests the banner offers: who, path, expected status, why.
const TRIES: [(Option<&str>, &str, u16, &str); 4] = [
    (
        Some("alice"),
        "/api/hello",
        200,
        "the echo upstream shows the X-Auth-* headers cognigate added",
    ),
    (
        Some("alice"),
        "/admin/stats",
        403,
        "alice is not in group admin",
    ),
    (Some("root"), "/admin/stats", 200, "root is in group admin"),
    (None, "/api/hello", 401, "no token"),
];

fn banner(
    running: &Running,
    echo: SocketAddr,
    standin: &StandIn,
    routes: Vec<String>,
    key: &DevKey,
) -> Result<Vec<String>, String> {
    let jwks_uri = standin.jwks_uri();
    let proxy = running.proxy_addr;
    let mut lines = vec![
        format!("cognigate demo: proxy on http://{proxy}"),
        format!(
            "  upstream: built-in echo on http://{echo} (answers with the request it got, as JSON)"
        ),
        format!("  issuer:   {DEFAULT_ISSUER} (fresh RSA key, JWKS on {jwks_uri})"),
        format!("  admin:    http://{}/readyz, /metrics", running.admin_addr),
        String::new(),
        "routes (first match wins; no match is refused 403):".to_owned(),
    ];
    lines.extend(routes);
    lines.push(String::new());
    lines.push("try (tokens valid for 1h):".to_owned());
    for (user, path, status, why) in TRIES {
        let who = user.map_or("no token".to_owned(), |u| format!("user {u}"));
        lines.push(format!("# {who}, GET {path} -> expect {status} ({why})"));
        let auth = match user {
            Some(user) => format!(" -H 'Authorization: Bearer {}'", user_token(key, user)?),
            None => String::new(),
        };
        lines.push(format!("curl -i{auth} http://{proxy}{path}"));
    }
    lines.push(String::new());
    lines.push(format!(
        "in a browser (cognigate sends you to a local stand-in for Cognito's sign-in page, on {}: pick alice or root):",
        standin.url()
    ));
    lines.push(format!("  open     http://{proxy}/api/hello"));
    lines.push(format!("  sign out http://{proxy}/oauth2/logout"));
    lines.push(String::new());
    lines.push("Ctrl-C stops the demo.".to_owned());
    Ok(lines)
}

/// An access token for `user`; `root` is in group `admin`.
fn user_token(key: &DevKey, user: &str) -> Result<String, String> {
    let groups = if user == "root" {
        vec!["admin".to_owned()]
    } else {
        Vec::new()
    };
    let spec = TokenSpec {
        sub: user.to_owned(),
        issuer: DEFAULT_ISSUER.to_owned(),
        client_id: DEFAULT_CLIENT_ID.to_owned(),
        token_use: TokenUse::Access,
        groups,
        scope: Some("openid profile".to_owned()),
        username: Some(user.to_owned()),
        email: None,
        ttl: TOKEN_TTL,
        now: unix_now(),
        claims: Vec::new(),
    };
    mint::mint(key, &spec).map_err(|e| e.to_string())
}

/// Serves `handler` over HTTP/1.1 on a free loopback port.
async fn serve_loopback<F>(handler: F) -> std::io::Result<(SocketAddr, JoinHandle<()>)>
where
    F: Fn(Request<Incoming>) -> Response<Full<Bytes>> + Clone + Send + Sync + 'static,
{
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await; // e.g. out of file descriptors
                continue;
            };
            let handler = handler.clone();
            let service = service_fn(move |req| {
                let resp = handler(req);
                async move { Ok::<_, Infallible>(resp) }
            });
            tokio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let _ = conn.await;
            });
        }
    });
    Ok((addr, task))
}

/// The echo upstream: method, path and every header it received, as JSON.
fn echo(req: Request<Incoming>) -> Response<Full<Bytes>> {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let body = serde_json::json!({
        "method": req.method().as_str(),
        "path": path,
        "headers": headers,
    });
    let text = serde_json::to_string_pretty(&body).unwrap_or_default();
    json_response(Bytes::from(format!("{text}\n")))
}

fn json_response(body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}
