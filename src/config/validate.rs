//! Raw config -> [`Config`], collecting every problem with its key path rather than
//! stopping at the first (a user fixing a file wants the whole list at once).

mod claims;

use super::raw::{RawConfig, RawIdentity, RawIssuer, RawRoute, RawToken};
use super::{
    AuthMode, Config, IdentitySettings, Issuer, JwksSettings, Limits, Mode, RouteConfig, Tls,
    TokenSettings, TokenUse, Upstream,
};
use crate::policy::{Pattern, RouteTable};
use http::{HeaderName, Method, Uri};
use jsonwebtoken::Algorithm;
use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// One problem (or warning) found in a config, with the key path it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// e.g. `routes[2].path`
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A valid config and what `check` should warn about.
#[derive(Debug)]
pub struct Validated {
    pub config: Config,
    pub warnings: Vec<Problem>,
}

/// Header names cognigate sets or that carry hop-by-hop meaning: a claim header may not
/// reuse them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "authorization",
    "cookie",
    "connection",
    "content-length",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-request-id",
];

/// Longest duration accepted anywhere. hyper and tokio add timeouts to `Instant::now()`
/// and panic on overflow (a `header_timeout` of "300000000000y" passed `humantime` and
/// panicked every connection), so absurd values are refused here.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Largest `limits.max_connections`: far past any file-descriptor limit, and well below
/// tokio's `Semaphore::MAX_PERMITS`, whose constructor panics past it.
const MAX_CONNECTIONS: u64 = 1 << 24;

/// Validates a raw config; `Err` holds every problem found.
pub fn validate(raw: RawConfig) -> Result<Validated, Vec<Problem>> {
    let mut c = Checker::default();
    let mode = c.mode(raw.mode.as_deref());
    let issuers = c.issuers(&raw.issuers);
    let routes = c.routes(&raw.routes, &issuers);
    let config = Config {
        listen: c.addr("listen", raw.listen.as_deref(), "0.0.0.0:8080"),
        admin_listen: c.addr(
            "admin_listen",
            raw.admin_listen.as_deref(),
            "127.0.0.1:9901",
        ),
        mode,
        shutdown_delay: c.duration("shutdown_delay", raw.shutdown_delay.as_deref(), "0s"),
        shutdown_timeout: c.duration("shutdown_timeout", raw.shutdown_timeout.as_deref(), "30s"),
        upstream: c.upstream(raw.upstream, mode),
        limits: c.limits(&raw.limits),
        tls: c.tls(raw.tls),
        jwks: c.jwks(&raw.jwks),
        token: c.token(raw.token),
        identity: c.identity(raw.identity),
        issuers,
        routes,
    };
    c.cross_checks(&config);
    if c.problems.is_empty() {
        Ok(Validated {
            config,
            warnings: c.warnings,
        })
    } else {
        Err(c.problems)
    }
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Checker {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn duration(&mut self, path: &str, value: Option<&str>, default: &str) -> Duration {
        let text = value.unwrap_or(default);
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d > MAX_DURATION => {
                self.error(path, format!("must be at most 100 years, got {text:?}"));
                Duration::ZERO
            }
            Ok(d) => d,
            Err(_) => {
                self.error(
                    path,
                    format!("expected a duration like \"30s\", \"15m\" or \"1h\", got {text:?}"),
                );
                Duration::ZERO
            }
        }
    }

    fn addr(&mut self, path: &str, value: Option<&str>, default: &str) -> SocketAddr {
        let text = value.unwrap_or(default);
        SocketAddr::from_str(text.trim()).unwrap_or_else(|_| {
            self.error(
                path,
                format!("expected an address like \"127.0.0.1:8080\", got {text:?}"),
            );
            SocketAddr::from(([127, 0, 0, 1], 0))
        })
    }

    fn mode(&mut self, value: Option<&str>) -> Mode {
        match value.unwrap_or("proxy") {
            "proxy" => Mode::Proxy,
            "forward_auth" => Mode::ForwardAuth,
            other => {
                self.error(
                    "mode",
                    format!("expected \"proxy\" or \"forward_auth\", got {other:?}"),
                );
                Mode::Proxy
            }
        }
    }

    fn upstream(&mut self, raw: Option<super::raw::RawUpstream>, mode: Mode) -> Option<Upstream> {
        let Some(raw) = raw else {
            if mode == Mode::Proxy {
                self.error("upstream", "required when mode = \"proxy\"");
            }
            return None;
        };
        let url = match raw.url.as_deref() {
            None => {
                self.error("upstream.url", "required");
                None
            }
            Some(text) => self.upstream_url(text),
        };
        let upstream = Upstream {
            url: url.unwrap_or_default(),
            connect_timeout: self.duration(
                "upstream.connect_timeout",
                raw.connect_timeout.as_deref(),
                "5s",
            ),
            timeout: self.duration("upstream.timeout", raw.timeout.as_deref(), "60s"),
            ca_file: raw.ca_file.map(PathBuf::from),
            http2: raw.http2.unwrap_or(false),
        };
        if let Some(ca) = upstream.ca_file.as_ref().filter(|ca| !ca.is_file()) {
            self.error(
                "upstream.ca_file",
                format!("no such file: {}", ca.display()),
            );
        }
        Some(upstream)
    }

    fn upstream_url(&mut self, text: &str) -> Option<Uri> {
        let Ok(uri) = Uri::from_str(text) else {
            self.error(
                "upstream.url",
                format!("expected a URL like \"http://127.0.0.1:3000\", got {text:?}"),
            );
            return None;
        };
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            self.error(
                "upstream.url",
                format!("expected an http:// or https:// URL with a host, got {text:?}"),
            );
            return None;
        }
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            self.error("upstream.url", "must not have a path or query: cognigate forwards the request path as it was authorized");
            return None;
        }
        Some(uri)
    }

    fn limits(&mut self, raw: &super::raw::RawLimits) -> Limits {
        let max_header_bytes = raw.max_header_bytes.unwrap_or(32768);
        if max_header_bytes < 8192 {
            self.error(
                "limits.max_header_bytes",
                format!("must be at least 8192, got {max_header_bytes}"),
            );
        }
        let max_connections = raw.max_connections.unwrap_or(10000);
        if max_connections == 0 || max_connections > MAX_CONNECTIONS {
            self.error(
                "limits.max_connections",
                format!("must be between 1 and {MAX_CONNECTIONS}, got {max_connections}"),
            );
        }
        Limits {
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
            max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
            header_timeout: self.positive_duration(
                "limits.header_timeout",
                raw.header_timeout.as_deref(),
                "10s",
            ),
            idle_timeout: self.positive_duration(
                "limits.idle_timeout",
                raw.idle_timeout.as_deref(),
                "60s",
            ),
            park_after: self.duration("limits.park_after", raw.park_after.as_deref(), "1s"),
        }
    }

    fn positive_duration(&mut self, path: &str, value: Option<&str>, default: &str) -> Duration {
        let d = self.duration(path, value, default);
        if d.is_zero() && value.is_some_and(|v| humantime::parse_duration(v.trim()).is_ok()) {
            self.error(path, "must be longer than 0s");
        }
        d
    }

    fn tls(&mut self, raw: Option<super::raw::RawTls>) -> Option<Tls> {
        let raw = raw?;
        let mut file = |key: &str, value: Option<String>| -> PathBuf {
            let path = PathBuf::from(value.unwrap_or_default());
            if path.as_os_str().is_empty() {
                self.error(format!("tls.{key}"), "required when [tls] is set");
            } else if !path.is_file() {
                self.error(
                    format!("tls.{key}"),
                    format!("no such file: {}", path.display()),
                );
            }
            path
        };
        Some(Tls {
            cert: file("cert", raw.cert),
            key: file("key", raw.key),
        })
    }

    fn jwks(&mut self, raw: &super::raw::RawJwks) -> JwksSettings {
        JwksSettings {
            refresh_interval: self.positive_duration(
                "jwks.refresh_interval",
                raw.refresh_interval.as_deref(),
                "15m",
            ),
            min_refetch_interval: self.duration(
                "jwks.min_refetch_interval",
                raw.min_refetch_interval.as_deref(),
                "30s",
            ),
            fetch_timeout: self.positive_duration(
                "jwks.fetch_timeout",
                raw.fetch_timeout.as_deref(),
                "5s",
            ),
        }
    }

    fn token(&mut self, raw: RawToken) -> TokenSettings {
        for (i, name) in raw.cookies.iter().enumerate() {
            if name.is_empty() || !name.bytes().all(is_token_char) {
                self.error(
                    format!("token.cookies[{i}]"),
                    format!("not a valid cookie name: {name:?}"),
                );
            }
        }
        TokenSettings {
            leeway: self.duration("token.leeway", raw.leeway.as_deref(), "60s"),
            cookies: raw.cookies,
            amplify_cookies: raw.amplify_cookies.unwrap_or(false),
            strip_authorization: raw.strip_authorization.unwrap_or(false),
            cache_size: usize::try_from(raw.cache_size.unwrap_or(100_000)).unwrap_or(usize::MAX),
        }
    }

    fn identity(&mut self, raw: RawIdentity) -> IdentitySettings {
        let prefix = raw.header_prefix.unwrap_or_else(|| "X-Auth-".to_owned());
        if prefix.len() < 2 || !prefix.bytes().all(is_token_char) {
            self.error(
                "identity.header_prefix",
                format!("expected a header name prefix like \"X-Auth-\", got {prefix:?}"),
            );
        } else if !prefix.ends_with(['-', '_']) {
            self.warn(
                "identity.header_prefix",
                format!("{prefix:?} has no trailing \"-\": the headers sent are named like \"{prefix}Sub\""),
            );
        }
        let mut claim_headers = Vec::new();
        for (claim, header) in raw.claim_headers {
            let path = format!("identity.claim_headers.{claim:?}");
            match HeaderName::from_str(&header) {
                Ok(name) if RESERVED_HEADERS.contains(&name.as_str()) => self.error(
                    path,
                    format!("{header:?} is a header cognigate manages itself"),
                ),
                Ok(name) => claim_headers.push((claim, name)),
                Err(_) => self.error(path, format!("not a valid header name: {header:?}")),
            }
        }
        IdentitySettings {
            header_prefix: crate::identity::fold_name(&prefix),
            claims_header: raw.claims_header.unwrap_or(true),
            claim_headers,
        }
    }

    fn issuers(&mut self, raws: &[RawIssuer]) -> Vec<Issuer> {
        let mut names = HashSet::new();
        let mut urls = HashSet::new();
        let mut issuers = Vec::with_capacity(raws.len());
        for (i, raw) in raws.iter().enumerate() {
            let at = format!("issuers[{i}]");
            let issuer = self.issuer(&at, raw);
            if !names.insert(issuer.name.clone()) {
                self.error(
                    format!("{at}.name"),
                    format!("duplicate issuer name {:?}", issuer.name),
                );
            }
            if !issuer.issuer.is_empty() && !urls.insert(issuer.issuer.clone()) {
                self.error(
                    format!("{at}.issuer"),
                    format!("another issuer already has iss {:?}", issuer.issuer),
                );
            }
            issuers.push(issuer);
        }
        issuers
    }

    fn issuer(&mut self, at: &str, raw: &RawIssuer) -> Issuer {
        let name = raw.name.clone().unwrap_or_default();
        if name.is_empty() {
            self.error(format!("{at}.name"), "required");
        }
        let issuer = self.issuer_url(at, raw);
        let jwks_uri = raw
            .jwks_uri
            .clone()
            .unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"));
        if !["http://", "https://", "file://"]
            .iter()
            .any(|s| jwks_uri.starts_with(s))
        {
            self.error(
                format!("{at}.jwks_uri"),
                format!("expected an http://, https:// or file:// URL, got {jwks_uri:?}"),
            );
        }
        if raw.client_ids.is_empty() {
            self.warn(
                format!("{at}.client_ids"),
                "empty: tokens of any app client are accepted",
            );
        }
        let cognito = raw.user_pool_id.is_some() || is_cognito_url(&issuer);
        Issuer {
            name,
            issuer,
            jwks_uri,
            client_ids: raw.client_ids.clone(),
            token_use: self.token_uses(&format!("{at}.token_use"), raw.token_use.as_deref(), true),
            algorithms: self.algorithms(at, raw.algorithms.as_deref()),
            cognito,
        }
    }

    /// The expected `iss`: explicit, or derived from region and pool (Cognito).
    fn issuer_url(&mut self, at: &str, raw: &RawIssuer) -> String {
        if let Some(explicit) = &raw.issuer {
            if !explicit.starts_with("https://") && !explicit.starts_with("http://") {
                self.error(
                    format!("{at}.issuer"),
                    format!("expected an https:// URL, got {explicit:?}"),
                );
            }
            return explicit.trim_end_matches('/').to_owned();
        }
        let (Some(region), Some(pool)) = (&raw.region, &raw.user_pool_id) else {
            self.error(
                at.to_owned(),
                "set region and user_pool_id (Cognito), or issuer (any OIDC issuer)",
            );
            return String::new();
        };
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            self.error(
                format!("{at}.region"),
                format!("expected an AWS region like \"us-east-1\", got {region:?}"),
            );
        }
        if pool
            .split_once('_')
            .is_none_or(|(r, id)| r != region || id.is_empty())
        {
            self.error(
                format!("{at}.user_pool_id"),
                format!(
                    "expected \"{region}_<id>\" (the pool's region, '_', its id), got {pool:?}"
                ),
            );
        }
        match raw.issuer_format.as_deref().unwrap_or("original") {
            "original" => format!("https://cognito-idp.{region}.amazonaws.com/{pool}"),
            "updated" => format!("https://issuer-cognito-idp.{region}.amazonaws.com/{pool}"),
            other => {
                self.error(
                    format!("{at}.issuer_format"),
                    format!("expected \"original\" or \"updated\", got {other:?}"),
                );
                String::new()
            }
        }
    }

    fn token_uses(
        &mut self,
        path: &str,
        values: Option<&[String]>,
        default_access: bool,
    ) -> Vec<TokenUse> {
        let Some(values) = values else {
            return if default_access {
                vec![TokenUse::Access]
            } else {
                Vec::new()
            };
        };
        if values.is_empty() && default_access {
            self.error(path, "must name at least one of \"access\", \"id\"");
        }
        let mut out = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            match v.as_str() {
                "access" => out.push(TokenUse::Access),
                "id" => out.push(TokenUse::Id),
                other => self.error(
                    format!("{path}[{i}]"),
                    format!("expected \"access\" or \"id\", got {other:?}"),
                ),
            }
        }
        out
    }

    fn algorithms(&mut self, at: &str, values: Option<&[String]>) -> Vec<Algorithm> {
        let Some(values) = values else {
            return vec![Algorithm::RS256];
        };
        if values.is_empty() {
            self.error(
                format!("{at}.algorithms"),
                "must name at least one algorithm",
            );
        }
        let mut out = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let path = format!("{at}.algorithms[{i}]");
            match Algorithm::from_str(v) {
                Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => {
                    self.error(path, format!("{v} is never accepted: a shared secret cannot verify a public issuer's tokens"))
                }
                Ok(alg) => out.push(alg),
                Err(_) => self.error(path, format!("expected an asymmetric JWS algorithm such as \"RS256\", got {v:?} (\"none\" is never accepted)")),
            }
        }
        out
    }

    fn routes(&mut self, raws: &[RawRoute], issuers: &[Issuer]) -> Vec<RouteConfig> {
        raws.iter()
            .enumerate()
            .map(|(i, raw)| self.route(&format!("routes[{i}]"), raw, issuers))
            .collect()
    }

    fn route(&mut self, at: &str, raw: &RawRoute, issuers: &[Issuer]) -> RouteConfig {
        let path = raw.path.clone().unwrap_or_default();
        let pattern = match raw.path {
            None => {
                self.error(format!("{at}.path"), "required");
                None
            }
            Some(_) => Pattern::parse(&path)
                .map_err(|e| self.error(format!("{at}.path"), e.to_string()))
                .ok(),
        };
        let auth = match raw.auth.as_deref().unwrap_or("required") {
            "required" => AuthMode::Required,
            "optional" => AuthMode::Optional,
            "public" => AuthMode::Public,
            "deny" => AuthMode::Deny,
            other => {
                self.error(
                    format!("{at}.auth"),
                    format!(
                        "expected \"required\", \"optional\", \"public\" or \"deny\", got {other:?}"
                    ),
                );
                AuthMode::Required
            }
        };
        let token_use = self.rule_list(at, "token_use", &raw.token_use);
        let route = RouteConfig {
            path,
            methods: self.methods(at, raw.methods.as_deref()),
            host: self.host(at, raw.host.as_deref()),
            auth,
            groups_any: self.rule_list(at, "groups_any", &raw.groups_any),
            groups_all: self.rule_list(at, "groups_all", &raw.groups_all),
            scopes_any: self.rule_list(at, "scopes_any", &raw.scopes_any),
            scopes_all: self.rule_list(at, "scopes_all", &raw.scopes_all),
            token_use: self.token_uses(&format!("{at}.token_use"), Some(&token_use), false),
            issuers: self.rule_list(at, "issuers", &raw.issuers),
            claims: self.claim_rules(at, raw.claims.as_ref()),
            bind: self.bindings(at, raw.bind.as_ref(), pattern.as_ref()),
        };
        self.route_rules(at, &route, issuers);
        self.claim_rules_apply(at, &route);
        route
    }

    fn route_rules(&mut self, at: &str, route: &RouteConfig, issuers: &[Issuer]) {
        let has_rules = !(route.groups_any.is_empty()
            && route.groups_all.is_empty()
            && route.scopes_any.is_empty()
            && route.scopes_all.is_empty()
            && route.token_use.is_empty()
            && route.issuers.is_empty());
        if has_rules && matches!(route.auth, AuthMode::Public | AuthMode::Deny) {
            self.error(
                format!("{at}.auth"),
                "a public or deny route cannot have groups, scopes, token_use or issuers rules",
            );
        }
        for (i, name) in route.issuers.iter().enumerate() {
            if !issuers.iter().any(|iss| &iss.name == name) {
                self.error(
                    format!("{at}.issuers[{i}]"),
                    format!("no issuer named {name:?}"),
                );
            }
        }
    }

    /// A rule list as written. Written empty it is an error: `groups_any = []` would
    /// otherwise read as no rule at all (any token passes), surely not what was meant.
    fn rule_list(&mut self, at: &str, key: &str, values: &Option<Vec<String>>) -> Vec<String> {
        match values {
            Some(v) if v.is_empty() => {
                self.error(
                    format!("{at}.{key}"),
                    "empty: name at least one, or remove the key",
                );
                Vec::new()
            }
            Some(v) => v.clone(),
            None => Vec::new(),
        }
    }

    fn methods(&mut self, at: &str, values: Option<&[String]>) -> Option<Vec<Method>> {
        let values = values?;
        if values.is_empty() {
            self.error(
                format!("{at}.methods"),
                "empty: the route would match no request; name a method, or remove the key",
            );
        }
        let mut out = Vec::with_capacity(values.len() + 1);
        for (i, v) in values.iter().enumerate() {
            match Method::from_bytes(v.to_ascii_uppercase().as_bytes()) {
                Ok(m) => out.push(m),
                Err(_) => self.error(
                    format!("{at}.methods[{i}]"),
                    format!("not an HTTP method: {v:?}"),
                ),
            }
        }
        // HEAD is GET without the body (RFC 9110 §9.3.2): a route that allows GET
        // allows HEAD, as nginx's `limit_except GET` does.
        if out.contains(&Method::GET) && !out.contains(&Method::HEAD) {
            out.push(Method::HEAD);
        }
        Some(out)
    }

    fn host(&mut self, at: &str, value: Option<&str>) -> Option<String> {
        let host = value?.to_ascii_lowercase();
        let bare = host.strip_prefix("*.").unwrap_or(&host);
        if bare.is_empty()
            || !bare
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            self.error(format!("{at}.host"), format!("expected a host name like \"api.example.com\" or \"*.example.com\", got {host:?}"));
        }
        Some(host)
    }

    /// Checks that need more than one section.
    fn cross_checks(&mut self, config: &Config) {
        let needs_token = config
            .routes
            .iter()
            .any(|r| matches!(r.auth, AuthMode::Required | AuthMode::Optional));
        if needs_token && config.issuers.is_empty() {
            self.error(
                "issuers",
                "at least one [[issuers]] entry is required when a route needs a token",
            );
        }
        if config.routes.is_empty() {
            self.warn("routes", "no routes: every request is refused with 403");
        }
        if config.listen == config.admin_listen && config.listen.port() != 0 {
            self.error("admin_listen", "must differ from listen");
        }
        if !self.problems.is_empty() {
            return;
        }
        match RouteTable::compile(&config.routes) {
            Ok(table) => {
                for (later, earlier) in table.shadowed() {
                    self.warn(
                        format!("routes[{later}]"),
                        format!(
                            "never matches: routes[{earlier}] ({}) matches every request it would",
                            config.routes[earlier].path
                        ),
                    );
                }
            }
            Err((i, e)) => self.error(format!("routes[{i}].{}", e.key()), e.to_string()),
        }
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
/// `https://cognito-idp.{region}.amazonaws.com/{pool}`, in either issuer format.
fn is_cognito_url(issuer: &str) -> bool {
    let host = issuer
        .strip_prefix("https://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("");
    (host.starts_with("cognito-idp.") || host.starts_with("issuer-cognito-idp."))
        && host.ends_with(".amazonaws.com")
}
