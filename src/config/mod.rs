//! Configuration: `raw` (as written) -> `validate` (every problem, with its key path)
//! -> [`Config`] (validated, immutable). `load` reads files and environment overrides.

mod load;
pub mod raw;
pub mod reload;
mod validate;

pub use load::{LoadError, load, load_with_env};
pub use validate::{Problem, Validated, validate};

use http::{HeaderName, Method, Uri};
use jsonwebtoken::Algorithm;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A validated configuration. Built once per load; shared behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Config {
    /// `listen`: the proxy listener.
    pub listen: SocketAddr,
    /// `admin_listen`: `/livez`, `/readyz`, `/metrics`.
    pub admin_listen: SocketAddr,
    /// `mode`.
    pub mode: Mode,
    /// `shutdown_delay`: after SIGTERM, not ready but still serving this long.
    pub shutdown_delay: Duration,
    /// `shutdown_timeout`: then in-flight requests get at most this long.
    pub shutdown_timeout: Duration,
    /// Present in `proxy` mode (validation requires it there).
    pub upstream: Option<Upstream>,
    /// `[limits]`.
    pub limits: Limits,
    /// `[tls]`: TLS termination on `listen`.
    pub tls: Option<Tls>,
    /// `[[issuers]]`, in config order (the key store's order).
    pub issuers: Vec<Issuer>,
    /// `[jwks]`.
    pub jwks: JwksSettings,
    /// `[token]`.
    pub token: TokenSettings,
    /// `[identity]`.
    pub identity: IdentitySettings,
    /// `[[routes]]`, in config order (first match wins).
    pub routes: Vec<RouteConfig>,
    /// `[login]`: browser sessions through Cognito managed login.
    pub login: Option<LoginSettings>,
    /// `[resource]`: protected resource metadata, challenges, audience binding.
    pub resource: Option<Resource>,
    /// `[revocation]`.
    pub revocation: RevocationSettings,
}

/// `[revocation]`
#[derive(Debug, Clone, PartialEq)]
pub struct RevocationSettings {
    /// The deny-list file (one JSON object a line), watched and reloaded.
    pub file: Option<PathBuf>,
    /// Serve `POST /revocations` and `GET /revocations` on the admin listener.
    pub admin_api: bool,
    /// Check Cognito access tokens with `GetUser`.
    pub online: bool,
    /// How long one `GetUser` answer is trusted, per `origin_jti`.
    pub online_ttl: Duration,
}

/// `[resource]`: this proxy as an OAuth protected resource (RFC 9728, RFC 8707).
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The resource identifier, as written (served as `resource`).
    pub url: String,
    /// `scheme://authority` of `url`.
    pub origin: String,
    /// The path of `url`, empty when it is `/` or absent (RFC 9728 §3.1).
    pub path: String,
    /// As written, or the default: every issuer's `issuer`, or (with `as_metadata`)
    /// `origin` alone.
    pub authorization_servers: Vec<String>,
    /// An access token's `aud` must contain `url`.
    pub audience: bool,
    /// Also serve `/.well-known/oauth-authorization-server`.
    pub as_metadata: bool,
    /// `resource_name`.
    pub name: Option<String>,
    /// `resource_documentation`.
    pub documentation: Option<String>,
}

/// What the proxy listener does with an allowed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward it to the upstream.
    Proxy,
    /// Answer 200 with identity headers (an ingress forward-auth check).
    ForwardAuth,
}

/// `[upstream]`
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// Scheme and authority only (no path).
    pub url: Uri,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed until the upstream's response head arrives.
    pub timeout: Duration,
    /// Extra roots for an `https` upstream (besides the webpki roots).
    pub ca_file: Option<PathBuf>,
    /// Speak HTTP/2 to the upstream.
    pub http2: bool,
}

/// `[limits]`
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Open client connections at most; past it new ones are refused.
    pub max_connections: usize,
    /// A larger request head is answered 431.
    pub max_header_bytes: usize,
    /// A request head not complete by then: the connection is dropped.
    pub header_timeout: Duration,
    /// A connection with no request in flight this long is closed.
    pub idle_timeout: Duration,
    /// An HTTP/1.1 connection idle this long gives its buffers back; zero: never.
    pub park_after: Duration,
}

/// `[tls]`
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    /// PEM certificate chain (watched, hot-swapped).
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The two kinds of Cognito token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenUse {
    /// An access token (`token_use: access`).
    Access,
    /// An id token (`token_use: id`).
    Id,
}

impl TokenUse {
    /// The claim value (`access` or `id`).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenUse::Access => "access",
            TokenUse::Id => "id",
        }
    }
}

/// A validated `[[issuers]]` entry: `issuer` and `jwks_uri` already derived.
#[derive(Debug, Clone, PartialEq)]
pub struct Issuer {
    /// The name routes, logs and `X-Auth-Issuer` use.
    pub name: String,
    /// The exact expected `iss`.
    pub issuer: String,
    /// `http://`, `https://` or (local development) `file://`.
    pub jwks_uri: String,
    /// App clients accepted: an id token's `aud`, an access token's `client_id`.
    pub client_ids: Vec<String>,
    /// Token kinds accepted from this issuer.
    pub token_use: Vec<TokenUse>,
    /// Never `none` or HS*: validation refuses them.
    pub algorithms: Vec<Algorithm>,
    /// A Cognito user pool (`user_pool_id` set, or a Cognito issuer URL): its tokens
    /// must carry `token_use`. Other OIDC issuers' tokens may omit it.
    pub cognito: bool,
    /// The Cognito JSON API URL `GetUser` is sent to (`[revocation].online`): set, or
    /// derived from the pool's region; `None` for an issuer that is not Cognito.
    pub api_endpoint: Option<String>,
}

/// `[jwks]`
#[derive(Debug, Clone, PartialEq)]
pub struct JwksSettings {
    /// Periodic refetch of every key set.
    pub refresh_interval: Duration,
    /// An unknown `kid` triggers a refetch at most this often per issuer.
    pub min_refetch_interval: Duration,
    /// One fetch, start to end.
    pub fetch_timeout: Duration,
}

/// `[token]`
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSettings {
    /// Clock skew allowed on `exp`, `nbf`, `iat`.
    pub leeway: Duration,
    /// Cookie names a token is read from when there is no `Authorization`.
    pub cookies: Vec<String>,
    /// Also read AWS Amplify's cookie storage.
    pub amplify_cookies: bool,
    /// Remove `Authorization` before forwarding.
    pub strip_authorization: bool,
    /// The verified-token cache's bound; zero disables it.
    pub cache_size: CacheSize,
}

/// `token.cache_size`: how much the verified-token cache may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSize {
    /// At most this many tokens, whatever each holds.
    Entries(u64),
    /// At most this many bytes, each token weighed by the memory its entry holds.
    Bytes(u64),
}

impl CacheSize {
    /// The default: 64 MiB.
    pub const DEFAULT: CacheSize = CacheSize::Bytes(64 << 20);

    /// Whether this bound disables the cache (zero entries or zero bytes).
    pub fn is_off(self) -> bool {
        matches!(self, CacheSize::Entries(0) | CacheSize::Bytes(0))
    }
}

/// `[identity]`
#[derive(Debug, Clone, PartialEq)]
pub struct IdentitySettings {
    /// As written (checked to be header-name characters); `identity` folds it to the
    /// form names are compared in.
    pub header_prefix: String,
    /// Send `X-Auth-Claims` (the verified payload, base64url).
    pub claims_header: bool,
    /// Claim name -> header name, in key order.
    pub claim_headers: Vec<(String, HeaderName)>,
}

/// How a route treats tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// A valid token is required.
    Required,
    /// A token is verified when present (an invalid one is still 401).
    Optional,
    /// No token is looked at; no identity is sent.
    Public,
    /// Always refused (403).
    Deny,
}

/// One validated `[[routes]]` entry, in config order.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// The pattern as written (`/a/*`, `/a/**`, `/t/{tenant}/**`).
    pub path: String,
    /// `None`: any method.
    pub methods: Option<Vec<Method>>,
    /// Lower-case; may start with `*.` for one subdomain label.
    pub host: Option<String>,
    /// How the route treats tokens.
    pub auth: AuthMode,
    /// `cognito:groups` must hold one of these (empty: no rule).
    pub groups_any: Vec<String>,
    /// `cognito:groups` must hold all of these.
    pub groups_all: Vec<String>,
    /// `scope` must hold one of these.
    pub scopes_any: Vec<String>,
    /// `scope` must hold all of these.
    pub scopes_all: Vec<String>,
    /// Empty: any.
    pub token_use: Vec<TokenUse>,
    /// Issuer names; empty: any.
    pub issuers: Vec<String>,
    /// `claims`: claim name -> accepted values (each list non-empty); empty: no rule.
    pub claims: BTreeMap<String, Vec<String>>,
    /// `bind`: capture name (a `{name}` of `path`) -> the claim it must equal.
    pub bind: BTreeMap<String, String>,
    /// `login`: a navigation without a token is sent to sign in (needs `[login]`).
    pub login: bool,
    /// `max_age`: a token whose `auth_time` is older is refused (RFC 9470).
    pub max_age: Option<Duration>,
}

/// `[login]`, validated: the endpoints are the domain's, the secrets decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginSettings {
    /// Index of the `[[issuers]]` entry whose tokens sessions hold.
    pub issuer_idx: usize,
    /// The pool's domain, without a trailing slash (`https://x.auth.<region>.amazoncognito.com`).
    pub domain: String,
    /// The app client with the code grant.
    pub client_id: String,
    /// Set for a confidential client: HTTP Basic authentication at the token endpoint.
    pub client_secret: Option<Secret>,
    /// Scopes asked for (`openid` among them).
    pub scopes: Vec<String>,
    /// Where Cognito sends the browser back.
    pub callback_path: String,
    /// A fixed `redirect_uri` (its path is `callback_path`) instead of the request's origin.
    pub redirect_url: Option<String>,
    /// `GET ?rd=/path`: starts a sign-in.
    pub start_path: String,
    /// `GET` or `POST`: ends the session.
    pub logout_path: String,
    /// Cognito's `logout_uri` after sign-out; unset: the browser goes to `/`.
    pub logout_redirect: Option<String>,
    /// The session cookie's name (chunks add `_1`, `_2`, ...).
    pub cookie_name: String,
    /// Decoded secrets, each at least 32 bytes: the first seals, every one opens.
    pub cookie_secrets: Vec<Secret>,
    /// `Domain=` of the cookies; `None`: host-only.
    pub cookie_domain: Option<String>,
    /// `Secure` on every cookie.
    pub cookie_secure: bool,
    /// `SameSite` on the session cookie.
    pub cookie_samesite: SameSite,
    /// A session older than this signs in again.
    pub session_lifetime: Duration,
    /// Also send `Authorization: Bearer <access token>` upstream.
    pub pass_access_token: bool,
}

/// A secret from the config: compared, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The `SameSite` cookie attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Lax`: sent on top-level navigations from other sites.
    Lax,
    /// `SameSite=Strict`: never sent from other sites.
    Strict,
    /// `SameSite=None` (requires `Secure`).
    None,
}

impl SameSite {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}
