//! This proxy as an OAuth protected resource (RFC 9728), as the MCP authorization spec
//! requires of an MCP server: the metadata document, the `WWW-Authenticate` parameters
//! that point clients at it, the audience this resource requires (RFC 8707), and the
//! authorization-server metadata rebuilt from the issuer's discovery document.
//!
//! Everything a request needs is rendered here once per config load; the request path
//! only compares paths and clones [`Bytes`]. The discovery document is fetched by a
//! background task ([`refresh::run_discovery`]) into an [`ArcSwapOption`].

pub mod discovery;
pub mod refresh;

use crate::config::{Config, Resource};
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use std::sync::Arc;

/// RFC 9728 §3: the well-known suffix of protected resource metadata.
pub const PROTECTED_RESOURCE: &str = "/.well-known/oauth-protected-resource";
/// RFC 8414 §3: the well-known suffix of authorization server metadata.
pub const AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";

/// Where the authorization-server metadata comes from and what it is served as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySource {
    /// `<issuer>/.well-known/openid-configuration`.
    pub url: String,
    /// The `issuer` the fetched document must state (else it is refused).
    pub issuer: String,
    /// The `issuer` it is served with: the `authorization_servers` entry it stands for.
    pub served_as: String,
}

/// The latest accepted authorization-server metadata, rendered, shared by every
/// snapshot whose [`DiscoverySource`] is the same (a reload keeps it).
#[derive(Debug)]
pub struct AsDocument {
    /// Where it comes from.
    pub source: DiscoverySource,
    /// `None` until the first good fetch; a failed fetch never clears it.
    pub doc: ArcSwapOption<Bytes>,
}

/// What the proxy answers itself on a well-known path.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The protected resource metadata (always available).
    ProtectedResource(Bytes),
    /// The authorization-server metadata; `None` while none has loaded.
    AuthorizationServer(Option<Arc<Bytes>>),
}

/// `[resource]`, rendered for the request path.
#[derive(Debug)]
pub struct ResourceDocs {
    /// The two request paths of the metadata (equal when `url` has no path).
    protected_paths: [String; 2],
    protected_body: Bytes,
    /// The `resource_metadata` challenge parameter's value (header-safe).
    metadata_url: String,
    /// `scope` challenge parameter per route index (`None`: the route names no scope).
    route_scopes: Vec<Option<String>>,
    /// The `aud` value required of tokens (`audience = true`).
    audience: Option<String>,
    /// The request paths of the authorization-server metadata and its document.
    authorization: Option<([String; 2], Arc<AsDocument>)>,
}

impl ResourceDocs {
    /// Renders `[resource]` of `config`; `previous` lends its discovery document when it
    /// comes from the same source (so a reload serves it at once).
    pub fn new(config: &Config, resource: &Resource, previous: Option<&ResourceDocs>) -> Self {
        let scopes = scopes_supported(config);
        let protected_body = Bytes::from(protected_metadata(resource, &scopes).to_string());
        let authorization = discovery_source(config).map(|source| {
            let kept = previous
                .and_then(|p| p.authorization.as_ref())
                .filter(|(_, doc)| doc.source == source)
                .map(|(_, doc)| doc.clone());
            let paths = well_known(AUTHORIZATION_SERVER, &url_path(&source.served_as));
            let doc = kept.unwrap_or_else(|| {
                Arc::new(AsDocument {
                    source,
                    doc: ArcSwapOption::empty(),
                })
            });
            (paths, doc)
        });
        ResourceDocs {
            protected_paths: well_known(PROTECTED_RESOURCE, &resource.path),
            protected_body,
            metadata_url: header_safe(&format!(
                "{}{PROTECTED_RESOURCE}{}",
                resource.origin, resource.path
            )),
            route_scopes: config.routes.iter().map(route_scope).collect(),
            audience: resource.audience.then(|| resource.url.clone()),
            authorization,
        }
    }

    /// What to answer on `normalized_path`, if it is one of the well-known documents.
    pub fn lookup(&self, normalized_path: &str) -> Option<Answer> {
        if self.protected_paths.iter().any(|p| p == normalized_path) {
            return Some(Answer::ProtectedResource(self.protected_body.clone()));
        }
        let (paths, doc) = self.authorization.as_ref()?;
        paths
            .iter()
            .any(|p| p == normalized_path)
            .then(|| Answer::AuthorizationServer(doc.doc.load_full()))
    }

    /// The `resource_metadata` parameter's value (RFC 9728 §5.1).
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The `scope` parameter's value for route `index` (RFC 6750 §3), if it names scopes.
    pub fn route_scope(&self, index: usize) -> Option<&str> {
        self.route_scopes.get(index)?.as_deref()
    }

    /// The `aud` value a token must carry, with `audience = true`.
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The authorization-server document the refresh task fills, with `as_metadata`.
    pub fn as_document(&self) -> Option<&Arc<AsDocument>> {
        self.authorization.as_ref().map(|(_, doc)| doc)
    }
}

/// The discovery document served as authorization-server metadata: the `[login]`
/// issuer's (else the first issuer's), served as the first `authorization_servers` entry.
pub fn discovery_source(config: &Config) -> Option<DiscoverySource> {
    let resource = config.resource.as_ref().filter(|r| r.as_metadata)?;
    // The issuer browsers sign in at, when there is one, else the first.
    let login_issuer = config.login.as_ref().map_or(0, |l| l.issuer_idx);
    let issuer = config.issuers.get(login_issuer)?;
    let served_as = resource.authorization_servers.first()?;
    Some(DiscoverySource {
        url: format!(
            "{}/.well-known/openid-configuration",
            issuer.issuer.trim_end_matches('/')
        ),
        issuer: issuer.issuer.clone(),
        served_as: served_as.clone(),
    })
}

/// RFC 9728 §2 metadata.
fn protected_metadata(resource: &Resource, scopes: &[&str]) -> serde_json::Value {
    let mut doc = serde_json::json!({
        "resource": resource.url,
        "authorization_servers": resource.authorization_servers,
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
    });
    if let Some(name) = &resource.name {
        doc["resource_name"] = name.as_str().into();
    }
    if let Some(docs) = &resource.documentation {
        doc["resource_documentation"] = docs.as_str().into();
    }
    doc
}

/// Every scope a route names, once each, in config order.
fn scopes_supported(config: &Config) -> Vec<&str> {
    let mut scopes: Vec<&str> = Vec::new();
    let named = (config.routes.iter()).flat_map(|r| r.scopes_all.iter().chain(&r.scopes_any));
    for scope in named {
        if !scopes.contains(&scope.as_str()) {
            scopes.push(scope);
        }
    }
    scopes
}

/// A route's scopes as one `scope` value: those it requires all of, then those it
/// requires one of (a client asking for all of them gets a token that passes).
fn route_scope(route: &crate::config::RouteConfig) -> Option<String> {
    let mut scopes: Vec<&str> = Vec::new();
    for scope in route.scopes_all.iter().chain(&route.scopes_any) {
        if !scopes.contains(&scope.as_str()) {
            scopes.push(scope);
        }
    }
    (!scopes.is_empty()).then(|| header_safe(&scopes.join(" ")))
}

/// `suffix` alone and `suffix` + `path` (RFC 9728 §3.1, RFC 8414 §3.1).
fn well_known(suffix: &str, path: &str) -> [String; 2] {
    [suffix.to_owned(), format!("{suffix}{path}")]
}

/// The path of an absolute URL, empty for `/` or none.
fn url_path(url: &str) -> String {
    match url.parse::<http::Uri>().map(|u| u.path().to_owned()) {
        Ok(p) if p != "/" => p,
        _ => String::new(),
    }
}

/// Text safe inside an RFC 9110 quoted-string (a `"`, `\` or control becomes `'`).
fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_control() || !c.is_ascii() => '\'',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests;
