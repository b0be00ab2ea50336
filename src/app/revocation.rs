//! The revocation file: loaded before serving (an unreadable file stops the start: the
//! entries it holds must be enforced from the first request), then watched like the
//! config file and reloaded when its contents change, on SIGHUP, or when a config
//! reload names another file. Invalid lines are logged with their number and skipped; the rest
//! apply. A file that becomes unreadable keeps the entries last loaded (fail closed).

use crate::config::reload::FileWatcher;
use crate::revoke::{self, DenySet, Revocations};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// Loads `path` into `revocations`.
///
/// # Errors
///
/// The file cannot be read.
pub(super) fn load(revocations: &Revocations, path: &Path) -> Result<(), String> {
    let parsed = revoke::load_file(path)?;
    let file = path.display();
    for (line, problem) in &parsed.problems {
        tracing::error!(%file, line, %problem, "revocation file: line skipped");
    }
    let set = DenySet::from_entries(&parsed.entries);
    revocations.set_file(set);
    tracing::info!(%file, entries = parsed.entries.len(), skipped = parsed.problems.len(), "revocation file loaded");
    Ok(())
}

/// Reloads the file whenever it changes, following `path` to another file (or to none)
/// on config reload, until shutdown begins.
pub(super) async fn watch_loop(
    revocations: Arc<Revocations>,
    mut path: watch::Receiver<Option<PathBuf>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let current = path.borrow_and_update().clone();
        let mut watcher = current.as_deref().map(|p| FileWatcher::new(p, None));
        loop {
            let changed = async {
                match watcher.as_mut() {
                    Some(w) => w.changed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                moved = path.changed() => {
                    if moved.is_err() {
                        return;
                    }
                    follow(&revocations, path.borrow().as_deref());
                    break;
                }
                _ = changed => {
                    if let Some(p) = &current {
                        reload(&revocations, p);
                    }
                }
            }
        }
    }
}

/// A config reload named `path` as the revocation file.
fn follow(revocations: &Revocations, path: Option<&Path>) {
    match path {
        Some(p) => reload(revocations, p),
        None => {
            tracing::info!("revocation.file removed from the config: its entries no longer apply");
            revocations.set_file(DenySet::default());
        }
    }
}

/// Reloads `path` (a change seen, or SIGHUP); unreadable: the entries last loaded stay.
pub(super) fn reload(revocations: &Revocations, path: &Path) {
    if let Err(problem) = load(revocations, path) {
        tracing::error!(%problem, "revocation file reload failed; keeping the entries last loaded");
    }
}
