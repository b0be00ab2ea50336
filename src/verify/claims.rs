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

use named::Named;

use bytes::Bytes;
use http::HeaderValue;

use crate::config::TokenUse;
use crate::identity::{IdentitySource, IdentityValue};
use crate::policy::Items;

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

/// The verified claims of a Cognito access or id token, held compactly: a cached token
/// keeps them for its lifetime (~675 bytes in all per cached 900-byte Cognito access
/// token, benches/RESULTS.md).
///
/// `text` is the payload JSON exactly as verified, followed by the claim texts it does
/// not hold verbatim (a string with an escape, unescaped; `cognito:groups` joined by
/// commas, `aud` by newlines, when there are several). Every text claim is a [`Span`]
/// of it, so the payload is held once, and an identity header's value is a slice of it
/// (a counted reference, no copy per request).
#[derive(Debug, Clone)]
pub struct Claims {
    text: Bytes,
    spans: [Span; Field::COUNT],
    /// The kind of token: `token_use` as sent, or derived when absent.
    token_use: TokenUse,
    /// `token_use` as sent: "access" or "id"; anything else is invalid.
    declared_use: Option<TokenUse>,
    exp: NumericDate,
    /// `nbf`, `iat` and `auth_time`, NaN when absent: JSON has no NaN, so no token sends
    /// one, and a cached token keeps 24 bytes instead of 48.
    dates: [f64; 3],
    /// The claims the routes' `claims` and `bind` name (see [`Claims::by_name`]); `None`
    /// when they name none.
    named: Option<Box<Named>>,
}

/// The text claims, each a [`Span`] of [`Claims::text`].
#[derive(Debug, Clone, Copy)]
enum Field {
    /// The payload JSON: always `0..` its length.
    Payload,
    Sub,
    Iss,
    ClientId,
    /// Newline-joined when there are several (no accepted `aud` holds a control character).
    Aud,
    Azp,
    /// `username` (access tokens).
    Username,
    /// `cognito:username` (id tokens).
    CognitoUsername,
    Email,
    /// Comma-joined when there are several (no accepted group name holds a comma).
    Groups,
    Scope,
    Jti,
    /// Cognito's id of the authentication event the token descends from: every token
    /// refreshed from one sign-in shares it (revocation and the online check key on it).
    OriginJti,
    /// The app client the token was accepted for (see [`Claims::accept_client`]): a span
    /// of `client_id`, `azp` or one `aud`.
    Client,
}

impl Field {
    const COUNT: usize = Field::Client as usize + 1;
}

/// Where a text lies in [`Claims::text`]. A token is at most 16 KiB, so `u16` offsets
/// hold it (the texts appended are never longer than the payload they come from).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u16,
    end: u16,
}

impl Span {
    /// An absent claim: `start > end`, so it is no range of the text.
    const ABSENT: Span = Span { start: 1, end: 0 };

    fn new(start: usize, end: usize) -> Option<Span> {
        Some(Span {
            start: u16::try_from(start).ok()?,
            end: u16::try_from(end).ok()?,
        })
    }

    fn range(self) -> std::ops::Range<usize> {
        usize::from(self.start)..usize::from(self.end)
    }
}

/// Where `part` lies in `whole`, when it is a slice of it.
fn offset_in(whole: &[u8], part: &str) -> Option<usize> {
    let at = part.as_ptr().addr().checked_sub(whole.as_ptr().addr())?;
    let end = at.checked_add(part.len())?;
    (whole.get(at..end) == Some(part.as_bytes())).then_some(at)
}

impl Claims {
    /// Reads claims from the decoded payload. The claims called `names` are kept besides
    /// the typed ones, for [`Claims::by_name`].
    pub(crate) fn parse(
        payload: &[u8],
        names: &Arc<[Box<str>]>,
    ) -> Result<Claims, serde_json::Error> {
        let mut json = serde_json::Deserializer::from_slice(payload);
        let named = (!names.is_empty()).then(|| Named::new(names));
        let (read, named) = ClaimsVisitor { named }.deserialize(&mut json)?;
        json.end()?;
        if let Some(why) = read.unforwardable() {
            return Err(de::Error::custom(why));
        }
        read.into_claims(payload, named.map(Box::new))
    }

    /// The text of `field`, when the token has it.
    fn text(&self, field: Field) -> Option<&str> {
        let span = self.spans.get(field as usize)?;
        std::str::from_utf8(self.text.get(span.range())?).ok()
    }

    /// The items of the list `field`, joined by `separator`.
    fn items(&self, field: Field, separator: char) -> Items<'_> {
        self.text(field)
            .map_or(Items::NONE, |text| Items::Joined(text, separator))
    }

    /// Subject: the user's stable id.
    pub fn sub(&self) -> &str {
        self.text(Field::Sub).unwrap_or_default()
    }

    /// Issuer URL.
    pub fn iss(&self) -> &str {
        self.text(Field::Iss).unwrap_or_default()
    }

    /// The kind of token: `token_use` as sent, or derived when absent.
    pub fn token_use(&self) -> TokenUse {
        self.token_use
    }

    /// `token_use` as sent.
    pub fn declared_use(&self) -> Option<TokenUse> {
        self.declared_use
    }

    /// Expiry (required).
    pub fn exp(&self) -> NumericDate {
        self.exp
    }

    fn date(&self, at: usize) -> Option<NumericDate> {
        let date = *self.dates.get(at)?;
        (!date.is_nan()).then_some(NumericDate(date))
    }

    /// Not before.
    pub fn nbf(&self) -> Option<NumericDate> {
        self.date(0)
    }

    /// Issued at.
    pub fn iat(&self) -> Option<NumericDate> {
        self.date(1)
    }

    /// When the user authenticated.
    pub fn auth_time(&self) -> Option<NumericDate> {
        self.date(2)
    }

    /// App client (access tokens).
    pub fn client_id(&self) -> Option<&str> {
        self.text(Field::ClientId)
    }

    /// Audience: the app client of id tokens (Cognito sends one string; OIDC allows an
    /// array).
    pub fn aud(&self) -> Items<'_> {
        self.items(Field::Aud, '\n')
    }

    /// Authorized party: the client an OIDC token was issued to.
    pub fn azp(&self) -> Option<&str> {
        self.text(Field::Azp)
    }

    /// E-mail address (id tokens that carry it).
    pub fn email(&self) -> Option<&str> {
        self.text(Field::Email)
    }

    /// Cognito groups (`cognito:groups`).
    pub fn groups(&self) -> Items<'_> {
        self.items(Field::Groups, ',')
    }

    /// Space-separated OAuth scopes (access tokens).
    pub fn scope(&self) -> Option<&str> {
        self.text(Field::Scope)
    }

    /// Token id.
    pub fn jti(&self) -> Option<&str> {
        self.text(Field::Jti)
    }

    /// Cognito's id of the authentication event the token descends from.
    pub fn origin_jti(&self) -> Option<&str> {
        self.text(Field::OriginJti)
    }

    /// The verified payload JSON (`X-Auth-Claims` is its base64url encoding, which is
    /// the segment the token carried: the decoder accepts only canonical base64url).
    pub fn payload(&self) -> &[u8] {
        let span = self.spans.get(Field::Payload as usize);
        (span.and_then(|s| self.text.get(s.range()))).unwrap_or_default()
    }

    /// The bytes these claims hold in memory, approximately: the `Arc`'s two counts and
    /// the struct, the text and the header `bytes` gives it once it is shared, and the
    /// named claims (what a cache entry charges against a byte bound; allocator rounding
    /// not counted).
    pub(crate) fn memory(&self) -> usize {
        const SHARED: usize = 32;
        let named = self.named.as_ref();
        2 * std::mem::size_of::<usize>()
            + std::mem::size_of::<Claims>()
            + self.text.len()
            + SHARED
            + named.map_or(0, |n| std::mem::size_of::<Named>() + n.memory())
    }

    /// The user name: `username` of access tokens, `cognito:username` of id tokens.
    pub fn username(&self) -> Option<&str> {
        self.text(self.username_field())
    }

    fn username_field(&self) -> Field {
        match self.token_use {
            TokenUse::Access => Field::Username,
            TokenUse::Id => Field::CognitoUsername,
        }
    }

    /// The app client the token was accepted for (`X-Auth-Client-Id`).
    pub fn client(&self) -> Option<&str> {
        self.text(Field::Client)
    }

    /// Whether the token names one of `client_ids` (any client when empty) as its
    /// client: `client_id` of a Cognito access token, `aud` of a Cognito id token, and
    /// for a token without `token_use`, any of `client_id`, `azp` and `aud` (one of
    /// several `aud` values will do). Records the client found for [`Claims::client`].
    pub fn accept_client(&mut self, client_ids: &[String]) -> bool {
        let found = self
            .clients()
            .find(|c| client_ids.is_empty() || client_ids.iter().any(|id| id == c))
            .and_then(|c| offset_in(&self.text, c).and_then(|at| Span::new(at, at + c.len())));
        let accepted = found.is_some() || client_ids.is_empty();
        if let Some(client) = self.spans.get_mut(Field::Client as usize) {
            *client = found.unwrap_or(Span::ABSENT);
        }
        accepted
    }

    /// The client claims [`Claims::accept_client`] looks at, in order.
    pub fn clients(&self) -> impl Iterator<Item = &str> {
        let (client_id, azp, aud) = match self.declared_use {
            Some(TokenUse::Access) => (self.client_id(), None, Items::NONE),
            Some(TokenUse::Id) => (None, None, self.aud()),
            None => (self.client_id(), self.azp(), self.aud()),
        };
        client_id.into_iter().chain(azp).chain(aud.iter())
    }
}

impl IdentitySource for Claims {
    fn identity_value(&self, which: IdentityValue) -> Option<HeaderValue> {
        let field = match which {
            IdentityValue::Sub => Field::Sub,
            IdentityValue::Username => self.username_field(),
            IdentityValue::Email => Field::Email,
            IdentityValue::Groups => Field::Groups,
            IdentityValue::Scope => Field::Scope,
            IdentityValue::Client => Field::Client,
        };
        let span = self.spans.get(field as usize)?;
        let text = self.text.get(span.range())?;
        HeaderValue::from_maybe_shared(self.text.slice_ref(text)).ok()
    }

    fn token_use(&self) -> TokenUse {
        self.token_use
    }

    fn payload(&self) -> &[u8] {
        Claims::payload(self)
    }
}

/// The payload's claims as read (borrowed from it unless escaped), before the required
/// ones are checked present.
#[derive(Default)]
struct ClaimsRead<'de> {
    sub: Option<Text<'de>>,
    iss: Option<Text<'de>>,
    declared_use: Option<TokenUse>,
    exp: Option<NumericDate>,
    nbf: Option<NumericDate>,
    iat: Option<NumericDate>,
    auth_time: Option<NumericDate>,
    client_id: Option<Text<'de>>,
    aud: Vec<Text<'de>>,
    azp: Option<Text<'de>>,
    username: Option<Text<'de>>,
    cognito_username: Option<Text<'de>>,
    email: Option<Text<'de>>,
    groups: Vec<Text<'de>>,
    scope: Option<Text<'de>>,
    jti: Option<Text<'de>>,
    origin_jti: Option<Text<'de>>,
}

impl ClaimsRead<'_> {
    /// Why a claim the identity headers carry could not be forwarded as it is: a control
    /// character (no header value may hold one, and the header would go missing from a
    /// verified request), or a comma in a group name (`X-Auth-Groups` would read it as
    /// two groups).
    fn unforwardable(&self) -> Option<&'static str> {
        let texts = [&self.sub, &self.client_id, &self.azp, &self.username]
            .into_iter()
            .chain([&self.cognito_username, &self.email, &self.scope])
            .flatten()
            .chain(&self.aud)
            .chain(&self.groups);
        let control = |t: &Text<'_>| t.0.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f);
        if texts.into_iter().any(control) {
            return Some("a claim sent in an identity header holds a control character");
        }
        if self.groups.iter().any(|g| g.0.contains(',')) {
            return Some("a group name holds a comma (X-Auth-Groups is comma-separated)");
        }
        None
    }

    fn into_claims(
        self,
        payload: &[u8],
        named: Option<Box<Named>>,
    ) -> Result<Claims, serde_json::Error> {
        let too_large = || de::Error::custom("claims too large");
        let token_use =
            self.declared_use
                .unwrap_or(if self.client_id.is_some() || self.scope.is_some() {
                    TokenUse::Access
                } else {
                    TokenUse::Id
                });
        let sub = self.sub.ok_or_else(|| de::Error::missing_field("sub"))?;
        let iss = self.iss.ok_or_else(|| de::Error::missing_field("iss"))?;
        let exp = self.exp.ok_or_else(|| de::Error::missing_field("exp"))?;
        let mut text = Texts {
            payload,
            text: payload.to_vec(),
        };
        let mut spans = [Span::ABSENT; Field::COUNT];
        let fields = [
            (Field::Sub, Some(sub)),
            (Field::Iss, Some(iss)),
            (Field::ClientId, self.client_id),
            (Field::Azp, self.azp),
            (Field::Username, self.username),
            (Field::CognitoUsername, self.cognito_username),
            (Field::Email, self.email),
            (Field::Scope, self.scope),
            (Field::Jti, self.jti),
            (Field::OriginJti, self.origin_jti),
        ];
        let lists = [
            (Field::Aud, self.aud, "\n"),
            (Field::Groups, self.groups, ","),
        ];
        let mut set = |field: Field, span: Option<Span>| match spans.get_mut(field as usize) {
            Some(slot) => span.map(|span| *slot = span).ok_or_else(too_large),
            None => Ok(()),
        };
        for (field, t) in fields {
            if let Some(t) = t {
                set(field, text.place(&t.0))?;
            }
        }
        for (field, items, sep) in lists {
            if let Some(span) = text.place_list(&items, sep) {
                set(field, span)?;
            }
        }
        set(Field::Payload, Span::new(0, payload.len()))?;
        let date = |d: Option<NumericDate>| d.map_or(f64::NAN, |d| d.0);
        Ok(Claims {
            text: Bytes::from(text.text.into_boxed_slice()),
            spans,
            token_use,
            declared_use: self.declared_use,
            exp,
            dates: [date(self.nbf), date(self.iat), date(self.auth_time)],
            named,
        })
    }
}

/// [`Claims::text`] as it is built: the payload, then what it does not hold verbatim.
struct Texts<'p> {
    payload: &'p [u8],
    text: Vec<u8>,
}

impl Texts<'_> {
    /// Where `t` is: its place in the payload when it was read from it verbatim (no
    /// escape), else appended.
    fn place(&mut self, t: &str) -> Option<Span> {
        let start = match offset_in(self.payload, t) {
            Some(at) => at,
            None => {
                let at = self.text.len();
                self.text.extend_from_slice(t.as_bytes());
                at
            }
        };
        Span::new(start, start + t.len())
    }

    /// Where a list is: its one item's place, or the items joined by `sep` and appended;
    /// `None` when the list is empty (an absent and an empty list read alike).
    fn place_list(&mut self, items: &[Text<'_>], sep: &str) -> Option<Option<Span>> {
        match items {
            [] => None,
            [one] => Some(self.place(&one.0)),
            items => {
                let joined = items.iter().map(|t| &*t.0).collect::<Vec<_>>().join(sep);
                let at = self.text.len();
                self.text.extend_from_slice(joined.as_bytes());
                Some(Span::new(at, self.text.len()))
            }
        }
    }
}

/// Reads a [`ClaimsRead`], and into `named` the claims it has room for.
struct ClaimsVisitor {
    named: Option<Named>,
}

impl<'de> DeserializeSeed<'de> for ClaimsVisitor {
    type Value = (ClaimsRead<'de>, Option<Named>);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = (ClaimsRead<'de>, Option<Named>);

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
                "aud" => c.aud = map.next_value::<Audience<'de>>()?.0,
                "azp" => c.azp = map.next_value()?,
                "username" => c.username = map.next_value()?,
                "cognito:username" => c.cognito_username = map.next_value()?,
                "email" => c.email = map.next_value()?,
                "cognito:groups" => c.groups = map.next_value()?,
                "scope" => c.scope = map.next_value()?,
                "jti" => c.jti = map.next_value()?,
                "origin_jti" => c.origin_jti = map.next_value()?,
                other => match named.as_mut().and_then(|n| n.slot(other)) {
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
struct Audience<'de>(Vec<Text<'de>>);

impl<'de> Deserialize<'de> for Audience<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AudienceVisitor)
    }
}

struct AudienceVisitor;

impl<'de> Visitor<'de> for AudienceVisitor {
    type Value = Audience<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Audience<'de>, E> {
        Ok(Audience(vec![Text(Cow::Borrowed(v))]))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience<'de>, E> {
        Ok(Audience(vec![Text(Cow::Owned(v.to_owned()))]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience<'de>, A::Error> {
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
        Claims::parse(json.as_bytes(), &Arc::default())
    }

    fn parse(extra: &str) -> Result<Claims, serde_json::Error> {
        let json = format!("{{{BASE}{extra}}}");
        Claims::parse(json.as_bytes(), &Arc::default())
    }

    #[test]
    fn reads_typed_claims_and_ignores_unknown_ones() {
        let c = parse(r#","cognito:groups":["a","b"],"nbf":1.5,"iat":-3,"x":{"y":1}"#).unwrap();
        assert_eq!(c.groups(), Items::Joined("a,b", ','));
        assert_eq!(c.nbf(), Some(NumericDate(1.5)));
        assert_eq!(c.iat(), Some(NumericDate(-3.0)));
        assert_eq!(c.auth_time(), None);
        assert!(c.payload().starts_with(br#"{"sub":"u""#));
        assert!(parse("").unwrap().groups().is_empty());
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
            (c.groups().iter().collect::<Vec<_>>(), c.scope()),
            (vec!["a"], Some("read"))
        );
        let json = r#"{"sub":"u","iss":"i","token_use":"i\u0064","exp":1}"#;
        let c = read(json).unwrap();
        assert_eq!(c.declared_use(), Some(TokenUse::Id));
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
        let text = |c: &Claims, which| c.identity_value(which).map(|v| v.as_bytes().to_vec());
        let json = r#"{"sub":"u-1","iss":"i","exp":1,"token_use":"id","aud":"app",
            "username":"not-read","cognito:username":"Zoë","email":"z@example.com",
            "cognito:groups":["a","b c"]}"#;
        let mut id = read(json).unwrap();
        assert_eq!(text(&id, Sub), Some(b"u-1".to_vec()));
        assert_eq!(text(&id, Username), Some("Zoë".as_bytes().to_vec()));
        assert_eq!(text(&id, Email), Some(b"z@example.com".to_vec()));
        assert_eq!(text(&id, Groups), Some(b"a,b c".to_vec()));
        assert_eq!(text(&id, Scope), None);
        assert_eq!(
            text(&id, Client),
            None,
            "known only once a client is accepted"
        );
        assert!(id.accept_client(&["app".into()]));
        assert_eq!(text(&id, Client), Some(b"app".to_vec()));
        assert!(!id.accept_client(&["other".into()]));
        assert_eq!(text(&id, Client), None);

        let access = parse(r#","username":"ann","cognito:username":"no","scope":"s t""#).unwrap();
        assert_eq!(text(&access, Username), Some(b"ann".to_vec()));
        assert_eq!(text(&access, Scope), Some(b"s t".to_vec()));
        assert_eq!(text(&access, Groups), None);
        assert_eq!(text(&access, Email), None);
    }

    /// The payload is held once: a claim read verbatim is a span of it, and only what it
    /// does not hold as is (an escaped string, a list of several) is appended.
    #[test]
    fn claims_are_spans_of_the_payload_held_once() {
        let json = r#"{"sub":"u-1","iss":"i","exp":1,"token_use":"access","client_id":"app",
            "username":"ann","scope":"s t","cognito:groups":["solo"],"jti":"j"}"#;
        let mut c = read(json).unwrap();
        assert!(c.accept_client(&["app".into()]));
        assert_eq!(&*c.text, json.as_bytes(), "nothing appended");
        assert_eq!(c.payload(), json.as_bytes());
        let within = |t: &str| json.contains(t) && c.text.as_ptr_range().contains(&t.as_ptr());
        let texts = [c.sub(), c.iss(), c.jti().unwrap(), c.client().unwrap()];
        assert!(texts.into_iter().all(within));
        assert_eq!(c.groups(), Items::Joined("solo", ','));
        let sub = c.identity_value(IdentityValue::Sub).unwrap();
        assert_eq!(
            sub.as_bytes().as_ptr(),
            c.sub().as_ptr(),
            "a slice, not a copy"
        );

        let json = r#"{"sub":"u\u002d1","iss":"i","exp":1,"aud":["a,1","b"],
            "cognito:groups":["x","y"]}"#;
        let c = read(json).unwrap();
        assert_eq!(c.sub(), "u-1");
        let appended = &c.text[json.len()..];
        assert_eq!(appended, b"u-1a,1\nbx,y");
        assert_eq!(c.aud().iter().collect::<Vec<_>>(), ["a,1", "b"]);
        assert_eq!(c.groups().iter().collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(c.payload(), json.as_bytes());
    }

    /// What a cached Cognito access token weighs: well under the 700 bytes issue 26 asks
    /// for, with the cache's slot (benches/RESULTS.md measures the process's growth).
    #[test]
    fn a_cognito_access_token_is_held_in_little_more_than_its_payload() {
        let json = r#"{"sub":"5f1c9a6e-2b7d-4c1e-9a3f-0d8e7b6a5c4d","cognito:groups":["admin"],
            "iss":"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI",
            "version":2,"client_id":"1a2b3c4d5e6f7g8h9i0j1k2l3m","origin_jti":
            "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d","event_id":"1b2c3d4e-5f6a-7b8c-9d0e-1f2a3b4c5d6e",
            "token_use":"access","scope":"openid email","auth_time":1765000000,
            "exp":1765003600,"iat":1765000000,"jti":"2c3d4e5f-6a7b-8c9d-0e1f-2a3b4c5d6e7f",
            "username":"5f1c9a6e-2b7d-4c1e-9a3f-0d8e7b6a5c4d"}"#;
        let c = read(json).unwrap();
        assert_eq!(c.text.len(), json.len(), "nothing appended");
        let overhead = c.memory() - json.len();
        assert!(overhead <= 200, "{overhead} bytes besides the payload");
    }

    #[test]
    fn without_token_use_the_kind_is_derived_from_client_id_or_scope() {
        let kind = |extra: &str| {
            let json = format!(r#"{{"sub":"u","iss":"i","exp":1{extra}}}"#);
            let c = read(&json).unwrap();
            assert_eq!(c.declared_use(), None);
            c.token_use()
        };
        assert_eq!(kind(r#","client_id":"c""#), TokenUse::Access);
        assert_eq!(kind(r#","scope":"read""#), TokenUse::Access);
        assert_eq!(kind(r#","aud":["c"],"azp":"c""#), TokenUse::Id);
    }
}
