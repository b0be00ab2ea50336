//! A token factory: a dev key, its JWKS, and Cognito-shaped tokens signed with it.

use cognigate::config::TokenUse;
use cognigate::mint::{self, DevKey, TokenSpec};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1";
pub(crate) const CLIENT: &str = "testclient123";

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub(crate) fn key() -> DevKey {
    mint::generate_rsa_key().unwrap()
}

/// A spec for a valid access token of `sub` in `groups`.
pub(crate) fn access(sub: &str, groups: &[&str]) -> TokenSpec {
    TokenSpec {
        sub: sub.into(),
        issuer: ISSUER.into(),
        client_id: CLIENT.into(),
        token_use: TokenUse::Access,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        scope: Some("openid profile".into()),
        username: Some(format!("{sub}-name")),
        email: None,
        ttl: Duration::from_secs(3600),
        now: now(),
        claims: Vec::new(),
    }
}

/// A spec for a valid id token.
pub(crate) fn id(sub: &str, groups: &[&str]) -> TokenSpec {
    TokenSpec {
        token_use: TokenUse::Id,
        scope: None,
        email: Some(format!("{sub}@example.com")),
        ..access(sub, groups)
    }
}

pub(crate) fn sign(key: &DevKey, spec: &TokenSpec) -> String {
    mint::mint(key, spec).unwrap()
}

/// A token with hand-written header and payload JSON, signed by `key`.
pub(crate) fn raw(key: &DevKey, header: &str, payload: &str) -> String {
    mint::mint_raw(key, header, payload).unwrap()
}

pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
