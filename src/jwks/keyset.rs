//! An immutable snapshot `kid -> (key, algorithm)` built once from a JWKS document.
//!
//! Trust the key, not the token: each key's algorithm is fixed here, from the key's own
//! `alg` (which must be allowed by the issuer's config) or, when absent, from its `kty`
//! and curve. A token's header `alg` is later only compared against it. Symmetric
//! (`oct`) keys are never loaded, so no public key can ever be used as an HMAC secret.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::KeySetError;

/// Smallest accepted RSA modulus, in bytes (2048 bits, RFC 7518 §3.3).
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// Smallest accepted RSA public exponent. `e = 1` makes "verification" the identity
/// function, and every small exponent is a sign of a made-up key; real keys use 65537.
const MIN_RSA_EXPONENT: u32 = 3;

/// One verification key and the only algorithm it may verify.
#[derive(Clone)]
pub struct VerifyKey {
    /// The public key.
    pub key: DecodingKey,
    /// The algorithm bound to this key when the set was loaded.
    pub algorithm: Algorithm,
    /// RSA keys, parsed once into aws-lc's form (the same backend jsonwebtoken uses),
    /// so that a verification does not rebuild the key from `n` and `e` every time.
    pub parsed_rsa: Option<ParsedPublicKey>,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// An immutable set of verification keys of one issuer, by `kid`.
#[derive(Debug)]
pub struct KeySet {
    keys: HashMap<String, VerifyKey>,
    skipped: usize,
    /// SHA-256 of the loaded keys' JWKs, in kid order: equal for a refetch that
    /// changed nothing.
    fingerprint: [u8; 32],
    /// When a fetch last returned these keys (ms since the Unix epoch).
    confirmed_ms: AtomicU64,
}

/// The JWKS document: only `keys` matters; each entry is read on its own so that one
/// odd key does not spoil the set.
#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

/// The JWK members we read (RFC 7517 §4, RFC 7518 §6).
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl KeySet {
    /// Builds a key set from JWKS JSON, keeping only signing keys whose algorithm is in
    /// `allowed`. Errors on malformed JSON or when no key is usable.
    pub fn from_jwks(bytes: &[u8], allowed: &[Algorithm]) -> Result<KeySet, KeySetError> {
        let raw: RawSet = serde_json::from_slice(bytes)?;
        let mut keys = HashMap::with_capacity(raw.keys.len());
        let mut loaded = Vec::with_capacity(raw.keys.len());
        let mut skipped = 0;
        for value in &raw.keys {
            match usable_key(value, allowed) {
                // First key wins on a duplicated kid, as in a lookup by `find`.
                Ok((kid, key)) if !keys.contains_key(&kid) => {
                    loaded.push((kid.clone(), value));
                    keys.insert(kid, key);
                }
                Ok((kid, _)) => skip(&mut skipped, &kid, "duplicate kid"),
                Err((kid, why)) => skip(&mut skipped, &kid, why),
            }
        }
        if keys.is_empty() {
            return Err(KeySetError::NoUsableKeys { skipped });
        }
        Ok(KeySet {
            keys,
            skipped,
            fingerprint: fingerprint(loaded),
            confirmed_ms: AtomicU64::new(unix_ms(SystemTime::now())),
        })
    }

    /// Whether `other` holds exactly the same keys (a refetch that changed nothing).
    pub fn same_keys(&self, other: &KeySet) -> bool {
        self.fingerprint == other.fingerprint
    }

    /// Records that a fetch returned these same keys again.
    pub fn confirm(&self, other: &KeySet) {
        let ms = other.confirmed_ms.load(Ordering::Relaxed);
        self.confirmed_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// The key with this `kid`, if the set has it.
    pub fn get(&self, kid: &str) -> Option<&VerifyKey> {
        self.keys.get(kid)
    }

    /// The key ids in the set (in no particular order).
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a key set has at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of keys in the document that were not loaded.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// When a fetch last returned these keys.
    pub fn fetched_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.confirmed_ms.load(Ordering::Relaxed))
    }
}

/// SHA-256 over the loaded keys' JWKs by kid order (serde_json writes object members
/// sorted, so the text is canonical).
fn fingerprint(mut loaded: Vec<(String, &serde_json::Value)>) -> [u8; 32] {
    use aws_lc_rs::digest;
    loaded.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut ctx = digest::Context::new(&digest::SHA256);
    for (kid, jwk) in loaded {
        ctx.update(kid.as_bytes());
        ctx.update(&[0]);
        ctx.update(jwk.to_string().as_bytes());
        ctx.update(&[0]);
    }
    let mut out = [0; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn skip(skipped: &mut usize, kid: &str, why: &str) {
    *skipped += 1;
    tracing::debug!(kid, why, "JWKS key skipped");
}

/// Reads one JWK entry; on refusal returns its kid (or "") and why.
fn usable_key(
    value: &serde_json::Value,
    allowed: &[Algorithm],
) -> Result<(String, VerifyKey), (String, &'static str)> {
    let jwk = RawJwk::deserialize(value).map_err(|_| (String::new(), "not a JWK object"))?;
    let kid = jwk.kid.clone().ok_or((String::new(), "no kid"))?;
    let refuse = |why| (kid.clone(), why);
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err(refuse("use is not sig"));
    }
    if jwk
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return Err(refuse("key_ops lacks verify"));
    }
    let algorithm = key_algorithm(&jwk, allowed).map_err(refuse)?;
    let key = decoding_key(&jwk, algorithm).map_err(refuse)?;
    let parsed_rsa = parsed_rsa(&jwk, algorithm);
    Ok((
        kid,
        VerifyKey {
            key,
            algorithm,
            parsed_rsa,
        },
    ))
}

/// The algorithm this key verifies: its own `alg` if given, else derived from `kty`.
fn key_algorithm(jwk: &RawJwk, allowed: &[Algorithm]) -> Result<Algorithm, &'static str> {
    let algorithm = match &jwk.alg {
        Some(alg) => Algorithm::from_str(alg).map_err(|_| "unknown alg")?,
        None => default_algorithm(jwk, allowed)?,
    };
    if !allowed.contains(&algorithm) {
        return Err("alg not allowed for this issuer");
    }
    Ok(algorithm)
}

/// RFC 7517 leaves `alg` optional; pick what the key type implies.
fn default_algorithm(jwk: &RawJwk, allowed: &[Algorithm]) -> Result<Algorithm, &'static str> {
    match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) if allowed.contains(&Algorithm::RS256) => Ok(Algorithm::RS256),
        ("RSA", _) => allowed
            .iter()
            .copied()
            .find(|a| a.family() == jsonwebtoken::AlgorithmFamily::Rsa)
            .ok_or("no RSA algorithm allowed"),
        ("EC", Some("P-256")) => Ok(Algorithm::ES256),
        ("EC", Some("P-384")) => Ok(Algorithm::ES384),
        ("OKP", Some("Ed25519")) => Ok(Algorithm::EdDSA),
        _ => Err("unsupported key type"),
    }
}

/// Builds the public key, refusing any kty/curve that does not match `algorithm`.
fn decoding_key(jwk: &RawJwk, algorithm: Algorithm) -> Result<DecodingKey, &'static str> {
    use jsonwebtoken::AlgorithmFamily as F;
    match (algorithm.family(), jwk.kty.as_str()) {
        (F::Rsa, "RSA") => rsa_key(jwk),
        (F::Ec, "EC") => ec_key(jwk, algorithm),
        (F::Ed, "OKP") if jwk.crv.as_deref() == Some("Ed25519") => {
            let x = jwk.x.as_deref().ok_or("missing x")?;
            DecodingKey::from_ed_components(x).map_err(|_| "bad x")
        }
        _ => Err("key type does not match alg (or is symmetric)"),
    }
}

fn rsa_key(jwk: &RawJwk) -> Result<DecodingKey, &'static str> {
    let n = b64(jwk.n.as_deref()).ok_or("missing or bad n")?;
    let e = b64(jwk.e.as_deref()).ok_or("missing or bad e")?;
    let significant = n.iter().skip_while(|b| **b == 0).count();
    if significant < MIN_RSA_MODULUS_BYTES {
        return Err("RSA modulus shorter than 2048 bits");
    }
    let exponent = e.iter().skip_while(|b| **b == 0);
    let small = exponent.clone().count() <= 4
        && exponent.fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) < MIN_RSA_EXPONENT;
    if small || e.last().is_none_or(|b| b % 2 == 0) {
        return Err("RSA exponent is not an odd number of at least 3");
    }
    Ok(DecodingKey::from_rsa_raw_components(&n, &e))
}

/// The pre-parsed form of an RSA key for `algorithm`; `None` for other families (they
/// verify through jsonwebtoken).
fn parsed_rsa(jwk: &RawJwk, algorithm: Algorithm) -> Option<ParsedPublicKey> {
    use aws_lc_rs::signature as sig;
    let params: &'static sig::RsaParameters = match algorithm {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    };
    let (n, e) = (b64(jwk.n.as_deref())?, b64(jwk.e.as_deref())?);
    sig::RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(params)
        .ok()
}

fn ec_key(jwk: &RawJwk, algorithm: Algorithm) -> Result<DecodingKey, &'static str> {
    let expected = if algorithm == Algorithm::ES256 {
        "P-256"
    } else {
        "P-384"
    };
    if jwk.crv.as_deref() != Some(expected) {
        return Err("curve does not match alg");
    }
    let (Some(x), Some(y)) = (jwk.x.as_deref(), jwk.y.as_deref()) else {
        return Err("missing x or y");
    };
    DecodingKey::from_ec_components(x, y).map_err(|_| "bad x or y")
}

fn b64(value: Option<&str>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(value?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testkit;

    const RS: &[Algorithm] = &[Algorithm::RS256];

    fn rsa_entry(extra: &str) -> String {
        let jwks: serde_json::Value = serde_json::from_str(&testkit::key().jwks_json).unwrap();
        let k = &jwks["keys"][0];
        format!(
            r#"{{"kty":"RSA","n":"{}","e":"{}"{extra}}}"#,
            k["n"].as_str().unwrap(),
            "AQAB"
        )
    }

    fn set_of(entries: &[String]) -> String {
        format!(r#"{{"keys":[{}]}}"#, entries.join(","))
    }

    #[test]
    fn loads_dev_key_with_its_algorithm() {
        let set = KeySet::from_jwks(testkit::key().jwks_json.as_bytes(), RS).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.skipped(), 0);
        let kid = &testkit::key().kid;
        assert_eq!(set.get(kid).unwrap().algorithm, Algorithm::RS256);
        assert_eq!(set.kids().collect::<Vec<_>>(), vec![kid.as_str()]);
    }

    #[test]
    fn alg_absent_is_derived_from_kty() {
        let doc = set_of(&[rsa_entry(r#","kid":"a""#)]);
        let set = KeySet::from_jwks(doc.as_bytes(), &[Algorithm::PS256]).unwrap();
        assert_eq!(set.get("a").unwrap().algorithm, Algorithm::PS256);
    }

    #[test]
    fn encryption_key_is_skipped() {
        let doc = set_of(&[
            rsa_entry(r#","kid":"enc","use":"enc""#),
            rsa_entry(r#","kid":"sig","use":"sig","alg":"RS256""#),
        ]);
        let set = KeySet::from_jwks(doc.as_bytes(), RS).unwrap();
        assert!(set.get("enc").is_none());
        assert!(set.get("sig").is_some());
        assert_eq!(set.skipped(), 1);
    }

    #[test]
    fn hmac_oct_key_is_skipped() {
        let oct = r#"{"kty":"oct","kid":"h","alg":"HS256","k":"c2VjcmV0"}"#.to_string();
        let doc = set_of(&[oct.clone(), rsa_entry(r#","kid":"r""#)]);
        let set = KeySet::from_jwks(doc.as_bytes(), RS).unwrap();
        assert!(set.get("h").is_none());
        assert_eq!(set.skipped(), 1);
        // Even if a config let HS256 through, an oct key never loads.
        let only_oct = set_of(&[oct]);
        let err = KeySet::from_jwks(only_oct.as_bytes(), &[Algorithm::HS256]).unwrap_err();
        assert!(matches!(err, KeySetError::NoUsableKeys { skipped: 1 }));
    }

    #[test]
    fn missing_kid_disallowed_alg_and_mismatched_kty_are_skipped() {
        let doc = set_of(&[
            rsa_entry(""),
            rsa_entry(r#","kid":"p","alg":"PS256""#),
            rsa_entry(r#","kid":"es","alg":"ES256""#),
            r#"{"kty":"weird","kid":"w"}"#.to_string(),
            r#"{"kid":5}"#.to_string(),
            rsa_entry(r#","kid":"ok""#),
        ]);
        let set = KeySet::from_jwks(doc.as_bytes(), RS).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.skipped(), 5);
    }

    #[test]
    fn short_rsa_modulus_is_skipped() {
        let doc = r#"{"keys":[{"kty":"RSA","kid":"s","n":"AQAB","e":"AQAB"}]}"#;
        assert!(KeySet::from_jwks(doc.as_bytes(), RS).is_err());
    }

    #[test]
    fn tiny_or_even_rsa_exponents_are_skipped() {
        let with_e = |e: &str| {
            rsa_entry(r#","kid":"k""#).replace("\"e\":\"AQAB\"", &format!("\"e\":\"{e}\""))
        };
        // 1, 0, 2 and 65536 are no RSA exponents a real key has.
        for e in ["AQ", "AA", "Ag", "AQAA", "AAAB", ""] {
            let doc = set_of(&[with_e(e)]);
            assert!(KeySet::from_jwks(doc.as_bytes(), RS).is_err(), "e = {e:?}");
        }
        for e in ["Aw", "AQAB"] {
            let doc = set_of(&[with_e(e)]);
            assert!(KeySet::from_jwks(doc.as_bytes(), RS).is_ok(), "e = {e:?}");
        }
    }

    #[test]
    fn same_keys_tells_an_unchanged_refetch() {
        let a = set_of(&[rsa_entry(r#","kid":"a""#), rsa_entry(r#","kid":"b""#)]);
        let reordered = set_of(&[rsa_entry(r#","kid":"b""#), rsa_entry(r#","kid":"a""#)]);
        let other = set_of(&[rsa_entry(r#","kid":"a""#)]);
        let load = |doc: &str| KeySet::from_jwks(doc.as_bytes(), RS).unwrap();
        assert!(load(&a).same_keys(&load(&a)));
        assert!(load(&a).same_keys(&load(&reordered)));
        assert!(!load(&a).same_keys(&load(&other)));
    }

    #[test]
    fn garbage_and_empty_sets_are_errors() {
        let garbage = KeySet::from_jwks(b"<html>", RS).unwrap_err();
        assert!(matches!(garbage, KeySetError::Json(_)));
        let empty = KeySet::from_jwks(br#"{"keys":[]}"#, RS).unwrap_err();
        assert!(empty.to_string().contains("no usable keys"));
    }
}
