//! `[[routes]]`: each route's path pattern, methods, host, auth mode and rule lists
//! (its `claims` and `bind` are in `claims.rs`).

use http::Method;

use super::Checker;
use crate::config::raw::RawRoute;
use crate::config::{AuthMode, Issuer, RouteConfig};
use crate::policy::Pattern;

impl Checker {
    /// `login` tells whether `[login]` is configured (a route's `login` defaults to it).
    pub(super) fn routes(
        &mut self,
        raws: &[RawRoute],
        issuers: &[Issuer],
        login: bool,
    ) -> Vec<RouteConfig> {
        raws.iter()
            .enumerate()
            .map(|(i, raw)| self.route(&format!("routes[{i}]"), raw, issuers, login))
            .collect()
    }

    fn route(&mut self, at: &str, raw: &RawRoute, issuers: &[Issuer], login: bool) -> RouteConfig {
        if raw.login == Some(true) && !login {
            self.error(format!("{at}.login"), "needs a [login] section");
        }
        let path = raw.path.clone().unwrap_or_default();
        let pattern = match raw.path {
            None => {
                self.error(format!("{at}.path"), "required");
                None
            }
            Some(_) => Pattern::parse(&path)
                .map_err(|e| self.error(format!("{at}.path"), e.to_string()))
                .ok(),
        };
        let auth = match raw.auth.as_deref().unwrap_or("required") {
            "required" => AuthMode::Required,
            "optional" => AuthMode::Optional,
            "public" => AuthMode::Public,
            "deny" => AuthMode::Deny,
            other => {
                self.error(
                    format!("{at}.auth"),
                    format!(
                        "expected \"required\", \"optional\", \"public\" or \"deny\", got {other:?}"
                    ),
                );
                AuthMode::Required
            }
        };
        let token_use = self.rule_list(at, "token_use", &raw.token_use);
        let route = RouteConfig {
            path,
            methods: self.methods(at, raw.methods.as_deref()),
            host: self.host(at, raw.host.as_deref()),
            auth,
            groups_any: self.rule_list(at, "groups_any", &raw.groups_any),
            groups_all: self.rule_list(at, "groups_all", &raw.groups_all),
            scopes_any: self.rule_list(at, "scopes_any", &raw.scopes_any),
            scopes_all: self.rule_list(at, "scopes_all", &raw.scopes_all),
            token_use: self.token_uses(&format!("{at}.token_use"), Some(&token_use), false),
            issuers: self.rule_list(at, "issuers", &raw.issuers),
            claims: self.claim_rules(at, raw.claims.as_ref()),
            bind: self.bindings(at, raw.bind.as_ref(), pattern.as_ref()),
            login: login && raw.login.unwrap_or(true),
            max_age: self.max_age(at, raw.max_age.as_deref(), auth),
        };
        self.route_rules(at, &route, issuers);
        self.claim_rules_apply(at, &route);
        route
    }

    fn route_rules(&mut self, at: &str, route: &RouteConfig, issuers: &[Issuer]) {
        let has_rules = !(route.groups_any.is_empty()
            && route.groups_all.is_empty()
            && route.scopes_any.is_empty()
            && route.scopes_all.is_empty()
            && route.token_use.is_empty()
            && route.issuers.is_empty());
        if has_rules && matches!(route.auth, AuthMode::Public | AuthMode::Deny) {
            self.error(
                format!("{at}.auth"),
                "a public or deny route cannot have groups, scopes, token_use or issuers rules",
            );
        }
        for (i, name) in route.issuers.iter().enumerate() {
            if !issuers.iter().any(|iss| &iss.name == name) {
                self.error(
                    format!("{at}.issuers[{i}]"),
                    format!("no issuer named {name:?}"),
                );
            }
        }
    }

    /// A rule list as written. Written empty it is an error: `groups_any = []` would
    /// otherwise read as no rule at all (any token passes), surely not what was meant.
    fn rule_list(&mut self, at: &str, key: &str, values: &Option<Vec<String>>) -> Vec<String> {
        match values {
            Some(v) if v.is_empty() => {
                self.error(
                    format!("{at}.{key}"),
                    "empty: name at least one, or remove the key",
                );
                Vec::new()
            }
            Some(v) => v.clone(),
            None => Vec::new(),
        }
    }

    fn methods(&mut self, at: &str, values: Option<&[String]>) -> Option<Vec<Method>> {
        let values = values?;
        if values.is_empty() {
            self.error(
                format!("{at}.methods"),
                "empty: the route would match no request; name a method, or remove the key",
            );
        }
        let mut out = Vec::with_capacity(values.len() + 1);
        for (i, v) in values.iter().enumerate() {
            match Method::from_bytes(v.to_ascii_uppercase().as_bytes()) {
                Ok(m) => out.push(m),
                Err(_) => self.error(
                    format!("{at}.methods[{i}]"),
                    format!("not an HTTP method: {v:?}"),
                ),
            }
        }
        // HEAD is GET without the body (RFC 9110 §9.3.2): a route that allows GET
        // allows HEAD, as nginx's `limit_except GET` does.
        if out.contains(&Method::GET) && !out.contains(&Method::HEAD) {
            out.push(Method::HEAD);
        }
        Some(out)
    }

    fn host(&mut self, at: &str, value: Option<&str>) -> Option<String> {
        let host = value?.to_ascii_lowercase();
        let bare = host.strip_prefix("*.").unwrap_or(&host);
        if bare.is_empty()
            || !bare
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            self.error(format!("{at}.host"), format!("expected a host name like \"api.example.com\" or \"*.example.com\", got {host:?}"));
        }
        Some(host)
    }
}
