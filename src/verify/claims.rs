//! Cognito (and other OIDC) claims, read into types. Unknown claims are ignored, but
//! every claim we act on has exactly one accepted shape: serde's derive refuses a
//! repeated key (so a second `cognito:groups` cannot win), `cognito:groups` must be an
//! array of strings, `aud` a string or an array of strings (RFC 7519 §4.1.3), and the
//! time claims must be JSON numbers (a string `nbf` is invalid, never "absent").
//!
//! Cognito names the kind of token in `token_use`; other OIDC providers do not, so a
//! token without it is an access token when it names a `client_id` or a `scope`
//! (RFC 9068 §2.2), else an id token. Whether an issuer may omit it is the verifier's
//! call (a Cognito user pool never does).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::config::TokenUse;
use http::HeaderValue;

/// Why a token whose claims [`Claims::parse`] refused is invalid.
pub const UNREADABLE_CLAIMS: &str =
    "claims do not have the expected types, repeat a key, or cannot be forwarded";

/// A JSON numeric date (RFC 7519 §2): seconds since the epoch, integer or fractional.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
pub struct NumericDate(pub f64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NumericDateVisitor)
    }
}

struct NumericDateVisitor;

impl Visitor<'_> for NumericDateVisitor {
    type Value = NumericDate;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON number of seconds since the epoch")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumericDate, E> {
        Ok(NumericDate(v as f64))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
        Ok(NumericDate(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumericDate, E> {
        Ok(NumericDate(v))
    }
}

fn no_payload() -> HeaderValue {
    HeaderValue::from_static("")
}

/// The verified claims of a Cognito access or id token.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// Subject: the user's stable id.
    pub sub: String,
    /// Issuer URL.
    pub iss: String,
    /// The kind of token: `token_use` as sent, or derived when absent.
    #[serde(skip, default = "access")]
    pub token_use: TokenUse,
    /// `token_use` as sent: "access" or "id"; anything else is invalid.
    #[serde(rename = "token_use", default, deserialize_with = "some_token_use")]
    pub declared_use: Option<TokenUse>,
    /// Expiry (required).
    pub exp: NumericDate,
    /// Not before.
    #[serde(default, deserialize_with = "some_date")]
    pub nbf: Option<NumericDate>,
    /// Issued at.
    #[serde(default, deserialize_with = "some_date")]
    pub iat: Option<NumericDate>,
    /// When the user authenticated.
    #[serde(default, deserialize_with = "some_date")]
    pub auth_time: Option<NumericDate>,
    /// App client (access tokens).
    pub client_id: Option<String>,
    /// Audience: the app client of id tokens (Cognito sends one string; OIDC allows
    /// an array).
    #[serde(default, deserialize_with = "audience")]
    pub aud: Vec<String>,
    /// Authorized party: the client an OIDC token was issued to.
    pub azp: Option<String>,
    /// User name (access tokens).
    pub username: Option<String>,
    /// User name (id tokens).
    #[serde(rename = "cognito:username")]
    pub cognito_username: Option<String>,
    /// E-mail address (id tokens that carry it).
    pub email: Option<String>,
    /// Cognito groups; must be an array of strings when present.
    #[serde(rename = "cognito:groups", default)]
    pub groups: Vec<String>,
    /// Space-separated OAuth scopes (access tokens).
    pub scope: Option<String>,
    /// Token id.
    pub jti: Option<String>,
    /// The token's payload segment as received, as the `X-Auth-Claims` value: made a
    /// header value (checked and copied) once with the claims, not on every request
    /// that forwards a cached token (~500 bytes).
    #[serde(skip, default = "no_payload")]
    payload_b64: HeaderValue,
    /// The app client the token was accepted for (see [`Claims::accept_client`]).
    #[serde(skip)]
    client: Option<String>,
}

impl Claims {
    /// Reads claims from the decoded payload; `payload_b64` is the segment it came from.
    pub(crate) fn parse(payload: &[u8], payload_b64: &str) -> Result<Claims, serde_json::Error> {
        serde_json::from_slice::<UniqueKeys>(payload)?;
        let mut claims: Claims = serde_json::from_slice(payload)?;
        claims.payload_b64 = HeaderValue::from_str(payload_b64).map_err(de::Error::custom)?;
        if let Some(why) = claims.unforwardable() {
            return Err(de::Error::custom(why));
        }
        claims.token_use = claims.declared_use.unwrap_or(
            if claims.client_id.is_some() || claims.scope.is_some() {
                TokenUse::Access
            } else {
                TokenUse::Id
            },
        );
        Ok(claims)
    }

    /// Why a claim the identity headers carry could not be forwarded as it is: a control
    /// character (no header value may hold one, and the header would go missing from a
    /// verified request), or a comma in a group name (`X-Auth-Groups` would read it as
    /// two groups).
    fn unforwardable(&self) -> Option<&'static str> {
        let texts = [&self.client_id, &self.azp, &self.username]
            .into_iter()
            .chain([&self.cognito_username, &self.email, &self.scope])
            .flatten()
            .chain(&self.aud)
            .chain(&self.groups)
            .chain([&self.sub]);
        let control = |t: &String| t.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f);
        if texts.into_iter().any(control) {
            return Some("a claim sent in an identity header holds a control character");
        }
        if self.groups.iter().any(|g| g.contains(',')) {
            return Some("a group name holds a comma (X-Auth-Groups is comma-separated)");
        }
        None
    }

    /// The user name: `username` of access tokens, `cognito:username` of id tokens.
    pub fn username(&self) -> Option<&str> {
        match self.token_use {
            TokenUse::Access => self.username.as_deref(),
            TokenUse::Id => self.cognito_username.as_deref(),
        }
    }

    /// The app client the token was accepted for (`X-Auth-Client-Id`).
    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }

    /// Whether the token names one of `client_ids` (any client when empty) as its
    /// client: `client_id` of a Cognito access token, `aud` of a Cognito id token, and
    /// for a token without `token_use`, any of `client_id`, `azp` and `aud` (one of
    /// several `aud` values will do). Records the client found for [`Claims::client`].
    pub fn accept_client(&mut self, client_ids: &[String]) -> bool {
        let found = self
            .clients()
            .find(|c| client_ids.is_empty() || client_ids.iter().any(|id| id == c))
            .map(str::to_owned);
        let accepted = found.is_some() || client_ids.is_empty();
        self.client = found;
        accepted
    }

    /// The client claims [`Claims::accept_client`] looks at, in order.
    pub fn clients(&self) -> impl Iterator<Item = &str> {
        let (client_id, azp, aud) = match self.declared_use {
            Some(TokenUse::Access) => (self.client_id.as_deref(), None, &[][..]),
            Some(TokenUse::Id) => (None, None, &self.aud[..]),
            None => (
                self.client_id.as_deref(),
                self.azp.as_deref(),
                &self.aud[..],
            ),
        };
        client_id
            .into_iter()
            .chain(azp)
            .chain(aud.iter().map(String::as_str))
    }

    /// The `X-Auth-Claims` value: the verified payload, base64url without padding, exactly
    /// as the token carried it (the decoder accepts only canonical unpadded base64url, so
    /// this is the encoding of the verified JSON bytes).
    pub fn payload_b64(&self) -> &HeaderValue {
        &self.payload_b64
    }

    /// Any claim as header text (for `[identity.claim_headers]`): strings as they are,
    /// numbers and booleans in JSON form, arrays of those comma-joined; objects and
    /// absent claims give `None`. Re-reads the verified payload, so it costs a parse:
    /// only configured claim headers call it.
    pub fn claim_text(&self, name: &str) -> Option<String> {
        use base64::Engine;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(self.payload_b64.as_bytes())
            .ok()?;
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&json).ok()?;
        scalar_text(map.get(name)?).or_else(|| match map.get(name)? {
            serde_json::Value::Array(items) => {
                let parts: Option<Vec<String>> = items.iter().map(scalar_text).collect();
                parts.map(|p| p.join(","))
            }
            _ => None,
        })
    }
}

fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A payload object whose top-level keys are all distinct. The typed read above refuses
/// a repeated claim it knows; this refuses a repeated claim of any name, since the
/// payload is forwarded whole (`X-Auth-Claims`) and mapped into headers
/// (`claim_headers`), and two readers must never pick different values of one claim.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with distinct keys")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        // Claim sets are small (a dozen or two keys): a linear scan beats hashing here.
        let mut seen: Vec<std::borrow::Cow<'de, str>> = Vec::with_capacity(24);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format_args!("duplicate claim `{key}`")));
            }
            map.next_value::<de::IgnoredAny>()?;
            seen.push(key);
        }
        Ok(UniqueKeys)
    }
}

fn access() -> TokenUse {
    TokenUse::Access
}

/// Present means "access" or "id": `null` and anything else are refused.
fn some_token_use<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TokenUse>, D::Error> {
    match <&str>::deserialize(deserializer)? {
        "access" => Ok(Some(TokenUse::Access)),
        "id" => Ok(Some(TokenUse::Id)),
        _ => Err(de::Error::custom("token_use must be access or id")),
    }
}

/// One audience string, or an array of them (RFC 7519 §4.1.3).
fn audience<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Audience {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Audience::deserialize(deserializer)? {
        Audience::One(aud) => vec![aud],
        Audience::Many(auds) => auds,
    })
}

/// Present means a number: `null`, strings and booleans are refused, not read as absent.
fn some_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<NumericDate>, D::Error> {
    NumericDate::deserialize(deserializer).map(Some)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const BASE: &str = r#""sub":"u","iss":"i","token_use":"access","exp":100"#;

    fn parse(extra: &str) -> Result<Claims, serde_json::Error> {
        let json = format!("{{{BASE}{extra}}}");
        Claims::parse(json.as_bytes(), "seg")
    }

    #[test]
    fn reads_typed_claims_and_ignores_unknown_ones() {
        let c = parse(r#","cognito:groups":["a","b"],"nbf":1.5,"iat":-3,"x":{"y":1}"#).unwrap();
        assert_eq!(c.groups, ["a", "b"]);
        assert_eq!(c.nbf, Some(NumericDate(1.5)));
        assert_eq!(c.iat, Some(NumericDate(-3.0)));
        assert_eq!(c.payload_b64(), "seg");
        assert!(parse("").unwrap().groups.is_empty());
    }

    #[test]
    fn a_duplicate_claim_of_any_name_is_refused() {
        assert!(parse(r#","custom:tenant_id":"a","custom:tenant_id":"b""#).is_err());
        assert!(parse(r#","custom:tenant_id":"a","other":{"x":1,"y":2}"#).is_ok());
    }

    #[test]
    fn duplicate_cognito_groups_is_refused() {
        let err = parse(r#","cognito:groups":["user"],"cognito:groups":["admin"]"#).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
        assert!(parse(r#","sub":"other""#).is_err());
    }

    #[test]
    fn wrongly_typed_claims_are_refused() {
        for bad in [
            r#","cognito:groups":"admin""#,
            r#","cognito:groups":[1]"#,
            r#","cognito:groups":null"#,
            r#","nbf":"0""#,
            r#","nbf":null"#,
            r#","iat":true"#,
            r#","auth_time":"1""#,
            r#","aud":["c",1]"#,
            r#","aud":null"#,
            r#","azp":["c"]"#,
            r#","token_use":null"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exp_is_required_and_numeric() {
        let no_exp = r#"{"sub":"u","iss":"i","token_use":"id"}"#;
        assert!(Claims::parse(no_exp.as_bytes(), "").is_err());
        let str_exp = r#"{"sub":"u","iss":"i","token_use":"id","exp":"100"}"#;
        assert!(Claims::parse(str_exp.as_bytes(), "").is_err());
    }

    #[test]
    fn token_use_is_access_or_id_only() {
        let json = r#"{"sub":"u","iss":"i","token_use":"refresh","exp":1}"#;
        assert!(Claims::parse(json.as_bytes(), "").is_err());
        let id =
            r#"{"sub":"u","iss":"i","token_use":"id","exp":1,"aud":"c","cognito:username":"n"}"#;
        let mut c = Claims::parse(id.as_bytes(), "").unwrap();
        assert!(c.accept_client(&["c".into()]));
        assert_eq!((c.client(), c.username()), (Some("c"), Some("n")));
        assert!(!c.accept_client(&["d".into()]));
        assert_eq!(c.client(), None);
    }

    #[test]
    fn claims_the_identity_headers_cannot_carry_are_refused() {
        let sub = r#"{"sub":"u\r\nX-Auth-Groups: admin","iss":"i","exp":1}"#;
        assert!(Claims::parse(sub.as_bytes(), "").is_err());
        for bad in [
            r#","username":"a\u0000b""#,
            r#","email":"e\u007f""#,
            r#","aud":["c","d\ne"]"#,
            r#","cognito:groups":["x,admin"]"#,
        ] {
            let err = parse(bad)
                .err()
                .unwrap_or_else(|| panic!("accepted: {bad}"));
            let err = err.to_string();
            assert!(
                err.contains("identity header") || err.contains("comma"),
                "{err}"
            );
        }
        assert!(parse(r#","cognito:groups":["Équipe café"],"scope":"a\tb""#).is_ok());
    }

    #[test]
    fn without_token_use_the_kind_is_derived_from_client_id_or_scope() {
        let kind = |extra: &str| {
            let json = format!(r#"{{"sub":"u","iss":"i","exp":1{extra}}}"#);
            let c = Claims::parse(json.as_bytes(), "").unwrap();
            assert_eq!(c.declared_use, None);
            c.token_use
        };
        assert_eq!(kind(r#","client_id":"c""#), TokenUse::Access);
        assert_eq!(kind(r#","scope":"read""#), TokenUse::Access);
        assert_eq!(kind(r#","aud":["c"],"azp":"c""#), TokenUse::Id);
    }
}
