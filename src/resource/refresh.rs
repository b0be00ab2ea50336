//! The discovery document's refresh task: fetched with the key sets' client and
//! cadence (at start, every `jwks.refresh_interval`, with backoff after a failure).
//! A failed, oversized, non-JSON or foreign document is logged and the last good one
//! kept. The application spawns [`run_discovery`]; this module never spawns.

use super::AsDocument;
use super::discovery::{self, MAX_DISCOVERY_BYTES};
use crate::jwks::fetch::fetch_document;
use crate::jwks::refresh::Backoff;
use crate::jwks::{JwksClient, JwksError, RefreshTiming};
use std::sync::Arc;

/// Keeps `target` fresh, forever. Spawn it; abort it to stop.
pub async fn run_discovery(target: Arc<AsDocument>, client: JwksClient, timing: RefreshTiming) {
    let mut backoff = Backoff::new(timing.refresh_interval);
    loop {
        let delay = match refresh_once(&target, &client, timing).await {
            true => {
                backoff.reset();
                timing.refresh_interval
            }
            false => backoff.next_delay(),
        };
        tokio::time::sleep(delay).await;
    }
}

/// One fetch; stores the document if it is accepted. Returns whether it was.
pub async fn refresh_once(target: &AsDocument, client: &JwksClient, timing: RefreshTiming) -> bool {
    let source = &target.source;
    let fetched = fetch_document(
        client,
        &source.url,
        timing.fetch_timeout,
        MAX_DISCOVERY_BYTES,
    )
    .await
    .map_err(|e| match e {
        JwksError::TooLarge { uri } => {
            format!("discovery document larger than {MAX_DISCOVERY_BYTES} bytes from {uri}")
        }
        other => other.to_string(),
    })
    .and_then(|body| {
        discovery::accept(&body, &source.issuer, &source.served_as).map_err(|e| e.to_string())
    });
    match fetched {
        Ok(doc) => {
            tracing::info!(url = %source.url, result = "ok", "discovery document refreshed");
            target.doc.store(Some(Arc::new(doc)));
            true
        }
        Err(error) => {
            let keeping = target.doc.load().is_some();
            tracing::warn!(
                url = %source.url, result = "error", %error, kept_last_good = keeping,
                "discovery document refused; keeping the last good one"
            );
            false
        }
    }
}
