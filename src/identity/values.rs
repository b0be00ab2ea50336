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
    /// `X-Auth-Client-Id`: the app client the token was accepted for (see
    /// [`IdentityValues::set_client`]).
    Client,
}

/// The values of the identity headers a token's claims fill, checked and copied once
/// with the claims rather than on every request that forwards a cached token.
///
/// Compact, as a cached token keeps them: the values lie side by side in one buffer
/// (one allocation per token), and a request's header values are slices of it (cloning
/// counts references on the same block).
#[derive(Debug, Clone, Default)]
pub struct IdentityValues {
    /// The present values, in [`IdentityValue`] order, each a valid header value.
    all: Bytes,
    /// Where each value ends in `all`; `None`: the header is not sent. A token is at most
    /// 16 KiB, so the values fit `u16` offsets.
    ends: [Option<u16>; 6],
}

impl IdentityValues {
    /// Values for forwardable claims (the verifier refuses a token whose identity claims
    /// hold a control character), so every present claim gives a value. `client` starts
    /// unset.
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
        let texts = [Some(sub), username, email, groups, scope, None];
        IdentityValues::from_texts(texts.map(|t| t.map(str::as_bytes)))
    }

    /// One buffer for `texts`; a text that is no header value (or past the offsets) is
    /// left out.
    fn from_texts(texts: [Option<&[u8]>; 6]) -> IdentityValues {
        let texts = texts.map(|t| t.filter(|t| HeaderValue::from_bytes(t).is_ok()));
        let mut all = Vec::with_capacity(texts.iter().flatten().map(|t| t.len()).sum());
        let ends = texts.map(|text| {
            let text = text?;
            let end = u16::try_from(all.len() + text.len()).ok()?;
            all.extend_from_slice(text);
            Some(end)
        });
        IdentityValues {
            all: Bytes::from(all),
            ends,
        }
    }

    /// The value of `which`, or `None` when the header is not sent.
    pub fn get(&self, which: IdentityValue) -> Option<HeaderValue> {
        let text = self.text(which)?;
        HeaderValue::from_maybe_shared(self.all.slice_ref(text)).ok()
    }

    /// The bytes of `which` in the buffer.
    fn text(&self, which: IdentityValue) -> Option<&[u8]> {
        let at = which as usize;
        let end = usize::from(self.ends.get(at).copied().flatten()?);
        let earlier = self.ends.get(..at).unwrap_or_default();
        let start = earlier
            .iter()
            .rev()
            .flatten()
            .next()
            .map_or(0, |e| usize::from(*e));
        self.all.get(start..end)
    }

    /// Records the app client the token was accepted for (`None`: none).
    pub(crate) fn set_client(&mut self, client: Option<&str>) {
        let old = std::mem::take(self);
        let mut texts = IdentityValue::ALL.map(|which| old.text(which));
        texts[IdentityValue::Client as usize] = client.map(str::as_bytes);
        *self = IdentityValues::from_texts(texts);
    }

    /// The bytes the values hold besides this struct: the buffer, and the header
    /// `bytes` gives it once it is shared.
    pub(crate) fn memory(&self) -> usize {
        const SHARED: usize = 32;
        self.all.len() + SHARED
    }
}

impl IdentityValue {
    /// Every value, in header order.
    pub const ALL: [IdentityValue; 6] = [
        IdentityValue::Sub,
        IdentityValue::Username,
        IdentityValue::Email,
        IdentityValue::Groups,
        IdentityValue::Scope,
        IdentityValue::Client,
    ];
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
