//! The identity provider's endpoints that cognigate calls itself: `/oauth2/token`
//! (exchanging a code, refreshing) and `/oauth2/revoke`. Each call is bounded in time
//! and in answer size; a confidential client authenticates with HTTP Basic
//! (RFC 6749 §2.3.1), a public one names itself with `client_id`.

use crate::config::LoginSettings;
use crate::outbound::{self, HttpsClient};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Largest answer read from the token endpoint (Cognito's are about 4 KiB).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Tokens from the token endpoint. `Debug` shows none of them.
#[derive(Clone, Deserialize)]
pub struct TokenSet {
    /// The access token.
    pub access_token: String,
    /// The id token (absent from some refresh answers of other providers: required here).
    pub id_token: String,
    /// A refresh token: on a code exchange, and on a refresh when the provider rotates.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a call to the provider failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IdpError {
    /// No answer: connection refused, reset, TLS failure.
    #[error("the sign-in provider could not be reached: {0}")]
    Unreachable(String),
    /// No answer within the time allowed.
    #[error("the sign-in provider did not answer within {0:?}")]
    Timeout(Duration),
    /// An OAuth error answer (`invalid_grant`: a used, expired or foreign code, or a
    /// revoked refresh token).
    #[error("the sign-in provider refused: {error}")]
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// The `error` field, or `"http_<status>"` when there is none.
        error: String,
    },
    /// An answer that is not what the endpoint should send.
    #[error("the sign-in provider's answer is not valid: {0}")]
    Garbage(&'static str),
}

impl IdpError {
    /// The provider said the grant is bad (the browser's doing), as opposed to the
    /// provider being down or misconfigured.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, IdpError::Refused { error, .. } if error == "invalid_grant")
    }
}

/// A pooled client for the provider's endpoints.
#[derive(Clone)]
pub struct IdpClient {
    http: HttpsClient<Full<Bytes>>,
    token_url: Arc<str>,
    revoke_url: Arc<str>,
    client_id: Arc<str>,
    /// `Basic ...` for a confidential client.
    basic: Option<HeaderValue>,
    timeout: Duration,
}

impl std::fmt::Debug for IdpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpClient")
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl IdpClient {
    /// A client for `login`'s domain; each call gets at most `timeout`.
    pub fn new(login: &LoginSettings, timeout: Duration) -> Result<IdpClient, rustls::Error> {
        let http = outbound::https_client()?;
        let basic = login.client_secret.as_ref().and_then(|secret| {
            let encode = |b: &[u8]| form_urlencoded::byte_serialize(b).collect::<String>();
            let pair = format!(
                "{}:{}",
                encode(login.client_id.as_bytes()),
                encode(&secret.0)
            );
            let mut value =
                HeaderValue::try_from(format!("Basic {}", STANDARD.encode(pair))).ok()?;
            value.set_sensitive(true);
            Some(value)
        });
        Ok(IdpClient {
            http,
            token_url: format!("{}/oauth2/token", login.domain).into(),
            revoke_url: format!("{}/oauth2/revoke", login.domain).into(),
            client_id: login.client_id.as_str().into(),
            basic,
            timeout,
        })
    }

    /// Exchanges an authorization code (with its PKCE verifier and the `redirect_uri`
    /// it was issued for).
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, IdpError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        self.tokens(&form).await
    }

    /// New tokens for a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, IdpError> {
        self.tokens(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// Revokes a refresh token (and, at Cognito, the tokens issued from it).
    pub async fn revoke(&self, refresh_token: &str) -> Result<(), IdpError> {
        self.post(&self.revoke_url, &[("token", refresh_token)])
            .await
            .map(drop)
    }

    async fn tokens(&self, form: &[(&str, &str)]) -> Result<TokenSet, IdpError> {
        let body = self.post(&self.token_url, form).await?;
        let tokens: TokenSet = serde_json::from_slice(&body).map_err(|_| {
            IdpError::Garbage("not a JSON token answer with access_token and id_token")
        })?;
        if tokens.access_token.is_empty() || tokens.id_token.is_empty() {
            return Err(IdpError::Garbage("an empty token"));
        }
        Ok(tokens)
    }

    /// POSTs `form` to `url`; the answer's body when it is a 200.
    async fn post(&self, url: &str, form: &[(&str, &str)]) -> Result<Bytes, IdpError> {
        let body = form_body(self.basic.is_none().then_some(&*self.client_id), form);
        let mut request = Request::post(url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, concat!("cognigate/", env!("CARGO_PKG_VERSION")));
        if let Some(basic) = &self.basic {
            request = request.header(AUTHORIZATION, basic.clone());
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| IdpError::Unreachable(format!("{url} is not a valid request target")))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| IdpError::Unreachable(describe(&e, url)))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|_| IdpError::Garbage("an answer body larger than 64 KiB or cut short"))?
                .to_bytes();
            Ok::<_, IdpError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| IdpError::Timeout(self.timeout))??;
        if status == StatusCode::OK {
            return Ok(body);
        }
        Err(IdpError::Refused {
            status,
            error: oauth_error(&body).unwrap_or_else(|| format!("http_{}", status.as_u16())),
        })
    }
}

/// `form` x-www-form-urlencoded, after `client_id` when given. (Not inline in `post`:
/// the serializer is not `Send` and must not live across its awaits.)
fn form_body(client_id: Option<&str>, form: &[(&str, &str)]) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    if let Some(client_id) = client_id {
        body.append_pair("client_id", client_id);
    }
    body.extend_pairs(form);
    body.finish()
}

/// The `error` of an OAuth error answer, when it is a short code (RFC 6749 §5.2: ASCII
/// printable without `"` and `\`): it reaches logs and the browser's error page.
fn oauth_error(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorAnswer {
        error: String,
    }
    let error = serde_json::from_slice::<ErrorAnswer>(body).ok()?.error;
    let valid = !error.is_empty()
        && error.len() <= 64
        && error
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    valid.then_some(error)
}

fn describe(e: &(dyn std::error::Error + 'static), url: &str) -> String {
    let parsed = url.parse::<http::Uri>().ok();
    let host = parsed.as_ref().and_then(http::Uri::host).unwrap_or(url);
    crate::connect_error::describe(e, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_oauth_error_codes_are_kept() {
        assert_eq!(
            oauth_error(br#"{"error":"invalid_grant"}"#).as_deref(),
            Some("invalid_grant")
        );
        assert_eq!(oauth_error(br#"{"error":"x\"y"}"#), None);
        assert_eq!(
            oauth_error(format!(r#"{{"error":"{}"}}"#, "a".repeat(65)).as_bytes()),
            None
        );
        assert_eq!(oauth_error(b"<html>"), None);
    }
}
