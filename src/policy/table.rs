//! The route table: config routes compiled once, matched first-wins in config order.

use std::fmt;

use http::Method;

use super::claims::ClaimRules;
use super::host::HostFilter;
use super::pattern::{Pattern, PatternError, UnknownCapture};
use super::shadow::{self, Scope};
use crate::config::{AuthMode, RouteConfig};

/// One compiled `[[routes]]` entry.
#[derive(Debug, Clone)]
pub struct Route {
    index: usize,
    pattern: Pattern,
    host: Option<HostFilter>,
    claims: ClaimRules,
    config: RouteConfig,
}

/// Why a route could not be compiled (validation reports these first, with key paths).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// `path` is refused.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// A `bind` key is not a capture of `path`.
    #[error(transparent)]
    Bind(#[from] UnknownCapture),
}

impl RouteError {
    /// The key within the route that the error is about: `path` or `bind.<capture>`.
    pub fn key(&self) -> String {
        match self {
            RouteError::Pattern(_) => "path".to_owned(),
            RouteError::Bind(e) => format!("bind.{}", e.capture),
        }
    }
}

/// Why a route did not match a request (for `explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// The path pattern does not match.
    Path,
    /// The method is not in the route's `methods`.
    Method,
    /// The route has a `host` filter and the request's host is absent or different.
    Host,
}

impl Mismatch {
    /// The part of the request that did not match: "path", "method" or "host".
    pub fn as_str(self) -> &'static str {
        match self {
            Mismatch::Path => "path",
            Mismatch::Method => "method",
            Mismatch::Host => "host",
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} does not match", self.as_str())
    }
}

impl Route {
    fn compile(index: usize, config: &RouteConfig) -> Result<Self, RouteError> {
        let pattern = Pattern::parse(&config.path)?;
        Ok(Self {
            index,
            claims: ClaimRules::compile(config, &pattern)?,
            pattern,
            host: config.host.as_deref().map(HostFilter::new),
            config: config.clone(),
        })
    }

    /// Position of this route in the config's `[[routes]]` list.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The compiled path pattern.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// The pattern as written in the config (used as the metrics `route` label).
    pub fn pattern_str(&self) -> &str {
        self.pattern.as_str()
    }

    /// The route's `auth` mode.
    pub fn auth(&self) -> AuthMode {
        self.config.auth
    }

    /// The config entry this route was compiled from.
    pub fn config(&self) -> &RouteConfig {
        &self.config
    }

    /// The compiled `claims` and `bind`.
    pub fn claim_rules(&self) -> &ClaimRules {
        &self.claims
    }

    /// Checks path, then method, then host; `path` must be normalized.
    ///
    /// # Errors
    ///
    /// The first part of the request that does not match.
    pub fn check(&self, method: &Method, host: Option<&str>, path: &str) -> Result<(), Mismatch> {
        if !self.pattern.matches(path) {
            return Err(Mismatch::Path);
        }
        if !self
            .config
            .methods
            .as_ref()
            .is_none_or(|m| m.contains(method))
        {
            return Err(Mismatch::Method);
        }
        match (&self.host, host) {
            (None, _) => Ok(()),
            (Some(filter), Some(host)) if filter.accepts(host) => Ok(()),
            // A host-scoped route never matches a request without a host.
            (Some(_), _) => Err(Mismatch::Host),
        }
    }

    /// The requests this route can match, for [`shadow::shadowed`].
    fn scope(&self) -> Scope<'_> {
        Scope {
            pattern: &self.pattern,
            methods: self.config.methods.as_deref(),
            host: self.host.as_ref(),
        }
    }
}

/// All routes of one config, in config order. The default table is empty and so
/// matches nothing (every request is denied).
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Compiles every route.
    ///
    /// # Errors
    ///
    /// The index of the first route that cannot be compiled, with the reason.
    pub fn compile(configs: &[RouteConfig]) -> Result<Self, (usize, RouteError)> {
        let routes = (configs.iter().enumerate())
            .map(|(i, c)| Route::compile(i, c).map_err(|e| (i, e)))
            .collect::<Result<_, _>>()?;
        Ok(Self { routes })
    }

    /// The first route matching the request, in config order; `path` must be the
    /// output of [`super::normalize`]. `None` means no route: deny.
    pub fn find(&self, method: &Method, host: Option<&str>, path: &str) -> Option<(usize, &Route)> {
        (self.routes.iter())
            .find(|r| r.check(method, host, path).is_ok())
            .map(|r| (r.index, r))
    }

    /// `(later, earlier)` index pairs where `earlier` matches every request `later`
    /// could, so `later` is never reached. Each later route is listed once, with the
    /// first route that shadows it. Conservative: a pair is only reported when sure.
    pub fn shadowed(&self) -> Vec<(usize, usize)> {
        let scopes: Vec<Scope<'_>> = self.routes.iter().map(Route::scope).collect();
        shadow::shadowed(&scopes)
    }

    /// The compiled routes, in config order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A route config with only a path; tests set the rest.
    pub(crate) fn route(path: &str) -> RouteConfig {
        RouteConfig {
            path: path.to_owned(),
            methods: None,
            host: None,
            auth: AuthMode::Required,
            groups_any: vec![],
            groups_all: vec![],
            scopes_any: vec![],
            scopes_all: vec![],
            token_use: vec![],
            issuers: vec![],
            claims: Default::default(),
            bind: Default::default(),
            login: false,
            max_age: None,
        }
    }

    fn with_methods(path: &str, methods: &[Method]) -> RouteConfig {
        RouteConfig {
            methods: Some(methods.to_vec()),
            ..route(path)
        }
    }

    fn with_host(path: &str, host: &str) -> RouteConfig {
        RouteConfig {
            host: Some(host.to_owned()),
            ..route(path)
        }
    }

    fn table(configs: &[RouteConfig]) -> RouteTable {
        RouteTable::compile(configs).unwrap()
    }

    fn found(t: &RouteTable, method: &Method, host: Option<&str>, path: &str) -> Option<usize> {
        t.find(method, host, path).map(|(i, r)| {
            assert_eq!(i, r.index());
            i
        })
    }

    #[test]
    fn first_match_wins_in_config_order() {
        let t = table(&[route("/health"), route("/admin/**"), route("/**")]);
        assert_eq!(found(&t, &Method::GET, None, "/health"), Some(0));
        assert_eq!(found(&t, &Method::GET, None, "/admin/x"), Some(1));
        assert_eq!(found(&t, &Method::GET, None, "/administrator"), Some(2));
        assert_eq!(found(&t, &Method::GET, None, "/health/"), Some(2));
        let narrow = table(&[route("/admin/**")]);
        assert_eq!(found(&narrow, &Method::GET, None, "/other"), None);
        assert_eq!(found(&RouteTable::default(), &Method::GET, None, "/"), None);
    }

    #[test]
    fn methods_filter() {
        let t = table(&[
            with_methods("/a", &[Method::GET, Method::POST]),
            route("/**"),
        ]);
        assert_eq!(found(&t, &Method::GET, None, "/a"), Some(0));
        assert_eq!(found(&t, &Method::POST, None, "/a"), Some(0));
        assert_eq!(found(&t, &Method::DELETE, None, "/a"), Some(1));
        assert_eq!(found(&t, &Method::HEAD, None, "/a"), Some(1));
    }

    #[test]
    fn host_filter() {
        let t = table(&[
            with_host("/**", "api.example.com"),
            with_host("/**", "*.example.com"),
            route("/**"),
        ]);
        assert_eq!(
            found(&t, &Method::GET, Some("API.example.com:443"), "/"),
            Some(0)
        );
        assert_eq!(found(&t, &Method::GET, Some("x.example.com"), "/"), Some(1));
        assert_eq!(
            found(&t, &Method::GET, Some("x.y.example.com"), "/"),
            Some(2)
        );
        assert_eq!(found(&t, &Method::GET, Some("example.com"), "/"), Some(2));
        assert_eq!(found(&t, &Method::GET, None, "/"), Some(2));
    }

    #[test]
    fn compile_reports_the_failing_index() {
        let err = RouteTable::compile(&[route("/ok"), route("/a*")]).unwrap_err();
        assert_eq!(err.0, 1);
        assert!(matches!(
            err.1,
            RouteError::Pattern(PatternError::PartialWildcard { .. })
        ));
        assert_eq!(err.1.key(), "path");
        let mut bound = route("/t/**");
        bound
            .bind
            .insert("tenant".into(), "custom:tenant_id".into());
        let err = RouteTable::compile(&[route("/ok"), bound]).unwrap_err();
        assert_eq!(
            (err.0, err.1.key(), err.1.to_string()),
            (
                1,
                "bind.tenant".to_owned(),
                "capture {tenant} does not appear in path \"/t/**\"".to_owned()
            )
        );
    }

    #[test]
    fn each_route_says_why_it_does_not_match() {
        let t = table(&[
            route("/public"),
            with_methods("/admin/**", &[Method::GET]),
            with_host("/admin/**", "internal"),
            route("/admin/**"),
            route("/**"),
        ]);
        let outcomes: Vec<_> = (t.routes().iter())
            .map(|r| r.check(&Method::POST, Some("example.com"), "/admin/x"))
            .collect();
        assert_eq!(
            outcomes,
            [
                Err(Mismatch::Path),
                Err(Mismatch::Method),
                Err(Mismatch::Host),
                Ok(()),
                Ok(()),
            ]
        );
        assert_eq!(
            t.find(&Method::POST, Some("example.com"), "/admin/x")
                .map(|(i, _)| i),
            Some(3)
        );
        assert_eq!(Mismatch::Host.to_string(), "host does not match");
    }

    #[test]
    fn shadowed_routes() {
        let t = table(&[route("/**"), route("/admin/**")]);
        assert_eq!(t.shadowed(), [(1, 0)]);

        let t = table(&[with_methods("/admin/**", &[Method::GET]), route("/admin/x")]);
        assert_eq!(t.shadowed(), []);

        let t = table(&[
            with_methods("/admin/**", &[Method::GET, Method::POST]),
            with_methods("/admin/x", &[Method::GET]),
            with_host("/admin/y", "a.example.com"),
            with_host("/**", "*.example.com"),
            with_host("/z", "b.example.com"),
            route("/admin/*"),
            route("/admin/*/"),
        ]);
        // 2, 5 and 6 allow any method, which route 0 (GET, POST) does not cover.
        assert_eq!(t.shadowed(), [(1, 0), (4, 3)]);
    }
}
