//! Graceful drain of the proxy's connections at shutdown: every connection is asked to
//! finish (HTTP/1.1: after the response in flight; HTTP/2: GOAWAY), and shutdown waits
//! until the last one has ended.
//!
//! hyper-util's `GracefulShutdown` does the same but only accepts its own connection
//! types, and its auto-detecting HTTP/1.1 connection costs 16 KiB of read buffer per
//! connection (see `Protocols`); hyper's own connections are served here instead.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, watch};

#[derive(Debug)]
struct Shared {
    draining: watch::Sender<bool>,
    open: AtomicUsize,
    all_closed: Notify,
}

/// The listener's side: hands out a watcher per connection, then drains them.
#[derive(Debug)]
pub struct Drain(Arc<Shared>);

impl Default for Drain {
    fn default() -> Self {
        Drain(Arc::new(Shared {
            draining: watch::channel(false).0,
            open: AtomicUsize::new(0),
            all_closed: Notify::new(),
        }))
    }
}

impl Drain {
    /// A watcher for one new connection (counted open until it is dropped).
    pub fn watcher(&self) -> DrainWatcher {
        self.0.open.fetch_add(1, Ordering::SeqCst);
        DrainWatcher {
            draining: self.0.draining.subscribe(),
            shared: self.0.clone(),
        }
    }

    /// Connections still open.
    pub fn count(&self) -> usize {
        self.0.open.load(Ordering::SeqCst)
    }

    /// Asks every connection to finish, and waits until none is left.
    pub async fn shutdown(self) {
        self.0.draining.send_replace(true);
        loop {
            let mut notified = pin!(self.0.all_closed.notified());
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One connection's view of the drain.
#[derive(Debug)]
pub struct DrainWatcher {
    draining: watch::Receiver<bool>,
    shared: Arc<Shared>,
}

impl DrainWatcher {
    /// Runs `conn` to its end; once the drain begins, `graceful` asks it to finish.
    /// `conn` is pinned by the caller, so that it is stored once in the connection's
    /// task rather than once more in this future.
    pub async fn watch<C: Future>(
        &mut self,
        mut conn: Pin<&mut C>,
        graceful: impl FnOnce(Pin<&mut C>),
    ) -> C::Output {
        tokio::select! {
            biased;
            done = conn.as_mut() => return done,
            _ = self.draining.wait_for(|d| *d) => {}
        }
        graceful(conn.as_mut());
        conn.await
    }

    /// Resolves once the drain has begun.
    pub async fn draining(&mut self) {
        let _ = self.draining.wait_for(|d| *d).await;
    }
}

impl Drop for DrainWatcher {
    fn drop(&mut self) {
        if self.shared.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.all_closed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn shutdown_asks_each_connection_and_waits_for_the_last() {
        let drain = Drain::default();
        let (asked_tx, mut asked_rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..3u64 {
            let mut watcher = drain.watcher();
            let asked_tx = asked_tx.clone();
            tokio::spawn(async move {
                let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
                let mut finish_tx = Some(finish_tx);
                // A "connection" that ends some time after being asked to.
                let conn = async move {
                    let _ = finish_rx.await;
                    tokio::time::sleep(Duration::from_millis(20 * i)).await;
                };
                watcher
                    .watch(pin!(conn), |_| {
                        let _ = asked_tx.send(i);
                        if let Some(tx) = finish_tx.take() {
                            let _ = tx.send(());
                        }
                    })
                    .await;
            });
        }
        assert_eq!(drain.count(), 3);
        tokio::time::timeout(Duration::from_secs(5), drain.shutdown())
            .await
            .unwrap();
        let mut asked = Vec::new();
        while let Ok(i) = asked_rx.try_recv() {
            asked.push(i);
        }
        asked.sort_unstable();
        assert_eq!(asked, [0, 1, 2]);
    }

    #[tokio::test]
    async fn shutdown_with_no_connection_returns_at_once() {
        tokio::time::timeout(Duration::from_secs(1), Drain::default().shutdown())
            .await
            .unwrap();
    }
}
