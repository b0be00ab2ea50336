//! A route's `claims` and `bind`, each problem with its key path: a rule that could never
//! be met, or would quietly mean less than it says, is refused at load time.

use std::collections::BTreeMap;

use super::Checker;
use crate::config::{AuthMode, RouteConfig};
use crate::policy::{Pattern, UnknownCapture};

impl Checker {
    /// `claims` as written. Empty (the whole table, a name or a value list) is an error:
    /// `claims = {}` would read as no rule at all, surely not what was meant.
    pub(super) fn claim_rules(
        &mut self,
        at: &str,
        raw: Option<&BTreeMap<String, Vec<String>>>,
    ) -> BTreeMap<String, Vec<String>> {
        let Some(raw) = raw else {
            return BTreeMap::new();
        };
        if raw.is_empty() {
            self.error(
                format!("{at}.claims"),
                "empty: name at least one claim, or remove the key",
            );
        }
        for (claim, values) in raw {
            let path = format!("{at}.claims.{claim:?}");
            if claim.is_empty() {
                self.error(path, "empty claim name");
            } else if values.is_empty() {
                self.error(path, "empty: name at least one value, or remove the claim");
            }
        }
        raw.clone()
    }

    /// `bind` as written: every key a capture of the route's `pattern` (when the path
    /// parsed; otherwise its own error says enough), every claim named.
    pub(super) fn bindings(
        &mut self,
        at: &str,
        raw: Option<&BTreeMap<String, String>>,
        pattern: Option<&Pattern>,
    ) -> BTreeMap<String, String> {
        let Some(raw) = raw else {
            return BTreeMap::new();
        };
        if raw.is_empty() {
            self.error(
                format!("{at}.bind"),
                "empty: bind at least one capture, or remove the key",
            );
        }
        for (capture, claim) in raw {
            let path = format!("{at}.bind.{capture}");
            if let Some(pattern) = pattern.filter(|p| p.capture(capture).is_none()) {
                let unknown = UnknownCapture {
                    capture: capture.clone(),
                    path: pattern.as_str().to_owned(),
                };
                self.error(path, unknown.to_string());
            } else if claim.is_empty() {
                self.error(path, "empty claim name");
            }
        }
        raw.clone()
    }

    /// `claims` and `bind` need a token: a config error on a public or deny route, and a
    /// warning on an optional one, where a request without a token passes anonymous.
    pub(super) fn claim_rules_apply(&mut self, at: &str, route: &RouteConfig) {
        let keys = [
            ("claims", route.claims.is_empty()),
            ("bind", route.bind.is_empty()),
        ];
        for (key, _) in keys.into_iter().filter(|(_, empty)| !empty) {
            let path = format!("{at}.{key}");
            match route.auth {
                AuthMode::Public => self.error(path, "not allowed on a public route"),
                AuthMode::Deny => self.error(path, "not allowed on a deny route"),
                AuthMode::Optional => self.warn(
                    path,
                    "applies only to requests with a token: on an optional route a request \
                     without one passes anonymous (auth = \"required\" refuses it)",
                ),
                AuthMode::Required => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Problem, load_with_env};

    /// Loads `routes` (TOML `[[routes]]` entries) with an issuer and an upstream.
    fn load(routes: &str) -> Result<crate::config::Validated, Vec<Problem>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let text = format!(
            "[upstream]\nurl = \"http://127.0.0.1:3000\"\n\n[[issuers]]\nname = \"main\"\n\
             issuer = \"https://issuer.example\"\nclient_ids = [\"c\"]\n{routes}"
        );
        std::fs::write(&path, text).unwrap();
        load_with_env(&path, Vec::new()).map_err(|e| e.problems)
    }

    /// The `(key path, message)` of every problem.
    fn problems(routes: &str) -> Vec<(String, String)> {
        let problems = load(routes).err().unwrap_or_default();
        problems.into_iter().map(|p| (p.path, p.message)).collect()
    }

    fn has(routes: &str, path: &str, message: &str) {
        let found = problems(routes);
        assert!(
            found.iter().any(|(p, m)| p == path && m == message),
            "no {path}: {message} in {found:#?}"
        );
    }

    const TENANT: &str = r#"
[[routes]]
path = "/t/{tenant}/**"
bind = { tenant = "custom:tenantId" }
claims = { "custom:plan" = ["pro", "team"], "https://example.com/roles" = ["admin"] }
"#;

    #[test]
    fn a_tenant_route_loads_with_claim_names_as_written() {
        let validated = load(TENANT).unwrap();
        let route = &validated.config.routes[0];
        assert_eq!(route.bind["tenant"], "custom:tenantId");
        assert_eq!(route.claims["custom:plan"], ["pro", "team"]);
        assert_eq!(route.claims["https://example.com/roles"], ["admin"]);
        assert!(validated.warnings.is_empty(), "{:?}", validated.warnings);
    }

    #[test]
    fn a_bind_key_must_be_a_capture_of_the_path() {
        has(
            "[[routes]]\npath = \"/t/**\"\nbind = { tenant = \"custom:tenant_id\" }\n",
            "routes[0].bind.tenant",
            "capture {tenant} does not appear in path \"/t/**\"",
        );
    }

    #[test]
    fn captures_are_checked_in_the_path() {
        for (path, message) in [
            (
                "/t/x{id}",
                "capture \"x{id}\" must be a whole segment: '{name}'",
            ),
            (
                "/t/{}",
                "capture \"{}\" needs a name of ASCII letters, digits and '_', not starting with a digit",
            ),
            (
                "/t/{a-b}",
                "capture \"{a-b}\" needs a name of ASCII letters, digits and '_', not starting with a digit",
            ),
            (
                "/t/{**}",
                "capture \"{**}\" needs a name of ASCII letters, digits and '_', not starting with a digit",
            ),
            ("/t/{id}/u/{id}", "capture {id} appears more than once"),
        ] {
            has(
                &format!("[[routes]]\npath = \"{path}\"\n"),
                "routes[0].path",
                message,
            );
        }
    }

    #[test]
    fn a_bind_on_a_bad_path_reports_the_path_only() {
        let found = problems("[[routes]]\npath = \"/t/{a-b}\"\nbind = { x = \"c\" }\n");
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["routes[0].path"]);
    }

    #[test]
    fn claims_and_bind_are_refused_on_public_and_deny_routes() {
        let routes = r#"
[[routes]]
path = "/p/{t}"
auth = "public"
claims = { "custom:plan" = ["pro"] }
bind = { t = "custom:tenant_id" }

[[routes]]
path = "/d/**"
auth = "deny"
claims = { "custom:plan" = ["pro"] }
"#;
        has(routes, "routes[0].claims", "not allowed on a public route");
        has(routes, "routes[0].bind", "not allowed on a public route");
        has(routes, "routes[1].claims", "not allowed on a deny route");
    }

    #[test]
    fn empty_claims_and_bindings_are_refused() {
        let routes = r#"
[[routes]]
path = "/a/{t}"
claims = {}
bind = {}

[[routes]]
path = "/b/{t}"
claims = { "" = ["x"], "custom:plan" = [] }
bind = { t = "" }
"#;
        let empty_claims = "empty: name at least one claim, or remove the key";
        has(routes, "routes[0].claims", empty_claims);
        let empty_bind = "empty: bind at least one capture, or remove the key";
        has(routes, "routes[0].bind", empty_bind);
        has(routes, "routes[1].claims.\"\"", "empty claim name");
        let no_values = "empty: name at least one value, or remove the claim";
        has(routes, "routes[1].claims.\"custom:plan\"", no_values);
        has(routes, "routes[1].bind.t", "empty claim name");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let routes = r#"
[[routes]]
path = "/t/**"
auth = "public"
bind = { tenant = "custom:tenant_id", org = "custom:org" }
claims = { "custom:plan" = [] }
"#;
        let mut paths: Vec<String> = problems(routes).into_iter().map(|(p, _)| p).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "routes[0].bind",
                "routes[0].bind.org",
                "routes[0].bind.tenant",
                "routes[0].claims",
                "routes[0].claims.\"custom:plan\""
            ]
        );
    }

    #[test]
    fn a_claim_rule_on_an_optional_route_is_a_warning() {
        let routes = "[[routes]]\npath = \"/t/{t}/**\"\nauth = \"optional\"\nbind = { t = \"custom:tenant_id\" }\n";
        let warnings = load(routes).unwrap().warnings;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].path, "routes[0].bind");
        assert!(warnings[0].message.contains("passes anonymous"));
    }

    #[test]
    fn unknown_keys_in_a_route_stay_errors() {
        has(
            "[[routes]]\npath = \"/t/{t}\"\nbinds = { t = \"x\" }\n",
            "routes[0].binds",
            "unknown key",
        );
    }

    #[test]
    fn a_claim_value_must_be_a_list_of_strings() {
        let found = problems("[[routes]]\npath = \"/x\"\nclaims = { \"custom:plan\" = \"pro\" }\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].0.starts_with("routes"), "{found:?}");
    }

    #[test]
    fn shadowed_routes_are_found_through_captures() {
        let routes = r#"
[[routes]]
path = "/t/{tenant}/**"
bind = { tenant = "custom:tenant_id" }

[[routes]]
path = "/t/acme/admin"

[[routes]]
path = "/t/*/x"
"#;
        let warnings = load(routes).unwrap().warnings;
        let paths: Vec<&str> = warnings.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(paths, ["routes[1]", "routes[2]"], "{warnings:?}");
        assert!(warnings[0].message.contains("routes[0] (/t/{tenant}/**)"));
    }
}
