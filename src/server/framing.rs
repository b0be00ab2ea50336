//! Request smuggling guard for HTTP/1.1 (RFC 9112 §6.1, §6.3, §11.2).
//!
//! Threat: a request whose length two parsers can read differently (`Content-Length`
//! together with `Transfer-Encoding`, or several `Content-Length`s) lets an attacker hide
//! a second request inside the first.
//!
//! What hyper already guarantees (hyper 1.12, `src/proto/h1/role.rs`, `Server::parse`):
//! with both headers, `Transfer-Encoding` wins and `Content-Length` is dropped from the
//! headers (lines 284-287 and 296-298), and keep-alive is turned off, so nothing after
//! that request is read as another (lines 359-361); two different `Content-Length`s, a
//! final coding other than `chunked`, `Transfer-Encoding` on HTTP/1.0, obs-fold and bad
//! chunk sizes are parse errors (hyper answers 400 or drops the connection). So no
//! smuggled request can get through hyper; what it does not do is *refuse* the CL+TE
//! pair (RFC 9112 §6.1 lets a server process it by the transfer coding), and once it has
//! dropped `Content-Length` the service cannot tell. We refuse it outright, as nginx
//! and Envoy do, so every HTTP/1 connection's inbound bytes pass through [`Sniffed`],
//! which follows the framing on its own (heads with httparse, bodies by length or chunk
//! sizes) and marks the request whose head was ambiguous; the service refuses it (400).
//!
//! HTTP/2 never goes through it (RFC 9113 §8.2.2: `Transfer-Encoding` is a stream
//! error there, which the h2 crate enforces). After a request hyper takes as an upgrade
//! (`Upgrade` on HTTP/1.1, or `CONNECT`), the bytes that follow are a tunnel if the
//! answer switched protocols and the next request if not: the tracker holds them until
//! the service says which ([`FramingGuard::upgrade_answered`]), then stops or goes on.
//! It never refuses what it does not understand: anything it cannot follow turns it off,
//! and hyper's guarantees above still hold.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const MAX_HEAD: usize = 64 * 1024;
const MAX_LINE: usize = 4096;

/// Shared between a connection's byte tracker and its service. Both sides run on the
/// connection's task, so the lock is never contended; it is a lock, not atomics, because
/// the service's upgrade verdict may have to run the tracker over bytes already read.
#[derive(Debug, Default)]
pub(super) struct FramingGuard {
    tracker: Mutex<Tracker>,
}

impl FramingGuard {
    fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.tracker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called once per request, in order: whether this request's framing was ambiguous.
    pub(super) fn next_request_is_ambiguous(&self) -> bool {
        let mut t = self.tracker();
        let index = t.served;
        t.served += 1;
        t.ambiguous == Some(index)
    }

    /// The answer to a request hyper took as an upgrade has been decided: `switched`
    /// when the connection becomes a tunnel (then nothing more is tracked), else the
    /// bytes after it are the next request.
    pub(super) fn upgrade_answered(&self, switched: bool) {
        let mut t = self.tracker();
        if t.state != State::Upgrade {
            return;
        }
        if switched {
            t.state = State::Off;
            t.buf = Vec::new();
        } else {
            t.state = State::Head;
            let held = std::mem::take(&mut t.buf);
            t.feed(&held);
        }
    }
}

/// Where the tracker is in the inbound byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Head,
    Fixed(u64),
    ChunkSize,
    ChunkData(u64),
    Trailers,
    /// After an upgrade request's message: bytes are held until the answer is known.
    Upgrade,
    Off,
}

/// Follows HTTP/1 request framing over the bytes a connection reads.
#[derive(Debug, Default)]
struct Tracker {
    state: State,
    /// The head, chunk-size line or trailer section being read; or the bytes held
    /// while an upgrade is decided.
    buf: Vec<u8>,
    /// Heads seen so far.
    heads: u64,
    /// Requests the service has taken so far.
    served: u64,
    /// Index (0-based, in arrival order) of the request with an ambiguous length.
    ambiguous: Option<u64>,
    /// The message being followed is an upgrade request: its end leads to `Upgrade`.
    upgrading: bool,
}

impl Tracker {
    fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() && self.state != State::Off {
            let used = match &mut self.state {
                State::Off => return,
                State::Head => self.take_head(input),
                State::Fixed(left) | State::ChunkData(left) => {
                    let n = (*left).min(input.len() as u64);
                    *left -= n;
                    n as usize
                }
                State::ChunkSize | State::Trailers => take_line(&mut self.buf, input),
                State::Upgrade => {
                    self.buf.extend_from_slice(input);
                    input.len()
                }
            };
            input = &input[used..];
            self.advance();
        }
    }

    /// Reads head bytes; when the head is complete, parses it and picks the body state.
    /// The common case (a whole head in one read) parses straight from `input`.
    fn take_head(&mut self, input: &[u8]) -> usize {
        // RFC 9112 §2.2: empty lines before the request line are ignored.
        let skip = if self.buf.is_empty() {
            input
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count()
        } else {
            0
        };
        let rest = &input[skip..];
        let Some(end) = head_end(&self.buf, rest) else {
            self.buf.extend_from_slice(rest);
            if self.buf.len() > MAX_HEAD {
                self.state = State::Off;
            }
            return input.len();
        };
        self.state = if self.buf.is_empty() {
            self.on_head(&rest[..end])
        } else {
            // Split heads are rare (every head after a connection is parked, a head
            // larger than a read): the buffer is let go rather than kept for the life
            // of the connection.
            let mut head = std::mem::take(&mut self.buf);
            head.extend_from_slice(&rest[..end]);
            self.on_head(&head)
        };
        skip + end
    }

    /// Moves to the next state when the current one is complete.
    fn advance(&mut self) {
        let b = &self.buf;
        let next = match self.state {
            State::Fixed(0) => self.message_end(),
            State::ChunkData(0) => State::ChunkSize,
            State::ChunkSize if b.ends_with(b"\n") => match chunk_size(b) {
                Some(0) => State::Trailers,
                Some(n) => State::ChunkData(n.saturating_add(2)),
                None => State::Off,
            },
            State::Trailers if b == b"\r\n" || b == b"\n" || b.ends_with(b"\r\n\r\n") => {
                self.message_end()
            }
            State::ChunkSize if b.len() > MAX_LINE => State::Off,
            State::Trailers if b.len() > MAX_HEAD => State::Off,
            // Held too long for an answer: stop (hyper's own guarantees remain).
            State::Upgrade if b.len() > MAX_HEAD => State::Off,
            _ => return,
        };
        self.buf.clear();
        self.state = next;
    }

    /// The state after a request's message (head and body) has been read.
    fn message_end(&mut self) -> State {
        match std::mem::take(&mut self.upgrading) {
            true => State::Upgrade,
            false => State::Head,
        }
    }

    fn on_head(&mut self, head: &[u8]) -> State {
        let index = self.heads;
        self.heads += 1;
        if !may_frame(head) {
            return State::Head;
        }
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut req = httparse::Request::new(&mut headers);
        if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
            return State::Off;
        }
        let framing = Framing::of(req.headers);
        if framing.is_ambiguous() {
            // hyper closes the connection after this request: nothing follows to track.
            self.ambiguous = Some(index);
            return State::Off;
        }
        // hyper's own test for an upgrade request (role.rs, `wants_upgrade`).
        self.upgrading =
            req.method == Some("CONNECT") || (framing.upgrade && req.version == Some(1));
        match (framing.chunked, framing.te, framing.length) {
            (true, _, _) => State::ChunkSize,
            (false, true, _) => State::Off,
            (false, false, Some(n)) if n > 0 => State::Fixed(n),
            (false, false, _) => self.message_end(),
        }
    }
}
/// Header lines that can change how the tracker follows a message.
const FRAMING_NAMES: [&[u8]; 3] = [b"content-length", b"transfer-encoding", b"upgrade"];

/// Whether `head` may say anything about framing: a CONNECT, or a line starting (in
/// any case) with one of [`FRAMING_NAMES`]. Most heads do not, and the full parse is
/// then skipped: without those headers a request has no body (RFC 9112 §6.3) and
/// nothing is ambiguous. A header name always starts its line (a folded or indented
/// line is a parse error, to httparse and so to hyper), and a head hyper cannot parse
/// gets a 400 and the connection closed, so skipping the parse loses nothing.
fn may_frame(head: &[u8]) -> bool {
    head.starts_with(b"CONNECT")
        || memchr::memchr_iter(b'\n', head).any(|i| {
            let line = &head[i + 1..];
            FRAMING_NAMES.iter().any(|name| {
                line.get(..name.len())
                    .is_some_and(|start| start.eq_ignore_ascii_case(name))
            })
        })
}

/// What a request head says about its body.
#[derive(Debug, Default)]
struct Framing {
    lengths: usize,
    length: Option<u64>,
    te: bool,
    chunked: bool,
    upgrade: bool,
}

impl Framing {
    fn of(headers: &[httparse::Header<'_>]) -> Self {
        let mut f = Framing::default();
        for h in headers {
            if h.name.eq_ignore_ascii_case("content-length") {
                f.lengths += 1;
                f.length = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok());
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                f.te = true;
                let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
                f.chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
            } else if h.name.eq_ignore_ascii_case("upgrade") {
                f.upgrade = true;
            }
        }
        f
    }

    fn is_ambiguous(&self) -> bool {
        (self.te && self.lengths > 0) || self.lengths > 1
    }
}

/// Where in `rest` the head ends (just past its blank line, `\r\n\r\n` or `\n\n`),
/// given the head bytes `prev` already buffered: the blank line may straddle reads.
fn head_end(prev: &[u8], rest: &[u8]) -> Option<usize> {
    let byte_before = |i: usize, k: usize| match i.checked_sub(k) {
        Some(j) => rest.get(j).copied(),
        None => prev
            .len()
            .checked_sub(k - i)
            .and_then(|j| prev.get(j).copied()),
    };
    memchr::memchr_iter(b'\n', rest).find_map(|i| {
        let blank = match byte_before(i, 1) {
            Some(b'\n') => true,
            Some(b'\r') => byte_before(i, 2) == Some(b'\n'),
            _ => false,
        };
        blank.then_some(i + 1)
    })
}

/// Copies bytes up to and including the next `\n`.
fn take_line(line: &mut Vec<u8>, input: &[u8]) -> usize {
    let n = input
        .iter()
        .position(|&b| b == b'\n')
        .map_or(input.len(), |p| p + 1);
    line.extend_from_slice(&input[..n]);
    n
}

/// RFC 9112 §7.1: hex digits, then optional extensions.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits: &[u8] = line
        .split(|&b| b == b';' || b == b'\r' || b == b'\n' || b == b' ' || b == b'\t')
        .next()?;
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// A connection's IO, with inbound bytes fed to the framing tracker.
#[derive(Debug)]
pub(super) struct Sniffed<IO> {
    inner: IO,
    guard: Arc<FramingGuard>,
}

impl<IO> Sniffed<IO> {
    /// Wraps `inner`; `guard` is what the connection's service consults.
    pub(super) fn new(inner: IO, guard: Arc<FramingGuard>) -> Self {
        Sniffed { inner, guard }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Sniffed<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let read = &buf.filled()[before..];
            if !read.is_empty() {
                this.guard.tracker().feed(read);
            }
        }
        result
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Sniffed<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(wire: &str, step: usize, requests: u64) -> Vec<bool> {
        let guard = FramingGuard::default();
        for piece in wire.as_bytes().chunks(step) {
            guard.tracker().feed(piece);
        }
        (0..requests)
            .map(|_| guard.next_request_is_ambiguous())
            .collect()
    }

    const PLAIN: &str = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const FIXED: &str = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    const CHUNKED: &str = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n";
    const CL_TE: &str = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    const TE_CL: &str = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n";
    const TWO_CL: &str =
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn well_framed_requests_are_never_flagged_whatever_the_read_sizes() {
        let wire = format!("{PLAIN}{FIXED}{CHUNKED}\r\n{PLAIN}");
        for step in [1, 2, 3, 7, 64, 4096] {
            assert_eq!(flags(&wire, step, 4), [false; 4], "step {step}");
        }
    }

    #[test]
    fn ambiguous_framing_is_flagged_on_the_right_request() {
        for bad in [CL_TE, TE_CL, TWO_CL] {
            for step in [1, 5, 4096] {
                let wire = format!("{PLAIN}{FIXED}{CHUNKED}{bad}");
                assert_eq!(
                    flags(&wire, step, 4),
                    [false, false, false, true],
                    "{bad:?} step {step}"
                );
            }
        }
        assert_eq!(flags(CL_TE, 4096, 1), [true]);
    }

    #[test]
    fn body_bytes_that_look_like_headers_are_not_read_as_a_head() {
        let body = "x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let wire = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}{PLAIN}",
            body.len()
        );
        assert_eq!(flags(&wire, 3, 2), [false, false]);
    }

    #[test]
    fn heads_naming_framing_headers_in_any_case_are_parsed() {
        for head in [
            "POST / HTTP/1.1\r\nHost: a\r\nCONTENT-LENGTH: 5\r\n\r\n",
            "POST / HTTP/1.1\nhost: a\ntransfer-Encoding: chunked\n\n",
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
        ] {
            assert!(may_frame(head.as_bytes()), "{head:?}");
        }
        // The name inside a value, or on the request line, frames nothing.
        for head in [
            PLAIN,
            "GET /content-length HTTP/1.1\r\nX-Note: Transfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(!may_frame(head.as_bytes()), "{head:?}");
        }
    }

    #[test]
    fn ambiguous_framing_in_upper_case_after_plain_heads_is_flagged() {
        let bad = "POST / HTTP/1.1\r\nHOST: a\r\nTRANSFER-ENCODING: chunked\r\nCONTENT-LENGTH: 5\r\n\r\n0\r\n\r\n";
        for step in [1, 4096] {
            let wire = format!("{PLAIN}{PLAIN}{bad}");
            assert_eq!(flags(&wire, step, 3), [false, false, true], "step {step}");
        }
    }

    const UPGRADE: &str =
        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";

    #[test]
    fn bytes_after_a_refused_upgrade_are_tracked_as_the_next_request() {
        for step in [1, 7, 4096] {
            let guard = FramingGuard::default();
            for piece in format!("{UPGRADE}{CL_TE}").as_bytes().chunks(step) {
                guard.tracker().feed(piece);
            }
            assert!(!guard.next_request_is_ambiguous(), "step {step}");
            guard.upgrade_answered(false);
            assert!(guard.next_request_is_ambiguous(), "step {step}");
        }
    }

    #[test]
    fn bytes_read_after_a_refused_upgrade_is_answered_are_tracked_too() {
        let guard = FramingGuard::default();
        guard.tracker().feed(format!("{UPGRADE}{PLAIN}").as_bytes());
        assert!(!guard.next_request_is_ambiguous());
        guard.upgrade_answered(false);
        assert!(!guard.next_request_is_ambiguous());
        guard.tracker().feed(TE_CL.as_bytes());
        assert!(guard.next_request_is_ambiguous());
    }

    #[test]
    fn a_tunnel_after_a_switched_upgrade_is_not_read_as_requests() {
        let guard = FramingGuard::default();
        guard.tracker().feed(format!("{UPGRADE}{CL_TE}").as_bytes());
        assert!(!guard.next_request_is_ambiguous());
        guard.upgrade_answered(true);
        guard.tracker().feed(CL_TE.as_bytes());
        assert!(!guard.next_request_is_ambiguous());
        assert_eq!(guard.tracker().state, State::Off);
    }

    #[test]
    fn an_upgrade_request_body_is_followed_before_the_hold() {
        let up = "POST /ws HTTP/1.1\r\nUpgrade: x\r\nContent-Length: 5\r\n\r\nhello";
        let guard = FramingGuard::default();
        guard.tracker().feed(format!("{up}{CL_TE}").as_bytes());
        assert!(!guard.next_request_is_ambiguous());
        guard.upgrade_answered(false);
        assert!(guard.next_request_is_ambiguous());
        // Upgrade on HTTP/1.0 is no upgrade to hyper, so nothing is held.
        let old = "GET / HTTP/1.0\r\nUpgrade: x\r\n\r\n";
        assert_eq!(flags(&format!("{old}{CL_TE}"), 4096, 2), [false, true]);
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a\r\n"), Some(26));
        assert_eq!(chunk_size(b"0;ext\r\n"), Some(0));
        assert_eq!(chunk_size(b"zz\r\n"), None);
        assert_eq!(chunk_size(b"\r\n"), None);
    }
}
