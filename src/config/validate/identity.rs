//! `[identity]`: the identity headers' prefix and the claims mapped onto headers.

use std::str::FromStr;

use http::HeaderName;

use super::{Checker, is_token_char};
use crate::config::IdentitySettings;
use crate::config::raw::RawIdentity;

/// Header names cognigate sets or that carry hop-by-hop meaning: a claim header may not
/// reuse them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "authorization",
    "cookie",
    "connection",
    "content-length",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-request-id",
];

impl Checker {
    pub(super) fn identity(&mut self, raw: RawIdentity) -> IdentitySettings {
        let prefix = raw.header_prefix.unwrap_or_else(|| "X-Auth-".to_owned());
        if prefix.len() < 2 || !prefix.bytes().all(is_token_char) {
            self.error(
                "identity.header_prefix",
                format!("expected a header name prefix like \"X-Auth-\", got {prefix:?}"),
            );
        } else if !prefix.ends_with(['-', '_']) {
            self.warn(
                "identity.header_prefix",
                format!("{prefix:?} has no trailing \"-\": the headers sent are named like \"{prefix}Sub\""),
            );
        }
        let mut claim_headers = Vec::new();
        for (claim, header) in raw.claim_headers {
            let path = format!("identity.claim_headers.{claim:?}");
            match HeaderName::from_str(&header) {
                Ok(name) if RESERVED_HEADERS.contains(&name.as_str()) => self.error(
                    path,
                    format!("{header:?} is a header cognigate manages itself"),
                ),
                Ok(name) => claim_headers.push((claim, name)),
                Err(_) => self.error(path, format!("not a valid header name: {header:?}")),
            }
        }
        IdentitySettings {
            header_prefix: prefix,
            claims_header: raw.claims_header.unwrap_or(true),
            claim_headers,
        }
    }
}
