//! Logs (tracing, human or JSON) and metrics (Prometheus text on the admin listener).
//! Redaction: nothing here ever records a token, a cookie or an Authorization header;
//! the request log line carries the verified `sub`, never the credential.

mod access;
mod batch;
#[cfg(test)]
mod captured;
pub mod metrics;

pub use access::AccessLine;
pub use metrics::Metrics;

use std::io::IsTerminal;
use tracing::Subscriber;
use tracing_subscriber::fmt::{self, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines look, chosen once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// One JSON object per line (`COGNIGATE_LOG_FORMAT=json`).
    Json,
    /// tracing-subscriber's default human-readable lines, coloured when `ansi`.
    Text { ansi: bool },
}

impl Format {
    fn from_env() -> Self {
        match std::env::var("COGNIGATE_LOG_FORMAT") {
            Ok(v) if v.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Text {
                ansi: std::io::stderr().is_terminal(),
            },
        }
    }
}

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
    let format = Format::from_env();
    let installed = subscriber(format, filter, writer.clone());
    // A second init (tests, or an embedding program) keeps the first subscriber, and
    // access lines then go to it as ordinary events.
    if tracing::subscriber::set_global_default(installed).is_ok()
        && format != (Format::Text { ansi: true })
    {
        access::install(access::Sink { format, writer });
    }
    guard
}

/// tracing-subscriber's own formats: its JSON with the event's fields at the top level
/// beside `timestamp`, `level` and `target` (and `spans` inside any), or its default
/// `time LEVEL spans target: fields` lines.
fn subscriber<W>(format: Format, filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = match format {
        Format::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_writer(writer)
            .boxed(),
        Format::Text { ansi } => fmt::layer().with_ansi(ansi).with_writer(writer).boxed(),
    };
    tracing_subscriber::registry().with(filter).with(layer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use captured::Captured;
    use serde_json::Value;

    /// What `event` logs at `info` in `format`, one string a line.
    fn logged(format: Format, event: impl FnOnce()) -> Vec<String> {
        let out = Captured::default();
        let subscriber = subscriber(format, EnvFilter::new("info"), out.clone());
        tracing::subscriber::with_default(subscriber, event);
        out.text().lines().map(str::to_owned).collect()
    }

    /// What log pipelines read (and `tests/support` looks for): the event's fields at
    /// the top level beside `timestamp`, `level` and `target`; `spans` only inside one.
    #[test]
    fn json_lines_carry_the_fields_at_the_top_level() {
        let lines = logged(Format::Json, || {
            let span = tracing::info_span!("request", request_id = "r-1");
            span.in_scope(|| tracing::warn!(cause = "refused", "upstream request failed"));
            tracing::info!(proxy = "127.0.0.1:1", "listening");
            tracing::debug!("not at info");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        let v: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v[0]["level"], "WARN");
        assert_eq!(v[0]["message"], "upstream request failed");
        assert_eq!(v[0]["cause"], "refused");
        assert_eq!(v[0]["spans"][0]["request_id"], "r-1");
        assert_eq!(v[1]["message"], "listening");
        assert_eq!(v[1]["proxy"], "127.0.0.1:1");
        assert_eq!(v[1]["target"], "cognigate::telemetry::tests");
        assert!(v[1].get("spans").is_none() && v[1].get("fields").is_none());
        let stamp = v[1]["timestamp"].as_str().unwrap();
        assert!(humantime::parse_rfc3339(stamp).is_ok(), "{stamp}");
    }

    #[test]
    fn text_lines_without_a_terminal_have_no_colours() {
        let lines = logged(Format::Text { ansi: false }, || {
            tracing::info!(path = "/x", status = 200u16, "done");
        });
        assert_eq!(lines.len(), 1);
        let (stamp, rest) = lines[0].split_once(' ').unwrap();
        assert!(humantime::parse_rfc3339(stamp).is_ok(), "{stamp}");
        assert_eq!(
            rest,
            r#" INFO cognigate::telemetry::tests: done path="/x" status=200"#
        );
    }
}
