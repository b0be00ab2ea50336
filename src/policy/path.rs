//! Request path normalization.
//!
//! Threat: path confusion between the authorizer and the backend. If cognigate matched
//! routes on one spelling of a path while the backend resolved another
//! (`/public/%2e%2e/admin`, `//admin`, `/admin%2Fx`, `/admin;x`, `/admin\x`), a request
//! could be authorized as `/public/**` and served as `/admin`. So every path is brought
//! to one canonical form before matching (RFC 3986 §6.2.2), and the spellings that
//! backends disagree about are refused rather than guessed at. The normalized path is
//! the one matched and the one forwarded.

use std::borrow::Cow;

/// Why a request path was refused (the proxy answers 400).
///
/// Messages never echo more of the path than the offending escape or byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is the empty string.
    #[error("the path is empty")]
    Empty,
    /// The path does not start with `/`.
    #[error("the path must start with '/'")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("'%' must be followed by two hex digits")]
    MalformedEscape,
    /// An escape that decodes to `/` `\` `;` `?` `#` `%` or NUL.
    #[error("encoded {} (%{byte:02X}) is not allowed in the path", byte_name(.byte))]
    EncodedForbidden {
        /// The decoded byte.
        byte: u8,
    },
    /// A raw `\` or `;`, which some backends treat as separators.
    #[error("'{}' is not allowed in the path", char::from(*.byte))]
    RawForbidden {
        /// The offending byte.
        byte: u8,
    },
    /// A byte outside the RFC 3986 §3.3 `pchar` set (control, space, non-ASCII, ...).
    #[error("byte 0x{byte:02X} is not allowed in the path; it must be percent-encoded")]
    InvalidByte {
        /// The offending byte.
        byte: u8,
    },
    /// A `..` segment that would climb above `/`.
    #[error("'..' climbs above the root of the path")]
    AboveRoot,
}

/// Bytes that must never appear percent-encoded: each is a separator or an escape
/// character to some backend, so decoding them (or not) changes the path's meaning.
const FORBIDDEN_ENCODED: &[u8] = b"/\\;?#%\0";

fn byte_name(byte: &u8) -> &'static str {
    match byte {
        b'/' => "'/'",
        b'\\' => "'\\'",
        b';' => "';'",
        b'?' => "'?'",
        b'#' => "'#'",
        b'%' => "'%'",
        0 => "NUL",
        _ => "character",
    }
}

/// Normalizes a request path (the request-target without its query).
///
/// Percent-encoded unreserved characters are decoded and other escapes get upper-case
/// hex (RFC 3986 §6.2.2.1-2), dot-segments are removed (§5.2.4), repeated slashes are
/// merged and a single trailing slash is kept. Returns `Cow::Borrowed` when `raw` is
/// already normal, which is the common case and does not allocate.
///
/// # Errors
///
/// A [`PathError`] for each spelling the contract refuses (the proxy answers 400).
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let body = match raw.strip_prefix('/') {
        Some(body) => body,
        None if raw.is_empty() => return Err(PathError::Empty),
        None => return Err(PathError::NotAbsolute),
    };
    if is_normal(body)? {
        Ok(Cow::Borrowed(raw))
    } else {
        rebuild(body).map(Cow::Owned)
    }
}

/// Validates every segment; true when nothing needs rewriting.
fn is_normal(body: &str) -> Result<bool, PathError> {
    let mut normal = true;
    let mut segments = body.split('/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        // Validate first: `&=` still evaluates it once `normal` is false.
        normal &= is_canonical(seg)? && !is_dot(seg) && (last || !seg.is_empty());
    }
    Ok(normal)
}

/// Removes dot-segments and empty segments, as RFC 3986 §5.2.4 does with its output
/// buffer, but refusing a `..` at the root instead of silently dropping it.
fn rebuild(body: &str) -> Result<String, PathError> {
    // Invariant: `out` is empty or "/seg/seg", never with a trailing slash.
    let mut out = String::with_capacity(body.len() + 1);
    let mut segments = body.split('/').peekable();
    while let Some(seg) = segments.next() {
        let seg = normalize_segment(seg)?;
        match &*seg {
            "" | "." => {}
            ".." => pop_segment(&mut out)?,
            name => {
                out.push('/');
                out.push_str(name);
                continue;
            }
        }
        // An empty or dot last segment leaves a directory: keep its trailing slash.
        if segments.peek().is_none() {
            out.push('/');
        }
    }
    Ok(out)
}

fn pop_segment(out: &mut String) -> Result<(), PathError> {
    let start = out.rfind('/').ok_or(PathError::AboveRoot)?;
    out.truncate(start);
    Ok(())
}

fn is_dot(seg: &str) -> bool {
    seg == "." || seg == ".."
}

/// Normalizes one segment's escapes (RFC 3986 §6.2.2.1-2); dot-segments are left to
/// the caller. Also used to validate route patterns, so both sides agree on spelling.
pub(crate) fn normalize_segment(seg: &str) -> Result<Cow<'_, str>, PathError> {
    if is_canonical(seg)? {
        return Ok(Cow::Borrowed(seg));
    }
    let mut out = String::with_capacity(seg.len());
    for token in Tokens(seg.bytes()) {
        match token? {
            Token::Raw(b) => out.push(char::from(b)),
            Token::Escaped { value, .. } if is_unreserved(value) => out.push(char::from(value)),
            Token::Escaped { value, .. } => push_escape(&mut out, value),
        }
    }
    Ok(Cow::Owned(out))
}

/// Validates a segment; true when no escape needs decoding or upper-casing.
fn is_canonical(seg: &str) -> Result<bool, PathError> {
    Tokens(seg.bytes()).try_fold(true, |canonical, token| {
        Ok(canonical
            && match token? {
                Token::Raw(_) => true,
                Token::Escaped { value, upper } => upper && !is_unreserved(value),
            })
    })
}

fn push_escape(out: &mut String, value: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(value >> 4)]));
    out.push(char::from(HEX[usize::from(value & 0x0F)]));
}

/// RFC 3986 §2.3.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §3.3 `pchar` minus `pct-encoded` (handled apart) and minus `;`, which
/// servlet containers and others read as a path-parameter separator.
fn is_plain_pchar(b: u8) -> bool {
    is_unreserved(b)
        || matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*')
        || matches!(b, b'+' | b',' | b'=' | b':' | b'@')
}

/// One validated unit of a segment.
enum Token {
    /// A byte that is valid as written.
    Raw(u8),
    /// A `%XX` escape; `upper` when its hex digits are not lower-case.
    Escaped { value: u8, upper: bool },
}

/// Splits a segment into tokens, refusing what the contract refuses.
struct Tokens<'a>(std::str::Bytes<'a>);

impl Iterator for Tokens<'_> {
    type Item = Result<Token, PathError>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.0.next()?;
        Some(match b {
            b'%' => self.escape(),
            b'\\' | b';' => Err(PathError::RawForbidden { byte: b }),
            _ if is_plain_pchar(b) => Ok(Token::Raw(b)),
            _ => Err(PathError::InvalidByte { byte: b }),
        })
    }
}

impl Tokens<'_> {
    fn escape(&mut self) -> Result<Token, PathError> {
        let (hi, lo) = (self.0.next(), self.0.next());
        let (Some(hi), Some(lo)) = (hi.and_then(hex), lo.and_then(hex)) else {
            return Err(PathError::MalformedEscape);
        };
        let value = hi.value << 4 | lo.value;
        if FORBIDDEN_ENCODED.contains(&value) {
            return Err(PathError::EncodedForbidden { byte: value });
        }
        let upper = hi.upper && lo.upper;
        Ok(Token::Escaped { value, upper })
    }
}

struct Hex {
    value: u8,
    /// False for `a`-`f`, which RFC 3986 §6.2.2.1 says to upper-case.
    upper: bool,
}

fn hex(b: u8) -> Option<Hex> {
    let (value, upper) = match b {
        b'0'..=b'9' => (b - b'0', true),
        b'A'..=b'F' => (b - b'A' + 10, true),
        b'a'..=b'f' => (b - b'a' + 10, false),
        _ => return None,
    };
    Some(Hex { value, upper })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str, want: &str) {
        assert_eq!(normalize(raw).as_deref(), Ok(want), "normalize({raw:?})");
    }

    fn err(raw: &str, want: PathError) {
        assert_eq!(normalize(raw), Err(want), "normalize({raw:?})");
    }

    #[test]
    fn dot_segments_are_removed() {
        for (raw, want) in [
            ("/public/../admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2e/admin", "/admin"),
            ("/public/.%2e/admin", "/admin"),
            ("/public/%2E./admin", "/admin"),
            ("/a/./b", "/a/b"),
            ("/a/%2E/b", "/a/b"),
            ("/a/.", "/a/"),
            ("/a/b/..", "/a/"),
            ("/a/b/../", "/a/"),
            ("/a/..", "/"),
            ("/.", "/"),
            ("/./", "/"),
            ("/a/.../b", "/a/.../b"),
            ("/a/.b/c.", "/a/.b/c."),
            ("/a/%2e%2e%2e", "/a/..."),
        ] {
            ok(raw, want);
        }
    }

    #[test]
    fn slashes_are_merged_and_one_trailing_kept() {
        for (raw, want) in [
            ("//admin", "/admin"),
            ("/a//b", "/a/b"),
            ("/a///b//", "/a/b/"),
            ("//", "/"),
            ("/", "/"),
            ("/a/", "/a/"),
            ("/a", "/a"),
        ] {
            ok(raw, want);
        }
    }

    #[test]
    fn escapes_are_canonicalized() {
        for (raw, want) in [
            ("/%7Euser", "/~user"),
            ("/%7euser", "/~user"),
            ("/%41%62%2D%5f%30", "/Ab-_0"),
            ("/a%20b", "/a%20b"),
            ("/a%c3%a9", "/a%C3%A9"),
            ("/a%3a", "/a%3A"),
            ("/a%2A", "/a%2A"),
        ] {
            ok(raw, want);
        }
    }

    #[test]
    fn encoded_delimiters_are_refused() {
        for (raw, byte) in [
            ("/a%2fb", b'/'),
            ("/a%2Fb", b'/'),
            ("/a%5cb", b'\\'),
            ("/a%5Cb", b'\\'),
            ("/a%3bb", b';'),
            ("/a%3Bb", b';'),
            ("/a%3f", b'?'),
            ("/a%23", b'#'),
            ("/a%00", 0),
            ("/a%25", b'%'),
            ("/a%252e", b'%'),
        ] {
            err(raw, PathError::EncodedForbidden { byte });
        }
    }

    #[test]
    fn raw_and_invalid_bytes_are_refused() {
        err("/a\\b", PathError::RawForbidden { byte: b'\\' });
        err("/a;b", PathError::RawForbidden { byte: b';' });
        err("/a;jsessionid=x/..", PathError::RawForbidden { byte: b';' });
        err("/a b", PathError::InvalidByte { byte: b' ' });
        err("/a\tb", PathError::InvalidByte { byte: b'\t' });
        err("/a\0", PathError::InvalidByte { byte: 0 });
        err("/a\u{7f}", PathError::InvalidByte { byte: 0x7F });
        err("/é", PathError::InvalidByte { byte: 0xC3 });
        err("/a#b", PathError::InvalidByte { byte: b'#' });
        err("/a?b", PathError::InvalidByte { byte: b'?' });
        err("/a\"b", PathError::InvalidByte { byte: b'"' });
    }

    #[test]
    fn malformed_escapes_are_refused() {
        for raw in ["/a%zz", "/a%2", "/a%", "/a%g0", "/a%0g", "/%%41", "/a%2/b"] {
            err(raw, PathError::MalformedEscape);
        }
    }

    #[test]
    fn climbing_above_root_is_refused() {
        for raw in [
            "/..",
            "/../a",
            "/a/../..",
            "/a/../../b",
            "/%2e%2e",
            "/a/%2E%2E/..",
            "/../",
        ] {
            err(raw, PathError::AboveRoot);
        }
    }

    #[test]
    fn must_be_absolute() {
        err("", PathError::Empty);
        err("a/b", PathError::NotAbsolute);
        err("*", PathError::NotAbsolute);
        err("http://x/a", PathError::NotAbsolute);
    }

    #[test]
    fn normal_paths_are_borrowed() {
        for raw in [
            "/",
            "/a",
            "/a/",
            "/api/v1/users/42",
            "/a%20b",
            "/~user",
            "/a:b@c!$&'()*+,=",
        ] {
            let out = normalize(raw).unwrap();
            assert!(matches!(out, Cow::Borrowed(_)), "{raw:?} allocated");
            assert!(std::ptr::eq(out.as_ptr(), raw.as_ptr()));
        }
        for raw in ["//a", "/a/.", "/%7e", "/%2a", "/a//"] {
            assert!(matches!(normalize(raw), Ok(Cow::Owned(_))), "{raw:?}");
        }
    }

    #[test]
    fn messages_name_the_escape_only() {
        let msg = |raw: &str| normalize(raw).unwrap_err().to_string();
        assert_eq!(
            msg("/x%2Fy"),
            "encoded '/' (%2F) is not allowed in the path"
        );
        assert_eq!(
            msg("/x%2fy"),
            "encoded '/' (%2F) is not allowed in the path"
        );
        assert_eq!(msg("/x%00"), "encoded NUL (%00) is not allowed in the path");
        assert_eq!(msg("/x;y"), "';' is not allowed in the path");
        assert_eq!(
            msg("/secret x"),
            "byte 0x20 is not allowed in the path; it must be percent-encoded"
        );
        assert!(!msg("/secret%zz").contains("secret"));
    }

    /// Every path of up to 4 segments over a small alphabet: the output is free of
    /// dot and empty segments, and normalizing again changes nothing.
    #[test]
    fn property_output_is_canonical_and_idempotent() {
        const ALPHABET: [&str; 8] = ["a", "b", ".", "..", "%2e", "%2E%2e", "", "admin"];
        let mut paths = vec![String::new()];
        let mut checked = 0;
        for _ in 0..4 {
            paths = paths
                .iter()
                .flat_map(|p| ALPHABET.iter().map(move |s| format!("{p}/{s}")))
                .collect();
            for path in &paths {
                check_property(path);
                checked += 1;
            }
        }
        assert_eq!(checked, 8 + 64 + 512 + 4096);
    }

    fn check_property(path: &str) {
        let out = match normalize(path) {
            Ok(out) => out,
            Err(e) => return assert_eq!(e, PathError::AboveRoot, "{path:?}"),
        };
        for bad in ["//", "/./", "/../", "%2e", "%2E"] {
            assert!(!out.contains(bad), "{path:?} -> {out:?}");
        }
        assert!(
            !out.ends_with("/.") && !out.ends_with("/.."),
            "{path:?} -> {out:?}"
        );
        let again = normalize(&out).unwrap();
        assert!(matches!(again, Cow::Borrowed(_)), "{path:?} -> {out:?}");
        assert_eq!(again, out);
    }
}
