//! The key refresh tasks, one per issuer, kept aligned with the current key store.
//!
//! On reload, an issuer whose settings (and `[jwks]` timings) are unchanged keeps its
//! task and shares its store slot, so it fetches nothing; an issuer whose JWKS location
//! and algorithms are unchanged but something else changed gets a new task whose slot
//! starts with the old key set (requests never see it unloaded); a new issuer starts
//! empty; a removed issuer's task is aborted once the new snapshot is in.

use crate::config::Issuer;
use crate::jwks::store::Carry;
use crate::jwks::{JwksClient, KeyStore, RefreshTiming, run_refresh};
use crate::telemetry::Metrics;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The running refresh tasks; `tasks[i]` fills slot `i` of the current store.
#[derive(Debug)]
pub(super) struct KeyTasks {
    client: JwksClient,
    metrics: Arc<Metrics>,
    tasks: Vec<KeyTask>,
}

#[derive(Debug)]
struct KeyTask {
    issuer: Issuer,
    timing: RefreshTiming,
    handle: JoinHandle<()>,
}

/// What a reload did to the refresh tasks.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct KeyChanges {
    /// Tasks kept running (their issuers fetch nothing).
    pub kept: usize,
    /// New tasks (each fetches once now); `seeded` of them started with the old keys.
    pub started: usize,
    pub seeded: usize,
    /// Tasks of removed or changed issuers, aborted.
    pub stopped: usize,
}

impl KeyTasks {
    /// Spawns one refresh task per issuer of `store`.
    pub(super) fn start(
        client: JwksClient,
        metrics: Arc<Metrics>,
        store: &Arc<KeyStore>,
        issuers: &[Issuer],
        timing: RefreshTiming,
    ) -> KeyTasks {
        let mut tasks = KeyTasks {
            client,
            metrics,
            tasks: Vec::new(),
        };
        tasks.tasks = (issuers.iter().enumerate())
            .map(|(idx, issuer)| tasks.spawn(store, idx, issuer, timing))
            .collect();
        tasks
    }

    /// How each of `issuers` should get its slot in the successor store.
    pub(super) fn plan(&self, issuers: &[Issuer], timing: RefreshTiming) -> Vec<Carry> {
        let mut shared = vec![false; self.tasks.len()];
        let plan = issuers.iter().map(|issuer| {
            let same = |t: &KeyTask| t.issuer == *issuer && t.timing == timing;
            let share = (self.tasks.iter().enumerate()).position(|(j, t)| !shared[j] && same(t));
            if let Some(j) = share {
                shared[j] = true;
                return Carry::Share(j);
            }
            let same_keys = |t: &KeyTask| {
                t.issuer.jwks_uri == issuer.jwks_uri && t.issuer.algorithms == issuer.algorithms
            };
            self.tasks
                .iter()
                .position(same_keys)
                .map_or(Carry::Fresh, Carry::Seed)
        });
        plan.collect()
    }

    /// Makes the tasks match `plan` for `store` (its successor store): keeps the shared
    /// ones, spawns the others. Returns the tasks no longer needed, for the caller to
    /// abort once the snapshot that uses `store` is in.
    pub(super) fn commit(
        &mut self,
        plan: &[Carry],
        store: &Arc<KeyStore>,
        issuers: &[Issuer],
        timing: RefreshTiming,
    ) -> (Vec<JoinHandle<()>>, KeyChanges) {
        let mut old: Vec<Option<KeyTask>> = std::mem::take(&mut self.tasks)
            .into_iter()
            .map(Some)
            .collect();
        let mut changes = KeyChanges::default();
        let mut tasks = Vec::with_capacity(issuers.len());
        for (idx, (carry, issuer)) in plan.iter().zip(issuers).enumerate() {
            let kept = match carry {
                Carry::Share(j) => old.get_mut(*j).and_then(Option::take),
                Carry::Seed(_) | Carry::Fresh => None,
            };
            if let Some(task) = kept {
                changes.kept += 1;
                tasks.push(task);
                continue;
            }
            changes.started += 1;
            changes.seeded += usize::from(matches!(carry, Carry::Seed(_)));
            tasks.push(self.spawn(store, idx, issuer, timing));
        }
        self.tasks = tasks;
        let retired: Vec<_> = old.into_iter().flatten().map(|t| t.handle).collect();
        changes.stopped = retired.len();
        (retired, changes)
    }

    /// Stops every task (shutdown).
    pub(super) fn abort_all(&mut self) {
        for task in self.tasks.drain(..) {
            task.handle.abort();
        }
    }

    fn spawn(
        &self,
        store: &Arc<KeyStore>,
        idx: usize,
        issuer: &Issuer,
        timing: RefreshTiming,
    ) -> KeyTask {
        let (metrics, name) = (self.metrics.clone(), issuer.name.clone());
        let report = move |ok| metrics.jwks_refresh(&name, ok);
        let task = run_refresh(
            store.clone(),
            idx,
            self.client.clone(),
            issuer.clone(),
            timing,
            report,
        );
        KeyTask {
            issuer: issuer.clone(),
            timing,
            handle: tokio::spawn(task),
        }
    }
}
