//! The request path: authorize (auth), rewrite headers (headers, identity), forward
//! (forward) or refuse (error). One config snapshot is loaded per request, before any
//! await, so a reload never changes the rules under a request in flight.

pub mod auth;
pub mod body;
pub mod error;
pub mod forward;
pub mod forward_auth;
mod gate;
pub mod headers;
pub mod token;

use crate::config::{Config, Mode};
use crate::identity::IdentityHeaders;
use crate::policy::RouteTable;
use crate::verify::Verifier;
use forward::Forwarder;
use std::sync::Arc;

pub use gate::Gate;

/// Everything the request path needs from one config, built once per (re)load.
#[derive(Debug)]
pub struct Snapshot {
    pub config: Arc<Config>,
    pub routes: RouteTable,
    pub identity: Arc<IdentityHeaders>,
    pub verifier: Verifier,
    pub forwarder: Option<Forwarder>,
    /// Every configured app client id (for Amplify cookie names).
    pub client_ids: Vec<String>,
}

/// Why a validated config could not become a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("routes[{0}].path: {1}")]
    Route(usize, crate::policy::PatternError),
    #[error(transparent)]
    Forward(#[from] forward::ForwardSetupError),
}

impl Snapshot {
    /// Compiles routes, identity headers, verifier and upstream client for `config`.
    pub fn build(config: Arc<Config>) -> Result<Self, SnapshotError> {
        let routes =
            RouteTable::compile(&config.routes).map_err(|(i, e)| SnapshotError::Route(i, e))?;
        let forwarder = match (&config.upstream, config.mode) {
            (Some(upstream), Mode::Proxy) => Some(Forwarder::new(upstream)?),
            _ => None,
        };
        let client_ids = config
            .issuers
            .iter()
            .flat_map(|i| i.client_ids.iter().cloned())
            .collect();
        Ok(Snapshot {
            identity: Arc::new(IdentityHeaders::new(&config.identity)),
            verifier: Verifier::new(&config.issuers, &config.token),
            routes,
            forwarder,
            client_ids,
            config,
        })
    }
}
