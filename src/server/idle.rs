//! Idle connection timeout (`limits.idle_timeout`), and the request head deadline
//! (`limits.header_timeout`).
//!
//! Threat: connections that hold one of the `max_connections` slots while doing no
//! work: a socket that sends nothing, half an HTTP/2 preface, a request head one byte
//! at a time (slowloris), or nothing ever again after a request. HTTP/2 has no idle
//! limit at all, and our own keep-alive pings keep an idle h2 connection alive.
//!
//! So every connection's IO goes through [`IdleIo`], and its service through
//! [`IdleService`], which counts requests in flight from the call (the head is
//! complete) until the response body is dropped (fully sent or abandoned). A connection
//! with no request in flight is closed (its reads fail with `TimedOut`) once it has been
//! so for too long: `min(header_timeout, idle_timeout)` before its first request; after
//! it, `idle_timeout` while nothing arrives, and on HTTP/1.1 `header_timeout` from the
//! first byte of the next head (so a proxy or load balancer in front may keep its
//! pooled connections as long as `idle_timeout`, and a slow head is still cut short).
//! Bytes do not otherwise count as activity (pings and slowloris bytes would), except
//! on an upgraded connection (a WebSocket tunnel), where traffic either way is the only
//! sign of life.
//!
//! The same timer finds an HTTP/1.1 connection that has had nothing in flight for
//! `[limits] park_after` and marks it due to be parked (its buffers given back, see `park`);
//! [`IdleIo`] then holds what parking needs: the bytes read while parked, and hyper's
//! shutdown held back from the socket while hyper lets go of it.
//!
//! hyper's own HTTP/1.1 head timer is not used: it allocates and registers a timer on
//! every request, where this one is armed once per connection and moved only earlier.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::{Body, Frame, SizeHint};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::config::Limits;

/// The deadlines of one connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Idle {
    /// Before the first request.
    first: Duration,
    /// Between requests, while nothing arrives.
    idle: Duration,
    /// From the first byte of the next HTTP/1.1 head (HTTP/2 has none: its bytes may
    /// be pings).
    head: Option<Duration>,
    /// HTTP/1.1 with parking on: how long a connection idles before it is parked.
    park_after: Option<Duration>,
}

impl Idle {
    /// Deadlines from `[limits]`, for an HTTP/2 connection when `h2` is set.
    pub(super) fn new(limits: &Limits, h2: bool) -> Idle {
        Idle {
            first: limits.header_timeout.min(limits.idle_timeout),
            idle: limits.idle_timeout,
            head: (!h2).then_some(limits.header_timeout),
            park_after: (!h2 && !limits.park_after.is_zero()).then_some(limits.park_after),
        }
    }

    /// Puts a connection's IO and service under the idle timer.
    pub(super) fn wrap<T, S>(
        self,
        io: TokioIo<T>,
        service: S,
    ) -> (TokioIo<IdleIo<T>>, IdleService<S>) {
        let activity = Arc::new(Activity::new());
        let io = IdleIo {
            inner: io.into_inner(),
            activity: activity.clone(),
            timer: Box::pin(tokio::time::sleep(self.first)),
            limits: self,
            head: None,
            parked: Bytes::new(),
            unflushed: false,
        };
        (
            TokioIo::new(io),
            IdleService {
                inner: service,
                activity,
            },
        )
    }
}

/// What the IO side needs to know about the requests of its connection.
#[derive(Debug)]
struct Activity {
    epoch: Instant,
    /// Requests whose response body has not been dropped yet.
    busy: AtomicUsize,
    /// When the connection last went idle, in ms since `epoch`.
    idle_since_ms: AtomicU64,
    /// Requests started so far; each idle period is known by the count before it.
    requests: AtomicU64,
    /// Upgraded to a tunnel: bytes are activity from now on.
    tunnel: AtomicBool,
    /// An upgrade request was answered without switching protocols. hyper keeps that
    /// upgrade pending for the rest of the connection and, asked to let go of the
    /// connection, would hand its socket to it (and so close it): such a connection is
    /// never parked.
    unparkable: AtomicBool,
    /// Idle long enough to be parked (see `park`); stays set while parked.
    park_due: AtomicBool,
    /// hyper is being asked to let go of the connection: its shutdown must not reach
    /// the socket.
    hold_shutdown: AtomicBool,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            epoch: Instant::now(),
            busy: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            tunnel: AtomicBool::new(false),
            unparkable: AtomicBool::new(false),
            park_due: AtomicBool::new(false),
            hold_shutdown: AtomicBool::new(false),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.idle_since_ms.store(ms, Ordering::Release);
    }

    fn idle_since(&self) -> Instant {
        self.epoch + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire))
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.busy.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// One request in flight; dropped with its response body.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        // Stamp first: whoever sees `busy == 0` must also see the fresh time.
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's IO whose reads fail with `TimedOut` once it has been idle too long.
#[derive(Debug)]
pub(super) struct IdleIo<T> {
    inner: T,
    activity: Arc<Activity>,
    timer: Pin<Box<Sleep>>,
    limits: Idle,
    /// The request count the next head's first bytes followed, and since when it has
    /// been incomplete (read from the clock only once a read finds it so: a head that
    /// arrives whole costs no clock read).
    head: Option<(u64, Option<Instant>)>,
    /// Bytes read while the connection was parked, for the next hyper connection.
    parked: Bytes,
    /// Written since the last flush: hyper flushes the socket only once its own write
    /// buffer is empty, so a connection whose last write was not flushed yet is not idle.
    unflushed: bool,
}

impl<T> IdleIo<T> {
    /// True once the idle deadline has passed; otherwise makes sure the timer wakes the
    /// connection task by then, or by the time it is due to be parked. The timer is
    /// only ever moved earlier: a deadline pushed back by activity is found when the
    /// old one fires, which spares a timer reset per request.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let fired = self.timer.is_elapsed();
        let target = if self.activity.busy.load(Ordering::Acquire) > 0 {
            // Busy connections are never idle: look again later. An HTTP/1.1 one soon:
            // hyper reads nothing once its last response is out, so the timer is what
            // finds it idle and parks it, no later than two `park_after`s after that.
            if fired {
                let again = self.limits.park_after.unwrap_or(self.limits.idle / 2);
                Some(Instant::now() + again)
            } else {
                self.park_at().filter(|at| *at < self.timer.deadline())
            }
        } else {
            let close = self.deadline();
            let mut park = self.park_at();
            if fired {
                let now = Instant::now();
                if now >= close {
                    return true;
                }
                if park.is_some_and(|at| now >= at) {
                    self.activity.park_due.store(true, Ordering::Release);
                    park = None;
                }
            }
            let target = park.map_or(close, |at| at.min(close));
            (fired || target < self.timer.deadline()).then_some(target)
        };
        if let Some(target) = target {
            self.timer.as_mut().reset(target);
        }
        // Registers the waker; a deadline that has just passed is seen on the next poll.
        let _ = self.timer.as_mut().poll(cx);
        false
    }

    /// When an idle HTTP/1.1 connection is due to be parked: `park_after` from its last
    /// response, once that response is flushed, unless the next head has begun (or it is
    /// a tunnel, or already due).
    fn park_at(&self) -> Option<Instant> {
        let a = &self.activity;
        let requests = a.requests.load(Ordering::Acquire);
        let park_after = self.limits.park_after?;
        let parkable = requests > 0
            && !self.unflushed
            && self.head.is_none_or(|(after, _)| after != requests)
            && !a.tunnel.load(Ordering::Relaxed)
            && !a.unparkable.load(Ordering::Relaxed)
            && !a.park_due.load(Ordering::Acquire);
        parkable.then(|| a.idle_since() + park_after)
    }

    /// When a connection with no request in flight is closed.
    fn deadline(&mut self) -> Instant {
        let a = &self.activity;
        let requests = a.requests.load(Ordering::Acquire);
        if requests == 0 {
            return a.epoch + self.limits.first;
        }
        match (&mut self.head, self.limits.head) {
            (Some((after, since)), Some(limit)) if *after == requests => {
                *since.get_or_insert_with(Instant::now) + limit
            }
            _ => a.idle_since() + self.limits.idle,
        }
    }

    fn on_read(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let a = &self.activity;
        if a.tunnel.load(Ordering::Relaxed) {
            a.touch();
        } else if self.limits.head.is_some() && a.busy.load(Ordering::Acquire) == 0 {
            // Bytes with no request in flight start the next head (its deadline is
            // seen on the read that next finds nothing).
            let requests = a.requests.load(Ordering::Acquire);
            if requests > 0 && self.head.is_none_or(|(after, _)| after != requests) {
                self.head = Some((requests, None));
            }
        }
    }

    fn on_write(&mut self, n: usize) {
        if n > 0 {
            self.unflushed = true;
            if self.activity.tunnel.load(Ordering::Relaxed) {
                self.activity.touch();
            }
        }
    }
}

impl<T: AsyncRead + Unpin> IdleIo<T> {
    /// Takes back a connection hyper let go of while parking it, with `unread`: what
    /// hyper had read but not parsed. True when that holds bytes, for the next hyper
    /// connection to read at once. (An empty `unread` still holds hyper's read buffer:
    /// it is dropped here, not kept while parked.)
    pub(super) fn unpark(&mut self, unread: Bytes) -> bool {
        if !unread.is_empty() {
            self.parked = if self.parked.is_empty() {
                unread
            } else {
                Bytes::from([&unread[..], &self.parked[..]].concat())
            };
        }
        !self.parked.is_empty()
    }

    /// Waits while parked for the client's next bytes; false if it closed instead (an
    /// error past the idle deadline).
    pub(super) async fn next_bytes(&mut self) -> io::Result<bool> {
        // A few bytes tell that the client is back; hyper reads the rest itself.
        let mut first = [0; 64];
        let n = self.read(&mut first).await?;
        self.parked = Bytes::copy_from_slice(&first[..n]);
        Ok(n > 0)
    }

    /// Serving again: the next idle spell may park the connection again.
    pub(super) fn resumed(&self) {
        self.activity.park_due.store(false, Ordering::Release);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.activity.hold_shutdown.load(Ordering::Relaxed) {
            // hyper is reading: it was not between messages (see `park`).
            this.activity.hold_shutdown.store(false, Ordering::Release);
        }
        if !this.parked.is_empty() {
            // Already counted when read. Once all taken, the buffer is let go.
            let n = this.parked.len().min(buf.remaining());
            buf.put_slice(&this.parked.split_to(n));
            if this.parked.is_empty() {
                this.parked = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle timeout",
            ))),
            Poll::Ready(Ok(())) => {
                this.on_read(buf.filled().len() - before);
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            this.on_write(n);
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = written {
            this.on_write(n);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            this.unflushed = false;
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.activity.hold_shutdown.load(Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// A connection's service, counting each request as in flight until its response body
/// is dropped.
#[derive(Debug, Clone)]
pub(super) struct IdleService<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> IdleService<S> {
    /// The handle that parks this connection.
    pub(super) fn parking(&self) -> Parking {
        Parking(self.activity.clone())
    }
}

/// Parking, seen from the loop that serves a connection (`park`).
#[derive(Debug, Clone)]
pub(super) struct Parking(Arc<Activity>);

impl Parking {
    /// The connection has been idle for `park_after`.
    pub(super) fn due(&self) -> bool {
        self.0.park_due.load(Ordering::Acquire)
    }

    /// While set, hyper's shutdown of the connection does not reach the socket; a
    /// read from it clears the hold (hyper between messages does not read).
    pub(super) fn hold_shutdown(&self, hold: bool) {
        self.0.hold_shutdown.store(hold, Ordering::Release);
    }

    /// The hold is still on: nothing was read since it was set.
    pub(super) fn holding(&self) -> bool {
        self.0.hold_shutdown.load(Ordering::Acquire)
    }
}

impl<S, R, B> hyper::service::Service<Request<R>> for IdleService<S>
where
    S: hyper::service::Service<Request<R>, Response = Response<B>>,
{
    type Response = Response<InFlightBody<B>>;
    type Error = S::Error;
    type Future = InFlightFuture<S::Future>;

    fn call(&self, req: Request<R>) -> Self::Future {
        // hyper took the request as an upgrade (it left the upgrade's handle).
        let upgrade = req.extensions().get::<OnUpgrade>().is_some();
        InFlightFuture {
            in_flight: Some(self.activity.begin()),
            upgrade,
            inner: self.inner.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// The service's response future, then the in-flight count handed to the body. A
    /// named future rather than a boxed `async` block: no allocation and no copy of the
    /// (large) inner future per request.
    pub(super) struct InFlightFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
        upgrade: bool,
    }
}

impl<F, B, E> Future for InFlightFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<InFlightBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let resp = std::task::ready!(this.inner.poll(cx))?;
        let in_flight = this.in_flight.take();
        if let (true, Some(f)) = (*this.upgrade, &in_flight) {
            match resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                true => f.0.tunnel.store(true, Ordering::Relaxed),
                false => f.0.unparkable.store(true, Ordering::Relaxed),
            }
        }
        Poll::Ready(Ok(resp.map(|inner| InFlightBody {
            inner,
            _in_flight: in_flight,
        })))
    }
}

/// A response body that keeps its request counted as in flight while it exists.
#[derive(Debug)]
pub(super) struct InFlightBody<B> {
    inner: B,
    _in_flight: Option<InFlight>,
}

impl<B: Body + Unpin> Body for InFlightBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
