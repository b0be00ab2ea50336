//! `[login]`: browser sessions through Cognito managed login.

use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine as _;
use http::Uri;

use super::{Checker, is_token_char};
use crate::config::raw::RawLogin;
use crate::config::{Config, Issuer, LoginSettings, SameSite, Secret, TokenUse};
use crate::policy::{is_valid_host, path};

/// A sealing key needs 256 bits of entropy (AES-256).
const MIN_SECRET_BYTES: usize = 32;

impl Checker {
    pub(super) fn login(&mut self, raw: RawLogin, issuers: &[Issuer]) -> LoginSettings {
        let issuer_idx = self.login_issuer(raw.issuer.as_deref(), issuers);
        let client_id = raw.client_id.unwrap_or_default();
        if client_id.is_empty() {
            self.error("login.client_id", "required");
        } else if let Some(issuer) = issuers.get(issuer_idx)
            && !issuer.client_ids.contains(&client_id)
        {
            self.error(
                "login.client_id",
                format!(
                    "{client_id:?} is not in the client_ids of issuer {:?}: its tokens would be refused",
                    issuer.name
                ),
            );
        }
        let scopes = raw
            .scopes
            .unwrap_or_else(|| ["openid", "email", "profile"].map(str::to_owned).to_vec());
        if !scopes.iter().any(|s| s == "openid") {
            self.error(
                "login.scopes",
                "must include \"openid\": the session needs Cognito's id token",
            );
        }
        if let Some(bad) = scopes.iter().find(|s| {
            s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        }) {
            self.error("login.scopes", format!("not a valid scope: {bad:?}"));
        }
        let callback_path =
            self.login_path("login.callback_path", raw.callback_path, "/oauth2/callback");
        let start_path = self.login_path("login.start_path", raw.start_path, "/oauth2/start");
        let logout_path = self.login_path("login.logout_path", raw.logout_path, "/oauth2/logout");
        if callback_path == start_path || callback_path == logout_path || start_path == logout_path
        {
            self.error(
                "login",
                "callback_path, start_path and logout_path must be three different paths",
            );
        }
        let redirect_url = raw.redirect_url.filter(|url| {
            let ok = self.login_url("login.redirect_url", url, false);
            let path = url.parse::<Uri>().ok().map(|u| u.path().to_owned());
            if ok && path.as_deref() != Some(callback_path.as_str()) {
                self.error(
                    "login.redirect_url",
                    format!("its path must be callback_path ({callback_path}): that is where cognigate answers the callback"),
                );
            }
            ok
        });
        let domain = match raw.domain {
            None => {
                self.error("login.domain", "required: the user pool's domain, e.g. \"https://myapp.auth.eu-west-1.amazoncognito.com\"");
                String::new()
            }
            Some(domain) => {
                let domain = domain.trim_end_matches('/').to_owned();
                if self.login_url("login.domain", &domain, true)
                    && domain.parse::<Uri>().is_ok_and(|u| u.path() != "/")
                {
                    self.error("login.domain", "must be an origin (scheme and host), with no path: the endpoints are <domain>/oauth2/...");
                }
                domain
            }
        };
        let logout_redirect = raw
            .logout_redirect
            .filter(|url| self.login_url("login.logout_redirect", url, false));
        let cookie_name = raw
            .cookie_name
            .unwrap_or_else(|| "cognigate_session".into());
        if cookie_name.is_empty() || !cookie_name.bytes().all(is_token_char) {
            self.error(
                "login.cookie_name",
                format!("not a valid cookie name: {cookie_name:?}"),
            );
        }
        let cookie_secure = raw.cookie_secure.unwrap_or(true);
        let cookie_samesite = match raw.cookie_samesite.as_deref().unwrap_or("lax") {
            "lax" => SameSite::Lax,
            "strict" => SameSite::Strict,
            "none" => SameSite::None,
            other => {
                self.error(
                    "login.cookie_samesite",
                    format!("expected \"lax\", \"strict\" or \"none\", got {other:?}"),
                );
                SameSite::Lax
            }
        };
        if cookie_samesite == SameSite::None && !cookie_secure {
            self.error(
                "login.cookie_samesite",
                "\"none\" requires cookie_secure = true (browsers drop such cookies otherwise)",
            );
        }
        if let Some(domain) = raw.cookie_domain.as_deref()
            && (domain.contains(':') || !is_valid_host(domain))
        {
            self.error(
                "login.cookie_domain",
                format!("expected a host name like \"example.com\", got {domain:?}"),
            );
        }
        LoginSettings {
            issuer_idx,
            domain,
            client_id,
            client_secret: raw
                .client_secret
                .filter(|s| !s.is_empty())
                .map(|s| Secret(s.into_bytes())),
            scopes,
            callback_path,
            redirect_url,
            start_path,
            logout_path,
            logout_redirect,
            cookie_name,
            cookie_secrets: self.cookie_secrets(raw.cookie_secrets),
            cookie_domain: raw.cookie_domain.map(|d| d.to_ascii_lowercase()),
            cookie_secure,
            cookie_samesite,
            session_lifetime: self.positive_duration(
                "login.session_lifetime",
                raw.session_lifetime.as_deref(),
                "12h",
            ),
            pass_access_token: raw.pass_access_token.unwrap_or(false),
        }
    }

    /// Checks that need `listen` and the routes.
    pub(super) fn login_cross_checks(&mut self, login: &LoginSettings, config: &Config) {
        if !login.cookie_secure && !config.listen.ip().is_loopback() {
            self.error(
                "login.cookie_secure",
                "false is allowed only when listen is a loopback address: a session cookie sent over plain HTTP can be stolen",
            );
        }
        if let Some(issuer) = config.issuers.get(login.issuer_idx)
            && !issuer.token_use.contains(&TokenUse::Access)
        {
            self.error(
                "login.issuer",
                format!(
                    "issuer {:?} does not accept access tokens (token_use): sessions are authorized on the access token",
                    issuer.name
                ),
            );
        }
    }

    /// The issuer named by `login.issuer`; with one issuer, the name may be left out.
    fn login_issuer(&mut self, name: Option<&str>, issuers: &[Issuer]) -> usize {
        match name {
            None if issuers.len() == 1 => 0,
            None => {
                self.error(
                    "login.issuer",
                    "required when there is more than one [[issuers]] entry: the name of the one whose tokens sessions hold",
                );
                0
            }
            Some(name) => issuers
                .iter()
                .position(|i| i.name == name)
                .unwrap_or_else(|| {
                    self.error(
                        "login.issuer",
                        format!("no [[issuers]] entry is named {name:?}"),
                    );
                    0
                }),
        }
    }

    fn login_path(&mut self, key: &str, value: Option<String>, default: &str) -> String {
        let text = value.unwrap_or_else(|| default.to_owned());
        let normal = text.starts_with('/')
            && !text.contains(['?', '#'])
            && path::normalize(&text).is_ok_and(|p| p == text.as_str());
        if !normal {
            self.error(
                key,
                format!("expected a normalized absolute path like {default:?}, got {text:?}"),
            );
        }
        text
    }

    /// An absolute `https` URL (or `http` on a loopback host), with a host. `origin`:
    /// what is being checked is the identity provider's domain (named in the message).
    fn login_url(&mut self, key: &str, text: &str, origin: bool) -> bool {
        let Ok(uri) = Uri::from_str(text) else {
            self.error(key, format!("not a valid URL: {text:?}"));
            return false;
        };
        let Some(host) = uri.host() else {
            self.error(
                key,
                format!("expected an absolute URL with a host, got {text:?}"),
            );
            return false;
        };
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match uri.scheme_str() {
            Some("https") => true,
            Some("http") if loopback => true,
            _ => {
                let what = if origin {
                    "the sign-in domain"
                } else {
                    "the URL"
                };
                self.error(
                    key,
                    format!(
                        "{what} must be https:// (http:// only on a loopback host), got {text:?}"
                    ),
                );
                false
            }
        }
    }

    fn cookie_secrets(&mut self, raw: Option<Vec<String>>) -> Vec<Secret> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            self.error(
                "login.cookie_secrets",
                "required: at least one base64 secret of 32 random bytes or more (e.g. `openssl rand -base64 32`)",
            );
            return Vec::new();
        };
        let mut secrets = Vec::with_capacity(raw.len());
        for (i, text) in raw.iter().enumerate() {
            match decode_secret(text) {
                Some(bytes) if bytes.len() >= MIN_SECRET_BYTES => secrets.push(Secret(bytes)),
                Some(bytes) => self.error(
                    format!("login.cookie_secrets[{i}]"),
                    format!(
                        "decodes to {} bytes; at least {MIN_SECRET_BYTES} are needed (e.g. `openssl rand -base64 32`)",
                        bytes.len()
                    ),
                ),
                None => self.error(
                    format!("login.cookie_secrets[{i}]"),
                    "not base64 (standard or URL-safe alphabet)",
                ),
            }
        }
        secrets
    }
}

/// Standard or URL-safe base64, padded or not.
fn decode_secret(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = text.trim();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}
