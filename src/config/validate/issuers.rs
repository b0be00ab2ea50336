//! `[[issuers]]`: each expected `iss` (explicit, or derived from a Cognito pool), its
//! key set URL, token kinds and algorithms.

use std::collections::HashSet;
use std::str::FromStr;

use jsonwebtoken::Algorithm;

use super::Checker;
use crate::config::raw::RawIssuer;
use crate::config::{Issuer, TokenUse};

impl Checker {
    pub(super) fn issuers(&mut self, raws: &[RawIssuer]) -> Vec<Issuer> {
        let mut names = HashSet::new();
        let mut urls = HashSet::new();
        let mut issuers = Vec::with_capacity(raws.len());
        for (i, raw) in raws.iter().enumerate() {
            let at = format!("issuers[{i}]");
            let issuer = self.issuer(&at, raw);
            if !names.insert(issuer.name.clone()) {
                self.error(
                    format!("{at}.name"),
                    format!("duplicate issuer name {:?}", issuer.name),
                );
            }
            if !issuer.issuer.is_empty() && !urls.insert(issuer.issuer.clone()) {
                self.error(
                    format!("{at}.issuer"),
                    format!("another issuer already has iss {:?}", issuer.issuer),
                );
            }
            issuers.push(issuer);
        }
        issuers
    }

    fn issuer(&mut self, at: &str, raw: &RawIssuer) -> Issuer {
        let name = raw.name.clone().unwrap_or_default();
        if name.is_empty() {
            self.error(format!("{at}.name"), "required");
        }
        let issuer = self.issuer_url(at, raw);
        let jwks_uri = raw
            .jwks_uri
            .clone()
            .unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"));
        if !["http://", "https://", "file://"]
            .iter()
            .any(|s| jwks_uri.starts_with(s))
        {
            self.error(
                format!("{at}.jwks_uri"),
                format!("expected an http://, https:// or file:// URL, got {jwks_uri:?}"),
            );
        }
        if raw.client_ids.is_empty() {
            self.warn(
                format!("{at}.client_ids"),
                "empty: tokens of any app client are accepted",
            );
        }
        let cognito = raw.user_pool_id.is_some() || is_cognito_url(&issuer);
        let api_endpoint = self.api_endpoint(at, raw, &issuer);
        Issuer {
            name,
            issuer,
            jwks_uri,
            client_ids: raw.client_ids.clone(),
            token_use: self.token_uses(&format!("{at}.token_use"), raw.token_use.as_deref(), true),
            algorithms: self.algorithms(at, raw.algorithms.as_deref()),
            cognito,
            api_endpoint,
        }
    }

    /// The expected `iss`: explicit, or derived from region and pool (Cognito).
    fn issuer_url(&mut self, at: &str, raw: &RawIssuer) -> String {
        if let Some(explicit) = &raw.issuer {
            if !explicit.starts_with("https://") && !explicit.starts_with("http://") {
                self.error(
                    format!("{at}.issuer"),
                    format!("expected an https:// URL, got {explicit:?}"),
                );
            }
            return explicit.trim_end_matches('/').to_owned();
        }
        let (Some(region), Some(pool)) = (&raw.region, &raw.user_pool_id) else {
            self.error(
                at.to_owned(),
                "set region and user_pool_id (Cognito), or issuer (any OIDC issuer)",
            );
            return String::new();
        };
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            self.error(
                format!("{at}.region"),
                format!("expected an AWS region like \"us-east-1\", got {region:?}"),
            );
        }
        if pool
            .split_once('_')
            .is_none_or(|(r, id)| r != region || id.is_empty())
        {
            self.error(
                format!("{at}.user_pool_id"),
                format!(
                    "expected \"{region}_<id>\" (the pool's region, '_', its id), got {pool:?}"
                ),
            );
        }
        match raw.issuer_format.as_deref().unwrap_or("original") {
            "original" => format!("https://cognito-idp.{region}.amazonaws.com/{pool}"),
            "updated" => format!("https://issuer-cognito-idp.{region}.amazonaws.com/{pool}"),
            other => {
                self.error(
                    format!("{at}.issuer_format"),
                    format!("expected \"original\" or \"updated\", got {other:?}"),
                );
                String::new()
            }
        }
    }

    pub(super) fn token_uses(
        &mut self,
        path: &str,
        values: Option<&[String]>,
        default_access: bool,
    ) -> Vec<TokenUse> {
        let Some(values) = values else {
            return if default_access {
                vec![TokenUse::Access]
            } else {
                Vec::new()
            };
        };
        if values.is_empty() && default_access {
            self.error(path, "must name at least one of \"access\", \"id\"");
        }
        let mut out = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            match v.as_str() {
                "access" => out.push(TokenUse::Access),
                "id" => out.push(TokenUse::Id),
                other => self.error(
                    format!("{path}[{i}]"),
                    format!("expected \"access\" or \"id\", got {other:?}"),
                ),
            }
        }
        out
    }

    fn algorithms(&mut self, at: &str, values: Option<&[String]>) -> Vec<Algorithm> {
        let Some(values) = values else {
            return vec![Algorithm::RS256];
        };
        if values.is_empty() {
            self.error(
                format!("{at}.algorithms"),
                "must name at least one algorithm",
            );
        }
        let mut out = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let path = format!("{at}.algorithms[{i}]");
            match Algorithm::from_str(v) {
                Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => {
                    self.error(path, format!("{v} is never accepted: a shared secret cannot verify a public issuer's tokens"))
                }
                Ok(alg) => out.push(alg),
                Err(_) => self.error(path, format!("expected an asymmetric JWS algorithm such as \"RS256\", got {v:?} (\"none\" is never accepted)")),
            }
        }
        out
    }
}

/// `https://cognito-idp.{region}.amazonaws.com/{pool}`, in either issuer format.
fn is_cognito_url(issuer: &str) -> bool {
    let host = issuer
        .strip_prefix("https://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("");
    (host.starts_with("cognito-idp.") || host.starts_with("issuer-cognito-idp."))
        && host.ends_with(".amazonaws.com")
}
