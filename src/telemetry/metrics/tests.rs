//! Scrapes parsed back with `prometheus-parse`, so values are checked as a scraper sees them.

use super::*;
use prometheus_parse::{Scrape, Value};
use std::collections::HashMap;

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The sample `metric{labels}` (labels matched exactly).
fn sample<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<&'a Value> {
    let want: HashMap<String, String> = (labels.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (scrape.samples.iter())
        .find(|s| s.metric == metric && *s.labels == want)
        .map(|s| &s.value)
}

/// A counter or gauge value. prometheus-parse reads Prometheus 0.0.4 text, where the
/// OpenMetrics `_total` sample of a counter family is untyped: accept every scalar.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    match sample(scrape, metric, labels) {
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        other => panic!("{metric}{labels:?}: {other:?}"),
    }
}

/// Cumulative bucket counts of a route's latency histogram, by `le`.
fn buckets(scrape: &Scrape, route: &str) -> Vec<(f64, f64)> {
    match sample(
        scrape,
        "cognigate_request_duration_seconds",
        &[("route", route)],
    ) {
        Some(Value::Histogram(h)) => h.iter().map(|b| (b.less_than, b.count)).collect(),
        other => panic!("histogram of {route}: {other:?}"),
    }
}

fn ms(ms: f64) -> Duration {
    Duration::from_secs_f64(ms / 1000.0)
}

fn patterns(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

#[test]
fn scrape_parses_with_exact_values() {
    let m = Metrics::new();
    m.set_routes(&patterns(&["/admin/**", "/api/*"]));
    m.observe_request(Some(0), 200, ms(0.3));
    m.observe_request(Some(0), 200, ms(3.0));
    m.observe_request(Some(0), 500, Duration::from_secs(20));
    m.observe_request(Some(1), 404, ms(1.0)); // exactly on a bound: le is inclusive
    m.observe_request(Some(1), 418, ms(1.0));
    m.observe_request(None, 403, ms(0.1));
    m.observe_request(Some(9), 200, ms(0.1)); // out of range: dropped
    m.auth_failure("expired");
    m.auth_failure("expired");
    m.auth_failure("no-such-reason");
    m.upstream_error(UpstreamErrorKind::Timeout);
    m.jwks_refresh("pool-a", true);
    m.jwks_refresh("pool-a", true);
    m.jwks_refresh("pool-a", false);
    m.config_reload(true);
    let issuers = [
        ("pool-a".to_owned(), 3, Some(12.5)),
        ("pool-b".to_owned(), 0, None),
    ];
    let s = parse(&m.encode(&issuers));

    let requests = |route, status| {
        value(
            &s,
            "cognigate_requests_total",
            &[("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("/admin/**", "200"), 2.0);
    assert_eq!(requests("/admin/**", "500"), 1.0);
    assert_eq!(requests("/api/*", "404"), 1.0);
    assert_eq!(requests("/api/*", "4xx"), 1.0);
    assert_eq!(requests("none", "403"), 1.0);
    let request_samples = s
        .samples
        .iter()
        .filter(|x| x.metric == "cognigate_requests_total");
    assert_eq!(
        request_samples.count(),
        5,
        "only statuses seen are exported"
    );

    let admin = buckets(&s, "/admin/**");
    let expected = [
        1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 3.0,
    ];
    let bounds = BUCKETS_BOUNDS_WITH_INF;
    assert_eq!(
        admin,
        bounds.iter().copied().zip(expected).collect::<Vec<_>>()
    );
    assert_eq!(buckets(&s, "/api/*")[0..2], [(0.0005, 0.0), (0.001, 2.0)]);
    let sum = value(
        &s,
        "cognigate_request_duration_seconds_sum",
        &[("route", "/admin/**")],
    );
    assert!((sum - 20.0033).abs() < 1e-9, "{sum}");
    assert_eq!(
        value(
            &s,
            "cognigate_request_duration_seconds_count",
            &[("route", "/admin/**")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &s,
            "cognigate_request_duration_seconds_count",
            &[("route", "none")]
        ),
        1.0
    );

    let auth = |reason| value(&s, "cognigate_auth_failures_total", &[("reason", reason)]);
    assert_eq!(auth("expired"), 2.0);
    assert_eq!(auth("other"), 1.0);
    assert_eq!(
        auth("bad_request"),
        0.0,
        "the fixed reasons are exported from the start"
    );
    let upstream = |kind| value(&s, "cognigate_upstream_errors_total", &[("kind", kind)]);
    assert_eq!((upstream("timeout"), upstream("connect")), (1.0, 0.0));
    let refresh = |result| {
        value(
            &s,
            "cognigate_jwks_refresh_total",
            &[("issuer", "pool-a"), ("result", result)],
        )
    };
    assert_eq!((refresh("ok"), refresh("error")), (2.0, 1.0));
    assert_eq!(
        value(&s, "cognigate_jwks_keys", &[("issuer", "pool-a")]),
        3.0
    );
    assert_eq!(
        value(&s, "cognigate_jwks_keys", &[("issuer", "pool-b")]),
        0.0
    );
    assert_eq!(
        value(&s, "cognigate_jwks_age_seconds", &[("issuer", "pool-a")]),
        12.5
    );
    assert!(sample(&s, "cognigate_jwks_age_seconds", &[("issuer", "pool-b")]).is_none());
    let reloads = |result| value(&s, "cognigate_config_reloads_total", &[("result", result)]);
    assert_eq!((reloads("ok"), reloads("error")), (1.0, 0.0));
}

const BUCKETS_BOUNDS_WITH_INF: [f64; 15] = [
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    f64::INFINITY,
];

#[test]
fn every_family_has_its_type_line() {
    let m = Metrics::new();
    // prometheus-client leaves out a Family with no series: refresh once, as start-up does.
    m.jwks_refresh("pool-a", true);
    let text = m.encode(&[]);
    for line in [
        "# TYPE cognigate_requests counter",
        "# TYPE cognigate_request_duration_seconds histogram",
        "# UNIT cognigate_request_duration_seconds seconds",
        "# TYPE cognigate_auth_failures counter",
        "# TYPE cognigate_jwks_refresh counter",
        "# TYPE cognigate_jwks_keys gauge",
        "# TYPE cognigate_jwks_age_seconds gauge",
        "# TYPE cognigate_upstream_errors counter",
        "# TYPE cognigate_config_reloads counter",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn route_counters_survive_a_reload_for_patterns_that_remain() {
    let m = Metrics::new();
    m.set_routes(&patterns(&["/a/**", "/b"]));
    let before = m.routes();
    for _ in 0..3 {
        m.observe_request(Some(0), 200, ms(1.0));
    }
    m.observe_request(Some(1), 200, ms(1.0));
    m.set_routes(&patterns(&["/c", "/a/**"]));
    m.observe_request(Some(1), 200, ms(1.0)); // "/a/**" is now index 1
    before.observe(Some(0), 200, ms(1.0)); // a request routed before the reload
    let s = parse(&m.encode(&[]));
    let a = &[("route", "/a/**"), ("status", "200")];
    assert_eq!(value(&s, "cognigate_requests_total", a), 5.0);
    assert_eq!(
        value(
            &s,
            "cognigate_request_duration_seconds_count",
            &[("route", "/a/**")]
        ),
        5.0
    );
    assert!(
        sample(
            &s,
            "cognigate_requests_total",
            &[("route", "/b"), ("status", "200")]
        )
        .is_none()
    );
    assert!(
        !m.encode(&[]).contains("route=\"/c\""),
        "no series before a request"
    );
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new();
    m.set_routes(&patterns(&["/q\"\\\n"]));
    m.observe_request(Some(0), 200, ms(1.0));
    m.jwks_refresh("a\"b", true);
    let text = m.encode(&[]);
    assert!(
        text.contains(r#"cognigate_requests_total{route="/q\"\\\n",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"issuer="a\"b""#), "{text}");
}

#[test]
fn concurrent_observations_all_count() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 10_000;
    let m = Metrics::new();
    m.set_routes(&patterns(&["/a", "/b"]));
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let m = &m;
            scope.spawn(move || {
                for i in 0..PER_THREAD {
                    let status = if i % 2 == 0 { 200 } else { 503 };
                    m.observe_request(Some(t % 2), status, ms(i as f64 / 100.0));
                    m.auth_failure("expired");
                }
            });
        }
        // Reloads that keep both patterns race with the observers.
        scope.spawn(|| {
            for i in 0..100 {
                m.set_routes(&patterns(&["/a", "/b", &format!("/extra{i}")]));
            }
        });
    });
    let s = parse(&m.encode(&[]));
    let total: f64 = (s.samples.iter())
        .filter(|x| x.metric == "cognigate_requests_total")
        .map(|x| match x.value {
            Value::Untyped(v) | Value::Counter(v) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(total, (THREADS * PER_THREAD) as f64);
    let count_a = value(
        &s,
        "cognigate_request_duration_seconds_count",
        &[("route", "/a")],
    );
    assert_eq!(count_a, (THREADS / 2 * PER_THREAD) as f64);
    let expired = value(
        &s,
        "cognigate_auth_failures_total",
        &[("reason", "expired")],
    );
    assert_eq!(expired, (THREADS * PER_THREAD) as f64);
}
