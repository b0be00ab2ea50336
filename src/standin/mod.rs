//! A local stand-in for Amazon Cognito managed login (the Hosted UI), for
//! `cognigate demo` and the tests: the authorization-code flow with PKCE, refresh,
//! revocation and logout, with Cognito's paths, parameters, error answers and token
//! contents, and a page to pick a demo user instead of a password form.
//!
//! Endpoints (relative to [`StandIn::url`], the "managed login domain"):
//!
//! | endpoint | |
//! |---|---|
//! | `GET /.well-known/jwks.json` | the signing key's JWKS |
//! | `GET /.well-known/openid-configuration` | discovery document |
//! | `GET /oauth2/authorize` | user picker, or straight back with a code when signed in; `resource` (RFC 8707) becomes the access tokens' `aud` |
//! | `POST /login` | the picker's form: signs the user in, 302 back with a code |
//! | `POST /oauth2/token` | `authorization_code` (PKCE S256) and `refresh_token` grants |
//! | `POST /oauth2/revoke` | revokes a refresh token and every token issued from it |
//! | `GET /oauth2/userInfo` | the user of a (not revoked) access token |
//! | `GET /logout` | signs the browser out at the stand-in, 302 to `logout_uri` |
//!
//! It is a development tool, never part of the proxy's request path: state is in a
//! `Mutex<HashMap>` (bounded, see [`codes`]), and, like `commands::demo`'s helpers, it
//! spawns its own accept loop and connection tasks (the crate's other modules leave
//! spawning to `app` and `server`).

mod authorize;
mod codes;
mod form;
mod page;
mod token;

use crate::mint::DevKey;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Largest request body read (forms are small).
const MAX_BODY: usize = 64 * 1024;

/// A user the picker offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    /// `username` / `cognito:username`; what the picker shows and `/login` receives.
    pub username: String,
    /// `sub`.
    pub sub: String,
    /// `email` (id token; `email_verified` is `true`).
    pub email: String,
    /// `cognito:groups` (omitted when empty).
    pub groups: Vec<String>,
}

impl DemoUser {
    /// A user `name` with `sub` derived from it, `name@example.com`, and `groups`.
    pub fn new(name: &str, groups: &[&str]) -> DemoUser {
        DemoUser {
            username: name.to_owned(),
            sub: format!("{name}-0000-4000-8000-000000000000"),
            email: format!("{name}@example.com"),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    /// The demo's users: `alice` (no group), `bob` (`reader`), `root` (`admin`); the
    /// demo's curl commands use the same names.
    pub fn demo_users() -> Vec<DemoUser> {
        vec![
            DemoUser::new("alice", &[]),
            DemoUser::new("bob", &["reader"]),
            DemoUser::new("root", &["admin"]),
        ]
    }
}

/// What the stand-in serves: one user pool with one app client.
#[derive(Debug, Clone)]
pub struct StandInConfig {
    /// `iss` of the tokens (the demo: `commands::token::DEFAULT_ISSUER`).
    pub issuer: String,
    /// The app client's id.
    pub client_id: String,
    /// `Some`: a confidential client; `/oauth2/token` and `/oauth2/revoke` require its
    /// credentials (HTTP Basic, or `client_secret` in the body), else `invalid_client`.
    pub client_secret: Option<String>,
    /// Who can sign in.
    pub users: Vec<DemoUser>,
    /// The scopes the client may ask for; an authorize request without `scope` gets
    /// them all.
    pub scopes: Vec<String>,
    /// Lifetime of access and id tokens (`expires_in`).
    pub access_ttl: Duration,
    /// Each refresh answers a new refresh token, and the one used stops working.
    pub rotate_refresh_tokens: bool,
    /// Callback and sign-out URLs accepted besides `http(s)` loopback ones (exact
    /// match), like an app client's registered URLs.
    pub redirect_uris: Vec<String>,
}

impl StandInConfig {
    /// A public client `client_id` of `issuer` with [`DemoUser::demo_users`], scopes
    /// `openid email profile`, 1-hour tokens, no rotation, loopback URLs only.
    pub fn new(issuer: &str, client_id: &str) -> StandInConfig {
        StandInConfig {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: None,
            users: DemoUser::demo_users(),
            scopes: ["openid", "email", "profile"].map(str::to_owned).to_vec(),
            access_ttl: Duration::from_secs(3600),
            rotate_refresh_tokens: false,
            redirect_uris: Vec::new(),
        }
    }

    /// Whether `uri` may be a callback or sign-out URL: registered, or `http(s)` on a
    /// loopback host (`127.0.0.1`, `localhost`, `[::1]`) without a fragment.
    fn allows_redirect(&self, uri: &str) -> bool {
        if self.redirect_uris.iter().any(|u| u == uri) {
            return true;
        }
        if uri.contains('#') {
            return false;
        }
        let Some(rest) = uri
            .strip_prefix("http://")
            .or_else(|| uri.strip_prefix("https://"))
        else {
            return false;
        };
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        if authority.contains('@') {
            return false;
        }
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.split(':').next().unwrap_or(""),
        };
        matches!(host, "127.0.0.1" | "localhost" | "::1")
    }
}

/// What every request handler reads.
struct Shared {
    cfg: StandInConfig,
    key: DevKey,
    /// Verifies the stand-in's own access tokens at `userInfo`.
    decoding: jsonwebtoken::DecodingKey,
    base_url: String,
    store: Mutex<codes::Store>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, codes::Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running stand-in on a loopback port; dropping it stops accepting connections.
#[derive(Debug)]
pub struct StandIn {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl StandIn {
    /// Binds `127.0.0.1:0` and serves `cfg`, signing tokens with `key`.
    ///
    /// # Errors
    ///
    /// Binding failed, or `key`'s JWKS is unusable (`InvalidData`).
    pub async fn start(cfg: StandInConfig, key: DevKey) -> std::io::Result<StandIn> {
        let decoding = decoding_key(&key)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad JWKS"))?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cfg,
            key,
            decoding,
            base_url: format!("http://{addr}"),
            store: Mutex::new(codes::Store::default()),
        });
        let task = tokio::spawn(accept_loop(listener, shared));
        Ok(StandIn { addr, task })
    }

    /// `http://127.0.0.1:PORT`: the managed-login domain.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `<url>/.well-known/jwks.json`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.url())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections (as dropping does).
    pub fn stop(self) {}
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await; // e.g. out of file descriptors
            continue;
        };
        let shared = shared.clone();
        let service = service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(route(&shared, req).await) }
        });
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            let _ = conn.await;
        });
    }
}

/// A request as the handlers see it: method, path, query, the headers they read, and
/// the body (POST forms).
struct Req {
    method: Method,
    path: String,
    query: form::Params,
    raw_query: Option<String>,
    authorization: Option<String>,
    cookie: Option<String>,
    content_type: Option<String>,
    body: form::Params,
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let header = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (authorization, cookie, content_type) = (
        header(header::AUTHORIZATION),
        header(header::COOKIE),
        header(header::CONTENT_TYPE),
    );
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let raw_query = req.uri().query().map(str::to_owned);
    let query = form::Params::parse(raw_query.as_deref().unwrap_or(""));
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"),
    };
    let req = Req {
        method,
        path,
        query,
        raw_query,
        authorization,
        cookie,
        content_type,
        body: form::Params::parse(&String::from_utf8_lossy(&body)),
    };
    let get = req.method == Method::GET || req.method == Method::HEAD;
    let post = req.method == Method::POST;
    match req.path.as_str() {
        "/.well-known/jwks.json" if get => json(StatusCode::OK, shared.key.jwks_json.clone()),
        "/.well-known/openid-configuration" if get => discovery(shared),
        "/oauth2/authorize" if get => authorize::authorize(shared, &req),
        "/login" if post => authorize::login(shared, &req),
        "/logout" if get => authorize::logout(shared, &req),
        "/oauth2/token" if post => token::token(shared, &req),
        "/oauth2/revoke" if post => token::revoke(shared, &req),
        "/oauth2/userInfo" if get || post => token::user_info(shared, &req),
        "/.well-known/jwks.json"
        | "/.well-known/openid-configuration"
        | "/oauth2/authorize"
        | "/login"
        | "/logout"
        | "/oauth2/token"
        | "/oauth2/revoke"
        | "/oauth2/userInfo" => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// The discovery document, shaped like a user pool's (issuer and `jwks_uri` are the
/// stand-in's; Cognito lists no `code_challenge_methods_supported`, though it takes
/// S256).
fn discovery(shared: &Shared) -> Response<Full<Bytes>> {
    let base = &shared.base_url;
    let doc = serde_json::json!({
        "issuer": shared.cfg.issuer,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "end_session_endpoint": format!("{base}/logout"),
        "userinfo_endpoint": format!("{base}/oauth2/userInfo"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "scopes_supported": shared.cfg.scopes,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    });
    json(StatusCode::OK, doc.to_string())
}

fn decoding_key(key: &DevKey) -> Option<jsonwebtoken::DecodingKey> {
    let jwks: serde_json::Value = serde_json::from_str(&key.jwks_json).ok()?;
    let jwk = jwks.get("keys")?.get(0)?;
    let n = jwk.get("n")?.as_str()?;
    let e = jwk.get("e")?.as_str()?;
    jsonwebtoken::DecodingKey::from_rsa_components(n, e).ok()
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `bytes` random bytes, base64url without padding.
fn random_token(bytes: usize) -> String {
    use base64::Engine as _;
    let mut b = vec![0u8; bytes];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        b.iter_mut().for_each(|x| *x = fastrand::u8(..)); // a dev tool: never fails to answer
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn response(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    response(status, "application/json;charset=UTF-8", body)
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    response(status, "text/plain; charset=utf-8", body.to_owned())
}

/// `{"error": code}` with `status`.
fn oauth_error(status: StatusCode, code: &str) -> Response<Full<Bytes>> {
    json(status, serde_json::json!({ "error": code }).to_string())
}

/// 302 to `location` (which the handlers build from checked parts only).
fn redirect(location: &str) -> Response<Full<Bytes>> {
    let mut resp = response(
        StatusCode::FOUND,
        "text/plain; charset=utf-8",
        String::new(),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_or_registered_redirects_are_allowed() {
        let mut cfg = StandInConfig::new("https://issuer", "c");
        cfg.redirect_uris = vec!["https://app.example.com/cb".into()];
        for ok in [
            "http://127.0.0.1:8080/oauth2/callback",
            "https://localhost/cb?x=1",
            "http://[::1]:9/cb",
            "http://localhost",
            "https://app.example.com/cb",
        ] {
            assert!(cfg.allows_redirect(ok), "{ok}");
        }
        for bad in [
            "https://app.example.com/cb2",
            "http://127.0.0.1.evil.com/cb",
            "http://evil.com@127.0.0.1/cb",
            "http://127.0.0.1@evil.com/cb",
            "ftp://127.0.0.1/cb",
            "http://127.0.0.1/cb#frag",
            "//127.0.0.1/cb",
            "",
        ] {
            assert!(!cfg.allows_redirect(bad), "{bad}");
        }
    }
}
