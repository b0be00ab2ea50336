//! `cognigate explain --config FILE [--token T | --token-file F] [--fetch] METHOD URL`:
//! what the proxy would do with one request, without serving it. It runs the proxy's own
//! pieces (path normalization, the route table, the token search, the route rules, the
//! refusal map) and, with `--fetch`, takes the final decision from the proxy's own
//! admission step (`proxy::auth::admit`) against freshly fetched keys, so it cannot
//! disagree with a running proxy on the same config.

mod steps;

use super::Report;
use crate::config::{self, AuthMode, Config, Mode, RouteConfig};
use crate::jwks::{self, JwksClient, KeyStore};
use crate::policy::{self, Check, Route};
use crate::proxy::Snapshot;
use crate::proxy::auth::{self, Target};
use crate::proxy::error::Refusal;
use crate::proxy::token::{self, Found};
use crate::verify::{AuthError, Claims};
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderMap, HeaderValue, Method, Uri};
use http_body_util::BodyExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the token comes from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// No token: the request carries no credentials.
    None,
    /// `--token T`.
    Inline(String),
    /// `--token-file F` (surrounding whitespace ignored).
    File(PathBuf),
}

/// The request to explain.
#[derive(Debug, Clone)]
pub struct Query {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// `http://host/path?query` or just `/path?query`.
    pub url: String,
    /// The bearer token, if any.
    pub token: TokenSource,
    /// Fetch every issuer's JWKS and verify signatures for real.
    pub fetch: bool,
}

/// The outcome: allowed (with the verified identity, if any) or refused.
enum Verdict {
    Allowed {
        path: String,
        principal: Option<(usize, Arc<Claims>)>,
    },
    Refused(Refusal),
}

/// The request as parsed from the command line.
struct Parsed {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
}

/// Explains `query` under the config at `config_path`.
///
/// # Errors
///
/// The config cannot be loaded, the method is not one, or the token file cannot be read.
pub async fn explain(config_path: &Path, query: &Query) -> Result<Report, String> {
    let validated = config::load(config_path).map_err(|e| e.to_string())?;
    let config = Arc::new(validated.config);
    let snap =
        Snapshot::build(config.clone()).map_err(|e| format!("{}: {e}", config_path.display()))?;
    let method = Method::from_bytes(query.method.as_bytes())
        .map_err(|_| format!("{:?} is not an HTTP method", query.method))?;
    let token = read_token(&query.token)?;
    let mut out = Vec::new();
    let parsed = match parse_request(method, &query.url, token.as_deref()) {
        Ok(parsed) => parsed,
        Err(refusal) => {
            out.push(format!("request: {} {}", query.method, query.url));
            render(&snap, Verdict::Refused(refusal), query.fetch, &mut out).await;
            return Ok(done(out));
        }
    };
    out.push(request_line(&parsed));
    let keys = match query.fetch {
        true => Some(fetch_keys(&config, &mut out).await?),
        false => None,
    };
    let verdict = explain_steps(&snap, keys.as_ref(), &parsed, &mut out);
    let verdict = match &keys {
        Some(keys) => proxy_verdict(&snap, keys, &parsed, verdict, &mut out).await,
        None => verdict,
    };
    render(&snap, verdict, query.fetch, &mut out).await;
    Ok(done(out))
}

fn done(stdout: Vec<String>) -> Report {
    Report {
        stdout,
        stderr: Vec::new(),
        ok: true,
    }
}

fn read_token(source: &TokenSource) -> Result<Option<String>, String> {
    match source {
        TokenSource::None => Ok(None),
        TokenSource::Inline(t) => Ok(Some(t.trim().to_owned())),
        TokenSource::File(path) => std::fs::read_to_string(path)
            .map(|t| Some(t.trim().to_owned()))
            .map_err(|e| format!("{}: cannot read the token: {e}", path.display())),
    }
}

/// Method, path, query and the headers a client would send (`Host`, `Authorization`).
fn parse_request(method: Method, url: &str, token: Option<&str>) -> Result<Parsed, Refusal> {
    let uri: Uri = url
        .parse()
        .map_err(|_| Refusal::BadRequest(format!("{url:?} is not a valid request target")))?;
    let mut headers = HeaderMap::new();
    if let Some(host) = uri.authority() {
        let value = HeaderValue::from_str(host.as_str())
            .map_err(|_| Refusal::BadRequest("the host is not a valid header value".into()))?;
        headers.insert(HOST, value);
    }
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Refusal::BadRequest("the token is not a valid header value".into()))?;
        headers.insert(AUTHORIZATION, value);
    }
    Ok(Parsed {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
    })
}

impl Parsed {
    fn host(&self) -> Option<&str> {
        self.headers.get(HOST).and_then(|h| h.to_str().ok())
    }

    fn target(&self) -> Target<'_> {
        Target {
            method: &self.method,
            host: self.host(),
            path: &self.path,
        }
    }
}

/// Fetches every issuer's key set, as the proxy does at start. A failed fetch is
/// reported and leaves that issuer without keys (the proxy would answer 503).
async fn fetch_keys(config: &Config, out: &mut Vec<String>) -> Result<KeyStore, String> {
    // A long refetch interval, with the one refetch taken up front: the sets were just
    // fetched, so an unknown kid is final at once instead of after a fetch_timeout wait.
    let keys = KeyStore::new(config.issuers.len(), Duration::from_secs(86_400));
    let client = JwksClient::new().map_err(|e| format!("cannot build the JWKS client: {e}"))?;
    out.push("keys (--fetch):".to_owned());
    for (idx, issuer) in config.issuers.iter().enumerate() {
        let timeout = config.jwks.fetch_timeout;
        match jwks::fetch(&client, &issuer.jwks_uri, timeout, &issuer.algorithms).await {
            Ok(set) => {
                let kids: Vec<&str> = set.kids().collect();
                out.push(format!("  issuers[{idx}] {:?}: {kids:?}", issuer.name));
                keys.replace(idx, set);
            }
            Err(e) => out.push(format!("  issuers[{idx}] {:?}: FAIL {e}", issuer.name)),
        }
        let _taken = keys.refetch_for_unknown_kid(idx);
    }
    Ok(keys)
}

/// The step-by-step view: path, routes, token checks, route rules.
fn explain_steps(
    snap: &Snapshot,
    keys: Option<&KeyStore>,
    req: &Parsed,
    out: &mut Vec<String>,
) -> Verdict {
    let path = match policy::normalize(&req.path) {
        Ok(p) => p.into_owned(),
        Err(e) => {
            out.push(format!("path: refused: {e}"));
            return Verdict::Refused(Refusal::BadRequest(e.to_string()));
        }
    };
    out.push(format!("path: {path}{}", changed(&req.path, &path)));
    let Some(route) = explain_routes(snap, req, &path, out) else {
        return Verdict::Refused(Refusal::NoRoute);
    };
    let principal = match route.auth() {
        AuthMode::Deny => return Verdict::Refused(Refusal::Denied),
        AuthMode::Public => None,
        AuthMode::Required | AuthMode::Optional => {
            match authenticate(snap, keys, route, req, &path, out) {
                Ok(p) => p,
                Err(refusal) => return Verdict::Refused(refusal),
            }
        }
    };
    Verdict::Allowed { path, principal }
}

fn request_line(req: &Parsed) -> String {
    let query = req
        .query
        .as_deref()
        .map_or(String::new(), |q| format!("?{q}"));
    let host = req.host().unwrap_or("(none)");
    format!("request: {} {}{query}  host {host}", req.method, req.path)
}

fn changed(raw: &str, normalized: &str) -> String {
    if raw == normalized {
        " (already normal)".to_owned()
    } else {
        format!(" (normalized from {raw}; this is the path matched and forwarded)")
    }
}

/// Lists each route tried, up to the first that matches.
fn explain_routes<'s>(
    snap: &'s Snapshot,
    req: &Parsed,
    path: &str,
    out: &mut Vec<String>,
) -> Option<&'s Route> {
    out.push("routes (first match wins):".to_owned());
    let tried = snap.routes.explain(&req.method, req.host(), path);
    let mut matched = None;
    for (idx, route, outcome) in tried {
        let verdict = match outcome {
            Ok(()) => {
                matched = Some(route);
                format!("MATCH: {}", describe_route(route.config()))
            }
            Err(mismatch) => mismatch.to_string(),
        };
        out.push(format!(
            "  routes[{idx}] {:<16} {verdict}",
            route.pattern_str()
        ));
    }
    if matched.is_none() {
        out.push("  no route matches: the proxy refuses the request".to_owned());
    }
    matched
}

/// The token search and checks, then the route's rules on the normalized `path`.
fn authenticate(
    snap: &Snapshot,
    keys: Option<&KeyStore>,
    route: &Route,
    req: &Parsed,
    path: &str,
    out: &mut Vec<String>,
) -> Result<Option<(usize, Arc<Claims>)>, Refusal> {
    let token = match token::find(&req.headers, &snap.config.token, &snap.client_ids) {
        Found::Token(t) => t,
        Found::Missing if route.auth() == AuthMode::Optional => {
            let rules = match rules_of(route.config()).is_empty() {
                true => "",
                false => "; its rules apply only to requests with a token",
            };
            out.push(format!(
                "token: none (allowed: the route's auth is optional{rules})"
            ));
            return Ok(None);
        }
        Found::Missing => {
            out.push("token: none, and the route requires one".to_owned());
            return Err(Refusal::MissingToken);
        }
        Found::Malformed(why) => {
            out.push(format!("token: {why}"));
            return Err(Refusal::InvalidToken(AuthError::Malformed(why)));
        }
    };
    out.push(format!(
        "token checks ({}):",
        if keys.is_some() {
            "keys fetched, signature verified"
        } else {
            "unverified: signature not checked; add --fetch to check it"
        }
    ));
    let inputs = steps::Inputs {
        issuers: snap.verifier.issuers(),
        leeway: snap.config.token.leeway,
        keys,
        now: super::token::unix_now(),
        claim_names: snap.verifier.claim_names(),
    };
    let checked = steps::check(&inputs, &token);
    out.extend(checked.lines);
    let (idx, claims) = checked.result.map_err(|e| auth_refusal(&snap.config, e))?;
    authorize(snap, route, idx, &claims, path, out)?;
    Ok(Some((idx, Arc::new(claims))))
}

/// The proxy's decision on the route's rules, then each claim rule and binding, met or
/// not (all of them, where the decision stops at the first unmet).
fn authorize(
    snap: &Snapshot,
    route: &Route,
    idx: usize,
    claims: &Claims,
    path: &str,
    out: &mut Vec<String>,
) -> Result<(), Refusal> {
    let subject = auth::subject(claims, &snap.config.issuers[idx].name);
    let rules = rules_of(route.config());
    let rules = if rules.is_empty() {
        "none".to_owned()
    } else {
        rules.join("; ")
    };
    let decision = route.authorize(&subject, path);
    match &decision {
        Ok(()) => out.push(format!("route rules: ok ({rules})")),
        Err(forbidden) => out.push(format!("route rules: FAIL {forbidden}")),
    }
    for check in route.claim_rules().checks(claims, path) {
        let verdict = if check.met() { "ok  " } else { "FAIL" };
        out.push(format!("  {verdict}         {check} ({})", found(&check)));
    }
    decision.map_err(Refusal::Forbidden)
}

/// What the token (and path) gave a claim rule or binding.
fn found(check: &Check<'_>) -> String {
    match check {
        Check::Claim { found, .. } => format!("token: {found}"),
        Check::Binding { segment, found, .. } => {
            let segment = segment.map_or("(none)".to_owned(), |s| format!("{s:?}"));
            format!("path: {segment}, token: {found}")
        }
    }
}

/// The proxy's own mapping of a verification error (`proxy::auth`).
fn auth_refusal(config: &Config, e: AuthError) -> Refusal {
    match e {
        AuthError::IssuerNotReady { issuer_idx } => {
            Refusal::IssuerNotReady(config.issuers[issuer_idx].name.clone())
        }
        other => Refusal::InvalidToken(other),
    }
}

/// With keys fetched, the decision is the proxy's own admission step.
async fn proxy_verdict(
    snap: &Snapshot,
    keys: &KeyStore,
    req: &Parsed,
    mine: Verdict,
    out: &mut Vec<String>,
) -> Verdict {
    let proxy = match auth::admit(snap, keys, req.target(), &req.headers).await {
        Ok(admitted) => Verdict::Allowed {
            path: admitted.new_path.unwrap_or_else(|| req.path.clone()),
            principal: admitted.principal.map(|v| (v.issuer_idx, v.claims.clone())),
        },
        Err((_, refusal)) => Verdict::Refused(refusal),
    };
    if status_of(&mine) != status_of(&proxy) {
        out.push("note: the steps above disagree with the proxy's own check; the decision below is the proxy's".to_owned());
    }
    proxy
}

fn status_of(verdict: &Verdict) -> u16 {
    match verdict {
        Verdict::Allowed { .. } => 200,
        Verdict::Refused(r) => r.status().as_u16(),
    }
}

/// The decision, as the client (refused) or the upstream (allowed) would see it.
/// `verified`: whether a token's signature was checked (with `--fetch`).
async fn render(snap: &Snapshot, verdict: Verdict, verified: bool, out: &mut Vec<String>) {
    match verdict {
        Verdict::Refused(refusal) => render_refusal(refusal.in_mode(snap.config.mode), out).await,
        Verdict::Allowed { path, principal } => {
            render_allowed(snap, &path, principal, verified, out);
        }
    }
}

async fn render_refusal(refusal: Refusal, out: &mut Vec<String>) {
    let reason = refusal.reason();
    let resp = refusal.into_response(&HeaderValue::from_static("explain"));
    let status = resp.status();
    out.push(format!(
        "decision: {} {} ({reason})",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    ));
    for (name, value) in resp.headers() {
        if name != crate::proxy::headers::X_REQUEST_ID {
            out.push(format!(
                "  {name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
    }
    if let Ok(body) = resp.into_body().collect().await {
        out.push(format!(
            "  body: {}",
            String::from_utf8_lossy(&body.to_bytes())
        ));
    }
}

fn render_allowed(
    snap: &Snapshot,
    path: &str,
    principal: Option<(usize, Arc<Claims>)>,
    verified: bool,
    out: &mut Vec<String>,
) {
    let allowed = if principal.is_some() && !verified {
        "allowed if the signature verifies (not checked: add --fetch)"
    } else {
        "allowed"
    };
    match (snap.config.mode, &snap.forwarder) {
        (Mode::Proxy, Some(forwarder)) => {
            let uri = http::uri::PathAndQuery::try_from(path)
                .map(|pq| forwarder.uri_for(pq).to_string())
                .unwrap_or_else(|_| path.to_owned());
            out.push(format!("decision: {allowed}, forwarded to {uri}"));
            out.push("  the upstream receives (besides X-Forwarded-*, X-Request-Id):".to_owned());
        }
        _ => {
            out.push(format!(
                "decision: 200 OK ({allowed}; forward_auth: the ingress lets it through)"
            ));
            out.push("  with the headers:".to_owned());
        }
    }
    let Some((idx, claims)) = principal else {
        out.push("  no identity headers (anonymous); client-sent ones are removed".to_owned());
        return;
    };
    let mut headers = HeaderMap::new();
    snap.identity.set(&mut headers, &claims, idx);
    for (name, value) in &headers {
        out.push(format!(
            "  {name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    if snap.config.token.strip_authorization && snap.config.mode == Mode::Proxy {
        out.push("  (Authorization is removed: token.strip_authorization)".to_owned());
    }
}

/// One line about a route: auth mode, then every rule it sets.
pub fn describe_route(route: &RouteConfig) -> String {
    let auth = match route.auth {
        AuthMode::Required => "auth required",
        AuthMode::Optional => "auth optional",
        AuthMode::Public => "public",
        AuthMode::Deny => "deny",
    };
    let mut parts = vec![auth.to_owned()];
    if let Some(methods) = &route.methods {
        let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
        parts.push(format!("methods {}", names.join(",")));
    }
    if let Some(host) = &route.host {
        parts.push(format!("host {host}"));
    }
    parts.extend(rules_of(route));
    parts.join("; ")
}

/// The route's token rules, e.g. `groups_any admin,ops`, `claims custom:plan in pro,team`,
/// `bind {tenant} to custom:tenant_id`.
fn rules_of(route: &RouteConfig) -> Vec<String> {
    let token_use: Vec<String> = route
        .token_use
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    [
        ("token_use", &token_use),
        ("issuers", &route.issuers),
        ("groups_any", &route.groups_any),
        ("groups_all", &route.groups_all),
        ("scopes_any", &route.scopes_any),
        ("scopes_all", &route.scopes_all),
    ]
    .into_iter()
    .filter(|(_, list)| !list.is_empty())
    .map(|(name, list)| format!("{name} {}", list.join(",")))
    .chain(
        route
            .claims
            .iter()
            .map(|(claim, values)| format!("claims {claim} in {}", values.join(","))),
    )
    .chain(
        route
            .bind
            .iter()
            .map(|(capture, claim)| format!("bind {{{capture}}} to {claim}")),
    )
    .collect()
}
