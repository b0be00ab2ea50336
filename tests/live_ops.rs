//! Live operations over real sockets: config hot reload (SIGHUP and file change, with a
//! request in flight), TLS termination (h1 and h2 by ALPN, certificate rotation), h2c,
//! HTTP/2 and TLS upstreams, and WebSocket upgrades through the auth layer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};
use support::live::{self, Sender, TestCa};
use support::tokens::{self, CLIENT, ISSUER, bearer, sign};
use support::{echo, http, jwks_server, proxy};

/// A config whose `/slow/**` route has `slow_auth`; `extra` goes before the routes.
fn reload_config(upstream: &str, jwks_uri: &str, slow_auth: &str, extra: &str) -> String {
    format!(
        r#"
[upstream]
url = "{upstream}"
timeout = "20s"

[jwks]
min_refetch_interval = "30s"
refresh_interval = "1h"
fetch_timeout = "1s"
{extra}
[[issuers]]
name = "main"
issuer = "{ISSUER}"
jwks_uri = "{jwks_uri}"
client_ids = ["{CLIENT}"]

[[routes]]
path = "/slow/**"
auth = "{slow_auth}"

[[routes]]
path = "/api/**"
"#
    )
}

fn rewrite(path: &Path, body: &str) {
    let text = format!("listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{body}");
    std::fs::write(path, text).unwrap();
}

/// Polls `url` until it answers `status` (bounded).
fn wait_for_log(bin: &proxy::Binary, what: impl Fn(&serde_json::Value) -> bool) -> String {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        let found = bin
            .logs()
            .into_iter()
            .find(|line| serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| what(&v)));
        if let Some(line) = found {
            return line;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no such log line; logs: {:#?}", bin.logs());
}

/// Starts a slow request, flips `/slow/**` from public to required with `trigger`, and
/// checks that the flip lands while the slow request is still in flight, which then
/// completes normally on the config it started with.
async fn flip_with_request_in_flight(trigger: impl FnOnce(&proxy::Binary, &Path)) {
    let up = echo::start().await;
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let (_dir, path) = proxy::write_config(&reload_config(&up.url(), &jwks.uri(), "public", ""));
    let bin = proxy::spawn_binary(&path, &[]);
    http::wait_ready(bin.admin).await;
    assert_eq!(http::get(&bin.url("/slow/0"), &[]).await.status, 200);
    let fetches = jwks.fetches();

    let slow_url = bin.url("/slow/4000");
    let slow = tokio::spawn(async move { http::get(&slow_url, &[]).await });
    up.wait_for("/slow/4000").await;
    rewrite(
        &path,
        &reload_config(&up.url(), &jwks.uri(), "required", ""),
    );
    trigger(&bin, &path);
    http::wait_for_status(&bin.url("/slow/0"), 401).await;
    assert!(
        !slow.is_finished(),
        "the flip must land while the slow request is in flight"
    );
    let slow = slow.await.unwrap();
    assert_eq!(slow.status, 200, "{}", slow.body);

    // The unchanged issuer kept its key set: no refetch, and tokens verify at once.
    let token = sign(&key, &tokens::access("alice", &[]));
    let ok = http::get(&bin.url("/slow/0"), &[("authorization", &bearer(&token))]).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        jwks.fetches(),
        fetches,
        "a reload refetched an unchanged issuer"
    );
    wait_for_log(&bin, |v| v["message"] == "config reloaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reload_flips_a_route_while_a_request_is_in_flight() {
    flip_with_request_in_flight(|bin, _| bin.signal("HUP")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn file_change_reload_flips_a_route_while_a_request_is_in_flight() {
    flip_with_request_in_flight(|_, _| {}).await;
}

/// SIGHUP alone reloads: with the config file unchanged (nothing for the watcher to
/// see), a replaced `upstream.ca_file` is picked up.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_what_no_watcher_sees() {
    let ca = TestCa::new("upstream CA");
    let wrong = TestCa::new("some other CA");
    let upstream = live::version_echo(Some(&ca.leaf("upstream"))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, wrong.pem()).unwrap();
    let body = format!(
        "[upstream]\nurl = \"https://{upstream}\"\nca_file = \"{}\"\n{}",
        ca_file.display(),
        public_routes()
    );
    let (_cfg, path) = proxy::write_config(&body);
    let bin = proxy::spawn_binary(&path, &[]);
    assert_eq!(http::get(&bin.url("/public/x"), &[]).await.status, 502);
    std::fs::write(&ca_file, ca.pem()).unwrap();
    bin.signal("HUP");
    http::wait_for_status(&bin.url("/public/x"), 200).await;
    wait_for_log(&bin, |v| {
        v["message"] == "SIGHUP: reloading the config and certificates"
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_reload_keeps_the_old_config_and_logs_the_key() {
    let up = echo::start().await;
    let jwks = "http://127.0.0.1:9/jwks.json";
    let (_dir, path) = proxy::write_config(&reload_config(&up.url(), jwks, "public", ""));
    let bin = proxy::spawn_binary(&path, &[]);
    let broken = reload_config(&up.url(), jwks, "sometimes", "");
    rewrite(&path, &broken);
    bin.signal("HUP");
    let line = wait_for_log(&bin, |v| {
        v["key"] == "routes[0].auth" && v["level"] == "ERROR"
    });
    assert!(line.contains("config reload rejected"), "{line}");
    assert_eq!(http::get(&bin.url("/slow/0"), &[]).await.status, 200);
    let metrics = http::get(&format!("http://{}/metrics", bin.admin), &[]).await;
    assert!(
        metrics.body.lines().any(|l| l
            .starts_with("cognigate_config_reloads_total{result=\"error\"}")
            && !l.ends_with(" 0")),
        "{}",
        metrics.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn listener_changes_are_reported_as_needing_a_restart_and_the_rest_applies() {
    let up = echo::start().await;
    let jwks = "http://127.0.0.1:9/jwks.json";
    let (_dir, path) = proxy::write_config(&reload_config(&up.url(), jwks, "public", ""));
    let bin = proxy::spawn_binary(&path, &[]);
    let body = reload_config(&up.url(), jwks, "deny", "");
    std::fs::write(
        &path,
        format!("listen = \"127.0.0.1:1\"\nadmin_listen = \"127.0.0.1:0\"\n{body}"),
    )
    .unwrap();
    http::wait_for_status(&bin.url("/slow/0"), 403).await;
    let line = wait_for_log(&bin, |v| v["key"] == "listen" && v["level"] == "WARN");
    assert!(line.contains("restart"), "{line}");
}

fn public_routes() -> String {
    r#"
[[issuers]]
name = "main"
issuer = "https://issuer.example"
jwks_uri = "http://127.0.0.1:9/jwks.json"
client_ids = ["client1"]

[[routes]]
path = "/public/**"
auth = "public"
"#
    .to_owned()
}

/// A proxy terminating TLS with a leaf of `ca`, files in their own directory; `extra`
/// (whole tables) goes before `[tls]`.
async fn tls_proxy(
    ca: &TestCa,
    upstream: &str,
    extra: &str,
) -> (proxy::TestProxy, tempfile::TempDir) {
    let certs = tempfile::tempdir().unwrap();
    let leaf = ca.leaf("first");
    std::fs::write(certs.path().join("tls.crt"), &leaf.cert_pem).unwrap();
    std::fs::write(certs.path().join("tls.key"), &leaf.key_pem).unwrap();
    let body = format!(
        "[upstream]\nurl = \"{upstream}\"\n{extra}\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n{}",
        certs.path().join("tls.crt").display(),
        certs.path().join("tls.key").display(),
        public_routes()
    );
    (proxy::start_watched(&body).await, certs)
}

fn header<'a>(answer: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    answer["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap())
        .collect()
}

/// Past max_connections a TLS listener closes the connection: the plaintext 503 it
/// sends on a plain listener would reach a TLS client as a garbled handshake.
#[tokio::test]
async fn over_capacity_tls_connections_are_closed_without_plaintext() {
    let ca = TestCa::new("test CA");
    let up = echo::start().await;
    let (p, _certs) = tls_proxy(&ca, &up.url(), "[limits]\nmax_connections = 1").await;
    let held = live::tls_connect(p.addr, &ca, &["http/1.1"]).await;
    let mut refused = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::io::AsyncReadExt::read_to_end(&mut refused, &mut got);
    let closed = tokio::time::timeout(Duration::from_secs(5), read).await;
    assert!(closed.is_ok(), "the refused connection was not closed");
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    drop(held);
    p.stop().await;
}

#[tokio::test]
async fn tls_over_h1_and_h2_by_alpn_forwards_proto_https() {
    let ca = TestCa::new("test CA");
    let up = echo::start().await;
    let (p, _certs) = tls_proxy(&ca, &up.url(), "").await;
    for (offer, expect, version) in [
        (&["h2", "http/1.1"][..], "h2", ::http::Version::HTTP_2),
        (&["http/1.1"][..], "http/1.1", ::http::Version::HTTP_11),
    ] {
        let conn = live::tls_connect(p.addr, &ca, offer).await;
        assert_eq!(conn.alpn().as_deref(), Some(expect));
        let mut send = Sender::handshake(conn.stream, expect == "h2").await;
        let r = send.get("/public/tls", &[]).await;
        assert_eq!((r.status, r.version), (200, version), "{}", r.body);
        assert_eq!(up.last().header("x-forwarded-proto"), ["https"]);
    }
    // The smuggling guard reads the decrypted stream: CL + TE is refused behind TLS too.
    let mut conn = live::tls_connect(p.addr, &ca, &["http/1.1"]).await.stream;
    let smuggle = b"POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\
Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    tokio::io::AsyncWriteExt::write_all(&mut conn, smuggle)
        .await
        .unwrap();
    let mut reply = vec![0; 4096];
    let n = tokio::io::AsyncReadExt::read(&mut conn, &mut reply)
        .await
        .unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert_eq!(http::status_of(&reply), Some(400), "{reply}");
    // Plain HTTP on the TLS listener is no request at all.
    let reply = http::raw(p.addr, b"GET /public/x HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(http::status_of(&reply), None, "{reply}");
    p.stop().await;
}

/// An idle HTTP/1.1 connection is parked after `park_after` (its buffers given back,
/// tests/limits.rs); behind TLS it is the decrypted stream that waits, and the next
/// request goes through.
#[tokio::test]
async fn a_tls_connection_idle_long_enough_to_be_parked_serves_its_next_request() {
    let ca = TestCa::new("test CA");
    let up = echo::start().await;
    let (p, _certs) = tls_proxy(&ca, &up.url(), "[limits]\npark_after = \"100ms\"").await;
    let conn = live::tls_connect(p.addr, &ca, &["http/1.1"]).await;
    let mut send = Sender::handshake(conn.stream, false).await;
    assert_eq!(send.get("/public/before", &[]).await.status, 200);
    // Parked within two `park_after`s of going idle.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = send.get("/public/after", &[]).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(up.last().target, "/public/after");
    p.stop().await;
}

#[tokio::test]
async fn rotated_certificate_files_are_served_to_new_connections_without_dropping_old_ones() {
    let ca = TestCa::new("test CA");
    let up = echo::start().await;
    let (p, certs) = tls_proxy(&ca, &up.url(), "").await;
    let first = live::tls_connect(p.addr, &ca, &["http/1.1"]).await;
    let first_cert = first.server_cert();
    let mut open = Sender::handshake(first.stream, false).await;
    assert_eq!(open.get("/public/a", &[]).await.status, 200);

    let second = ca.leaf("second");
    std::fs::write(certs.path().join("tls.crt"), &second.cert_pem).unwrap();
    std::fs::write(certs.path().join("tls.key"), &second.key_pem).unwrap();
    let start = Instant::now();
    loop {
        let conn = live::tls_connect(p.addr, &ca, &["http/1.1"]).await;
        if conn.server_cert() == second.der {
            break;
        }
        assert_eq!(conn.server_cert(), first_cert);
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "new certificate never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        open.get("/public/b", &[]).await.status,
        200,
        "the old connection was dropped"
    );

    // A broken pair (a key that is not the certificate's) keeps the one in service.
    std::fs::write(certs.path().join("tls.key"), ca.leaf("third").key_pem).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let conn = live::tls_connect(p.addr, &ca, &["http/1.1"]).await;
    assert_eq!(conn.server_cert(), second.der);
    p.stop().await;
}

#[tokio::test]
async fn h2c_prior_knowledge_on_the_plain_listener() {
    use http_body_util::{BodyExt, Empty};
    let up = echo::start().await;
    let p = proxy::start(&format!(
        "[upstream]\nurl = \"{}\"\n{}",
        up.url(),
        public_routes()
    ))
    .await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Empty<bytes::Bytes>>();
    let resp = client
        .get(p.url("/public/h2c").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.version(), ::http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("/public/h2c"));
    assert_eq!(up.last().header("x-forwarded-proto"), ["http"]);
    p.stop().await;
}

#[tokio::test]
async fn http2_upstream_receives_http2_without_hop_by_hop_headers_but_te_trailers() {
    let upstream = live::version_echo(None).await;
    let body = format!(
        "[upstream]\nurl = \"http://{upstream}\"\nhttp2 = true\n{}",
        public_routes()
    );
    let p = proxy::start(&body).await;
    let r = http::get(
        &p.url("/public/h2"),
        &[
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "gzip, trailers"),
            ("x-kept", "yes"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = r.json();
    assert_eq!(seen["version"], "HTTP/2.0");
    // RFC 9113 §8.2.2: `te: trailers` is the one connection-specific field allowed.
    assert_eq!(header(&seen, "te"), ["trailers"]);
    let names = live::seen_headers(&seen);
    for hop in [
        "connection",
        "x-hop",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
    ] {
        assert!(
            !names.iter().any(|n| n == hop),
            "{hop} reached the upstream: {names:?}"
        );
    }
    assert_eq!(header(&seen, "x-kept"), ["yes"]);
    p.stop().await;
}

#[tokio::test]
async fn https_upstream_is_verified_against_ca_file_and_refused_without_it() {
    let ca = TestCa::new("upstream CA");
    let upstream = live::version_echo(Some(&ca.leaf("upstream"))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    for http2 in [false, true] {
        let body = format!(
            "[upstream]\nurl = \"https://{upstream}\"\nca_file = \"{}\"\nhttp2 = {http2}\n{}",
            ca_file.display(),
            public_routes()
        );
        let p = proxy::start(&body).await;
        let r = http::get(&p.url("/public/tls-up"), &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let expect = if http2 { "HTTP/2.0" } else { "HTTP/1.1" };
        assert_eq!(r.json()["version"], expect);
        p.stop().await;
    }
    let body = format!(
        "[upstream]\nurl = \"https://{upstream}\"\n{}",
        public_routes()
    );
    let p = proxy::start(&body).await;
    let r = http::get(&p.url("/public/tls-up"), &[]).await;
    assert_eq!(r.status, 502, "{}", r.body);
    p.stop().await;
}

/// The upstream's certificate error is what the 502's log line says.
#[tokio::test(flavor = "multi_thread")]
async fn upstream_certificate_errors_are_logged_with_their_cause() {
    let ca = TestCa::new("upstream CA");
    let upstream = live::version_echo(Some(&ca.leaf("upstream"))).await;
    let body = format!(
        "[upstream]\nurl = \"https://{upstream}\"\n{}",
        public_routes()
    );
    let (_dir, path) = proxy::write_config(&body);
    let bin = proxy::spawn_binary(&path, &[]);
    assert_eq!(http::get(&bin.url("/public/x"), &[]).await.status, 502);
    let line = wait_for_log(&bin, |v| v["message"] == "upstream request failed");
    assert!(
        line.contains("certificate") && line.contains("UnknownIssuer"),
        "{line}"
    );
}

mod websocket {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::{Error, Message};

    async fn setup() -> (proxy::TestProxy, live::WsEcho, cognigate::mint::DevKey) {
        let key = tokens::key();
        let jwks = jwks_server::start(&key.jwks_json).await;
        let ws = live::ws_echo().await;
        let body = format!(
            r#"
[upstream]
url = "http://{}"

[[issuers]]
name = "main"
issuer = "{ISSUER}"
jwks_uri = "{}"
client_ids = ["{CLIENT}"]

[[routes]]
path = "/ws/admin"
groups_any = ["admin"]

[[routes]]
path = "/ws/**"
"#,
            ws.addr,
            jwks.uri()
        );
        let p = proxy::start(&body).await;
        http::wait_ready(p.admin).await;
        (p, ws, key)
    }

    async fn connect(
        p: &proxy::TestProxy,
        path: &str,
        token: Option<&str>,
    ) -> Result<
        tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
        tokio_tungstenite::tungstenite::Error,
    > {
        let mut req = format!("ws://{}{path}", p.addr)
            .into_client_request()
            .unwrap();
        if let Some(token) = token {
            req.headers_mut()
                .insert("authorization", bearer(token).parse().unwrap());
        }
        let tcp = tokio::net::TcpStream::connect(p.addr).await.unwrap();
        let connecting = tokio_tungstenite::client_async(req, tcp);
        let result = tokio::time::timeout(Duration::from_secs(10), connecting).await;
        result
            .expect("WebSocket handshake timed out")
            .map(|(ws, _)| ws)
    }

    fn refused_status(result: Result<impl Sized, Error>) -> u16 {
        match result {
            Err(Error::Http(resp)) => resp.status().as_u16(),
            Err(e) => panic!("expected an HTTP refusal, got {e}"),
            Ok(_) => panic!("expected an HTTP refusal, got a WebSocket"),
        }
    }

    #[tokio::test]
    async fn echo_through_cognigate_with_a_valid_token() {
        let (p, ws, key) = setup().await;
        let token = sign(&key, &tokens::access("alice", &[]));
        let mut socket = connect(&p, "/ws/chat", Some(&token)).await.unwrap();
        for text in ["hello", "again"] {
            socket.send(Message::text(text)).await.unwrap();
            let back = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(back, Message::text(text));
        }
        socket.close(None).await.unwrap();
        let seen = ws.handshakes.lock().unwrap().last().cloned().unwrap();
        assert_eq!(seen["x-auth-sub"], "alice");
        assert_eq!(seen["upgrade"], "websocket");
        p.stop().await;
    }

    #[tokio::test]
    async fn refused_upgrades_get_the_ordinary_401_and_403() {
        let (p, ws, key) = setup().await;
        assert_eq!(refused_status(connect(&p, "/ws/chat", None).await), 401);
        assert_eq!(
            refused_status(connect(&p, "/ws/chat", Some("not.a.jwt")).await),
            401
        );
        let token = sign(&key, &tokens::access("bob", &["staff"]));
        assert_eq!(
            refused_status(connect(&p, "/ws/admin", Some(&token)).await),
            403
        );
        assert!(
            ws.handshakes.lock().unwrap().is_empty(),
            "a refused upgrade reached the upstream"
        );
        p.stop().await;
    }
}

#[tokio::test]
async fn upgrade_h2c_is_never_passed_through() {
    let up = echo::start().await;
    let p = proxy::start(&format!(
        "[upstream]\nurl = \"{}\"\n{}",
        up.url(),
        public_routes()
    ))
    .await;
    let reply = http::raw(
        p.addr,
        b"GET /public/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings, close\r\n\
Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    )
    .await;
    assert_eq!(http::status_of(&reply), Some(200), "{reply}");
    let seen = up.last();
    for hop in ["upgrade", "http2-settings", "connection"] {
        assert!(seen.header(hop).is_empty(), "{hop} reached the upstream");
    }
    p.stop().await;
}

/// An HTTP/2 upstream that sends GOAWAY every few requests (nginx does at
/// `keepalive_requests`): requests racing the GOAWAY are refused by it unprocessed, and
/// must be sent again on a new connection, never answered 502.
#[tokio::test]
async fn http2_upstream_goaway_never_costs_a_request() {
    let upstream = live::h2_goaway_after(5).await;
    let p = proxy::start(&format!(
        "[upstream]\nurl = \"http://{upstream}\"\nhttp2 = true\n{}",
        public_routes()
    ))
    .await;
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let url = p.url(&format!("/public/goaway/{c}"));
            tokio::spawn(async move {
                let mut failed = Vec::new();
                for _ in 0..25 {
                    let r = http::get(&url, &[]).await;
                    if r.status != 200 {
                        failed.push(format!("{} {}", r.status, r.body));
                    }
                }
                failed
            })
        })
        .collect();
    let mut failed = Vec::new();
    for c in clients {
        failed.extend(c.await.unwrap());
    }
    assert!(
        failed.is_empty(),
        "{} of 200 failed: {failed:?}",
        failed.len()
    );
    p.stop().await;
}
