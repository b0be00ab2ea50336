//! `[jwks]` (key set refresh) and `[token]` (where the token is read, how it is cached).

use super::{Checker, is_token_char};
use crate::config::raw::{RawCacheSize, RawJwks, RawToken};
use crate::config::{CacheSize, JwksSettings, TokenSettings};

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
            cache_size: self.cache_size(raw.cache_size),
        }
    }

    fn cache_size(&mut self, raw: Option<RawCacheSize>) -> CacheSize {
        let text = match raw {
            None => return CacheSize::DEFAULT,
            Some(RawCacheSize::Count(n)) => return CacheSize::Entries(n),
            Some(RawCacheSize::Text(text)) => text,
        };
        let size = parse_cache_size(&text);
        if let Some(CacheSize::Bytes(1..MIN_USEFUL_BYTES)) = size {
            self.warn(
                "token.cache_size",
                format!(
                    "{text:?} holds fewer than 100 cached tokens (~700 bytes each): \
                     was a size in MiB, or an entry count, meant?"
                ),
            );
        }
        size.unwrap_or_else(|| {
            self.error(
                "token.cache_size",
                format!(
                    "expected an entry count (100000) or a size like \"64MiB\" \
                     (B, KB, MB, GB, KiB, MiB, GiB), got {text:?}"
                ),
            );
            CacheSize::DEFAULT
        })
    }
}

/// Below this a byte bound holds fewer than ~100 tokens: likely a unit mistaken.
const MIN_USEFUL_BYTES: u64 = 64 * 1024;

/// `"100000"` (a count, as the environment writes one) or a whole number of a unit:
/// `"64MiB"`, `"500 MB"`. `None` when it is neither, or past `u64`.
fn parse_cache_size(text: &str) -> Option<CacheSize> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim_start() {
        "" => return Some(CacheSize::Entries(number)),
        "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(scale).map(CacheSize::Bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_size_is_a_count_or_a_whole_number_of_a_unit() {
        let bytes = |t| {
            parse_cache_size(t).and_then(|s| match s {
                CacheSize::Bytes(b) => Some(b),
                CacheSize::Entries(_) => None,
            })
        };
        assert_eq!(
            parse_cache_size("100000"),
            Some(CacheSize::Entries(100_000))
        );
        assert_eq!(bytes("64MiB"), Some(64 << 20));
        assert_eq!(bytes(" 500 MB "), Some(500_000_000));
        assert_eq!(bytes("1GiB"), Some(1 << 30));
        assert_eq!(bytes("0B"), Some(0));
        for bad in [
            "",
            "MiB",
            "64mib",
            "1.5MiB",
            "-1MiB",
            "64 MiB extra",
            "20000000000GiB",
        ] {
            assert_eq!(parse_cache_size(bad), None, "{bad}");
        }
    }
}
