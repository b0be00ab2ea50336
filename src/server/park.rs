//! Idle HTTP/1.1 connections give their buffers back ("parking").
//!
//! hyper keeps an 8 KiB read buffer and an 8 KiB write buffer for the life of a
//! connection, and the page of each that a request touched stays resident (for 10,000
//! idle keep-alive clients: benches/RESULTS.md, "Memory: idle connections give their
//! buffers back"). So a connection idle for `park_after` (see `idle`) is handed back by hyper and
//! its hyper state dropped, buffers included; the socket then waits with a few bytes of
//! buffer, and the client's next bytes start a new hyper connection on it. nginx frees
//! an idle keep-alive connection's buffers the same way.
//!
//! hyper hands a connection back only between messages: asked to shut down gracefully,
//! it closes at once only when no exchange is under way (the last request's body read
//! to its end, its response written). The shutdown itself is held back from the
//! socket, and what hyper had read but not parsed comes back with the connection, so no
//! byte is lost or read twice. If an exchange was under way after all, the connection
//! closes once it completes (keep-alive off), which is safe and rare (a request body
//! still arriving a second after its response).

use super::drain::DrainWatcher;
use super::idle::{IdleIo, Parking};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1::{self, Parts, UpgradeableConnection};
use hyper::service::HttpService;
use hyper_util::rt::TokioIo;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};

type BoxError = Box<dyn StdError + Send + Sync>;

/// Serves an HTTP/1.1 connection until it ends, parking it whenever it is idle.
///
/// Not an `async fn`: its arguments would be stored twice in the connection's task.
/// Here the connection lives in the future's captured `Parkable` only, and what the
/// parked state needs is boxed while parked.
pub(super) fn serve_h1<'a, T, S, B>(
    h1: &'a http1::Builder,
    conn: UpgradeableConnection<TokioIo<IdleIo<T>>, S>,
    parking: Parking,
    watcher: &'a mut DrainWatcher,
) -> impl Future<Output = hyper::Result<()>> + 'a
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<Incoming, ResBody = B> + Unpin + 'a,
    S::Future: Unpin,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    let mut parkable = Parkable {
        conn: Some(conn),
        parking,
        refused: false,
    };
    async move {
        loop {
            let serving = Pin::new(&mut parkable);
            if let Served::Ended(result) = watcher.watch(serving, Parkable::graceful_shutdown).await
            {
                return result;
            }
            // `None`: upgraded (not possible while idle; nothing left to serve then).
            let Some(parts) = parkable
                .conn
                .take()
                .and_then(UpgradeableConnection::into_parts)
            else {
                return Ok(());
            };
            tracing::debug!("connection parked");
            let Some((io, service)) = Box::pin(wait(parts, watcher)).await else {
                return Ok(());
            };
            parkable.conn = Some(h1.serve_connection(io, service).with_upgrades());
            parkable.refused = false;
        }
    }
}

/// Waits while parked for the client's next bytes. `None` once the connection is
/// to close: the client closed it, it stayed idle too long, or the drain began.
fn wait<'a, T: AsyncRead + Unpin + 'a, S: 'a>(
    parts: Parts<TokioIo<IdleIo<T>>, S>,
    watcher: &'a mut DrainWatcher,
) -> impl Future<Output = Option<(TokioIo<IdleIo<T>>, S)>> + 'a {
    let Parts {
        mut io,
        read_buf,
        service,
        ..
    } = parts;
    let unread = io.inner_mut().unpark(read_buf);
    // Not an `async fn`, and `io` used in place: the parked state is boxed, and holds
    // the connection's IO once.
    async move {
        if !unread {
            let more = tokio::select! {
                biased;
                () = watcher.draining() => return None,
                more = io.inner_mut().next_bytes() => more,
            };
            match more {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    tracing::debug!(error = %e, "parked connection closed");
                    return None;
                }
            }
        }
        io.inner_mut().resumed();
        Some((io, service))
    }
}

/// How a connection's hyper state ended: the connection is done, or hyper let go of
/// it to be parked (it is then in `Parkable::conn`).
enum Served {
    Ended(hyper::Result<()>),
    Parked,
}

/// A hyper connection that lets go of its socket once it is due to be parked.
struct Parkable<C> {
    conn: Option<C>,
    parking: Parking,
    /// Asked once already, and hyper was not between messages: it closes after them.
    refused: bool,
}

/// hyper's HTTP/1.1 server connection, as `Parkable` drives it.
trait H1Connection: Future<Output = hyper::Result<()>> + Unpin {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> H1Connection for UpgradeableConnection<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: HttpService<Incoming, ResBody = B> + Unpin,
    S::Future: Unpin,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        UpgradeableConnection::graceful_shutdown(self);
    }
}

impl<C: H1Connection> Parkable<C> {
    fn graceful_shutdown(mut self: Pin<&mut Self>) {
        if let Some(conn) = self.conn.as_mut() {
            Pin::new(conn).graceful_shutdown();
        }
    }
}

impl<C: H1Connection> Future for Parkable<C> {
    type Output = Served;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Served> {
        let this = &mut *self;
        let Some(conn) = this.conn.as_mut() else {
            return Poll::Ready(Served::Ended(Ok(())));
        };
        if let Poll::Ready(result) = Pin::new(&mut *conn).poll(cx) {
            return Poll::Ready(Served::Ended(result));
        }
        if this.refused || !this.parking.due() {
            return Poll::Pending;
        }
        // Between messages, hyper closes at once without reading; otherwise keep-alive
        // is now off, and the connection ends after the exchange under way. A read
        // while the shutdown is held releases it (`IdleIo`), so a connection that
        // completes an exchange here is shut down and ends, not parked.
        this.parking.hold_shutdown(true);
        Pin::new(&mut *conn).graceful_shutdown();
        let polled = Pin::new(&mut *conn).poll(cx);
        let parked = this.parking.holding();
        this.parking.hold_shutdown(false);
        match polled {
            Poll::Ready(Ok(())) if parked => Poll::Ready(Served::Parked),
            Poll::Ready(result) => Poll::Ready(Served::Ended(result)),
            Poll::Pending => {
                this.refused = true;
                Poll::Pending
            }
        }
    }
}
