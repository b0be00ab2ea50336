//! Token verification: compact JWS text + the issuer's current key set -> typed claims.
//!
//! Threats defended against:
//! - **Algorithm confusion**: `alg: none`, HMAC algorithms (a public key used as an
//!   HMAC secret) and any algorithm other than the one bound to the key when its JWKS
//!   loaded (and allowed by the issuer's config) are refused before any signature check.
//! - **Forged or tampered tokens**: the signature is checked over the exact received
//!   `header.payload` bytes before any claim is trusted; only `iss` is used earlier, to
//!   pick the issuer whose keys must verify it.
//! - **Key substitution**: keys come only from the configured issuer's JWKS; header
//!   `jku`, `x5u`, `jwk` and `x5c` are ignored, and `crit` extensions are refused.
//! - **Claim smuggling**: claims are typed; a repeated key (e.g. a second
//!   `cognito:groups`) or a wrong type (a string `nbf`) invalidates the token.
//! - **Resource exhaustion**: tokens over 16 KiB are refused before parsing; a verified
//!   token cache avoids repeated RSA work without outliving `exp` or a key rotation.
//!
//! Order of checks (each failure its own [`AuthError`]): size, three segments, header and
//! algorithm screen, payload `iss` -> issuer, issuer's key set, kid, key algorithm,
//! signature, typed claims, `exp`/`nbf`/`iat` with leeway, `token_use` (required of a
//! Cognito user pool's tokens), client.

mod cache;
mod claims;
mod error;
mod token;
mod trace;

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, errors::ErrorKind};

pub use claims::{Claims, NumericDate, UNREADABLE_CLAIMS};
pub use error::AuthError;
pub use token::MAX_TOKEN_BYTES;
use trace::traced;
pub use trace::{Step, Trace};

use crate::config::{Issuer, TokenSettings};
use crate::jwks::{KeySet, KeyStore, VerifyKey};
use cache::TokenCache;
use token::Segments;

/// A verified token: which issuer vouched for it, and its claims.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Index into the issuer list the verifier was built from.
    pub issuer_idx: usize,
    /// The verified claims (shared with the cache).
    pub claims: Arc<Claims>,
}

/// Verifies tokens against a fixed issuer list; build a new one on config reload.
pub struct Verifier {
    issuers: Vec<Issuer>,
    leeway: f64,
    cache: Option<TokenCache>,
    /// Claims read besides the typed ones (those the routes' rules name).
    claim_names: Arc<[Box<str>]>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuers", &self.issuers.len())
            .field("leeway", &self.leeway)
            .field("cache", &self.cache.is_some())
            .field("claim_names", &self.claim_names)
            .finish()
    }
}

impl Verifier {
    /// A verifier for `issuers` (the same list, in the same order, as the [`KeyStore`]).
    pub fn new(issuers: &[Issuer], settings: &TokenSettings) -> Verifier {
        Verifier {
            issuers: issuers.to_vec(),
            leeway: settings.leeway.as_secs_f64(),
            cache: TokenCache::new(settings.cache_size),
            claim_names: Arc::default(),
        }
    }

    /// Also reads the claims called `names` (those the routes' `claims` and `bind` name)
    /// into every verified token, for [`Claims::by_name`]: read once with the typed
    /// claims, and cached with them.
    pub fn with_claims(mut self, names: &[&str]) -> Verifier {
        self.claim_names = names.iter().map(|n| Box::from(*n)).collect();
        self
    }

    /// The issuers this verifier accepts, by index.
    pub fn issuers(&self) -> &[Issuer] {
        &self.issuers
    }

    /// The claims read besides the typed ones (see [`Verifier::with_claims`]).
    pub fn claim_names(&self) -> &Arc<[Box<str>]> {
        &self.claim_names
    }

    /// Verifies `token` at `now` (unix seconds). Never awaits, never locks.
    pub fn verify(&self, token: &str, keys: &KeyStore, now: u64) -> Result<Verified, AuthError> {
        self.verify_traced(token, keys, now, &mut ())
    }

    /// [`Verifier::verify`], reporting each [`Step`] to `trace` as it is taken (the proxy
    /// passes `()`, which compiles to `verify`; `explain` passes a printer).
    pub fn verify_traced<T: Trace>(
        &self,
        token: &str,
        keys: &KeyStore,
        now: u64,
        trace: &mut T,
    ) -> Result<Verified, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            let e = AuthError::Malformed("token larger than 16 KiB");
            trace.verify_step(Step::Format { bytes: token.len() }, Err(e));
            return Err(e);
        }
        let now = now as f64;
        let cached = (self.cache.as_ref()).and_then(|c| Some((c, TokenCache::key(token)?)));
        if let Some(hit) = (cached.as_ref()).and_then(|(c, key)| c.get(key, keys, now, self.leeway))
        {
            trace.verify_step(Step::Cached, Ok(()));
            return Ok(hit);
        }
        let (verified, set) = self.verify_uncached(token, keys, now, trace)?;
        if let Some((cache, key)) = cached {
            cache.insert(key, &verified, &set);
        }
        Ok(verified)
    }

    /// Every check but the signature's, which is not made, for `explain` without keys:
    /// what the proxy would decide *if* the signature verifies. The token's format,
    /// header and issuer are read again without being reported (the failed
    /// [`Verifier::verify_traced`] that found no keys reported them); then the claims
    /// are checked as [`Verifier::verify_traced`] checks them, reported to `trace`.
    ///
    /// The result is [`Unverified`], never a [`Verified`]: nothing admits a request on
    /// it, and the proxy never calls this.
    pub(crate) fn check_unverified<T: Trace>(
        &self,
        token: &str,
        now: u64,
        trace: &mut T,
    ) -> Result<Unverified, AuthError> {
        let read = self.read(token, &mut ())?;
        let issuer_idx = read.issuer_idx;
        let claims = self.accept(issuer_idx, read.claims, now as f64, trace)?;
        Ok(Unverified { issuer_idx, claims })
    }

    /// Drops every cached verification (config reload).
    pub fn clear_cache(&self) {
        if let Some(cache) = &self.cache {
            cache.clear();
        }
    }

    fn verify_uncached<T: Trace>(
        &self,
        token: &str,
        keys: &KeyStore,
        now: f64,
        trace: &mut T,
    ) -> Result<(Verified, Arc<KeySet>), AuthError> {
        let read = self.read(token, trace)?;
        let issuer_idx = read.issuer_idx;
        let set = keys.get(issuer_idx);
        let outcome = set.as_ref().map(|_| ());
        let outcome = outcome.ok_or(AuthError::IssuerNotReady { issuer_idx });
        traced(trace, Step::KeySet { issuer_idx }, outcome)?;
        let set = set.ok_or(AuthError::IssuerNotReady { issuer_idx })?;
        let kid = &read.header.kid;
        let key = set.get(kid);
        let outcome = key.map(|_| ()).ok_or(AuthError::UnknownKid { issuer_idx });
        traced(trace, Step::Key { kid, keys: &set }, outcome)?;
        let key = key.ok_or(AuthError::UnknownKid { issuer_idx })?;
        self.check_algorithm(issuer_idx, read.header.alg, key, trace)?;
        traced(trace, Step::Signature, check_signature(&read.segments, key))?;
        let claims = self.accept(issuer_idx, read.claims, now, trace)?;
        let verified = Verified {
            issuer_idx,
            claims: Arc::new(claims),
        };
        Ok((verified, set))
    }

    /// What is read before the signature: the segments, the header, the payload (once,
    /// typed) and the issuer chosen by `iss`.
    fn read<'t, T: Trace>(&self, token: &'t str, trace: &mut T) -> Result<Read<'t>, AuthError> {
        let step = Step::Format { bytes: token.len() };
        let segments = token::split(token);
        traced(trace, step, segments.as_ref().map(|_| ()).map_err(|e| *e))?;
        let segments = segments?;
        let header = token::header(segments.header, trace)?;
        let payload = token::decode(segments.payload);
        traced(
            trace,
            Step::Payload,
            payload.as_ref().map(|_| ()).map_err(|e| *e),
        )?;
        let payload = payload?;
        // The payload is read once, here; before the signature holds, only `iss` is
        // used (to pick the issuer whose keys must verify it). A payload the typed read
        // refuses is read again for `iss` alone, so that an unsigned or forged token is
        // refused for its signature before its claims are judged.
        let claims = Claims::parse(&payload, &self.claim_names);
        let iss = match &claims {
            Ok(claims) => Ok(Cow::Borrowed(claims.iss())),
            Err(_) => token::unverified_iss(&payload),
        };
        let issuer_idx = self.issuer_index(iss, trace)?;
        Ok(Read {
            segments,
            header,
            claims,
            issuer_idx,
        })
    }

    /// The configured issuer whose `issuer` is `iss`, exactly.
    fn issuer_index<T: Trace>(
        &self,
        iss: Result<Cow<'_, str>, AuthError>,
        trace: &mut T,
    ) -> Result<usize, AuthError> {
        let iss = iss.as_deref();
        let issuer_idx = iss
            .ok()
            .and_then(|iss| self.issuers.iter().position(|i| i.issuer == iss));
        let step = Step::Issuer {
            iss: iss.ok(),
            issuer_idx,
        };
        let outcome = match (iss, issuer_idx) {
            (Err(e), _) => Err(*e),
            (Ok(_), None) => Err(AuthError::WrongIssuer),
            (Ok(_), Some(_)) => Ok(()),
        };
        traced(trace, step, outcome)?;
        issuer_idx.ok_or(AuthError::WrongIssuer)
    }

    /// Trust the key, not the token: the header may only repeat the key's algorithm.
    fn check_algorithm<T: Trace>(
        &self,
        idx: usize,
        alg: Algorithm,
        key: &VerifyKey,
        trace: &mut T,
    ) -> Result<(), AuthError> {
        let allowed = &self.issuers[idx].algorithms;
        let outcome = match alg == key.algorithm && allowed.contains(&alg) {
            true => Ok(()),
            false => Err(AuthError::DisallowedAlg),
        };
        let step = Step::Algorithm {
            alg,
            key: key.algorithm,
            allowed,
        };
        traced(trace, step, outcome)
    }

    /// The claims, once the signature holds (or, for `explain` without keys, is not
    /// checked): readable, then [`Verifier::check_claims`].
    fn accept<T: Trace>(
        &self,
        idx: usize,
        claims: Result<Claims, serde_json::Error>,
        now: f64,
        trace: &mut T,
    ) -> Result<Claims, AuthError> {
        let outcome = match &claims {
            Ok(_) => Ok(()),
            Err(_) => Err(AuthError::Malformed(UNREADABLE_CLAIMS)),
        };
        traced(
            trace,
            Step::Claims {
                claims: claims.as_ref(),
            },
            outcome,
        )?;
        let mut claims = claims.map_err(|_| AuthError::Malformed(UNREADABLE_CLAIMS))?;
        self.check_claims(idx, &mut claims, now, trace)?;
        Ok(claims)
    }

    fn check_claims<T: Trace>(
        &self,
        idx: usize,
        claims: &mut Claims,
        now: f64,
        trace: &mut T,
    ) -> Result<(), AuthError> {
        let issuer = &self.issuers[idx];
        if *claims.iss() != *issuer.issuer {
            return Err(AuthError::WrongIssuer); // unreachable: same bytes as the lookup
        }
        check_times(claims, now, self.leeway, trace)?;
        let step = Step::TokenUse { issuer, claims };
        traced(trace, step, check_token_use(issuer, claims))?;
        let outcome = check_client(issuer, claims);
        traced(trace, Step::Client { issuer, claims }, outcome)
    }
}

/// Claims whose every check passed but the signature's, which was not made (see
/// [`Verifier::check_unverified`]).
#[derive(Debug)]
pub(crate) struct Unverified {
    /// Index into the issuer list the verifier was built from.
    pub issuer_idx: usize,
    /// The claims, as read: their signature is not checked.
    pub claims: Claims,
}

/// What [`Verifier::read`] found before the signature.
struct Read<'t> {
    segments: Segments<'t>,
    header: token::Header,
    /// The typed claims, or why they could not be read (judged after the signature).
    claims: Result<Claims, serde_json::Error>,
    issuer_idx: usize,
}

/// RFC 7519 §4.1.4-4.1.6, with `leeway` of clock skew either way.
fn check_times<T: Trace>(
    claims: &Claims,
    now: f64,
    leeway: f64,
    trace: &mut T,
) -> Result<(), AuthError> {
    let time = |claim, at| Step::Time {
        claim,
        at,
        now,
        leeway,
    };
    let expired = claims.exp().0 + leeway <= now;
    let outcome = if expired {
        Err(AuthError::Expired)
    } else {
        Ok(())
    };
    traced(trace, time("exp", Some(claims.exp())), outcome)?;
    for (claim, at) in [("nbf", claims.nbf()), ("iat", claims.iat())] {
        let outcome = match at.is_some_and(|at| at.0 > now + leeway) {
            true => Err(AuthError::NotYetValid(claim)),
            false => Ok(()),
        };
        traced(trace, time(claim, at), outcome)?;
    }
    Ok(())
}

/// A Cognito user pool always says which kind of token it issued; the issuer must
/// accept that kind.
fn check_token_use(issuer: &Issuer, claims: &Claims) -> Result<(), AuthError> {
    if issuer.cognito && claims.declared_use().is_none() {
        return Err(AuthError::Malformed("token_use is missing"));
    }
    if !issuer.token_use.contains(&claims.token_use()) {
        return Err(AuthError::WrongTokenUse(claims.token_use()));
    }
    Ok(())
}

/// Access tokens name their client in `client_id`, id tokens in `aud`.
fn check_client(issuer: &Issuer, claims: &mut Claims) -> Result<(), AuthError> {
    if claims.accept_client(&issuer.client_ids) {
        Ok(())
    } else {
        Err(AuthError::WrongClient)
    }
}

/// The algorithm passed is the key's own, never the header's (they are equal by now).
fn check_signature(segments: &Segments<'_>, key: &VerifyKey) -> Result<(), AuthError> {
    let message = segments.signing_input.as_bytes();
    if let Some(parsed) = &key.parsed_rsa {
        let signature = URL_SAFE_NO_PAD
            .decode(segments.signature)
            .map_err(|_| AuthError::Malformed("segment is not base64url"))?;
        return parsed
            .verify_sig(message, &signature)
            .map_err(|_| AuthError::BadSignature);
    }
    match jsonwebtoken::crypto::verify(segments.signature, message, &key.key, key.algorithm) {
        Ok(true) => Ok(()),
        Err(e) if matches!(e.kind(), ErrorKind::Base64(_)) => {
            Err(AuthError::Malformed("segment is not base64url"))
        }
        Ok(false) | Err(_) => Err(AuthError::BadSignature),
    }
}
