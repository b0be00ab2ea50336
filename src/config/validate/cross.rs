//! Checks that need more than one section: a token-taking route needs an issuer, the
//! two listeners differ, and (warning) a route an earlier one shadows.

use super::Checker;
use crate::config::{AuthMode, Config, RouteConfig};
use crate::policy::shadow::{self, Scope};
use crate::policy::{HostFilter, Pattern};

impl Checker {
    /// Checks that need more than one section.
    pub(super) fn cross_checks(&mut self, config: &Config) {
        let needs_token = config
            .routes
            .iter()
            .any(|r| matches!(r.auth, AuthMode::Required | AuthMode::Optional));
        if needs_token && config.issuers.is_empty() {
            self.error(
                "issuers",
                "at least one [[issuers]] entry is required when a route needs a token",
            );
        }
        if config.routes.is_empty() {
            self.warn("routes", "no routes: every request is refused with 403");
        }
        if config.listen == config.admin_listen && config.listen.port() != 0 {
            self.error("admin_listen", "must differ from listen");
        }
        if !self.problems.is_empty() {
            return;
        }
        self.shadowed_routes(&config.routes);
    }

    /// Warns about each route an earlier one shadows (it never matches). Runs on an
    /// otherwise valid config only, where every `path` parsed and every `host` passed.
    fn shadowed_routes(&mut self, routes: &[RouteConfig]) {
        let Ok(patterns) = (routes.iter())
            .map(|r| Pattern::parse(&r.path))
            .collect::<Result<Vec<_>, _>>()
        else {
            return;
        };
        let hosts: Vec<Option<HostFilter>> = (routes.iter())
            .map(|r| r.host.as_deref().map(HostFilter::new))
            .collect();
        let scopes: Vec<Scope<'_>> = (routes.iter().zip(&patterns).zip(&hosts))
            .map(|((route, pattern), host)| Scope {
                pattern,
                methods: route.methods.as_deref(),
                host: host.as_ref(),
            })
            .collect();
        for (later, earlier) in shadow::shadowed(&scopes) {
            self.warn(
                format!("routes[{later}]"),
                format!(
                    "never matches: routes[{earlier}] ({}) matches every request it would",
                    routes[earlier].path
                ),
            );
        }
    }
}
