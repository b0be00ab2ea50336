//! Browser sessions through Cognito managed login (`[login]`): the authorization-code
//! flow with PKCE, and the session kept in sealed cookies (no store: any replica serves
//! any request).
//!
//! This module holds the parts with no request in them: sealing ([`seal`]), the cookies
//! ([`cookie`]), what they hold ([`session`]), the flow's pure steps ([`flow`]) and the
//! calls to the provider ([`idp`]). `proxy::login` answers the callback, start and
//! logout paths and admits requests on a session.

pub mod cookie;
pub mod flow;
pub mod idp;
pub mod seal;
pub mod session;

use crate::config::{Config, LoginSettings, TokenUse};
use crate::verify::Verifier;
use aws_lc_rs::digest;
use cookie::{Attributes, CHUNK_BYTES, LOGIN_STATE_SECONDS, MAX_CHUNKS};
use http::{HeaderMap, HeaderValue};
use idp::{IdpClient, IdpError, TokenSet};
use seal::Sealer;
use session::{LoginState, Session};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// The AEAD purpose of a session cookie (a login state cookie has its own).
const SESSION_PURPOSE: &str = "session";
const STATE_PURPOSE: &str = "login-state";
/// How long a refresh's answer is shared with requests that carried the same refresh
/// token (a page's parallel requests all find the access token expired at once; with
/// rotation only the first may use the old refresh token).
const REFRESH_SHARED_FOR: Duration = Duration::from_secs(60);
/// Refreshes remembered at most; past it the oldest are forgotten first.
const MAX_SHARED_REFRESHES: usize = 10_000;

/// One refresh, shared by the requests that need it.
type SharedRefresh = Arc<OnceCell<Result<TokenSet, IdpError>>>;

/// `[login]` made ready for requests: settings, keys, the provider client.
#[derive(Debug)]
pub struct Login {
    /// The validated settings.
    pub settings: LoginSettings,
    sealer: Sealer,
    /// The provider's token and revocation endpoints.
    pub idp: IdpClient,
    /// Verifies id tokens of the login issuer (whatever its `token_use` allows for
    /// bearer tokens); no cache: an id token is verified once per sign-in or refresh.
    pub id_verifier: Verifier,
    /// `[resource].url` when `audience = true`: sign-ins ask for it (RFC 8707), so that
    /// the session's access tokens carry it in `aud`.
    resource: Option<String>,
    refreshes: Mutex<HashMap<[u8; 32], (Instant, SharedRefresh)>>,
}

/// What a request carries of a session.
#[derive(Debug)]
pub enum SessionCookie {
    /// No session cookie.
    Absent,
    /// Cookies that do not open: tampered, truncated, sealed under another secret, or
    /// too large. No session; they are cleared.
    Broken {
        /// Chunk cookies to clear.
        present: usize,
    },
    /// A session.
    Open {
        /// The session.
        session: Session,
        /// Chunk cookies the request carried.
        present: usize,
    },
}

impl Login {
    /// Prepares `config.login`, if set. Fails only if no TLS client can be built.
    pub fn new(config: &Config) -> Result<Option<Login>, rustls::Error> {
        let Some(settings) = &config.login else {
            return Ok(None);
        };
        let idp = IdpClient::new(settings, config.jwks.fetch_timeout)?;
        let mut issuers = config.issuers.clone();
        if let Some(issuer) = issuers.get_mut(settings.issuer_idx) {
            issuer.token_use = vec![TokenUse::Id];
        }
        let no_cache = crate::config::TokenSettings {
            cache_size: crate::config::CacheSize::Entries(0),
            ..config.token.clone()
        };
        Ok(Some(Login {
            settings: settings.clone(),
            sealer: Sealer::new(&settings.cookie_secrets),
            idp,
            id_verifier: Verifier::new(&issuers, &no_cache).with_claims(&["nonce"]),
            resource: (config.resource.as_ref())
                .filter(|r| r.audience)
                .map(|r| r.url.clone()),
            refreshes: Mutex::default(),
        }))
    }

    /// Opens the session cookie of `headers`.
    pub fn read_session(&self, headers: &HeaderMap) -> SessionCookie {
        let Some(chunks) = cookie::read(headers, &self.settings.cookie_name) else {
            return SessionCookie::Absent;
        };
        let present = chunks.present;
        let session = (chunks.value.len() <= CHUNK_BYTES * MAX_CHUNKS)
            .then(|| self.sealer.open(SESSION_PURPOSE, &chunks.value))
            .flatten()
            .and_then(|plain| serde_json::from_slice::<Session>(&plain).ok());
        match session {
            Some(session) => SessionCookie::Open { session, present },
            None => SessionCookie::Broken { present },
        }
    }

    /// `Set-Cookie` values storing `session` (replacing `present` chunk cookies), valid
    /// until the session's lifetime ends. `None` if it cannot be sealed or would not fit
    /// in [`MAX_CHUNKS`] cookies.
    pub fn session_cookies(
        &self,
        session: &Session,
        present: usize,
        now: u64,
    ) -> Option<Vec<HeaderValue>> {
        let plain = serde_json::to_vec(session).ok()?;
        let sealed = self.sealer.seal(SESSION_PURPOSE, &plain)?;
        if sealed.len() > CHUNK_BYTES * MAX_CHUNKS {
            return None;
        }
        let ends = session.signed_in_at + self.settings.session_lifetime.as_secs();
        let attrs = Attributes::session(&self.settings, ends.saturating_sub(now));
        let lines = cookie::set_chunked(&self.settings.cookie_name, &sealed, present, &attrs);
        Some(header_values(lines))
    }

    /// `Set-Cookie` values clearing `present` session chunk cookies.
    pub fn clear_session(&self, present: usize) -> Vec<HeaderValue> {
        let attrs = Attributes::session(&self.settings, 0);
        header_values(cookie::clear_from(&self.settings.cookie_name, 0, present, &attrs).collect())
    }

    /// Starts a sign-in: the provider URL to send the browser to, and the `Set-Cookie`
    /// of the sign-in's sealed state. `None` if no random value could be drawn.
    pub fn begin(
        &self,
        return_to: &str,
        redirect_uri: String,
        now: u64,
        prompt_login: bool,
    ) -> Option<(String, HeaderValue)> {
        let state = LoginState {
            state: flow::random_token()?,
            verifier: flow::random_token()?,
            nonce: flow::random_token()?,
            return_to: flow::safe_return_path(return_to).to_owned(),
            redirect_uri,
            started_at: now,
        };
        let sealed = self
            .sealer
            .seal(STATE_PURPOSE, &serde_json::to_vec(&state).ok()?)?;
        let name = flow::state_cookie_name(&self.settings, &state.state);
        let attrs = Attributes::login_state(&self.settings, LOGIN_STATE_SECONDS);
        let cookie = HeaderValue::try_from(cookie::set_cookie(&name, &sealed, &attrs)).ok()?;
        let resource = self.resource.as_deref();
        let url = flow::authorize_url(&self.settings, &state, prompt_login, resource);
        Some((url, cookie))
    }

    /// The sign-in whose `state` the callback brought back, if its cookie is there, opens,
    /// matches and is not older than ten minutes; and the `Set-Cookie` clearing it
    /// (sent whatever the outcome).
    pub fn finish(
        &self,
        headers: &HeaderMap,
        state: &str,
        now: u64,
    ) -> (Option<LoginState>, Option<HeaderValue>) {
        let name = flow::state_cookie_name(&self.settings, state);
        let Some((_, sealed)) = cookie::pairs(headers).find(|(n, _)| *n == name) else {
            return (None, None);
        };
        let attrs = Attributes::login_state(&self.settings, 0);
        let clear = HeaderValue::try_from(cookie::set_cookie(&name, "", &attrs)).ok();
        let login = self
            .sealer
            .open(STATE_PURPOSE, sealed)
            .and_then(|plain| serde_json::from_slice::<LoginState>(&plain).ok())
            .filter(|l| l.state == state)
            .filter(|l| now.saturating_sub(l.started_at) <= LOGIN_STATE_SECONDS);
        (login, clear)
    }

    /// New tokens for `refresh_token`: one call to the provider, shared by every request
    /// that brings the same refresh token within a minute. The flag says whether this
    /// request made the call (`false`: it got another request's answer).
    pub async fn refresh(&self, refresh_token: &str) -> (Result<TokenSet, IdpError>, bool) {
        let key: [u8; 32] = digest::digest(&digest::SHA256, refresh_token.as_bytes())
            .as_ref()
            .try_into()
            .unwrap_or([0; 32]);
        let cell = {
            let mut shared = self
                .refreshes
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            shared.retain(|_, (at, _)| now.duration_since(*at) < REFRESH_SHARED_FOR);
            if shared.len() >= MAX_SHARED_REFRESHES {
                shared.clear();
            }
            shared
                .entry(key)
                .or_insert_with(|| (now, SharedRefresh::default()))
                .1
                .clone()
        };
        let mut called = false;
        let answer = cell
            .get_or_init(|| {
                called = true;
                self.idp.refresh(refresh_token)
            })
            .await
            .clone();
        (answer, called)
    }
}

fn header_values(lines: Vec<String>) -> Vec<HeaderValue> {
    lines
        .into_iter()
        .filter_map(|line| HeaderValue::try_from(line).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SameSite, Secret};

    fn settings() -> LoginSettings {
        LoginSettings {
            issuer_idx: 0,
            domain: "https://d.example".into(),
            client_id: "c".into(),
            client_secret: None,
            scopes: vec!["openid".into()],
            callback_path: "/oauth2/callback".into(),
            redirect_url: None,
            start_path: "/oauth2/start".into(),
            logout_path: "/oauth2/logout".into(),
            logout_redirect: None,
            cookie_name: "cognigate_session".into(),
            cookie_secrets: vec![Secret(vec![5; 32])],
            cookie_domain: None,
            cookie_secure: true,
            cookie_samesite: SameSite::Lax,
            session_lifetime: Duration::from_secs(43_200),
            pass_access_token: false,
        }
    }

    /// The size of a session for Cognito-sized tokens: a 900-byte access token, a
    /// 1,100-byte id token and a 1,780-byte refresh token (Cognito's are JWE of about
    /// that size), as `Set-Cookie` lines.
    #[test]
    fn a_cognito_sized_session_takes_two_cookies() {
        let login = settings();
        let sealer = Sealer::new(&login.cookie_secrets);
        let session = Session {
            access_token: "a".repeat(900),
            id_token: "i".repeat(1_100),
            refresh_token: Some("r".repeat(1_780)),
            email: Some("someone@example.com".into()),
            signed_in_at: 1_700_000_000,
        };
        let plain = serde_json::to_vec(&session).unwrap();
        let sealed = sealer.seal(SESSION_PURPOSE, &plain).unwrap();
        let attrs = Attributes::session(&login, 43_200);
        let lines = cookie::set_chunked(&login.cookie_name, &sealed, 0, &attrs);
        let total: usize = lines.iter().map(String::len).sum();
        eprintln!(
            "session: {} bytes of JSON, {} sealed (base64url), {} cookies, {total} bytes of Set-Cookie",
            plain.len(),
            sealed.len(),
            lines.len()
        );
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.iter().all(|l| l.len() < 4096));
        // Without a refresh token (an access + id token alone) it fits in one.
        let short = Session {
            refresh_token: None,
            ..session
        };
        let sealed = sealer
            .seal(SESSION_PURPOSE, &serde_json::to_vec(&short).unwrap())
            .unwrap();
        assert_eq!(cookie::set_chunked("s", &sealed, 0, &attrs).len(), 1);
    }
}
