//! The identity a verified token renders into headers: the standard headers' values,
//! made once per token (a cached token is forwarded many times), and the text of any
//! claim for `[identity.claim_headers]`.
//!
//! `verify` builds [`IdentityValues`] when it reads a token's claims and hands the
//! claims back as an [`IdentitySource`]; `identity` never names `verify`'s types, so the
//! dependency points one way (`verify` -> `identity` -> `config`).

use base64::Engine;
use bytes::Bytes;
use http::HeaderValue;
use std::sync::Arc;

use crate::config::TokenUse;

/// A verified token, as the identity headers read it (`verify::Claims` is one).
pub trait IdentitySource {
    /// The standard headers' values, made once per token.
    fn identity_values(&self) -> &IdentityValues;
    /// The kind of token (`X-Auth-Token-Use`).
    fn token_use(&self) -> TokenUse;
    /// The payload segment as received (`X-Auth-Claims`, and read by [`claim_text`]).
    fn payload_b64(&self) -> &HeaderValue;
}

/// A shared token (the verifier's cache hands out `Arc<Claims>`) reads as the token.
impl<T: IdentitySource + ?Sized> IdentitySource for Arc<T> {
    fn identity_values(&self) -> &IdentityValues {
        (**self).identity_values()
    }

    fn token_use(&self) -> TokenUse {
        (**self).token_use()
    }

    fn payload_b64(&self) -> &HeaderValue {
        (**self).payload_b64()
    }
}

/// The values of the identity headers a token's claims fill, checked and copied into
/// header values once with the claims rather than on every request that forwards a
/// cached token. `None`: the header is not sent.
#[derive(Debug, Clone, Default)]
pub struct IdentityValues {
    /// `X-Auth-Sub`.
    pub sub: Option<HeaderValue>,
    /// `X-Auth-Username`.
    pub username: Option<HeaderValue>,
    /// `X-Auth-Email`.
    pub email: Option<HeaderValue>,
    /// `X-Auth-Groups`: the groups comma-joined (a group name holding a comma is refused).
    pub groups: Option<HeaderValue>,
    /// `X-Auth-Scopes`.
    pub scope: Option<HeaderValue>,
    /// `X-Auth-Client-Id`: the app client the token was accepted for (see
    /// [`IdentityValues::set_client`]).
    pub client: Option<HeaderValue>,
}

impl IdentityValues {
    /// Values for forwardable claims (the verifier refuses a token whose identity claims
    /// hold a control character), so every present claim gives a value. They are
    /// slices of one buffer: one allocation per token (a cached token's memory), and
    /// cloning any of them counts references on the same block. `client` starts unset.
    pub(crate) fn new(
        sub: &str,
        username: Option<&str>,
        email: Option<&str>,
        groups: &[String],
        scope: Option<&str>,
    ) -> IdentityValues {
        let joined;
        let groups = match groups {
            [] => None,
            [group] => Some(group.as_str()),
            groups => {
                joined = groups.join(",");
                Some(joined.as_str())
            }
        };
        let texts = [Some(sub), username, email, groups, scope];
        let mut all = String::with_capacity(texts.iter().flatten().map(|t| t.len()).sum());
        texts.iter().flatten().for_each(|text| all.push_str(text));
        let all = Bytes::from(all);
        let mut start = 0;
        let [sub, username, email, groups, scope] = texts.map(|text| {
            let end = start + text?.len();
            let value = HeaderValue::from_maybe_shared(all.slice(start..end)).ok();
            start = end;
            value
        });
        IdentityValues {
            sub,
            username,
            email,
            groups,
            scope,
            client: None,
        }
    }

    /// Records the app client the token was accepted for (`None`: none).
    pub(crate) fn set_client(&mut self, client: Option<&str>) {
        self.client = client.and_then(|c| HeaderValue::from_str(c).ok());
    }
}

/// Any claim of a verified payload (`payload_b64`) as header text (for
/// `[identity.claim_headers]`): strings as they are, numbers and booleans in JSON form,
/// arrays of those comma-joined; objects and absent claims give `None`. Re-reads the
/// payload, so it costs a parse: only configured claim headers call it.
pub(super) fn claim_text(payload_b64: &HeaderValue, name: &str) -> Option<String> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload_b64.as_bytes())
        .ok()?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&json).ok()?;
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
