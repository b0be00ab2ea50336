//! Property tests (stable-toolchain twins of the cargo-fuzz targets in `fuzz/`): path
//! normalization and route matching, token verification on hostile bytes, and config
//! loading on arbitrary TOML. Case counts are kept small so the suite stays fast in CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Duration;

use cognigate::config::{AuthMode, Issuer, RouteConfig, TokenSettings, TokenUse};
use cognigate::jwks::{KeySet, KeyStore};
use cognigate::policy::pattern::segment;
use cognigate::policy::{Claim, ClaimSource, Pattern, RouteTable, Subject, normalize};
use cognigate::verify::Verifier;
use http::Method;
use jsonwebtoken::Algorithm;
use proptest::prelude::*;
use support::tokens::{self, CLIENT, ISSUER};

// ---------------------------------------------------------------- paths and routes

/// Route patterns whose decisions the equivalence property compares.
const PATTERNS: &[&str] = &[
    "/",
    "/a",
    "/a/",
    "/a/*",
    "/a/**",
    "/a/*/c",
    "/admin/**",
    "/x1/**",
    "/~u/*",
    "/{t}/x1",
    "/**",
];

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        RouteTable::compile(&PATTERNS.iter().copied().map(route).collect::<Vec<_>>()).unwrap()
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

fn decision(path: &str) -> Option<usize> {
    table().find(&Method::GET, None, path).map(|(i, _)| i)
}

/// A path made of tricky segments: dot-segments (plain and encoded), escapes, empty
/// segments, names the patterns use.
fn tricky_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just(String::new()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2e".to_owned()),
        Just("%2E%2e".to_owned()),
        Just(".%2E".to_owned()),
        "[a-c]{1,2}",
        "(a|admin|x1|c|~u|%7[eE]u|%61|%C3%A9|%c3%a9|\\.\\.\\.|a\\.b)",
        "[!-~]{1,3}",
    ];
    proptest::collection::vec(segment, 0..6).prop_map(|s| format!("/{}", s.join("/")))
}

fn check_canonical(out: &str) -> Result<(), TestCaseError> {
    prop_assert!(out.starts_with('/'));
    for bad in ["//", "/./", "/../"] {
        prop_assert!(!out.contains(bad), "{out:?} contains {bad:?}");
    }
    prop_assert!(!out.ends_with("/.") && !out.ends_with("/.."), "{out:?}");
    Ok(())
}

/// An edit that keeps a normalized path's meaning: kind, segment index, parameter.
type Edit = (u8, u8, u8);

/// Re-spells a normalized path: inserts `./` or `x/../` (dots possibly `%2e`), doubles
/// slashes, percent-encodes unreserved characters. Only ever before an existing segment,
/// so the trailing slash (which routes may distinguish) is untouched.
fn respell(normal: &str, edits: &[Edit]) -> String {
    let mut segs: Vec<String> = normal[1..].split('/').map(str::to_owned).collect();
    for &(kind, at, p) in edits {
        let at = usize::from(at) % segs.len();
        match kind % 4 {
            0 => segs.insert(at, [".", "%2e", "%2E"][usize::from(p % 3)].into()),
            1 => {
                let dots = ["..", "%2e%2e", ".%2E", "%2E.", "%2e."][usize::from(p % 5)];
                segs.insert(at, dots.into());
                segs.insert(at, format!("x{}", p % 10));
            }
            2 => segs.insert(at, String::new()),
            _ => encode_one(&mut segs[at], usize::from(p >> 1), p & 1 == 1),
        }
    }
    format!("/{}", segs.join("/"))
}

/// Percent-encodes the byte at `pos` when it is an unreserved character, not in an escape.
fn encode_one(seg: &mut String, pos: usize, lower: bool) {
    let Some(pos) = (!seg.is_empty()).then(|| pos % seg.len()) else {
        return;
    };
    let bytes = seg.as_bytes();
    let in_escape = (pos >= 1 && bytes[pos - 1] == b'%') || (pos >= 2 && bytes[pos - 2] == b'%');
    let b = bytes[pos];
    if in_escape || !(b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
        return;
    }
    let escape = if lower {
        format!("%{b:02x}")
    } else {
        format!("%{b:02X}")
    };
    seg.replace_range(pos..=pos, &escape);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn normalized_paths_are_canonical_and_idempotent(
        path in prop_oneof![tricky_path(), "/\\PC{0,24}", "\\PC{0,8}"],
    ) {
        if let Ok(out) = normalize(&path) {
            check_canonical(&out)?;
            let again = normalize(&out).unwrap();
            prop_assert!(matches!(again, Cow::Borrowed(_)), "{path:?} -> {out:?} -> {again:?}");
            prop_assert_eq!(&*again, &*out);
        }
    }

    #[test]
    fn equivalent_spellings_get_the_same_route_decision(
        path in tricky_path(),
        edits in proptest::collection::vec(any::<Edit>(), 1..8),
    ) {
        let Ok(normal) = normalize(&path) else {
            return Ok(());
        };
        let spelled = respell(&normal, &edits);
        let again = normalize(&spelled);
        prop_assert_eq!(again.as_deref(), Ok(&*normal), "{:?}", spelled);
        prop_assert_eq!(decision(&spelled_normal(&spelled)), decision(&normal));
    }
}

fn spelled_normal(spelled: &str) -> String {
    normalize(spelled).unwrap().into_owned()
}

#[test]
fn respelling_examples_match_the_normalized_route() {
    for (spelled, want) in [
        ("/x1/../admin/./x", "/admin/x"),
        ("/%61dmin//%2e/x", "/admin/x"),
        ("/a/x3/%2E%2e/%2a", "/a/%2A"),
    ] {
        assert_eq!(normalize(spelled).unwrap(), want);
        assert_eq!(decision(&spelled_normal(spelled)), decision(want));
    }
}

// ---------------------------------------------------------------- captures and binding

const TENANT: &str = "/t/{tenant}/**";

/// One route, `/t/{tenant}/**`, bound to `custom:tenant_id`.
fn tenant_table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut bound = route(TENANT);
        bound
            .bind
            .insert("tenant".into(), "custom:tenant_id".into());
        RouteTable::compile(&[bound]).unwrap()
    })
}

/// A token whose `custom:tenant_id` is the string held.
#[derive(Debug)]
struct Tenant(String);

impl ClaimSource for Tenant {
    fn claim(&self, name: &str) -> Claim<'_> {
        match name {
            "custom:tenant_id" => Claim::Text(&self.0),
            _ => Claim::Absent,
        }
    }
}

/// The decision on `raw` for a token of `tenant`: `None` when the path is refused or
/// matches no route, else whether the binding holds.
fn bound(raw: &str, tenant: &str) -> Option<bool> {
    let normal = normalize(raw).ok()?;
    let (_, route) = tenant_table().find(&Method::GET, None, &normal)?;
    let claims = Tenant(tenant.to_owned());
    let subject = Subject {
        groups: cognigate::policy::Items::NONE,
        scope: "",
        token_use: TokenUse::Access,
        issuer: "main",
        claims: &claims,
    };
    Some(route.authorize(&subject, &normal).is_ok())
}

/// A capture never matches an empty segment: the paths that would leave one empty
/// match no capture route (and `//` merges into the next segment).
#[test]
fn an_empty_segment_is_never_captured() {
    for empty in ["/t", "/t/", "/t//", "/t/./", "/t/a/../", "/t/%2e/"] {
        assert_eq!(bound(empty, ""), None, "{empty}");
    }
    assert_eq!(bound("/t//x", "x"), Some(true), "merged: the segment is x");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// What a capture reads is exactly one whole, non-empty segment of the normalized
    /// path: never a `/`, never empty, and the pattern's position.
    #[test]
    fn a_capture_is_one_whole_non_empty_segment(
        path in prop_oneof![tricky_path(), "/t/\\PC{0,12}", "/t/[a/%.]{0,8}(/x)?"],
    ) {
        let Ok(normal) = normalize(&path) else {
            return Ok(());
        };
        if Pattern::parse(TENANT).unwrap().matches(&normal) {
            let seg = segment(&normal, 1).unwrap();
            prop_assert!(!seg.is_empty() && !seg.contains('/'), "{:?} -> {:?}", normal, seg);
            let rest = &normal[3 + seg.len()..];
            prop_assert!(normal.starts_with("/t/") && (rest.is_empty() || rest.starts_with('/')));
        }
    }

    /// An encoded `/` is refused (400) before any route is matched, so no capture can
    /// hold one, whatever the token's tenant.
    #[test]
    fn an_encoded_slash_never_reaches_a_capture(
        a in "[a-z0-9]{0,6}",
        b in "[a-z0-9]{0,6}",
        slash in "%2[fF]",
    ) {
        let raw = format!("/t/{a}{slash}{b}/x");
        prop_assert!(normalize(&raw).is_err());
        prop_assert_eq!(bound(&raw, &format!("{a}/{b}")), None);
        prop_assert_eq!(bound(&raw, &format!("{a}{slash}{b}")), None);
    }

    /// A binding compares the normalized segment with the claim, exactly: every
    /// spelling of the tenant's path binds to the tenant, and to no other value (not
    /// even the same letters in another case, nor the tenant a dot-segment climbed from).
    #[test]
    fn binding_compares_the_normalized_segment_exactly(
        tenant in "[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,10}",
        other in "[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,10}",
        edits in proptest::collection::vec(any::<Edit>(), 0..6),
    ) {
        let spelled = respell(&format!("/t/{tenant}/x"), &edits);
        prop_assert_eq!(bound(&spelled, &tenant), Some(true), "{}", spelled);
        let climbed = format!("/t/{other}/../{tenant}/x");
        prop_assert_eq!(bound(&climbed, &tenant), Some(true), "{}", climbed);
        if other != tenant {
            prop_assert_eq!(bound(&spelled, &other), Some(false), "{}", spelled);
            prop_assert_eq!(bound(&climbed, &other), Some(false), "{}", climbed);
        }
        let upper = tenant.to_ascii_uppercase();
        if upper != tenant {
            prop_assert_eq!(bound(&spelled, &upper), Some(false));
        }
    }
}

// ---------------------------------------------------------------- token verification

struct TokenFixture {
    keys: KeyStore,
    verifier: Verifier,
    valid: String,
}

fn token_fixture() -> &'static TokenFixture {
    static FIXTURE: OnceLock<TokenFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = tokens::key();
        let keys = KeyStore::new(1, Duration::from_secs(30));
        keys.replace(
            0,
            KeySet::from_jwks(key.jwks_json.as_bytes(), &[Algorithm::RS256]).unwrap(),
        );
        let issuer = Issuer {
            name: "main".into(),
            issuer: ISSUER.into(),
            jwks_uri: "http://127.0.0.1:9/jwks.json".into(),
            client_ids: vec![CLIENT.into()],
            token_use: vec![TokenUse::Access, TokenUse::Id],
            algorithms: vec![Algorithm::RS256],
            cognito: true,
            api_endpoint: None,
        };
        let settings = TokenSettings {
            leeway: Duration::from_secs(60),
            cookies: Vec::new(),
            amplify_cookies: false,
            strip_authorization: false,
            cache_size: cognigate::config::CacheSize::Entries(1000),
        };
        let verifier = Verifier::new(&[issuer], &settings);
        let valid = tokens::sign(&key, &tokens::access("alice", &["admin"]));
        assert!(verifier.verify(&valid, &keys, tokens::now()).is_ok());
        TokenFixture {
            keys,
            verifier,
            valid,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_never_accepted(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let f = token_fixture();
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(f.verifier.verify(&text, &f.keys, tokens::now()).is_err());
    }

    #[test]
    fn token_shaped_junk_is_never_accepted(text in "[A-Za-z0-9_=+/-]{0,40}(\\.[A-Za-z0-9_=+/-]{0,60}){0,4}") {
        let f = token_fixture();
        prop_assert!(f.verifier.verify(&text, &f.keys, tokens::now()).is_err());
    }

    #[test]
    fn a_mutated_valid_token_is_refused(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let f = token_fixture();
        let mut bytes = f.valid.clone().into_bytes();
        for (at, xor) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
        }
        let Ok(text) = String::from_utf8(bytes) else {
            return Ok(());
        };
        let result = f.verifier.verify(&text, &f.keys, tokens::now());
        if text == f.valid {
            prop_assert!(result.is_ok());
        } else {
            prop_assert!(result.is_err(), "accepted {text:?}");
        }
    }

    #[test]
    fn a_truncated_or_extended_valid_token_is_refused(cut in 0usize..2000, extra in "[A-Za-z0-9_.-]{0,3}") {
        let f = token_fixture();
        let cut = cut % (f.valid.len() + 1);
        let text = format!("{}{extra}", &f.valid[..cut]);
        let result = f.verifier.verify(&text, &f.keys, tokens::now());
        prop_assert_eq!(result.is_ok(), text == f.valid, "{:?}", text);
    }
}

// ---------------------------------------------------------------- config loading

fn load_toml(text: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    cognigate::config::load_with_env(&path, Vec::new())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// TOML assembled from the real key names with random values, so the validator (not
/// just the TOML parser) sees most cases.
fn config_text() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        "\"[ -~]{0,12}\"",
        "-?[0-9]{1,20}",
        Just("true".to_owned()),
        "\\[(\"[a-z*/]{0,6}\", ?){0,3}\\]",
        "\"[0-9]{1,14}(s|m|h|y|ms)\"",
    ];
    let key = prop_oneof![
        "(listen|admin_listen|mode|shutdown_delay|shutdown_timeout|bogus)",
        "upstream\\.(url|timeout|connect_timeout|http2|ca_file)",
        "limits\\.(max_connections|max_header_bytes|header_timeout|idle_timeout)",
        "jwks\\.(refresh_interval|min_refetch_interval|fetch_timeout)",
        "token\\.(leeway|cookies|cache_size|amplify_cookies)",
        "identity\\.(header_prefix|claims_header)",
    ];
    let line = (key, value).prop_map(|(k, v)| format!("{k} = {v}\n"));
    let section = prop_oneof![
        Just("[[issuers]]\nname = \"m\"\nissuer = \"https://i\"\n".to_owned()),
        "\\[\\[routes\\]\\]\npath = \"/[a-z*/.%]{0,8}\"\nauth = \"(public|required|deny|x)\"\n",
        "[ -~\n]{0,40}",
    ];
    (
        proptest::collection::vec(line, 0..8),
        proptest::collection::vec(section, 0..4),
    )
        .prop_map(|(lines, sections)| format!("{}{}", lines.concat(), sections.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn config_loading_never_panics(text in prop_oneof![config_text(), "\\PC{0,200}"]) {
        let _ = load_toml(&text);
    }
}

/// Found by the `config_toml` fuzz target: these validated, then panicked at start
/// (`Semaphore::new` past `MAX_PERMITS`; hyper adding `header_timeout` to an `Instant`).
#[test]
fn config_values_that_would_panic_at_start_are_refused() {
    let base = "[upstream]\nurl = \"http://127.0.0.1:1\"\n[[issuers]]\nname = \"m\"\n\
                issuer = \"https://i\"\n[[routes]]\npath = \"/**\"\n";
    assert!(load_toml(base).is_ok());
    for (extra, key) in [
        (
            "[limits]\nmax_connections = 9223372036854775807\n",
            "limits.max_connections",
        ),
        (
            "[limits]\nheader_timeout = \"300000000000y\"\n",
            "limits.header_timeout",
        ),
        (
            "[limits]\nidle_timeout = \"1000y\"\n",
            "limits.idle_timeout",
        ),
        ("shutdown_timeout = \"500000000000y\"\n", "shutdown_timeout"),
    ] {
        let err = load_toml(&format!("{extra}{base}")).unwrap_err();
        assert!(err.contains(key), "{extra}: {err}");
    }
}
