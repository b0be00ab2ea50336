//! The pooled upstream client: http, or https through rustls (webpki roots, or the
//! configured `ca_file`), HTTP/1.1 by default and HTTP/2 when `upstream.http2` is set.

use super::body::RequestBody;
use super::error::Refusal;
use super::pool::{Pool, SendError, Target, UpstreamBody};
use crate::config::Upstream;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri, Version};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;
use std::time::Duration;

/// Why the upstream client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ForwardSetupError {
    /// `upstream.ca_file` could not be read or holds no certificate.
    #[error("upstream.ca_file {path}: {message}")]
    CaFile {
        /// The configured path.
        path: String,
        /// What was wrong with it.
        message: String,
    },
    /// rustls refused the client configuration.
    #[error("upstream TLS setup: {0}")]
    Tls(#[from] rustls::Error),
}

/// Sends authorized requests to the one configured upstream.
#[derive(Debug, Clone)]
pub struct Forwarder {
    pool: Pool,
    scheme: Scheme,
    authority: Authority,
    /// The `Host` an HTTP/1.1 upstream gets: its own authority, default port omitted.
    host: HeaderValue,
    version: Version,
    timeout: Duration,
}

impl Forwarder {
    /// Builds the client (and its connection pool) for `upstream`.
    pub fn new(upstream: &Upstream) -> Result<Self, ForwardSetupError> {
        let scheme = upstream.url.scheme().cloned().unwrap_or(Scheme::HTTP);
        let authority = upstream
            .url
            .authority()
            .cloned()
            .unwrap_or(Authority::from_static("127.0.0.1"));
        let https = scheme == Scheme::HTTPS;
        let default_port = if https { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        let host_text = match authority.port_u16() {
            Some(p) if p != default_port => format!("{}:{p}", authority.host()),
            _ => authority.host().to_owned(),
        };
        let tls = match https {
            true => Some(Arc::new(tls_config(upstream)?)),
            false => None,
        };
        let pool = Pool::new(Target {
            host: authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            tls,
            http2: upstream.http2,
            connect_timeout: upstream.connect_timeout,
        });
        Ok(Forwarder {
            pool,
            scheme,
            host: HeaderValue::from_str(&host_text)
                .unwrap_or(HeaderValue::from_static("localhost")),
            authority,
            version: if upstream.http2 {
                Version::HTTP_2
            } else {
                Version::HTTP_11
            },
            timeout: upstream.timeout,
        })
    }

    /// Whether an HTTP/1.1 `Upgrade` can be passed on: not over HTTP/2, which has no
    /// such mechanism (RFC 9113 §8.6).
    pub fn supports_upgrades(&self) -> bool {
        self.version == Version::HTTP_11
    }

    /// The upstream URI for an authorized path (and the client's query, untouched).
    pub fn uri_for(&self, path_and_query: PathAndQuery) -> Uri {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).unwrap_or_default()
    }

    /// Sends `req` to `path_and_query` on the upstream and waits for the response head
    /// at most `upstream.timeout`. HTTP/1.1 gets the origin form and the upstream's
    /// `Host`; HTTP/2 the absolute form (its `:authority`).
    pub async fn send(
        &self,
        mut req: Request<RequestBody>,
        path_and_query: PathAndQuery,
    ) -> Result<Response<UpstreamBody>, Refusal> {
        *req.version_mut() = self.version;
        if self.version == Version::HTTP_2 {
            *req.uri_mut() = self.uri_for(path_and_query);
        } else {
            *req.uri_mut() = Uri::from(path_and_query);
            req.headers_mut().insert(HOST, self.host.clone());
        }
        match tokio::time::timeout(self.timeout, self.pool.send(req)).await {
            Err(_) => Err(Refusal::UpstreamTimeout),
            Ok(Err(SendError::Http(e))) if e.is_user() => Err(Refusal::BadRequest(
                "the request body was malformed or ended early".into(),
            )),
            Ok(Err(e)) => Err(Refusal::Upstream {
                connect: matches!(e, SendError::Connect(_)),
                cause: describe(&e),
            }),
            Ok(Ok(resp)) => Ok(resp),
        }
    }
}

/// A one-line cause for the log: for a failed exchange the innermost error, which is
/// the one that explains a 502.
fn describe(e: &SendError) -> String {
    let mut source: Option<&dyn std::error::Error> = match e {
        SendError::Connect(_) => return e.to_string(),
        SendError::Http(h) => Some(h),
    };
    let mut last = String::new();
    while let Some(err) = source {
        last = err.to_string();
        source = err.source();
    }
    last
}

fn tls_config(upstream: &Upstream) -> Result<rustls::ClientConfig, ForwardSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    match &upstream.ca_file {
        Some(path) => {
            let ca_err = |message: String| ForwardSetupError::CaFile {
                path: path.display().to_string(),
                message,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| ca_err(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| ca_err(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_err("no PEM certificates in it".to_owned()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![match upstream.http2 {
        true => b"h2".to_vec(),
        false => b"http/1.1".to_vec(),
    }];
    Ok(config)
}
