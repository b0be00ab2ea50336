//! Development tokens: an RSA key pair with its JWKS, and Cognito-shaped tokens signed by
//! it (`cognigate token`, `cognigate demo`, tests). Never used to verify anything.

use std::time::Duration;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};

use crate::config::TokenUse;

/// Why a dev key or token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// RSA key generation or encoding failed.
    #[error("generating an RSA key failed")]
    KeyGen,
    /// The PEM text is not an RSA private key.
    #[error("not an RSA private key in PEM (PKCS#8 PRIVATE KEY or PKCS#1 RSA PRIVATE KEY): {0}")]
    Pem(&'static str),
    /// Signing failed.
    #[error("signing the token failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// A development signing key with its kid and single-key JWKS.
#[derive(Clone)]
pub struct DevKey {
    /// The private key, PEM (PKCS#8 when generated here).
    pub private_pem: String,
    /// Key id: first 16 hex digits of SHA-256 of the modulus.
    pub kid: String,
    /// `{"keys":[{"kty":"RSA","kid":..,"use":"sig","alg":"RS256","n":..,"e":..}]}`.
    pub jwks_json: String,
    encoding: EncodingKey,
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// What to put in a minted token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSpec {
    /// `sub`.
    pub sub: String,
    /// `iss`.
    pub issuer: String,
    /// `client_id` (access) or `aud` (id).
    pub client_id: String,
    /// Access or id token.
    pub token_use: TokenUse,
    /// `cognito:groups` (omitted when empty).
    pub groups: Vec<String>,
    /// `scope` (access tokens).
    pub scope: Option<String>,
    /// `username` / `cognito:username`; defaults to `sub`.
    pub username: Option<String>,
    /// `email` (id tokens).
    pub email: Option<String>,
    /// Lifetime: `exp = now + ttl`.
    pub ttl: Duration,
    /// Issue time, unix seconds (`iat`, `auth_time`).
    pub now: u64,
    /// Further claims (`custom:tenant_id`, ...), set last: one named like a standard
    /// claim replaces it.
    pub claims: Vec<(String, Value)>,
}

/// Generates a fresh RSA-2048 dev key.
pub fn generate_rsa_key() -> Result<DevKey, MintError> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| MintError::KeyGen)?;
    let der = pair.as_der().map_err(|_| MintError::KeyGen)?;
    DevKey::from_pair(pem_encode("PRIVATE KEY", der.as_ref()), &pair)
}

impl DevKey {
    /// Loads a PEM RSA private key (PKCS#8 or PKCS#1); the kid is derived from it.
    pub fn from_pem(pem: &str) -> Result<DevKey, MintError> {
        let (label, der) = pem_decode(pem)?;
        let pair = match label {
            "PRIVATE KEY" => KeyPair::from_pkcs8(&der),
            "RSA PRIVATE KEY" => KeyPair::from_der(&der),
            _ => return Err(MintError::Pem("unexpected PEM label")),
        }
        .map_err(|_| MintError::Pem("key rejected"))?;
        DevKey::from_pair(pem.to_owned(), &pair)
    }

    fn from_pair(private_pem: String, pair: &KeyPair) -> Result<DevKey, MintError> {
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero();
        let e = public.exponent().big_endian_without_leading_zero();
        let kid = kid_for(n);
        let jwks_json = json!({"keys": [{
            "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e),
        }]})
        .to_string();
        let encoding = EncodingKey::from_rsa_pem(private_pem.as_bytes())?;
        Ok(DevKey {
            private_pem,
            kid,
            jwks_json,
            encoding,
        })
    }
}

/// Mints a Cognito-shaped RS256 token (header `{alg, kid, typ: JWT}`).
pub fn mint(key: &DevKey, spec: &TokenSpec) -> Result<String, MintError> {
    let header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
    mint_raw(
        key,
        &header.to_string(),
        &Value::Object(claims(spec)).to_string(),
    )
}

/// Signs arbitrary header and payload JSON with RS256, verbatim (attack tests need
/// headers and payloads no well-behaved issuer would produce).
pub fn mint_raw(key: &DevKey, header_json: &str, payload_json: &str) -> Result<String, MintError> {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(payload_json)
    );
    let signature =
        jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key.encoding, Algorithm::RS256)?;
    Ok(format!("{signing_input}.{signature}"))
}

/// The claims Cognito puts in access and id tokens.
fn claims(spec: &TokenSpec) -> Map<String, Value> {
    let username = spec.username.as_deref().unwrap_or(&spec.sub);
    let mut c = Map::new();
    c.insert("sub".into(), spec.sub.as_str().into());
    c.insert("iss".into(), spec.issuer.as_str().into());
    c.insert("token_use".into(), spec.token_use.as_str().into());
    c.insert("auth_time".into(), spec.now.into());
    c.insert("iat".into(), spec.now.into());
    c.insert(
        "exp".into(),
        spec.now.saturating_add(spec.ttl.as_secs()).into(),
    );
    c.insert("jti".into(), jti().into());
    if !spec.groups.is_empty() {
        c.insert("cognito:groups".into(), spec.groups.clone().into());
    }
    match spec.token_use {
        TokenUse::Access => access_claims(&mut c, spec, username),
        TokenUse::Id => id_claims(&mut c, spec, username),
    }
    for (name, value) in &spec.claims {
        c.insert(name.clone(), value.clone());
    }
    c
}

fn access_claims(c: &mut Map<String, Value>, spec: &TokenSpec, username: &str) {
    c.insert("client_id".into(), spec.client_id.as_str().into());
    c.insert("username".into(), username.into());
    if let Some(scope) = &spec.scope {
        c.insert("scope".into(), scope.as_str().into());
    }
    c.insert("version".into(), 2.into());
}

fn id_claims(c: &mut Map<String, Value>, spec: &TokenSpec, username: &str) {
    c.insert("aud".into(), spec.client_id.as_str().into());
    c.insert("cognito:username".into(), username.into());
    if let Some(email) = &spec.email {
        c.insert("email".into(), email.as_str().into());
    }
}

/// A random UUID-v4-shaped id (`jti`, `origin_jti`, `event_id`).
pub fn random_uuid() -> String {
    jti()
}

/// A random UUID-v4-shaped token id.
fn jti() -> String {
    let mut b = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        b = fastrand::u128(..).to_be_bytes(); // dev tokens: uniqueness, not secrecy
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn kid_for(modulus: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, modulus);
    hex(&digest.as_ref()[..8])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// The label and DER bytes of the first PEM block.
fn pem_decode(pem: &str) -> Result<(&str, Vec<u8>), MintError> {
    let begin = pem
        .find("-----BEGIN ")
        .ok_or(MintError::Pem("no BEGIN line"))?;
    let rest = &pem[begin + "-----BEGIN ".len()..];
    let (label, rest) = rest
        .split_once("-----")
        .ok_or(MintError::Pem("bad BEGIN line"))?;
    let end = format!("-----END {label}-----");
    let (body, _) = rest.split_once(&end).ok_or(MintError::Pem("no END line"))?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|_| MintError::Pem("body is not base64"))?;
    Ok((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testkit;

    fn payload(token: &str) -> Value {
        let seg = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(seg).unwrap()).unwrap()
    }

    #[test]
    fn pem_round_trip_keeps_the_kid() {
        let key = testkit::key();
        let again = DevKey::from_pem(&key.private_pem).unwrap();
        assert_eq!(again.kid, key.kid);
        assert_eq!(again.jwks_json, key.jwks_json);
        assert_eq!(key.kid.len(), 16);
        assert!(
            DevKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
        assert!(DevKey::from_pem("nonsense").is_err());
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }

    #[test]
    fn access_token_has_cognito_shape() {
        let mut spec = testkit::spec(TokenUse::Access);
        spec.scope = Some("openid profile".into());
        let p = payload(&mint(testkit::key(), &spec).unwrap());
        assert_eq!(p["client_id"], testkit::CLIENT);
        assert_eq!(p["username"], spec.sub.as_str());
        assert_eq!(p["version"], 2);
        assert_eq!(p["exp"], testkit::NOW + 3600);
        assert_eq!(p["scope"], "openid profile");
        assert!(p.get("cognito:groups").is_none());
        assert_eq!(p["jti"].as_str().unwrap().len(), 36);
    }

    #[test]
    fn id_token_has_cognito_shape() {
        let mut spec = testkit::spec(TokenUse::Id);
        spec.groups = vec!["admin".into()];
        spec.email = Some("u@example.com".into());
        let p = payload(&mint(testkit::key(), &spec).unwrap());
        assert_eq!(p["aud"], testkit::CLIENT);
        assert_eq!(p["cognito:username"], spec.sub.as_str());
        assert_eq!(p["cognito:groups"], json!(["admin"]));
        assert_eq!(p["email"], "u@example.com");
        assert!(p.get("client_id").is_none());
    }

    #[test]
    fn further_claims_are_added_and_replace_standard_ones() {
        let mut spec = testkit::spec(TokenUse::Access);
        spec.claims = vec![
            ("custom:tenant_id".into(), json!("acme")),
            ("custom:level".into(), json!(3)),
            ("username".into(), json!("other")),
        ];
        let p = payload(&mint(testkit::key(), &spec).unwrap());
        assert_eq!(p["custom:tenant_id"], "acme");
        assert_eq!(p["custom:level"], 3);
        assert_eq!(p["username"], "other");
    }
}
