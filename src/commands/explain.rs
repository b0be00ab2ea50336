//! `cognigate explain --config FILE [--token T | --token-file F] [--fetch] METHOD URL`:
//! what the proxy would do with one request, without serving it. It runs the proxy's own
//! admission step (`proxy::auth::admit_traced`, with the verifier inside it) and prints
//! each step it takes through a trace hook (`trace.rs`), so it cannot disagree with a
//! running proxy on the same config: with `--fetch`, against freshly fetched keys, the
//! decision is that one call's.
//!
//! Without `--fetch` there are no keys, and the verifier stops where the proxy would
//! with none: before the key and the signature. The claims are then checked by the
//! verifier's own claim checks and the route's rules by admit's own rule step, on the
//! unverified claims, and the decision holds if the signature verifies. There is no
//! way to skip the signature in `admit` or `Verifier::verify`.

mod trace;

use super::Report;
use crate::config::{self, AuthMode, Config, Mode, RouteConfig};
use crate::jwks::{self, JwksClient, KeyStore};
use crate::policy::Route;
use crate::proxy::Snapshot;
use crate::proxy::auth::{self, Target};
use crate::proxy::body::ResponseBody;
use crate::proxy::error::Refusal;
use crate::proxy::login::{Effects, Origin};
use crate::proxy::metadata;
use crate::revoke::{DenySet, Revocations};
use crate::verify::Claims;
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderMap, HeaderValue, Method, Uri};
use http_body_util::BodyExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use trace::Printer;

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
    /// The request's `Cookie` header (a browser session's, with `[login]`).
    pub cookie: Option<String>,
}

/// The outcome: allowed (with the verified identity, if any) or refused.
enum Verdict {
    Allowed {
        path: String,
        principal: Option<(usize, Arc<Claims>)>,
    },
    /// The refusal, and the index of the route it happened on (for its challenge).
    Refused(Refusal, Option<usize>),
}

/// The request as parsed from the command line.
struct Parsed {
    scheme: String,
    return_to: String,
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
    let parsed = match parse_request(
        method,
        &query.url,
        token.as_deref(),
        query.cookie.as_deref(),
    ) {
        Ok(parsed) => parsed,
        Err(refusal) => {
            out.push(format!("request: {} {}", query.method, query.url));
            render(
                &snap,
                Verdict::Refused(refusal, None),
                query.fetch,
                &mut out,
            )
            .await;
            return Ok(done(out));
        }
    };
    out.push(request_line(&parsed));
    let rid = HeaderValue::from_static("explain");
    if let Some(resp) = metadata::answer(&snap, &parsed.method, &parsed.path, &rid) {
        out.push("  [resource]: a well-known document, answered before any route".to_owned());
        render_response(resp, "answered by cognigate", &mut out).await;
        return Ok(done(out));
    }
    let keys = match query.fetch {
        true => Arc::new(fetch_keys(&config, &mut out).await?),
        // The proxy's own store as it starts: no keys yet.
        false => snap.keys.clone(),
    };
    let revocations = revocations(&config, &mut out)?;
    let mut printer = Printer::new(&snap, query.fetch, out);
    let verdict = decide(&snap, &keys, &revocations, &parsed, &mut printer).await;
    let (unsigned, mut out) = (printer.unsigned, printer.out);
    if unsigned && matches!(verdict, Verdict::Refused(..)) {
        out.push("note: no keys loaded: the decision below holds if the signature verifies (add --fetch)".to_owned());
    }
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

/// Method, path, query and the headers a client would send (`Host`, `Authorization`,
/// `Cookie`).
fn parse_request(
    method: Method,
    url: &str,
    token: Option<&str>,
    cookie: Option<&str>,
) -> Result<Parsed, Refusal> {
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
    if let Some(cookie) = cookie {
        let value = HeaderValue::from_str(cookie)
            .map_err(|_| Refusal::BadRequest("the cookie is not a valid header value".into()))?;
        headers.insert(http::header::COOKIE, value);
    }
    Ok(Parsed {
        scheme: uri.scheme_str().unwrap_or("https").to_owned(),
        return_to: uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned(),
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
            origin: self.host().map(|host| Origin {
                scheme: &self.scheme,
                host,
                return_to: &self.return_to,
            }),
            sets_cookies: true,
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

/// The deny lists as the proxy starts with them: the revocation file's entries (the
/// in-memory list of a running proxy is not seen).
fn revocations(config: &Config, out: &mut Vec<String>) -> Result<Revocations, String> {
    let revocations = Revocations::new(Arc::new(crate::telemetry::Metrics::new()));
    let Some(file) = &config.revocation.file else {
        return Ok(revocations);
    };
    let parsed = crate::revoke::load_file(file)?;
    out.push(format!(
        "revocation file {}: {} entries",
        file.display(),
        parsed.entries.len()
    ));
    for (line, problem) in &parsed.problems {
        out.push(format!("  line {line} skipped: {problem}"));
    }
    revocations.set_file(DenySet::from_entries(&parsed.entries));
    Ok(revocations)
}

/// The proxy's own decision: one `admit` call, traced. Without keys, it stops before
/// the signature; then see [`unsigned`].
async fn decide(
    snap: &Snapshot,
    keys: &KeyStore,
    revocations: &Revocations,
    req: &Parsed,
    printer: &mut Printer<'_>,
) -> Verdict {
    let mut effects = Effects::default();
    let admitted = auth::admit_traced(
        snap,
        keys,
        revocations,
        req.target(),
        &req.headers,
        &mut effects,
        printer,
    )
    .await;
    match admitted {
        Ok(admitted) => Verdict::Allowed {
            path: admitted.new_path.unwrap_or_else(|| req.path.clone()),
            principal: admitted.principal.map(|v| (v.issuer_idx, v.claims)),
        },
        Err((Some(route), refusal @ Refusal::IssuerNotReady(_))) if printer.unsigned => {
            unsigned(snap, route, refusal, printer)
        }
        Err((route, refusal)) => {
            if matches!(refusal, Refusal::NoRoute) {
                printer
                    .out
                    .push("  no route matches: the proxy refuses the request".to_owned());
            }
            Verdict::Refused(refusal, route.map(Route::index))
        }
    }
}

/// No keys were loaded (no `--fetch`), so the verifier stopped before the key and the
/// signature. What the proxy would decide if the signature verifies: the verifier's own
/// claim checks ([`crate::verify::Verifier`]'s `check_unverified`, which yields no
/// verified principal) and admit's own rule step ([`auth::authorize`]), on the claims as
/// read.
fn unsigned(
    snap: &Snapshot,
    route: &Route,
    refusal: Refusal,
    printer: &mut Printer<'_>,
) -> Verdict {
    let at = Some(route.index());
    let (Some(token), Some(path)) = (printer.token.clone(), printer.path.clone()) else {
        return Verdict::Refused(refusal, at);
    };
    printer.out.push(
        "claims, UNVERIFIED (for information: the proxy checks them only once the signature verifies):"
            .to_owned(),
    );
    let now = super::token::unix_now();
    let read = match snap.verifier.check_unverified(&token, now, printer) {
        Ok(read) => read,
        Err(e) => return Verdict::Refused(auth::refusal(snap, e), at),
    };
    if let Err(refusal) = auth::audience(snap, &read.claims) {
        return Verdict::Refused(refusal, at);
    }
    match auth::authorize(snap, route, read.issuer_idx, &read.claims, &path, printer) {
        Ok(()) => Verdict::Allowed {
            path,
            principal: Some((read.issuer_idx, Arc::new(read.claims))),
        },
        Err(refusal) => Verdict::Refused(refusal, at),
    }
}

fn request_line(req: &Parsed) -> String {
    let query = req
        .query
        .as_deref()
        .map_or(String::new(), |q| format!("?{q}"));
    let host = req.host().unwrap_or("(none)");
    format!("request: {} {}{query}  host {host}", req.method, req.path)
}

/// The decision, as the client (refused) or the upstream (allowed) would see it.
/// `verified`: whether a token's signature was checked (with `--fetch`).
async fn render(snap: &Snapshot, verdict: Verdict, verified: bool, out: &mut Vec<String>) {
    match verdict {
        Verdict::Refused(refusal, route) => {
            render_refusal(snap, refusal.in_mode(snap.config.mode), route, out).await;
        }
        Verdict::Allowed { path, principal } => {
            render_allowed(snap, &path, principal, verified, out);
        }
    }
}

async fn render_refusal(
    snap: &Snapshot,
    refusal: Refusal,
    route: Option<usize>,
    out: &mut Vec<String>,
) {
    let reason = refusal.reason();
    let rid = HeaderValue::from_static("explain");
    let resp = metadata::refusal_response(snap, route, refusal, &rid);
    render_response(resp, reason, out).await;
}

/// A response cognigate makes itself: status (with `why`), headers, body.
async fn render_response(resp: http::Response<ResponseBody>, why: &str, out: &mut Vec<String>) {
    let status = resp.status();
    out.push(format!(
        "decision: {} {} ({why})",
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
pub(crate) fn describe_route(route: &RouteConfig) -> String {
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
