//! Hot reload: SIGHUP and file changes trigger it; a valid new config replaces the
//! running one with one atomic snapshot swap, an invalid one changes nothing.
//!
//! What a reload applies: routes, issuers (see `keys` for how their key sets carry
//! over), `[token]`, `[identity]`, `[jwks]`, `mode`, `[upstream]` (a new client and
//! pool; in-flight requests finish on the old one), `[tls]` file paths,
//! `limits.header_timeout` / `max_header_bytes` / `idle_timeout` (for new connections),
//! the `shutdown_*` timings and `[revocation]` (a new `file` is loaded and watched
//! instead; in-memory entries and online answers are kept). What needs a restart, and is logged as such while the
//! rest of the new config still applies: `listen`, `admin_listen`, turning `[tls]` on
//! or off (the sockets and their protocol are bound once) and `limits.max_connections`
//! (the connection semaphore is sized once). Those keys keep their running values, so
//! a later reload compares against what is really in force.

use super::Shared;
use super::keys::KeyChanges;
use crate::config::reload::{Changed, FileWatcher};
use crate::config::{self, Config, Tls};
use crate::jwks::RefreshTiming;
use crate::proxy::{Snapshot, SnapshotError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// What can trigger a reload.
#[derive(Debug)]
pub(super) struct Triggers {
    path: PathBuf,
    hangup: Hangup,
    files: FileWatcher,
}

enum Trigger {
    Signal,
    Files(Changed),
}

impl Triggers {
    /// Installs the SIGHUP handler and starts watching `path` and the files of `tls`.
    pub(super) fn new(path: &Path, tls: Option<&Tls>) -> anyhow::Result<Triggers> {
        Ok(Triggers {
            path: path.to_owned(),
            hangup: Hangup::install()?,
            files: FileWatcher::new(path, tls),
        })
    }

    async fn next(&mut self) -> Trigger {
        tokio::select! {
            () = self.hangup.recv() => Trigger::Signal,
            changed = self.files.changed() => Trigger::Files(changed),
        }
    }
}

/// Reloads on every trigger until shutdown begins.
pub(super) async fn reload_loop(
    shared: Arc<Shared>,
    mut triggers: Triggers,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let trigger = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            trigger = triggers.next() => trigger,
        };
        match trigger {
            Trigger::Signal => {
                tracing::info!("SIGHUP: reloading the config and certificates");
                reload_config(&shared, &triggers.path);
                reload_certs(&shared);
                let file = shared.snapshot.load().config.revocation.file.clone();
                if let Some(file) = file {
                    super::revocation::reload(&shared.revocations, &file);
                }
            }
            Trigger::Files(changed) => {
                if changed.config {
                    tracing::info!(file = %triggers.path.display(), "config file changed: reloading");
                    reload_config(&shared, &triggers.path);
                }
                reload_certs(&shared);
            }
        }
        let tls = shared.snapshot.load().config.tls.clone();
        triggers.files.set_tls(tls.as_ref());
    }
}

/// Loads `path`; applies it if valid, else logs every problem with its key path and
/// keeps the running config. Either way the attempt is counted.
fn reload_config(shared: &Shared, path: &Path) {
    let file = path.display();
    let validated = match config::load(path) {
        Ok(v) => v,
        Err(e) => {
            for p in &e.problems {
                tracing::error!(%file, key = %p.path, problem = %p.message, "config reload rejected; keeping the running config");
            }
            shared.metrics.config_reload(false);
            return;
        }
    };
    for w in &validated.warnings {
        tracing::warn!(%file, key = %w.path, problem = %w.message, "config warning");
    }
    match apply(shared, validated.config) {
        Ok((routes, keys)) => {
            shared.metrics.config_reload(true);
            tracing::info!(
                %file, routes, issuers_kept = keys.kept, issuers_refetching = keys.started,
                issuers_seeded = keys.seeded, issuers_stopped = keys.stopped,
                "config reloaded"
            );
        }
        Err(e) => {
            shared.metrics.config_reload(false);
            tracing::error!(%file, problem = %e, "config reload rejected; keeping the running config");
        }
    }
}

/// Swaps in `new`: key store successor and refresh tasks first (spawned only once the
/// snapshot has built), then the one atomic store, then the old tasks stop. Returns the
/// number of routes and what happened to the key refresh tasks.
fn apply(shared: &Shared, new: Config) -> Result<(usize, KeyChanges), SnapshotError> {
    let new = keep_restart_only_keys(&shared.started, new);
    let old = shared.snapshot.load_full();
    let timing = RefreshTiming::from(&new.jwks);
    let mut tasks = shared.key_tasks();
    let plan = tasks.plan(&new.issuers, timing);
    let store = Arc::new(old.keys.successor(&plan, new.jwks.min_refetch_interval));
    let config = Arc::new(new);
    let snapshot = Snapshot::rebuild(config.clone(), store.clone(), &old)?;
    let (retired, changes) = tasks.commit(&plan, &store, &config.issuers, timing);
    let snapshot = Arc::new(snapshot);
    shared.snapshot.store(snapshot.clone());
    drop(tasks);
    shared.discovery_task().align(&snapshot);
    let file = config.revocation.file.clone();
    shared.revocation_file.send_if_modified(|current| {
        let moved = *current != file;
        *current = file;
        moved
    });
    for task in retired {
        task.abort();
    }
    shared.metrics.set_routes(&super::route_patterns(&config));
    Ok((config.routes.len(), changes))
}

/// Logs each restart-only key that changed and puts its running value back.
fn keep_restart_only_keys(started: &Config, mut new: Config) -> Config {
    let mut pending = Vec::new();
    if new.listen != started.listen {
        pending.push("listen");
        new.listen = started.listen;
    }
    if new.admin_listen != started.admin_listen {
        pending.push("admin_listen");
        new.admin_listen = started.admin_listen;
    }
    if new.tls.is_some() != started.tls.is_some() {
        pending.push("tls");
        new.tls.clone_from(&started.tls);
    }
    if new.limits.max_connections != started.limits.max_connections {
        pending.push("limits.max_connections");
        new.limits.max_connections = started.limits.max_connections;
    }
    for key in pending {
        tracing::warn!(
            key,
            "changed in the config file, but takes effect only after a restart; the rest of the new config is applied"
        );
    }
    new
}

/// Re-reads the TLS certificate and key; a bad pair keeps the one in service.
fn reload_certs(shared: &Shared) {
    let Some(certs) = &shared.certs else { return };
    let Some(tls) = shared.snapshot.load().config.tls.clone() else {
        return;
    };
    let cert = tls.cert.display();
    match certs.reload(&tls) {
        Ok(()) => tracing::info!(%cert, "TLS certificate (re)loaded"),
        Err(e) => {
            tracing::error!(%cert, problem = %e, "TLS certificate reload failed; keeping the certificate in service")
        }
    }
}

/// SIGHUP, where there is such a thing.
#[derive(Debug)]
struct Hangup {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Hangup {
    #[cfg(unix)]
    fn install() -> anyhow::Result<Hangup> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Hangup {
            signal: signal(SignalKind::hangup())?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> anyhow::Result<Hangup> {
        Ok(Hangup {})
    }

    #[cfg(unix)]
    async fn recv(&mut self) {
        if self.signal.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Issuer, validate};

    fn config(body: &str) -> Config {
        let text = format!(
            "listen = \"127.0.0.1:1\"\nadmin_listen = \"127.0.0.1:2\"\n[upstream]\nurl = \"http://127.0.0.1:3\"\n{body}\n[[routes]]\npath = \"/**\"\n"
        );
        let raw = toml_raw(&text);
        validate(raw).unwrap().config
    }

    fn toml_raw(text: &str) -> config::raw::RawConfig {
        let built = ::config::Config::builder()
            .add_source(::config::File::from_str(text, ::config::FileFormat::Toml))
            .build()
            .unwrap();
        built.try_deserialize().unwrap()
    }

    fn issuer(name: &str, uri: &str) -> String {
        format!(
            "[[issuers]]\nname = \"{name}\"\nissuer = \"https://{name}.example\"\njwks_uri = \"{uri}\"\nclient_ids = [\"c\"]\n"
        )
    }

    #[test]
    fn restart_only_keys_keep_their_running_values() {
        let started = config(&issuer("a", "http://127.0.0.1:9/a"));
        let mut new = config(&issuer("a", "http://127.0.0.1:9/a"));
        new.listen = "127.0.0.1:7".parse().unwrap();
        new.limits.max_connections = 3;
        new.limits.idle_timeout = std::time::Duration::from_secs(5);
        let kept = keep_restart_only_keys(&started, new);
        assert_eq!(kept.listen, started.listen);
        assert_eq!(kept.limits.max_connections, started.limits.max_connections);
        assert_eq!(kept.limits.idle_timeout, std::time::Duration::from_secs(5));
    }

    #[tokio::test]
    async fn unchanged_issuers_share_changed_ones_are_seeded_new_ones_start_empty() {
        use crate::jwks::store::Carry;
        use crate::jwks::{JwksClient, KeyStore};
        let old: Vec<Issuer> = config(&format!(
            "{}{}",
            issuer("a", "http://127.0.0.1:9/a"),
            issuer("b", "http://127.0.0.1:9/b")
        ))
        .issuers;
        let timing = RefreshTiming {
            refresh_interval: std::time::Duration::from_secs(3600),
            fetch_timeout: std::time::Duration::from_secs(1),
        };
        let store = Arc::new(KeyStore::new(2, std::time::Duration::from_secs(30)));
        let metrics = Arc::new(crate::telemetry::Metrics::new());
        let mut tasks = super::super::KeyTasks::start(
            JwksClient::new().unwrap(),
            metrics,
            &store,
            &old,
            timing,
        );
        let mut b_changed = old[1].clone();
        b_changed.client_ids = vec!["other".into()];
        let c = config(&issuer("c", "http://127.0.0.1:9/c")).issuers[0].clone();
        let new = vec![c, old[0].clone(), b_changed];
        let plan = tasks.plan(&new, timing);
        assert_eq!(plan, [Carry::Fresh, Carry::Share(0), Carry::Seed(1)]);
        let successor = Arc::new(store.successor(&plan, std::time::Duration::from_secs(30)));
        let (retired, changes) = tasks.commit(&plan, &successor, &new, timing);
        assert_eq!((changes.kept, changes.started, changes.seeded), (1, 2, 1));
        assert_eq!(retired.len(), 1, "b's old task");
        retired.iter().for_each(|t| t.abort());
        // Different refresh timings restart every task.
        let slower = RefreshTiming {
            refresh_interval: std::time::Duration::from_secs(60),
            ..timing
        };
        assert!(
            tasks
                .plan(&new, slower)
                .iter()
                .all(|c| !matches!(c, Carry::Share(_)))
        );
        tasks.abort_all();
    }
}
