//! Cognito's `GetUser`, the cheapest call that proves an access token is still honoured:
//! it is refused (`NotAuthorizedException`) once the user signed out everywhere, was
//! disabled, or the token's refresh token was revoked. Unsigned: the access token is
//! the credential. The token is sent only to the configured endpoint, never logged.

use crate::outbound::{self, HttpsClient};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http_body_util::{BodyExt as _, Full, Limited};

/// Largest answer read (a `GetUser` answer is the user's attributes: a few KiB).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What Cognito said of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 200: the token is honoured.
    Valid,
    /// `NotAuthorizedException` (or `UserNotFoundException`): revoked.
    Revoked,
}

/// Why there is no verdict: Cognito could not be reached or did not say.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// A pooled https (webpki roots, aws-lc-rs) or http client for the Cognito JSON API.
#[derive(Clone)]
pub(crate) struct GetUserClient {
    http: HttpsClient<Full<Bytes>>,
}

impl std::fmt::Debug for GetUserClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GetUserClient")
    }
}

impl GetUserClient {
    pub(crate) fn new() -> Result<GetUserClient, rustls::Error> {
        Ok(GetUserClient {
            http: outbound::https_client()?,
        })
    }

    /// Asks `endpoint` whether `token` is honoured.
    pub(crate) async fn get_user(
        &self,
        endpoint: &str,
        token: &str,
    ) -> Result<Verdict, Unreachable> {
        let body = serde_json::json!({ "AccessToken": token }).to_string();
        let request = http::Request::post(endpoint)
            .header(CONTENT_TYPE, "application/x-amz-json-1.1")
            .header("x-amz-target", "AWSCognitoIdentityProviderService.GetUser")
            .header(USER_AGENT, concat!("cognigate/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Unreachable(format!("bad api_endpoint: {e}")))?;
        let response = (self.http.request(request).await)
            .map_err(|e| Unreachable(format!("GetUser failed: {e}")))?;
        let status = response.status();
        let error_type = (response.headers().get("x-amzn-errortype"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| Unreachable(format!("GetUser answer unreadable: {e}")))?
            .to_bytes();
        verdict(status, error_type.as_deref(), &bytes)
    }
}

/// The verdict in an answer. The error type is in `__type` of the body (Cognito, moto)
/// or the `x-amzn-ErrorType` header, sometimes prefixed (`...#NotAuthorizedException`).
fn verdict(
    status: http::StatusCode,
    error_type: Option<&str>,
    body: &[u8],
) -> Result<Verdict, Unreachable> {
    if status.is_success() {
        return Ok(Verdict::Valid);
    }
    let from_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("__type").and_then(|t| t.as_str()).map(str::to_owned));
    let kind = from_body
        .or(error_type.map(str::to_owned))
        .unwrap_or_default();
    let kind = kind.rsplit('#').next().unwrap_or("");
    let kind = kind.split(':').next().unwrap_or("");
    match (status.as_u16(), kind) {
        (400, "NotAuthorizedException" | "UserNotFoundException") => Ok(Verdict::Revoked),
        _ => Err(Unreachable(format!("GetUser answered {status} {kind}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn only_a_refusal_of_the_token_is_revoked() {
        let body =
            br#"{"__type":"NotAuthorizedException","message":"Access Token has been revoked"}"#;
        assert_eq!(
            verdict(StatusCode::BAD_REQUEST, None, body).ok(),
            Some(Verdict::Revoked)
        );
        let prefixed = Some("aws.cognito#NotAuthorizedException:http://x");
        assert_eq!(
            verdict(StatusCode::BAD_REQUEST, prefixed, b"").ok(),
            Some(Verdict::Revoked)
        );
        assert_eq!(
            verdict(StatusCode::OK, None, b"{}").ok(),
            Some(Verdict::Valid)
        );
        let throttled = br#"{"__type":"TooManyRequestsException"}"#;
        assert!(verdict(StatusCode::BAD_REQUEST, None, throttled).is_err());
        assert!(verdict(StatusCode::INTERNAL_SERVER_ERROR, None, b"").is_err());
    }
}
