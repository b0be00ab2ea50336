//! The request-path authorization step: path, route, token, rule. Produces either the
//! verified principal (to travel with the request) or the refusal to send back.

use super::Snapshot;
use super::error::Refusal;
use super::token::{self, Found};
use crate::config::AuthMode;
use crate::jwks::KeyStore;
use crate::policy::{Claim, ClaimSource, Route, Subject, path};
use crate::verify::{AuthError, ClaimRef, Claims, Verified};
use http::{HeaderMap, Method};
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

/// The request as the route rules see it.
#[derive(Debug)]
pub struct Target<'a> {
    pub method: &'a Method,
    pub host: Option<&'a str>,
    /// The raw path, without the query.
    pub path: &'a str,
}

/// An admitted request: its route, who it is, and whether the path had to change.
#[derive(Debug)]
pub struct Admitted<'s> {
    pub route: &'s Route,
    pub principal: Option<Verified>,
    /// The normalized path when it differs from the request's (which is then replaced).
    pub new_path: Option<String>,
}

/// A refusal, with the route it happened on when one had matched.
pub type Refused<'s> = (Option<&'s Route>, Refusal);

/// Normalizes the path, finds the route and applies it.
pub async fn admit<'s>(
    snap: &'s Snapshot,
    keys: &KeyStore,
    target: Target<'_>,
    headers: &HeaderMap,
) -> Result<Admitted<'s>, Refused<'s>> {
    let normalized =
        path::normalize(target.path).map_err(|e| (None, Refusal::BadRequest(e.to_string())))?;
    let (_, route) = snap
        .routes
        .find(target.method, target.host, &normalized)
        .ok_or((None, Refusal::NoRoute))?;
    let principal = match route.auth() {
        AuthMode::Deny => return Err((Some(route), Refusal::Denied)),
        AuthMode::Public => None,
        AuthMode::Required | AuthMode::Optional => {
            authenticate(snap, keys, route, headers, &normalized)
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
    })
}

/// Finds and verifies the token, then applies the route's rules. On an `optional` route
/// a request without a token passes anonymous: no rule (`groups_*`, `scopes_*`,
/// `claims`, `bind`) applies to it, and no identity reaches the upstream.
async fn authenticate(
    snap: &Snapshot,
    keys: &KeyStore,
    route: &Route,
    headers: &HeaderMap,
    normalized_path: &str,
) -> Result<Option<Verified>, Refusal> {
    let token = match token::find(headers, &snap.config.token, &snap.client_ids) {
        Found::Token(t) => t,
        Found::Missing if route.auth() == AuthMode::Optional => return Ok(None),
        Found::Missing => return Err(Refusal::MissingToken),
        Found::Malformed(why) => return Err(Refusal::InvalidToken(AuthError::Malformed(why))),
    };
    let verified = verify(snap, keys, &token).await?;
    let issuer = &snap.config.issuers[verified.issuer_idx].name;
    let subject = subject(&verified.claims, issuer);
    (route.authorize(&subject, normalized_path)).map_err(Refusal::Forbidden)?;
    Ok(Some(verified))
}

/// What the route rules see of verified `claims` from the issuer named `issuer`.
pub fn subject<'a>(claims: &'a Claims, issuer: &'a str) -> Subject<'a> {
    Subject {
        groups: &claims.groups,
        scope: claims.scope.as_deref().unwrap_or(""),
        token_use: claims.token_use,
        issuer,
        claims,
    }
}

/// The verifier's by-name view of the claims, in the rules' terms.
impl ClaimSource for Claims {
    fn claim(&self, name: &str) -> Claim<'_> {
        match self.by_name(name) {
            ClaimRef::Absent => Claim::Absent,
            ClaimRef::Text(text) => Claim::Text(text),
            ClaimRef::List(items) => Claim::List(items),
            ClaimRef::Other => Claim::Other,
        }
    }
}

/// Verifies, giving an unknown `kid` one chance: the key set may have rotated since it
/// was fetched. The refetch is shared and rate limited by the key store.
async fn verify(snap: &Snapshot, keys: &KeyStore, token: &str) -> Result<Verified, Refusal> {
    let refusal = |e: AuthError| match e {
        AuthError::IssuerNotReady { issuer_idx } => {
            Refusal::IssuerNotReady(snap.config.issuers[issuer_idx].name.clone())
        }
        other => Refusal::InvalidToken(other),
    };
    match snap.verifier.verify(token, keys, now()) {
        Err(AuthError::UnknownKid { issuer_idx }) => {
            let ticket = keys.refetch_for_unknown_kid(issuer_idx);
            // Boxed: the rare path keeps its timer out of every request's future.
            if ticket.is_granted() && Box::pin(ticket.wait(snap.config.jwks.fetch_timeout)).await {
                snap.verifier.verify(token, keys, now()).map_err(refusal)
            } else {
                Err(refusal(AuthError::UnknownKid { issuer_idx }))
            }
        }
        other => other.map_err(refusal),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
