//! The pooled upstream client: http, or https through rustls (webpki roots, or the
//! configured `ca_file`), HTTP/1.1 by default and HTTP/2 when `upstream.http2` is set.

use super::body::RequestBody;
use super::error::Refusal;
use crate::config::Upstream;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;
use std::time::Duration;

/// Why the upstream client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ForwardSetupError {
    #[error("upstream.ca_file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("upstream TLS setup: {0}")]
    Tls(#[from] rustls::Error),
}

/// Sends authorized requests to the one configured upstream.
#[derive(Debug, Clone)]
pub struct Forwarder {
    client: Client<HttpsConnector<HttpConnector>, RequestBody>,
    scheme: Scheme,
    authority: Authority,
    version: Version,
    timeout: Duration,
}

impl Forwarder {
    /// Builds the client (and its connection pool) for `upstream`.
    pub fn new(upstream: &Upstream) -> Result<Self, ForwardSetupError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(upstream.connect_timeout));
        let tls = tls_config(upstream)?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let connector = if upstream.http2 {
            builder.enable_http2().wrap_connector(http)
        } else {
            builder.enable_http1().wrap_connector(http)
        };
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .http2_only(upstream.http2)
            .build(connector);
        Ok(Forwarder {
            client,
            scheme: upstream.url.scheme().cloned().unwrap_or(Scheme::HTTP),
            authority: upstream
                .url
                .authority()
                .cloned()
                .unwrap_or(Authority::from_static("127.0.0.1")),
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

    /// Sends `req` and waits for the response head at most `upstream.timeout`.
    pub async fn send(&self, mut req: Request<RequestBody>) -> Result<Response<Incoming>, Refusal> {
        *req.version_mut() = self.version;
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Err(_) => Err(Refusal::UpstreamTimeout),
            Ok(Err(e)) if client_body_failed(&e) => Err(Refusal::BadRequest(
                "the request body was malformed or ended early".into(),
            )),
            Ok(Err(e)) => Err(Refusal::Upstream {
                connect: e.is_connect(),
                cause: describe(&e),
            }),
            Ok(Ok(resp)) => Ok(resp),
        }
    }
}

/// A one-line cause for the log, walking the error's sources (the TLS or connect error
/// that explains a 502 sits a few levels down).
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut text = if e.is_connect() {
        "connect: ".to_owned()
    } else {
        String::new()
    };
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut last = String::new();
    while let Some(err) = source {
        last = err.to_string();
        source = err.source();
    }
    text.push_str(&last);
    text
}

/// Whether forwarding failed because the client's own body stream failed (bad chunk
/// framing, a disconnect mid-upload): a client fault, not the upstream's.
fn client_body_failed(e: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            return h.is_user();
        }
        source = err.source();
    }
    false
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
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
