//! Path normalization and route matching.
//!
//! Properties: `normalize` never panics; its output has no `//`, `/./`, `/../`, does not
//! end in `/.` or `/..`, and is a fixed point; every equivalent spelling of a normalized
//! path (dot-segments, `x/..`, repeated slashes, percent-encoded unreserved characters,
//! lower-case hex) normalizes back to it, so the route decision is the same; and
//! `Pattern::matches` agrees with a naive segment-by-segment reference matcher.
#![no_main]

use std::borrow::Cow;
use std::sync::OnceLock;

use cognigate::config::{AuthMode, RouteConfig};
use cognigate::policy::{Pattern, RouteTable, normalize};
use http::Method;
use libfuzzer_sys::fuzz_target;

/// One rewrite that must not change what a normalized path means.
#[derive(Debug)]
enum Respell {
    /// `.` (or `%2e`, `%2E`) before segment `at`.
    Dot { at: u8, spelling: u8 },
    /// `x<n>/..` (dots possibly encoded) before segment `at`.
    Climb { at: u8, name: u8, spelling: u8 },
    /// An empty segment before segment `at` (a doubled slash).
    Slash { at: u8 },
    /// Percent-encode the unreserved character `ch` of segment `at`.
    Encode { at: u8, ch: u8, lower: bool },
}

impl Respell {
    /// Three bytes: kind, segment, parameter.
    fn decode(b: &[u8]) -> Respell {
        let (at, p) = (b[1], b[2]);
        match b[0] % 4 {
            0 => Respell::Dot { at, spelling: p },
            1 => Respell::Climb {
                at,
                name: p >> 4,
                spelling: p & 15,
            },
            2 => Respell::Slash { at },
            _ => Respell::Encode {
                at,
                ch: p >> 1,
                lower: p & 1 == 1,
            },
        }
    }
}

const PATTERNS: &[&str] = &[
    "/",
    "/a",
    "/a/",
    "/a/*",
    "/a/**",
    "/a/*/c",
    "/admin/**",
    "/x1/**",
    "/%C3%A9/*",
    "/**",
];

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let routes: Vec<_> = PATTERNS.iter().map(|p| route(p)).collect();
        RouteTable::compile(&routes).unwrap()
    })
}

fn route(path: &str) -> RouteConfig {
    RouteConfig {
        path: path.into(),
        methods: None,
        host: None,
        auth: AuthMode::Required,
        groups_any: Vec::new(),
        groups_all: Vec::new(),
        scopes_any: Vec::new(),
        scopes_all: Vec::new(),
        token_use: Vec::new(),
        issuers: Vec::new(),
        claims: Default::default(),
        bind: Default::default(),
        login: false,
        max_age: None,
    }
}

fuzz_target!(|data: &[u8]| {
    // Input: `path NUL pattern NUL edits`, edits in 3-byte groups.
    let mut parts = data.splitn(3, |&b| b == 0);
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let pattern = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let edits: Vec<Respell> = (parts.next().unwrap_or_default().chunks_exact(3))
        .map(Respell::decode)
        .collect();
    let Ok(normal) = normalize(&path) else {
        return;
    };
    check_canonical(&normal);
    let decision = find(&normal);
    let respelled = respell(&normal, &edits);
    let again = normalize(&respelled).unwrap_or_else(|e| panic!("{respelled:?}: {e}"));
    assert_eq!(again, normal, "{respelled:?}");
    assert_eq!(find(&again), decision);
    for p in PATTERNS.iter().copied().chain([&*pattern]) {
        if let Ok(pattern) = Pattern::parse(p) {
            assert_eq!(
                pattern.matches(&normal),
                reference(p, &normal),
                "{p} ~ {normal}"
            );
        }
    }
});

fn find(path: &str) -> Option<usize> {
    table().find(&Method::GET, None, path).map(|(i, _)| i)
}

fn check_canonical(n: &str) {
    assert!(n.starts_with('/'), "{n:?}");
    for bad in ["//", "/./", "/../"] {
        assert!(!n.contains(bad), "{n:?}");
    }
    assert!(!n.ends_with("/.") && !n.ends_with("/.."), "{n:?}");
    assert!(
        matches!(normalize(n), Ok(Cow::Borrowed(again)) if again == n),
        "{n:?}"
    );
}

fn respell(normal: &str, edits: &[Respell]) -> String {
    let mut segs: Vec<String> = normal[1..].split('/').map(str::to_owned).collect();
    for edit in edits.iter().take(16) {
        let len = segs.len();
        let at = |i: u8| usize::from(i) % len;
        match *edit {
            Respell::Dot { at: i, spelling } => {
                let dot = [".", "%2e", "%2E"][usize::from(spelling % 3)];
                segs.insert(at(i), dot.into());
            }
            Respell::Climb {
                at: i,
                name,
                spelling,
            } => {
                let dots = ["..", "%2e%2e", ".%2E", "%2E.", "%2e."][usize::from(spelling % 5)];
                let i = at(i);
                segs.insert(i, dots.into());
                segs.insert(i, format!("x{}", name % 10));
            }
            Respell::Slash { at: i } => segs.insert(at(i), String::new()),
            Respell::Encode { at: i, ch, lower } => {
                let seg = &mut segs[at(i)];
                if let Some(pos) = (!seg.is_empty()).then(|| usize::from(ch) % seg.len()) {
                    encode_at(seg, pos, lower);
                }
            }
        }
    }
    format!("/{}", segs.join("/"))
}

/// Encodes the byte at `pos` if it is an unreserved character outside an escape.
fn encode_at(seg: &mut String, pos: usize, lower: bool) {
    let bytes = seg.as_bytes();
    let in_escape = (pos >= 1 && bytes[pos - 1] == b'%') || (pos >= 2 && bytes[pos - 2] == b'%');
    let b = bytes[pos];
    let unreserved = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    if in_escape || !unreserved || b == b'%' {
        return;
    }
    let escape = if lower {
        format!("%{b:02x}")
    } else {
        format!("%{b:02X}")
    };
    seg.replace_range(pos..=pos, &escape);
}

/// Naive reference: split both on `/`; `*` takes one non-empty segment; a last `**`
/// takes the rest (possibly nothing).
fn reference(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern[1..].split('/').collect();
    let segs: Vec<&str> = path[1..].split('/').collect();
    let (fixed, rest) = match pat.split_last() {
        Some((&"**", fixed)) => (fixed, true),
        _ => (&pat[..], false),
    };
    if segs.len() < fixed.len() || (!rest && segs.len() != fixed.len()) {
        return false;
    }
    fixed.iter().zip(&segs).all(|(p, s)| match *p {
        "*" => !s.is_empty(),
        lit => lit == *s,
    })
}
