//! Watching the config file and the TLS certificate files for hot reload.
//!
//! Kubernetes mounts a ConfigMap or Secret as symlinks into a `..data` directory that
//! is swapped atomically on update: the file's own inode never changes, so a watch on
//! the file alone misses every update. So we watch (non-recursively) the directory of
//! each path as written and the directory of its resolved target, treat any event there
//! as "maybe changed", wait until the events have been quiet for [`DEBOUNCE`] (editors
//! and cert-manager write in bursts), then compare the files' contents with what was
//! seen last: only a real change is reported. Watches are re-registered after every
//! check because a swap removes the old target directory.
//!
//! The `notify` crate (inotify on Linux, without its macOS-only default features) gives
//! sub-second reloads without burning CPU. If it cannot be set up (inotify limits), and
//! in any case every [`BACKSTOP`], the files are compared anyway: a missed event delays a
//! reload, it never loses one.

use super::Tls;
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Quiet time after the last file event before the files are compared.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// The longest a burst may keep postponing the comparison.
const MAX_SETTLE: Duration = Duration::from_secs(2);
/// Files are compared at least this often, events or not.
pub const BACKSTOP: Duration = Duration::from_secs(10);
/// Without a working OS watcher, files are compared this often.
pub const POLL: Duration = Duration::from_secs(1);

/// Which watched files changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changed {
    /// The config file.
    pub config: bool,
    /// The TLS certificate chain or key.
    pub tls: bool,
}

/// Events from the OS watcher's thread to the async side.
#[derive(Debug, Default)]
struct Events {
    count: AtomicU64,
    wake: Notify,
}

/// Watches the config file and, when TLS is on, the certificate and key files.
pub struct FileWatcher {
    /// `[config, cert, key]` (the last two only with TLS).
    files: Vec<PathBuf>,
    /// The contents of `files` when last compared (`None`: unreadable then).
    seen: Vec<Option<Vec<u8>>>,
    events: Arc<Events>,
    os: Option<RecommendedWatcher>,
    watched: BTreeSet<PathBuf>,
    /// An event was taken but its comparison has not run yet (cancel safety).
    pending: bool,
}

impl std::fmt::Debug for FileWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWatcher")
            .field("files", &self.files)
            .field("watched", &self.watched)
            .field("os_watcher", &self.os.is_some())
            .finish()
    }
}

impl FileWatcher {
    /// Starts watching `config` and the files of `tls`. Never fails: without an OS
    /// watcher it polls (and says so in the log).
    pub fn new(config: &Path, tls: Option<&Tls>) -> FileWatcher {
        let events = Arc::new(Events::default());
        let os = os_watcher(events.clone());
        let mut watcher = FileWatcher {
            files: files(config, tls),
            seen: Vec::new(),
            events,
            os,
            watched: BTreeSet::new(),
            pending: false,
        };
        watcher.seen = watcher.files.iter().map(|f| read(f)).collect();
        watcher.rewatch();
        watcher
    }

    /// Follows a reloaded `[tls]` to other files (a no-op when they are the same). The
    /// new files' current contents count as seen: the reload has just loaded them.
    pub fn set_tls(&mut self, tls: Option<&Tls>) {
        let config = self.files.first().cloned().unwrap_or_default();
        let files = files(&config, tls);
        if files == self.files {
            return;
        }
        self.seen.truncate(1);
        self.seen.extend(files.iter().skip(1).map(|f| read(f)));
        self.files = files;
        self.rewatch();
    }

    /// Waits until a watched file's contents differ from what was seen last. Cancel
    /// safe: an event taken by a cancelled call is compared by the next one.
    pub async fn changed(&mut self) -> Changed {
        loop {
            if !self.pending {
                self.wait_for_event().await;
                self.pending = true;
            }
            self.settle().await;
            self.pending = false;
            self.rewatch();
            let changed = self.compare();
            if changed.config || changed.tls {
                return changed;
            }
        }
    }

    async fn wait_for_event(&self) {
        let period = if self.os.is_some() { BACKSTOP } else { POLL };
        tokio::select! {
            () = self.events.wake.notified() => {}
            () = tokio::time::sleep(period) => {}
        }
    }

    /// Waits until no event has arrived for [`DEBOUNCE`] (at most [`MAX_SETTLE`]).
    async fn settle(&self) {
        let deadline = Instant::now() + MAX_SETTLE;
        let mut last = self.events.count.load(Ordering::Acquire);
        loop {
            tokio::time::sleep(DEBOUNCE).await;
            let now = self.events.count.load(Ordering::Acquire);
            if now == last || Instant::now() >= deadline {
                return;
            }
            last = now;
        }
    }

    /// Compares every file with what was seen. An unreadable file (mid-swap, deleted)
    /// counts as unchanged: there is nothing new to load from it.
    fn compare(&mut self) -> Changed {
        let mut changed = Changed::default();
        for (i, (file, seen)) in self.files.iter().zip(self.seen.iter_mut()).enumerate() {
            let Some(now) = read(file) else { continue };
            if seen.as_ref() != Some(&now) {
                *seen = Some(now);
                match i {
                    0 => changed.config = true,
                    _ => changed.tls = true,
                }
            }
        }
        changed
    }

    /// Watches exactly the directories the files need now.
    fn rewatch(&mut self) {
        let Some(os) = self.os.as_mut() else { return };
        let wanted: BTreeSet<PathBuf> = self.files.iter().flat_map(|f| dirs_of(f)).collect();
        for gone in self.watched.difference(&wanted) {
            // A swapped-out target directory is already gone, and its watch with it.
            let _ = os.unwatch(gone);
        }
        let mut now_watched = BTreeSet::new();
        for dir in &wanted {
            let ok =
                self.watched.contains(dir) || os.watch(dir, RecursiveMode::NonRecursive).is_ok();
            if ok {
                now_watched.insert(dir.clone());
            } else {
                tracing::debug!(dir = %dir.display(), "cannot watch directory; relying on the periodic check");
            }
        }
        self.watched = now_watched;
    }
}

fn files(config: &Path, tls: Option<&Tls>) -> Vec<PathBuf> {
    let mut files = vec![config.to_owned()];
    if let Some(tls) = tls {
        files.extend([tls.cert.clone(), tls.key.clone()]);
    }
    files
}

fn read(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// The directory of `file` as written and of its resolved target (they differ for a
/// symlink, e.g. a ConfigMap key or a file linked in from elsewhere).
fn dirs_of(file: &Path) -> Vec<PathBuf> {
    let parent = |p: &Path| match p.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut dirs = vec![parent(file)];
    if let Ok(target) = std::fs::canonicalize(file) {
        dirs.push(parent(&target));
    }
    dirs
}

fn os_watcher(events: Arc<Events>) -> Option<RecommendedWatcher> {
    let handler = move |result: notify::Result<Event>| {
        if result.is_ok_and(|event| is_change(&event.kind)) {
            events.count.fetch_add(1, Ordering::AcqRel);
            events.wake.notify_one();
        }
    };
    match notify::recommended_watcher(handler) {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::warn!(%error, poll = ?POLL, "cannot watch files for changes; polling them instead");
            None
        }
    }
}

/// Opens and reads (our own comparisons among them) are not changes; a close after
/// writing is.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next(w: &mut FileWatcher) -> Changed {
        tokio::time::timeout(Duration::from_secs(15), w.changed())
            .await
            .expect("no change reported")
    }

    #[tokio::test]
    async fn rewrites_are_reported_once_and_identical_rewrites_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("c.toml");
        std::fs::write(&config, "a = 1").unwrap();
        let mut w = FileWatcher::new(&config, None);
        std::fs::write(&config, "a = 2").unwrap();
        let changed = next(&mut w).await;
        assert_eq!(
            changed,
            Changed {
                config: true,
                tls: false
            }
        );
        std::fs::write(&config, "a = 2").unwrap();
        let quiet = tokio::time::timeout(Duration::from_millis(800), w.changed()).await;
        assert!(quiet.is_err(), "same contents reported as a change");
    }

    /// The ConfigMap layout: `c.toml -> ..data/c.toml`, `..data -> ..v1`, swapped by
    /// renaming a new `..data` link over the old one.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_configmap_style_symlink_swap_is_seen() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("..v1")).unwrap();
        std::fs::write(root.join("..v1/c.toml"), "v = 1").unwrap();
        symlink("..v1", root.join("..data")).unwrap();
        symlink("..data/c.toml", root.join("c.toml")).unwrap();
        let tls_dir = tempfile::tempdir().unwrap();
        let tls = Tls {
            cert: tls_dir.path().join("crt"),
            key: tls_dir.path().join("key"),
        };
        std::fs::write(&tls.cert, "c1").unwrap();
        std::fs::write(&tls.key, "k1").unwrap();
        let mut w = FileWatcher::new(&root.join("c.toml"), Some(&tls));

        std::fs::create_dir(root.join("..v2")).unwrap();
        std::fs::write(root.join("..v2/c.toml"), "v = 2").unwrap();
        symlink("..v2", root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        std::fs::remove_dir_all(root.join("..v1")).unwrap();
        assert!(next(&mut w).await.config);

        std::fs::write(&tls.cert, "c2").unwrap();
        std::fs::write(&tls.key, "k2").unwrap();
        let changed = next(&mut w).await;
        assert!(changed.tls && !changed.config, "{changed:?}");
    }

    #[test]
    fn opens_and_reads_are_not_changes() {
        use notify::event::{CreateKind, ModifyKind};
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Any)));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
    }
}
