//! `[login]` on the request path: the callback, start and logout paths (answered before
//! route matching), and requests admitted on a session (refreshed in place when the
//! access token has expired).

use super::Snapshot;
use super::auth::{self, Step, Trace};
use super::body::{ResponseBody, full};
use super::error::Refusal;
use crate::config::TokenUse;
use crate::jwks::KeyStore;
use crate::login::flow::{self, safe_return_path};
use crate::login::idp::{IdpError, TokenSet};
use crate::login::session::Session;
use crate::login::{Login, SessionCookie};
use crate::policy::Claim;
use crate::verify::{AuthError, Verified};
use http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use std::borrow::Cow;

/// What admission asks of the response besides its status: cookies to set (a refreshed
/// session, a sign-in's state, a broken session cleared) and what to count.
#[derive(Debug, Default)]
pub struct Effects {
    /// `Set-Cookie` values for the response, whatever it is.
    pub cookies: Vec<HeaderValue>,
    /// A session refresh was attempted: whether it succeeded.
    pub refreshed: Option<bool>,
    /// A sign-in callback was answered: `ok` or why it failed.
    pub login: Option<&'static str>,
    /// A logout ended the sign-in with this `origin_jti`: to add to the deny list.
    pub signed_out: Option<String>,
}

/// Where the request came from, for a sign-in's `redirect_uri` and return path. `None`
/// in [`auth::Target`] when a redirect cannot reach the browser (an ingress-nginx
/// `auth_request` check passes on only 2xx, 401 and 403: its `auth-signin` annotation
/// sends the browser to `start_path` instead).
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// `https` or `http`.
    pub scheme: &'a str,
    /// `host[:port]` as the browser addressed it.
    pub host: &'a str,
    /// The original path and query, to return to after signing in.
    pub return_to: &'a str,
}

/// The session's contribution to the identity sent upstream, besides the access token's
/// claims.
#[derive(Debug, Clone)]
pub struct SessionIdentity {
    /// `X-Auth-Email`, from the id token.
    pub email: Option<HeaderValue>,
    /// `Authorization: Bearer <access token>` when `pass_access_token` is on.
    pub authorization: Option<HeaderValue>,
}

/// One step of the session's part in admission, for `explain`.
#[derive(Debug, Clone, Copy)]
pub enum SessionStep<'a> {
    /// The session cookie does not open (tampered, truncated, another secret): cleared.
    Broken,
    /// The session is older than `session_lifetime`: ended.
    TooOld,
    /// The access token expired (or is within `[token].leeway` of it): refreshed, or why not.
    Refresh(Result<(), &'a str>),
    /// The session's tokens do not verify any more (another issuer, a removed key): ended.
    Invalid(&'a AuthError),
    /// The access token of the session is used.
    Used,
    /// No token: a browser navigation is sent to sign in (`true`), anything else gets 401.
    SignIn(bool),
}

/// The three paths `[login]` answers, whatever the routes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `callback_path`: the provider sends the browser back here with a code.
    Callback,
    /// `start_path`: starts a sign-in (`?rd=/return/path`).
    Start,
    /// `logout_path`: ends the session.
    Logout,
}

impl Endpoint {
    /// The endpoint at `path` (as received; the configured paths are normalized, and a
    /// path that only normalizes to one of them is left to the routes).
    pub fn at(login: &Login, path: &str) -> Option<Endpoint> {
        let s = &login.settings;
        [
            (&s.callback_path, Endpoint::Callback),
            (&s.start_path, Endpoint::Start),
            (&s.logout_path, Endpoint::Logout),
        ]
        .into_iter()
        .find_map(|(p, e)| (p == path).then_some(e))
    }
}

/// Answers an [`Endpoint`] request: `parts` is the request's head, `uri` its target (in
/// forward-auth mode, the original request's).
///
/// # Errors
///
/// The refusal to answer instead (its cookies are in `effects`).
pub async fn answer(
    snap: &Snapshot,
    login: &Login,
    endpoint: Endpoint,
    parts: &Parts,
    uri: &Uri,
    origin: Option<Origin<'_>>,
    effects: &mut Effects,
) -> Result<Response<ResponseBody>, Refusal> {
    let (method, headers) = (&parts.method, &parts.headers);
    match endpoint {
        Endpoint::Callback => {
            let answer = callback(snap, login, method, uri, headers, effects).await;
            effects.login = Some(match &answer {
                Ok(_) => "ok",
                Err(refusal) => refusal.reason(),
            });
            answer
        }
        Endpoint::Start => start(snap, login, parts, uri, origin, effects).await,
        Endpoint::Logout => logout(login, method, headers, effects).await,
    }
}

async fn callback(
    snap: &Snapshot,
    login: &Login,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    effects: &mut Effects,
) -> Result<Response<ResponseBody>, Refusal> {
    if method != Method::GET {
        return Err(failed(
            StatusCode::METHOD_NOT_ALLOWED,
            "bad_request",
            "the sign-in callback takes GET",
        ));
    }
    let query = Query::of(uri);
    let now = auth::now();
    let state = query.get("state");
    // The sign-in's state cookie is cleared whatever the outcome.
    let started = state.and_then(|state| {
        let (started, clear) = login.finish(headers, state, now);
        effects.cookies.extend(clear);
        started
    });
    if let Some(error) = query.get("error") {
        let message = format!(
            "the sign-in provider refused: {}{}",
            printable(error),
            query
                .get("error_description")
                .map(|d| format!(" ({})", printable(d)))
                .unwrap_or_default()
        );
        return Err(failed(StatusCode::FORBIDDEN, "denied", message));
    }
    let Some(started) = started else {
        return Err(failed(
            StatusCode::BAD_REQUEST,
            "bad_state",
            "the sign-in state is missing, expired or does not match this browser's: start signing in again",
        ));
    };
    let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
        return Err(failed(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the callback has no code",
        ));
    };
    let tokens = (login.idp)
        .exchange_code(code, &started.verifier, &started.redirect_uri)
        .await
        .map_err(|e| provider_failure(&e, "exchanging the code"))?;
    let session = new_session(
        snap,
        &snap.keys,
        login,
        tokens,
        None,
        Some(&started.nonce),
        now,
    )
    .await
    .map_err(|why| failed(StatusCode::UNAUTHORIZED, "invalid_token", why))?;
    let present = match login.read_session(headers) {
        SessionCookie::Open { present, .. } | SessionCookie::Broken { present } => present,
        SessionCookie::Absent => 0,
    };
    let cookies = login
        .session_cookies(&session, present, now)
        .ok_or_else(|| {
            failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                "session_too_large",
                "the session does not fit in cookies",
            )
        })?;
    effects.cookies.extend(cookies);
    tracing::info!(target: "cognigate::login", "signed in");
    Ok(redirect(safe_return_path(&started.return_to)))
}

/// `start_path`: a session due for a refresh is refreshed here and the browser goes
/// straight back (behind ingress-nginx, whose auth checks cannot hand over a refreshed
/// session of several cookies, its `auth-signin` lands here); otherwise a navigation is
/// sent to sign in, and a script gets 401 (never a login page).
async fn start(
    snap: &Snapshot,
    login: &Login,
    parts: &Parts,
    uri: &Uri,
    origin: Option<Origin<'_>>,
    effects: &mut Effects,
) -> Result<Response<ResponseBody>, Refusal> {
    let (method, headers) = (&parts.method, &parts.headers);
    if method != Method::GET && method != Method::HEAD {
        return Err(failed(
            StatusCode::METHOD_NOT_ALLOWED,
            "bad_request",
            "the sign-in start takes GET",
        ));
    }
    let Some(origin) = origin else {
        return Err(failed(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request has no Host",
        ));
    };
    let query = Query::of(uri);
    let return_to = safe_return_path(query.get("rd").unwrap_or("/"));
    if let SessionCookie::Open { session, present } = login.read_session(headers)
        && session_expired(snap, session.access_token.as_str())
    {
        let outcome = admit_session(
            snap,
            &snap.keys,
            login,
            session,
            present,
            true,
            effects,
            &mut (),
        )
        .await;
        match outcome {
            SessionOutcome::Admitted(_) => return Ok(redirect(return_to)),
            SessionOutcome::Refused(refusal) => return Err(refusal),
            SessionOutcome::Ended | SessionOutcome::RefreshElsewhere => {}
        }
    }
    if !flow::is_navigation(method, headers) {
        return Err(Refusal::MissingToken);
    }
    let (location, cookie) = sign_in(login, origin, return_to, false)?;
    effects.cookies.push(cookie);
    Ok(redirect_to(location))
}

/// Whether a session's access token has expired, or is within `[token].leeway` of it.
fn session_expired(snap: &Snapshot, token: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Exp {
        exp: f64,
    }
    let exp = sealed_claims::<Exp>(token).map_or(0.0, |e| e.exp);
    exp - snap.config.token.leeway.as_secs_f64() <= auth::now() as f64
}

async fn logout(
    login: &Login,
    method: &Method,
    headers: &HeaderMap,
    effects: &mut Effects,
) -> Result<Response<ResponseBody>, Refusal> {
    if method != Method::GET && method != Method::POST {
        return Err(failed(
            StatusCode::METHOD_NOT_ALLOWED,
            "bad_request",
            "sign-out takes GET or POST",
        ));
    }
    match login.read_session(headers) {
        SessionCookie::Open { session, present } => {
            effects.signed_out = origin_jti(&session.access_token);
            if let Some(refresh) = &session.refresh_token
                && let Err(e) = login.idp.revoke(refresh).await
            {
                tracing::warn!(target: "cognigate::login", error = %e, "the refresh token could not be revoked");
            }
            effects.cookies.extend(login.clear_session(present));
        }
        SessionCookie::Broken { present } => effects.cookies.extend(login.clear_session(present)),
        SessionCookie::Absent => {}
    }
    Ok(redirect_to(flow::logout_url(&login.settings)))
}

/// The `origin_jti` of a session's access token (the sign-in it came from).
fn origin_jti(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Ids {
        origin_jti: Option<String>,
    }
    sealed_claims::<Ids>(token)?.origin_jti
}

/// Claims of a token out of a session, read without verifying: only verified tokens go
/// into the sealed session.
fn sealed_claims<T: serde::de::DeserializeOwned>(token: &str) -> Option<T> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&json).ok()
}

/// The provider URL for a new sign-in from `origin`, and its state cookie.
fn sign_in(
    login: &Login,
    origin: Origin<'_>,
    return_to: &str,
    prompt_login: bool,
) -> Result<(String, HeaderValue), Refusal> {
    let redirect_uri = flow::redirect_uri(&login.settings, origin.scheme, origin.host);
    login
        .begin(return_to, redirect_uri, auth::now(), prompt_login)
        .ok_or_else(|| {
            failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "no random value could be drawn",
            )
        })
}

/// The answer to a request with no usable token on a `required` route with `login`: a
/// navigation is sent to sign in, anything else gets the 401 of a missing token.
pub fn missing<T: Trace>(
    login: &Login,
    method: &Method,
    headers: &HeaderMap,
    origin: Option<Origin<'_>>,
    effects: &mut Effects,
    trace: &mut T,
) -> Refusal {
    let navigation = origin.filter(|_| flow::is_navigation(method, headers));
    trace.admit_step(Step::Session(SessionStep::SignIn(navigation.is_some())));
    let Some(origin) = navigation else {
        return Refusal::MissingToken;
    };
    match sign_in(login, origin, origin.return_to, false) {
        Ok((location, cookie)) => match HeaderValue::try_from(location) {
            Ok(location) => {
                effects.cookies.push(cookie);
                Refusal::SignIn { location }
            }
            Err(_) => Refusal::MissingToken,
        },
        Err(refusal) => refusal,
    }
}

/// A session whose access token verified.
#[derive(Debug)]
pub struct SessionAdmitted {
    /// Its (possibly refreshed) access token, verified.
    pub verified: Verified,
    /// What it adds to the identity.
    pub identity: SessionIdentity,
    /// The access token's text (the online revocation check sends it to Cognito).
    pub token: String,
    /// When the user signed in (`max_age` step-up: no loop after a fresh sign-in).
    pub signed_in_at: u64,
    /// Chunk cookies the request carried (to clear a session that ends).
    pub present: usize,
}

/// What came of a session.
#[derive(Debug)]
pub enum SessionOutcome {
    /// Its (possibly refreshed) access token, verified.
    Admitted(Box<SessionAdmitted>),
    /// No session any more (cleared): the request goes on as one without it.
    Ended,
    /// A refresh is due but cannot be delivered here: the request goes on as one
    /// without a session (its 401 sends the browser to `start_path`), cookies kept.
    RefreshElsewhere,
    /// A refusal that is not the session's fault (the issuer's keys are not loaded).
    Refused(Refusal),
}

/// Admits a request on `session`: its access token verified like a bearer token, and
/// refreshed first when it has expired (or is within `[token].leeway` of it).
///
/// `sets_cookies` is false when only one `Set-Cookie` of the answer would reach the
/// browser (an ingress-nginx auth check): a refresh is then left to `start_path`
/// ([`SessionOutcome::RefreshElsewhere`]), where every cookie reaches it.
#[allow(clippy::too_many_arguments)]
pub async fn admit_session<T: Trace>(
    snap: &Snapshot,
    keys: &KeyStore,
    login: &Login,
    session: Session,
    present: usize,
    sets_cookies: bool,
    effects: &mut Effects,
    trace: &mut T,
) -> SessionOutcome {
    let now = auth::now();
    let ended = |effects: &mut Effects| {
        effects.cookies.extend(login.clear_session(present));
        SessionOutcome::Ended
    };
    if now
        >= session
            .signed_in_at
            .saturating_add(login.settings.session_lifetime.as_secs())
    {
        trace.admit_step(Step::Session(SessionStep::TooOld));
        return ended(effects);
    }
    let leeway = snap.config.token.leeway.as_secs_f64();
    let current = match auth::verify(snap, keys, &session.access_token, trace).await {
        Ok(v) if is_session_token(login, &v) => Some(v),
        Ok(_) => {
            trace.admit_step(Step::Session(SessionStep::Invalid(&AuthError::WrongIssuer)));
            return ended(effects);
        }
        Err(Refusal::InvalidToken(AuthError::Expired)) => None,
        Err(Refusal::InvalidToken(e)) => {
            trace.admit_step(Step::Session(SessionStep::Invalid(&e)));
            return ended(effects);
        }
        Err(refusal) => return SessionOutcome::Refused(refusal),
    };
    let fresh = current.filter(|v| v.claims.exp().0 - leeway > now as f64);
    if let Some(verified) = fresh {
        trace.admit_step(Step::Session(SessionStep::Used));
        return admitted(login, verified, session, present);
    }
    if !sets_cookies {
        let why = "due, and left to start_path: only one Set-Cookie of an auth check reaches the browser through ingress-nginx";
        trace.admit_step(Step::Session(SessionStep::Refresh(Err(why))));
        return SessionOutcome::RefreshElsewhere;
    }
    if !trace.calls_provider() {
        let why = "would be refreshed at the token endpoint now (explain does not call it)";
        trace.admit_step(Step::Session(SessionStep::Refresh(Err(why))));
        return SessionOutcome::Ended;
    }
    let Some(refresh_token) = session.refresh_token.clone() else {
        trace.admit_step(Step::Session(SessionStep::Refresh(Err(
            "the session has no refresh token",
        ))));
        return ended(effects);
    };
    let (answer, called) = login.refresh(&refresh_token).await;
    let refreshed = match answer {
        Ok(tokens) => {
            let signed_in_at = session.signed_in_at;
            new_session(
                snap,
                keys,
                login,
                tokens,
                Some(refresh_token),
                None,
                signed_in_at,
            )
            .await
        }
        Err(e) => Err(e.to_string()),
    };
    if called {
        effects.refreshed = Some(refreshed.is_ok());
    }
    let new = match refreshed {
        Ok(new) => new,
        Err(why) => {
            tracing::info!(target: "cognigate::login", error = %why, "session refresh failed: the session ends");
            trace.admit_step(Step::Session(SessionStep::Refresh(Err(&why))));
            return ended(effects);
        }
    };
    trace.admit_step(Step::Session(SessionStep::Refresh(Ok(()))));
    let Ok(verified) = auth::verify(snap, keys, &new.access_token, &mut ()).await else {
        return ended(effects);
    };
    match login.session_cookies(&new, present, now) {
        Some(cookies) => effects.cookies.extend(cookies),
        None => return ended(effects),
    }
    admitted(login, verified, new, present)
}

fn admitted(login: &Login, verified: Verified, session: Session, present: usize) -> SessionOutcome {
    SessionOutcome::Admitted(Box::new(SessionAdmitted {
        identity: session_identity(login, &session),
        verified,
        signed_in_at: session.signed_in_at,
        token: session.access_token,
        present,
    }))
}

/// A session refused by the route's `max_age` (RFC 9470): a navigation is sent to sign
/// in again with `prompt=login`, unless the session began within `max_age` (the
/// provider did not authenticate the user again: another redirect would loop); anything
/// else gets the refusal, the `insufficient_user_authentication` 401.
pub(super) fn step_up<T: Trace>(
    login: &Login,
    request: &auth::Request<'_>,
    session: &SessionAdmitted,
    refusal: Refusal,
    effects: &mut Effects,
    trace: &mut T,
) -> Refusal {
    let Refusal::InsufficientUserAuthentication { max_age } = refusal else {
        return refusal;
    };
    let target = request.target;
    let navigation = target
        .origin
        .filter(|_| flow::is_navigation(target.method, request.headers));
    let session_age = auth::now().saturating_sub(session.signed_in_at);
    let Some(origin) = navigation.filter(|_| session_age > max_age) else {
        trace.admit_step(Step::Session(SessionStep::SignIn(false)));
        return refusal;
    };
    trace.admit_step(Step::Session(SessionStep::SignIn(true)));
    match sign_in(login, origin, origin.return_to, true) {
        Ok((location, cookie)) => match HeaderValue::try_from(location) {
            Ok(location) => {
                effects.cookies.push(cookie);
                Refusal::SignIn { location }
            }
            Err(_) => refusal,
        },
        Err(e) => e,
    }
}

/// A token of the login issuer, for the login client, of the expected kind.
fn is_session_token(login: &Login, v: &Verified) -> bool {
    v.issuer_idx == login.settings.issuer_idx
        && v.claims.token_use() == TokenUse::Access
        && v.claims.client() == Some(login.settings.client_id.as_str())
}

fn session_identity(login: &Login, session: &Session) -> SessionIdentity {
    let authorization = login
        .settings
        .pass_access_token
        .then(|| HeaderValue::try_from(format!("Bearer {}", session.access_token)).ok())
        .flatten()
        .map(|mut v| {
            v.set_sensitive(true);
            v
        });
    SessionIdentity {
        email: (session.email.as_deref()).and_then(|e| HeaderValue::from_str(e).ok()),
        authorization,
    }
}

/// A session from the provider's `tokens`, both verified: the access token as a bearer
/// token of the login issuer and client, the id token as that client's (with `nonce`
/// when the sign-in sent one). A refresh that brings no new refresh token keeps
/// `previous_refresh`.
async fn new_session(
    snap: &Snapshot,
    keys: &KeyStore,
    login: &Login,
    tokens: TokenSet,
    previous_refresh: Option<String>,
    nonce: Option<&str>,
    signed_in_at: u64,
) -> Result<Session, String> {
    let access = auth::verify(snap, keys, &tokens.access_token, &mut ())
        .await
        .map_err(|r| format!("the access token from the provider does not verify: {r}"))?;
    if !is_session_token(login, &access) {
        return Err(
            "the access token from the provider is not one of the login issuer's, for its client"
                .into(),
        );
    }
    let id = login
        .id_verifier
        .verify(&tokens.id_token, keys, auth::now())
        .map_err(|e| format!("the id token from the provider does not verify: {e}"))?;
    if id.issuer_idx != login.settings.issuer_idx || id.claims.sub() != access.claims.sub() {
        return Err("the id token is not of the access token's issuer and user".into());
    }
    if let Some(expected) = nonce {
        match id.claims.by_name("nonce") {
            Claim::Text(n) if n == expected => {}
            _ => return Err("the id token's nonce is not this sign-in's".into()),
        }
    }
    Ok(Session {
        access_token: tokens.access_token,
        id_token: tokens.id_token,
        refresh_token: tokens.refresh_token.or(previous_refresh),
        email: id.claims.email().map(str::to_owned),
        signed_in_at,
    })
}

fn provider_failure(e: &IdpError, doing: &str) -> Refusal {
    tracing::warn!(target: "cognigate::login", error = %e, "sign-in failed while {doing}");
    let (status, reason) = match e {
        _ if e.is_invalid_grant() => (StatusCode::BAD_REQUEST, "invalid_grant"),
        IdpError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "provider_error"),
        _ => (StatusCode::BAD_GATEWAY, "provider_error"),
    };
    let message = match reason {
        "invalid_grant" => "the sign-in provider refused the code (used, expired, or issued to another client): start signing in again".to_owned(),
        _ => format!("{e} (while {doing})"),
    };
    failed(status, reason, message)
}

fn failed(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Refusal {
    Refusal::Login {
        status,
        reason,
        message: message.into(),
    }
}

/// 302 to a same-origin path.
fn redirect(path: &str) -> Response<ResponseBody> {
    redirect_to(path.to_owned())
}

fn redirect_to(location: String) -> Response<ResponseBody> {
    let mut resp = Response::new(full(""));
    *resp.status_mut() = StatusCode::FOUND;
    if let Ok(location) = HeaderValue::try_from(location) {
        resp.headers_mut().insert(LOCATION, location);
    }
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Adds `effects`' cookies to a response.
pub fn set_cookies(headers: &mut HeaderMap, effects: Effects) {
    for cookie in effects.cookies {
        headers.append(SET_COOKIE, cookie);
    }
}

/// Text from the provider shown to the browser: printable ASCII, at most 200 characters.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(200)
        .collect()
}

/// A request's query parameters, decoded.
struct Query<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Query<'a> {
    fn of(uri: &'a Uri) -> Self {
        Query(form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).collect())
    }

    /// The first value of `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }
}

/// The `Cookie` header without cognigate's own cookies (the session's chunks and
/// sign-in states): the upstream gets the identity headers, not the sealed tokens.
pub fn strip_own_cookies(headers: &mut HeaderMap, login: &Login) {
    let name = login.settings.cookie_name.as_str();
    let own = |n: &str| {
        n.strip_prefix(name).is_some_and(|rest| {
            rest.is_empty()
                || rest.starts_with("_login_")
                || rest
                    .strip_prefix('_')
                    .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    let cookies = headers.get_all(http::header::COOKIE);
    let mut kept = Vec::new();
    let mut removed = false;
    for pair in cookies
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
    {
        let n = pair.split_once('=').map_or(pair, |(n, _)| n).trim();
        if own(n) {
            removed = true;
        } else if !pair.trim().is_empty() {
            kept.push(pair.trim());
        }
    }
    if !removed {
        return;
    }
    let rest = (!kept.is_empty()).then(|| kept.join("; "));
    headers.remove(http::header::COOKIE);
    if let Some(value) = rest.and_then(|r| HeaderValue::try_from(r).ok()) {
        headers.insert(http::header::COOKIE, value);
    }
}
