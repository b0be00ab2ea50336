//! Route path patterns: whole-segment literals, `*` for one segment, a trailing `**`.
//!
//! Patterns are held to the same spelling rules as normalized request paths, so a
//! pattern that could never match (`/%7Euser`, `/a/../b`) is refused at load time
//! instead of silently failing open to a later, broader route.

use std::fmt;
use std::str::FromStr;

use super::path::{self, PathError};

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
}

impl Segment {
    fn accepts(&self, seg: &str) -> bool {
        match self {
            Segment::Literal(text) => **text == *seg,
            Segment::One => !seg.is_empty(),
        }
    }

    /// True when every segment `other` accepts, `self` accepts.
    fn covers(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::One, Segment::One) => true,
            (Segment::One, Segment::Literal(text)) => !text.is_empty(),
            (Segment::Literal(a), Segment::Literal(b)) => a == b,
            (Segment::Literal(_), Segment::One) => false,
        }
    }
}

/// A compiled route path pattern, matched against normalized paths.
///
/// `/a/b` is exact (and does not match `/a/b/`), `*` matches one whole non-empty
/// segment, and a last `**` matches the prefix itself and anything below it.
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
        let mut segments = Vec::new();
        let mut rest = false;
        let mut parts = body.split('/').peekable();
        while let Some(part) = parts.next() {
            let last = parts.peek().is_none();
            match part {
                "**" if last => rest = true,
                "**" => return Err(PatternError::DoubleStarNotLast),
                _ => segments.push(parse_segment(part, last)?),
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
}

fn parse_segment(part: &str, last: bool) -> Result<Segment, PatternError> {
    match part {
        "*" => Ok(Segment::One),
        // A trailing slash (or the root pattern "/") is an exact, empty last segment.
        "" if last => Ok(Segment::Literal("".into())),
        "" => Err(PatternError::EmptySegment),
        _ if part.contains('*') => Err(PatternError::PartialWildcard {
            segment: part.to_owned(),
        }),
        _ => literal(part),
    }
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
    }

    #[test]
    fn display_is_the_original_text() {
        for text in ["/admin/**", "/a/*/b", "/", "/a/"] {
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
            "/", "/**", "/a", "/a/", "/a/**", "/a/*", "/*", "/*/", "/*/**", "/a/b", "/a/*/**",
            "/*/b", "/b/**", "/a/b/",
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
