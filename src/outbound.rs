//! The client every call cognigate makes itself goes through (JWKS, the sign-in
//! provider's token endpoint, Cognito's `GetUser`): hyper-util's pooled HTTP/1.1 client,
//! `https` over rustls (aws-lc-rs, webpki roots) or plain `http`. Installs nothing
//! process-wide: the TLS provider is passed explicitly. Requests must run on a tokio
//! runtime (hyper-util drives the connections).

use hyper::body::Body;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

/// A pooled client sending request bodies of type `B`.
pub type HttpsClient<B> = Client<HttpsConnector<HttpConnector>, B>;

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the client.
///
/// # Errors
///
/// The TLS configuration could not be built.
pub fn https_client<B>() -> Result<HttpsClient<B>, rustls::Error>
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let connector = HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .build(connector))
}
