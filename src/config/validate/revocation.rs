//! `[revocation]`, and the keys it brings elsewhere: `issuers[].api_endpoint` (where the
//! online check sends `GetUser`) and `routes[].max_age` (RFC 9470 freshness).

use std::path::PathBuf;
use std::time::Duration;

use super::Checker;
use crate::config::AuthMode;
use crate::config::RevocationSettings;
use crate::config::raw::{RawIssuer, RawRevocation};

impl Checker {
    pub(super) fn revocation(&mut self, raw: RawRevocation) -> RevocationSettings {
        let file = raw.file.map(|f| {
            if f.trim().is_empty() {
                self.error("revocation.file", "empty: name a file, or remove the key");
            }
            PathBuf::from(f)
        });
        RevocationSettings {
            file,
            admin_api: raw.admin_api.unwrap_or(false),
            online: raw.online.unwrap_or(false),
            online_ttl: self.positive_duration(
                "revocation.online_ttl",
                raw.online_ttl.as_deref(),
                "60s",
            ),
        }
    }

    /// The Cognito JSON API URL of an issuer: `api_endpoint` as written, else
    /// `https://cognito-idp.<region>.amazonaws.com/` when the region is known (from
    /// `region`, or from a Cognito `issuer` URL); `None` for other OIDC issuers.
    pub(super) fn api_endpoint(
        &mut self,
        at: &str,
        raw: &RawIssuer,
        issuer: &str,
    ) -> Option<String> {
        if let Some(url) = &raw.api_endpoint {
            let host = (url.strip_prefix("https://"))
                .or_else(|| url.strip_prefix("http://"))
                .and_then(|rest| rest.split('/').next())
                .filter(|h| !h.is_empty());
            if host.is_none() || url.parse::<http::Uri>().is_err() {
                self.error(
                    format!("{at}.api_endpoint"),
                    format!("expected an http:// or https:// URL with a host, got {url:?}"),
                );
            }
            return Some(url.clone());
        }
        let region = match &raw.region {
            Some(region) => Some(region.as_str()),
            None => region_of(issuer),
        };
        region.map(|r| format!("https://cognito-idp.{r}.amazonaws.com/"))
    }

    /// `routes[].max_age`: only a route that verifies tokens can judge their age.
    pub(super) fn max_age(
        &mut self,
        at: &str,
        value: Option<&str>,
        auth: AuthMode,
    ) -> Option<Duration> {
        let value = value?;
        let path = format!("{at}.max_age");
        let age = self.positive_duration(&path, Some(value), "0s");
        if matches!(auth, AuthMode::Public | AuthMode::Deny) {
            self.error(
                path,
                "a public or deny route verifies no token: max_age cannot apply",
            );
        }
        Some(age)
    }
}

/// The region of a Cognito issuer URL (either format), e.g. `eu-west-1`.
fn region_of(issuer: &str) -> Option<&str> {
    let host = issuer.strip_prefix("https://")?.split('/').next()?;
    let rest =
        (host.strip_prefix("cognito-idp.")).or_else(|| host.strip_prefix("issuer-cognito-idp."))?;
    rest.strip_suffix(".amazonaws.com")
}

#[cfg(test)]
mod tests {
    use super::region_of;

    #[test]
    fn the_region_is_read_from_either_cognito_issuer_format() {
        let original = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab";
        let updated = "https://issuer-cognito-idp.us-east-2.amazonaws.com/us-east-2_Ab";
        assert_eq!(region_of(original), Some("eu-west-1"));
        assert_eq!(region_of(updated), Some("us-east-2"));
        assert_eq!(region_of("https://login.example.com/"), None);
    }
}
