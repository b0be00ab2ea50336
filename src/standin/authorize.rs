//! The browser side: `GET /oauth2/authorize` (the picker, or straight back with a code
//! when the browser is signed in at the stand-in), `POST /login` (the picker's forms)
//! and `GET /logout`.
//!
//! As at Cognito, a request naming an unknown client or a `redirect_uri` that is not
//! allowed gets an error page (400) and never a redirect; other errors go back to the
//! `redirect_uri` with `error=...` and the `state`.

use super::codes::{CODE_TTL, Code, Grant, SESSION_TTL, Session};
use super::form::{Params, with_query};
use super::{Req, Shared, page, random_token, redirect, response, unix_now};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use std::time::Instant;

/// The stand-in's own sign-in cookie (Cognito's managed login uses `cognito` on its
/// domain). Cookies ignore ports, so with everything on 127.0.0.1 the browser also
/// sends it to the proxy: the name must not be one the proxy uses.
pub(crate) const SESSION_COOKIE: &str = "cognito";

/// A checked authorize request.
struct AuthRequest {
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    challenge: Option<String>,
    prompt: Option<String>,
    resource: Option<String>,
}

type Answer = Response<Full<Bytes>>;

/// Checks the authorize parameters (from the query, or the picker's form).
fn check(shared: &Shared, p: &Params) -> Result<AuthRequest, Box<Answer>> {
    let cfg = &shared.cfg;
    if let Some(name) = p.repeated() {
        return Err(boxed_page(
            "invalid_request",
            &format!("{name} is repeated"),
        ));
    }
    match p.get("client_id") {
        Some(id) if id == cfg.client_id => {}
        Some(_) => return Err(boxed_page("invalid_client", "unknown client_id")),
        None => return Err(boxed_page("invalid_request", "client_id is missing")),
    }
    let redirect_uri = match p.get("redirect_uri") {
        Some(uri) if cfg.allows_redirect(uri) => uri.to_owned(),
        Some(_) => {
            return Err(boxed_page(
                "redirect_mismatch",
                "redirect_uri is not allowed",
            ));
        }
        None => return Err(boxed_page("invalid_request", "redirect_uri is missing")),
    };
    let state = p.get("state").map(str::to_owned);
    let back = |code: &str| {
        let mut pairs = vec![("error", code)];
        if let Some(s) = &state {
            pairs.push(("state", s));
        }
        Err(Box::new(redirect(&with_query(&redirect_uri, &pairs))))
    };
    match p.get("response_type") {
        Some("code") => {}
        Some(_) => return back("unsupported_response_type"),
        None => return back("invalid_request"),
    }
    let scope = match p.get("scope") {
        Some(s) => {
            let asked: Vec<&str> = s.split(' ').filter(|x| !x.is_empty()).collect();
            if asked.is_empty() || asked.iter().any(|a| !cfg.scopes.iter().any(|c| c == a)) {
                return back("invalid_scope");
            }
            asked.join(" ")
        }
        None => cfg.scopes.join(" "),
    };
    // Cognito takes only S256 (RFC 7636 `plain` is refused), and no method is no PKCE.
    let challenge = match (p.get("code_challenge"), p.get("code_challenge_method")) {
        (Some(c), Some("S256")) if valid_challenge(c) => Some(c.to_owned()),
        (None, None) => None,
        _ => return back("invalid_request"),
    };
    // RFC 8707 §2: an absolute URI without a fragment.
    let resource = match p.get("resource") {
        Some(r) if r.contains("://") && !r.contains('#') => Some(r.to_owned()),
        Some(_) => return back("invalid_target"),
        None => None,
    };
    Ok(AuthRequest {
        resource,
        redirect_uri,
        scope,
        state,
        nonce: p.get("nonce").map(str::to_owned),
        challenge,
        prompt: p.get("prompt").map(str::to_owned),
    })
}

/// An S256 challenge: 43 base64url characters (32 bytes of SHA-256).
fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /oauth2/authorize`.
pub(crate) fn authorize(shared: &Shared, req: &Req) -> Answer {
    let ask = match check(shared, &req.query) {
        Ok(ask) => ask,
        Err(answer) => return *answer,
    };
    let session = session_id(req).and_then(|id| shared.store().session(&id).cloned());
    match (ask.prompt.as_deref(), session) {
        (Some("login" | "select_account"), _) => picker(shared, req),
        (_, Some(session)) => code_redirect(shared, &ask, session.user, session.auth_time),
        (Some("none"), None) => {
            let mut pairs = vec![("error", "login_required")];
            if let Some(s) = &ask.state {
                pairs.push(("state", s));
            }
            redirect(&with_query(&ask.redirect_uri, &pairs))
        }
        (_, None) => picker(shared, req),
    }
}

fn picker(shared: &Shared, req: &Req) -> Answer {
    const FIELDS: [&str; 9] = [
        "resource",
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    ];
    let fields: Vec<(&str, &str)> = FIELDS
        .iter()
        .filter_map(|n| req.query.get(n).map(|v| (*n, v)))
        .collect();
    let html = page::picker(&shared.cfg.users, &fields);
    response(StatusCode::OK, "text/html; charset=utf-8", html)
}

/// `POST /login`: the picker's form.
pub(crate) fn login(shared: &Shared, req: &Req) -> Answer {
    let ask = match check(shared, &req.body) {
        Ok(ask) => ask,
        Err(answer) => return *answer,
    };
    let Some(user) = req
        .body
        .get("username")
        .and_then(|name| shared.cfg.users.iter().position(|u| u.username == name))
    else {
        return error_page("invalid_request", "no such user");
    };
    let auth_time = unix_now();
    let id = random_token(32);
    shared.store().insert_session(
        id.clone(),
        Session {
            user,
            auth_time,
            expires: Instant::now() + SESSION_TTL,
        },
    );
    let mut answer = code_redirect(shared, &ask, user, auth_time);
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        answer.headers_mut().append(header::SET_COOKIE, v);
    }
    answer
}

/// Issues a code for `user` and sends the browser back with it.
fn code_redirect(shared: &Shared, ask: &AuthRequest, user: usize, auth_time: u64) -> Answer {
    let code = random_token(32);
    shared.store().insert_code(
        code.clone(),
        Code {
            client_id: shared.cfg.client_id.clone(),
            redirect_uri: ask.redirect_uri.clone(),
            grant: Grant {
                user,
                scope: ask.scope.clone(),
                auth_time,
                resource: ask.resource.clone(),
            },
            nonce: ask.nonce.clone(),
            challenge: ask.challenge.clone(),
            expires: Instant::now() + CODE_TTL,
            redeemed: None,
        },
    );
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &ask.state {
        pairs.push(("state", s));
    }
    redirect(&with_query(&ask.redirect_uri, &pairs))
}

/// `GET /logout`: `client_id` and `logout_uri` (a sign-out URL) end the stand-in
/// session and redirect there; `client_id`, `redirect_uri` and `response_type` (with
/// `state`, `scope`...) end it and start a new sign-in, as at Cognito.
pub(crate) fn logout(shared: &Shared, req: &Req) -> Answer {
    let q = &req.query;
    match q.get("client_id") {
        Some(id) if id == shared.cfg.client_id => {}
        Some(_) => return error_page("invalid_client", "unknown client_id"),
        None => return error_page("invalid_request", "client_id is missing"),
    }
    let target = match (q.get("logout_uri"), q.get("redirect_uri")) {
        (Some(uri), _) if shared.cfg.allows_redirect(uri) => uri.to_owned(),
        (Some(_), _) => return error_page("invalid_request", "logout_uri is not allowed"),
        (None, Some(_)) => {
            if let Err(answer) = check(shared, q) {
                return *answer;
            }
            let raw = req.raw_query.as_deref().unwrap_or("");
            format!("/oauth2/authorize?{raw}")
        }
        (None, None) => {
            return error_page("invalid_request", "logout_uri or redirect_uri is missing");
        }
    };
    if let Some(id) = session_id(req) {
        shared.store().remove_session(&id);
    }
    let mut answer = redirect(&target);
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        answer.headers_mut().append(header::SET_COOKIE, v);
    }
    answer
}

/// The value of the stand-in's session cookie.
fn session_id(req: &Req) -> Option<String> {
    req.cookie.as_deref()?.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
    })
}

fn boxed_page(code: &str, message: &str) -> Box<Answer> {
    Box::new(error_page(code, message))
}

fn error_page(code: &str, message: &str) -> Answer {
    response(
        StatusCode::BAD_REQUEST,
        "text/html; charset=utf-8",
        page::error(code, message),
    )
}
