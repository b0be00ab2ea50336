//! The composition root: builds the config snapshot and the key store, spawns the
//! background tasks (key refresh, config reload), binds the listeners and serves until
//! shutdown. Only this module and `server` spawn tasks.

use crate::config::{self, Config};
use crate::jwks::{JwksClient, KeyStore, RefreshTiming, run_refresh};
use crate::proxy::{Gate, Snapshot};
use crate::server::{self, Lifecycle, admin};
use crate::telemetry::Metrics;
use anyhow::Context;
use arc_swap::ArcSwap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A started cognigate: its bound addresses and the handle to stop it.
#[derive(Debug)]
pub struct Running {
    pub proxy_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// Begins graceful shutdown (as SIGTERM does).
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Waits until shutdown has finished draining.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Shared pieces the background tasks and listeners need.
struct Parts {
    snapshot: Arc<ArcSwap<Snapshot>>,
    keys: Arc<KeyStore>,
    metrics: Arc<Metrics>,
    lifecycle: Lifecycle,
}

/// Starts serving `config`: binds both listeners (port 0 picks a free port), starts the
/// key refresh tasks, and returns at once.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    let snapshot = Snapshot::build(config.clone())?;
    let metrics = Arc::new(Metrics::new());
    metrics.set_routes(&route_patterns(&config));
    let parts = Parts {
        snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
        keys: Arc::new(KeyStore::new(
            config.issuers.len(),
            config.jwks.min_refetch_interval,
        )),
        metrics,
        lifecycle: Lifecycle::default(),
    };
    let proxy_listener = bind(config.listen, "listen").await?;
    let admin_listener = bind(config.admin_listen, "admin_listen").await?;
    let proxy_addr = proxy_listener.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;
    let refreshers = spawn_refreshers(&parts, &config)?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(serve(
        parts,
        config,
        proxy_listener,
        admin_listener,
        refreshers,
        shutdown_rx,
    ));
    tracing::info!(proxy = %proxy_addr, admin = %admin_addr, "listening");
    Ok(Running {
        proxy_addr,
        admin_addr,
        shutdown,
        task,
    })
}

async fn bind(addr: SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("{key}: cannot listen on {addr}"))
}

fn route_patterns(config: &Config) -> Vec<String> {
    config.routes.iter().map(|r| r.path.clone()).collect()
}

fn spawn_refreshers(parts: &Parts, config: &Config) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let client = JwksClient::new()?;
    let timing = RefreshTiming::from(&config.jwks);
    let tasks = config
        .issuers
        .iter()
        .enumerate()
        .map(|(idx, issuer)| {
            let (metrics, name) = (parts.metrics.clone(), issuer.name.clone());
            let report = move |ok| metrics.jwks_refresh(&name, ok);
            let task = run_refresh(
                parts.keys.clone(),
                idx,
                client.clone(),
                issuer.clone(),
                timing,
                report,
            );
            tokio::spawn(task)
        })
        .collect();
    Ok(tasks)
}

async fn serve(
    parts: Parts,
    config: Arc<Config>,
    proxy_listener: TcpListener,
    admin_listener: TcpListener,
    refreshers: Vec<JoinHandle<()>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (stop_accepting, accept_rx) = watch::channel(false);
    let (stop_admin, admin_rx) = watch::channel(false);
    let proto = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let gate = Arc::new(Gate::new(
        parts.snapshot.clone(),
        parts.keys.clone(),
        parts.metrics.clone(),
        proto,
    ));
    let accepting = tokio::spawn(server::accept_loop(
        proxy_listener,
        gate,
        config.limits.clone(),
        accept_rx,
    ));
    let admin_state = admin::AdminState {
        keys: parts.keys.clone(),
        lifecycle: parts.lifecycle.clone(),
        metrics: parts.metrics.clone(),
        issuer_names: config.issuers.iter().map(|i| i.name.clone()).collect(),
    };
    tokio::spawn(admin::serve(admin_listener, admin_state, admin_rx));

    let _ = shutdown.wait_for(|s| *s).await;
    parts.lifecycle.begin_drain();
    tracing::info!(delay = ?config.shutdown_delay, "shutdown: readyz now 503, still serving");
    tokio::time::sleep(config.shutdown_delay).await;
    stop_accepting.send_replace(true);
    if let Ok(graceful) = accepting.await {
        tracing::info!(
            open = graceful.count(),
            "shutdown: no longer accepting, draining connections"
        );
        if tokio::time::timeout(config.shutdown_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(timeout = ?config.shutdown_timeout, "shutdown: drain timed out, closing the rest");
        }
    }
    stop_admin.send_replace(true);
    for task in refreshers {
        task.abort();
    }
    tracing::info!("shutdown complete");
}

/// `cognigate run`: load, serve, stop gracefully on SIGTERM / SIGINT.
pub async fn run(path: &Path) -> anyhow::Result<()> {
    let validated = config::load(path)?;
    for w in &validated.warnings {
        tracing::warn!("{}: {w}", path.display());
    }
    let running = start(validated.config).await?;
    wait_for_signal().await?;
    tracing::info!("shutdown signal received");
    running.shutdown();
    running.wait().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await?;
    Ok(())
}
