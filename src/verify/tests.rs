//! Every acceptance and refusal path of [`Verifier::verify`], each by name.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};

use super::*;
use crate::config::TokenUse;
use crate::jwks::KeyStore;
use crate::mint::{DevKey, TokenSpec, mint, mint_raw};
use crate::verify::testkit::{self, CLIENT, ISS, LEEWAY, NOW, b64, key, other_key};

fn check(token: &str) -> Result<Verified, AuthError> {
    testkit::verifier_for(&[testkit::issuer()], 0).verify(token, &testkit::store(), NOW)
}

fn access() -> String {
    mint(key(), &testkit::spec(TokenUse::Access)).unwrap()
}

fn header_json(k: &DevKey) -> String {
    json!({"alg": "RS256", "kid": k.kid, "typ": "JWT"}).to_string()
}

/// The payload of a freshly minted token of `spec`, as a JSON object to edit.
fn claims_of(spec: &TokenSpec) -> Map<String, Value> {
    let token = mint(key(), spec).unwrap();
    let seg = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(seg).unwrap()).unwrap()
}

/// A correctly signed access token whose payload was edited before signing.
fn signed_with(edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    let mut claims = claims_of(&testkit::spec(TokenUse::Access));
    edit(&mut claims);
    mint_raw(
        key(),
        &header_json(key()),
        &Value::Object(claims).to_string(),
    )
    .unwrap()
}

fn spec_with(edit: impl FnOnce(&mut TokenSpec)) -> String {
    let mut spec = testkit::spec(TokenUse::Access);
    edit(&mut spec);
    mint(key(), &spec).unwrap()
}

fn segments(token: &str) -> Vec<&str> {
    token.split('.').collect()
}

#[test]
fn accepts_access_token() {
    let token = access();
    let v = check(&token).unwrap();
    assert_eq!(v.issuer_idx, 0);
    assert_eq!(v.claims.sub(), "5e1f-user");
    assert_eq!(v.claims.token_use(), TokenUse::Access);
    assert_eq!(
        (v.claims.client(), v.claims.username()),
        (Some(CLIENT), Some("5e1f-user"))
    );
    assert_eq!(
        URL_SAFE_NO_PAD.encode(v.claims.payload()),
        segments(&token)[1]
    );
}

#[test]
fn accepts_id_token() {
    let mut spec = testkit::spec(TokenUse::Id);
    spec.groups = vec!["admin".into(), "staff".into()];
    spec.email = Some("u@example.com".into());
    let v = check(&mint(key(), &spec).unwrap()).unwrap();
    assert_eq!(
        v.claims.groups().iter().collect::<Vec<_>>(),
        ["admin", "staff"]
    );
    assert_eq!(v.claims.email(), Some("u@example.com"));
    assert_eq!(v.claims.client(), Some(CLIENT));
}

#[test]
fn alg_none_is_refused_unsigned_and_with_any_signature() {
    let t = access();
    let s = segments(&t);
    let none = b64(&json!({"alg": "none", "kid": key().kid}).to_string());
    // Unsigned forms fail the three-non-empty-segments rule first.
    for unsigned in [format!("{none}.{}.", s[1]), format!("{none}.{}", s[1])] {
        assert!(
            matches!(check(&unsigned), Err(AuthError::Malformed(_))),
            "{unsigned}"
        );
    }
    let with_sig = format!("{none}.{}.{}", s[1], s[2]);
    assert_eq!(check(&with_sig).unwrap_err(), AuthError::DisallowedAlg);
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let jwks: Value = serde_json::from_str(&key().jwks_json).unwrap();
    let n = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["n"].as_str().unwrap())
        .unwrap();
    let header = b64(&json!({"alg": "HS256", "kid": key().kid}).to_string());
    let payload = segments(&access())[1].to_owned();
    let input = format!("{header}.{payload}");
    for secret in [
        n.as_slice(),
        key().jwks_json.as_bytes(),
        key().private_pem.as_bytes(),
    ] {
        let hmac = EncodingKey::from_secret(secret);
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &hmac, Algorithm::HS256).unwrap();
        assert_eq!(
            check(&format!("{input}.{sig}")).unwrap_err(),
            AuthError::DisallowedAlg
        );
    }
}

#[test]
fn header_alg_other_than_the_keys_is_refused() {
    let header = json!({"alg": "PS256", "kid": key().kid}).to_string();
    let claims = claims_of(&testkit::spec(TokenUse::Access));
    let token = mint_raw(key(), &header, &Value::Object(claims).to_string()).unwrap();
    assert_eq!(check(&token).unwrap_err(), AuthError::DisallowedAlg);
    // Key allows RS256 but the issuer config does not.
    let mut issuer = testkit::issuer();
    issuer.algorithms = vec![Algorithm::PS256];
    let v = testkit::verifier_for(&[issuer], 0);
    assert_eq!(
        v.verify(&access(), &testkit::store(), NOW).unwrap_err(),
        AuthError::DisallowedAlg
    );
}

#[test]
fn tampered_payload_is_refused() {
    let t = access();
    let s = segments(&t);
    let mut claims = claims_of(&testkit::spec(TokenUse::Access));
    claims.insert("cognito:groups".into(), json!(["admin"]));
    let forged = format!(
        "{}.{}.{}",
        s[0],
        b64(&Value::Object(claims).to_string()),
        s[2]
    );
    assert_eq!(check(&forged).unwrap_err(), AuthError::BadSignature);
}

#[test]
fn stripped_truncated_or_foreign_signatures_are_refused() {
    let t = access();
    let s = segments(&t);
    let stripped = format!("{}.{}.", s[0], s[1]);
    assert!(matches!(check(&stripped), Err(AuthError::Malformed(_))));
    let sig = URL_SAFE_NO_PAD.decode(s[2]).unwrap();
    let truncated = format!(
        "{}.{}.{}",
        s[0],
        s[1],
        URL_SAFE_NO_PAD.encode(&sig[..sig.len() - 16])
    );
    assert_eq!(check(&truncated).unwrap_err(), AuthError::BadSignature);
    let not_b64 = format!("{}.{}.!!!!", s[0], s[1]);
    assert!(matches!(check(&not_b64), Err(AuthError::Malformed(_))));
    // Signed by another key but claiming the issuer's kid.
    let claims = claims_of(&testkit::spec(TokenUse::Access));
    let foreign = mint_raw(
        other_key(),
        &header_json(key()),
        &Value::Object(claims).to_string(),
    );
    assert_eq!(
        check(&foreign.unwrap()).unwrap_err(),
        AuthError::BadSignature
    );
}

#[test]
fn unknown_kid_is_refused_with_the_issuer_index() {
    let token = mint(other_key(), &testkit::spec(TokenUse::Access)).unwrap();
    assert_eq!(
        check(&token).unwrap_err(),
        AuthError::UnknownKid { issuer_idx: 0 }
    );
    let no_kid = mint_raw(key(), r#"{"alg":"RS256"}"#, r#"{"iss":"x"}"#).unwrap();
    assert!(matches!(check(&no_kid), Err(AuthError::Malformed(_))));
}

#[test]
fn wrong_or_missing_issuer_is_refused() {
    let wrong = spec_with(|s| s.issuer = format!("{ISS}/"));
    assert_eq!(check(&wrong).unwrap_err(), AuthError::WrongIssuer);
    let missing = signed_with(|c| {
        c.remove("iss");
    });
    assert!(matches!(check(&missing), Err(AuthError::Malformed(_))));
}

#[test]
fn issuer_without_a_loaded_key_set_is_not_ready() {
    let empty = KeyStore::new(1, std::time::Duration::from_secs(30));
    let v = testkit::verifier_for(&[testkit::issuer()], 0);
    let err = v.verify(&access(), &empty, NOW).unwrap_err();
    assert_eq!(err, AuthError::IssuerNotReady { issuer_idx: 0 });
}

#[test]
fn wrong_client_is_refused_for_access_and_id_tokens() {
    for token_use in [TokenUse::Access, TokenUse::Id] {
        let mut spec = testkit::spec(token_use);
        spec.client_id = "someone-else".into();
        let token = mint(key(), &spec).unwrap();
        assert_eq!(
            check(&token).unwrap_err(),
            AuthError::WrongClient,
            "{token_use:?}"
        );
    }
    // An id token's aud is what counts, not a client_id claim.
    let mut claims = claims_of(&testkit::spec(TokenUse::Id));
    claims.insert("aud".into(), json!("someone-else"));
    claims.insert("client_id".into(), json!(CLIENT));
    let t = mint_raw(
        key(),
        &header_json(key()),
        &Value::Object(claims).to_string(),
    )
    .unwrap();
    assert_eq!(check(&t).unwrap_err(), AuthError::WrongClient);
    // With no client ids configured there is no client check.
    let mut open = testkit::issuer();
    open.client_ids.clear();
    let v = testkit::verifier_for(&[open], 0);
    let other = spec_with(|s| s.client_id = "any".into());
    assert!(v.verify(&other, &testkit::store(), NOW).is_ok());
}

#[test]
fn token_use_not_accepted_is_refused() {
    let mut issuer = testkit::issuer();
    issuer.token_use = vec![TokenUse::Access];
    let id = mint(key(), &testkit::spec(TokenUse::Id)).unwrap();
    let v = testkit::verifier_for(&[issuer], 0);
    let err = v.verify(&id, &testkit::store(), NOW).unwrap_err();
    assert_eq!(err, AuthError::WrongTokenUse(TokenUse::Id));
}

#[test]
fn expiry_honours_the_leeway_exactly() {
    let exp_at = |exp: u64| signed_with(|c| _ = c.insert("exp".into(), exp.into()));
    assert_eq!(
        check(&exp_at(NOW - LEEWAY - 1)).unwrap_err(),
        AuthError::Expired
    );
    assert_eq!(
        check(&exp_at(NOW - LEEWAY)).unwrap_err(),
        AuthError::Expired
    );
    assert!(check(&exp_at(NOW - LEEWAY + 1)).is_ok());
}

#[test]
fn nbf_and_iat_in_the_future_beyond_leeway_are_refused() {
    let at = |claim: &'static str, t: u64| signed_with(|c| _ = c.insert(claim.into(), t.into()));
    assert_eq!(
        check(&at("nbf", NOW + LEEWAY + 1)).unwrap_err(),
        AuthError::NotYetValid("nbf")
    );
    assert!(check(&at("nbf", NOW + LEEWAY)).is_ok());
    assert_eq!(
        check(&at("iat", NOW + LEEWAY + 1)).unwrap_err(),
        AuthError::NotYetValid("iat")
    );
    assert!(check(&at("iat", NOW + LEEWAY - 1)).is_ok());
}

#[test]
fn wrongly_typed_or_missing_claims_are_refused() {
    type Edit = fn(&mut Map<String, Value>);
    let cases: [(&str, Edit); 5] = [
        ("nbf string", |c| _ = c.insert("nbf".into(), json!("0"))),
        ("groups string", |c| {
            _ = c.insert("cognito:groups".into(), json!("admin"))
        }),
        ("exp missing", |c| _ = c.remove("exp")),
        ("exp string", |c| _ = c.insert("exp".into(), json!("1e12"))),
        ("token_use other", |c| {
            _ = c.insert("token_use".into(), json!("refresh"))
        }),
    ];
    for (name, edit) in cases {
        assert!(
            matches!(check(&signed_with(edit)), Err(AuthError::Malformed(_))),
            "{name}"
        );
    }
    let float_exp = signed_with(|c| _ = c.insert("exp".into(), json!((NOW + 10) as f64 + 0.5)));
    assert!(check(&float_exp).is_ok());
}

#[test]
fn unreadable_claims_are_judged_only_after_the_signature() {
    let mut claims = claims_of(&testkit::spec(TokenUse::Access));
    claims.insert("nbf".into(), json!("0"));
    let payload = Value::Object(claims).to_string();
    let forged = mint_raw(other_key(), &header_json(key()), &payload).unwrap();
    assert_eq!(check(&forged).unwrap_err(), AuthError::BadSignature);
    let signed = mint_raw(key(), &header_json(key()), &payload).unwrap();
    assert_eq!(
        check(&signed).unwrap_err(),
        AuthError::Malformed(UNREADABLE_CLAIMS)
    );
}

#[test]
fn duplicate_cognito_groups_is_refused() {
    let claims = Value::Object(claims_of(&testkit::spec(TokenUse::Access))).to_string();
    let payload = claims.replacen(
        '{',
        r#"{"cognito:groups":["user"],"cognito:groups":["admin"],"#,
        1,
    );
    let token = mint_raw(key(), &header_json(key()), &payload).unwrap();
    assert!(matches!(check(&token), Err(AuthError::Malformed(_))));
}

#[test]
fn oversized_token_is_refused_before_parsing() {
    let big = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(
        check(&big).unwrap_err(),
        AuthError::Malformed("token larger than 16 KiB")
    );
    // A valid token padded past the limit with an unknown claim is refused the same way.
    let padded = signed_with(|c| _ = c.insert("pad".into(), "x".repeat(MAX_TOKEN_BYTES).into()));
    assert_eq!(
        check(&padded).unwrap_err(),
        AuthError::Malformed("token larger than 16 KiB")
    );
}

#[test]
fn garbage_and_two_segment_tokens_are_malformed() {
    let t = access();
    let s = segments(&t);
    for bad in [
        "".to_owned(),
        "garbage".to_owned(),
        format!("{}.{}", s[0], s[1]),
        "!!!.!!!.!!!".to_owned(),
        format!("{}.{}.{}", b64("not json"), s[1], s[2]),
        format!("{}.{}.{}", s[0], b64("not json"), s[2]),
        format!("{}.{}.{}", s[0], "%%%", s[2]),
        format!("{t}.extra"),
    ] {
        assert!(matches!(check(&bad), Err(AuthError::Malformed(_))), "{bad}");
    }
}

#[test]
fn picks_the_issuer_by_exact_iss() {
    let mut second = testkit::issuer();
    second.name = "second".into();
    second.issuer = "https://issuer.example/two".into();
    let store = KeyStore::new(2, std::time::Duration::from_secs(30));
    store.replace(1, testkit::key_set());
    let v = testkit::verifier_for(&[testkit::issuer(), second], 0);
    let token = spec_with(|s| s.issuer = "https://issuer.example/two".into());
    assert_eq!(v.verify(&token, &store, NOW).unwrap().issuer_idx, 1);
    assert_eq!(
        v.verify(&access(), &store, NOW).unwrap_err(),
        AuthError::IssuerNotReady { issuer_idx: 0 }
    );
}

#[test]
fn the_claims_value_is_the_payload_segment() {
    let token = access();
    let v = check(&token).unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.encode(v.claims.payload()),
        segments(&token)[1]
    );
}

#[test]
fn a_cache_hit_needs_the_whole_token_text() {
    let v = testkit::verifier_for(&[testkit::issuer()], 16);
    let store = testkit::store();
    let token = access();
    v.verify(&token, &store, NOW).unwrap();
    // The same header and payload under another signature is not the cached token.
    let s = segments(&token);
    let forged = format!("{}.{}.{}", s[0], s[1], b64("not the signature"));
    assert_eq!(
        v.verify(&forged, &store, NOW).unwrap_err(),
        AuthError::BadSignature
    );
}

#[test]
fn an_entry_weighs_what_its_claims_hold() {
    let with_claim = |text: &str| {
        let token = spec_with(|s| s.claims.push(("custom:note".into(), json!(text))));
        check(&token).unwrap().claims.memory()
    };
    let (small, large) = (with_claim("x"), with_claim(&"x".repeat(3000)));
    // The payload JSON is kept, once: 3,000 more bytes of it weigh 3,000 more.
    assert!(
        (2999..3100).contains(&(large - small)),
        "{small} -> {large}"
    );
    assert!(small > std::mem::size_of::<Claims>(), "{small}");
}

#[test]
fn a_byte_bound_cache_holds_no_more_than_its_bytes() {
    let bound = 16 * 1024;
    let v = testkit::verifier_bound(&[testkit::issuer()], crate::config::CacheSize::Bytes(bound));
    let store = testkit::store();
    for i in 0..40 {
        v.verify(&spec_with(|s| s.sub = format!("user-{i}")), &store, NOW)
            .unwrap();
    }
    let (entries, weight) = v.cache.as_ref().unwrap().usage();
    assert!(weight <= bound, "{weight} bytes");
    assert!((4..40).contains(&entries), "{entries} entries");
    // By count, the same 40 tokens all fit a 40-entry cache.
    let v = testkit::verifier_for(&[testkit::issuer()], 40);
    for i in 0..40 {
        v.verify(&spec_with(|s| s.sub = format!("user-{i}")), &store, NOW)
            .unwrap();
    }
    assert_eq!(v.cache.as_ref().unwrap().usage(), (40, 40));
}

#[test]
fn a_zero_size_turns_the_cache_off() {
    for size in [
        crate::config::CacheSize::Bytes(0),
        crate::config::CacheSize::Entries(0),
    ] {
        assert!(
            testkit::verifier_bound(&[testkit::issuer()], size)
                .cache
                .is_none()
        );
    }
}

#[test]
fn cache_hit_returns_the_same_claims_until_exp() {
    let v = testkit::verifier_for(&[testkit::issuer()], 16);
    let store = testkit::store();
    let token = access();
    let first = v.verify(&token, &store, NOW).unwrap();
    let again = v.verify(&token, &store, NOW + 1).unwrap();
    assert!(Arc::ptr_eq(&first.claims, &again.claims));
    // Past exp + leeway the entry is not served (and re-verification says expired).
    let exp = NOW + 3600;
    assert_eq!(
        v.verify(&token, &store, exp + LEEWAY).unwrap_err(),
        AuthError::Expired
    );
    v.clear_cache();
    let fresh = v.verify(&token, &store, NOW).unwrap();
    assert!(!Arc::ptr_eq(&first.claims, &fresh.claims));
}

#[test]
fn cache_is_bypassed_after_a_key_rotation() {
    let v = testkit::verifier_for(&[testkit::issuer()], 16);
    let store = testkit::store();
    let token = access();
    let first = v.verify(&token, &store, NOW).unwrap();
    store.replace(0, testkit::key_set());
    let reverified = v.verify(&token, &store, NOW).unwrap();
    assert!(!Arc::ptr_eq(&first.claims, &reverified.claims));
    // The key is rotated out: the cached success must not survive.
    let others =
        crate::jwks::KeySet::from_jwks(other_key().jwks_json.as_bytes(), &[Algorithm::RS256]);
    store.replace(0, others.unwrap());
    assert_eq!(
        v.verify(&token, &store, NOW).unwrap_err(),
        AuthError::UnknownKid { issuer_idx: 0 }
    );
}

#[test]
fn a_refetch_that_changed_nothing_keeps_the_cache() {
    let v = testkit::verifier_for(&[testkit::issuer()], 16);
    let store = testkit::store();
    let token = access();
    let first = v.verify(&token, &store, NOW).unwrap();
    // What an unknown-kid refetch of the same JWKS records.
    store.record(0, 1, Some(testkit::key_set()));
    let again = v.verify(&token, &store, NOW).unwrap();
    assert!(Arc::ptr_eq(&first.claims, &again.claims), "cache flushed");
    // A changed set (another key added) is a new set: cached entries are verified again.
    let both = format!(
        r#"{{"keys":[{},{}]}}"#,
        jwk_of(testkit::key()),
        jwk_of(other_key())
    );
    let changed = crate::jwks::KeySet::from_jwks(both.as_bytes(), &[Algorithm::RS256]).unwrap();
    store.record(0, 2, Some(changed));
    let reverified = v.verify(&token, &store, NOW).unwrap();
    assert!(!Arc::ptr_eq(&first.claims, &reverified.claims));
}

/// The one JWK of a dev key's JWKS.
fn jwk_of(key: &crate::mint::DevKey) -> String {
    let doc: serde_json::Value = serde_json::from_str(&key.jwks_json).unwrap();
    doc["keys"][0].to_string()
}

#[test]
fn refusals_never_echo_the_token() {
    let t = access();
    let s = segments(&t);
    let forged = format!("{}.{}.{}", s[0], b64(r#"{"iss":"evil-issuer-text"}"#), s[2]);
    let msg = check(&forged).unwrap_err().to_string();
    assert!(
        !msg.contains("evil") && !s.iter().any(|seg| msg.contains(seg)),
        "{msg}"
    );
}

// ---------------------------------------------------------------- other OIDC issuers

const OIDC_ISS: &str = "https://login.example.com";

/// An OIDC issuer (not a Cognito pool) sharing the test key set, and a token of it:
/// the access token's claims minus `token_use`, edited by `edit`.
fn oidc(edit: impl FnOnce(&mut Map<String, Value>)) -> Result<Verified, AuthError> {
    let mut issuer = testkit::issuer();
    issuer.issuer = OIDC_ISS.into();
    issuer.cognito = false;
    let token = signed_with(|c| {
        c.remove("token_use");
        c.remove("client_id");
        c.remove("scope");
        c.insert("iss".into(), json!(OIDC_ISS));
        edit(c);
    });
    testkit::verifier_for(&[issuer], 0).verify(&token, &testkit::store(), NOW)
}

#[test]
fn oidc_id_token_without_token_use_is_accepted_with_aud_string_or_array() {
    for aud in [json!(CLIENT), json!(["other-api", CLIENT])] {
        let v = oidc(|c| _ = c.insert("aud".into(), aud.clone())).unwrap();
        assert_eq!(v.claims.token_use(), TokenUse::Id, "{aud}");
        assert_eq!(v.claims.declared_use(), None);
    }
    let v = oidc(|c| _ = c.insert("aud".into(), json!([CLIENT, "other-api"]))).unwrap();
    assert_eq!(v.claims.client(), Some(CLIENT));
}

#[test]
fn oidc_access_token_is_known_by_client_id_or_scope_and_checked_by_client_azp_or_aud() {
    let v = oidc(|c| _ = c.insert("client_id".into(), json!(CLIENT))).unwrap();
    assert_eq!(v.claims.token_use(), TokenUse::Access);
    // An API audience plus the client as authorized party (Auth0, Keycloak).
    let v = oidc(|c| {
        c.insert("aud".into(), json!("https://api.example.com"));
        c.insert("azp".into(), json!(CLIENT));
        c.insert("scope".into(), json!("read"));
    })
    .unwrap();
    assert_eq!(v.claims.token_use(), TokenUse::Access);
    assert_eq!(v.claims.client(), Some(CLIENT));
}

#[test]
fn oidc_token_naming_no_accepted_client_is_refused() {
    let wrong = oidc(|c| {
        c.insert("aud".into(), json!(["api", "other-client"]));
        c.insert("azp".into(), json!("other-client"));
    });
    assert_eq!(wrong.unwrap_err(), AuthError::WrongClient);
    assert_eq!(oidc(|_| ()).unwrap_err(), AuthError::WrongClient);
    let bad_aud = oidc(|c| _ = c.insert("aud".into(), json!([CLIENT, 7])));
    assert!(matches!(bad_aud.unwrap_err(), AuthError::Malformed(_)));
}

#[test]
fn cognito_token_without_token_use_is_refused() {
    let token = signed_with(|c| _ = c.remove("token_use"));
    assert_eq!(
        check(&token).unwrap_err(),
        AuthError::Malformed("token_use is missing")
    );
}

#[test]
fn cognito_id_token_is_checked_by_aud_only_and_access_token_by_client_id_only() {
    // Cognito semantics stay exact: an access token's aud or an id token's client_id
    // does not stand in for the claim that kind of token names its client in.
    let access_with_aud = signed_with(|c| {
        c.insert("client_id".into(), json!("other-client"));
        c.insert("aud".into(), json!(CLIENT));
    });
    assert_eq!(check(&access_with_aud).unwrap_err(), AuthError::WrongClient);
    let mut claims = claims_of(&testkit::spec(TokenUse::Id));
    claims.insert("aud".into(), json!("other-client"));
    claims.insert("client_id".into(), json!(CLIENT));
    let id_with_client_id = mint_raw(
        key(),
        &header_json(key()),
        &Value::Object(claims).to_string(),
    )
    .unwrap();
    assert_eq!(
        check(&id_with_client_id).unwrap_err(),
        AuthError::WrongClient
    );
}
