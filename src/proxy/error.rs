//! The one map from a refusal to what the client receives: status, RFC 6750
//! `WWW-Authenticate`, and a JSON body `{"error": ..., "message": ...}`.
//! Messages name the rule or check that failed, never the token.

use super::body::{ResponseBody, full};
use crate::config::Mode;
use crate::policy::Forbidden;
use crate::revoke::Revoked;
use crate::telemetry::metrics::UpstreamErrorKind;
use crate::verify::AuthError;
use http::{HeaderValue, Response, StatusCode, header};

const REALM: &str = "Bearer realm=\"cognigate\"";

/// Why cognigate answers a request itself instead of passing it on.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A malformed request or path (400).
    #[error("{0}")]
    BadRequest(String),
    /// A malformed original request in `forward_auth` mode (see [`Refusal::in_mode`]).
    #[error("{0}")]
    BadOriginal(String),
    /// No token on a route that requires one (401).
    #[error("this route requires a bearer token")]
    MissingToken,
    /// The token was refused by the verifier (401 `invalid_token`).
    #[error("{0}")]
    InvalidToken(AuthError),
    /// A valid token that a deny entry or Cognito's `GetUser` revoked (401
    /// `invalid_token`, "token revoked").
    #[error("{0}")]
    Revoked(Revoked),
    /// A valid token whose `auth_time` is older than the route's `max_age` (RFC 9470:
    /// 401 `insufficient_user_authentication` with `max_age`). With `[login]`, a
    /// navigation refused this way is the one to send to sign in with `prompt=login`.
    #[error("the sign-in is older than this route allows ({max_age} s): sign in again")]
    InsufficientUserAuthentication {
        /// The route's `max_age`, in seconds.
        max_age: u64,
    },
    /// The token's issuer has no key set yet (503, `Retry-After`).
    #[error("the signing keys of issuer {0:?} have not loaded yet")]
    IssuerNotReady(String),
    /// A valid token that the route's rules refuse (403 `insufficient_scope`).
    #[error("{0}")]
    Forbidden(Forbidden),
    /// No route matches (403).
    #[error("no route matches this request")]
    NoRoute,
    /// The route's `auth` is `deny` (403).
    #[error("this route is denied")]
    Denied,
    /// The upstream failed (502).
    #[error("the upstream could not be reached")]
    Upstream {
        /// The connection itself failed (rather than the exchange on it).
        connect: bool,
        /// What failed, for the log line (never sent to the client).
        cause: String,
    },
    /// The upstream's response head did not come within `upstream.timeout` (504).
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    /// A browser navigation without a session, sent to sign in (302 to the provider).
    #[error("sign in first")]
    SignIn {
        /// The provider's authorize URL.
        location: HeaderValue,
    },
    /// A sign-in that cannot complete (the callback or start path): 400 for the
    /// browser's request, 403 when the provider refused the user, 401 for tokens that do
    /// not verify, 502/504 when the provider failed.
    #[error("{message}")]
    Login {
        /// The status to answer.
        status: StatusCode,
        /// `result` label of `cognigate_logins_total`, and the log's reason.
        reason: &'static str,
        /// What went wrong, for the browser (never a token).
        message: String,
    },
}

impl Refusal {
    /// The refusal as a listener in `mode` answers it. In `forward_auth` mode a
    /// malformed request is answered 403, not 400: nginx's `auth_request` passes on only
    /// 2xx, 401 and 403 from an auth service and turns anything else into a 500, which
    /// would hide the reason and look like an outage.
    pub fn in_mode(self, mode: Mode) -> Refusal {
        match (mode, self) {
            (Mode::ForwardAuth, Refusal::BadRequest(why)) => Refusal::BadOriginal(why),
            (_, refusal) => refusal,
        }
    }

    /// The HTTP status the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::MissingToken
            | Refusal::InvalidToken(_)
            | Refusal::Revoked(_)
            | Refusal::InsufficientUserAuthentication { .. } => StatusCode::UNAUTHORIZED,
            Refusal::IssuerNotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::BadOriginal(_)
            | Refusal::Forbidden(_)
            | Refusal::NoRoute
            | Refusal::Denied => StatusCode::FORBIDDEN,
            Refusal::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Refusal::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Refusal::SignIn { .. } => StatusCode::FOUND,
            Refusal::Login { status, .. } => *status,
        }
    }

    /// The fixed label used in logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::BadRequest(_) | Refusal::BadOriginal(_) => "bad_request",
            Refusal::MissingToken => "missing_token",
            Refusal::InvalidToken(e) => e.reason(),
            Refusal::Revoked(_) => "revoked",
            Refusal::InsufficientUserAuthentication { .. } => "max_age",
            Refusal::IssuerNotReady(_) => "issuer_not_ready",
            Refusal::Forbidden(f) => f.reason(),
            Refusal::NoRoute => "no_route",
            Refusal::Denied => "denied",
            Refusal::Upstream { .. } => "upstream_error",
            Refusal::UpstreamTimeout => "upstream_timeout",
            Refusal::SignIn { .. } => "sign_in",
            Refusal::Login { reason, .. } => reason,
        }
    }

    /// The upstream failure this is, for metrics; `None` for a refusal of the request.
    pub fn upstream_kind(&self) -> Option<UpstreamErrorKind> {
        match self {
            Refusal::Upstream { connect: true, .. } => Some(UpstreamErrorKind::Connect),
            Refusal::Upstream { connect: false, .. } => Some(UpstreamErrorKind::Other),
            Refusal::UpstreamTimeout => Some(UpstreamErrorKind::Timeout),
            _ => None,
        }
    }

    /// The `error` field of the JSON body.
    fn error_code(&self) -> &'static str {
        match self {
            Refusal::BadRequest(_) | Refusal::BadOriginal(_) => "bad_request",
            Refusal::MissingToken => "missing_token",
            Refusal::InvalidToken(_) | Refusal::Revoked(_) => "invalid_token",
            Refusal::InsufficientUserAuthentication { .. } => "insufficient_user_authentication",
            Refusal::IssuerNotReady(_) => "temporarily_unavailable",
            Refusal::Forbidden(_) | Refusal::NoRoute | Refusal::Denied => "forbidden",
            Refusal::Upstream { .. } => "bad_gateway",
            Refusal::UpstreamTimeout => "gateway_timeout",
            Refusal::SignIn { .. } => "sign_in_required",
            Refusal::Login { .. } => "login_failed",
        }
    }

    fn www_authenticate(&self, extra: Challenge<'_>) -> Option<String> {
        let mut challenge = match self {
            Refusal::MissingToken => REALM.to_owned(),
            Refusal::InvalidToken(e) => format!(
                "{REALM}, error=\"invalid_token\", error_description=\"{}\"",
                quoted_safe(&e.to_string())
            ),
            Refusal::Revoked(e) => {
                format!("{REALM}, error=\"invalid_token\", error_description=\"{e}\"")
            }
            // RFC 9470 §3: the challenge names the maximum age the resource accepts.
            Refusal::InsufficientUserAuthentication { max_age } => {
                format!("{REALM}, error=\"insufficient_user_authentication\", max_age={max_age}")
            }
            Refusal::Forbidden(_) => format!("{REALM}, error=\"insufficient_scope\""),
            _ => return None,
        };
        if let Some(url) = extra.resource_metadata {
            challenge.push_str(&format!(", resource_metadata=\"{}\"", quoted_safe(url)));
        }
        if let Some(scope) = extra.scope {
            challenge.push_str(&format!(", scope=\"{}\"", quoted_safe(scope)));
        }
        Some(challenge)
    }

    /// Renders the refusal as a response carrying `request_id`.
    pub fn into_response(self, request_id: &HeaderValue) -> Response<ResponseBody> {
        self.into_response_with(request_id, Challenge::default())
    }

    /// [`Refusal::into_response`], with `extra` parameters in its `WWW-Authenticate`
    /// (when it has one).
    pub fn into_response_with(
        self,
        request_id: &HeaderValue,
        extra: Challenge<'_>,
    ) -> Response<ResponseBody> {
        let body = serde_json::json!({ "error": self.error_code(), "message": self.to_string() });
        let mut resp = Response::new(full(body.to_string()));
        *resp.status_mut() = self.status();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(super::headers::X_REQUEST_ID, request_id.clone());
        if let Some(value) = self
            .www_authenticate(extra)
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Refusal::SignIn { location } = &self {
            headers.insert(header::LOCATION, location.clone());
        }
        if matches!(self, Refusal::IssuerNotReady(_)) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if matches!(self, Refusal::BadRequest(_) | Refusal::BadOriginal(_)) {
            // The request's framing may be what was wrong: never read another from this connection.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// Parameters added to a refusal's `WWW-Authenticate` with `[resource]`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Challenge<'a> {
    /// `resource_metadata`: where the protected resource metadata is (RFC 9728 §5.1).
    pub resource_metadata: Option<&'a str>,
    /// `scope`: the scopes the route requires (RFC 6750 §3).
    pub scope: Option<&'a str>,
}

/// Makes text safe inside an RFC 9110 quoted-string.
fn quoted_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '\''
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// Every refusal, once: status, JSON `error`, `WWW-Authenticate`, and the extra
    /// headers some carry. This is the table the contract's refusal section describes.
    #[tokio::test]
    async fn every_refusal_maps_to_its_status_body_and_challenge() {
        let forbidden = Forbidden::WrongIssuer {
            route: "/x".into(),
            required: "main".into(),
        };
        let cases: [(Refusal, u16, &str, Option<&str>); 11] = [
            (Refusal::BadRequest("bad".into()), 400, "bad_request", None),
            (Refusal::MissingToken, 401, "missing_token", Some(REALM)),
            (
                Refusal::InvalidToken(AuthError::Expired),
                401,
                "invalid_token",
                Some(
                    "Bearer realm=\"cognigate\", error=\"invalid_token\", error_description=\"token has expired\"",
                ),
            ),
            (
                Refusal::Revoked(Revoked::OriginJti),
                401,
                "invalid_token",
                Some(
                    "Bearer realm=\"cognigate\", error=\"invalid_token\", error_description=\"token revoked\"",
                ),
            ),
            (
                Refusal::InsufficientUserAuthentication { max_age: 900 },
                401,
                "insufficient_user_authentication",
                Some(
                    "Bearer realm=\"cognigate\", error=\"insufficient_user_authentication\", max_age=900",
                ),
            ),
            (
                Refusal::IssuerNotReady("main".into()),
                503,
                "temporarily_unavailable",
                None,
            ),
            (
                Refusal::Forbidden(forbidden),
                403,
                "forbidden",
                Some("Bearer realm=\"cognigate\", error=\"insufficient_scope\""),
            ),
            (Refusal::NoRoute, 403, "forbidden", None),
            (Refusal::Denied, 403, "forbidden", None),
            (
                Refusal::Upstream {
                    connect: true,
                    cause: "refused".into(),
                },
                502,
                "bad_gateway",
                None,
            ),
            (Refusal::UpstreamTimeout, 504, "gateway_timeout", None),
        ];
        for (refusal, status, error, challenge) in cases {
            let retry = matches!(refusal, Refusal::IssuerNotReady(_));
            let close = matches!(refusal, Refusal::BadRequest(_));
            let resp = refusal.into_response(&HeaderValue::from_static("rid"));
            let (parts, body) = resp.into_parts();
            assert_eq!(parts.status.as_u16(), status, "{error}");
            let h = &parts.headers;
            assert_eq!(
                h.get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap()),
                challenge,
                "{error}"
            );
            assert_eq!(h["x-request-id"], "rid");
            assert_eq!(h[header::CONTENT_TYPE], "application/json");
            assert_eq!(h.contains_key(header::RETRY_AFTER), retry, "{error}");
            assert_eq!(h.contains_key(header::CONNECTION), close, "{error}");
            let bytes = body.collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(json["error"], error);
            assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }

    /// With `[resource]`, every challenge names the metadata and, on a route with
    /// scopes, the scopes; a refusal without a challenge stays without one.
    #[test]
    fn resource_parameters_extend_every_challenge() {
        let extra = Challenge {
            resource_metadata: Some("https://api.example/.well-known/oauth-protected-resource/mcp"),
            scope: Some("mcp:read mcp:write"),
        };
        let rid = HeaderValue::from_static("rid");
        let challenge = |r: Refusal| {
            let resp = r.into_response_with(&rid, extra);
            resp.headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let tail = ", resource_metadata=\"https://api.example/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read mcp:write\"";
        assert_eq!(
            challenge(Refusal::MissingToken).unwrap(),
            format!("{REALM}{tail}")
        );
        let invalid = challenge(Refusal::InvalidToken(AuthError::Audience)).unwrap();
        assert!(invalid.starts_with("Bearer realm=\"cognigate\", error=\"invalid_token\""));
        assert!(invalid.ends_with(tail), "{invalid}");
        let forbidden = Refusal::Forbidden(Forbidden::WrongIssuer {
            route: "/x".into(),
            required: "main".into(),
        });
        assert_eq!(
            challenge(forbidden).unwrap(),
            format!("{REALM}, error=\"insufficient_scope\"{tail}")
        );
        assert_eq!(challenge(Refusal::NoRoute), None);
    }

    #[test]
    fn challenge_text_is_made_header_safe() {
        assert_eq!(quoted_safe("a \"b\" \\c\n"), "a 'b' 'c'");
    }
}
