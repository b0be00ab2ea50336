//! The identity a verified token renders into headers: the standard headers' values
//! (slices of what the verifier keeps of the token: a cached token is forwarded many
//! times), and the text of any claim for `[identity.claim_headers]`.
//!
//! `verify` hands a token's claims over as an [`IdentitySource`]; `identity` never names
//! `verify`'s types, so the dependency points one way (`verify` -> `identity` -> `config`).

use http::HeaderValue;
use std::sync::Arc;

use crate::config::TokenUse;

/// A verified token, as the identity headers read it (`verify::Claims` is one).
pub trait IdentitySource {
    /// The value of one standard identity header, or `None` when it is not sent. The
    /// verifier refuses a token whose identity claims hold a control character, so every
    /// present claim gives a value.
    fn identity_value(&self, which: IdentityValue) -> Option<HeaderValue>;
    /// The kind of token (`X-Auth-Token-Use`).
    fn token_use(&self) -> TokenUse;
    /// The verified payload JSON (`X-Auth-Claims` is its base64url; [`claim_text`] reads it).
    fn payload(&self) -> &[u8];
}

/// A shared token (the verifier's cache hands out `Arc<Claims>`) reads as the token.
impl<T: IdentitySource + ?Sized> IdentitySource for Arc<T> {
    fn identity_value(&self, which: IdentityValue) -> Option<HeaderValue> {
        (**self).identity_value(which)
    }

    fn token_use(&self) -> TokenUse {
        (**self).token_use()
    }

    fn payload(&self) -> &[u8] {
        (**self).payload()
    }
}

/// One of the standard identity headers a token's claims fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityValue {
    /// `X-Auth-Sub`.
    Sub,
    /// `X-Auth-Username`.
    Username,
    /// `X-Auth-Email`.
    Email,
    /// `X-Auth-Groups`: the groups comma-joined (a group name holding a comma is refused).
    Groups,
    /// `X-Auth-Scopes`.
    Scope,
    /// `X-Auth-Client-Id`: the app client the token was accepted for.
    Client,
}

/// Any claim of a verified payload (its JSON) as header text (for
/// `[identity.claim_headers]`): strings as they are, numbers and booleans in JSON form,
/// arrays of those comma-joined; objects and absent claims give `None`. Re-reads the
/// payload, so it costs a parse: only configured claim headers call it.
pub(super) fn claim_text(payload: &[u8], name: &str) -> Option<String> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(payload).ok()?;
    scalar_text(map.get(name)?).or_else(|| match map.get(name)? {
        serde_json::Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(scalar_text).collect();
            parts.map(|p| p.join(","))
        }
        _ => None,
    })
}

fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
