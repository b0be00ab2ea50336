//! The request-path authorization step: path, route, token, rule. Produces either the
//! verified principal (to travel with the request) or the refusal to send back.

use super::Snapshot;
use super::error::Refusal;
use super::login::{self, Effects, Origin, SessionIdentity, SessionOutcome, SessionStep};
use super::token::{self, Found};
use crate::config::AuthMode;
use crate::jwks::KeyStore;
use crate::login::SessionCookie;
use crate::policy::{Forbidden, Mismatch, PathError, Route, Subject, path};
use crate::revoke::{OnlineOutcome, Revocations, Revoked, TokenIds};
use crate::verify::{self, AuthError, Claims, NumericDate, Verified};
use http::{HeaderMap, Method};
use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The scope Cognito gives access tokens that may call its user APIs (`GetUser`): the
/// online check applies only to those.
pub const COGNITO_ADMIN_SCOPE: &str = "aws.cognito.signin.user.admin";

/// The request as the route rules see it.
#[derive(Debug)]
pub struct Target<'a> {
    /// The request's method.
    pub method: &'a Method,
    /// Its `Host` (or `:authority`), when it has one.
    pub host: Option<&'a str>,
    /// The raw path, without the query.
    pub path: &'a str,
    /// Where a browser sent to sign in comes back to; `None` when no redirect can reach
    /// it (see [`Origin`]).
    pub origin: Option<Origin<'a>>,
    /// Whether every `Set-Cookie` of the answer reaches the browser: false for an
    /// ingress-nginx auth check (it copies only the first), where a session refresh is
    /// left to `start_path`.
    pub sets_cookies: bool,
}

/// An admitted request: its route, who it is, and whether the path had to change.
#[derive(Debug)]
pub struct Admitted<'s> {
    /// The route that matched.
    pub route: &'s Route,
    /// The verified token, unless the route is public (or optional, and none came).
    pub principal: Option<Verified>,
    /// The normalized path when it differs from the request's (which is then replaced).
    pub new_path: Option<String>,
    /// Set when the principal came from a browser session.
    pub session: Option<SessionIdentity>,
}

/// A refusal, with the route it happened on when one had matched.
pub type Refused<'s> = (Option<&'s Route>, Refusal);

/// One step of [`admit_traced`] besides the verifier's ([`verify::Step`]), in order.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// The path normalized, or why it was refused.
    Path {
        /// The request's path.
        raw: &'a str,
        /// The path matched and forwarded.
        normalized: Result<&'a str, &'a PathError>,
    },
    /// A route tried, in config order, up to the first that matches.
    Route {
        /// The route.
        route: &'a Route,
        /// Why it does not match the request, if it does not.
        outcome: Result<(), Mismatch>,
    },
    /// Where the token search ended, on a route whose auth is `required` or `optional`.
    Token {
        /// The token, none, or why the credentials cannot hold one.
        found: &'a Found<'a>,
    },
    /// The kid was not in the issuer's key set: whether the issuer's keys were refetched
    /// (then the token is verified again) or no refetch was due.
    Refetch {
        /// The token's issuer.
        issuer_idx: usize,
        /// A refetch was granted and completed in time.
        refetched: bool,
    },
    /// The browser session's part, when there is `[login]` and no `Authorization`.
    Session(SessionStep<'a>),
    /// The deny lists on the verified token (cached or not).
    Revocation {
        /// Which entry denies it, if one does.
        outcome: Result<(), Revoked>,
    },
    /// The online check, on a token it applies to (a Cognito access token with
    /// [`COGNITO_ADMIN_SCOPE`], with `[revocation].online`).
    Online {
        /// What it found; `None`: not made (`explain` without `--fetch`).
        outcome: Option<&'a OnlineOutcome>,
    },
    /// The route's `max_age` on the token's `auth_time` (RFC 9470).
    Freshness {
        /// The route's `max_age`.
        max_age: Duration,
        /// The token's `auth_time`.
        auth_time: Option<NumericDate>,
        /// Unix seconds.
        now: u64,
        /// Whether the sign-in is recent enough.
        outcome: Result<(), ()>,
    },
    /// The route's rules on the verified token (see [`Route::authorize`]).
    Rules {
        /// The matched route.
        route: &'a Route,
        /// What the rules see of the token.
        subject: &'a Subject<'a>,
        /// The normalized path (`bind` reads its captures there).
        path: &'a str,
        /// The first rule not met, if any.
        outcome: Result<(), &'a Forbidden>,
    },
}

/// Hears each step of [`admit_traced`]: its own ([`Step`]) and the verifier's. `()`
/// hears nothing, at no cost.
pub trait Trace: verify::Trace {
    /// `step` was taken.
    fn admit_step(&mut self, step: Step<'_>);

    /// Whether admission may call the sign-in provider (refresh a session). `explain`
    /// says no: a refresh would rotate a real session's refresh token.
    fn calls_provider(&self) -> bool {
        true
    }

    /// Whether the online check may call Cognito (`explain` only with `--fetch`).
    fn may_call_cognito(&self) -> bool {
        true
    }
}

impl Trace for () {
    #[inline(always)]
    fn admit_step(&mut self, _: Step<'_>) {}
}

/// Normalizes the path, finds the route and applies it.
/// `revocations` is the process's deny lists and online answers (they outlive `snap`).
pub async fn admit<'s>(
    snap: &'s Snapshot,
    keys: &KeyStore,
    revocations: &Revocations,
    target: Target<'_>,
    headers: &HeaderMap,
    effects: &mut Effects,
) -> Result<Admitted<'s>, Refused<'s>> {
    admit_traced(snap, keys, revocations, target, headers, effects, &mut ()).await
}

/// [`admit`], reporting each step to `trace` as it is taken: the proxy passes `()`
/// (which compiles to `admit`), `explain` a printer, so that `explain` shows the
/// proxy's own decision, step by step.
///
/// `effects` receives what the response must carry whatever it is (session cookies).
pub async fn admit_traced<'s, T: Trace>(
    snap: &'s Snapshot,
    keys: &KeyStore,
    revocations: &Revocations,
    target: Target<'_>,
    headers: &HeaderMap,
    effects: &mut Effects,
    trace: &mut T,
) -> Result<Admitted<'s>, Refused<'s>> {
    let normalized = path::normalize(target.path);
    trace.admit_step(Step::Path {
        raw: target.path,
        normalized: normalized.as_deref(),
    });
    let normalized = normalized.map_err(|e| (None, Refusal::BadRequest(e.to_string())))?;
    // First match wins, in the order written (`RouteTable::find`), each try reported.
    let route = (snap.routes.routes().iter())
        .find(|route| {
            let outcome = route.check(target.method, target.host, &normalized);
            trace.admit_step(Step::Route { route, outcome });
            outcome.is_ok()
        })
        .ok_or((None, Refusal::NoRoute))?;
    let (principal, session) = match route.auth() {
        AuthMode::Deny => return Err((Some(route), Refusal::Denied)),
        AuthMode::Public => (None, None),
        AuthMode::Required | AuthMode::Optional => {
            let request = Request {
                target: &target,
                headers,
                normalized_path: &normalized,
            };
            let guard = Guard { keys, revocations };
            authenticate(snap, guard, route, request, effects, trace)
                .await
                .map_err(|r| (Some(route), r))?
        }
    };
    let new_path = match normalized {
        Cow::Borrowed(_) => None,
        Cow::Owned(p) => Some(p),
    };
    Ok(Admitted {
        route,
        principal,
        new_path,
        session,
    })
}

/// The request as [`authenticate`] reads it.
pub(super) struct Request<'r> {
    pub(super) target: &'r Target<'r>,
    pub(super) headers: &'r HeaderMap,
    pub(super) normalized_path: &'r str,
}

/// Finds and verifies the token, then applies the route's rules. On an `optional` route
/// a request without a token passes anonymous: no rule (`groups_*`, `scopes_*`,
/// `claims`, `bind`) applies to it, and no identity reaches the upstream.
///
/// Token sources, in order: `Authorization: Bearer`, the `[login]` session, the
/// `[token].cookies`, Amplify's cookies. A bearer token that fails is refused; it never
/// falls back to the session. A session that cannot be used (broken, too old, refresh
/// refused) is cleared and the search goes on.
async fn authenticate<T: Trace>(
    snap: &Snapshot,
    Guard { keys, revocations }: Guard<'_>,
    route: &Route,
    request: Request<'_>,
    effects: &mut Effects,
    trace: &mut T,
) -> Result<(Option<Verified>, Option<SessionIdentity>), Refusal> {
    let headers = request.headers;
    let bearer = token::authorization(headers);
    if let (None, Some(login)) = (&bearer, &snap.login) {
        let outcome = match login.read_session(headers) {
            SessionCookie::Absent => None,
            SessionCookie::Broken { present } => {
                trace.admit_step(Step::Session(SessionStep::Broken));
                effects.cookies.extend(login.clear_session(present));
                None
            }
            SessionCookie::Open { session, present } => Some(
                login::admit_session(
                    snap,
                    keys,
                    login,
                    session,
                    present,
                    request.target.sets_cookies,
                    effects,
                    trace,
                )
                .await,
            ),
        };
        match outcome {
            Some(SessionOutcome::Admitted(admitted)) => {
                let verified = &admitted.verified;
                // A revoked session (signed out elsewhere, or its logout) is no session.
                if not_revoked(snap, revocations, verified, &admitted.token, trace)
                    .await
                    .is_err()
                {
                    effects
                        .cookies
                        .extend(login.clear_session(admitted.present));
                } else {
                    if let Err(refusal) = fresh_enough(route, &verified.claims, now(), trace) {
                        return Err(login::step_up(
                            login, &request, &admitted, refusal, effects, trace,
                        ));
                    }
                    authorize(
                        snap,
                        route,
                        verified.issuer_idx,
                        &verified.claims,
                        request.normalized_path,
                        trace,
                    )?;
                    return Ok((Some(admitted.verified), Some(admitted.identity)));
                }
            }
            Some(SessionOutcome::Refused(refusal)) => return Err(refusal),
            Some(SessionOutcome::Ended | SessionOutcome::RefreshElsewhere) | None => {}
        }
    }
    let found =
        bearer.unwrap_or_else(|| token::in_cookies(headers, &snap.config.token, &snap.client_ids));
    trace.admit_step(Step::Token { found: &found });
    let token = match found {
        Found::Token(t, _) => t,
        Found::Missing if route.auth() == AuthMode::Optional => return Ok((None, None)),
        Found::Missing => return Err(missing(snap, route, &request, effects, trace)),
        Found::Malformed(why) => return Err(Refusal::InvalidToken(AuthError::Malformed(why))),
    };
    let verified = verify(snap, keys, &token, trace).await?;
    not_revoked(snap, revocations, &verified, &token, trace).await?;
    fresh_enough(route, &verified.claims, now(), trace)?;
    let claims = &verified.claims;
    audience(snap, claims)?;
    authorize(
        snap,
        route,
        verified.issuer_idx,
        claims,
        request.normalized_path,
        trace,
    )?;
    Ok((Some(verified), None))
}

/// No token on a `required` route: with `[login]` and the route's `login`, a browser
/// navigation is sent to sign in; anything else gets 401.
fn missing<T: Trace>(
    snap: &Snapshot,
    route: &Route,
    request: &Request<'_>,
    effects: &mut Effects,
    trace: &mut T,
) -> Refusal {
    match &snap.login {
        Some(login) if route.config().login => login::missing(
            login,
            request.target.method,
            request.headers,
            request.target.origin,
            effects,
            trace,
        ),
        _ => Refusal::MissingToken,
    }
}

/// `[resource] audience = true`: the token must have been issued for this resource
/// (RFC 8707 §2; the MCP authorization spec requires a server to refuse others). An id
/// token's `aud` is its client, so it never passes. Without it, nothing is compared.
///
/// # Errors
///
/// [`Refusal::InvalidToken`] with [`AuthError::Audience`].
pub(crate) fn audience(snap: &Snapshot, claims: &Claims) -> Result<(), Refusal> {
    match snap.resource.as_ref().and_then(|r| r.audience()) {
        Some(url) if !claims.aud().iter().any(|a| a == url) => {
            Err(Refusal::InvalidToken(AuthError::Audience))
        }
        _ => Ok(()),
    }
}

/// What stands between a verified token and the route besides the verifier.
#[derive(Clone, Copy)]
struct Guard<'a> {
    keys: &'a KeyStore,
    revocations: &'a Revocations,
}

/// The deny lists, then (with `[revocation].online`) Cognito's word on the token.
async fn not_revoked<T: Trace>(
    snap: &Snapshot,
    revocations: &Revocations,
    verified: &Verified,
    token: &str,
    trace: &mut T,
) -> Result<(), Refusal> {
    let outcome = revocations.check(TokenIds::of(&verified.claims));
    trace.admit_step(Step::Revocation { outcome });
    outcome.map_err(Refusal::Revoked)?;
    let Some((endpoint, origin)) = online_target(snap, verified) else {
        return Ok(());
    };
    if !trace.may_call_cognito() {
        trace.admit_step(Step::Online { outcome: None });
        return Ok(());
    }
    let revocation = &snap.config.revocation;
    let timeout = snap.config.jwks.fetch_timeout;
    // Boxed: the rare path keeps the call's future out of every request's.
    let outcome = Box::pin(revocations.online().check(
        endpoint,
        origin,
        token,
        revocation.online_ttl,
        timeout,
    ))
    .await;
    revocations.metrics().online_check(outcome.label());
    if let OnlineOutcome::Unreachable {
        last,
        why,
        called: true,
    } = &outcome
    {
        tracing::warn!(sub = %verified.claims.sub(), last_answer = ?last, problem = %why,
            "online check: Cognito unreachable, the last answer stands (fail open)");
    }
    trace.admit_step(Step::Online {
        outcome: Some(&outcome),
    });
    match outcome.revoked() {
        true => Err(Refusal::Revoked(Revoked::Online)),
        false => Ok(()),
    }
}

/// Where and under which key a token is checked online, if it is: `online` is on, the
/// token is an access token with [`COGNITO_ADMIN_SCOPE`] from an issuer with an
/// `api_endpoint`, and it names its sign-in (`origin_jti`, else its own `jti`).
fn online_target<'s>(snap: &'s Snapshot, verified: &'s Verified) -> Option<(&'s str, &'s str)> {
    if !snap.config.revocation.online {
        return None;
    }
    let claims = &verified.claims;
    let scoped = (claims.scope())
        .is_some_and(|s| s.split_ascii_whitespace().any(|s| s == COGNITO_ADMIN_SCOPE));
    if claims.token_use() != crate::config::TokenUse::Access || !scoped {
        return None;
    }
    let endpoint = snap.config.issuers[verified.issuer_idx]
        .api_endpoint
        .as_deref()?;
    let origin = claims.origin_jti().or(claims.jti())?;
    Some((endpoint, origin))
}

/// The route's `max_age` (RFC 9470): the sign-in (`auth_time`) must be at most that old.
/// A token without `auth_time` cannot show it is, and is refused.
fn fresh_enough<T: Trace>(
    route: &Route,
    claims: &Claims,
    now: u64,
    trace: &mut T,
) -> Result<(), Refusal> {
    let Some(max_age) = route.config().max_age else {
        return Ok(());
    };
    let auth_time = claims.auth_time();
    let fresh = auth_time.is_some_and(|at| now as f64 - at.0 <= max_age.as_secs_f64());
    let outcome = if fresh { Ok(()) } else { Err(()) };
    trace.admit_step(Step::Freshness {
        max_age,
        auth_time,
        now,
        outcome,
    });
    match fresh {
        true => Ok(()),
        false => Err(Refusal::InsufficientUserAuthentication {
            max_age: max_age.as_secs(),
        }),
    }
}

/// The route's rules on the claims of a token from `snap`'s issuer `issuer_idx`.
///
/// # Errors
///
/// [`Refusal::Forbidden`] naming the first rule not met.
pub(crate) fn authorize<T: Trace>(
    snap: &Snapshot,
    route: &Route,
    issuer_idx: usize,
    claims: &Claims,
    normalized_path: &str,
    trace: &mut T,
) -> Result<(), Refusal> {
    let subject = subject(claims, &snap.config.issuers[issuer_idx].name);
    let outcome = route.authorize(&subject, normalized_path);
    trace.admit_step(Step::Rules {
        route,
        subject: &subject,
        path: normalized_path,
        outcome: outcome.as_ref().map(|_| ()),
    });
    outcome.map_err(Refusal::Forbidden)
}

/// What the route rules see of verified `claims` from the issuer named `issuer`.
pub fn subject<'a>(claims: &'a Claims, issuer: &'a str) -> Subject<'a> {
    Subject {
        groups: claims.groups(),
        scope: claims.scope().unwrap_or(""),
        token_use: claims.token_use(),
        issuer,
        claims,
    }
}

/// Verifies, giving an unknown `kid` one chance: the key set may have rotated since it
/// was fetched. The refetch is shared and rate limited by the key store.
pub(super) async fn verify<T: Trace>(
    snap: &Snapshot,
    keys: &KeyStore,
    token: &str,
    trace: &mut T,
) -> Result<Verified, Refusal> {
    let refusal = |e| refusal(snap, e);
    match snap.verifier.verify_traced(token, keys, now(), trace) {
        Err(AuthError::UnknownKid { issuer_idx }) => {
            let ticket = keys.refetch_for_unknown_kid(issuer_idx);
            // Boxed: the rare path keeps its timer out of every request's future.
            let refetched =
                ticket.is_granted() && Box::pin(ticket.wait(snap.config.jwks.fetch_timeout)).await;
            trace.admit_step(Step::Refetch {
                issuer_idx,
                refetched,
            });
            if refetched {
                (snap.verifier.verify_traced(token, keys, now(), trace)).map_err(refusal)
            } else {
                Err(refusal(AuthError::UnknownKid { issuer_idx }))
            }
        }
        other => other.map_err(refusal),
    }
}

/// The refusal for a token the verifier refused: 503 while the issuer has no keys,
/// else 401.
pub(crate) fn refusal(snap: &Snapshot, e: AuthError) -> Refusal {
    match e {
        AuthError::IssuerNotReady { issuer_idx } => {
            Refusal::IssuerNotReady(snap.config.issuers[issuer_idx].name.clone())
        }
        other => Refusal::InvalidToken(other),
    }
}

/// Unix seconds.
pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
