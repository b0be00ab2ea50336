//! The session's cookies: a sealed value split over `<name>`, `<name>_1`, `<name>_2`, ...
//! when it would pass what a browser keeps in one cookie, and the `Set-Cookie` lines
//! that set or clear them.

use crate::config::{LoginSettings, SameSite};
use http::HeaderMap;
use http::header::COOKIE;

/// The most value bytes put in one cookie: browsers keep at most 4096 bytes of name and
/// value (RFC 6265 §6.1), so a chunk leaves room for the name.
pub const CHUNK_BYTES: usize = 3800;
/// The most chunks read or written: a session value is at most this many chunks long.
pub const MAX_CHUNKS: usize = 5;
/// How long a sign-in may take, from the redirect to the callback.
pub const LOGIN_STATE_SECONDS: u64 = 600;

/// `name=value` pairs of every `Cookie` header (RFC 6265 §5.4).
pub fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .map(|(n, v)| (n.trim(), v.trim()))
}

/// The name of chunk `i` of the cookie `name`.
pub fn chunk_name(name: &str, i: usize) -> String {
    match i {
        0 => name.to_owned(),
        i => format!("{name}_{i}"),
    }
}

/// What the request carries of the cookie `name`.
#[derive(Debug, PartialEq, Eq)]
pub struct Chunks {
    /// The chunks joined, in order, up to the first missing one.
    pub value: String,
    /// How many chunk cookies the request carries (all of them, to clear).
    pub present: usize,
}

/// Joins the chunks of `name`; `None` when the request has no first chunk. A value of
/// more than [`MAX_CHUNKS`] chunks is cut there (and will not open).
pub fn read(headers: &HeaderMap, name: &str) -> Option<Chunks> {
    let first = pairs(headers).find(|(n, _)| *n == name)?.1;
    let mut value = first.to_owned();
    let mut present = 1;
    for i in 1..MAX_CHUNKS {
        let chunk = chunk_name(name, i);
        match pairs(headers).find(|(n, _)| *n == chunk) {
            Some((_, v)) => {
                value.push_str(v);
                present += 1;
            }
            None => break,
        }
    }
    Some(Chunks { value, present })
}

/// The attributes of a cookie.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    /// `Path=`.
    pub path: &'a str,
    /// `Max-Age=` in seconds; 0 clears the cookie.
    pub max_age: u64,
    /// `SameSite=`.
    pub same_site: SameSite,
    /// `Secure`.
    pub secure: bool,
    /// `Domain=`.
    pub domain: Option<&'a str>,
}

impl<'a> Attributes<'a> {
    /// The session cookie's attributes, for `max_age` seconds.
    pub fn session(login: &'a LoginSettings, max_age: u64) -> Self {
        Attributes {
            path: "/",
            max_age,
            same_site: login.cookie_samesite,
            secure: login.cookie_secure,
            domain: login.cookie_domain.as_deref(),
        }
    }

    /// A sign-in's state cookie: sent to the callback only, and `Lax` whatever the
    /// session's `SameSite` (the callback is a navigation from the provider's site).
    pub fn login_state(login: &'a LoginSettings, max_age: u64) -> Self {
        Attributes {
            path: &login.callback_path,
            max_age,
            same_site: if login.cookie_samesite == SameSite::None {
                SameSite::None
            } else {
                SameSite::Lax
            },
            secure: login.cookie_secure,
            domain: login.cookie_domain.as_deref(),
        }
    }
}

/// One `Set-Cookie` value. `HttpOnly` always: no script reads a session.
pub fn set_cookie(name: &str, value: &str, attrs: &Attributes<'_>) -> String {
    let mut line = format!(
        "{name}={value}; Path={}; Max-Age={}; HttpOnly; SameSite={}",
        attrs.path,
        attrs.max_age,
        attrs.same_site.as_str()
    );
    if attrs.secure {
        line.push_str("; Secure");
    }
    if let Some(domain) = attrs.domain {
        line.push_str("; Domain=");
        line.push_str(domain);
    }
    line
}

/// `Set-Cookie` values storing `value` under `name` in chunks, and clearing the chunks
/// past the new last one that the request carried (`present`).
pub fn set_chunked(name: &str, value: &str, present: usize, attrs: &Attributes<'_>) -> Vec<String> {
    let parts: Vec<&str> = chunks_of(value).collect();
    let mut lines: Vec<String> = (parts.iter().enumerate())
        .map(|(i, part)| set_cookie(&chunk_name(name, i), part, attrs))
        .collect();
    lines.extend(clear_from(name, parts.len(), present, attrs));
    lines
}

/// `Set-Cookie` values clearing chunks `from..present` of `name`.
pub fn clear_from(
    name: &str,
    from: usize,
    present: usize,
    attrs: &Attributes<'_>,
) -> impl Iterator<Item = String> {
    let cleared = Attributes {
        max_age: 0,
        ..*attrs
    };
    let name = name.to_owned();
    (from..present).map(move |i| set_cookie(&chunk_name(&name, i), "", &cleared))
}

/// `value` in pieces of at most [`CHUNK_BYTES`] (the value is base64url: ASCII).
fn chunks_of(value: &str) -> impl Iterator<Item = &str> {
    let bytes = value.len();
    (0..bytes.div_ceil(CHUNK_BYTES).max(1))
        .map(move |i| &value[i * CHUNK_BYTES..((i + 1) * CHUNK_BYTES).min(bytes)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn attrs() -> Attributes<'static> {
        Attributes {
            path: "/",
            max_age: 60,
            same_site: SameSite::Lax,
            secure: true,
            domain: None,
        }
    }

    fn request_with(lines: &[String]) -> HeaderMap {
        let cookie = (lines.iter())
            .filter(|l| !l.contains("Max-Age=0"))
            .map(|l| l.split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(&cookie).unwrap());
        headers
    }

    #[test]
    fn a_long_value_round_trips_through_chunks() {
        let value = "x".repeat(CHUNK_BYTES * 2 + 10);
        let lines = set_chunked("s", &value, 0, &attrs());
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("s_1="));
        assert!(lines.iter().all(|l| l.len() < 4000));
        let read = read(&request_with(&lines), "s").unwrap();
        assert_eq!(read.value, value);
        assert_eq!(read.present, 3);
    }

    #[test]
    fn a_shorter_value_clears_the_chunks_it_no_longer_needs() {
        let lines = set_chunked("s", "short", 3, &attrs());
        assert_eq!(
            lines[0],
            "s=short; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            lines[1],
            "s_1=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            lines[2],
            "s_2=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn reading_stops_at_a_gap_and_at_the_chunk_limit() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; s=x; s_2=z; s_1=y; s_3=w; s_4=v; s_5=u; s_6=t"),
        );
        let read = read(&headers, "s").unwrap();
        assert_eq!(read.value, "xyzwv");
        assert_eq!(read.present, MAX_CHUNKS);
        headers.insert(COOKIE, HeaderValue::from_static("s=x; s_2=z"));
        assert_eq!(super::read(&headers, "s").unwrap().value, "x");
        assert_eq!(super::read(&headers, "t"), None);
    }
}
