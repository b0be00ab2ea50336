//! Prometheus metrics for the admin listener's `/metrics` (docs/reference.md, "Metrics").
//!
//! The request path never takes a lock (STYLE rule 4): request counts and latencies are
//! atomics laid out by route index and status slot ([`RouteSet`]), auth failures and
//! upstream errors are atomic arrays over fixed label sets. prometheus-client's
//! `Family::get_or_create` takes an `RwLock`, so it is used only off the request path
//! (JWKS refreshes). At scrape time a custom [`Collector`] reads the atomics and
//! prometheus-client's own text encoder writes everything.
//!
//! The exposition is OpenMetrics 1.0 text (serve it as `application/openmetrics-text`):
//! a counter's `# TYPE` line names the family without `_total`
//! (`# TYPE cognigate_requests counter`), its samples carry it
//! (`cognigate_requests_total{route="/admin/**",status="200"} 3`).

mod route;

pub use route::RouteSet;

use arc_swap::ArcSwap;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelValue, LabelValueEncoder, NoLabelSet, text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Registry, Unit};
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The `reason` labels of `cognigate_auth_failures_total`; anything else counts as `other`.
const AUTH_REASONS: [&str; 22] = [
    "missing_token",
    "malformed",
    "bad_signature",
    "unknown_kid",
    "expired",
    "not_yet_valid",
    "wrong_issuer",
    "wrong_client",
    "wrong_token_use",
    "disallowed_alg",
    "audience",
    "insufficient_groups",
    "insufficient_scope",
    "claims",
    "binding",
    "no_route",
    "denied",
    "issuer_not_ready",
    "bad_request",
    "revoked",
    "max_age",
    "sign_in",
];

/// The `result` labels of `cognigate_logins_total` (a sign-in callback's outcome);
/// anything else counts as `other`.
const LOGIN_RESULTS: [&str; 8] = [
    "ok",
    "bad_state",
    "denied",
    "invalid_grant",
    "invalid_token",
    "provider_error",
    "bad_request",
    "session_too_large",
];

/// The `kind` labels of `cognigate_revocations` (deny entries in force).
const REVOCATION_KINDS: [&str; 3] = ["jti", "origin_jti", "sub"];

/// The `result` labels of `cognigate_online_checks_total`.
const ONLINE_RESULTS: [&str; 4] = ["cached", "valid", "revoked", "unreachable"];

/// The label of values outside a fixed set.
const OTHER: &str = "other";

/// Why a request could not be forwarded (`kind` label of `cognigate_upstream_errors_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// The connection to the upstream failed.
    Connect,
    /// The upstream did not answer in time.
    Timeout,
    /// Any other failure while forwarding.
    Other,
}

impl UpstreamErrorKind {
    const ALL: [Self; 3] = [Self::Connect, Self::Timeout, Self::Other];

    /// The `kind` label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }
}

/// A label value escaped as OpenMetrics requires (`\\`, `\"`, `\n`): prometheus-client
/// 0.24 writes label values verbatim, and route patterns and issuer names come from config.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Label<S>(S);

impl<S: AsRef<str>> EncodeLabelValue for Label<S> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        for c in self.0.as_ref().chars() {
            match c {
                '\\' => encoder.write_str(r"\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str(r"\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// `{issuer, result}` of `cognigate_jwks_refresh_total`.
type IssuerResult = [(&'static str, Label<String>); 2];

/// The atomics behind the request-path metrics, read by the scrape-time [`Collector`].
#[derive(Debug)]
struct Core {
    routes: ArcSwap<RouteSet>,
    auth_failures: [AtomicU64; AUTH_REASONS.len() + 1],
    upstream_errors: [AtomicU64; UpstreamErrorKind::ALL.len()],
    /// `[ok, error]`.
    config_reloads: [AtomicU64; 2],
    logins: [AtomicU64; LOGIN_RESULTS.len() + 1],
    /// `[ok, error]`.
    session_refreshes: [AtomicU64; 2],
    /// Deny entries in force, by [`REVOCATION_KINDS`].
    revocations: [AtomicU64; REVOCATION_KINDS.len()],
    /// Online checks by [`ONLINE_RESULTS`].
    online_checks: [AtomicU64; ONLINE_RESULTS.len()],
}

/// The process's metrics: one per process, shared as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    core: Arc<Core>,
    jwks_refresh: Family<IssuerResult, Counter>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Metrics with no routes yet (only `route="none"` counts until [`Metrics::set_routes`]).
    pub fn new() -> Self {
        let core = Arc::new(Core {
            routes: ArcSwap::from_pointee(RouteSet::empty()),
            auth_failures: std::array::from_fn(|_| AtomicU64::new(0)),
            upstream_errors: std::array::from_fn(|_| AtomicU64::new(0)),
            config_reloads: std::array::from_fn(|_| AtomicU64::new(0)),
            logins: std::array::from_fn(|_| AtomicU64::new(0)),
            session_refreshes: std::array::from_fn(|_| AtomicU64::new(0)),
            revocations: std::array::from_fn(|_| AtomicU64::new(0)),
            online_checks: std::array::from_fn(|_| AtomicU64::new(0)),
        });
        let jwks_refresh = Family::<IssuerResult, Counter>::default();
        let mut registry = Registry::default();
        registry.register(
            "cognigate_jwks_refresh",
            "JWKS fetches by issuer and result (ok|error).",
            jwks_refresh.clone(),
        );
        registry.register_collector(Box::new(Arc::clone(&core)));
        Self {
            core,
            jwks_refresh,
            registry,
        }
    }

    /// Called when a config (re)loads, with the route patterns in config order. A pattern
    /// that stays keeps its counters (matched by text); a removed pattern's series go.
    pub fn set_routes(&self, patterns: &[String]) {
        self.core.routes.rcu(|current| current.reload(patterns));
    }

    /// The current route set. A request that holds it from routing to response counts
    /// against the right pattern even if a reload lands in between.
    pub fn routes(&self) -> Arc<RouteSet> {
        self.core.routes.load_full()
    }

    /// Counts a request against the current route set (lock-free). `route` is the index
    /// of the matched route (`None`: no route matched); an index out of range is dropped.
    /// Prefer [`RouteSet::observe`] on the set from [`Metrics::routes`] when a reload may
    /// have happened since the request was routed.
    pub fn observe_request(&self, route: Option<usize>, status: u16, elapsed: Duration) {
        self.core.routes.load().observe(route, status, elapsed);
    }

    /// Counts a refused request by reason; a reason outside the fixed set counts as `other`.
    pub fn auth_failure(&self, reason: &str) {
        let slot = AUTH_REASONS.iter().position(|r| *r == reason);
        bump(&self.core.auth_failures, slot.unwrap_or(AUTH_REASONS.len()));
    }

    /// Counts a failure to forward a request.
    pub fn upstream_error(&self, kind: UpstreamErrorKind) {
        bump(&self.core.upstream_errors, kind as usize);
    }

    /// Counts a JWKS fetch of `issuer` (off the request path: this takes a lock). The
    /// family appears in the scrape from the first fetch on.
    pub fn jwks_refresh(&self, issuer: &str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        let labels = [
            ("issuer", Label(issuer.to_owned())),
            ("result", Label(result.to_owned())),
        ];
        self.jwks_refresh.get_or_create(&labels).inc();
    }

    /// Counts a sign-in callback by its outcome (`ok`, or the refusal's reason).
    pub fn login(&self, result: &str) {
        let slot = LOGIN_RESULTS.iter().position(|r| *r == result);
        bump(&self.core.logins, slot.unwrap_or(LOGIN_RESULTS.len()));
    }

    /// Counts a session refresh attempt.
    pub fn session_refresh(&self, ok: bool) {
        bump(&self.core.session_refreshes, usize::from(!ok));
    }

    /// Counts a config reload attempt.
    pub fn config_reload(&self, ok: bool) {
        bump(&self.core.config_reloads, usize::from(!ok));
    }

    /// Sets the deny entries in force, by kind `[jti, origin_jti, sub]`.
    pub fn set_revocations(&self, counts: [usize; 3]) {
        for (gauge, n) in self.core.revocations.iter().zip(counts) {
            gauge.store(n as u64, Relaxed);
        }
    }

    /// Counts an online check by result (`cached`, `valid`, `revoked`, `unreachable`).
    pub fn online_check(&self, result: &str) {
        if let Some(slot) = ONLINE_RESULTS.iter().position(|r| *r == result) {
            bump(&self.core.online_checks, slot);
        }
    }

    /// The `/metrics` body. `issuers` is, per issuer, its name, the number of keys in its
    /// current set and the age of that set in seconds (`None`: no set yet, no age series).
    pub fn encode(&self, issuers: &[(String, usize, Option<f64>)]) -> String {
        let mut scrape = Registry::default();
        scrape.register_collector(Box::new(IssuerGauges(issuers.to_vec())));
        let mut out = String::new();
        // Writing into a String cannot fail, nor can our label encoders: nothing to report.
        let _ = text::encode_registry(&mut out, &self.registry)
            .and_then(|()| text::encode_registry(&mut out, &scrape))
            .and_then(|()| text::encode_eof(&mut out));
        out
    }
}

fn bump(counters: &[AtomicU64], slot: usize) {
    if let Some(counter) = counters.get(slot) {
        counter.fetch_add(1, Relaxed);
    }
}

impl Collector for Core {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let routes = self.routes.load();
        let snapshots: Vec<_> = routes
            .distinct()
            .into_iter()
            .map(|r| r.snapshot())
            .collect();
        let requests = snapshots.iter().flat_map(|r| {
            (r.statuses.iter()).map(|&(status, n)| ([("route", r.label), ("status", status)], n))
        });
        let help = "Requests by route pattern (none: no route matched) and status code (rare codes as their class, e.g. 4xx).";
        counters(&mut encoder, "cognigate_requests", help, requests)?;
        durations(&mut encoder, &snapshots)?;
        let reasons = AUTH_REASONS.iter().chain([&OTHER]).zip(&self.auth_failures);
        let reasons = reasons.map(|(&reason, n)| ([("reason", reason)], n.load(Relaxed)));
        let help = "Requests refused by the auth layer, by reason.";
        counters(&mut encoder, "cognigate_auth_failures", help, reasons)?;
        let kinds = UpstreamErrorKind::ALL.iter().zip(&self.upstream_errors);
        let kinds = kinds.map(|(kind, n)| ([("kind", kind.label())], n.load(Relaxed)));
        let help = "Requests that could not be forwarded, by kind (connect|timeout|other).";
        counters(&mut encoder, "cognigate_upstream_errors", help, kinds)?;
        let reloads = ["ok", "error"].into_iter().zip(&self.config_reloads);
        let reloads = reloads.map(|(result, n)| ([("result", result)], n.load(Relaxed)));
        let help = "Config reload attempts by result (ok|error).";
        counters(&mut encoder, "cognigate_config_reloads", help, reloads)?;
        let logins = LOGIN_RESULTS.iter().chain([&OTHER]).zip(&self.logins);
        let logins = logins.map(|(&result, n)| ([("result", result)], n.load(Relaxed)));
        let help = "Browser sign-in callbacks ([login]) by result (ok, or why it failed).";
        counters(&mut encoder, "cognigate_logins", help, logins)?;
        let refreshes = ["ok", "error"].into_iter().zip(&self.session_refreshes);
        let refreshes = refreshes.map(|(result, n)| ([("result", result)], n.load(Relaxed)));
        let help = "Browser session refreshes at the token endpoint by result (ok|error).";
        counters(&mut encoder, "cognigate_session_refreshes", help, refreshes)?;
        let results = ONLINE_RESULTS.iter().zip(&self.online_checks);
        let results = results.map(|(&result, n)| ([("result", result)], n.load(Relaxed)));
        let help = "Online (GetUser) checks by result (cached|valid|revoked|unreachable).";
        counters(&mut encoder, "cognigate_online_checks", help, results)?;
        let help = "Deny entries in force (revocation file and admin API), by kind.";
        let mut gauge =
            encoder.encode_descriptor("cognigate_revocations", help, None, MetricType::Gauge)?;
        for (kind, n) in REVOCATION_KINDS.iter().zip(&self.revocations) {
            let labels = [("kind", Label(*kind))];
            gauge
                .encode_family(&labels)?
                .encode_gauge(&(n.load(Relaxed) as i64))?;
        }
        Ok(())
    }
}

/// One counter family whose samples are `(labels, value)`.
fn counters<'a, const N: usize>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = ([(&'static str, &'a str); N], u64)>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        let labels = labels.map(|(key, value)| (key, Label(value)));
        (metric.encode_family(&labels)?).encode_counter::<NoLabelSet, _, u64>(&value, None)?;
    }
    Ok(())
}

/// `cognigate_request_duration_seconds`, one histogram per route that has seen a request.
fn durations(encoder: &mut DescriptorEncoder, routes: &[route::RouteSnapshot]) -> fmt::Result {
    let help = "Time from receiving a request to its response head, by route pattern.";
    let name = "cognigate_request_duration";
    let mut metric =
        encoder.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    for r in routes.iter().filter(|r| r.count > 0) {
        let labels = [("route", Label(r.label))];
        (metric.encode_family(&labels)?)
            .encode_histogram::<NoLabelSet>(r.sum, r.count, &r.buckets, None)?;
    }
    Ok(())
}

/// The key-set gauges, built per scrape from what the key store reports.
#[derive(Debug)]
struct IssuerGauges(Vec<(String, usize, Option<f64>)>);

impl Collector for IssuerGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let help = "Keys in the issuer's current key set.";
        let mut keys =
            encoder.encode_descriptor("cognigate_jwks_keys", help, None, MetricType::Gauge)?;
        for (issuer, count, _) in &self.0 {
            let labels = [("issuer", Label(issuer.as_str()))];
            keys.encode_family(&labels)?.encode_gauge(count)?;
        }
        let help = "Seconds since the issuer's current key set was fetched.";
        let unit = Some(&Unit::Seconds);
        let mut age =
            encoder.encode_descriptor("cognigate_jwks_age", help, unit, MetricType::Gauge)?;
        for (issuer, _, seconds) in &self.0 {
            if let Some(seconds) = seconds {
                let labels = [("issuer", Label(issuer.as_str()))];
                age.encode_family(&labels)?.encode_gauge(seconds)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
