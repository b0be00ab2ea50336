//! The client side: `POST /oauth2/token` (authorization code with PKCE, refresh
//! token), `POST /oauth2/revoke` and `GET /oauth2/userInfo`, with Cognito's answers:
//! token errors are 400 `{"error": ...}` (`invalid_request`, `invalid_client`,
//! `invalid_grant`, `unsupported_grant_type`); revocation errors are 400
//! `invalid_request` / `unsupported_token_type` and 401 `invalid_client`, and an unknown
//! or already revoked token is revoked "successfully" (200, RFC 7009).

use super::codes::{Grant, Refresh};
use super::form::{BasicAuth, basic_auth};
use super::{Req, Shared, json, oauth_error, random_token, response, unix_now};
use crate::config::TokenUse;
use crate::mint::{self, MintError, TokenSpec};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::{Value, json};

type Answer = Response<Full<Bytes>>;

/// Checks the client's credentials: HTTP Basic, or `client_id` (and `client_secret`
/// for a confidential client) in the body. The error code on failure.
fn authenticate(shared: &Shared, req: &Req) -> Result<(), &'static str> {
    let cfg = &shared.cfg;
    let body_id = req.body.get("client_id");
    match basic_auth(req.authorization.as_deref()) {
        BasicAuth::Credentials(id, secret) => {
            let secret_ok = cfg.client_secret.as_deref() == Some(secret.as_str());
            if id != cfg.client_id || !secret_ok || body_id.is_some_and(|b| b != id) {
                return Err("invalid_client");
            }
            Ok(())
        }
        BasicAuth::Malformed => Err("invalid_client"),
        BasicAuth::Absent => match body_id {
            None => Err("invalid_request"),
            Some(id) if id != cfg.client_id => Err("invalid_client"),
            Some(_) => match &cfg.client_secret {
                Some(secret) if req.body.get("client_secret") != Some(secret.as_str()) => {
                    Err("invalid_client")
                }
                _ => Ok(()),
            },
        },
    }
}

/// The body must be a form, with no parameter repeated.
fn form_ok(req: &Req) -> bool {
    let is_form = req.content_type.as_deref().is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    is_form && req.body.repeated().is_none()
}

fn bad_request(code: &str) -> Answer {
    oauth_error(StatusCode::BAD_REQUEST, code)
}

/// `POST /oauth2/token`.
pub(crate) fn token(shared: &Shared, req: &Req) -> Answer {
    if !form_ok(req) {
        return bad_request("invalid_request");
    }
    if let Err(code) = authenticate(shared, req) {
        return bad_request(code);
    }
    let result = match req.body.get("grant_type") {
        Some("authorization_code") => authorization_code(shared, req),
        Some("refresh_token") => refresh(shared, req),
        Some(_) => Err("unsupported_grant_type"),
        None => Err("invalid_request"),
    };
    match result {
        Ok(answer) => answer,
        Err(code) => bad_request(code),
    }
}

fn authorization_code(shared: &Shared, req: &Req) -> Result<Answer, &'static str> {
    let (Some(code), Some(redirect_uri)) = (req.body.get("code"), req.body.get("redirect_uri"))
    else {
        return Err("invalid_request");
    };
    let verifier = req.body.get("code_verifier");
    let origin_jti = mint::random_uuid();
    // Redeeming marks the code used even when a check below fails: a code is one try.
    let redeemed = shared
        .store()
        .redeem_code(code, &origin_jti)
        .map_err(|_| "invalid_grant")?;
    if redeemed.client_id != shared.cfg.client_id || redeemed.redirect_uri != redirect_uri {
        return Err("invalid_grant");
    }
    match (redeemed.challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            if !valid_verifier(verifier) || s256(verifier) != challenge {
                return Err("invalid_grant");
            }
        }
        (Some(_), None) | (None, Some(_)) => return Err("invalid_request"),
        (None, None) => {}
    }
    let refresh_token = random_token(64);
    shared.store().insert_refresh(
        refresh_token.clone(),
        Refresh {
            client_id: redeemed.client_id,
            grant: redeemed.grant.clone(),
            origin_jti: origin_jti.clone(),
        },
    );
    issue(
        shared,
        &redeemed.grant,
        &origin_jti,
        redeemed.nonce.as_deref(),
        Some(&refresh_token),
    )
    .map_err(|_| "server_error")
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(verifier))`.
fn s256(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn refresh(shared: &Shared, req: &Req) -> Result<Answer, &'static str> {
    let Some(token) = req.body.get("refresh_token") else {
        return Err("invalid_request");
    };
    let rotated = {
        let mut store = shared.store();
        let found = store
            .refresh(token)
            .filter(|r| r.client_id == shared.cfg.client_id)
            .cloned()
            .ok_or("invalid_grant")?;
        if shared.cfg.rotate_refresh_tokens {
            store.remove_refresh(token);
            let new = random_token(64);
            store.insert_refresh(new.clone(), found.clone());
            (found, Some(new))
        } else {
            (found, None)
        }
    };
    let (found, new_token) = rotated;
    issue(
        shared,
        &found.grant,
        &found.origin_jti,
        None,
        new_token.as_deref(),
    )
    .map_err(|_| "server_error")
}

/// Mints an access and an id token of one event and answers them.
fn issue(
    shared: &Shared,
    grant: &Grant,
    origin_jti: &str,
    nonce: Option<&str>,
    refresh_token: Option<&str>,
) -> Result<Answer, MintError> {
    let cfg = &shared.cfg;
    let user = cfg.users.get(grant.user).ok_or(MintError::KeyGen)?;
    let event_id = mint::random_uuid();
    let common = vec![
        ("origin_jti".to_owned(), json!(origin_jti)),
        ("event_id".to_owned(), json!(event_id)),
        ("auth_time".to_owned(), json!(grant.auth_time)),
    ];
    let spec = |token_use, scope, email, claims| TokenSpec {
        sub: user.sub.clone(),
        issuer: cfg.issuer.clone(),
        client_id: cfg.client_id.clone(),
        token_use,
        groups: user.groups.clone(),
        scope,
        username: Some(user.username.clone()),
        email,
        ttl: cfg.access_ttl,
        now: unix_now(),
        claims,
    };
    let mut access_claims = common.clone();
    if let Some(resource) = &grant.resource {
        access_claims.push(("aud".to_owned(), json!(resource)));
    }
    let access = mint::mint(
        &shared.key,
        &spec(
            TokenUse::Access,
            Some(grant.scope.clone()),
            None,
            access_claims,
        ),
    )?;
    let mut id_claims = common;
    id_claims.push(("email_verified".to_owned(), json!(true)));
    id_claims.push(("at_hash".to_owned(), json!(at_hash(&access))));
    if let Some(nonce) = nonce {
        id_claims.push(("nonce".to_owned(), json!(nonce)));
    }
    let id = mint::mint(
        &shared.key,
        &spec(TokenUse::Id, None, Some(user.email.clone()), id_claims),
    )?;
    let mut body = json!({
        "access_token": access,
        "id_token": id,
        "token_type": "Bearer",
        "expires_in": cfg.access_ttl.as_secs(),
    });
    if let Some(r) = refresh_token {
        body["refresh_token"] = json!(r);
    }
    Ok(json(StatusCode::OK, body.to_string()))
}

/// OIDC `at_hash`: base64url of the left half of SHA-256 of the access token.
fn at_hash(access: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
}

/// `POST /oauth2/revoke`.
pub(crate) fn revoke(shared: &Shared, req: &Req) -> Answer {
    if !form_ok(req) {
        return bad_request("invalid_request");
    }
    let Some(token) = req.body.get("token") else {
        return bad_request("invalid_request");
    };
    match authenticate(shared, req) {
        Ok(()) => {}
        Err("invalid_client") => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
        Err(code) => return bad_request(code),
    }
    if token.split('.').count() == 3 {
        return bad_request("unsupported_token_type"); // an access or id token (a JWS)
    }
    let mut store = shared.store();
    let lineage = store
        .refresh(token)
        .filter(|r| r.client_id == shared.cfg.client_id)
        .map(|r| r.origin_jti.clone());
    if let Some(origin_jti) = lineage {
        store.revoke_lineage(&origin_jti);
    }
    response(
        StatusCode::OK,
        "application/json;charset=UTF-8",
        String::new(),
    )
}

/// `GET /oauth2/userInfo` with `Authorization: Bearer <access token>`: refuses (401) a
/// token that is not the stand-in's, expired, not an access token, or revoked.
pub(crate) fn user_info(shared: &Shared, req: &Req) -> Answer {
    let token = req
        .authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let claims = token.and_then(|t| {
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_issuer(&[&shared.cfg.issuer]);
        v.validate_aud = false;
        v.leeway = 0;
        jsonwebtoken::decode::<Value>(t, &shared.decoding, &v).ok()
    });
    let claims = claims.map(|d| d.claims).filter(|c| {
        c["token_use"] == "access"
            && c["origin_jti"]
                .as_str()
                .is_some_and(|o| !shared.store().is_revoked(o))
    });
    let user = claims.and_then(|c| {
        let sub = c["sub"].as_str()?.to_owned();
        shared.cfg.users.iter().find(|u| u.sub == sub).cloned()
    });
    match user {
        Some(u) => json(
            StatusCode::OK,
            json!({
                "sub": u.sub, "email": u.email, "email_verified": "true", "username": u.username,
            })
            .to_string(),
        ),
        None => {
            let mut answer = oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
            answer.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            answer
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(valid_verifier(verifier));
        assert_eq!(
            s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(!valid_verifier("short"));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(&format!("{}+", "a".repeat(43))));
    }
}
