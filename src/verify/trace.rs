//! A hook that hears each step of a verification as the verifier takes it, so that
//! `explain` shows the proxy's own checks rather than a copy of them.
//!
//! The proxy passes `()`, whose hook does nothing: the verifier is generic over the
//! tracer, so for `()` every report is inlined away and the request path neither
//! allocates nor slows down for it (benches/RESULTS.md, issue 21).

use jsonwebtoken::Algorithm;

use super::{AuthError, Claims, NumericDate};
use crate::config::Issuer;
use crate::jwks::KeySet;

/// One step of [`super::Verifier::verify_traced`], in the verifier's order. Each is
/// reported once, with its outcome, and the verifier stops at the first that fails.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// An earlier verification of this exact token text still holds (its `exp` has not
    /// passed and its issuer's key set is the one it was verified with): nothing else
    /// runs.
    Cached,
    /// The size (at most [`super::MAX_TOKEN_BYTES`]) and three non-empty segments.
    Format {
        /// The token's length.
        bytes: usize,
    },
    /// The protected header read and screened (no `crit`, no `none` or HMAC, a kid).
    Header {
        /// `alg` as sent; `None` when the header is not a JSON object with one.
        alg: Option<&'a str>,
        /// `kid` as sent, if any.
        kid: Option<&'a str>,
    },
    /// The payload segment decoded (base64url).
    Payload,
    /// The issuer chosen by the (not yet verified) `iss`.
    Issuer {
        /// `iss` as sent; `None` when the payload has no string `iss`.
        iss: Option<&'a str>,
        /// The configured issuer whose `issuer` it is, if any.
        issuer_idx: Option<usize>,
    },
    /// The issuer's key set is loaded (else the issuer is not ready).
    KeySet {
        /// The token's issuer.
        issuer_idx: usize,
    },
    /// The header's kid is in the issuer's key set.
    Key {
        /// The header's kid.
        kid: &'a str,
        /// The issuer's current key set.
        keys: &'a KeySet,
    },
    /// The header's algorithm is the key's own and one the issuer allows.
    Algorithm {
        /// The header's algorithm.
        alg: Algorithm,
        /// The algorithm bound to the key when its JWKS loaded.
        key: Algorithm,
        /// The issuer's `algorithms`.
        allowed: &'a [Algorithm],
    },
    /// The signature over `header.payload`, with the key and its algorithm.
    Signature,
    /// The typed claims read from the payload.
    Claims {
        /// The claims, or why they could not be read.
        claims: Result<&'a Claims, &'a serde_json::Error>,
    },
    /// One time claim (`exp`, `nbf` or `iat`) against the clock, with the leeway.
    Time {
        /// The claim's name.
        claim: &'static str,
        /// Its value; `None`: absent (only `nbf` and `iat` may be).
        at: Option<NumericDate>,
        /// Unix seconds.
        now: f64,
        /// `token.leeway`, in seconds.
        leeway: f64,
    },
    /// `token_use`: present for a Cognito issuer, and one the issuer accepts.
    TokenUse {
        /// The token's issuer.
        issuer: &'a Issuer,
        /// The token's claims.
        claims: &'a Claims,
    },
    /// The app client (`client_id`, or `aud`/`azp`) is one of the issuer's.
    Client {
        /// The token's issuer.
        issuer: &'a Issuer,
        /// The token's claims (the accepted client set, when it is).
        claims: &'a Claims,
    },
}

/// Hears each [`Step`] of a verification. `()` hears nothing, at no cost.
pub trait Trace {
    /// `step` was taken, with `outcome`.
    fn verify_step(&mut self, step: Step<'_>, outcome: Result<(), AuthError>);
}

impl Trace for () {
    #[inline(always)]
    fn verify_step(&mut self, _: Step<'_>, _: Result<(), AuthError>) {}
}

/// Reports `step` with `outcome` and passes the outcome on.
#[inline(always)]
pub(crate) fn traced<T: Trace>(
    trace: &mut T,
    step: Step<'_>,
    outcome: Result<(), AuthError>,
) -> Result<(), AuthError> {
    trace.verify_step(step, outcome);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenUse;
    use crate::jwks::KeyStore;
    use crate::mint::mint;
    use crate::verify::testkit::{self, NOW, key};
    use std::time::Duration;

    /// Each step's name and whether it passed.
    #[derive(Default)]
    struct Names(Vec<String>);

    impl Trace for Names {
        fn verify_step(&mut self, step: Step<'_>, outcome: Result<(), AuthError>) {
            let name = format!("{step:?}");
            let name = name.split([' ', '{', '(']).next().unwrap_or("").to_owned();
            let mark = if outcome.is_ok() { "" } else { " FAIL" };
            self.0.push(format!("{name}{mark}"));
        }
    }

    fn traced(token: &str, keys: &KeyStore, now: u64) -> (Vec<String>, Result<(), AuthError>) {
        let verifier = testkit::verifier_for(&[testkit::issuer()], 0);
        let mut names = Names::default();
        let result = verifier.verify_traced(token, keys, now, &mut names);
        let untraced = verifier.verify(token, keys, now);
        assert_eq!(
            result.is_ok(),
            untraced.is_ok(),
            "the trace changes nothing"
        );
        (names.0, result.map(|_| ()))
    }

    #[test]
    fn every_step_in_the_verifiers_order() {
        let token = mint(key(), &testkit::spec(TokenUse::Access)).unwrap();
        let (steps, result) = traced(&token, &testkit::store(), NOW);
        assert_eq!(result, Ok(()));
        let expected = [
            "Format",
            "Header",
            "Payload",
            "Issuer",
            "KeySet",
            "Key",
            "Algorithm",
            "Signature",
            "Claims",
            "Time",
            "Time",
            "Time",
            "TokenUse",
            "Client",
        ];
        assert_eq!(steps, expected);
    }

    #[test]
    fn the_trace_stops_at_the_first_failure_as_the_verifier_does() {
        let token = mint(key(), &testkit::spec(TokenUse::Access)).unwrap();
        let (steps, result) = traced(&token, &testkit::store(), NOW + 86_400);
        assert_eq!(result, Err(AuthError::Expired));
        assert_eq!(steps.last().map(String::as_str), Some("Time FAIL"));
        assert_eq!(steps.len(), 10, "{steps:?}");

        let empty = KeyStore::new(1, Duration::from_secs(60));
        let (steps, result) = traced(&token, &empty, NOW);
        assert_eq!(result, Err(AuthError::IssuerNotReady { issuer_idx: 0 }));
        assert_eq!(
            steps,
            ["Format", "Header", "Payload", "Issuer", "KeySet FAIL"]
        );

        let (steps, _) = traced("a.b", &empty, NOW);
        assert_eq!(steps, ["Format FAIL"]);
    }

    /// Without keys, `explain` checks the claims alone: the same checks, never a
    /// `Verified`.
    #[test]
    fn unverified_claims_get_the_verifiers_own_claim_checks() {
        let verifier = testkit::verifier_for(&[testkit::issuer()], 0);
        let token = mint(key(), &testkit::spec(TokenUse::Access)).unwrap();
        let mut names = Names::default();
        let read = verifier.check_unverified(&token, NOW, &mut names).unwrap();
        assert_eq!(read.issuer_idx, 0);
        assert_eq!(
            names.0,
            ["Claims", "Time", "Time", "Time", "TokenUse", "Client"]
        );
        let late = verifier.check_unverified(&token, NOW + 86_400, &mut ());
        assert_eq!(late.unwrap_err(), AuthError::Expired);
    }
}
