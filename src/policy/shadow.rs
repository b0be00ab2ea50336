//! Whether an earlier route matches every request a later one could (so the later one
//! is never reached): `check` warns about such routes, and [`super::RouteTable`]
//! answers with the same function. Nothing here reads `config` types, so config
//! validation uses it without a module cycle (`config` -> `policy::{pattern, path,
//! host, shadow}`; `policy::{table, rule, claims}` -> `config`).

use http::Method;

use super::host::HostFilter;
use super::pattern::Pattern;

/// The requests a route can match: its path pattern, methods and host filter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    /// The compiled `path`.
    pub(crate) pattern: &'a Pattern,
    /// `methods`; `None`: any method.
    pub(crate) methods: Option<&'a [Method]>,
    /// The compiled `host`; `None`: any host.
    pub(crate) host: Option<&'a HostFilter>,
}

impl Scope<'_> {
    /// True when `self` matches every request `later` could match.
    pub(crate) fn covers(&self, later: &Scope<'_>) -> bool {
        let methods = match (self.methods, later.methods) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => theirs.iter().all(|m| mine.contains(m)),
        };
        let host = match (self.host, later.host) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => mine.covers(theirs),
        };
        methods && host && self.pattern.covers(later.pattern)
    }
}

/// `(later, earlier)` index pairs where `earlier` matches every request `later` could,
/// so `later` is never reached. Each later route is listed once, with the first route
/// that shadows it. Conservative: a pair is only reported when sure.
pub(crate) fn shadowed(scopes: &[Scope<'_>]) -> Vec<(usize, usize)> {
    (scopes.iter().enumerate())
        .filter_map(|(j, later)| {
            (scopes.iter().take(j))
                .position(|earlier| earlier.covers(later))
                .map(|i| (j, i))
        })
        .collect()
}
