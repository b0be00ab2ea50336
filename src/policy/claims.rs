//! A route's claim rules (`claims`) and tenant bindings (`bind`).
//!
//! Threat: a caller of one tenant reaching another tenant's data by changing the tenant
//! in the URL (`/t/acme/...` to `/t/globex/...`), and a caller without the plan or role
//! a route is for. The tenant is compared with a claim the issuer signed, exactly and
//! case-sensitively, in the segment of the normalized path the route matched: the path
//! that is forwarded, so the backend serves the very tenant that was checked.
//!
//! Only a string claim, or an array of strings, can meet a rule: a rule's values are
//! strings, and a number, boolean or object claim never equals one (`42` is not `"42"`;
//! Cognito custom attributes arrive as strings). A binding needs a string claim: an
//! array claim names several tenants, never "the" tenant.

use std::fmt;

use super::pattern::{self, Pattern, UnknownCapture};
use crate::config::RouteConfig;

/// A claim of the verified token, as the rules read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim<'a> {
    /// The token has no such claim (or it is `null`).
    Absent,
    /// A string claim.
    Text(&'a str),
    /// An array of strings.
    List(Items<'a>),
    /// Anything else: a number, boolean, object, or an array holding a non-string.
    Other,
}

impl fmt::Display for Claim<'_> {
    /// For `explain`: the value found, as JSON would spell its kind.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Claim::Absent => f.write_str("absent"),
            Claim::Text(text) => write!(f, "{text:?}"),
            Claim::List(items) => write!(f, "{items:?}"),
            Claim::Other => f.write_str("not a string or an array of strings"),
        }
    }
}

/// The strings of an array claim, as the token holds them: each on its own, or joined
/// by a separator that none of them holds (the verifier keeps `cognito:groups` and
/// `aud` that way, in one buffer with the payload).
#[derive(Clone, Copy)]
pub enum Items<'a> {
    /// Each item on its own.
    Each(&'a [String]),
    /// One or more items, joined by the `char`.
    Joined(&'a str, char),
}

impl<'a> Items<'a> {
    /// No items.
    pub const NONE: Items<'static> = Items::Each(&[]);

    /// The items, in order.
    pub fn iter(self) -> impl Iterator<Item = &'a str> {
        let (each, joined) = match self {
            Items::Each(items) => (items, None),
            Items::Joined(text, sep) => (&[][..], Some(text.split(sep))),
        };
        (each.iter().map(String::as_str)).chain(joined.into_iter().flatten())
    }

    /// Whether one of the items is `item`, exactly.
    pub fn contains(self, item: &str) -> bool {
        self.iter().any(|i| i == item)
    }

    /// Whether there is no item.
    pub fn is_empty(self) -> bool {
        self.iter().next().is_none()
    }
}

/// Two lists are equal when their items are, however they are held.
impl PartialEq for Items<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Items<'_> {}

impl fmt::Debug for Items<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Where the rules read claims: the verified token.
pub trait ClaimSource: fmt::Debug {
    /// The claim called `name`.
    fn claim(&self, name: &str) -> Claim<'_>;
}

/// One `claims` entry: `claim` must be (or, an array, hold) one of `values`.
#[derive(Debug, Clone)]
struct ClaimRule {
    claim: Box<str>,
    values: Box<[Box<str>]>,
}

/// One `bind` entry, its capture compiled to the segment position it reads.
#[derive(Debug, Clone)]
struct Binding {
    capture: Box<str>,
    segment: usize,
    claim: Box<str>,
}

/// A route's compiled `claims` and `bind`, checked in that order, each in key order.
#[derive(Debug, Clone, Default)]
pub struct ClaimRules {
    rules: Box<[ClaimRule]>,
    bindings: Box<[Binding]>,
}

/// One rule, with what the token and the path gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check<'a> {
    /// `claims`: `claim` must be one of `values`, or an array holding one.
    Claim {
        /// The claim's name.
        claim: &'a str,
        /// The accepted values.
        values: &'a [Box<str>],
        /// The token's claim.
        found: Claim<'a>,
    },
    /// `bind`: the path segment `{capture}` must equal the string claim `claim`.
    Binding {
        /// The capture's name.
        capture: &'a str,
        /// The captured segment of the normalized path.
        segment: Option<&'a str>,
        /// The claim's name.
        claim: &'a str,
        /// The token's claim.
        found: Claim<'a>,
    },
}

impl Check<'_> {
    /// Whether the token (and path) meet the rule. Strings compare exactly.
    pub fn met(&self) -> bool {
        match *self {
            Check::Claim { values, found, .. } => match found {
                Claim::Text(text) => values.iter().any(|v| **v == *text),
                Claim::List(items) => items.iter().any(|i| values.iter().any(|v| **v == *i)),
                Claim::Absent | Claim::Other => false,
            },
            Check::Binding { segment, found, .. } => {
                matches!((segment, found), (Some(s), Claim::Text(t)) if s == t)
            }
        }
    }
}

impl fmt::Display for Check<'_> {
    /// The rule as configured: never the token's value (that is `found`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Claim { claim, values, .. } => {
                let values: Vec<&str> = values.iter().map(|v| &**v).collect();
                write!(f, "claim {claim}: one of {}", values.join(", "))
            }
            Check::Binding { capture, claim, .. } => {
                write!(f, "path segment {{{capture}}} = claim {claim}")
            }
        }
    }
}

impl ClaimRules {
    /// Compiles a route's `claims` and `bind` against its compiled `pattern`.
    ///
    /// # Errors
    ///
    /// The first `bind` key that is not a capture of the pattern.
    pub fn compile(config: &RouteConfig, pattern: &Pattern) -> Result<Self, UnknownCapture> {
        let rules = (config.claims.iter())
            .map(|(claim, values)| ClaimRule {
                claim: claim.as_str().into(),
                values: values.iter().map(|v| v.as_str().into()).collect(),
            })
            .collect();
        let bindings = (config.bind.iter())
            .map(|(capture, claim)| bind(capture, claim, pattern))
            .collect::<Result<_, _>>()?;
        Ok(Self { rules, bindings })
    }

    /// Every rule, `claims` then `bind`, with what `claims` and `normalized_path` (the
    /// path the route matched) give it. Allocates nothing.
    pub fn checks<'a>(
        &'a self,
        claims: &'a dyn ClaimSource,
        normalized_path: &'a str,
    ) -> impl Iterator<Item = Check<'a>> {
        let rules = self.rules.iter().map(|r| Check::Claim {
            claim: &r.claim,
            values: &r.values,
            found: claims.claim(&r.claim),
        });
        let bindings = self.bindings.iter().map(move |b| Check::Binding {
            capture: &b.capture,
            segment: pattern::segment(normalized_path, b.segment),
            claim: &b.claim,
            found: claims.claim(&b.claim),
        });
        rules.chain(bindings)
    }
}

fn bind(capture: &str, claim: &str, pattern: &Pattern) -> Result<Binding, UnknownCapture> {
    let segment = pattern.capture(capture).ok_or_else(|| UnknownCapture {
        capture: capture.to_owned(),
        path: pattern.as_str().to_owned(),
    })?;
    Ok(Binding {
        capture: capture.into(),
        segment,
        claim: claim.into(),
    })
}

/// Every claim named by a route's `claims` or `bind`, sorted, each once: the claims the
/// verifier must read besides its typed ones.
pub fn claim_names(routes: &[RouteConfig]) -> Vec<&str> {
    let mut names: Vec<&str> = (routes.iter())
        .flat_map(|r| r.claims.keys().chain(r.bind.values()))
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::policy::normalize;
    use crate::policy::table::tests::route;

    /// A token's claims for tests: name, claim.
    #[derive(Debug, Default)]
    pub(crate) struct TestClaims(pub Vec<(&'static str, TestClaim)>);

    /// An owned [`Claim`].
    #[derive(Debug)]
    pub(crate) enum TestClaim {
        Text(&'static str),
        List(Vec<String>),
        Other,
    }

    impl ClaimSource for TestClaims {
        fn claim(&self, name: &str) -> Claim<'_> {
            match self.0.iter().find(|(n, _)| *n == name) {
                None => Claim::Absent,
                Some((_, TestClaim::Text(t))) => Claim::Text(t),
                Some((_, TestClaim::List(l))) => Claim::List(Items::Each(l)),
                Some((_, TestClaim::Other)) => Claim::Other,
            }
        }
    }

    pub(crate) fn list(items: &[&str]) -> TestClaim {
        TestClaim::List(items.iter().map(|s| s.to_string()).collect())
    }

    /// `route(path)` with these `claims` and `bind`.
    pub(crate) fn with_rules(
        path: &str,
        claims: &[(&str, &[&str])],
        bind: &[(&str, &str)],
    ) -> RouteConfig {
        RouteConfig {
            claims: (claims.iter())
                .map(|(c, v)| (c.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            bind: (bind.iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..route(path)
        }
    }

    fn rules(path: &str, claims: &[(&str, &[&str])], bind: &[(&str, &str)]) -> ClaimRules {
        let config = with_rules(path, claims, bind);
        ClaimRules::compile(&config, &Pattern::parse(path).unwrap()).unwrap()
    }

    fn token(claims: Vec<(&'static str, TestClaim)>) -> TestClaims {
        TestClaims(claims)
    }

    fn outcomes(r: &ClaimRules, t: &TestClaims, path: &str) -> Vec<bool> {
        r.checks(t, path).map(|c| c.met()).collect()
    }

    #[test]
    fn a_claim_rule_is_met_by_a_string_equal_to_a_value_or_an_array_holding_one() {
        let r = rules("/p/**", &[("custom:plan", &["pro", "team"])], &[]);
        let met = |claim| outcomes(&r, &token(vec![("custom:plan", claim)]), "/p")[0];
        assert!(met(TestClaim::Text("pro")));
        assert!(met(TestClaim::Text("team")));
        assert!(met(list(&["free", "team"])));
        assert!(!met(TestClaim::Text("Pro")), "case-sensitive");
        assert!(!met(TestClaim::Text("pro ")));
        assert!(!met(TestClaim::Text("")));
        assert!(!met(list(&[])));
        assert!(!met(list(&["free"])));
        assert!(
            !met(TestClaim::Other),
            "numbers, booleans, objects never meet"
        );
        assert!(!outcomes(&r, &TestClaims::default(), "/p")[0], "absent");
    }

    #[test]
    fn a_numeric_rule_value_needs_a_string_claim() {
        let r = rules("/n", &[("custom:level", &["42"])], &[]);
        let met = |claim| outcomes(&r, &token(vec![("custom:level", claim)]), "/n")[0];
        assert!(met(TestClaim::Text("42")));
        // The JSON number 42 reads as Other (see the verifier's claim reading).
        assert!(!met(TestClaim::Other));
    }

    #[test]
    fn every_claim_rule_must_be_met() {
        let r = rules("/x", &[("a", &["1"]), ("b", &["2"])], &[]);
        let t = token(vec![
            ("a", TestClaim::Text("1")),
            ("b", TestClaim::Text("3")),
        ]);
        assert_eq!(outcomes(&r, &t, "/x"), [true, false]);
    }

    #[test]
    fn a_binding_compares_the_captured_segment_with_a_string_claim_exactly() {
        let r = rules("/t/{tenant}/**", &[], &[("tenant", "custom:tenant_id")]);
        let acme = token(vec![("custom:tenant_id", TestClaim::Text("acme"))]);
        let met = |t: &TestClaims, path: &str| outcomes(&r, t, path)[0];
        assert!(met(&acme, "/t/acme"));
        assert!(met(&acme, "/t/acme/orders/1"));
        assert!(!met(&acme, "/t/acme2/x"));
        assert!(!met(&acme, "/t/Acme/x"), "case-sensitive");
        assert!(!met(&acme, "/t/acm/x"));
        let array = token(vec![("custom:tenant_id", list(&["acme"]))]);
        assert!(!met(&array, "/t/acme/x"), "an array claim never binds");
        let number = token(vec![("custom:tenant_id", TestClaim::Other)]);
        assert!(!met(&number, "/t/42/x"));
        assert!(!met(&TestClaims::default(), "/t/acme/x"), "absent");
    }

    #[test]
    fn a_binding_reads_the_normalized_path() {
        let r = rules("/t/{tenant}/**", &[], &[("tenant", "custom:tenant_id")]);
        let acme2 = token(vec![("custom:tenant_id", TestClaim::Text("acme2"))]);
        for (raw, met) in [
            ("/t/acme/../acme2/x", true),
            ("/t/acme2/./x", true),
            ("/t//acme2/x", true),
            ("/t/%61cme2/x", true),
            ("/t/acme/x/../../acme2", true),
            ("/t/acme/../acme2x/x", false),
        ] {
            let path = normalize(raw).unwrap();
            assert_eq!(outcomes(&r, &acme2, &path), [met], "{raw} -> {path}");
        }
        // Escapes that stay escaped are compared as written in the normalized path.
        let spaced = token(vec![("custom:tenant_id", TestClaim::Text("a b"))]);
        let path = normalize("/t/a%20b/x").unwrap();
        assert_eq!(outcomes(&r, &spaced, &path), [false]);
    }

    #[test]
    fn checks_come_claims_first_then_bindings_in_key_order() {
        let r = rules(
            "/t/{tenant}/u/{user}",
            &[("z", &["1"]), ("a", &["2"])],
            &[("user", "sub"), ("tenant", "custom:tenant_id")],
        );
        let t = TestClaims::default();
        let names: Vec<String> = r.checks(&t, "/t/x/u/y").map(|c| c.to_string()).collect();
        assert_eq!(
            names,
            [
                "claim a: one of 2",
                "claim z: one of 1",
                "path segment {tenant} = claim custom:tenant_id",
                "path segment {user} = claim sub",
            ]
        );
    }

    #[test]
    fn a_binding_to_a_missing_capture_does_not_compile() {
        let config = RouteConfig {
            bind: [("tenant".to_owned(), "custom:tenant_id".to_owned())].into(),
            ..route("/t/**")
        };
        let err = ClaimRules::compile(&config, &Pattern::parse("/t/**").unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "capture {tenant} does not appear in path \"/t/**\""
        );
    }

    #[test]
    fn claim_names_lists_every_named_claim_once() {
        let a = RouteConfig {
            claims: [("custom:plan".to_owned(), vec!["pro".to_owned()])].into(),
            bind: [("t".to_owned(), "custom:tenant_id".to_owned())].into(),
            ..route("/t/{t}")
        };
        let b = RouteConfig {
            bind: [("u".to_owned(), "custom:plan".to_owned())].into(),
            ..route("/u/{u}")
        };
        assert_eq!(
            claim_names(&[a, route("/"), b]),
            ["custom:plan", "custom:tenant_id"]
        );
        assert!(claim_names(&[route("/")]).is_empty());
    }

    #[test]
    fn found_values_display_for_explain() {
        assert_eq!(Claim::Absent.to_string(), "absent");
        assert_eq!(Claim::Text("a\"b").to_string(), "\"a\\\"b\"");
        assert_eq!(
            Claim::List(Items::Each(&["x".to_owned()])).to_string(),
            "[\"x\"]"
        );
        assert_eq!(
            Claim::List(Items::Joined("x,y", ',')).to_string(),
            r#"["x", "y"]"#
        );
        assert_eq!(
            Claim::Other.to_string(),
            "not a string or an array of strings"
        );
    }
}
