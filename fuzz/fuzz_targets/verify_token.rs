//! Token verification with arbitrary input. Three shapes, chosen by the first byte:
//! - `0`: edits (xor, delete, insert, truncate) applied to a valid token: the result must
//!   be refused unless the edits left the text unchanged;
//! - `1`: arbitrary header and payload JSON (split at the first `\n`) correctly signed by
//!   the issuer's key: whatever verifies must satisfy every claim rule;
//! - anything else: the bytes as token text: never accepted.
//!
//! Everything: never panics.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use cognigate::config::{Issuer, TokenSettings, TokenUse};
use cognigate::jwks::{KeySet, KeyStore};
use cognigate::mint::{self, DevKey, TokenSpec};
use cognigate::verify::{Verified, Verifier};
use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;

const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Fuzz";
const CLIENT: &str = "fuzzclient";
const NOW: u64 = 1_700_000_000;
const LEEWAY: u64 = 60;

struct Fixture {
    key: DevKey,
    keys: KeyStore,
    verifier: Verifier,
    valid: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = mint::generate_rsa_key().unwrap();
        let issuer = Issuer {
            name: "fuzz".into(),
            issuer: ISS.into(),
            jwks_uri: "http://127.0.0.1:9/jwks.json".into(),
            client_ids: vec![CLIENT.into()],
            token_use: vec![TokenUse::Access],
            algorithms: vec![Algorithm::RS256],
            cognito: true,
            api_endpoint: None,
        };
        let settings = TokenSettings {
            leeway: Duration::from_secs(LEEWAY),
            cookies: Vec::new(),
            amplify_cookies: false,
            strip_authorization: false,
            cache_size: cognigate::config::CacheSize::Entries(1024),
        };
        let keys = KeyStore::new(1, Duration::from_secs(30));
        let set = KeySet::from_jwks(key.jwks_json.as_bytes(), &[Algorithm::RS256]).unwrap();
        keys.replace(0, set);
        let spec = TokenSpec {
            sub: "fuzz-user".into(),
            issuer: ISS.into(),
            client_id: CLIENT.into(),
            token_use: TokenUse::Access,
            groups: vec!["admin".into()],
            scope: Some("openid".into()),
            username: None,
            email: None,
            ttl: Duration::from_secs(3600),
            now: NOW,
            claims: Vec::new(),
        };
        let valid = mint::mint(&key, &spec).unwrap();
        let verifier = Verifier::new(&[issuer], &settings);
        assert!(verifier.verify(&valid, &keys, NOW).is_ok());
        Fixture {
            key,
            keys,
            verifier,
            valid,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    match data.split_first() {
        Some((0, edits)) => mutated(f, edits),
        Some((1, rest)) => signed(f, rest),
        _ => {
            let text = String::from_utf8_lossy(data);
            let result = f.verifier.verify(&text, &f.keys, NOW);
            assert!(result.is_err() || text == f.valid, "accepted {text:?}");
        }
    }
});

fn mutated(f: &Fixture, edits: &[u8]) {
    let mut bytes = f.valid.clone().into_bytes();
    for edit in edits.chunks_exact(4) {
        let (op, pos, val) = (
            edit[0],
            usize::from(u16::from_be_bytes([edit[1], edit[2]])),
            edit[3],
        );
        let pos = if bytes.is_empty() {
            0
        } else {
            pos % bytes.len()
        };
        match op % 4 {
            0 if !bytes.is_empty() => bytes[pos] ^= val,
            1 if !bytes.is_empty() => {
                bytes.remove(pos);
            }
            2 => bytes.insert(pos, val),
            _ => bytes.truncate(pos),
        }
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return;
    };
    let result = f.verifier.verify(&text, &f.keys, NOW);
    if text == f.valid {
        assert!(result.is_ok());
    } else {
        assert!(result.is_err(), "accepted a mutated token: {text:?}");
    }
}

fn signed(f: &Fixture, rest: &[u8]) {
    let text = String::from_utf8_lossy(rest);
    let (header, payload) = text.split_once('\n').unwrap_or((&text, "{}"));
    let Ok(token) = mint::mint_raw(&f.key, header, payload) else {
        return;
    };
    if let Ok(verified) = f.verifier.verify(&token, &f.keys, NOW) {
        check_rules(&verified, payload);
    }
}

/// Whatever verifies must satisfy every rule the verifier promises.
fn check_rules(v: &Verified, payload: &str) {
    let c = &v.claims;
    let (now, leeway) = (NOW as f64, LEEWAY as f64);
    assert_eq!(v.issuer_idx, 0);
    assert_eq!(c.iss(), ISS);
    assert!(c.exp().0 + leeway > now, "expired token accepted: {payload}");
    assert!(c.nbf().is_none_or(|d| d.0 <= now + leeway), "{payload}");
    assert!(c.iat().is_none_or(|d| d.0 <= now + leeway), "{payload}");
    assert_eq!(c.token_use(), TokenUse::Access);
    assert_eq!(c.client(), Some(CLIENT));
    // The claims are held as spans of the payload (escaped text appended): each reads
    // as a JSON parser reads it, and the payload is the exact one that was signed.
    assert_eq!(c.payload(), payload.as_bytes());
    let value: serde_json::Value = serde_json::from_str(payload).unwrap();
    let text = |name: &str| value.get(name).and_then(|v| v.as_str());
    assert_eq!(Some(c.sub()), text("sub"), "{payload}");
    assert_eq!(c.scope(), text("scope"), "{payload}");
    assert_eq!(c.username(), text("username"), "{payload}");
    assert_eq!(c.jti(), text("jti"), "{payload}");
    assert_eq!(c.origin_jti(), text("origin_jti"), "{payload}");
    let list = |name: &str| -> Vec<String> {
        match value.get(name) {
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect()
            }
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        }
    };
    let groups: Vec<String> = c.groups().iter().map(str::to_owned).collect();
    assert_eq!(groups, list("cognito:groups"), "{payload}");
    let aud: Vec<String> = c.aud().iter().map(str::to_owned).collect();
    assert_eq!(aud, list("aud"), "{payload}");
}
