//! Readiness and shutdown state shared by the listeners and the admin endpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the process should receive traffic. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    draining: Arc<AtomicBool>,
}

impl Lifecycle {
    /// Marks the start of shutdown: `/readyz` answers 503 from now on.
    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
