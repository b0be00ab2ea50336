//! The per-issuer refresh task: fetch at start, then every `refresh_interval`, early on
//! a granted unknown-kid request, and with jittered exponential backoff after a failure.
//! A failed or garbage fetch never removes the last good key set.
//!
//! The application spawns [`run_refresh`] once per issuer and aborts it on shutdown or
//! when the issuer list changes; it is cancel-safe (every await leaves the store whole).

use std::sync::Arc;
use std::time::Duration;

use super::{JwksClient, KeyStore, fetch};
use crate::config::{Issuer, JwksSettings};

/// First retry delay after a failed fetch.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest retry delay (also never longer than the refresh interval).
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The timings a refresh task needs (copied out of `[jwks]` so the task owns them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshTiming {
    /// Periodic refetch interval.
    pub refresh_interval: Duration,
    /// Bound on one whole fetch.
    pub fetch_timeout: Duration,
}

impl From<&JwksSettings> for RefreshTiming {
    fn from(settings: &JwksSettings) -> Self {
        RefreshTiming {
            refresh_interval: settings.refresh_interval,
            fetch_timeout: settings.fetch_timeout,
        }
    }
}

/// Keeps `store`'s key set of issuer `idx` fresh, forever. Spawn it; abort it to stop.
pub async fn run_refresh(
    store: Arc<KeyStore>,
    idx: usize,
    client: JwksClient,
    issuer: Issuer,
    timing: RefreshTiming,
    on_result: impl Fn(bool) + Send,
) {
    let mut backoff = Backoff::new(timing.refresh_interval);
    loop {
        let ok = refresh_once(&store, idx, &client, &issuer, timing.fetch_timeout).await;
        on_result(ok);
        let delay = if ok {
            backoff.reset();
            timing.refresh_interval
        } else {
            backoff.next_delay()
        };
        store.sleep_or_wake(idx, delay).await;
    }
}

/// One fetch, recorded in the store and logged. Returns whether it succeeded.
pub(crate) async fn refresh_once(
    store: &KeyStore,
    idx: usize,
    client: &JwksClient,
    issuer: &Issuer,
    timeout: Duration,
) -> bool {
    // Requests granted before this point are answered by this fetch.
    let covered = store.granted(idx);
    match fetch(client, &issuer.jwks_uri, timeout, &issuer.algorithms).await {
        Ok(set) => {
            tracing::info!(
                issuer = %issuer.name, result = "ok", keys = set.len(), skipped = set.skipped(),
                "JWKS refreshed"
            );
            store.record(idx, covered, Some(set));
            true
        }
        Err(error) => {
            let keeping = store.get(idx).map_or(0, |set| set.len());
            tracing::warn!(
                issuer = %issuer.name, result = "error", %error, kept_keys = keeping,
                "JWKS refresh failed; keeping the last good key set"
            );
            store.record(idx, covered, None);
            false
        }
    }
}

/// Exponential backoff from 1 s, doubling, capped at min(refresh_interval, 60 s), with
/// "equal jitter" (half fixed, half random) so issuers and replicas do not retry in step.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    pub(crate) fn new(refresh_interval: Duration) -> Backoff {
        let cap = refresh_interval.min(BACKOFF_MAX);
        Backoff {
            next: BACKOFF_START.min(cap),
            cap,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(self.cap);
        base / 2 + base.mul_f64(fastrand::f64() / 2.0)
    }

    pub(crate) fn reset(&mut self) {
        self.next = BACKOFF_START.min(self.cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testkit::{self, JwksServer, Reply};

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(900));
        let mut bases = Vec::new();
        for _ in 0..10 {
            let base = b.next;
            let d = b.next_delay();
            assert!(
                d >= base / 2 && d <= base,
                "{d:?} outside jitter of {base:?}"
            );
            bases.push(base.as_secs());
        }
        assert_eq!(bases, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        b.reset();
        assert_eq!(b.next, BACKOFF_START);
        assert_eq!(
            Backoff::new(Duration::from_millis(300)).next,
            Duration::from_millis(300)
        );
    }

    #[tokio::test]
    async fn failed_fetch_keeps_last_good_set_and_counts() {
        let server = JwksServer::start(Reply::Jwks).await;
        let store = KeyStore::new(1, Duration::from_secs(30));
        let client = JwksClient::new().unwrap();
        let issuer = testkit::issuer_at(&server.url());
        let t = Duration::from_secs(5);
        assert!(refresh_once(&store, 0, &client, &issuer, t).await);
        let good = store.get(0).unwrap();
        server.set_reply(Reply::Garbage);
        assert!(!refresh_once(&store, 0, &client, &issuer, t).await);
        assert!(Arc::ptr_eq(&good, &store.get(0).unwrap()));
        let stats = store.stats(0).unwrap();
        assert_eq!((stats.ok, stats.err, stats.keys), (1, 1, 1));
    }

    #[tokio::test]
    async fn task_refetches_on_a_granted_unknown_kid() {
        let server = JwksServer::start(Reply::Jwks).await;
        let store = Arc::new(KeyStore::new(1, Duration::from_secs(30)));
        let issuer = testkit::issuer_at(&server.url());
        let timing = RefreshTiming {
            refresh_interval: Duration::from_secs(3600),
            fetch_timeout: Duration::from_secs(5),
        };
        let client = JwksClient::new().unwrap();
        let task = tokio::spawn(run_refresh(
            store.clone(),
            0,
            client,
            issuer,
            timing,
            |_| {},
        ));
        while !store.is_ready() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ticket = store.refetch_for_unknown_kid(0);
        let losers = (0..99)
            .filter(|_| store.refetch_for_unknown_kid(0).is_granted())
            .count();
        assert!(ticket.wait(Duration::from_secs(5)).await);
        task.abort();
        assert_eq!(losers, 0);
        assert_eq!(server.hits(), 2, "initial fetch + exactly one refetch");
    }
}
