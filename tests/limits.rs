//! Resource limits over real sockets: the connection cap, idle keep-alive and slowloris
//! timeouts, idle connections parked (their buffers given back), the token size cap,
//! and the HTTP/2 per-connection stream limit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::proxy::Binary;
use support::{echo, http, proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn config(upstream: &str, limits: &str) -> String {
    format!(
        r#"
[upstream]
url = "{upstream}"

[limits]
{limits}

[[issuers]]
name = "main"
issuer = "https://issuer.example"
jwks_uri = "http://127.0.0.1:9/jwks.json"
client_ids = ["client1"]

[[routes]]
path = "/api/**"

[[routes]]
path = "/**"
auth = "public"
"#
    )
}

async fn start(limits: &str) -> (echo::Echo, proxy::TestProxy) {
    let up = echo::start().await;
    let p = proxy::start(&config(&up.url(), limits)).await;
    (up, p)
}

const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n";

/// Reads one response (head + Content-Length body) from a keep-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0; 8192];
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = (text[..end].lines())
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("response timed out")
            .unwrap();
        assert!(n > 0, "closed mid-response: {text}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Waits (at most `limit`) for the peer to close; returns how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut chunk = [0; 1024];
    loop {
        match tokio::time::timeout(
            limit.saturating_sub(start.elapsed()),
            stream.read(&mut chunk),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

// ---------------------------------------------------------------- connections

#[tokio::test]
async fn past_max_connections_new_connections_get_503_and_are_closed() {
    let (_up, p) = start("max_connections = 4").await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(p.addr).await.unwrap();
        s.write_all(GET).await.unwrap();
        assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
        held.push(s); // idle keep-alive, holding its slot
    }
    let mut fifth = TcpStream::connect(p.addr).await.unwrap();
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(5), fifth.read_to_string(&mut reply))
        .await
        .expect("the refused connection must be closed")
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(reply.contains("too many connections"), "{reply}");
    assert!(reply.to_lowercase().contains("retry-after: 1"), "{reply}");

    drop(held.pop());
    // The freed slot is taken up once the proxy has seen the close.
    let start = Instant::now();
    loop {
        let reply = http::raw(
            p.addr,
            b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        let reply = reply.await;
        if http::status_of(&reply) == Some(200) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "slot never freed: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_idle_timeout() {
    let (_up, p) = start("header_timeout = \"10s\"\nidle_timeout = \"1s\"").await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(GET).await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    let took = closed_within(&mut s, Duration::from_secs(5)).await;
    let took = took.expect("an idle keep-alive connection was kept past idle_timeout");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    p.stop().await;
}

/// Waiting for the next request is bounded by idle_timeout, not by header_timeout:
/// a load balancer in front keeps its pooled connections as long as it was told.
#[tokio::test]
async fn a_kept_alive_connection_outlives_header_timeout_until_idle_timeout() {
    let (_up, p) = start("header_timeout = \"1s\"\nidle_timeout = \"3s\"").await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(GET).await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    s.write_all(GET).await.unwrap();
    let second = read_response(&mut s).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    let took = closed_within(&mut s, Duration::from_secs(6)).await;
    let took = took.expect("an idle keep-alive connection was kept past idle_timeout");
    assert!(took >= Duration::from_millis(2700), "{took:?}");
    p.stop().await;
}

#[tokio::test]
async fn a_busy_connection_is_not_idle() {
    // A request slower than idle_timeout still completes, and the connection stays
    // usable while requests keep coming within the timeout.
    let (_up, p) = start("idle_timeout = \"1s\"").await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"GET /slow/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.write_all(GET).await.unwrap();
        assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    }
    p.stop().await;
}

#[tokio::test]
async fn a_connection_that_never_sends_is_dropped_after_header_timeout() {
    let (_up, p) = start("header_timeout = \"1s\"").await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    let took = closed_within(&mut s, Duration::from_secs(5)).await;
    assert!(
        took.is_some(),
        "a silent connection was kept (and held a slot)"
    );
    // Same for the first bytes of an HTTP/2 preface, then nothing.
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let took = closed_within(&mut s, Duration::from_secs(5)).await;
    assert!(took.is_some(), "a stalled h2 preface was kept");
    p.stop().await;
}

/// Sends one header byte every 200 ms (the head is never complete) for at most 5 s;
/// how long until the proxy gave up on the connection, if it did.
async fn drip_until_dropped(s: &mut TcpStream) -> Option<Duration> {
    let start = Instant::now();
    for i in 0..25 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let byte: &[u8] = if i % 2 == 0 { b"X" } else { b"-" };
        if s.write_all(byte).await.is_err() {
            return Some(start.elapsed());
        }
        // Anything readable (a 408, or the close itself) means the proxy gave up.
        let mut buf = [0; 512];
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            return Some(start.elapsed());
        }
    }
    None
}

#[tokio::test]
async fn slowloris_head_is_dropped_after_header_timeout() {
    let (up, p) = start("header_timeout = \"1s\"").await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let took = drip_until_dropped(&mut s)
        .await
        .expect("a head dripped for 5 s was never dropped");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(up.requests().is_empty());
    p.stop().await;
}

/// The same drip on a kept-alive connection, after a first request was answered: the
/// next head is bounded by header_timeout too (idle_timeout is much longer here).
#[tokio::test]
async fn slowloris_second_head_on_a_kept_alive_connection_is_dropped() {
    let (up, p) = start("header_timeout = \"1s\"\nidle_timeout = \"30s\"").await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0; 4096];
    let n = s.read(&mut first).await.unwrap();
    assert!(
        first[..n].starts_with(b"HTTP/1.1 200"),
        "first request answered"
    );
    s.write_all(b"GET /y HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let took = drip_until_dropped(&mut s)
        .await
        .expect("a second head dripped for 5 s was never dropped");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(up.requests().len(), 1);
    p.stop().await;
}

// ---------------------------------------------------------------- parking

/// The real binary, logging the server's debug lines ("connection parked").
/// Parking after `PARK_AFTER` (unless `limits` sets `park_after`), so that tests wait
/// a fraction of a second for it.
fn spawn_parking(upstream: &str, limits: &str) -> (tempfile::TempDir, Binary) {
    let limits = match limits.contains("park_after") {
        true => limits.to_owned(),
        false => format!("park_after = \"{}ms\"\n{limits}", PARK_AFTER.as_millis()),
    };
    let (dir, path) = proxy::write_config(&config(upstream, &limits));
    let bin = proxy::spawn_binary(&path, &[("RUST_LOG", "info,cognigate::server=debug")]);
    (dir, bin)
}

const PARK_AFTER: Duration = Duration::from_millis(200);

/// A proxy (the real binary) in front of an echo upstream, and a connection to it that
/// has sent `first`, been answered, and then been parked.
struct Parked {
    up: echo::Echo,
    bin: Binary,
    conn: TcpStream,
    _dir: tempfile::TempDir,
}

async fn parked(limits: &str, first: &[u8]) -> Parked {
    let up = echo::start().await;
    let (_dir, bin) = spawn_parking(&up.url(), limits);
    let mut conn = TcpStream::connect(bin.addr).await.unwrap();
    conn.write_all(first).await.unwrap();
    assert!(read_response(&mut conn).await.starts_with("HTTP/1.1 200"));
    bin.log_line(&["connection parked"]).await;
    Parked {
        up,
        bin,
        conn,
        _dir,
    }
}

/// Reads until `n` response heads have arrived (bounded); returns the text.
async fn read_heads(stream: &mut TcpStream, n: usize) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0; 8192];
    while String::from_utf8_lossy(&buf).matches("HTTP/1.1 ").count() < n {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk));
        let got = read.await.expect("responses timed out").unwrap();
        assert!(got > 0, "closed early: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..got]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// An idle keep-alive connection gives its hyper buffers back (is parked), then serves
/// what comes next: a head longer than the few bytes a parked connection reads, split
/// across writes, with a second request pipelined behind it.
#[tokio::test]
async fn a_parked_connection_serves_a_split_head_and_a_pipelined_request() {
    let Parked {
        up,
        conn: mut s,
        bin: _bin,
        _dir,
    } = parked("", GET).await;
    let padding = "p".repeat(300);
    let head = format!("GET /after HTTP/1.1\r\nHost: t\r\nX-Padding: {padding}\r\n\r\n");
    let (start, rest) = head.as_bytes().split_at(100);
    s.write_all(start).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pipelined = b"GET /pipelined HTTP/1.1\r\nHost: t\r\n\r\n";
    s.write_all(&[rest, pipelined].concat()).await.unwrap();
    let replies = read_heads(&mut s, 2).await;
    assert_eq!(replies.matches("HTTP/1.1 200 OK").count(), 2, "{replies}");

    let seen = up.requests();
    let targets: Vec<_> = seen.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["/x", "/after", "/pipelined"]);
    assert_eq!(seen[1].header("x-padding"), [padding.as_str()]);
    // And it goes on serving.
    s.write_all(GET).await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
}

/// Bytes of the next head that arrived with the last request stay with the connection
/// when it is parked (hyper had read them, not parsed them).
#[tokio::test]
async fn a_head_begun_before_parking_is_completed_after_it() {
    let begun = [GET, b"GET /begun HTTP/1.1\r\nHo"].concat();
    let Parked {
        up,
        conn: mut s,
        bin: _bin,
        _dir,
    } = parked("", &begun).await;
    s.write_all(b"st: t\r\n\r\n").await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    let targets: Vec<_> = (up.requests().into_iter()).map(|r| r.target).collect();
    assert_eq!(targets, ["/x", "/begun"]);
}

#[tokio::test]
async fn a_parked_connection_is_still_closed_at_idle_timeout() {
    let start = Instant::now();
    let mut p = parked("idle_timeout = \"3s\"", GET).await;
    closed_within(&mut p.conn, Duration::from_secs(6))
        .await
        .expect("a parked connection was kept past idle_timeout");
    // From before the request: at least idle_timeout after its answer.
    let idle = start.elapsed();
    assert!(idle >= Duration::from_millis(2900), "{idle:?}");
    assert!(idle < Duration::from_millis(4500), "{idle:?}");
}

/// A parked connection's next head is held to header_timeout like any other: the
/// bytes that wake it start the clock.
#[tokio::test]
async fn slowloris_head_on_a_parked_connection_is_dropped() {
    let mut p = parked("header_timeout = \"1s\"\nidle_timeout = \"30s\"", GET).await;
    p.conn.write_all(b"GET /y HTTP/1.1\r\n").await.unwrap();
    let took = drip_until_dropped(&mut p.conn)
        .await
        .expect("a head dripped for 5 s after parking was never dropped");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(p.up.requests().len(), 1);
}

#[tokio::test]
async fn shutdown_closes_parked_connections_at_once() {
    let mut p = parked("", GET).await;
    p.bin.signal("TERM");
    closed_within(&mut p.conn, Duration::from_secs(3))
        .await
        .expect("a parked connection held the drain");
    assert_eq!(p.bin.wait_exit(Duration::from_secs(3)), Some(0));
}

/// An upstream that answers each connection's first request as soon as its head is in,
/// then reads on: returns its URL and every byte it read.
async fn early_answering_upstream() -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut chunk = [0; 4096];
        let mut answered = false;
        while let Ok(n @ 1..) = conn.read(&mut chunk).await {
            let head_in = {
                let mut seen = sink.lock().unwrap();
                seen.extend_from_slice(&chunk[..n]);
                seen.windows(4).any(|w| w == b"\r\n\r\n")
            };
            if head_in && !answered {
                answered = true;
                let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                conn.write_all(ok).await.unwrap();
            }
        }
    });
    (url, received)
}

/// A connection is parked only between messages. Here the response is out long before
/// the request's body ends, and the body's last bytes look like a request: they must
/// reach the upstream as body, and nothing may answer them.
#[tokio::test]
async fn park_after_zero_turns_parking_off() {
    let up = echo::start().await;
    let (_dir, bin) = spawn_parking(&up.url(), r#"park_after = "0s""#);
    let mut conn = TcpStream::connect(bin.addr).await.unwrap();
    conn.write_all(GET).await.unwrap();
    assert!(read_response(&mut conn).await.starts_with("HTTP/1.1 200"));
    // Past the default (1 s) and its re-check: parking would have happened by now.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    conn.write_all(GET).await.unwrap();
    assert!(read_response(&mut conn).await.starts_with("HTTP/1.1 200"));
    assert!(!bin.logs().iter().any(|l| l.contains("connection parked")));
}

#[tokio::test]
async fn a_request_body_still_arriving_after_its_response_is_never_read_as_a_request() {
    let (upstream, received) = early_answering_upstream().await;
    let (_dir, bin) = spawn_parking(&upstream, "");
    let mut s = TcpStream::connect(bin.addr).await.unwrap();
    let smuggled = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
    let length = 10 + smuggled.len();
    let head = format!("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n\r\n");
    s.write_all(&[head.as_bytes(), b"0123456789"].concat())
        .await
        .unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    // Idle for longer than a connection takes to be parked.
    tokio::time::sleep(PARK_AFTER * 3).await;
    s.write_all(smuggled).await.unwrap();

    let start = Instant::now();
    while !(received.lock().unwrap().windows(smuggled.len())).any(|w| w == smuggled) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the body's end never went upstream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its exchange complete, the connection closes, with nothing more answered.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest));
    read.await.expect("the connection stayed open").unwrap();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(!bin.logs().iter().any(|l| l.contains("connection parked")));
}

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn a_17_kib_token_is_refused_quickly() {
    let (up, p) = start("").await;
    let token = format!("eyJ{}.e30.sig", "A".repeat(17 * 1024));
    let started = Instant::now();
    let reply = http::get(
        &p.url("/api/x"),
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.json()["error"], "invalid_token");
    assert!(
        !reply.body.contains("AAAA"),
        "the token is echoed: {}",
        reply.body
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(up.requests().is_empty());
    p.stop().await;
}

// ---------------------------------------------------------------- HTTP/2

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One HTTP/2 frame (RFC 9113 §4.1).
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads one frame: (type, flags, stream, payload).
async fn read_frame(s: &mut TcpStream) -> (u8, u8, u32, Vec<u8>) {
    let mut head = [0; 9];
    s.read_exact(&mut head).await.unwrap();
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0; len];
    s.read_exact(&mut payload).await.unwrap();
    (head[3], head[4], stream, payload)
}

/// A GET of `path` as an HPACK block: indexed `:method GET`, `:scheme http`, literal
/// `:path` and `:authority` (RFC 7541 §6.1, §6.2.2, static table indexes 2, 6, 4, 1).
fn get_block(path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x04, u8::try_from(path.len()).unwrap()];
    block.extend_from_slice(path.as_bytes());
    block.extend_from_slice(&[0x01, 0x01, b't']);
    block
}

#[tokio::test]
async fn h2_advertises_and_enforces_256_concurrent_streams() {
    let (up, p) = start("").await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(H2_PREFACE).await.unwrap();
    s.write_all(&frame(0x4, 0, 0, &[])).await.unwrap();
    let (kind, _, _, settings) = read_frame(&mut s).await;
    assert_eq!(kind, 0x4, "the server's first frame is SETTINGS");
    let max_streams = (settings.chunks_exact(6))
        .find(|e| u16::from_be_bytes([e[0], e[1]]) == 0x3)
        .map(|e| u32::from_be_bytes([e[2], e[3], e[4], e[5]]));
    assert_eq!(max_streams, Some(256), "SETTINGS_MAX_CONCURRENT_STREAMS");
    s.write_all(&frame(0x4, 0x1, 0, &[])).await.unwrap(); // ACK

    // 300 slow requests at once, ignoring the limit as a hostile client would: at most
    // 256 are served, the rest are refused per stream, and the connection survives.
    let block = get_block("/slow/1500");
    let mut burst = Vec::new();
    for i in 0..300u32 {
        burst.extend(frame(0x1, 0x4 | 0x1, 2 * i + 1, &block));
    }
    s.write_all(&burst).await.unwrap();
    let (mut answered, mut refused) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(15);
    while answered + refused < 300 && Instant::now() < deadline {
        let (kind, _, stream, payload) =
            tokio::time::timeout(Duration::from_secs(10), read_frame(&mut s))
                .await
                .expect("frames stopped");
        match kind {
            0x1 if stream > 0 => answered += 1,
            // RST_STREAM: REFUSED_STREAM (0x7) or PROTOCOL_ERROR for the excess.
            0x3 => refused += 1,
            0x7 => panic!("GOAWAY: the whole connection was dropped: {payload:?}"),
            _ => {}
        }
    }
    assert_eq!(
        answered + refused,
        300,
        "{answered} answered, {refused} refused"
    );
    assert!(
        answered <= 256 && refused >= 44,
        "{answered} answered, {refused} refused"
    );
    assert!(up.requests().len() <= 256);
    drop(s);
    p.stop().await;
}

#[tokio::test]
async fn idle_h2_connections_are_closed_even_when_answering_pings() {
    let (_up, p) = start("idle_timeout = \"1s\"").await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(H2_PREFACE).await.unwrap();
    s.write_all(&frame(0x4, 0, 0, &[])).await.unwrap();
    // One request, then nothing but PING acks: the server's keep-alive pings are
    // answered, yet the connection carries no request and must be closed as idle.
    s.write_all(&frame(0x1, 0x5, 1, &get_block("/x")))
        .await
        .unwrap();
    let start = Instant::now();
    let closed = loop {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "idle h2 connection kept"
        );
        let mut head = [0; 9];
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut head)).await;
        let Ok(Ok(_)) = read else {
            break start.elapsed();
        };
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        if s.read_exact(&mut payload).await.is_err() {
            break start.elapsed();
        }
        match (head[3], head[4]) {
            (0x4, 0) => s.write_all(&frame(0x4, 0x1, 0, &[])).await.unwrap(),
            (0x6, 0) => s.write_all(&frame(0x6, 0x1, 0, &payload)).await.unwrap(),
            _ => {}
        }
    };
    assert!(closed >= Duration::from_millis(900), "{closed:?}");
    p.stop().await;
}

#[tokio::test]
async fn connections_holding_part_of_the_http2_preface_cost_no_cpu_while_they_wait() {
    let up = echo::start().await;
    let (_dir, bin) = spawn_parking(&up.url(), r#"header_timeout = "20s""#);
    let pid = bin.child.id();
    let mut held = Vec::new();
    for _ in 0..2000 {
        let mut conn = TcpStream::connect(bin.addr).await.unwrap();
        conn.write_all(b"P").await.unwrap();
        held.push(conn);
    }
    // Let the accepts settle, then measure a quiet stretch.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = support::procfs::cpu_time(pid);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = support::procfs::cpu_time(pid) - before;
    // Polling on a timer cost ~1.9 s of CPU here for 3 s of 2,000 such connections.
    assert!(used < Duration::from_millis(300), "{used:?} of CPU in 3 s");
    // They are still served: the rest of a request completes one.
    let conn = &mut held[0];
    conn.write_all(b"OST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    assert!(read_response(conn).await.starts_with("HTTP/1.1 200"));
    // And one that completes the preface speaks HTTP/2 (a SETTINGS frame comes back).
    let conn = &mut held[1];
    conn.write_all(b"RI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    conn.write_all(&frame(4, 0, 0, &[])).await.unwrap();
    let (kind, _, _, _) = read_frame(conn).await;
    assert_eq!(kind, 4, "no SETTINGS frame");
}
