//! The discovery-document task of `[resource] as_metadata`, kept aligned with the
//! current snapshot: a reload whose document comes from the same source at the same
//! cadence keeps the task (and the document); any other change restarts it.

use crate::jwks::{JwksClient, RefreshTiming};
use crate::proxy::Snapshot;
use crate::resource::AsDocument;
use crate::resource::refresh::run_discovery;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The running task, if the current snapshot serves authorization-server metadata.
#[derive(Debug)]
pub(super) struct DiscoveryTask {
    client: JwksClient,
    running: Option<(Arc<AsDocument>, RefreshTiming, JoinHandle<()>)>,
}

impl DiscoveryTask {
    /// Starts the task `snapshot` needs, if any.
    pub(super) fn start(client: JwksClient, snapshot: &Snapshot) -> DiscoveryTask {
        let mut task = DiscoveryTask {
            client,
            running: None,
        };
        task.align(snapshot);
        task
    }

    /// Makes the task match `snapshot` (the one just stored).
    pub(super) fn align(&mut self, snapshot: &Snapshot) {
        let wanted = (snapshot.resource.as_ref()).and_then(|r| r.as_document().cloned());
        let timing = RefreshTiming::from(&snapshot.config.jwks);
        if let (Some(doc), Some((running, t, _))) = (&wanted, &self.running)
            && Arc::ptr_eq(doc, running)
            && *t == timing
        {
            return;
        }
        self.stop();
        self.running = wanted.map(|doc| {
            let task = run_discovery(doc.clone(), self.client.clone(), timing);
            (doc, timing, tokio::spawn(task))
        });
    }

    /// Stops the task (shutdown).
    pub(super) fn stop(&mut self) {
        if let Some((_, _, handle)) = self.running.take() {
            handle.abort();
        }
    }
}
