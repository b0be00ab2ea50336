//! Route path patterns: whole-segment literals, `*` for one segment, `{name}` for one
//! named segment (a capture, which a route's `bind` compares to a claim), a trailing `**`.
//!
//! Patterns are held to the same spelling rules as normalized request paths, so a
//! pattern that could never match (`/%7Euser`, `/a/../b`) is refused at load time
//! instead of silently failing open to a later, broader route.

use std::fmt;
use std::str::FromStr;

use super::path::{self, PathError};

/// A `bind` entry naming a capture the route's path does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("capture {{{capture}}} does not appear in path {path:?}")]
pub struct UnknownCapture {
    /// The `bind` key.
    pub capture: String,
    /// The route's path pattern.
    pub path: String,
}

/// Why a route pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern is the empty string.
    #[error("the pattern is empty")]
    Empty,
    /// The pattern does not start with `/`.
    #[error("a pattern must start with '/'")]
    NotAbsolute,
    /// `//` inside the pattern (a normalized path never has one).
    #[error("an empty segment ('//') is not allowed in a pattern")]
    EmptySegment,
    /// A `.` or `..` segment, possibly percent-encoded.
    #[error("dot segment {segment:?} is not allowed in a pattern")]
    DotSegment {
        /// The segment as written.
        segment: String,
    },
    /// A `*` that is not a whole segment, such as `a*` or `**b`.
    #[error("wildcard {segment:?} must be a whole segment: '*' or '**'")]
    PartialWildcard {
        /// The segment as written.
        segment: String,
    },
    /// `**` before the last segment.
    #[error("'**' is only allowed as the last segment")]
    DoubleStarNotLast,
    /// A `{` or `}` in a segment that is not one whole capture, such as `a{x}` or `{x}*`.
    #[error("capture {segment:?} must be a whole segment: '{{name}}'")]
    PartialCapture {
        /// The segment as written.
        segment: String,
    },
    /// A capture whose name is empty or not an identifier (`{}`, `{*}`, `{a-b}`).
    #[error(
        "capture {segment:?} needs a name of ASCII letters, digits and '_', not starting with a digit"
    )]
    CaptureName {
        /// The segment as written.
        segment: String,
    },
    /// The same capture name twice in one pattern.
    #[error("capture {{{name}}} appears more than once")]
    DuplicateCapture {
        /// The name between the braces.
        name: String,
    },
    /// A segment with a character or escape that request paths may not contain.
    #[error("segment {segment:?}: {reason}")]
    InvalidSegment {
        /// The segment as written.
        segment: String,
        /// What the path rules refuse in it.
        reason: PathError,
    },
    /// A segment whose escapes normalization would rewrite, so it could never match.
    #[error("segment {segment:?} is not in normal form; write {normal:?}")]
    NotNormal {
        /// The segment as written.
        segment: String,
        /// The spelling that normalized paths use.
        normal: String,
    },
}

/// One pattern segment before the optional trailing `**`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches exactly this text; `""` only as the last segment (a trailing slash).
    Literal(Box<str>),
    /// `*`: exactly one non-empty segment.
    One,
    /// `{name}`: exactly one non-empty segment, like `*`, which `bind` can read.
    Capture(Box<str>),
}

impl Segment {
    fn accepts(&self, seg: &str) -> bool {
        match self {
            Segment::Literal(text) => **text == *seg,
            Segment::One | Segment::Capture(_) => !seg.is_empty(),
        }
    }

    /// True when every segment `other` accepts, `self` accepts. A capture accepts
    /// what `*` does, so for shadowing it is a `*`.
    fn covers(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Literal(a), Segment::Literal(b)) => a == b,
            (Segment::Literal(_), _) => false,
            (_, Segment::Literal(text)) => !text.is_empty(),
            (_, _) => true,
        }
    }
}

/// A compiled route path pattern, matched against normalized paths.
///
/// `/a/b` is exact (and does not match `/a/b/`), `*` and `{name}` match one whole
/// non-empty segment, and a last `**` matches the prefix itself and anything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: Box<str>,
    segments: Vec<Segment>,
    /// Ends with `**`.
    rest: bool,
}

impl Pattern {
    /// Parses and validates a pattern.
    ///
    /// # Errors
    ///
    /// A [`PatternError`] for a pattern that is malformed or could never match.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let body = match text.strip_prefix('/') {
            Some(body) => body,
            None if text.is_empty() => return Err(PatternError::Empty),
            None => return Err(PatternError::NotAbsolute),
        };
        let mut segments: Vec<Segment> = Vec::new();
        let mut rest = false;
        let mut parts = body.split('/').peekable();
        while let Some(part) = parts.next() {
            let last = parts.peek().is_none();
            match part {
                "**" if last => rest = true,
                "**" => return Err(PatternError::DoubleStarNotLast),
                _ => {
                    let segment = parse_segment(part, last)?;
                    if let Segment::Capture(name) = &segment
                        && segments.contains(&segment)
                    {
                        let name = name.to_string();
                        return Err(PatternError::DuplicateCapture { name });
                    }
                    segments.push(segment);
                }
            }
        }
        let text = text.into();
        Ok(Self {
            text,
            segments,
            rest,
        })
    }

    /// True when `normalized_path` (the output of [`super::normalize`]) matches.
    /// Segments compare whole and case-sensitively; does not allocate.
    pub fn matches(&self, normalized_path: &str) -> bool {
        let Some(body) = normalized_path.strip_prefix('/') else {
            return false;
        };
        let mut parts = body.split('/');
        let prefix = (self.segments.iter()).all(|seg| parts.next().is_some_and(|p| seg.accepts(p)));
        prefix && (self.rest || parts.next().is_none())
    }

    /// True when every path `other` matches, `self` matches too (for shadow warnings).
    /// Exact for these patterns, but callers may only rely on it being conservative.
    pub fn covers(&self, other: &Pattern) -> bool {
        let n = self.segments.len();
        let lengths = if self.rest {
            other.segments.len() >= n
        } else {
            !other.rest && other.segments.len() == n
        };
        lengths && (self.segments.iter().zip(&other.segments)).all(|(a, b)| a.covers(b))
    }

    /// The pattern as written in the config.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The position (segment index after the leading `/`) of capture `{name}`.
    pub fn capture(&self, name: &str) -> Option<usize> {
        (self.segments.iter()).position(|s| matches!(s, Segment::Capture(n) if **n == *name))
    }

    /// Every capture's name, in the order written.
    pub fn captures(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Capture(name) => Some(&**name),
            _ => None,
        })
    }
}

/// Segment `index` (counted after the leading `/`) of a normalized path that a pattern
/// with a capture there matched: a slice of the path itself, never a copy. Never holds
/// a `/` (it is a whole segment) and, for a path the pattern matched, is never empty.
pub fn segment(normalized_path: &str, index: usize) -> Option<&str> {
    normalized_path.strip_prefix('/')?.split('/').nth(index)
}

fn parse_segment(part: &str, last: bool) -> Result<Segment, PatternError> {
    match part {
        "*" => Ok(Segment::One),
        // A trailing slash (or the root pattern "/") is an exact, empty last segment.
        "" if last => Ok(Segment::Literal("".into())),
        "" => Err(PatternError::EmptySegment),
        _ if part.contains(['{', '}']) => capture(part),
        _ if part.contains('*') => Err(PatternError::PartialWildcard {
            segment: part.to_owned(),
        }),
        _ => literal(part),
    }
}

/// `{name}`, the whole segment. Braces are not path characters (RFC 3986 §3.3), so a
/// literal segment can never hold one and the syntax is unambiguous.
fn capture(part: &str) -> Result<Segment, PatternError> {
    let segment = || part.to_owned();
    let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
        return Err(PatternError::PartialCapture { segment: segment() });
    };
    if name.contains(['{', '}']) {
        return Err(PatternError::PartialCapture { segment: segment() });
    }
    if !is_capture_name(name) {
        return Err(PatternError::CaptureName { segment: segment() });
    }
    Ok(Segment::Capture(name.into()))
}

/// An identifier: ASCII letters, digits and `_`, not starting with a digit (so it reads
/// the same as a bare TOML key in `bind` and in an environment variable name).
fn is_capture_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Refuses what a normalized path could never contain, so the pattern can match.
fn literal(part: &str) -> Result<Segment, PatternError> {
    let normal = path::normalize_segment(part).map_err(|reason| PatternError::InvalidSegment {
        segment: part.to_owned(),
        reason,
    })?;
    if normal == "." || normal == ".." {
        return Err(PatternError::DotSegment {
            segment: part.to_owned(),
        });
    }
    if normal != part {
        return Err(PatternError::NotNormal {
            segment: part.to_owned(),
            normal: normal.into_owned(),
        });
    }
    Ok(Segment::Literal(part.into()))
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text).unwrap()
    }

    fn check(pattern: &str, yes: &[&str], no: &[&str]) {
        let pat = p(pattern);
        for path in yes {
            assert!(pat.matches(path), "{pattern} should match {path}");
        }
        for path in no {
            assert!(!pat.matches(path), "{pattern} should not match {path}");
        }
    }

    #[test]
    fn exact() {
        check(
            "/a/b",
            &["/a/b"],
            &["/a/b/", "/a", "/a/bc", "/a/b/c", "/A/b", "/", ""],
        );
        check("/a/", &["/a/"], &["/a", "/a/b"]);
        check("/", &["/"], &["/a", ""]);
    }

    #[test]
    fn double_star_matches_whole_segments_only() {
        check(
            "/admin/**",
            &["/admin", "/admin/", "/admin/x", "/admin/x/y/"],
            &["/administrator", "/admin.html", "/Admin", "/", "/x/admin"],
        );
        check("/**", &["/", "/a", "/a/", "/a/b/c"], &[]);
    }

    #[test]
    fn single_star_is_one_non_empty_segment() {
        check("/a/*", &["/a/b", "/a/*"], &["/a", "/a/", "/a/b/c", "/a/b/"]);
        check("/*/b", &["/x/b", "/a/b"], &["/b", "/x/y/b", "/x/b/"]);
        check("/a/*/**", &["/a/b", "/a/b/", "/a/b/c"], &["/a", "/a/"]);
        check("/*", &["/a"], &["/", "/a/"]);
    }

    #[test]
    fn a_capture_is_one_non_empty_segment() {
        check(
            "/t/{tenant}/**",
            &["/t/acme", "/t/acme/", "/t/acme/x/y", "/t/*/x"],
            &["/t", "/t/", "/tenants/acme", "/T/acme"],
        );
        check("/u/{id}", &["/u/1"], &["/u/", "/u/1/", "/u/1/x", "/u"]);
        check("/{a}/x/{b}", &["/1/x/2"], &["/1/x/", "/1/y/2", "/1/x/2/3"]);
    }

    #[test]
    fn captures_are_found_by_name_and_read_from_the_path() {
        let pat = p("/t/{tenant}/u/{user}/**");
        assert_eq!(pat.capture("tenant"), Some(1));
        assert_eq!(pat.capture("user"), Some(3));
        assert_eq!(pat.capture("t"), None);
        assert_eq!(pat.captures().collect::<Vec<_>>(), ["tenant", "user"]);
        let path = "/t/acme/u/ann/docs/1";
        assert!(pat.matches(path));
        assert_eq!(segment(path, 1), Some("acme"));
        assert_eq!(segment(path, 3), Some("ann"));
        assert_eq!(segment(path, 9), None);
        assert_eq!(segment("relative", 0), None);
        // Borrowed from the path: no copy is made.
        let got = segment(path, 1).unwrap();
        assert_eq!(got.as_ptr(), path[3..].as_ptr());
    }

    #[test]
    fn case_sensitive_and_escapes_literal() {
        check("/Admin", &["/Admin"], &["/admin", "/ADMIN"]);
        check("/a%20b", &["/a%20b"], &["/a%20B", "/a b"]);
    }

    #[test]
    fn refused_patterns() {
        use PatternError as E;
        let seg = |s: &str| s.to_owned();
        for (text, want) in [
            ("", E::Empty),
            ("a/b", E::NotAbsolute),
            ("*", E::NotAbsolute),
            ("//admin", E::EmptySegment),
            ("/a//b", E::EmptySegment),
            ("/a//", E::EmptySegment),
            ("/a*", E::PartialWildcard { segment: seg("a*") }),
            (
                "/a/**b",
                E::PartialWildcard {
                    segment: seg("**b"),
                },
            ),
            (
                "/a/***",
                E::PartialWildcard {
                    segment: seg("***"),
                },
            ),
            ("/**/a", E::DoubleStarNotLast),
            (
                "/a{x}",
                E::PartialCapture {
                    segment: seg("a{x}"),
                },
            ),
            (
                "/{x}b",
                E::PartialCapture {
                    segment: seg("{x}b"),
                },
            ),
            ("/{x", E::PartialCapture { segment: seg("{x") }),
            ("/x}", E::PartialCapture { segment: seg("x}") }),
            (
                "/{{x}}",
                E::PartialCapture {
                    segment: seg("{{x}}"),
                },
            ),
            (
                "/**{x}",
                E::PartialCapture {
                    segment: seg("**{x}"),
                },
            ),
            (
                "/{x}**",
                E::PartialCapture {
                    segment: seg("{x}**"),
                },
            ),
            ("/{}", E::CaptureName { segment: seg("{}") }),
            (
                "/{*}",
                E::CaptureName {
                    segment: seg("{*}"),
                },
            ),
            (
                "/a/{**}",
                E::CaptureName {
                    segment: seg("{**}"),
                },
            ),
            (
                "/{1x}",
                E::CaptureName {
                    segment: seg("{1x}"),
                },
            ),
            (
                "/{a-b}",
                E::CaptureName {
                    segment: seg("{a-b}"),
                },
            ),
            (
                "/{a b}",
                E::CaptureName {
                    segment: seg("{a b}"),
                },
            ),
            (
                "/{é}",
                E::CaptureName {
                    segment: seg("{é}"),
                },
            ),
            ("/{x}/**/{y}", E::DoubleStarNotLast),
            ("/{x}/a/{x}", E::DuplicateCapture { name: seg("x") }),
            ("/a/**/", E::DoubleStarNotLast),
            ("/a/../b", E::DotSegment { segment: seg("..") }),
            ("/./b", E::DotSegment { segment: seg(".") }),
            (
                "/a/%2e%2E",
                E::DotSegment {
                    segment: seg("%2e%2E"),
                },
            ),
            (
                "/%7Euser",
                E::NotNormal {
                    segment: seg("%7Euser"),
                    normal: seg("~user"),
                },
            ),
            (
                "/a%3a",
                E::NotNormal {
                    segment: seg("a%3a"),
                    normal: seg("a%3A"),
                },
            ),
        ] {
            assert_eq!(Pattern::parse(text), Err(want), "{text:?}");
        }
        for (text, reason) in [
            ("/a;b", PathError::RawForbidden { byte: b';' }),
            ("/a\\b", PathError::RawForbidden { byte: b'\\' }),
            ("/a%2Fb", PathError::EncodedForbidden { byte: b'/' }),
            ("/a b", PathError::InvalidByte { byte: b' ' }),
            ("/a%zz", PathError::MalformedEscape),
        ] {
            let got = Pattern::parse(text).unwrap_err();
            assert!(
                matches!(got, E::InvalidSegment { reason: r, .. } if r == reason),
                "{text:?}"
            );
        }
    }

    #[test]
    fn messages() {
        let msg = |t: &str| Pattern::parse(t).unwrap_err().to_string();
        assert_eq!(
            msg("/a*"),
            "wildcard \"a*\" must be a whole segment: '*' or '**'"
        );
        assert_eq!(
            msg("/%7Eu"),
            "segment \"%7Eu\" is not in normal form; write \"~u\""
        );
        assert_eq!(
            msg("/a%2F"),
            "segment \"a%2F\": encoded '/' (%2F) is not allowed in the path"
        );
        assert_eq!(
            msg("/t/x{id}"),
            "capture \"x{id}\" must be a whole segment: '{name}'"
        );
        assert_eq!(
            msg("/t/{}"),
            "capture \"{}\" needs a name of ASCII letters, digits and '_', not starting with a digit"
        );
        assert_eq!(msg("/{id}/{id}"), "capture {id} appears more than once");
    }

    #[test]
    fn display_is_the_original_text() {
        for text in ["/admin/**", "/a/*/b", "/", "/a/", "/t/{tenant}/**"] {
            assert_eq!(p(text).to_string(), text);
            assert_eq!(text.parse::<Pattern>().unwrap().as_str(), text);
        }
    }

    #[test]
    fn covers_examples() {
        let yes = [
            ("/**", "/admin/**"),
            ("/**", "/"),
            ("/admin/**", "/admin"),
            ("/admin/**", "/admin/"),
            ("/admin/**", "/admin/*"),
            ("/admin/**", "/admin/*/**"),
            ("/admin/*", "/admin/x"),
            ("/a/b", "/a/b"),
            ("/*/b", "/a/b"),
            ("/t/{x}/**", "/t/*/a"),
            ("/t/*/**", "/t/{x}/a"),
            ("/t/{x}", "/t/{y}"),
            ("/t/{x}", "/t/acme"),
        ];
        let no = [
            ("/admin/**", "/**"),
            ("/admin/**", "/administrator"),
            ("/admin/*", "/admin/"),
            ("/admin/*", "/admin/**"),
            ("/admin/*", "/admin"),
            ("/a/b", "/a/b/"),
            ("/a/x", "/a/*"),
            ("/*", "/"),
            ("/t/acme", "/t/{x}"),
            ("/t/{x}", "/t/"),
            ("/t/{x}", "/t/{x}/**"),
        ];
        for (a, b) in yes {
            assert!(p(a).covers(&p(b)), "{a} covers {b}");
        }
        for (a, b) in no {
            assert!(!p(a).covers(&p(b)), "{a} does not cover {b}");
        }
    }

    /// `covers` must never claim more than matching shows, over a grid of patterns
    /// and normalized paths.
    #[test]
    fn property_covers_is_sound() {
        let patterns = [
            "/",
            "/**",
            "/a",
            "/a/",
            "/a/**",
            "/a/*",
            "/*",
            "/*/",
            "/*/**",
            "/a/b",
            "/a/*/**",
            "/*/b",
            "/b/**",
            "/a/b/",
            "/{x}",
            "/a/{x}",
            "/{x}/b",
            "/{x}/**",
            "/a/{y}/**",
        ];
        let paths = [
            "/", "/a", "/a/", "/b", "/a/b", "/a/b/", "/a/c", "/b/b", "/a/b/c", "/c/b", "/ab",
        ];
        for a in patterns.map(p) {
            for b in patterns.map(p) {
                if a.covers(&b) {
                    for path in paths.iter().filter(|path| b.matches(path)) {
                        assert!(a.matches(path), "{a} covers {b} but misses {path}");
                    }
                }
            }
        }
    }
}
