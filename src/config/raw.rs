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
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub mode: Option<String>,
    pub shutdown_delay: Option<String>,
    pub shutdown_timeout: Option<String>,
    pub upstream: Option<RawUpstream>,
    #[serde(default)]
    pub limits: RawLimits,
    pub tls: Option<RawTls>,
    #[serde(default)]
    pub issuers: Vec<RawIssuer>,
    #[serde(default)]
    pub jwks: RawJwks,
    #[serde(default)]
    pub token: RawToken,
    #[serde(default)]
    pub identity: RawIdentity,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

/// `[upstream]`
#[derive(Debug, Default, Deserialize)]
pub struct RawUpstream {
    pub url: Option<String>,
    pub connect_timeout: Option<String>,
    pub timeout: Option<String>,
    pub ca_file: Option<String>,
    pub http2: Option<bool>,
}

/// `[limits]`
#[derive(Debug, Default, Deserialize)]
pub struct RawLimits {
    pub max_connections: Option<u64>,
    pub max_header_bytes: Option<u64>,
    pub header_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub park_after: Option<String>,
}

/// `[tls]`
#[derive(Debug, Default, Deserialize)]
pub struct RawTls {
    pub cert: Option<String>,
    pub key: Option<String>,
}

/// One `[[issuers]]` entry.
#[derive(Debug, Default, Deserialize)]
pub struct RawIssuer {
    pub name: Option<String>,
    pub region: Option<String>,
    pub user_pool_id: Option<String>,
    #[serde(default)]
    pub client_ids: Vec<String>,
    pub token_use: Option<Vec<String>>,
    pub issuer: Option<String>,
    pub jwks_uri: Option<String>,
    pub issuer_format: Option<String>,
    pub algorithms: Option<Vec<String>>,
}

/// `[jwks]`
#[derive(Debug, Default, Deserialize)]
pub struct RawJwks {
    pub refresh_interval: Option<String>,
    pub min_refetch_interval: Option<String>,
    pub fetch_timeout: Option<String>,
}

/// `[token]`
#[derive(Debug, Default, Deserialize)]
pub struct RawToken {
    pub leeway: Option<String>,
    #[serde(default)]
    pub cookies: Vec<String>,
    pub amplify_cookies: Option<bool>,
    pub strip_authorization: Option<bool>,
    pub cache_size: Option<u64>,
}

/// `[identity]`
#[derive(Debug, Default, Deserialize)]
pub struct RawIdentity {
    pub header_prefix: Option<String>,
    pub claims_header: Option<bool>,
    #[serde(default)]
    pub claim_headers: BTreeMap<String, String>,
}

/// One `[[routes]]` entry.
#[derive(Debug, Default, Deserialize)]
pub struct RawRoute {
    pub path: Option<String>,
    pub methods: Option<Vec<String>>,
    pub host: Option<String>,
    pub auth: Option<String>,
    // Rule lists: `None` when absent, so that one written empty can be refused.
    pub groups_any: Option<Vec<String>>,
    pub groups_all: Option<Vec<String>>,
    pub scopes_any: Option<Vec<String>>,
    pub scopes_all: Option<Vec<String>>,
    pub token_use: Option<Vec<String>>,
    pub issuers: Option<Vec<String>>,
    /// Claim name -> accepted values.
    pub claims: Option<BTreeMap<String, Vec<String>>>,
    /// Capture name (a `{name}` of `path`) -> claim name.
    pub bind: Option<BTreeMap<String, String>>,
}
