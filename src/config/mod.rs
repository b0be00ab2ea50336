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
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub mode: Mode,
    pub shutdown_delay: Duration,
    pub shutdown_timeout: Duration,
    /// Present in `proxy` mode (validation requires it there).
    pub upstream: Option<Upstream>,
    pub limits: Limits,
    pub tls: Option<Tls>,
    pub issuers: Vec<Issuer>,
    pub jwks: JwksSettings,
    pub token: TokenSettings,
    pub identity: IdentitySettings,
    pub routes: Vec<RouteConfig>,
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
    pub connect_timeout: Duration,
    /// Time allowed until the upstream's response head arrives.
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub http2: bool,
}

/// `[limits]`
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_connections: usize,
    pub max_header_bytes: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// An HTTP/1.1 connection idle this long gives its buffers back; zero: never.
    pub park_after: Duration,
}

/// `[tls]`
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The two kinds of Cognito token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenUse {
    Access,
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
    pub name: String,
    /// The exact expected `iss`.
    pub issuer: String,
    /// `http://`, `https://` or (local development) `file://`.
    pub jwks_uri: String,
    pub client_ids: Vec<String>,
    pub token_use: Vec<TokenUse>,
    /// Never `none` or HS*: validation refuses them.
    pub algorithms: Vec<Algorithm>,
    /// A Cognito user pool (`user_pool_id` set, or a Cognito issuer URL): its tokens
    /// must carry `token_use`. Other OIDC issuers' tokens may omit it.
    pub cognito: bool,
}

/// `[jwks]`
#[derive(Debug, Clone, PartialEq)]
pub struct JwksSettings {
    pub refresh_interval: Duration,
    pub min_refetch_interval: Duration,
    pub fetch_timeout: Duration,
}

/// `[token]`
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSettings {
    pub leeway: Duration,
    pub cookies: Vec<String>,
    pub amplify_cookies: bool,
    pub strip_authorization: bool,
    pub cache_size: usize,
}

/// `[identity]`
#[derive(Debug, Clone, PartialEq)]
pub struct IdentitySettings {
    /// As written (checked to be header-name characters); `identity` folds it to the
    /// form names are compared in.
    pub header_prefix: String,
    pub claims_header: bool,
    /// Claim name -> header name, in key order.
    pub claim_headers: Vec<(String, HeaderName)>,
}

/// How a route treats tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Required,
    Optional,
    Public,
    Deny,
}

/// One validated `[[routes]]` entry, in config order.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    pub path: String,
    /// `None`: any method.
    pub methods: Option<Vec<Method>>,
    /// Lower-case; may start with `*.` for one subdomain label.
    pub host: Option<String>,
    pub auth: AuthMode,
    pub groups_any: Vec<String>,
    pub groups_all: Vec<String>,
    pub scopes_any: Vec<String>,
    pub scopes_all: Vec<String>,
    /// Empty: any.
    pub token_use: Vec<TokenUse>,
    /// Issuer names; empty: any.
    pub issuers: Vec<String>,
    /// `claims`: claim name -> accepted values (each list non-empty); empty: no rule.
    pub claims: BTreeMap<String, Vec<String>>,
    /// `bind`: capture name (a `{name}` of `path`) -> the claim it must equal.
    pub bind: BTreeMap<String, String>,
}
