//! The composition root: builds the config snapshot and the key store, spawns the
//! background tasks (key refresh, config reload), binds the listeners and serves until
//! shutdown. Only this module and `server` spawn tasks.

mod discovery;
mod keys;
mod revocation;
mod swap;

use crate::config::{self, Config};
use crate::jwks::{JwksClient, RefreshTiming};
use crate::proxy::{Gate, Snapshot};
use crate::revoke::Revocations;
use crate::server::tls::{self, CertStore};
use crate::server::{self, Lifecycle, admin};
use crate::telemetry::Metrics;
use anyhow::Context;
use arc_swap::ArcSwap;
use discovery::DiscoveryTask;
use keys::KeyTasks;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// A started cognigate: its bound addresses and the handle to stop it.
#[derive(Debug)]
pub struct Running {
    /// Where the proxy listener is bound (`listen`; a port 0 resolved).
    pub proxy_addr: SocketAddr,
    /// Where the admin listener is bound (`admin_listen`).
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

/// What the listeners, the reload task and shutdown share.
#[derive(Debug)]
struct Shared {
    snapshot: Arc<ArcSwap<Snapshot>>,
    metrics: Arc<Metrics>,
    lifecycle: Lifecycle,
    /// The certificate the TLS listener presents (with `[tls]`).
    certs: Option<Arc<CertStore>>,
    /// The refresh tasks, aligned with the current snapshot's key store.
    keys: Mutex<KeyTasks>,
    /// The config the listeners were bound with: restart-only keys compare against it.
    started: Arc<Config>,
    /// The `[resource]` discovery-document task, aligned with the current snapshot.
    discovery: Mutex<DiscoveryTask>,
    /// Deny lists and online answers: they outlive every config snapshot.
    revocations: Arc<Revocations>,
    /// `revocation.file` of the config in force (its watcher follows it).
    revocation_file: watch::Sender<Option<PathBuf>>,
}

impl Shared {
    fn key_tasks(&self) -> std::sync::MutexGuard<'_, KeyTasks> {
        // Only the reload task and shutdown lock it, never across an await.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn discovery_task(&self) -> std::sync::MutexGuard<'_, DiscoveryTask> {
        // Locked like `keys`: by the reload task and shutdown, never across an await.
        self.discovery
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The bound listeners.
struct Listeners {
    proxy: TcpListener,
    admin: TcpListener,
    tls: Option<TlsAcceptor>,
}

/// Starts serving `config`: binds both listeners (port 0 picks a free port), starts the
/// key refresh tasks, and returns at once. The config is never reloaded.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    start_inner(config, None).await
}

/// Loads `path` and starts serving it, reloading the config on SIGHUP and whenever the
/// file (or the TLS certificate files) change.
pub async fn start_from_file(path: &Path) -> anyhow::Result<Running> {
    let validated = config::load(path)?;
    for w in &validated.warnings {
        tracing::warn!("{}: {w}", path.display());
    }
    start_inner(validated.config, Some(path.to_owned())).await
}

async fn start_inner(config: Config, reload_from: Option<PathBuf>) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    let snapshot = Snapshot::build(config.clone())?;
    let certs = config.tls.as_ref().map(CertStore::load).transpose()?;
    let listeners = Listeners {
        proxy: bind(config.listen, "listen").await?,
        admin: bind(config.admin_listen, "admin_listen").await?,
        tls: certs.clone().map(tls::acceptor).transpose()?,
    };
    let proxy_addr = listeners.proxy.local_addr()?;
    let admin_addr = listeners.admin.local_addr()?;
    let metrics = Arc::new(Metrics::new());
    metrics.set_routes(&route_patterns(&config));
    let revocations = Arc::new(Revocations::new(metrics.clone()));
    if let Some(file) = &config.revocation.file {
        revocation::load(&revocations, file).map_err(anyhow::Error::msg)?;
    }
    let (revocation_file, revocation_rx) = watch::channel(config.revocation.file.clone());
    let timing = RefreshTiming::from(&config.jwks);
    let client = JwksClient::new()?;
    let discovery = DiscoveryTask::start(client.clone(), &snapshot);
    let key_tasks = KeyTasks::start(
        client,
        metrics.clone(),
        &snapshot.keys,
        &config.issuers,
        timing,
    );
    let shared = Arc::new(Shared {
        snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
        metrics,
        lifecycle: Lifecycle::default(),
        certs,
        keys: Mutex::new(key_tasks),
        started: config.clone(),
        discovery: Mutex::new(discovery),
        revocations: revocations.clone(),
        revocation_file,
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    tokio::spawn(revocation::watch_loop(
        revocations,
        revocation_rx,
        shutdown_rx.clone(),
    ));
    if let Some(path) = reload_from {
        // Set up before "listening": a SIGHUP from then on must reload, not kill.
        let triggers = swap::Triggers::new(&path, config.tls.as_ref())?;
        tokio::spawn(swap::reload_loop(
            shared.clone(),
            triggers,
            shutdown_rx.clone(),
        ));
    }
    let task = tokio::spawn(serve(shared, listeners, shutdown_rx));
    tracing::info!(proxy = %proxy_addr, admin = %admin_addr, tls = config.tls.is_some(), "listening");
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

async fn serve(shared: Arc<Shared>, listeners: Listeners, mut shutdown: watch::Receiver<bool>) {
    let (stop_accepting, accept_rx) = watch::channel(false);
    let (stop_admin, admin_rx) = watch::channel(false);
    // `[tls]` on or off is fixed for the process (turning it over needs a restart).
    let proto = match listeners.tls {
        Some(_) => "https",
        None => "http",
    };
    let gate = Arc::new(Gate::new(
        shared.snapshot.clone(),
        shared.metrics.clone(),
        proto,
        shared.revocations.clone(),
    ));
    let accepting = tokio::spawn(server::accept_loop(
        listeners.proxy,
        listeners.tls,
        gate,
        accept_rx,
    ));
    let admin_state = admin::AdminState {
        snapshot: shared.snapshot.clone(),
        lifecycle: shared.lifecycle.clone(),
        metrics: shared.metrics.clone(),
        revocations: shared.revocations.clone(),
    };
    tokio::spawn(admin::serve(listeners.admin, admin_state, admin_rx));

    let _ = shutdown.wait_for(|s| *s).await;
    shared.lifecycle.begin_drain();
    // The shutdown timings of the config in force now (a reload may have changed them).
    let config = shared.snapshot.load().config.clone();
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
    shared.key_tasks().abort_all();
    shared.discovery_task().stop();
    tracing::info!("shutdown complete");
}

/// `cognigate run`: load, serve (reloading on SIGHUP and file changes), stop gracefully
/// on SIGTERM / SIGINT.
pub async fn run(path: &Path) -> anyhow::Result<()> {
    let signalled = shutdown_signal()?;
    let running = start_from_file(path).await?;
    signalled.await;
    tracing::info!("shutdown signal received");
    running.shutdown();
    running.wait().await;
    Ok(())
}

/// Installs the SIGTERM and SIGINT (Ctrl-C) handlers and returns what waits for either.
/// Call it before serving: a signal sent as soon as the proxy answers must stop it
/// gracefully, not kill it.
///
/// # Errors
///
/// The handlers could not be installed.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
