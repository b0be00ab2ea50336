//! `[limits]` and `[tls]`: what the listeners accept.

use std::path::PathBuf;

use super::Checker;
use crate::config::raw::{RawLimits, RawTls};
use crate::config::{Limits, Tls};

/// Largest `limits.max_connections`: far past any file-descriptor limit, and well below
/// tokio's `Semaphore::MAX_PERMITS`, whose constructor panics past it.
const MAX_CONNECTIONS: u64 = 1 << 24;

impl Checker {
    pub(super) fn limits(&mut self, raw: &RawLimits) -> Limits {
        let max_header_bytes = raw.max_header_bytes.unwrap_or(32768);
        if max_header_bytes < 8192 {
            self.error(
                "limits.max_header_bytes",
                format!("must be at least 8192, got {max_header_bytes}"),
            );
        }
        let max_connections = raw.max_connections.unwrap_or(10000);
        if max_connections == 0 || max_connections > MAX_CONNECTIONS {
            self.error(
                "limits.max_connections",
                format!("must be between 1 and {MAX_CONNECTIONS}, got {max_connections}"),
            );
        }
        Limits {
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
            max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
            header_timeout: self.positive_duration(
                "limits.header_timeout",
                raw.header_timeout.as_deref(),
                "10s",
            ),
            idle_timeout: self.positive_duration(
                "limits.idle_timeout",
                raw.idle_timeout.as_deref(),
                "60s",
            ),
            park_after: self.duration("limits.park_after", raw.park_after.as_deref(), "1s"),
        }
    }

    pub(super) fn tls(&mut self, raw: Option<RawTls>) -> Option<Tls> {
        let raw = raw?;
        let mut file = |key: &str, value: Option<String>| -> PathBuf {
            let path = PathBuf::from(value.unwrap_or_default());
            if path.as_os_str().is_empty() {
                self.error(format!("tls.{key}"), "required when [tls] is set");
            } else if !path.is_file() {
                self.error(
                    format!("tls.{key}"),
                    format!("no such file: {}", path.display()),
                );
            }
            path
        };
        Some(Tls {
            cert: file("cert", raw.cert),
            key: file("key", raw.key),
        })
    }
}
