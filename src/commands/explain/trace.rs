//! The printer `explain` hands to the proxy's own admission step and verifier
//! ([`auth::admit_traced`], [`Verifier::verify_traced`](crate::verify::Verifier)): one
//! line per step they take, in their order, up to the first failure, where they stop.
//! Nothing here decides anything.

use super::rules_of;
use crate::config::{AuthMode, TokenUse};
use crate::policy::{Check, ClaimSource, Forbidden, Mismatch, Route};
use crate::proxy::Snapshot;
use crate::proxy::auth::{self, Step};
use crate::proxy::login::SessionStep;
use crate::proxy::token::Found;
use crate::revoke::OnlineOutcome;
use crate::verify::{self, AuthError, Claims};
use std::time::Duration;

/// Lines for each step, and what `explain` needs of them afterwards.
pub(super) struct Printer<'s> {
    snap: &'s Snapshot,
    /// Keys were fetched (`--fetch`): a missing key set is a failure, not "not checked".
    fetched: bool,
    /// The output so far.
    pub(super) out: Vec<String>,
    /// The normalized path, once normalized.
    pub(super) path: Option<String>,
    /// The token found, if one was.
    pub(super) token: Option<String>,
    /// No keys were loaded, so the verifier stopped before the signature.
    pub(super) unsigned: bool,
    /// `Some(whether it has token rules)` when the matched route's auth is `optional`.
    optional: Option<bool>,
    /// The "routes" heading is out.
    routes_listed: bool,
    /// The header's kid, for the "not checked" line.
    kid: Option<String>,
}

impl<'s> Printer<'s> {
    pub(super) fn new(snap: &'s Snapshot, fetched: bool, out: Vec<String>) -> Self {
        Printer {
            snap,
            fetched,
            out,
            path: None,
            token: None,
            unsigned: false,
            optional: None,
            routes_listed: false,
            kid: None,
        }
    }

    fn push(&mut self, line: String) {
        self.out.push(line);
    }

    fn checked(&mut self, outcome: Result<(), AuthError>, what: String) {
        match outcome {
            Ok(()) => self.push(format!("  ok           {what}")),
            Err(e) => self.push(format!("  FAIL         {what}: {e}")),
        }
    }

    fn route(&mut self, route: &Route, outcome: Result<(), Mismatch>) {
        if !self.routes_listed {
            self.routes_listed = true;
            self.push("routes (first match wins):".to_owned());
        }
        let verdict = match outcome {
            Ok(()) => {
                let has_rules = !rules_of(route.config()).is_empty();
                self.optional = (route.auth() == AuthMode::Optional).then_some(has_rules);
                format!("MATCH: {}", super::describe_route(route.config()))
            }
            Err(mismatch) => mismatch.to_string(),
        };
        let pattern = route.pattern_str();
        self.push(format!(
            "  routes[{}] {pattern:<16} {verdict}",
            route.index()
        ));
    }

    fn token(&mut self, found: &Found<'_>) {
        let line = match (found, self.optional) {
            (Found::Token(token, source), _) => {
                self.token = Some(token.to_string());
                self.push(format!(
                    "token: {} bytes ({})",
                    token.len(),
                    source.as_str()
                ));
                "token checks (the verifier's own, in its order, up to the first failure):"
                    .to_owned()
            }
            (Found::Missing, Some(has_rules)) => {
                let rules = match has_rules {
                    true => "; its rules apply only to requests with a token",
                    false => "",
                };
                format!("token: none (allowed: the route's auth is optional{rules})")
            }
            (Found::Missing, None) => "token: none, and the route requires one".to_owned(),
            (Found::Malformed(why), _) => format!("token: {why}"),
        };
        self.push(line);
    }

    /// No key set: without `--fetch` that is expected, and the kid, algorithm and
    /// signature are not checked; with it, the issuer's JWKS could not be fetched.
    fn key_set(&mut self, issuer_idx: usize, outcome: Result<(), AuthError>) {
        if outcome.is_ok() {
            return;
        }
        if self.fetched {
            let name = &self.snap.config.issuers[issuer_idx].name;
            let what = format!("keys: issuers[{issuer_idx}] {name:?} has none loaded");
            return self.checked(outcome, what);
        }
        self.unsigned = true;
        let kid = self.kid.as_deref().unwrap_or("");
        self.push(format!(
            "  not checked  key: kid {kid:?} and algorithm (no keys loaded; add --fetch)"
        ));
        self.push(
            "  not checked  signature (add --fetch to verify it against the issuer's JWKS)"
                .to_owned(),
        );
    }

    fn rules(
        &mut self,
        route: &Route,
        claims: &dyn ClaimSource,
        path: &str,
        outcome: Result<(), &Forbidden>,
    ) {
        let rules = rules_of(route.config());
        match outcome {
            Ok(()) if rules.is_empty() => self.push("route rules: ok (none)".to_owned()),
            Ok(()) => self.push(format!("route rules: ok ({})", rules.join("; "))),
            Err(forbidden) => self.push(format!("route rules: FAIL {forbidden}")),
        }
        // Each claim rule and binding, met or not: the decision is the first unmet's.
        for check in route.claim_rules().checks(claims, path) {
            let verdict = if check.met() { "ok  " } else { "FAIL" };
            self.push(format!("  {verdict}         {check} ({})", found(&check)));
        }
    }
}

impl auth::Trace for Printer<'_> {
    fn admit_step(&mut self, step: Step<'_>) {
        match step {
            Step::Path { raw, normalized } => match normalized {
                Ok(path) => {
                    self.path = Some(path.to_owned());
                    self.push(format!("path: {path}{}", changed(raw, path)));
                }
                Err(e) => self.push(format!("path: refused: {e}")),
            },
            Step::Route { route, outcome } => self.route(route, outcome),
            Step::Token { found } => self.token(found),
            Step::Refetch { refetched, .. } => self.push(match refetched {
                true => "  refetch      the kid is unknown: the issuer's keys were refetched; verifying again".to_owned(),
                false => "  no refetch   the kid is unknown, and the keys were just fetched: final".to_owned(),
            }),
            Step::Revocation { outcome } => {
                self.push("revocation:".to_owned());
                self.push(match outcome {
                    Ok(()) => "  ok           deny lists: no entry matches".to_owned(),
                    Err(e) => format!("  FAIL         deny lists: {e} (by {})", e.kind()),
                });
            }
            Step::Online { outcome } => self.push(online(outcome)),
            Step::Freshness {
                max_age,
                auth_time,
                now,
                outcome,
            } => {
                let age = auth_time.map_or("no auth_time".to_owned(), |at| {
                    format!("signed in {}", relative(at.0, now as f64))
                });
                let max = humantime::format_duration(max_age);
                self.push(match outcome {
                    Ok(()) => format!("  ok           max_age {max}: {age}"),
                    Err(()) => format!("  FAIL         max_age {max}: {age}: sign in again"),
                });
            }
            Step::Rules {
                route,
                subject,
                path,
                outcome,
            } => self.rules(route, subject.claims, path, outcome),
            Step::Session(step) => self.session(step),
        }
    }

    /// explain never calls the sign-in provider: a refresh would rotate the real
    /// session's refresh token.
    fn calls_provider(&self) -> bool {
        false
    }

    fn may_call_cognito(&self) -> bool {
        self.fetched
    }
}

impl Printer<'_> {
    fn session(&mut self, step: SessionStep<'_>) {
        let line = match step {
            SessionStep::Broken => "token source: the session cookie does not open (tampered, truncated or another secret): no session, cleared".to_owned(),
            SessionStep::TooOld => "token source: the session is older than login.session_lifetime: ended".to_owned(),
            SessionStep::Invalid(e) => format!("token source: the session's access token no longer verifies ({e}): ended"),
            SessionStep::Used => "token source: the browser session (its access token, verified above)".to_owned(),
            SessionStep::Refresh(Ok(())) => "token source: the browser session, its access token refreshed at the token endpoint".to_owned(),
            SessionStep::Refresh(Err(why)) => format!("token source: the browser session's access token has expired; refresh: {why}"),
            SessionStep::SignIn(true) => "sign-in: [login] applies to this route: a browser navigation is redirected (302) to the sign-in page".to_owned(),
            SessionStep::SignIn(false) => "sign-in: [login] applies to this route, but only a browser navigation (GET or HEAD, Sec-Fetch-Mode: navigate or Accept: text/html) is redirected to sign in; this request gets 401".to_owned(),
        };
        self.push(line);
    }
}

/// The online check's line.
fn online(outcome: Option<&OnlineOutcome>) -> String {
    match outcome {
        None => "  not checked  online: GetUser is called only with --fetch".to_owned(),
        Some(o @ OnlineOutcome::Known { age, .. }) if !o.revoked() => {
            format!("  ok           online: Cognito honoured it {age} s ago")
        }
        Some(OnlineOutcome::Known { age, .. }) => {
            format!("  FAIL         online: Cognito refused it {age} s ago: token revoked")
        }
        Some(OnlineOutcome::Asked { revoked: false }) => {
            "  ok           online: GetUser honours it".to_owned()
        }
        Some(OnlineOutcome::Asked { revoked: true }) => {
            "  FAIL         online: GetUser refuses it: token revoked".to_owned()
        }
        Some(o @ OnlineOutcome::Unreachable { why, .. }) => format!(
            "  {}  online: Cognito unreachable ({why}): the last answer stands (fail open)",
            if o.revoked() {
                "FAIL       "
            } else {
                "ok         "
            }
        ),
    }
}

impl verify::Trace for Printer<'_> {
    fn verify_step(&mut self, step: verify::Step<'_>, outcome: Result<(), AuthError>) {
        use verify::Step as S;
        let issuers = &self.snap.config.issuers;
        let what = match step {
            S::Cached => "cached: an earlier verification of this token still holds".to_owned(),
            S::Format { bytes } if outcome.is_ok() => {
                format!("format: {bytes} bytes, three segments")
            }
            S::Format { bytes } => format!("format: {bytes} bytes"),
            S::Header { alg: None, .. } => "header".to_owned(),
            S::Header {
                alg: Some(alg),
                kid,
            } => {
                self.kid = kid.map(str::to_owned);
                let kid = kid.map_or("(none)".to_owned(), |k| format!("{k:?}"));
                format!("header: alg {alg:?}, kid {kid}")
            }
            S::Payload => "payload: base64url".to_owned(),
            S::Issuer { iss: None, .. } => "issuer".to_owned(),
            S::Issuer {
                iss: Some(iss),
                issuer_idx: Some(idx),
            } => format!(
                "issuer: iss {iss:?} is issuers[{idx}] {:?}",
                issuers[idx].name
            ),
            S::Issuer {
                iss: Some(iss),
                issuer_idx: None,
            } => {
                let known: Vec<&str> = issuers.iter().map(|i| i.issuer.as_str()).collect();
                format!("issuer: iss {iss:?} is none of {known:?}")
            }
            S::KeySet { issuer_idx } => return self.key_set(issuer_idx, outcome),
            S::Key { kid, .. } if outcome.is_ok() => {
                format!("key: kid {kid:?} is in the issuer's JWKS")
            }
            S::Key { kid, keys } => {
                let kids: Vec<&str> = keys.kids().collect();
                format!("key: kid {kid:?} is not in the issuer's JWKS {kids:?}")
            }
            S::Algorithm { alg, .. } if outcome.is_ok() => {
                format!("algorithm: {alg:?}, the key's own")
            }
            S::Algorithm { alg, key, allowed } => {
                format!("algorithm: {alg:?} (the key's is {key:?}; the issuer allows {allowed:?})")
            }
            S::Signature if outcome.is_ok() => {
                "signature: verified with the issuer's key".to_owned()
            }
            S::Signature => "signature".to_owned(),
            S::Claims { claims: Ok(claims) } => describe_claims(claims),
            S::Claims { claims: Err(e) } => format!("claims ({e})"),
            S::Time {
                claim,
                at,
                now,
                leeway,
            } => time(claim, at.map(|at| at.0), now, leeway),
            S::TokenUse { issuer, claims } => {
                let accepted: Vec<&str> = issuer.token_use.iter().map(|t| t.as_str()).collect();
                let derived = match claims.declared_use() {
                    None => " (no token_use claim: derived)",
                    Some(_) => "",
                };
                format!(
                    "token_use: {}{derived} (issuer {:?} accepts {accepted:?})",
                    claims.token_use().as_str(),
                    issuer.name
                )
            }
            S::Client { issuer, claims } => {
                let field = match claims.declared_use() {
                    Some(TokenUse::Access) => "client_id",
                    Some(TokenUse::Id) => "aud",
                    None => "client_id / azp / aud",
                };
                let client = claims.client().or(claims.clients().next()).unwrap_or("");
                format!(
                    "client: {field} {client:?} (issuer accepts {:?})",
                    issuer.client_ids
                )
            }
        };
        self.checked(outcome, what);
    }
}

fn describe_claims(claims: &Claims) -> String {
    format!(
        "claims: sub {:?}, token_use {}, groups {:?}, scope {:?}",
        claims.sub(),
        claims.token_use().as_str(),
        claims.groups(),
        claims.scope().unwrap_or("")
    )
}

/// `exp: in 59m 58s (leeway 1m)`, `nbf: 2h ago`, `iat: absent`.
fn time(claim: &str, at: Option<f64>, now: f64, leeway: f64) -> String {
    let Some(at) = at else {
        return format!("{claim}: absent");
    };
    let when = relative(at, now);
    match claim {
        "exp" => {
            let skew = humantime::format_duration(Duration::from_secs_f64(leeway.max(0.0)));
            format!("exp: {when} (leeway {skew})")
        }
        _ => format!("{claim}: {when}"),
    }
}

/// "in 59m 58s", "2h 3s ago" or "now" (whole seconds).
fn relative(at: f64, now: f64) -> String {
    let seconds = |d: f64| Duration::from_secs(d.abs().min(1e12) as u64);
    if (at - now).abs() < 1.0 {
        "now".to_owned()
    } else if at > now {
        format!("in {}", humantime::format_duration(seconds(at - now)))
    } else {
        format!("{} ago", humantime::format_duration(seconds(now - at)))
    }
}

fn changed(raw: &str, normalized: &str) -> String {
    if raw == normalized {
        " (already normal)".to_owned()
    } else {
        format!(" (normalized from {raw}; this is the path matched and forwarded)")
    }
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
