//! The pure parts of a sign-in: which requests are sent to sign in, the return path a
//! callback may go to, the PKCE pair, and the provider URLs.

use super::session::LoginState;
use crate::config::LoginSettings;
use aws_lc_rs::{digest, rand};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::ACCEPT;
use http::{HeaderMap, Method};

/// Whether a request is a browser navigation, which may be sent to sign in: GET or HEAD,
/// and `Sec-Fetch-Mode: navigate`, or no `Sec-Fetch-Mode` and an `Accept` naming
/// `text/html`. A script's `fetch` or XHR is never one (browsers send `cors`, `no-cors`
/// or `same-origin`), so it gets a 401 it can act on instead of a login page.
pub fn is_navigation(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    match headers.get("sec-fetch-mode") {
        Some(mode) => mode.as_bytes().eq_ignore_ascii_case(b"navigate"),
        None => headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|item| {
                item.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/html"))
            }),
    }
}

/// The path a browser may be sent back to: a same-origin relative path (`/...`), never
/// `//host`, `/\host` (both read as another host by browsers), a scheme, or a control
/// character; anything else is `/`.
pub fn safe_return_path(candidate: &str) -> &str {
    let bytes = candidate.as_bytes();
    let relative = bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !bytes
            .iter()
            .any(|b| b.is_ascii_control() || *b == b'\\' || *b == b' ');
    if relative { candidate } else { "/" }
}

/// A fresh random value: 32 bytes, base64url (the PKCE verifier, `state`, `nonce`).
pub fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// The S256 `code_challenge` of a verifier (RFC 7636 §4.2).
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// `<domain>/oauth2/authorize?...` for a sign-in in `state`; `prompt_login` asks the
/// provider to authenticate the user again (a `max_age` step-up); `resource` (RFC 8707,
/// Cognito's resource binding) asks for access tokens whose `aud` is it.
pub fn authorize_url(
    login: &LoginSettings,
    state: &LoginState,
    prompt_login: bool,
    resource: Option<&str>,
) -> String {
    let scope = login.scopes.join(" ");
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", &login.client_id)
        .append_pair("redirect_uri", &state.redirect_uri)
        .append_pair("scope", &scope)
        .append_pair("state", &state.state)
        .append_pair("nonce", &state.nonce)
        .append_pair("code_challenge", &code_challenge(&state.verifier))
        .append_pair("code_challenge_method", "S256");
    if prompt_login {
        query.append_pair("prompt", "login");
    }
    if let Some(resource) = resource {
        query.append_pair("resource", resource);
    }
    format!("{}/oauth2/authorize?{}", login.domain, query.finish())
}

/// Where the browser goes after its session is cleared: Cognito's `/logout` (which ends
/// the provider's own session, so the next sign-in asks again) back to
/// `logout_redirect`, or `/` when that is unset.
pub fn logout_url(login: &LoginSettings) -> String {
    match &login.logout_redirect {
        Some(back) => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", &login.client_id)
                .append_pair("logout_uri", back)
                .finish();
            format!("{}/logout?{query}", login.domain)
        }
        None => "/".to_owned(),
    }
}

/// The `redirect_uri` for a request to `host` over `scheme`: `redirect_url` when set.
pub fn redirect_uri(login: &LoginSettings, scheme: &str, host: &str) -> String {
    match &login.redirect_url {
        Some(fixed) => fixed.clone(),
        None => format!("{scheme}://{host}{}", login.callback_path),
    }
}

/// The name of a sign-in's state cookie: one per sign-in, so that two tabs signing in
/// at once do not overwrite each other's state.
pub fn state_cookie_name(login: &LoginSettings, state: &str) -> String {
    let tag: String = state.chars().take(12).collect();
    format!("{}_login_{tag}", login.cookie_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn navigations_are_told_from_scripts() {
        let nav = [
            (Method::GET, headers(&[("sec-fetch-mode", "navigate")])),
            (
                Method::HEAD,
                headers(&[("accept", "text/html,application/xhtml+xml;q=0.9")]),
            ),
            (
                Method::GET,
                headers(&[
                    ("accept", "application/json"),
                    ("accept", "Text/HTML; q=0.5"),
                ]),
            ),
        ];
        for (method, h) in nav {
            assert!(is_navigation(&method, &h), "{method} {h:?}");
        }
        let not_nav = [
            (Method::POST, headers(&[("sec-fetch-mode", "navigate")])),
            (
                Method::GET,
                headers(&[("sec-fetch-mode", "cors"), ("accept", "text/html")]),
            ),
            (Method::GET, headers(&[("sec-fetch-mode", "no-cors")])),
            (Method::GET, headers(&[("accept", "*/*")])),
            (
                Method::GET,
                headers(&[("accept", "application/json, text/htmlx")]),
            ),
            (Method::GET, headers(&[])),
        ];
        for (method, h) in not_nav {
            assert!(!is_navigation(&method, &h), "{method} {h:?}");
        }
    }

    #[test]
    fn only_same_origin_relative_paths_are_returned_to() {
        for ok in ["/", "/a/b?c=d", "/a//b", "/%2F%2Fevil"] {
            assert_eq!(safe_return_path(ok), ok);
        }
        for bad in [
            "",
            "//evil",
            "/\\evil",
            "https://evil",
            "evil",
            "/a\\b",
            "/\tx",
            "/a b",
            "\\\\evil",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_return_path(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            code_challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
