//! Fetching a JWKS document over http(s) or from a local file, bounded in time and size.
//!
//! Redirects are refused rather than followed: the JWKS location is configuration, and a
//! redirect to an attacker-chosen host would be key substitution.

use crate::outbound::{self, HttpsClient};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, USER_AGENT};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::{Body as _, Incoming};
use jsonwebtoken::Algorithm;
use tokio::io::AsyncReadExt as _;

use super::{JwksError, KeySet};

/// Largest JWKS body accepted (Cognito's are about 1 KiB).
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// A pooled HTTP/1.1 client for JWKS endpoints: https (webpki roots, aws-lc-rs) or http.
#[derive(Clone)]
pub struct JwksClient {
    http: HttpsClient<Empty<Bytes>>,
}

impl JwksClient {
    /// Builds the client. Installs nothing process-wide: the TLS provider is passed
    /// explicitly. Requests must run on a tokio runtime (hyper-util drives connections).
    pub fn new() -> Result<Self, JwksError> {
        Ok(Self {
            http: outbound::https_client()?,
        })
    }
}

impl std::fmt::Debug for JwksClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwksClient")
    }
}

/// Fetches `uri` (http://, https:// or file://) and builds a key set of the `allowed`
/// algorithms. The whole fetch, body included, is bounded by `timeout`.
pub async fn fetch(
    client: &JwksClient,
    uri: &str,
    timeout: Duration,
    allowed: &[Algorithm],
) -> Result<KeySet, JwksError> {
    let body = tokio::time::timeout(timeout, fetch_bytes(client, uri))
        .await
        .map_err(|_| JwksError::Timeout {
            uri: uri.to_owned(),
            timeout,
        })??;
    KeySet::from_jwks(&body, allowed).map_err(|source| JwksError::Invalid {
        uri: uri.to_owned(),
        source,
    })
}

async fn fetch_bytes(client: &JwksClient, uri: &str) -> Result<Vec<u8>, JwksError> {
    fetch_capped(client, uri, MAX_JWKS_BYTES).await
}

/// Fetches `uri` (http://, https:// or file://) with the JWKS client's rules (no
/// redirects, 200 only), refusing a body over `cap` bytes ([`JwksError::TooLarge`])
/// and a fetch longer than `timeout`. Other documents fetched alongside the key sets
/// (the issuer's discovery document) use it.
pub(crate) async fn fetch_document(
    client: &JwksClient,
    uri: &str,
    timeout: Duration,
    cap: usize,
) -> Result<Vec<u8>, JwksError> {
    tokio::time::timeout(timeout, fetch_capped(client, uri, cap))
        .await
        .map_err(|_| JwksError::Timeout {
            uri: uri.to_owned(),
            timeout,
        })?
}

async fn fetch_capped(client: &JwksClient, uri: &str, cap: usize) -> Result<Vec<u8>, JwksError> {
    if let Some(path) = uri.strip_prefix("file://") {
        return read_file(uri, path, cap).await;
    }
    let request = build_request(uri)?;
    let response = client
        .http
        .request(request)
        .await
        .map_err(|e| transport(uri, e))?;
    check_status(uri, response.status())?;
    read_capped(uri, response.into_body(), cap).await
}

fn build_request(uri: &str) -> Result<http::Request<Empty<Bytes>>, JwksError> {
    let invalid = |reason| JwksError::InvalidUri {
        uri: uri.to_owned(),
        reason,
    };
    let parsed: http::Uri = uri.parse().map_err(|_| invalid("not a valid URI"))?;
    if !matches!(parsed.scheme_str(), Some("http" | "https")) {
        return Err(invalid("scheme must be http, https or file"));
    }
    http::Request::get(parsed)
        .header(ACCEPT, "application/json")
        .header(USER_AGENT, concat!("cognigate/", env!("CARGO_PKG_VERSION")))
        .body(Empty::new())
        .map_err(|_| invalid("not a valid request target"))
}

fn check_status(uri: &str, status: http::StatusCode) -> Result<(), JwksError> {
    let uri = uri.to_owned();
    match status {
        http::StatusCode::OK => Ok(()),
        s if s.is_redirection() => Err(JwksError::Redirect { uri, status }),
        _ => Err(JwksError::Status { uri, status }),
    }
}

/// Reads the body frame by frame and stops as soon as it passes the cap.
async fn read_capped(uri: &str, mut body: Incoming, cap: usize) -> Result<Vec<u8>, JwksError> {
    let too_large = || JwksError::TooLarge {
        uri: uri.to_owned(),
    };
    if body.size_hint().lower() > cap as u64 {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| transport(uri, e))?.into_data() else {
            continue; // trailers carry no body bytes
        };
        if buf.len() + data.len() > cap {
            return Err(too_large());
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf)
}

/// Local development: `file:///abs/path`, `file://localhost/abs/path` or a path relative
/// to the working directory (`file://./jwks.json`).
async fn read_file(uri: &str, path: &str, cap: usize) -> Result<Vec<u8>, JwksError> {
    let path = path
        .strip_prefix("localhost")
        .filter(|p| p.starts_with('/'))
        .unwrap_or(path);
    let io_err = |source| JwksError::File {
        uri: uri.to_owned(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(io_err)?;
    let mut buf = Vec::new();
    // Read one byte past the cap so an oversized file is detected without reading it all.
    file.take(cap as u64 + 1)
        .read_to_end(&mut buf)
        .await
        .map_err(io_err)?;
    if buf.len() > cap {
        return Err(JwksError::TooLarge {
            uri: uri.to_owned(),
        });
    }
    Ok(buf)
}

fn transport(uri: &str, e: impl std::error::Error + 'static) -> JwksError {
    let parsed = uri.parse::<http::Uri>().ok();
    let host = parsed.as_ref().and_then(http::Uri::host).unwrap_or(uri);
    JwksError::Request {
        uri: uri.to_owned(),
        cause: crate::connect_error::describe(&e, host),
    }
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
