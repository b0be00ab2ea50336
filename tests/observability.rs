//! What operators see: `/metrics` counter deltas for a known set of requests (parsed
//! with a Prometheus text parser), the JSON access log line, and proof that no token
//! text reaches the logs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use prometheus_parse::{Scrape, Value};
use std::collections::HashMap;
use support::tokens::{self, CLIENT, ISSUER, bearer, sign};
use support::{echo, http, jwks_server, proxy};

fn config(upstream: &str, jwks_uri: &str) -> String {
    format!(
        r#"
[upstream]
url = "{upstream}"

[token]
cookies = ["session"]

[[issuers]]
name = "main"
issuer = "{ISSUER}"
jwks_uri = "{jwks_uri}"
client_ids = ["{CLIENT}"]

[[routes]]
path = "/admin/**"
groups_any = ["admin"]

[[routes]]
path = "/api/**"
"#
    )
}

async fn scrape(url: &str) -> Scrape {
    let r = http::get(url, &[]).await;
    assert_eq!(r.status, 200);
    Scrape::parse(r.body.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of `metric{labels}`; 0 when the series does not exist yet.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let want: HashMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && *s.labels == want)
        .map(|s| &s.value)
    {
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        Some(other) => panic!("{metric}: {other:?}"),
        None => 0.0,
    }
}

#[tokio::test]
async fn metrics_count_exactly_what_happened() {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), &jwks.uri())).await;
    http::wait_ready(p.admin).await;
    let metrics = p.admin_url("/metrics");
    let before = scrape(&metrics).await;

    let user = bearer(&sign(&key, &tokens::access("u", &["dev"])));
    let mut expired = tokens::access("u", &[]);
    expired.now = tokens::now() - 7200;
    let expired = bearer(&sign(&key, &expired));
    assert_eq!(
        http::get(&p.url("/api/a"), &[("authorization", &user)])
            .await
            .status,
        200
    );
    assert_eq!(http::get(&p.url("/api/a"), &[]).await.status, 401);
    assert_eq!(
        http::get(&p.url("/api/a"), &[("authorization", &expired)])
            .await
            .status,
        401
    );
    assert_eq!(
        http::get(&p.url("/admin/a"), &[("authorization", &user)])
            .await
            .status,
        403
    );
    assert_eq!(
        http::get(&p.url("/nowhere"), &[("authorization", &user)])
            .await
            .status,
        403
    );

    // hyper answers an oversized head itself; it is counted all the same.
    let huge = format!(
        "GET /api/a HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let reply = http::raw(p.addr, huge.as_bytes()).await;
    assert_eq!(http::status_of(&reply), Some(431), "{reply}");

    let after = scrape(&metrics).await;
    let delta = |metric: &str, labels: &[(&str, &str)]| {
        value(&after, metric, labels) - value(&before, metric, labels)
    };
    let requests = "cognigate_requests_total";
    assert_eq!(
        delta(requests, &[("route", "/api/**"), ("status", "200")]),
        1.0
    );
    assert_eq!(
        delta(requests, &[("route", "/api/**"), ("status", "401")]),
        2.0
    );
    assert_eq!(
        delta(requests, &[("route", "/admin/**"), ("status", "403")]),
        1.0
    );
    assert_eq!(
        delta(requests, &[("route", "none"), ("status", "403")]),
        1.0
    );
    assert_eq!(
        delta(requests, &[("route", "none"), ("status", "431")]),
        1.0
    );
    let failures = "cognigate_auth_failures_total";
    for (reason, n) in [
        ("missing_token", 1.0),
        ("expired", 1.0),
        ("insufficient_groups", 1.0),
        ("no_route", 1.0),
        ("bad_signature", 0.0),
    ] {
        assert_eq!(delta(failures, &[("reason", reason)]), n, "{reason}");
    }
    assert_eq!(
        value(&after, "cognigate_jwks_keys", &[("issuer", "main")]),
        1.0
    );
    assert!(
        value(
            &after,
            "cognigate_jwks_refresh_total",
            &[("issuer", "main"), ("result", "ok")]
        ) >= 1.0
    );
    // The latency histogram counted the six requests too (the 431 at zero).
    let count = |s: &Scrape| -> f64 {
        s.samples
            .iter()
            .filter(|x| x.metric == "cognigate_request_duration_seconds")
            .map(|x| match &x.value {
                Value::Histogram(h) => h.last().map_or(0.0, |b| b.count),
                _ => 0.0,
            })
            .sum()
    };
    assert_eq!(count(&after) - count(&before), 6.0);
    p.stop().await;
}

#[tokio::test]
async fn json_access_log_and_no_token_in_any_log_line() {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let up = echo::start().await;
    let (_dir, path) = proxy::write_config(&config(&up.url(), &jwks.uri()));
    let bin = proxy::spawn_binary(&path, &[("RUST_LOG", "debug")]);
    http::wait_ready(bin.admin).await;

    let token = sign(&key, &tokens::access("log-user", &["dev"]));
    let mut expired = tokens::access("u", &[]);
    expired.now = tokens::now() - 7200;
    let expired = sign(&key, &expired);
    let forged = format!("{}.{}", &token[..token.rfind('.').unwrap()], "AAAA");
    let r = http::get(
        &bin.url("/api/x?q=1"),
        &[
            ("authorization", &bearer(&token)),
            ("x-request-id", "rid-1"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    http::get(
        &bin.url("/api/x"),
        &[("cookie", &format!("session={expired}"))],
    )
    .await;
    http::get(&bin.url("/admin/x"), &[("authorization", &bearer(&forged))]).await;
    http::get(
        &bin.url("/api/x"),
        &[("authorization", "Bearer not-even-a-jwt-secretvalue")],
    )
    .await;
    let huge = format!(
        "GET /api/x HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    http::raw(bin.addr, huge.as_bytes()).await;
    // The last line this test causes: the others were logged before it.
    bin.log_line(&["head_too_large"]).await;

    let logs = bin.logs();
    let lines: Vec<serde_json::Value> = logs
        .iter()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["request_id"] == "rid-1" && l["status"].is_number())
        .unwrap_or_else(|| panic!("no access line for rid-1 in {logs:#?}"));
    assert_eq!(access["method"], "GET");
    assert_eq!(access["path"], "/api/x");
    assert_eq!(access["route"], "/api/**");
    assert_eq!(access["status"], 200);
    assert_eq!(access["sub"], "log-user");
    assert!(access["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(access["upstream_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(access["level"], "INFO");
    let refused = lines.iter().filter(|l| l["reason"] == "expired").count();
    assert_eq!(refused, 1, "the refusal reason is logged");
    let too_large = lines.iter().filter(|l| l["status"] == 431).count();
    assert_eq!(too_large, 1, "hyper's own 431 has its access line too");

    let text = logs.join("\n");
    for secret in [&token, &expired, &forged] {
        for segment in secret.split('.') {
            assert!(!text.contains(segment), "a token segment reached the log");
        }
    }
    assert!(!text.contains("secretvalue"));
}
