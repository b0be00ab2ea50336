//! `[jwks]` (key set refresh) and `[token]` (where the token is read, how it is cached).

use super::{Checker, is_token_char};
use crate::config::raw::{RawJwks, RawToken};
use crate::config::{JwksSettings, TokenSettings};

impl Checker {
    pub(super) fn jwks(&mut self, raw: &RawJwks) -> JwksSettings {
        JwksSettings {
            refresh_interval: self.positive_duration(
                "jwks.refresh_interval",
                raw.refresh_interval.as_deref(),
                "15m",
            ),
            min_refetch_interval: self.duration(
                "jwks.min_refetch_interval",
                raw.min_refetch_interval.as_deref(),
                "30s",
            ),
            fetch_timeout: self.positive_duration(
                "jwks.fetch_timeout",
                raw.fetch_timeout.as_deref(),
                "5s",
            ),
        }
    }

    pub(super) fn token(&mut self, raw: RawToken) -> TokenSettings {
        for (i, name) in raw.cookies.iter().enumerate() {
            if name.is_empty() || !name.bytes().all(is_token_char) {
                self.error(
                    format!("token.cookies[{i}]"),
                    format!("not a valid cookie name: {name:?}"),
                );
            }
        }
        TokenSettings {
            leeway: self.duration("token.leeway", raw.leeway.as_deref(), "60s"),
            cookies: raw.cookies,
            amplify_cookies: raw.amplify_cookies.unwrap_or(false),
            strip_authorization: raw.strip_authorization.unwrap_or(false),
            cache_size: usize::try_from(raw.cache_size.unwrap_or(100_000)).unwrap_or(usize::MAX),
        }
    }
}
