//! Cognito (and other OIDC) claims, read into types in one pass over the payload.
//! Unknown claims are ignored, but no key may appear twice (so a second
//! `cognito:groups` cannot win, and every reader of the forwarded payload sees the
//! claims we checked), and every claim we act on has exactly one accepted shape:
//! `cognito:groups` must be an array of strings, `aud` a string or an array of strings
//! (RFC 7519 §4.1.3), and the time claims must be JSON numbers (a string `nbf` is
//! invalid, never "absent").
//!
//! Cognito names the kind of token in `token_use`; other OIDC providers do not, so a
//! token without it is an access token when it names a `client_id` or a `scope`
//! (RFC 9068 §2.2), else an id token. Whether an issuer may omit it is the verifier's
//! call (a Cognito user pool never does).

mod named;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

pub use named::ClaimRef;
use named::Named;

use crate::config::TokenUse;
use crate::identity::{IdentitySource, IdentityValues};
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

/// The verified claims of a Cognito access or id token.
#[derive(Debug, Clone)]
pub struct Claims {
    /// Subject: the user's stable id.
    pub sub: Box<str>,
    /// Issuer URL.
    pub iss: Box<str>,
    /// The kind of token: `token_use` as sent, or derived when absent.
    pub token_use: TokenUse,
    /// `token_use` as sent: "access" or "id"; anything else is invalid.
    pub declared_use: Option<TokenUse>,
    /// Expiry (required).
    pub exp: NumericDate,
    /// Not before.
    pub nbf: Option<NumericDate>,
    /// Issued at.
    pub iat: Option<NumericDate>,
    /// When the user authenticated.
    pub auth_time: Option<NumericDate>,
    /// App client (access tokens).
    pub client_id: Option<Box<str>>,
    /// Audience: the app client of id tokens (Cognito sends one string; OIDC allows
    /// an array).
    pub aud: Vec<String>,
    /// Authorized party: the client an OIDC token was issued to.
    pub azp: Option<Box<str>>,
    /// User name (access tokens).
    pub username: Option<Box<str>>,
    /// User name (id tokens): `cognito:username`.
    pub cognito_username: Option<Box<str>>,
    /// E-mail address (id tokens that carry it).
    pub email: Option<Box<str>>,
    /// Cognito groups (`cognito:groups`); must be an array of strings when present.
    pub groups: Vec<String>,
    /// Space-separated OAuth scopes (access tokens).
    pub scope: Option<Box<str>>,
    /// Token id.
    pub jti: Option<Box<str>>,
    /// Cognito's id of the authentication event the token descends from: every token
    /// refreshed from one sign-in shares it (revocation and the online check key on it).
    pub origin_jti: Option<Box<str>>,
    /// The token's payload segment as received, as the `X-Auth-Claims` value: made a
    /// header value once with the claims, not on every request that forwards a cached
    /// token (~500 bytes); the verifier's shares the token text's allocation.
    payload_b64: HeaderValue,
    /// The app client the token was accepted for (see [`Claims::accept_client`]).
    client: Option<Box<str>>,
    /// The identity headers' values, made once per verified token.
    values: IdentityValues,
    /// The claims the routes' `claims` and `bind` name (see [`Claims::by_name`]).
    named: Named,
}

impl Claims {
    /// Reads claims from the decoded payload; `payload_b64` is the segment it came from
    /// (the verifier's shares the token's bytes). The claims called `names` are kept
    /// besides the typed ones, for [`Claims::by_name`].
    pub(crate) fn parse(
        payload: &[u8],
        payload_b64: HeaderValue,
        names: &Arc<[Box<str>]>,
    ) -> Result<Claims, serde_json::Error> {
        let mut json = serde_json::Deserializer::from_slice(payload);
        let named = Named::new(names);
        let (read, named) = ClaimsVisitor { named }.deserialize(&mut json)?;
        json.end()?;
        let mut claims = read.into_claims(payload_b64, named)?;
        if let Some(why) = claims.unforwardable() {
            return Err(de::Error::custom(why));
        }
        claims.values = IdentityValues::new(
            &claims.sub,
            claims.username(),
            claims.email.as_deref(),
            &claims.groups,
            claims.scope.as_deref(),
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
            .map(|t| &**t)
            .chain(self.aud.iter().map(String::as_str))
            .chain(self.groups.iter().map(String::as_str))
            .chain([&*self.sub]);
        let control = |t: &str| t.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f);
        if texts.into_iter().any(control) {
            return Some("a claim sent in an identity header holds a control character");
        }
        if self.groups.iter().any(|g| g.contains(',')) {
            return Some("a group name holds a comma (X-Auth-Groups is comma-separated)");
        }
        None
    }

    /// The bytes these claims hold in memory, approximately: the struct, the text of
    /// every claim kept, the payload segment and the identity values (what a cache
    /// entry charges against a byte bound; allocator rounding not counted).
    pub(crate) fn memory(&self) -> usize {
        let text = |t: &Option<Box<str>>| t.as_ref().map_or(0, |t| t.len());
        let list = |l: &Vec<String>| {
            l.capacity() * std::mem::size_of::<String>()
                + l.iter().map(String::capacity).sum::<usize>()
        };
        let texts = [
            &self.client_id,
            &self.azp,
            &self.username,
            &self.cognito_username,
        ]
        .into_iter()
        .chain([
            &self.email,
            &self.scope,
            &self.jti,
            &self.origin_jti,
            &self.client,
        ])
        .map(text)
        .sum::<usize>();
        // An `Arc`'s two counts, then the struct.
        2 * std::mem::size_of::<usize>()
            + std::mem::size_of::<Claims>()
            + self.sub.len()
            + self.iss.len()
            + texts
            + list(&self.aud)
            + list(&self.groups)
            + self.payload_b64.len()
            + self.values.memory()
            + self.named.memory()
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
            .map(Box::from);
        let accepted = found.is_some() || client_ids.is_empty();
        self.values.set_client(found.as_deref());
        self.client = found;
        accepted
    }

    /// The identity headers' values (made by [`Claims::parse`] and
    /// [`Claims::accept_client`]).
    pub fn identity_values(&self) -> &IdentityValues {
        &self.values
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
}

impl IdentitySource for Claims {
    fn identity_values(&self) -> &IdentityValues {
        &self.values
    }

    fn token_use(&self) -> TokenUse {
        self.token_use
    }

    fn payload_b64(&self) -> &HeaderValue {
        &self.payload_b64
    }
}

/// The payload's claims as read, before the required ones are checked present.
#[derive(Default)]
struct ClaimsRead {
    sub: Option<Box<str>>,
    iss: Option<Box<str>>,
    declared_use: Option<TokenUse>,
    exp: Option<NumericDate>,
    nbf: Option<NumericDate>,
    iat: Option<NumericDate>,
    auth_time: Option<NumericDate>,
    client_id: Option<Box<str>>,
    aud: Vec<String>,
    azp: Option<Box<str>>,
    username: Option<Box<str>>,
    cognito_username: Option<Box<str>>,
    email: Option<Box<str>>,
    groups: Vec<String>,
    scope: Option<Box<str>>,
    jti: Option<Box<str>>,
    origin_jti: Option<Box<str>>,
}

impl ClaimsRead {
    fn into_claims(
        mut self,
        payload_b64: HeaderValue,
        named: Named,
    ) -> Result<Claims, serde_json::Error> {
        // A read array grows by doubling; a cached token keeps these for its lifetime.
        self.aud.shrink_to_fit();
        self.groups.shrink_to_fit();
        let token_use =
            self.declared_use
                .unwrap_or(if self.client_id.is_some() || self.scope.is_some() {
                    TokenUse::Access
                } else {
                    TokenUse::Id
                });
        Ok(Claims {
            sub: self.sub.ok_or_else(|| de::Error::missing_field("sub"))?,
            iss: self.iss.ok_or_else(|| de::Error::missing_field("iss"))?,
            token_use,
            declared_use: self.declared_use,
            exp: self.exp.ok_or_else(|| de::Error::missing_field("exp"))?,
            nbf: self.nbf,
            iat: self.iat,
            auth_time: self.auth_time,
            client_id: self.client_id,
            aud: self.aud,
            azp: self.azp,
            username: self.username,
            cognito_username: self.cognito_username,
            email: self.email,
            groups: self.groups,
            scope: self.scope,
            jti: self.jti,
            origin_jti: self.origin_jti,
            payload_b64,
            client: None,
            values: IdentityValues::default(),
            named,
        })
    }
}

/// Reads a [`ClaimsRead`], and into `named` the claims it has room for.
struct ClaimsVisitor {
    named: Named,
}

impl<'de> DeserializeSeed<'de> for ClaimsVisitor {
    type Value = (ClaimsRead, Named);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = (ClaimsRead, Named);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims with distinct keys")
    }

    /// Every key is compared unescaped with those before it (a claim set is a dozen or
    /// two keys: a linear scan beats hashing), so `cognito\u003agroups` repeats
    /// `cognito:groups` too. The payload is forwarded whole (`X-Auth-Claims`) and mapped
    /// into headers (`claim_headers`): two readers must never pick different values.
    /// `null` reads as absent where the claim is optional text, as serde does for
    /// `Option`; a date, `token_use`, `aud` or `cognito:groups` must have its shape.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen: Vec<Text<'de>> = Vec::with_capacity(24);
        let mut c = ClaimsRead::default();
        let mut named = self.named;
        while let Some(name) = map.next_key::<Text<'de>>()? {
            if seen.contains(&name) {
                return Err(de::Error::custom(format_args!(
                    "duplicate claim `{}`",
                    name.0
                )));
            }
            match &*name.0 {
                "sub" => c.sub = map.next_value()?,
                "iss" => c.iss = map.next_value()?,
                "token_use" => c.declared_use = Some(map.next_value::<DeclaredUse>()?.0),
                "exp" => c.exp = Some(map.next_value()?),
                "nbf" => c.nbf = Some(map.next_value()?),
                "iat" => c.iat = Some(map.next_value()?),
                "auth_time" => c.auth_time = Some(map.next_value()?),
                "client_id" => c.client_id = map.next_value()?,
                "aud" => c.aud = map.next_value::<Audience>()?.0,
                "azp" => c.azp = map.next_value()?,
                "username" => c.username = map.next_value()?,
                "cognito:username" => c.cognito_username = map.next_value()?,
                "email" => c.email = map.next_value()?,
                "cognito:groups" => c.groups = map.next_value()?,
                "scope" => c.scope = map.next_value()?,
                "jti" => c.jti = map.next_value()?,
                "origin_jti" => c.origin_jti = map.next_value()?,
                other => match named.slot(other) {
                    Some(slot) => *slot = map.next_value()?,
                    None => {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                },
            }
            seen.push(name);
        }
        Ok((c, named))
    }
}

/// A JSON string (a claim's name, `token_use`), borrowed from the payload unless it
/// holds an escape.
#[derive(PartialEq)]
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }
}

/// `token_use`: "access" or "id"; `null` and anything else are refused.
struct DeclaredUse(TokenUse);

impl<'de> Deserialize<'de> for DeclaredUse {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match &*Text::deserialize(deserializer)?.0 {
            "access" => Ok(DeclaredUse(TokenUse::Access)),
            "id" => Ok(DeclaredUse(TokenUse::Id)),
            _ => Err(de::Error::custom("token_use must be access or id")),
        }
    }
}

/// `aud`: one audience string, or an array of them (RFC 7519 §4.1.3).
struct Audience(Vec<String>);

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AudienceVisitor)
    }
}

struct AudienceVisitor;

impl<'de> Visitor<'de> for AudienceVisitor {
    type Value = Audience;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
        Ok(Audience(vec![v.to_owned()]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
        let mut auds = Vec::new();
        while let Some(aud) = seq.next_element()? {
            auds.push(aud);
        }
        Ok(Audience(auds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#""sub":"u","iss":"i","token_use":"access","exp":100"#;

    fn read(json: &str) -> Result<Claims, serde_json::Error> {
        Claims::parse(
            json.as_bytes(),
            HeaderValue::from_static(""),
            &Arc::default(),
        )
    }

    fn parse(extra: &str) -> Result<Claims, serde_json::Error> {
        let json = format!("{{{BASE}{extra}}}");
        Claims::parse(
            json.as_bytes(),
            HeaderValue::from_static("seg"),
            &Arc::default(),
        )
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
    fn a_claim_repeated_under_an_escaped_name_is_refused() {
        let err =
            parse(r#","cognito:groups":["user"],"cognito\u003agroups":["admin"]"#).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
        assert!(parse(r#","x\u0079":1,"xy":2"#).is_err());
    }

    #[test]
    fn escaped_text_reads_as_its_value() {
        let c = parse(r#","cognito\u003agroups":["a"],"scope":"r\u0065ad""#).unwrap();
        assert_eq!(
            (c.groups, c.scope.as_deref()),
            (vec!["a".to_owned()], Some("read"))
        );
        let json = r#"{"sub":"u","iss":"i","token_use":"i\u0064","exp":1}"#;
        let c = read(json).unwrap();
        assert_eq!(c.declared_use, Some(TokenUse::Id));
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
        assert!(read(no_exp).is_err());
        let str_exp = r#"{"sub":"u","iss":"i","token_use":"id","exp":"100"}"#;
        assert!(read(str_exp).is_err());
    }

    #[test]
    fn token_use_is_access_or_id_only() {
        let json = r#"{"sub":"u","iss":"i","token_use":"refresh","exp":1}"#;
        assert!(read(json).is_err());
        let id =
            r#"{"sub":"u","iss":"i","token_use":"id","exp":1,"aud":"c","cognito:username":"n"}"#;
        let mut c = read(id).unwrap();
        assert!(c.accept_client(&["c".into()]));
        assert_eq!((c.client(), c.username()), (Some("c"), Some("n")));
        assert!(!c.accept_client(&["d".into()]));
        assert_eq!(c.client(), None);
    }

    #[test]
    fn claims_the_identity_headers_cannot_carry_are_refused() {
        let sub = r#"{"sub":"u\r\nX-Auth-Groups: admin","iss":"i","exp":1}"#;
        assert!(read(sub).is_err());
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
    fn identity_values_are_the_claims_the_headers_forward() {
        use crate::identity::IdentityValue::{Client, Email, Groups, Scope, Sub, Username};
        let text = |v: Option<HeaderValue>| v.map(|v| v.as_bytes().to_vec());
        let json = r#"{"sub":"u-1","iss":"i","exp":1,"token_use":"id","aud":"app",
            "username":"not-read","cognito:username":"Zoë","email":"z@example.com",
            "cognito:groups":["a","b c"]}"#;
        let mut id = read(json).unwrap();
        let v = id.identity_values();
        assert_eq!(text(v.get(Sub)), Some(b"u-1".to_vec()));
        assert_eq!(text(v.get(Username)), Some("Zoë".as_bytes().to_vec()));
        assert_eq!(text(v.get(Email)), Some(b"z@example.com".to_vec()));
        assert_eq!(text(v.get(Groups)), Some(b"a,b c".to_vec()));
        assert_eq!(text(v.get(Scope)), None);
        assert_eq!(
            text(v.get(Client)),
            None,
            "known only once a client is accepted"
        );
        assert!(id.accept_client(&["app".into()]));
        assert_eq!(
            text(id.identity_values().get(Client)),
            Some(b"app".to_vec())
        );
        assert!(!id.accept_client(&["other".into()]));
        assert_eq!(text(id.identity_values().get(Client)), None);

        let access = parse(r#","username":"ann","cognito:username":"no","scope":"s t""#).unwrap();
        let v = access.identity_values();
        assert_eq!(text(v.get(Username)), Some(b"ann".to_vec()));
        assert_eq!(text(v.get(Scope)), Some(b"s t".to_vec()));
        assert_eq!(text(v.get(Groups)), None);
        assert_eq!(text(v.get(Email)), None);
        // One buffer for the token: the values lie side by side in it.
        let (sub, username) = (v.get(Sub).unwrap(), v.get(Username).unwrap());
        let after_sub = sub.as_bytes().as_ptr().wrapping_add(sub.len());
        assert_eq!(username.as_bytes().as_ptr(), after_sub);
    }

    #[test]
    fn without_token_use_the_kind_is_derived_from_client_id_or_scope() {
        let kind = |extra: &str| {
            let json = format!(r#"{{"sub":"u","iss":"i","exp":1{extra}}}"#);
            let c = read(&json).unwrap();
            assert_eq!(c.declared_use, None);
            c.token_use
        };
        assert_eq!(kind(r#","client_id":"c""#), TokenUse::Access);
        assert_eq!(kind(r#","scope":"read""#), TokenUse::Access);
        assert_eq!(kind(r#","aud":["c"],"azp":"c""#), TokenUse::Id);
    }
}
