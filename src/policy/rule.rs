//! Per-route authorization rules over a verified token's subject.

use super::claims::{Check, ClaimSource, Items};
use super::table::Route;
use crate::config::TokenUse;

/// What the authorizer knows about the caller once the token is verified.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// `cognito:groups`.
    pub groups: Items<'a>,
    /// `scope`, space-separated, as issued (RFC 6749 §3.3).
    pub scope: &'a str,
    /// The token's `token_use`.
    pub token_use: TokenUse,
    /// The name of the configured issuer that verified the token.
    pub issuer: &'a str,
    /// Every claim by name, for `claims` and `bind`.
    pub claims: &'a dyn ClaimSource,
}

/// A verified token that the route's rules refuse (the proxy answers 403).
///
/// The message names the rule and the route pattern, never any token text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    /// The route's `token_use` list does not include the token's kind.
    #[error("route '{route}' requires token_use: {required}")]
    WrongTokenUse {
        /// The route pattern.
        route: String,
        /// e.g. "access".
        required: String,
    },
    /// The route's `issuers` list does not include the token's issuer.
    #[error("route '{route}' requires issuer: {required}")]
    WrongIssuer {
        /// The route pattern.
        route: String,
        /// e.g. "any of main, partner".
        required: String,
    },
    /// `groups_any` or `groups_all` is not met.
    #[error("route '{route}' requires groups: {required}")]
    InsufficientGroups {
        /// The route pattern.
        route: String,
        /// e.g. "any of admin, ops" or "all of admin, ops".
        required: String,
    },
    /// `scopes_any` or `scopes_all` is not met.
    #[error("route '{route}' requires scopes: {required}")]
    InsufficientScope {
        /// The route pattern.
        route: String,
        /// e.g. "any of read, write".
        required: String,
    },
    /// A `claims` entry is not met.
    #[error("route '{route}' requires claim {claim}: {required}")]
    InsufficientClaims {
        /// The route pattern.
        route: String,
        /// The claim's name.
        claim: String,
        /// e.g. "any of pro, team".
        required: String,
    },
    /// A `bind` entry is not met: the path names another tenant than the token.
    #[error("route '{route}' requires path segment {{{capture}}} to equal claim {claim}")]
    Unbound {
        /// The route pattern.
        route: String,
        /// The capture's name.
        capture: String,
        /// The claim's name.
        claim: String,
    },
}

impl Forbidden {
    /// The `reason` label of `cognigate_auth_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Forbidden::WrongTokenUse { .. } => "wrong_token_use",
            Forbidden::WrongIssuer { .. } => "wrong_issuer",
            Forbidden::InsufficientGroups { .. } => "insufficient_groups",
            Forbidden::InsufficientScope { .. } => "insufficient_scope",
            Forbidden::InsufficientClaims { .. } => "claims",
            Forbidden::Unbound { .. } => "binding",
        }
    }

    /// The refusal for an unmet `claims` or `bind` rule: it names the rule, never the
    /// token's value.
    fn of_check(check: &Check<'_>, route: String) -> Forbidden {
        match *check {
            Check::Claim { claim, values, .. } => Forbidden::InsufficientClaims {
                route,
                claim: claim.to_owned(),
                required: describe("any of", values.iter().map(|v| &**v)),
            },
            Check::Binding { capture, claim, .. } => Forbidden::Unbound {
                route,
                capture: capture.to_owned(),
                claim: claim.to_owned(),
            },
        }
    }
}

impl Route {
    /// Checks `token_use`, `issuers`, `groups_any`, `groups_all`, `scopes_any`,
    /// `scopes_all`, `claims` and `bind`, in that order; an empty list imposes nothing.
    /// Strings compare exactly. `normalized_path` is the path the route matched (`bind`
    /// reads its captures there). Allocates only to build the error.
    ///
    /// # Errors
    ///
    /// [`Forbidden`] naming the first rule not met.
    pub fn authorize(&self, s: &Subject<'_>, normalized_path: &str) -> Result<(), Forbidden> {
        let c = self.config();
        let route = || self.pattern_str().to_owned();
        if !any_of(&c.token_use, |t| *t == s.token_use) {
            let required = describe("any of", c.token_use.iter().map(|t| t.as_str()));
            return Err(Forbidden::WrongTokenUse {
                route: route(),
                required,
            });
        }
        if !any_of(&c.issuers, |i| i == s.issuer) {
            let required = describe("any of", c.issuers.iter().map(String::as_str));
            return Err(Forbidden::WrongIssuer {
                route: route(),
                required,
            });
        }
        let in_groups = |g: &String| s.groups.contains(g);
        if let Some(required) = unmet(&c.groups_any, &c.groups_all, in_groups) {
            return Err(Forbidden::InsufficientGroups {
                route: route(),
                required,
            });
        }
        let in_scope = |want: &String| has_scope(s.scope, want);
        if let Some(required) = unmet(&c.scopes_any, &c.scopes_all, in_scope) {
            return Err(Forbidden::InsufficientScope {
                route: route(),
                required,
            });
        }
        let mut checks = self.claim_rules().checks(s.claims, normalized_path);
        match checks.find(|c| !c.met()) {
            Some(unmet) => Err(Forbidden::of_check(&unmet, route())),
            None => Ok(()),
        }
    }
}

/// Empty means no constraint.
fn any_of<T>(required: &[T], has: impl Fn(&T) -> bool) -> bool {
    required.is_empty() || required.iter().any(has)
}

/// The description of the first unmet rule of an any/all pair, if any.
fn unmet(any: &[String], all: &[String], has: impl Fn(&String) -> bool) -> Option<String> {
    if !any_of(any, &has) {
        return Some(describe("any of", any.iter().map(String::as_str)));
    }
    if !all.iter().all(&has) {
        return Some(describe("all of", all.iter().map(String::as_str)));
    }
    None
}

/// RFC 6749 §3.3: scope tokens are separated by spaces (%x20) and compared exactly.
fn has_scope(scope: &str, want: &str) -> bool {
    scope.split(' ').any(|s| !s.is_empty() && s == want)
}

/// "admin" for one item, else "any of admin, ops".
fn describe<'a>(mode: &str, mut items: impl ExactSizeIterator<Item = &'a str>) -> String {
    if items.len() == 1 {
        return items.next().unwrap_or_default().to_owned();
    }
    let list: Vec<&str> = items.collect();
    format!("{mode} {}", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteConfig;
    use crate::policy::claims::tests::{TestClaim, TestClaims, with_rules};
    use crate::policy::table::{RouteTable, tests::route};

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn authorize(
        config: RouteConfig,
        groups: &[&str],
        scope: &str,
        use_: TokenUse,
        issuer: &str,
    ) -> Result<(), Forbidden> {
        let table = RouteTable::compile(&[config]).unwrap();
        let groups = strings(groups);
        let claims = TestClaims::default();
        let subject = Subject {
            groups: Items::Each(&groups),
            scope,
            token_use: use_,
            issuer,
            claims: &claims,
        };
        table.routes()[0].authorize(&subject, "/")
    }

    /// An access token from "main" with `claims`, on `path`.
    fn with_claims(config: RouteConfig, claims: TestClaims, path: &str) -> Result<(), Forbidden> {
        let table = RouteTable::compile(&[config]).unwrap();
        let subject = Subject {
            groups: Items::NONE,
            scope: "",
            token_use: TokenUse::Access,
            issuer: "main",
            claims: &claims,
        };
        table.routes()[0].authorize(&subject, path)
    }

    /// Access token from issuer "main" with the given groups and scope.
    fn user(config: RouteConfig, groups: &[&str], scope: &str) -> Result<(), Forbidden> {
        authorize(config, groups, scope, TokenUse::Access, "main")
    }

    #[test]
    fn no_rules_allow_anyone() {
        assert_eq!(user(route("/**"), &[], ""), Ok(()));
    }

    #[test]
    fn token_use() {
        let config = RouteConfig {
            token_use: vec![TokenUse::Id],
            ..route("/me")
        };
        assert_eq!(
            authorize(config.clone(), &[], "", TokenUse::Id, "main"),
            Ok(())
        );
        let err = authorize(config, &[], "", TokenUse::Access, "main").unwrap_err();
        assert_eq!(err.reason(), "wrong_token_use");
        assert_eq!(err.to_string(), "route '/me' requires token_use: id");
        let both = RouteConfig {
            token_use: vec![TokenUse::Id, TokenUse::Access],
            ..route("/")
        };
        assert_eq!(authorize(both, &[], "", TokenUse::Access, "main"), Ok(()));
    }

    #[test]
    fn issuers() {
        let config = RouteConfig {
            issuers: strings(&["main", "partner"]),
            ..route("/p/**")
        };
        assert_eq!(
            authorize(config.clone(), &[], "", TokenUse::Access, "partner"),
            Ok(())
        );
        let err = authorize(config, &[], "", TokenUse::Access, "other").unwrap_err();
        assert_eq!(err.reason(), "wrong_issuer");
        assert_eq!(
            err.to_string(),
            "route '/p/**' requires issuer: any of main, partner"
        );
    }

    #[test]
    fn groups_any() {
        let config = RouteConfig {
            groups_any: strings(&["admin", "ops"]),
            ..route("/admin/**")
        };
        assert_eq!(user(config.clone(), &["users", "ops"], ""), Ok(()));
        for groups in [&[][..], &["users"], &["Admin"], &["admins"]] {
            let err = user(config.clone(), groups, "").unwrap_err();
            assert_eq!(err.reason(), "insufficient_groups");
            assert_eq!(
                err.to_string(),
                "route '/admin/**' requires groups: any of admin, ops"
            );
        }
    }

    #[test]
    fn groups_all() {
        let config = RouteConfig {
            groups_all: strings(&["admin", "ops"]),
            ..route("/x")
        };
        assert_eq!(user(config.clone(), &["ops", "x", "admin"], ""), Ok(()));
        let err = user(config, &["admin"], "").unwrap_err();
        assert_eq!(
            err.to_string(),
            "route '/x' requires groups: all of admin, ops"
        );
        let one = RouteConfig {
            groups_all: strings(&["admin"]),
            ..route("/x")
        };
        assert_eq!(
            user(one, &[], "").unwrap_err().to_string(),
            "route '/x' requires groups: admin"
        );
    }

    #[test]
    fn scopes_any() {
        let config = RouteConfig {
            scopes_any: strings(&["api/read", "api/write"]),
            ..route("/api/**")
        };
        assert_eq!(user(config.clone(), &[], "openid api/write"), Ok(()));
        assert_eq!(user(config.clone(), &[], "  api/read  "), Ok(()));
        for scope in ["", "api/readx", "api", "API/read", "api/read\tx", "openid"] {
            let err = user(config.clone(), &[], scope).unwrap_err();
            assert_eq!(err.reason(), "insufficient_scope", "{scope:?}");
            assert_eq!(
                err.to_string(),
                "route '/api/**' requires scopes: any of api/read, api/write"
            );
        }
    }

    #[test]
    fn scopes_all() {
        let config = RouteConfig {
            scopes_all: strings(&["a", "b"]),
            ..route("/s")
        };
        assert_eq!(user(config.clone(), &[], "b c a"), Ok(()));
        let err = user(config, &[], "a ab").unwrap_err();
        assert_eq!(err.reason(), "insufficient_scope");
        assert_eq!(err.to_string(), "route '/s' requires scopes: all of a, b");
    }

    #[test]
    fn rules_are_checked_in_order() {
        let config = RouteConfig {
            token_use: vec![TokenUse::Access],
            issuers: strings(&["main"]),
            groups_any: strings(&["g"]),
            scopes_all: strings(&["s"]),
            ..route("/")
        };
        let reason = |g: &[&str], s: &str, u: TokenUse, i: &str| {
            authorize(config.clone(), g, s, u, i)
                .err()
                .map(|e| e.reason())
        };
        assert_eq!(reason(&[], "", TokenUse::Id, "x"), Some("wrong_token_use"));
        assert_eq!(reason(&[], "", TokenUse::Access, "x"), Some("wrong_issuer"));
        assert_eq!(
            reason(&[], "", TokenUse::Access, "main"),
            Some("insufficient_groups")
        );
        assert_eq!(
            reason(&["g"], "", TokenUse::Access, "main"),
            Some("insufficient_scope")
        );
        assert_eq!(reason(&["g"], "s", TokenUse::Access, "main"), None);
    }

    #[test]
    fn claim_rules() {
        let config = with_rules("/p/**", &[("custom:plan", &["pro", "team"])], &[]);
        let plan = |c| TestClaims(vec![("custom:plan", c)]);
        assert_eq!(
            with_claims(config.clone(), plan(TestClaim::Text("team")), "/p"),
            Ok(())
        );
        for claims in [
            plan(TestClaim::Text("free")),
            plan(TestClaim::Other),
            TestClaims::default(),
        ] {
            let err = with_claims(config.clone(), claims, "/p").unwrap_err();
            assert_eq!(err.reason(), "claims");
            assert_eq!(
                err.to_string(),
                "route '/p/**' requires claim custom:plan: any of pro, team"
            );
        }
    }

    #[test]
    fn bindings() {
        let config = with_rules("/t/{tenant}/**", &[], &[("tenant", "custom:tenant_id")]);
        let acme = || TestClaims(vec![("custom:tenant_id", TestClaim::Text("acme"))]);
        assert_eq!(with_claims(config.clone(), acme(), "/t/acme/x"), Ok(()));
        let err = with_claims(config, acme(), "/t/globex/x").unwrap_err();
        assert_eq!(err.reason(), "binding");
        let message = err.to_string();
        assert_eq!(
            message,
            "route '/t/{tenant}/**' requires path segment {tenant} to equal claim custom:tenant_id"
        );
        assert!(!message.contains("acme"), "the token's value is not echoed");
    }

    #[test]
    fn claim_rules_come_after_scopes_and_before_bindings() {
        let config = RouteConfig {
            scopes_all: strings(&["s"]),
            ..with_rules("/t/{t}", &[("plan", &["pro"])], &[("t", "tenant")])
        };
        let table = RouteTable::compile(&[config]).unwrap();
        let reason = |scope: &str, claims: TestClaims| {
            let subject = Subject {
                groups: Items::NONE,
                scope,
                token_use: TokenUse::Access,
                issuer: "main",
                claims: &claims,
            };
            (table.routes()[0].authorize(&subject, "/t/a"))
                .err()
                .map(|e| e.reason())
        };
        let all = || {
            TestClaims(vec![
                ("plan", TestClaim::Text("pro")),
                ("tenant", TestClaim::Text("a")),
            ])
        };
        assert_eq!(reason("", all()), Some("insufficient_scope"));
        assert_eq!(reason("s", TestClaims::default()), Some("claims"));
        let unbound = TestClaims(vec![("plan", TestClaim::Text("pro"))]);
        assert_eq!(reason("s", unbound), Some("binding"));
        assert_eq!(reason("s", all()), None);
    }
}
