//! The request path: authorize (auth), rewrite headers (headers, identity), forward
//! (forward) or refuse (error). One config snapshot is loaded per request, before any
//! await, so a reload never changes the rules under a request in flight.
//!
//! The snapshot also holds the [`KeyStore`] whose slot indexes match its issuer list:
//! routes, issuers and the place their key sets live swap together, while the key sets
//! themselves are swapped by the refresh tasks inside the store (STYLE rule 3).

pub mod auth;
pub mod body;
pub mod error;
pub mod forward;
pub mod forward_auth;
mod gate;
pub mod headers;
pub mod login;
pub mod metadata;
pub mod pool;
pub mod token;
pub mod upgrade;

use crate::config::{Config, Mode};
use crate::identity::IdentityHeaders;
use crate::jwks::KeyStore;
use crate::login::Login;
use crate::policy::{RouteError, RouteTable, claims};
use crate::resource::ResourceDocs;
use crate::verify::Verifier;
use forward::Forwarder;
use std::sync::Arc;

pub use gate::Gate;

/// Everything the request path needs from one config, built once per (re)load.
#[derive(Debug)]
pub struct Snapshot {
    /// The validated config this snapshot was built from.
    pub config: Arc<Config>,
    /// `[[routes]]`, compiled.
    pub routes: RouteTable,
    /// Which identity headers to strip and set.
    pub identity: Arc<IdentityHeaders>,
    /// Shared with the previous snapshot when issuers and `[token]` did not change, so a
    /// reload of routes keeps the verified-token cache.
    pub verifier: Arc<Verifier>,
    /// The key sets of `config.issuers`, by index.
    pub keys: Arc<KeyStore>,
    /// The upstream client (`mode = "proxy"` only).
    pub forwarder: Option<Forwarder>,
    /// Every configured app client id (for Amplify cookie names).
    pub client_ids: Vec<String>,
    /// `[login]`, ready for requests.
    pub login: Option<Login>,
    /// `[resource]`, rendered: metadata documents, challenge parameters, audience.
    pub resource: Option<ResourceDocs>,
}

/// Why a validated config could not become a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Route `{0}` could not be compiled.
    #[error("routes[{0}].{key}: {1}", key = .1.key())]
    Route(usize, RouteError),
    /// The upstream client could not be built.
    #[error(transparent)]
    Forward(#[from] forward::ForwardSetupError),
    /// The client for the sign-in provider could not be built.
    #[error("login: {0}")]
    Login(#[from] rustls::Error),
}

impl Snapshot {
    /// Compiles routes, identity headers, verifier and upstream client for `config`,
    /// with an empty key store.
    pub fn build(config: Arc<Config>) -> Result<Self, SnapshotError> {
        let keys = KeyStore::new(config.issuers.len(), config.jwks.min_refetch_interval);
        let verifier = Arc::new(verifier_for(&config));
        Self::assemble(config, Arc::new(keys), verifier, None)
    }

    /// The snapshot for a reloaded `config` whose key sets live in `keys` (a successor of
    /// `previous.keys`). The upstream client is always rebuilt (its `ca_file` may have
    /// changed); the verifier and its cache are kept when nothing it depends on changed.
    pub fn rebuild(
        config: Arc<Config>,
        keys: Arc<KeyStore>,
        previous: &Snapshot,
    ) -> Result<Self, SnapshotError> {
        let names = claims::claim_names(&config.routes);
        let same = previous.config.issuers == config.issuers
            && previous.config.token == config.token
            && previous
                .verifier
                .claim_names()
                .iter()
                .map(|n| &**n)
                .eq(names);
        let verifier = match same {
            true => previous.verifier.clone(),
            false => Arc::new(verifier_for(&config)),
        };
        Self::assemble(config, keys, verifier, Some(previous))
    }

    fn assemble(
        config: Arc<Config>,
        keys: Arc<KeyStore>,
        verifier: Arc<Verifier>,
        previous: Option<&Snapshot>,
    ) -> Result<Self, SnapshotError> {
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
        let login = Login::new(&config)?;
        let resource = config.resource.as_ref().map(|r| {
            let previous = previous.and_then(|p| p.resource.as_ref());
            ResourceDocs::new(&config, r, previous)
        });
        Ok(Snapshot {
            login,
            resource,
            identity: Arc::new(IdentityHeaders::new(
                &config.identity,
                config.issuers.iter().map(|i| i.name.as_str()),
            )),
            verifier,
            keys,
            routes,
            forwarder,
            client_ids,
            config,
        })
    }
}

/// The verifier for `config`: its issuers and `[token]`, reading the claims its routes'
/// rules name.
fn verifier_for(config: &Config) -> Verifier {
    Verifier::new(&config.issuers, &config.token).with_claims(&claims::claim_names(&config.routes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(routes: &str) -> Arc<Config> {
        let text = format!(
            "[upstream]\nurl = \"http://127.0.0.1:3\"\n[[issuers]]\nname = \"a\"\n\
             issuer = \"https://a.example\"\nclient_ids = [\"c\"]\n{routes}"
        );
        let raw = ::config::Config::builder()
            .add_source(::config::File::from_str(&text, ::config::FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        Arc::new(crate::config::validate(raw).unwrap().config)
    }

    /// The verifier (and its cache) is kept across a reload only while it reads the
    /// claims the new routes name: a token cached before a `bind` was added lacks them.
    #[test]
    fn a_reload_that_names_new_claims_gets_a_new_verifier() {
        let plain = config("[[routes]]\npath = \"/**\"\n");
        let tenant =
            config("[[routes]]\npath = \"/t/{t}/**\"\nbind = { t = \"custom:tenant_id\" }\n");
        let first = Snapshot::build(plain.clone()).unwrap();
        assert!(first.verifier.claim_names().is_empty());
        let same = Snapshot::rebuild(plain, first.keys.clone(), &first).unwrap();
        assert!(Arc::ptr_eq(&first.verifier, &same.verifier));
        let bound = Snapshot::rebuild(tenant.clone(), first.keys.clone(), &same).unwrap();
        assert!(!Arc::ptr_eq(&same.verifier, &bound.verifier));
        assert_eq!(&*bound.verifier.claim_names()[0], "custom:tenant_id");
        let again = Snapshot::rebuild(tenant, first.keys.clone(), &bound).unwrap();
        assert!(Arc::ptr_eq(&bound.verifier, &again.verifier));
    }
}
