//! Raw config -> [`Config`], collecting every problem with its key path rather than
//! stopping at the first (a user fixing a file wants the whole list at once).
//!
//! One file per section: each adds its own `impl Checker` block, and [`validate`] runs
//! them in file order. Only `policy`'s config-free leaves (`pattern`, `host`, `shadow`)
//! are used here, so `config` sits below `policy` with no module cycle.

mod claims;
mod cross;
mod identity;
mod issuers;
mod limits;
mod login;
mod resource;
mod revocation;
mod routes;
#[cfg(test)]
mod tests;
mod token;
mod top;
mod upstream;

use super::Config;
use super::raw::RawConfig;
use std::fmt;

/// One problem (or warning) found in a config, with the key path it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// e.g. `routes[2].path`
    pub path: String,
    /// What is wrong (or, for a warning, what to look at).
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A valid config and what `check` should warn about.
#[derive(Debug)]
pub struct Validated {
    /// The validated config.
    pub config: Config,
    /// Problems that do not stop a load (a shadowed route, an empty `client_ids`).
    pub warnings: Vec<Problem>,
}

/// Validates a raw config; `Err` holds every problem found.
pub fn validate(raw: RawConfig) -> Result<Validated, Vec<Problem>> {
    let mut c = Checker::default();
    let mode = c.mode(raw.mode.as_deref());
    let issuers = c.issuers(&raw.issuers);
    let routes = c.routes(&raw.routes, &issuers, raw.login.is_some());
    let resource = raw.resource.map(|r| c.resource(r, &issuers));
    let config = Config {
        listen: c.addr("listen", raw.listen.as_deref(), "0.0.0.0:8080"),
        admin_listen: c.addr(
            "admin_listen",
            raw.admin_listen.as_deref(),
            "127.0.0.1:9901",
        ),
        mode,
        shutdown_delay: c.duration("shutdown_delay", raw.shutdown_delay.as_deref(), "0s"),
        shutdown_timeout: c.duration("shutdown_timeout", raw.shutdown_timeout.as_deref(), "30s"),
        upstream: c.upstream(raw.upstream, mode),
        limits: c.limits(&raw.limits),
        tls: c.tls(raw.tls),
        jwks: c.jwks(&raw.jwks),
        token: c.token(raw.token),
        identity: c.identity(raw.identity),
        login: raw.login.map(|login| c.login(login, &issuers)),
        revocation: c.revocation(raw.revocation),
        issuers,
        routes,
        resource,
    };
    c.cross_checks(&config);
    if let Some(login) = &config.login {
        c.login_cross_checks(login, &config);
    }
    if c.problems.is_empty() {
        Ok(Validated {
            config,
            warnings: c.warnings,
        })
    } else {
        Err(c.problems)
    }
}

/// The problem collector: each section's file adds the checks for its keys.
#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Checker {
    /// Records an error at `path`; validation goes on, to find the rest.
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Records a warning at `path` (shown by `check`; the config still loads).
    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
