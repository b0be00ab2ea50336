//! The proxy listener's service: one request in, one response out, one log line.
//! An admitted `Upgrade` request additionally leaves a [`Splice`] in the response's
//! extensions for the server to run once the 101 has gone out.

use super::Snapshot;
use super::auth::{self, Admitted, Target};
use super::body::{RequestBody, ResponseBody, full};
use super::error::Refusal;
use super::headers::{self, ClientHop};
use super::login::{self, Effects, Endpoint, Origin};
use super::metadata;
use super::pool::UpstreamBody;
use super::upgrade::{self, Splice, UpgradeRequest};
use crate::config::{Limits, Mode};
use crate::policy::Route;
use crate::revoke::Revocations;
use crate::telemetry::metrics::UpstreamErrorKind;
use crate::telemetry::{AccessLine, Metrics};
use crate::verify::Claims;
use arc_swap::ArcSwap;
use http::header::HOST;
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The request handler shared by every connection of a listener.
#[derive(Debug, Clone)]
pub struct Gate {
    snapshot: Arc<ArcSwap<Snapshot>>,
    metrics: Arc<Metrics>,
    /// `http` or `https`: what the client spoke, for `X-Forwarded-Proto`.
    proto: &'static str,
    /// Deny lists and online answers: they outlive config snapshots.
    revocations: Arc<Revocations>,
}

/// What one request's log line reports besides method and status. Borrowed or shared,
/// never copied: it is filled on every request.
#[derive(Default)]
struct Outcome<'s> {
    /// The path as forwarded (normalized) or, for a refusal, as received.
    path: Option<PathAndQuery>,
    route: Option<&'s Route>,
    principal: Option<Arc<Claims>>,
    reason: Option<&'static str>,
    upstream_error: Option<UpstreamErrorKind>,
    /// Time to the upstream's response head.
    upstream_ms: Option<f64>,
    /// Cookies for the response and session counters (`[login]`).
    effects: Effects,
}

impl Gate {
    /// A handler reading config snapshots (and through them key sets) from `snapshot`,
    /// refusing revoked tokens by `revocations`.
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        metrics: Arc<Metrics>,
        proto: &'static str,
        revocations: Arc<Revocations>,
    ) -> Self {
        Gate {
            snapshot,
            metrics,
            proto,
            revocations,
        }
    }

    /// The process's revocation state (deny lists and online answers): where browser
    /// logout adds its session's `origin_jti` ([`Revocations::revoke_origin_jti`]).
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.revocations
    }

    /// A request head over `max_header_bytes`: hyper answers it 431 itself, before any
    /// request reaches the service, so it is counted and logged here, like the other
    /// refusals (route `none`, no latency: the head never completed).
    pub fn head_too_large(&self) {
        self.metrics.observe_request(
            None,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.as_u16(),
            Duration::ZERO,
        );
        AccessLine {
            request_id: "-",
            method: "-",
            path: "-",
            route: "-",
            status: 431,
            latency_ms: 0.0,
            upstream_ms: -1.0,
            sub: "-",
            reason: "head_too_large",
        }
        .log();
    }

    /// The `[limits]` of the current snapshot (new connections take them up).
    pub fn limits(&self) -> Limits {
        self.snapshot.load().config.limits.clone()
    }

    /// Handles one request from `client`. `ambiguous_length` is the connection's verdict on
    /// this request's framing (several lengths, or a length and a transfer coding).
    /// The lines logged at info and above name their request id themselves; the span
    /// gives it to the debug lines of everything called on the way (a span per request
    /// at info would cost more than the access line it would annotate).
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        client: &ClientHop,
        ambiguous_length: bool,
    ) -> Response<ResponseBody> {
        let request_id = headers::request_id(req.headers());
        let span = tracing::debug_span!("request", request_id = request_id.to_str().unwrap_or(""));
        self.serve(req, client, ambiguous_length, request_id)
            .instrument(span)
            .await
    }

    async fn serve(
        &self,
        req: Request<Incoming>,
        client: &ClientHop,
        ambiguous_length: bool,
        request_id: HeaderValue,
    ) -> Response<ResponseBody> {
        let started = Instant::now();
        let snap = self.snapshot.load_full();
        let method = req.method().clone();
        let mut outcome = Outcome {
            path: req.uri().path_and_query().cloned(),
            ..Outcome::default()
        };
        let resp = match snap.config.mode {
            mode if ambiguous_length => {
                let why = "ambiguous message length: Content-Length with Transfer-Encoding, or more than one Content-Length";
                refuse(
                    &snap,
                    (None, Refusal::BadRequest(why.into()).in_mode(mode)),
                    &request_id,
                    &mut outcome,
                )
            }
            // A reverse proxy opens no tunnels: CONNECT (RFC 9110 §9.3.6) is for forward
            // proxies, and an origin-form one is malformed to begin with.
            mode if method == Method::CONNECT => {
                let why = "CONNECT is not supported: cognigate is a reverse proxy";
                refuse(
                    &snap,
                    (None, Refusal::BadRequest(why.into()).in_mode(mode)),
                    &request_id,
                    &mut outcome,
                )
            }
            Mode::Proxy => {
                self.proxy(&snap, req, client, &request_id, &mut outcome)
                    .await
            }
            Mode::ForwardAuth => self.check(&snap, req, &request_id, &mut outcome).await,
        };
        let mut resp = resp;
        let effects = std::mem::take(&mut outcome.effects);
        if let Some(ok) = effects.refreshed {
            self.metrics.session_refresh(ok);
        }
        // A sign-in callback is counted by its own family, not as an auth failure.
        let callback = effects.login.inspect(|result| self.metrics.login(result));
        login::set_cookies(resp.headers_mut(), effects);
        let status = resp.status().as_u16();
        let elapsed = started.elapsed();
        self.metrics
            .observe_request(outcome.route.map(Route::index), status, elapsed);
        match (outcome.upstream_error, outcome.reason) {
            (Some(kind), _) => self.metrics.upstream_error(kind),
            (None, Some(reason)) if callback.is_none() => self.metrics.auth_failure(reason),
            (None, Some(_)) => {}
            (None, None) => {}
        }
        AccessLine {
            request_id: request_id.to_str().unwrap_or(""),
            method: method.as_str(),
            path: outcome.path.as_ref().map_or("-", PathAndQuery::path),
            route: outcome.route.map_or("-", Route::pattern_str),
            status,
            latency_ms: millis(elapsed),
            upstream_ms: outcome.upstream_ms.unwrap_or(-1.0),
            sub: outcome.principal.as_ref().map_or("-", |c| c.sub()),
            reason: outcome.reason.unwrap_or("-"),
        }
        .log();
        resp
    }

    async fn proxy<'s>(
        &self,
        snap: &'s Snapshot,
        req: Request<Incoming>,
        client: &ClientHop,
        request_id: &HeaderValue,
        outcome: &mut Outcome<'s>,
    ) -> Response<ResponseBody> {
        let (mut parts, body) = req.into_parts();
        if let Err(refusal) = headers::check_host(parts.version, &parts.uri, &parts.headers) {
            return refuse(snap, (None, refusal), request_id, outcome);
        }
        if let Some(resp) = metadata::answer(snap, &parts.method, parts.uri.path(), request_id) {
            return resp;
        }
        let host = host_of(&parts);
        let host = host.as_ref().and_then(|h| h.to_str().ok());
        let return_to = parts.uri.path_and_query().map_or("/", PathAndQuery::as_str);
        let origin = host.map(|host| Origin {
            scheme: self.scheme(snap),
            host,
            return_to,
        });
        if let Some(resp) = self
            .login_endpoint(snap, &parts, &parts.uri, origin, request_id, outcome)
            .await
        {
            return resp;
        }
        let target = Target {
            method: &parts.method,
            host,
            path: parts.uri.path(),
            origin,
            sets_cookies: true,
        };
        let admitted = match self
            .admit(snap, target, &parts.headers, &mut outcome.effects)
            .await
        {
            Ok(a) => a,
            Err(refused) => return refuse(snap, refused, request_id, outcome),
        };
        record(outcome, &admitted);
        let Some(forwarder) = &snap.forwarder else {
            let refusal = Refusal::Upstream {
                connect: false,
                cause: "no upstream configured".into(),
            };
            return refuse(snap, (None, refusal), request_id, outcome);
        };
        let pq = match path_and_query(&parts, admitted.new_path.as_deref()) {
            Ok(pq) => pq,
            Err(refusal) => {
                return refuse(snap, (Some(admitted.route), refusal), request_id, outcome);
            }
        };
        outcome.path = Some(pq.clone());
        let client_version = parts.version;
        let upgrade = forwarder
            .supports_upgrades()
            .then(|| upgrade::take(&mut parts))
            .flatten();
        self.rewrite_head(
            snap,
            &mut parts,
            &admitted,
            upgrade.as_ref(),
            client,
            request_id,
        );
        let upstream_req =
            Request::from_parts(parts, RequestBody::new(body, snap.identity.clone()));
        // Upstream time is reported only in the access line: no clock reads without it.
        let sent =
            tracing::enabled!(target: "cognigate::access", tracing::Level::INFO).then(Instant::now);
        // Boxed: the exchange's future is a third of this one, which is moved whole at
        // each layer of every request (one allocation is cheaper than the copies).
        let result = Box::pin(forwarder.send(upstream_req, pq))
            .await
            .and_then(|resp| no_unasked_switch(resp, upgrade.is_some()));
        outcome.upstream_ms = sent.map(|t| millis(t.elapsed()));
        match result {
            Ok(resp) => relay(resp, upgrade, client_version, request_id),
            Err(refusal) => {
                if let Refusal::Upstream { cause, .. } = &refusal {
                    tracing::warn!(
                        request_id = request_id.to_str().unwrap_or(""),
                        cause,
                        "upstream request failed"
                    );
                }
                refuse(snap, (Some(admitted.route), refusal), request_id, outcome)
            }
        }
    }

    /// The client's head as the upstream gets it: identity stripped then set, no
    /// hop-by-hop headers (but an upgrade we pass keeps its two), `X-Forwarded-*`.
    fn rewrite_head(
        &self,
        snap: &Snapshot,
        parts: &mut Parts,
        admitted: &Admitted<'_>,
        upgrade: Option<&UpgradeRequest>,
        client: &ClientHop,
        request_id: &HeaderValue,
    ) {
        let host = host_of(parts);
        // Hop-by-hop first: the identity headers cannot be among them (a `Connection`
        // naming one was refused), and its pass then has fewer names to look at.
        headers::remove_hop_by_hop(&mut parts.headers, true);
        headers::remove_client_stated(&mut parts.headers);
        if parts.version == Version::HTTP_2 {
            headers::join_cookies(&mut parts.headers);
        }
        rewrite_request(snap, &mut parts.headers, admitted);
        if let Some(upgrade) = upgrade {
            upgrade.set_headers(&mut parts.headers);
        }
        headers::set_forwarded(&mut parts.headers, client, self.proto, host, request_id);
    }

    /// Forward-auth: the request describes another request (the ingress's); answer
    /// 200 with identity headers, or the refusal.
    async fn check<'s>(
        &self,
        snap: &'s Snapshot,
        req: Request<Incoming>,
        request_id: &HeaderValue,
        outcome: &mut Outcome<'s>,
    ) -> Response<ResponseBody> {
        let (parts, _body) = req.into_parts();
        let original = match super::forward_auth::original_request(&parts) {
            Ok(o) => o,
            Err(refusal) => {
                let refusal = refusal.in_mode(Mode::ForwardAuth);
                return refuse(snap, (None, refusal), request_id, outcome);
            }
        };
        outcome.path = PathAndQuery::try_from(original.path.as_str()).ok();
        if let Some(resp) = metadata::answer(snap, &original.method, &original.path, request_id) {
            return resp;
        }
        // ingress-nginx's `auth_request` passes on only 2xx, 401 and 403: a sign-in
        // redirect cannot reach its browser (its `auth-signin` goes to `start_path`).
        let origin = (original.host.as_deref())
            .filter(|_| original.redirects)
            .map(|host| Origin {
                scheme: self.scheme(snap),
                host,
                return_to: &original.return_to,
            });
        if let Ok(uri) = Uri::try_from(original.return_to.as_str())
            && let Some(resp) = self
                .login_endpoint(snap, &parts, &uri, origin, request_id, outcome)
                .await
        {
            return resp;
        }
        let target = Target {
            method: &original.method,
            host: original.host.as_deref(),
            path: &original.path,
            origin,
            // ingress-nginx copies one Set-Cookie of its auth check to the browser.
            sets_cookies: original.redirects,
        };
        let admitted = match self
            .admit(snap, target, &parts.headers, &mut outcome.effects)
            .await
        {
            Ok(a) => a,
            Err((route, refusal)) => {
                let refusal = refusal.in_mode(Mode::ForwardAuth);
                return refuse(snap, (route, refusal), request_id, outcome);
            }
        };
        record(outcome, &admitted);
        let mut resp = Response::new(full(""));
        *resp.status_mut() = StatusCode::OK;
        if let Some(v) = &admitted.principal {
            snap.identity
                .set(resp.headers_mut(), &v.claims, v.issuer_idx);
        }
        if let Some(session) = &admitted.session {
            set_session_identity(snap, resp.headers_mut(), session);
        }
        if let Some(names) = snap.identity.unanswered(&parts.headers, resp.headers()) {
            resp.headers_mut()
                .insert(crate::identity::ENVOY_HEADERS_TO_REMOVE, names);
        }
        resp.headers_mut()
            .insert(headers::X_REQUEST_ID, request_id.clone());
        resp
    }

    async fn admit<'s>(
        &self,
        snap: &'s Snapshot,
        target: Target<'_>,
        headers: &HeaderMap,
        effects: &mut Effects,
    ) -> Result<Admitted<'s>, auth::Refused<'s>> {
        headers::check_framing(headers).map_err(|r| (None, r))?;
        snap.identity
            .check_connection(headers)
            .map_err(|e| (None, Refusal::BadRequest(e.to_string())))?;
        auth::admit(
            snap,
            &snap.keys,
            &self.revocations,
            target,
            headers,
            effects,
        )
        .await
    }

    /// The scheme the browser speaks: `https` whenever session cookies are `Secure`
    /// (a browser keeps those only over https, so TLS ends in front of cognigate if not
    /// in it), else the listener's.
    fn scheme(&self, snap: &Snapshot) -> &'static str {
        match &snap.config.login {
            Some(login) if login.cookie_secure => "https",
            _ => self.proto,
        }
    }

    /// Answers `[login]`'s callback, start and logout paths (`uri`: the request's, or
    /// in forward-auth mode the original's), before any route is matched.
    async fn login_endpoint<'s>(
        &self,
        snap: &'s Snapshot,
        parts: &Parts,
        uri: &Uri,
        origin: Option<Origin<'_>>,
        request_id: &HeaderValue,
        outcome: &mut Outcome<'s>,
    ) -> Option<Response<ResponseBody>> {
        let login = snap.login.as_ref()?;
        let endpoint = Endpoint::at(login, uri.path())?;
        let answer = Box::pin(login::answer(
            snap,
            login,
            endpoint,
            parts,
            uri,
            origin,
            &mut outcome.effects,
        ))
        .await;
        // A logout's sign-in is revoked here too: its access token (and any copy of its
        // cookies) is refused from now on, not only when it expires.
        if let Some(origin_jti) = outcome.effects.signed_out.take() {
            self.revocations.revoke_origin_jti(&origin_jti);
        }
        Some(match answer {
            Ok(mut resp) => {
                resp.headers_mut()
                    .insert(headers::X_REQUEST_ID, request_id.clone());
                resp
            }
            Err(refusal) => refuse(snap, (None, refusal), request_id, outcome),
        })
    }
}

/// A 101 to a request that asked for no upgrade would leave the client's connection in
/// an unknown protocol: that is an upstream fault.
fn no_unasked_switch(
    resp: Response<UpstreamBody>,
    asked: bool,
) -> Result<Response<UpstreamBody>, Refusal> {
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS && !asked {
        return Err(Refusal::Upstream {
            connect: false,
            cause: "the upstream switched protocols without an upgrade request".into(),
        });
    }
    Ok(resp)
}

/// The upstream's response on its way to the client, in the client's HTTP version
/// (an HTTP/1.0 upstream's status line would cost an HTTP/1.1 client its keep-alive),
/// without hop-by-hop headers; a 101 answering an upgrade we passed keeps its upgrade
/// headers and carries the splice.
fn relay(
    resp: Response<UpstreamBody>,
    upgrade: Option<UpgradeRequest>,
    client_version: Version,
    request_id: &HeaderValue,
) -> Response<ResponseBody> {
    let (mut parts, body) = resp.into_parts();
    parts.version = client_version;
    let switching = parts.status == StatusCode::SWITCHING_PROTOCOLS;
    let protocol = parts.headers.get(http::header::UPGRADE).cloned();
    headers::remove_hop_by_hop(&mut parts.headers, false);
    let splice = match (upgrade, switching) {
        (Some(upgrade), true) => upgrade.accept(&mut parts, protocol),
        _ => None,
    };
    parts
        .headers
        .insert(headers::X_REQUEST_ID, request_id.clone());
    let mut resp = Response::from_parts(parts, ResponseBody::Left(body));
    if let Some(splice) = splice {
        resp.extensions_mut().insert::<Splice>(splice);
    }
    resp
}

/// Strip spoofed identity, then set the verified one (STYLE rule 6). cognigate's own
/// cookies never reach the upstream.
fn rewrite_request(snap: &Snapshot, headers: &mut HeaderMap, admitted: &Admitted<'_>) {
    snap.identity.strip(headers);
    if let Some(login) = &snap.login {
        login::strip_own_cookies(headers, login);
    }
    if let Some(v) = &admitted.principal {
        snap.identity.set(headers, &v.claims, v.issuer_idx);
        if snap.config.token.strip_authorization {
            headers.remove(http::header::AUTHORIZATION);
        }
    }
    if let Some(session) = &admitted.session {
        set_session_identity(snap, headers, session);
    }
}

/// What a session adds to the access token's identity: the id token's e-mail, and the
/// access token itself with `pass_access_token`.
fn set_session_identity(
    snap: &Snapshot,
    headers: &mut HeaderMap,
    session: &login::SessionIdentity,
) {
    if let Some(email) = &session.email {
        snap.identity.set_email(headers, email);
    }
    if let Some(authorization) = &session.authorization {
        headers.insert(http::header::AUTHORIZATION, authorization.clone());
    }
}

fn record<'s>(outcome: &mut Outcome<'s>, admitted: &Admitted<'s>) {
    outcome.route = Some(admitted.route);
    outcome.principal = admitted.principal.as_ref().map(|v| v.claims.clone());
}

fn refuse<'s>(
    snap: &Snapshot,
    (route, refusal): (Option<&'s Route>, Refusal),
    request_id: &HeaderValue,
    outcome: &mut Outcome<'s>,
) -> Response<ResponseBody> {
    outcome.route = route;
    outcome.reason = Some(refusal.reason());
    outcome.upstream_error = refusal.upstream_kind();
    metadata::refusal_response(snap, route.map(Route::index), refusal, request_id)
}

/// `Host`, or the HTTP/2 `:authority`.
fn host_of(parts: &Parts) -> Option<HeaderValue> {
    match parts.headers.get(HOST) {
        Some(host) => Some(host.clone()),
        None => parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
    }
}

/// The path to forward: the request's own when normalization changed nothing (no copy),
/// else the normalized one, with the query exactly as the client sent it. The path
/// matched is the path forwarded: if the normalized one cannot be a request target, the
/// request is refused, never forwarded as the client wrote it.
fn path_and_query(parts: &Parts, new_path: Option<&str>) -> Result<PathAndQuery, Refusal> {
    let Some(path) = new_path else {
        return Ok(parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or(PathAndQuery::from_static("/")));
    };
    let text = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    PathAndQuery::try_from(text).map_err(|_| {
        Refusal::BadRequest("the normalized path is not a valid request target".into())
    })
}

/// Milliseconds to the microsecond, for the access line: `3.567`, not `3.5670000000000002`.
fn millis(elapsed: Duration) -> f64 {
    elapsed.as_micros() as f64 / 1000.0
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
