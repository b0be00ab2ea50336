//! The verifier's checks, one printed line each, in the verifier's order. Unlike the
//! verifier, which stops at the first failure, every check that can run does, so a user
//! sees all that is wrong with a token at once; the first failure (in the verifier's
//! order) is the one the proxy would report. Without keys the kid and signature are
//! "not checked" and the claims read are unverified.

use crate::config::Issuer;
use crate::jwks::{KeyStore, VerifyKey};
use crate::verify::{AuthError, Claims, MAX_TOKEN_BYTES, UNREADABLE_CLAIMS};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::Deserialize;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

/// The header members the verifier reads, with the same serde rules (a repeated member
/// is refused).
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    crit: Option<serde::de::IgnoredAny>,
}

/// The only claim read before the signature, to choose the issuer.
#[derive(Deserialize)]
struct Iss {
    iss: String,
}

/// What the checks found: one line per check, and the token's claims or the first error.
#[derive(Debug)]
pub struct TokenCheck {
    /// Printable lines, one per check.
    pub lines: Vec<String>,
    /// The issuer index and claims, or the error the proxy would refuse with.
    pub result: Result<(usize, Claims), AuthError>,
}

/// What the checks need from the config, plus the fetched keys when there are any.
pub struct Inputs<'a> {
    /// The configured issuers, in config order (the key store's order).
    pub issuers: &'a [Issuer],
    /// `token.leeway`.
    pub leeway: Duration,
    /// `None`: keys were not fetched, the kid and signature are not checked.
    pub keys: Option<&'a KeyStore>,
    /// Unix seconds.
    pub now: u64,
    /// The claims the verifier reads besides the typed ones (the routes' rules name them).
    pub claim_names: &'a Arc<[Box<str>]>,
}

struct Checker<'a> {
    inputs: &'a Inputs<'a>,
    lines: Vec<String>,
    first: Option<AuthError>,
}

/// Runs every check on `token` that can run.
pub fn check(inputs: &Inputs<'_>, token: &str) -> TokenCheck {
    let mut c = Checker {
        inputs,
        lines: Vec::new(),
        first: None,
    };
    let claims = c.run(token);
    let result = match (c.first, claims) {
        (None, Some(found)) => Ok(found),
        (Some(e), _) => Err(e),
        (None, None) => Err(AuthError::Malformed("token could not be read")),
    };
    TokenCheck {
        lines: c.lines,
        result,
    }
}

impl Checker<'_> {
    fn ok(&mut self, text: String) {
        self.lines.push(format!("  ok           {text}"));
    }

    fn fail(&mut self, text: String, error: AuthError) {
        self.lines.push(format!("  FAIL         {text}: {error}"));
        self.first.get_or_insert(error);
    }

    fn unchecked(&mut self, text: String) {
        self.lines.push(format!("  not checked  {text}"));
    }

    fn run(&mut self, token: &str) -> Option<(usize, Claims)> {
        let segments = self.format(token)?;
        let header = self.header(segments[0]);
        let payload = self.payload(segments[1])?;
        let issuer = self.issuer(&payload);
        if let (Some(idx), Some((alg, kid))) = (issuer, &header) {
            self.key(idx, *alg, kid, token, segments[2]);
        }
        let mut claims = self.claims(&payload, segments[1])?;
        self.times(&claims);
        let idx = issuer?;
        self.token_use(idx, &claims);
        self.client(idx, &mut claims);
        Some((idx, claims))
    }

    fn format<'t>(&mut self, token: &'t str) -> Option<Vec<&'t str>> {
        if token.len() > MAX_TOKEN_BYTES {
            let e = AuthError::Malformed("token larger than 16 KiB");
            self.fail(format!("size: {} bytes", token.len()), e);
            return None;
        }
        let parts: Vec<&str> = token.split('.').collect();
        let what = format!("format: {} bytes, {} segment(s)", token.len(), parts.len());
        if parts.len() != 3 {
            self.fail(
                what,
                AuthError::Malformed("not three dot-separated segments"),
            );
            return None;
        }
        if parts.iter().any(|p| p.is_empty()) {
            self.fail(what, AuthError::Malformed("empty segment"));
            return None;
        }
        self.ok(what);
        Some(parts)
    }

    /// The verifier's header screen: JSON with a string alg, no `crit`, not none/HMAC,
    /// a kid.
    fn header(&mut self, segment: &str) -> Option<(Algorithm, String)> {
        let parsed = decode(segment).and_then(|bytes| {
            serde_json::from_slice::<RawHeader>(&bytes)
                .map_err(|_| AuthError::Malformed("header is not a JSON object with a string alg"))
        });
        let raw = match parsed {
            Ok(raw) => raw,
            Err(e) => {
                self.fail("header".to_owned(), e);
                return None;
            }
        };
        let kid = raw
            .kid
            .as_deref()
            .map_or("(none)".to_owned(), |k| format!("{k:?}"));
        let what = format!("header: alg {:?}, kid {kid}", raw.alg);
        let screened = screen_header(&raw);
        match screened {
            Ok(alg_kid) => {
                self.ok(what);
                Some(alg_kid)
            }
            Err(e) => {
                self.fail(what, e);
                None
            }
        }
    }

    fn payload(&mut self, segment: &str) -> Option<Vec<u8>> {
        match decode(segment) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.fail("payload".to_owned(), e);
                None
            }
        }
    }

    fn issuer(&mut self, payload: &[u8]) -> Option<usize> {
        let Ok(Iss { iss }) = serde_json::from_slice::<Iss>(payload) else {
            let e = AuthError::Malformed("payload is not a JSON object with a string iss");
            self.fail("issuer".to_owned(), e);
            return None;
        };
        let issuers = self.inputs.issuers;
        match issuers.iter().position(|i| i.issuer == iss) {
            Some(idx) => {
                self.ok(format!(
                    "issuer: iss {iss:?} is issuers[{idx}] {:?}",
                    issuers[idx].name
                ));
                Some(idx)
            }
            None => {
                let known: Vec<&str> = issuers.iter().map(|i| i.issuer.as_str()).collect();
                let what = format!("issuer: iss {iss:?} is none of {known:?}");
                self.fail(what, AuthError::WrongIssuer);
                None
            }
        }
    }

    fn key(&mut self, idx: usize, alg: Algorithm, kid: &str, token: &str, signature: &str) {
        let allowed = &self.inputs.issuers[idx].algorithms;
        let Some(keys) = self.inputs.keys else {
            self.unchecked(format!("key: kid {kid:?} (keys not fetched; add --fetch)"));
            self.algorithm_allowed(alg, allowed);
            self.unchecked(
                "signature (add --fetch to verify it against the issuer's JWKS)".to_owned(),
            );
            return;
        };
        let Some(set) = keys.get(idx) else {
            let e = AuthError::IssuerNotReady { issuer_idx: idx };
            self.fail("key: the issuer's JWKS could not be fetched".to_owned(), e);
            return;
        };
        let Some(key) = set.get(kid) else {
            let kids: Vec<&str> = set.kids().collect();
            let what = format!("key: kid {kid:?} is not in the issuer's JWKS {kids:?}");
            self.fail(what, AuthError::UnknownKid { issuer_idx: idx });
            return;
        };
        self.ok(format!("key: kid {kid:?} is in the issuer's JWKS"));
        if alg != key.algorithm || !allowed.contains(&alg) {
            let what = format!("algorithm: {alg:?} (the key's is {:?})", key.algorithm);
            self.fail(what, AuthError::DisallowedAlg);
            return;
        }
        self.ok(format!("algorithm: {alg:?}, the key's own"));
        self.signature(token, signature, key);
    }

    fn algorithm_allowed(&mut self, alg: Algorithm, allowed: &[Algorithm]) {
        let what = format!("algorithm: {alg:?} (issuer allows {allowed:?})");
        if allowed.contains(&alg) {
            self.ok(what);
        } else {
            self.fail(what, AuthError::DisallowedAlg);
        }
    }

    fn signature(&mut self, token: &str, signature: &str, key: &VerifyKey) {
        let signing_input = &token[..token.len() - signature.len() - 1];
        let verified = jsonwebtoken::crypto::verify(
            signature,
            signing_input.as_bytes(),
            &key.key,
            key.algorithm,
        );
        match verified {
            Ok(true) => self.ok("signature: verified with the issuer's key".to_owned()),
            _ => self.fail("signature".to_owned(), AuthError::BadSignature),
        }
    }

    fn claims(&mut self, payload: &[u8], segment: &str) -> Option<Claims> {
        // A segment that decoded as base64url is a valid header value.
        let segment = HeaderValue::from_str(segment).unwrap_or(HeaderValue::from_static(""));
        match Claims::parse(payload, segment, self.inputs.claim_names) {
            Ok(claims) => {
                self.ok(format!(
                    "claims: sub {:?}, token_use {}, groups {:?}, scope {:?}",
                    claims.sub,
                    claims.token_use.as_str(),
                    claims.groups,
                    claims.scope.as_deref().unwrap_or("")
                ));
                Some(claims)
            }
            Err(e) => {
                self.fail(
                    format!("claims ({e})"),
                    AuthError::Malformed(UNREADABLE_CLAIMS),
                );
                None
            }
        }
    }

    /// RFC 7519 §4.1.4-4.1.6 with the configured leeway, as the verifier applies them.
    fn times(&mut self, claims: &Claims) {
        let now = self.inputs.now as f64;
        let leeway = self.inputs.leeway.as_secs_f64();
        let skew = humantime::format_duration(self.inputs.leeway);
        let exp = format!("exp: {} (leeway {skew})", relative(claims.exp.0, now));
        if claims.exp.0 + leeway <= now {
            self.fail(exp, AuthError::Expired);
        } else {
            self.ok(exp);
        }
        for (name, date) in [("nbf", claims.nbf), ("iat", claims.iat)] {
            let Some(date) = date else {
                self.ok(format!("{name}: absent"));
                continue;
            };
            let what = format!("{name}: {}", relative(date.0, now));
            if date.0 > now + leeway {
                self.fail(what, AuthError::NotYetValid(name));
            } else {
                self.ok(what);
            }
        }
    }

    fn token_use(&mut self, idx: usize, claims: &Claims) {
        let issuer = &self.inputs.issuers[idx];
        let accepted: Vec<&str> = issuer.token_use.iter().map(|t| t.as_str()).collect();
        let derived = if claims.declared_use.is_none() {
            " (no token_use claim: derived)"
        } else {
            ""
        };
        let what = format!(
            "token_use: {}{derived} (issuer {:?} accepts {accepted:?})",
            claims.token_use.as_str(),
            issuer.name
        );
        if issuer.cognito && claims.declared_use.is_none() {
            self.fail(what, AuthError::Malformed("token_use is missing"));
        } else if issuer.token_use.contains(&claims.token_use) {
            self.ok(what);
        } else {
            self.fail(what, AuthError::WrongTokenUse(claims.token_use));
        }
    }

    fn client(&mut self, idx: usize, claims: &mut Claims) {
        let issuer = &self.inputs.issuers[idx];
        let field = match claims.declared_use {
            Some(crate::config::TokenUse::Access) => "client_id",
            Some(crate::config::TokenUse::Id) => "aud",
            None => "client_id / azp / aud",
        };
        let accepted = claims.accept_client(&issuer.client_ids);
        let what = format!(
            "client: {field} {:?} (issuer accepts {:?})",
            (claims.client()).or(claims.clients().next()).unwrap_or(""),
            issuer.client_ids
        );
        if accepted {
            self.ok(what);
        } else {
            self.fail(what, AuthError::WrongClient);
        }
    }
}

fn decode(segment: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed("segment is not base64url"))
}

/// The verifier's order: `crit`, then the algorithm, then the kid.
fn screen_header(raw: &RawHeader) -> Result<(Algorithm, String), AuthError> {
    if raw.crit.is_some() {
        return Err(AuthError::Malformed("header has critical extensions"));
    }
    let alg = Algorithm::from_str(&raw.alg).map_err(|_| AuthError::DisallowedAlg)?;
    if alg.family() == AlgorithmFamily::Hmac {
        return Err(AuthError::DisallowedAlg);
    }
    let kid = raw
        .kid
        .clone()
        .ok_or(AuthError::Malformed("header has no kid"))?;
    Ok((alg, kid))
}

/// "in 59m 58s", "2h 3s ago" or "now" (whole seconds).
fn relative(at: f64, now: f64) -> String {
    let seconds = |d: f64| Duration::from_secs(d.abs().min(1e12) as u64);
    if (at - now).abs() < 1.0 {
        "now".to_owned()
    } else if at > now {
        format!("in {}", humantime::format_duration(seconds(at - now)))
    } else {
        format!("{} ago", humantime::format_duration(seconds(now - at)))
    }
}
