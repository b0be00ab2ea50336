//! `application/x-www-form-urlencoded` and query strings (decode and encode), HTML
//! escaping, and HTTP Basic client credentials: the small text formats the stand-in
//! speaks.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Name/value pairs of a query string or form body. A name given twice is refused by
/// the caller through [`Params::repeated`] (OAuth 2.0: parameters must not repeat).
#[derive(Debug, Default)]
pub(crate) struct Params {
    map: HashMap<String, String>,
    repeated: Option<String>,
}

impl Params {
    /// Parses `a=1&b=x+y&c=%2F`; pairs without `=` have an empty value.
    pub(crate) fn parse(text: &str) -> Params {
        let mut params = Params::default();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (name, value) = (decode(name), decode(value));
            match params.map.entry(name) {
                Entry::Occupied(e) => {
                    params.repeated.get_or_insert_with(|| e.key().clone());
                }
                Entry::Vacant(e) => {
                    e.insert(value);
                }
            }
        }
        params
    }

    /// The value of `name`, when present and not empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The first parameter name that appeared more than once.
    pub(crate) fn repeated(&self) -> Option<&str> {
        self.repeated.as_deref()
    }
}

/// Percent-decodes `s`, `+` being a space; invalid escapes are kept as they are and
/// invalid UTF-8 is replaced.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes `s` for a query string: everything but RFC 3986 unreserved
/// characters.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `pairs` as `a=1&b=2`, values encoded.
pub(crate) fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `url` with `pairs` appended to its query.
pub(crate) fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", encode_pairs(pairs))
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What an `Authorization` header says about the client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BasicAuth {
    /// No `Authorization` header.
    Absent,
    /// `Basic base64(id:secret)`; id and secret are form-urlencoded first (RFC 6749
    /// §2.3.1), which changes nothing for Cognito's alphanumeric ids and secrets.
    Credentials(String, String),
    /// Some other scheme, or undecodable.
    Malformed,
}

/// Reads HTTP Basic client credentials.
pub(crate) fn basic_auth(header: Option<&str>) -> BasicAuth {
    let Some(value) = header else {
        return BasicAuth::Absent;
    };
    let Some((scheme, b64)) = value.trim().split_once(' ') else {
        return BasicAuth::Malformed;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return BasicAuth::Malformed;
    }
    let Ok(bytes) = STANDARD.decode(b64.trim()) else {
        return BasicAuth::Malformed;
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return BasicAuth::Malformed;
    };
    match text.split_once(':') {
        Some((id, secret)) => BasicAuth::Credentials(decode(id), decode(secret)),
        None => BasicAuth::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_and_encode_round_trip() {
        let p = Params::parse("a=1&b=x+y&c=%2Fp%3Fq&d=&e&bad=%zz%4");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x y"));
        assert_eq!(p.get("c"), Some("/p?q"));
        assert_eq!(p.get("d"), None);
        assert_eq!(p.get("e"), None);
        assert_eq!(p.get("bad"), Some("%zz%4"));
        assert_eq!(p.repeated(), None);
        assert_eq!(Params::parse("a=1&a=2").repeated(), Some("a"));
        let text = "http://127.0.0.1:80/cb?x=1&y=é ü";
        assert_eq!(
            Params::parse(&encode_pairs(&[("u", text)])).get("u"),
            Some(text)
        );
        assert_eq!(
            with_query("http://h/p?a=1", &[("b", "2")]),
            "http://h/p?a=1&b=2"
        );
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn basic_credentials_are_read() {
        let h = format!("Basic {}", STANDARD.encode("id:se:cret"));
        assert_eq!(
            basic_auth(Some(&h)),
            BasicAuth::Credentials("id".into(), "se:cret".into())
        );
        assert_eq!(basic_auth(None), BasicAuth::Absent);
        assert_eq!(basic_auth(Some("Bearer x")), BasicAuth::Malformed);
        assert_eq!(basic_auth(Some("Basic !!!")), BasicAuth::Malformed);
        let no_colon = format!("Basic {}", STANDARD.encode("id"));
        assert_eq!(basic_auth(Some(&no_colon)), BasicAuth::Malformed);
    }
}
