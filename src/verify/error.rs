//! Why a token was refused. Messages never contain token text (they may be sent to the
//! client as an RFC 6750 `error_description`, so they also avoid `"` and `\`).

use crate::config::TokenUse;

/// A refused token. [`AuthError::reason`] is the metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Too large, not three base64url segments, bad JSON, or claims of the wrong type.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The signature does not verify with the issuer's key.
    #[error("token signature is invalid")]
    BadSignature,
    /// The header's kid is not in the issuer's current key set.
    #[error("token is signed with a key the issuer does not publish")]
    UnknownKid {
        /// Index of the token's issuer, to request a refetch.
        issuer_idx: usize,
    },
    /// `exp` (plus leeway) has passed.
    #[error("token has expired")]
    Expired,
    /// `nbf` or `iat` (minus leeway) is in the future; the field names which.
    #[error("token is not yet valid ({0} is in the future)")]
    NotYetValid(&'static str),
    /// No configured issuer has this exact `iss`.
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// `client_id` (access) or `aud` (id) is not one of the issuer's client ids.
    #[error("token was issued to a client that is not accepted")]
    WrongClient,
    /// The issuer does not accept this kind of token.
    #[error("{} tokens are not accepted", .0.as_str())]
    WrongTokenUse(TokenUse),
    /// `none`, an HMAC or unknown algorithm, or not the algorithm bound to the key.
    #[error("token algorithm is not allowed")]
    DisallowedAlg,
    /// `[resource] audience = true` and the token's `aud` lacks the resource (RFC 8707).
    #[error("token was not issued for this resource (aud)")]
    Audience,
    /// No key set has ever loaded for the token's issuer (503 + Retry-After).
    #[error("the token issuer's signing keys are not available yet")]
    IssuerNotReady {
        /// Index of the token's issuer.
        issuer_idx: usize,
    },
}

impl AuthError {
    /// The fixed `reason` label: malformed, bad_signature, unknown_kid, expired,
    /// not_yet_valid, wrong_issuer, wrong_client, wrong_token_use, disallowed_alg,
    /// audience, issuer_not_ready.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Malformed(_) => "malformed",
            AuthError::BadSignature => "bad_signature",
            AuthError::UnknownKid { .. } => "unknown_kid",
            AuthError::Expired => "expired",
            AuthError::NotYetValid(_) => "not_yet_valid",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongClient => "wrong_client",
            AuthError::WrongTokenUse(_) => "wrong_token_use",
            AuthError::DisallowedAlg => "disallowed_alg",
            AuthError::Audience => "audience",
            AuthError::IssuerNotReady { .. } => "issuer_not_ready",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_fixed_and_messages_are_header_safe() {
        let all = [
            (AuthError::Malformed("x"), "malformed"),
            (AuthError::BadSignature, "bad_signature"),
            (AuthError::UnknownKid { issuer_idx: 0 }, "unknown_kid"),
            (AuthError::Expired, "expired"),
            (AuthError::NotYetValid("nbf"), "not_yet_valid"),
            (AuthError::WrongIssuer, "wrong_issuer"),
            (AuthError::WrongClient, "wrong_client"),
            (AuthError::WrongTokenUse(TokenUse::Id), "wrong_token_use"),
            (AuthError::DisallowedAlg, "disallowed_alg"),
            (
                AuthError::IssuerNotReady { issuer_idx: 0 },
                "issuer_not_ready",
            ),
        ];
        for (err, reason) in all {
            assert_eq!(err.reason(), reason);
            let msg = err.to_string();
            assert!(!msg.contains('"') && !msg.contains('\\'), "{msg}");
        }
    }
}
