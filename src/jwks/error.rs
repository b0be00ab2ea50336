//! Errors of loading a key set. Each names the JWKS location; none contains a token.

use std::time::Duration;

/// Why a JWKS document yields no key set.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    /// The document is not a JSON object with a `keys` array.
    #[error("not a JWKS document (expected a JSON object with a \"keys\" array): {0}")]
    Json(#[from] serde_json::Error),
    /// Every key was skipped (wrong `use`, unsupported `kty`, no `kid`, `alg` not allowed).
    #[error(
        "no usable keys ({skipped} skipped: unsupported type, not for signing, no kid or algorithm not allowed)"
    )]
    NoUsableKeys {
        /// How many keys were skipped.
        skipped: usize,
    },
}

/// Why fetching an issuer's JWKS failed.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The URI is neither http(s):// nor file://, or does not parse.
    #[error("JWKS URI {uri} is not usable: {reason}")]
    InvalidUri {
        /// The configured URI.
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Connecting, TLS, or reading the response failed.
    #[error("fetching JWKS from {uri} failed: {cause}")]
    Request {
        /// The configured URI.
        uri: String,
        /// The cause, named ([`crate::connect_error::describe`]).
        cause: String,
    },
    /// The server answered a redirect; JWKS redirects are never followed.
    #[error("JWKS {uri} answered a redirect (HTTP {status}); redirects are not followed")]
    Redirect {
        /// The configured URI.
        uri: String,
        /// The 3xx status.
        status: http::StatusCode,
    },
    /// The server answered something other than 200.
    #[error("JWKS {uri} answered HTTP {status}, expected 200")]
    Status {
        /// The configured URI.
        uri: String,
        /// The status received.
        status: http::StatusCode,
    },
    /// The body (or file) exceeds its cap (1 MiB for a key set; callers of
    /// `fetch_document` report their own cap).
    #[error("JWKS response larger than 1 MiB from {uri}")]
    TooLarge {
        /// The configured URI.
        uri: String,
    },
    /// The whole fetch did not finish in time.
    #[error("fetching JWKS from {uri} timed out after {timeout:?}")]
    Timeout {
        /// The configured URI.
        uri: String,
        /// The bound that passed.
        timeout: Duration,
    },
    /// A file:// JWKS could not be read.
    #[error("reading JWKS file {uri} failed: {source}")]
    File {
        /// The configured URI.
        uri: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The document was fetched but yields no usable key set.
    #[error("JWKS from {uri} rejected: {source}")]
    Invalid {
        /// The configured URI.
        uri: String,
        /// Why the document was rejected.
        #[source]
        source: KeySetError,
    },
    /// The TLS client configuration could not be built.
    #[error("building the JWKS HTTPS client failed: {0}")]
    Tls(#[from] rustls::Error),
}
