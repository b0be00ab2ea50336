//! Splitting compact JWS text (RFC 7515 §7.1) and reading its protected header, before
//! anything is trusted.

use std::borrow::Cow;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::Deserialize;

use super::AuthError;
use super::trace::{Step, Trace, traced};

/// Longest token accepted; anything longer is refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The three segments of a compact JWS, still encoded.
#[derive(Debug)]
pub(crate) struct Segments<'a> {
    pub header: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'a str,
}

/// The header members we act on, read into types (RFC 7515 §4.1).
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    #[serde(rename = "typ")]
    _typ: Option<String>,
    /// Any critical extension is one we do not understand (RFC 7515 §4.1.11).
    crit: Option<serde::de::IgnoredAny>,
}

/// A header that passed the algorithm screen.
#[derive(Debug)]
pub(crate) struct Header {
    pub alg: Algorithm,
    pub kid: String,
}

/// The only claim read before the signature is checked, to choose the issuer.
#[derive(Deserialize)]
struct UnverifiedIss<'a> {
    #[serde(borrow)]
    iss: Cow<'a, str>,
}

/// Exactly three non-empty segments.
pub(crate) fn split(token: &str) -> Result<Segments<'_>, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed("not three dot-separated segments"));
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(AuthError::Malformed("empty segment"));
    }
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(Segments {
        header,
        payload,
        signature,
        signing_input,
    })
}

/// Decodes one segment; unpadded base64url only, as RFC 7515 §2 requires.
pub(crate) fn decode(segment: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed("segment is not base64url"))
}

/// Parses the header and refuses `none`, unknown and HMAC algorithms outright: this
/// verifier holds only public keys, so a symmetric algorithm can only be an attack.
/// Reports the header, as sent, to `trace`.
pub(crate) fn header<T: Trace>(segment: &str, trace: &mut T) -> Result<Header, AuthError> {
    let raw = decode(segment).and_then(|bytes| {
        serde_json::from_slice::<RawHeader>(&bytes)
            .map_err(|_| AuthError::Malformed("header is not a JSON object with a string alg"))
    });
    let raw = match raw {
        Ok(raw) => raw,
        Err(e) => {
            trace.verify_step(
                Step::Header {
                    alg: None,
                    kid: None,
                },
                Err(e),
            );
            return Err(e);
        }
    };
    let step = Step::Header {
        alg: Some(&raw.alg),
        kid: raw.kid.as_deref(),
    };
    let alg = screen(&raw);
    traced(trace, step, alg.map(|_| ()))?;
    Ok(Header {
        alg: alg?,
        kid: raw.kid.ok_or(NO_KID)?,
    })
}

const NO_KID: AuthError = AuthError::Malformed("header has no kid");

/// `crit`, then the algorithm, then the kid.
fn screen(raw: &RawHeader) -> Result<Algorithm, AuthError> {
    if raw.crit.is_some() {
        return Err(AuthError::Malformed("header has critical extensions"));
    }
    let alg = Algorithm::from_str(&raw.alg).map_err(|_| AuthError::DisallowedAlg)?;
    if alg.family() == AlgorithmFamily::Hmac {
        return Err(AuthError::DisallowedAlg);
    }
    match raw.kid {
        Some(_) => Ok(alg),
        None => Err(NO_KID),
    }
}

/// Reads `iss` from the (not yet verified) payload, only to pick the issuer.
pub(crate) fn unverified_iss(payload: &[u8]) -> Result<Cow<'_, str>, AuthError> {
    serde_json::from_slice::<UnverifiedIss<'_>>(payload)
        .map(|p| p.iss)
        .map_err(|_| AuthError::Malformed("payload is not a JSON object with a string iss"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testkit::b64;

    #[test]
    fn split_requires_three_non_empty_segments() {
        let s = split("a.b.c").unwrap();
        assert_eq!(
            (s.header, s.payload, s.signature, s.signing_input),
            ("a", "b", "c", "a.b")
        );
        for bad in ["a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "", "abc"] {
            assert!(matches!(split(bad), Err(AuthError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn padded_or_non_base64url_segments_are_malformed() {
        for bad in ["eyJ=", "ab+/", "a b", "%%%"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_algorithm_screen() {
        let h = |json: &str| header(&b64(json), &mut ());
        assert_eq!(
            h(r#"{"alg":"RS256","kid":"k"}"#).unwrap().alg,
            Algorithm::RS256
        );
        for alg in ["none", "None", "HS256", "HS512", "XY999", ""] {
            let json = format!(r#"{{"alg":"{alg}","kid":"k"}}"#);
            assert_eq!(h(&json).unwrap_err(), AuthError::DisallowedAlg, "{alg}");
        }
        for bad in [
            r#"{"kid":"k"}"#,
            r#"{"alg":5}"#,
            r#"{"alg":"RS256"}"#,
            "[]",
            "x",
        ] {
            assert!(matches!(h(bad), Err(AuthError::Malformed(_))), "{bad}");
        }
        let crit = r#"{"alg":"RS256","kid":"k","crit":["exp"]}"#;
        assert!(matches!(h(crit), Err(AuthError::Malformed(_))));
        let dup = r#"{"alg":"RS256","alg":"none","kid":"k"}"#;
        assert!(matches!(h(dup), Err(AuthError::Malformed(_))));
    }
}
