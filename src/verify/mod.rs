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

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

use std::ops::Range;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, errors::ErrorKind};

pub use claims::{ClaimRef, Claims, NumericDate, UNREADABLE_CLAIMS};
pub use error::AuthError;
pub use token::MAX_TOKEN_BYTES;

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
            cache: (settings.cache_size > 0).then(|| TokenCache::new(settings.cache_size)),
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
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed("token larger than 16 KiB"));
        }
        let now = now as f64;
        if let Some(hit) = self
            .cache
            .as_ref()
            .and_then(|c| c.get(token, keys, now, self.leeway))
        {
            return Ok(hit);
        }
        let (verified, set, text) = self.verify_uncached(token, keys, now)?;
        if let Some(cache) = &self.cache {
            cache.insert(text, &verified, &set);
        }
        Ok(verified)
    }

    /// Drops every cached verification (config reload).
    pub fn clear_cache(&self) {
        if let Some(cache) = &self.cache {
            cache.clear();
        }
    }

    fn verify_uncached(
        &self,
        token: &str,
        keys: &KeyStore,
        now: f64,
    ) -> Result<(Verified, Arc<KeySet>, Arc<str>), AuthError> {
        let segments = token::split(token)?;
        let header = token::header(segments.header)?;
        let payload = token::decode(segments.payload)?;
        // One copy of the token text: the cache's key, and through `X-Auth-Claims` the
        // claims' view of the payload segment.
        let text: Arc<str> = Arc::from(token);
        let payload_b64 = shared_slice(&text, segments.payload_range())?;
        // The payload is read once, here; before the signature holds, only `iss` is
        // used (to pick the issuer whose keys must verify it). A payload the typed read
        // refuses is read again for `iss` alone, so that an unsigned or forged token is
        // refused for its signature before its claims are judged.
        let claims = Claims::parse(&payload, payload_b64, &self.claim_names);
        let issuer_idx = match &claims {
            Ok(claims) => self.issuer_index(&claims.iss)?,
            Err(_) => self.issuer_index(&token::unverified_iss(&payload)?)?,
        };
        let set = keys
            .get(issuer_idx)
            .ok_or(AuthError::IssuerNotReady { issuer_idx })?;
        let key = set
            .get(&header.kid)
            .ok_or(AuthError::UnknownKid { issuer_idx })?;
        self.check_algorithm(issuer_idx, header.alg, key)?;
        check_signature(&segments, key)?;
        let mut claims = claims.map_err(|_| AuthError::Malformed(UNREADABLE_CLAIMS))?;
        self.check_claims(issuer_idx, &mut claims, now)?;
        Ok((
            Verified {
                issuer_idx,
                claims: Arc::new(claims),
            },
            set,
            text,
        ))
    }

    fn issuer_index(&self, iss: &str) -> Result<usize, AuthError> {
        self.issuers
            .iter()
            .position(|i| i.issuer == iss)
            .ok_or(AuthError::WrongIssuer)
    }

    /// Trust the key, not the token: the header may only repeat the key's algorithm.
    fn check_algorithm(
        &self,
        idx: usize,
        alg: Algorithm,
        key: &VerifyKey,
    ) -> Result<(), AuthError> {
        if alg != key.algorithm || !self.issuers[idx].algorithms.contains(&alg) {
            return Err(AuthError::DisallowedAlg);
        }
        Ok(())
    }

    fn check_claims(&self, idx: usize, claims: &mut Claims, now: f64) -> Result<(), AuthError> {
        let issuer = &self.issuers[idx];
        if claims.iss != issuer.issuer {
            return Err(AuthError::WrongIssuer); // unreachable: same bytes as the lookup
        }
        check_times(claims, now, self.leeway)?;
        if issuer.cognito && claims.declared_use.is_none() {
            return Err(AuthError::Malformed("token_use is missing"));
        }
        if !issuer.token_use.contains(&claims.token_use) {
            return Err(AuthError::WrongTokenUse(claims.token_use));
        }
        check_client(issuer, claims)
    }
}

/// `range` of `text` as a header value sharing `text`'s allocation.
fn shared_slice(text: &Arc<str>, range: Range<usize>) -> Result<HeaderValue, AuthError> {
    struct Text(Arc<str>);
    impl AsRef<[u8]> for Text {
        fn as_ref(&self) -> &[u8] {
            self.0.as_bytes()
        }
    }
    let bytes = Bytes::from_owner(Text(Arc::clone(text))).slice(range);
    HeaderValue::from_maybe_shared(bytes).map_err(|_| AuthError::Malformed("token is not text"))
}

/// RFC 7519 §4.1.4-4.1.6, with `leeway` of clock skew either way.
fn check_times(claims: &Claims, now: f64, leeway: f64) -> Result<(), AuthError> {
    if claims.exp.0 + leeway <= now {
        return Err(AuthError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf.0 > now + leeway) {
        return Err(AuthError::NotYetValid("nbf"));
    }
    if claims.iat.is_some_and(|iat| iat.0 > now + leeway) {
        return Err(AuthError::NotYetValid("iat"));
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
