//! TLS termination on the proxy listener: rustls with the aws-lc-rs provider, ALPN `h2`
//! and `http/1.1`.
//!
//! Threats defended against:
//! - **Protocol downgrade**: only TLS 1.3 and 1.2 (with rustls' default, forward-secret
//!   AEAD suites) are offered; SSL 3, TLS 1.0 and 1.1 do not exist in rustls.
//! - **Slow handshakes holding connection slots**: a handshake must finish within
//!   `limits.header_timeout`, like a request head.
//! - **A rotated certificate left unserved, or a broken one served**: the certificate
//!   resolver reads an `ArcSwap`, replaced when the files change (cert-manager rotates
//!   them in place) without touching open connections; a new chain that does not parse,
//!   or whose key does not match its leaf certificate, never replaces the good one.

use crate::config::Tls;
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, version};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Why a certificate chain and key could not be (re)loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate chain file could not be read or parsed.
    #[error("tls.cert {path}: {message}")]
    Cert {
        /// The configured path.
        path: String,
        /// What was wrong with it.
        message: String,
    },
    /// The private key file could not be read or parsed.
    #[error("tls.key {path}: {message}")]
    Key {
        /// The configured path.
        path: String,
        /// What was wrong with it.
        message: String,
    },
    /// rustls refused the chain and key (e.g. a key that is not the certificate's).
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The certificate the listener presents, swappable while it serves.
#[derive(Debug)]
pub struct CertStore {
    current: ArcSwap<CertifiedKey>,
    provider: Arc<CryptoProvider>,
}

impl CertStore {
    /// Loads the chain and key named by `[tls]`.
    pub fn load(tls: &Tls) -> Result<Arc<CertStore>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let first = certified_key(tls, &provider)?;
        Ok(Arc::new(CertStore {
            current: ArcSwap::from_pointee(first),
            provider,
        }))
    }

    /// Re-reads the files; on any error the certificate in service stays.
    pub fn reload(&self, tls: &Tls) -> Result<(), TlsError> {
        let next = certified_key(tls, &self.provider)?;
        self.current.store(Arc::new(next));
        Ok(())
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The acceptor for the proxy listener, presenting whatever `certs` holds.
pub fn acceptor(certs: Arc<CertStore>) -> Result<TlsAcceptor, TlsError> {
    let provider = certs.provider.clone();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&version::TLS13, &version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    // RFC 7301; h2 first: a client offering both gets HTTP/2.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Runs the server handshake on `stream`, giving up after `limit`.
pub async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    limit: Duration,
) -> std::io::Result<TlsStream<TcpStream>> {
    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "TLS handshake not complete within limits.header_timeout",
        )),
    }
}

fn certified_key(tls: &Tls, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let chain = read_chain(&tls.cert)?;
    let key_err = |message: String| TlsError::Key {
        path: tls.key.display().to_string(),
        message,
    };
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| key_err(e.to_string()))?;
    // `from_der` also checks that the key belongs to the leaf certificate.
    CertifiedKey::from_der(chain, key, provider).map_err(|e| key_err(e.to_string()))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let cert_err = |message: String| TlsError::Cert {
        path: path.display().to_string(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no PEM certificates in it".to_owned()));
    }
    Ok(chain)
}
