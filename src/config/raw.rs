//! The configuration file as written. Unknown keys are collected by the loader (every
//! one of them is reported with its key path) rather than refused here, where serde
//! would stop at the first.
//!
//! Every scalar stays close to its textual form (durations and enums as strings) so that
//! `validate` can report each problem with its key path instead of stopping at the
//! first serde error.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    /// `listen`.
    pub listen: Option<String>,
    /// `admin_listen`.
    pub admin_listen: Option<String>,
    /// `mode`.
    pub mode: Option<String>,
    /// `shutdown_delay`.
    pub shutdown_delay: Option<String>,
    /// `shutdown_timeout`.
    pub shutdown_timeout: Option<String>,
    /// `[upstream]`.
    pub upstream: Option<RawUpstream>,
    /// `[limits]`.
    #[serde(default)]
    pub limits: RawLimits,
    /// `[tls]`.
    pub tls: Option<RawTls>,
    /// `[[issuers]]`, in order.
    #[serde(default)]
    pub issuers: Vec<RawIssuer>,
    /// `[jwks]`.
    #[serde(default)]
    pub jwks: RawJwks,
    /// `[token]`.
    #[serde(default)]
    pub token: RawToken,
    /// `[identity]`.
    #[serde(default)]
    pub identity: RawIdentity,
    /// `[[routes]]`, in order.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// `[login]`.
    pub login: Option<RawLogin>,
    /// `[resource]`: OAuth protected resource metadata (RFC 9728).
    pub resource: Option<RawResource>,
    /// `[revocation]`.
    #[serde(default)]
    pub revocation: RawRevocation,
}

/// `[revocation]`
#[derive(Debug, Default, Deserialize)]
pub struct RawRevocation {
    /// `revocation.file`.
    pub file: Option<String>,
    /// `revocation.admin_api`.
    pub admin_api: Option<bool>,
    /// `revocation.online`.
    pub online: Option<bool>,
    /// `revocation.online_ttl`.
    pub online_ttl: Option<String>,
}

/// `[resource]`
#[derive(Debug, Default, Deserialize)]
pub struct RawResource {
    /// `resource.url`.
    pub url: Option<String>,
    /// `resource.authorization_servers`.
    pub authorization_servers: Option<Vec<String>>,
    /// `resource.audience`.
    pub audience: Option<bool>,
    /// `resource.as_metadata`.
    pub as_metadata: Option<bool>,
    /// `resource.name`.
    pub name: Option<String>,
    /// `resource.documentation`.
    pub documentation: Option<String>,
}

/// `[upstream]`
#[derive(Debug, Default, Deserialize)]
pub struct RawUpstream {
    /// `upstream.url`.
    pub url: Option<String>,
    /// `upstream.connect_timeout`.
    pub connect_timeout: Option<String>,
    /// `upstream.timeout`.
    pub timeout: Option<String>,
    /// `upstream.ca_file`.
    pub ca_file: Option<String>,
    /// `upstream.http2`.
    pub http2: Option<bool>,
}

/// `[limits]`
#[derive(Debug, Default, Deserialize)]
pub struct RawLimits {
    /// `limits.max_connections`.
    pub max_connections: Option<u64>,
    /// `limits.max_header_bytes`.
    pub max_header_bytes: Option<u64>,
    /// `limits.header_timeout`.
    pub header_timeout: Option<String>,
    /// `limits.idle_timeout`.
    pub idle_timeout: Option<String>,
    /// `limits.park_after`.
    pub park_after: Option<String>,
}

/// `[tls]`
#[derive(Debug, Default, Deserialize)]
pub struct RawTls {
    /// `tls.cert`.
    pub cert: Option<String>,
    /// `tls.key`.
    pub key: Option<String>,
}

/// One `[[issuers]]` entry.
#[derive(Debug, Default, Deserialize)]
pub struct RawIssuer {
    /// `issuers[].name`.
    pub name: Option<String>,
    /// `issuers[].region`.
    pub region: Option<String>,
    /// `issuers[].user_pool_id`.
    pub user_pool_id: Option<String>,
    /// `issuers[].client_ids`.
    #[serde(default)]
    pub client_ids: Vec<String>,
    /// `issuers[].token_use`.
    pub token_use: Option<Vec<String>>,
    /// `issuers[].issuer`.
    pub issuer: Option<String>,
    /// `issuers[].jwks_uri`.
    pub jwks_uri: Option<String>,
    /// `issuers[].issuer_format`.
    pub issuer_format: Option<String>,
    /// `issuers[].algorithms`.
    pub algorithms: Option<Vec<String>>,
    /// `issuers[].api_endpoint`.
    pub api_endpoint: Option<String>,
}

/// `[jwks]`
#[derive(Debug, Default, Deserialize)]
pub struct RawJwks {
    /// `jwks.refresh_interval`.
    pub refresh_interval: Option<String>,
    /// `jwks.min_refetch_interval`.
    pub min_refetch_interval: Option<String>,
    /// `jwks.fetch_timeout`.
    pub fetch_timeout: Option<String>,
}

/// `[token]`
#[derive(Debug, Default, Deserialize)]
pub struct RawToken {
    /// `token.leeway`.
    pub leeway: Option<String>,
    /// `token.cookies`.
    #[serde(default)]
    pub cookies: Vec<String>,
    /// `token.amplify_cookies`.
    pub amplify_cookies: Option<bool>,
    /// `token.strip_authorization`.
    pub strip_authorization: Option<bool>,
    /// `token.cache_size`.
    pub cache_size: Option<RawCacheSize>,
}

/// `token.cache_size` as written: an entry count, or a size string (`"64MiB"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawCacheSize {
    /// An entry count.
    Count(u64),
    /// A size (`"64MiB"`), or a count written as a string (as the environment gives it).
    Text(String),
}

/// `[identity]`
#[derive(Debug, Default, Deserialize)]
pub struct RawIdentity {
    /// `identity.header_prefix`.
    pub header_prefix: Option<String>,
    /// `identity.claims_header`.
    pub claims_header: Option<bool>,
    /// `identity.claim_headers`.
    #[serde(default)]
    pub claim_headers: BTreeMap<String, String>,
}

/// One `[[routes]]` entry.
#[derive(Debug, Default, Deserialize)]
pub struct RawRoute {
    /// `routes[].path`.
    pub path: Option<String>,
    /// `routes[].methods`.
    pub methods: Option<Vec<String>>,
    /// `routes[].host`.
    pub host: Option<String>,
    /// `routes[].auth`.
    pub auth: Option<String>,
    // Rule lists: `None` when absent, so that one written empty can be refused.
    /// `routes[].groups_any`.
    pub groups_any: Option<Vec<String>>,
    /// `routes[].groups_all`.
    pub groups_all: Option<Vec<String>>,
    /// `routes[].scopes_any`.
    pub scopes_any: Option<Vec<String>>,
    /// `routes[].scopes_all`.
    pub scopes_all: Option<Vec<String>>,
    /// `routes[].token_use`.
    pub token_use: Option<Vec<String>>,
    /// `routes[].issuers`.
    pub issuers: Option<Vec<String>>,
    /// Claim name -> accepted values.
    pub claims: Option<BTreeMap<String, Vec<String>>>,
    /// Capture name (a `{name}` of `path`) -> claim name.
    pub bind: Option<BTreeMap<String, String>>,
    /// `routes[].login`.
    pub login: Option<bool>,
    /// `routes[].max_age`.
    pub max_age: Option<String>,
}

/// `[login]`
#[derive(Debug, Default, Deserialize)]
pub struct RawLogin {
    /// `login.issuer`.
    pub issuer: Option<String>,
    /// `login.domain`.
    pub domain: Option<String>,
    /// `login.client_id`.
    pub client_id: Option<String>,
    /// `login.client_secret`.
    pub client_secret: Option<String>,
    /// `login.scopes`.
    pub scopes: Option<Vec<String>>,
    /// `login.callback_path`.
    pub callback_path: Option<String>,
    /// `login.redirect_url`.
    pub redirect_url: Option<String>,
    /// `login.start_path`.
    pub start_path: Option<String>,
    /// `login.logout_path`.
    pub logout_path: Option<String>,
    /// `login.logout_redirect`.
    pub logout_redirect: Option<String>,
    /// `login.cookie_name`.
    pub cookie_name: Option<String>,
    /// `login.cookie_secrets`.
    pub cookie_secrets: Option<Vec<String>>,
    /// `login.cookie_domain`.
    pub cookie_domain: Option<String>,
    /// `login.cookie_secure`.
    pub cookie_secure: Option<bool>,
    /// `login.cookie_samesite`.
    pub cookie_samesite: Option<String>,
    /// `login.session_lifetime`.
    pub session_lifetime: Option<String>,
    /// `login.pass_access_token`.
    pub pass_access_token: Option<bool>,
}
