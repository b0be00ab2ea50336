//! Logs (tracing, human or JSON) and metrics (Prometheus text on the admin listener).
//! Redaction: nothing here ever records a token, a cookie or an Authorization header;
//! the request log line carries the verified `sub`, never the credential.

mod batch;
#[cfg(test)]
mod captured;
mod escape;
mod fields;
mod json;
pub mod metrics;
mod plain;
mod timestamp;

pub use metrics::Metrics;

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: level from `RUST_LOG` (default `info`), JSON lines
/// when `COGNIGATE_LOG_FORMAT=json`, colours only on a terminal. Logs go to stderr so
/// that stdout stays clean for command output such as `cognigate token`.
///
/// Lines are written in batches by a background thread, at most [`batch::LINGER`]
/// after they are logged, so a request does not pay for a `write` of its access line.
/// Keep the returned guard alive: dropping it writes what is still buffered.
pub fn init_logging() -> batch::FlushGuard {
    let (writer, guard) = batch::batched(std::io::stderr(), batch::LINGER);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("COGNIGATE_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(timestamp::Rfc3339Micros)
        .with_writer(writer);
    let result = if json {
        builder
            .event_format(json::JsonLines)
            .fmt_fields(json::JsonFields)
            .try_init()
    } else if std::io::stderr().is_terminal() {
        builder
            .fmt_fields(fields::PlainFields)
            .with_ansi(true)
            .try_init()
    } else {
        builder
            .event_format(plain::PlainLines)
            .fmt_fields(fields::PlainFields)
            .try_init()
    };
    // A second init (tests, or an embedding program) keeps the first subscriber.
    drop(result);
    guard
}
