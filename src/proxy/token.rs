//! Finding the token: `Authorization: Bearer` (scheme case-insensitive, RFC 6750 §2.1),
//! else the configured cookies, else AWS Amplify's cookie storage.

use crate::config::TokenSettings;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use std::borrow::Cow;

/// Where a token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `Authorization: Bearer`.
    Bearer,
    /// One of `[token].cookies`.
    Cookie,
    /// AWS Amplify's cookie storage.
    Amplify,
}

impl Source {
    /// How `explain` names the source.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Bearer => "Authorization: Bearer",
            Source::Cookie => "a [token].cookies cookie",
            Source::Amplify => "an Amplify cookie",
        }
    }
}

/// Where the token search ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'a> {
    /// A token to verify, and where it was.
    Token(Cow<'a, str>, Source),
    /// No credentials at all.
    Missing,
    /// Credentials in a form that cannot hold a token (e.g. `Bearer` with nothing after).
    Malformed(&'static str),
}

/// Looks for a token in the request headers: [`authorization`], else [`in_cookies`].
pub fn find<'a>(
    headers: &'a HeaderMap,
    settings: &TokenSettings,
    client_ids: &[String],
) -> Found<'a> {
    authorization(headers).unwrap_or_else(|| in_cookies(headers, settings, client_ids))
}

/// The bearer token of the `Authorization` header; `None` when there is no such header.
/// (A session cookie is looked at after this and before [`in_cookies`].)
pub fn authorization(headers: &HeaderMap) -> Option<Found<'_>> {
    let mut auth = headers.get_all(AUTHORIZATION).iter();
    let value = auth.next()?;
    if auth.next().is_some() {
        return Some(Found::Malformed("more than one Authorization header"));
    }
    Some(bearer(value.as_bytes()))
}

/// The token of the configured cookies, else of Amplify's (`client_ids` are the
/// configured app clients, whose Amplify cookies are searched when `amplify_cookies` is
/// on).
pub fn in_cookies<'a>(
    headers: &'a HeaderMap,
    settings: &TokenSettings,
    client_ids: &[String],
) -> Found<'a> {
    if settings.cookies.is_empty() && !settings.amplify_cookies {
        return Found::Missing;
    }
    let cookies = || cookie_pairs(headers);
    for name in &settings.cookies {
        if let Some((_, value)) = cookies().find(|(n, _)| n == name) {
            return non_empty(percent_decode(value), Source::Cookie);
        }
    }
    if settings.amplify_cookies {
        for client_id in client_ids {
            if let Some(token) = amplify_token(cookies, client_id) {
                return non_empty(token, Source::Amplify);
            }
        }
    }
    Found::Missing
}

/// RFC 6750 §2.1: `Bearer`, one or more spaces, the token. A value that starts with
/// `Bearer` in another shape (`Bearer<TAB>x`, `Bearer:x`, `Bearerx`, `Bearer` alone) is
/// malformed, never "no token": a backend that splits on any whitespace would read a
/// token cognigate did not check. (A token with whitespace inside is not scanned for
/// here: it is no JWT, and verification refuses it.)
fn bearer(value: &[u8]) -> Found<'_> {
    let Ok(text) = std::str::from_utf8(value) else {
        return Found::Malformed("the Authorization header is not text");
    };
    let Some(rest) = text
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|_| text.get(6..))
    else {
        // Basic or another scheme: this request carries no bearer token.
        return Found::Missing;
    };
    let token = rest.trim_start_matches(' ').trim_end_matches([' ', '\t']);
    if token.len() == rest.len() && !rest.is_empty() {
        return Found::Malformed("the Authorization header is not `Bearer <token>`");
    }
    match token.is_empty() {
        true => Found::Malformed("Bearer without a token"),
        false => Found::Token(Cow::Borrowed(token), Source::Bearer),
    }
}

fn non_empty(token: Cow<'_, str>, source: Source) -> Found<'_> {
    if token.is_empty() {
        Found::Malformed("empty token")
    } else {
        Found::Token(token, source)
    }
}

/// `name=value` pairs of every `Cookie` header (RFC 6265 §5.4), values unquoted.
fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    crate::login::cookie::pairs(headers).map(|(n, v)| (n, v.trim_matches('"')))
}

/// Amplify v6 (Next.js SSR adapter) stores tokens as
/// `CognitoIdentityServiceProvider.<clientId>.LastAuthUser = <user>` and
/// `CognitoIdentityServiceProvider.<clientId>.<user>.accessToken` / `.idToken`,
/// names and values URL-encoded.
fn amplify_token<'a, I>(cookies: impl Fn() -> I, client_id: &str) -> Option<Cow<'a, str>>
where
    I: Iterator<Item = (&'a str, &'a str)>,
{
    let base = format!("CognitoIdentityServiceProvider.{client_id}");
    let last_user = format!("{base}.LastAuthUser");
    let user = cookies().find(|(n, _)| percent_decode(n) == last_user)?.1;
    let user = percent_decode(user);
    ["accessToken", "idToken"].iter().find_map(|kind| {
        let name = format!("{base}.{user}.{kind}");
        cookies()
            .find(|(n, _)| percent_decode(n) == name)
            .map(|(_, v)| percent_decode(v))
    })
}

/// Decodes `%XX` escapes; text with a malformed escape is kept as it is.
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escape {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_or(Cow::Borrowed(text), Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn settings(cookies: &[&str], amplify: bool) -> TokenSettings {
        TokenSettings {
            leeway: std::time::Duration::from_secs(60),
            cookies: cookies.iter().map(|s| s.to_string()).collect(),
            amplify_cookies: amplify,
            strip_authorization: false,
            cache_size: crate::config::CacheSize::Entries(0),
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let s = settings(&[], false);
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "Bearer  abc "] {
            let h = headers(&[("authorization", v)]);
            assert_eq!(
                find(&h, &s, &[]),
                Found::Token("abc".into(), Source::Bearer),
                "{v}"
            );
        }
    }

    #[test]
    fn other_schemes_and_empty_bearer() {
        let s = settings(&[], false);
        assert_eq!(
            find(
                &headers(&[("authorization", "Basic Zm9vOmJhcg==")]),
                &s,
                &[]
            ),
            Found::Missing
        );
        assert!(matches!(
            find(&headers(&[("authorization", "Bearer")]), &s, &[]),
            Found::Malformed(_)
        ));
        assert!(matches!(
            find(&headers(&[("authorization", "Bearer ")]), &s, &[]),
            Found::Malformed(_)
        ));
        for v in [
            "Bearer\tforged",
            "Bearer:x",
            "Bearerx",
            "bearer\t",
            "Bearer\tx",
        ] {
            let h = headers(&[("authorization", v)]);
            let found = find(&h, &s, &[]);
            assert!(matches!(found, Found::Malformed(_)), "{v:?}: {found:?}");
        }
        let two = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert!(matches!(find(&two, &s, &[]), Found::Malformed(_)));
        assert_eq!(find(&HeaderMap::new(), &s, &[]), Found::Missing);
    }

    #[test]
    fn configured_cookie_after_header() {
        let s = settings(&["session"], false);
        let h = headers(&[("cookie", "a=1; session=tok%2Ex; b=2")]);
        assert_eq!(
            find(&h, &s, &[]),
            Found::Token("tok.x".into(), Source::Cookie)
        );
        let h = headers(&[
            ("cookie", "session=fromcookie"),
            ("authorization", "Bearer fromheader"),
        ]);
        assert_eq!(
            find(&h, &s, &[]),
            Found::Token("fromheader".into(), Source::Bearer)
        );
    }

    #[test]
    fn amplify_cookie_storage() {
        let s = settings(&[], true);
        let h = headers(&[(
            "cookie",
            "CognitoIdentityServiceProvider.client1.LastAuthUser=alice%40example.com; \
             CognitoIdentityServiceProvider.client1.alice%40example.com.idToken=idtok; \
             CognitoIdentityServiceProvider.client1.alice%40example.com.accessToken=acctok",
        )]);
        assert_eq!(
            find(&h, &s, &["other".into(), "client1".into()]),
            Found::Token("acctok".into(), Source::Amplify)
        );
        assert_eq!(
            find(&h, &settings(&[], false), &["client1".into()]),
            Found::Missing
        );
        assert_eq!(find(&h, &s, &["client2".into()]), Found::Missing);
    }
}
