//! The access line: one per request at info (`cognigate::access`), the only log line
//! with a fast path (STYLE rule 13). It renders itself once, in the shape
//! tracing-subscriber gives every other line of the same format, and goes straight to
//! the batch writer: no field visiting, no per-event formatter (benches/RESULTS.md,
//! 2026-12-06). On a terminal, or under a subscriber that is not ours, it is an
//! ordinary event.

use super::Format;
use super::batch::BatchWriter;
use serde::{Serialize, Serializer};
use std::fmt;
use std::io::Write as _;
use std::sync::OnceLock;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};

/// Where access lines are written directly; set once, by [`super::init_logging`].
static SINK: OnceLock<Sink> = OnceLock::new();

/// A format the fast path renders (never a coloured one), and the logs' batch writer.
pub(super) struct Sink {
    pub(super) format: Format,
    pub(super) writer: BatchWriter,
}

/// Takes the fast path for access lines from now on.
pub(super) fn install(sink: Sink) {
    let _ = SINK.set(sink);
}

/// What one request's log line reports. Never a token: `sub` names the principal.
#[derive(Debug, Serialize)]
pub struct AccessLine<'a> {
    /// `X-Request-Id`, as received or generated.
    pub request_id: &'a str,
    /// The request's method, unquoted as tracing-subscriber writes a `%` field.
    pub method: &'a str,
    /// The path as forwarded (normalized) or, for a refusal, as received.
    pub path: &'a str,
    /// The route's pattern, `-` for none.
    pub route: &'a str,
    /// The status sent to the client.
    pub status: u16,
    /// Time from the request reaching the service to its response, to the microsecond.
    pub latency_ms: f64,
    /// Time to the upstream's response head, `-1.0` when there was no exchange.
    pub upstream_ms: f64,
    /// The verified principal's `sub`, `-` for none.
    pub sub: &'a str,
    /// Why the request was refused, `-` when it was not.
    pub reason: &'a str,
}

impl AccessLine<'_> {
    /// Logs the line at info, if the filter (`RUST_LOG`) lets `cognigate::access` through.
    pub fn log(&self) {
        self.log_to(SINK.get());
    }

    fn log_to(&self, sink: Option<&Sink>) {
        if !tracing::enabled!(target: "cognigate::access", tracing::Level::INFO) {
            return;
        }
        let Some(sink) = sink else {
            return self.event();
        };
        let mut line = Vec::with_capacity(384); // a line is ~250 bytes
        // Rendering into memory cannot fail; the batch writer never reports an error.
        if self.render(sink.format, &mut line).is_ok() {
            let _ = sink.writer.make_writer().write_all(&line);
        }
    }

    /// The line as an event, for tracing-subscriber to format.
    fn event(&self) {
        tracing::info!(
            target: "cognigate::access",
            request_id = self.request_id,
            method = %self.method,
            path = self.path,
            route = self.route,
            status = self.status,
            latency_ms = self.latency_ms,
            upstream_ms = self.upstream_ms,
            sub = self.sub,
            reason = self.reason,
        );
    }

    /// The text tracing-subscriber writes for [`Self::event`] in `format` (but for the
    /// spans of a debug-level request, which the line does not repeat: it carries the
    /// request id itself).
    fn render(&self, format: Format, out: &mut Vec<u8>) -> std::io::Result<()> {
        match format {
            Format::Json => {
                let json = JsonLine {
                    timestamp: Now,
                    level: "INFO",
                    line: self,
                    target: "cognigate::access",
                };
                serde_json::to_writer(&mut *out, &json)?;
                out.push(b'\n');
                Ok(())
            }
            Format::Text { .. } => writeln!(out, "{Now}  INFO cognigate::access: {self}"),
        }
    }
}

/// The fields as tracing-subscriber's default format writes them: `name=value`, strings
/// quoted (and escaped as `Debug` escapes them), the method as it is.
impl fmt::Display for AccessLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request_id={:?} method={} path={:?} route={:?} status={} latency_ms={:?} upstream_ms={:?} sub={:?} reason={:?}",
            self.request_id,
            self.method,
            self.path,
            self.route,
            self.status,
            self.latency_ms,
            self.upstream_ms,
            self.sub,
            self.reason,
        )
    }
}

/// tracing-subscriber's `.json().flatten_event(true)` object, in its order.
#[derive(Serialize)]
struct JsonLine<'a> {
    timestamp: Now,
    level: &'static str,
    #[serde(flatten)]
    line: &'a AccessLine<'a>,
    target: &'static str,
}

/// The current time as tracing-subscriber's default timer writes it (RFC 3339, UTC,
/// microseconds), by humantime's digit arithmetic: the timer's seven padded `write!`s
/// were ~1,900 instructions, a third of the line. humantime writes the years 1970 to
/// 9999 (and panics before them); any other clock goes to the timer.
struct Now;

/// The first second humantime cannot write: 10000-01-01T00:00:00Z.
const YEAR_10000: u64 = 253_402_300_800;

impl Serialize for Now {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Now {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = std::time::SystemTime::now();
        match now.duration_since(std::time::UNIX_EPOCH) {
            Ok(since) if since.as_secs() < YEAR_10000 => {
                fmt::Display::fmt(&humantime::format_rfc3339_micros(now), f)
            }
            _ => SystemTime.format_time(&mut Writer::new(f)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::batch::batched;
    use crate::telemetry::captured::Captured;
    use crate::telemetry::subscriber;
    use std::time::Duration;
    use tracing_subscriber::EnvFilter;

    const NASTY: &str = "/a \"q\" \\ \u{1}\u{1f}\n\r\t\u{7f} é \u{2028} \u{200b} 😀";

    fn line(path: &str) -> AccessLine<'_> {
        AccessLine {
            request_id: "3f2a-9c1e",
            method: "GET",
            path,
            route: "/api/**",
            status: 200,
            latency_ms: 0.127,
            upstream_ms: -1.0,
            sub: "user-1",
            reason: "-",
        }
    }

    /// The lines written while `filter` is in force: through the fast path to a batch
    /// writer when `fast`, else as an event through tracing-subscriber's layer.
    fn logged(format: Format, filter: &str, fast: bool, line: &AccessLine<'_>) -> String {
        let out = Captured::default();
        let (writer, guard) = batched(out.clone(), Duration::ZERO);
        let sink = Sink {
            format,
            writer: writer.clone(),
        };
        let subscriber = subscriber(format, EnvFilter::new(filter), writer);
        tracing::subscriber::with_default(subscriber, || line.log_to(fast.then_some(&sink)));
        drop(guard);
        out.text()
    }

    /// `text` with its (first) timestamp cut out.
    fn untimed(text: &str) -> String {
        let end = text.find('Z').unwrap();
        let stamp = &text[end - 26..=end];
        assert!(humantime::parse_rfc3339(stamp).is_ok(), "{stamp}");
        text.replacen(stamp, "", 1)
    }

    #[test]
    fn the_fast_path_writes_what_tracing_subscriber_writes() {
        for format in [Format::Json, Format::Text { ansi: false }] {
            for path in ["/api/x", NASTY] {
                let fast = logged(format, "info", true, &line(path));
                let event = logged(format, "info", false, &line(path));
                assert_eq!(untimed(&fast), untimed(&event), "{format:?}");
                assert_eq!(fast.lines().count(), 1, "{fast}");
            }
        }
        let text = logged(Format::Text { ansi: false }, "info", true, &line("/x"));
        assert_eq!(
            untimed(&text),
            "  INFO cognigate::access: request_id=\"3f2a-9c1e\" method=GET path=\"/x\" \
             route=\"/api/**\" status=200 latency_ms=0.127 upstream_ms=-1.0 sub=\"user-1\" \
             reason=\"-\"\n"
        );
    }

    #[test]
    fn json_lines_parse_back_to_every_field_however_they_are_spelled() {
        let json = logged(Format::Json, "info", true, &line(NASTY));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["path"], NASTY);
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "cognigate::access");
        assert_eq!(v["status"], 200);
        assert_eq!(v["latency_ms"], 0.127);
        assert_eq!(v["upstream_ms"], -1.0);
        for field in ["request_id", "method", "route", "sub", "reason"] {
            assert!(v[field].is_string(), "{field} in {json}");
        }
        assert!(
            json.contains('é') && json.contains('😀'),
            "non-ASCII kept as is"
        );
        assert!(
            !json[..json.len() - 1].contains(['\n', '\r', '\u{1}']),
            "{json}"
        );
    }

    #[test]
    fn the_time_reads_as_tracing_subscribers_timer_writes_it() {
        let before = std::time::SystemTime::now();
        let ours = Now.to_string();
        let mut theirs = String::new();
        SystemTime
            .format_time(&mut Writer::new(&mut theirs))
            .unwrap();
        let after = std::time::SystemTime::now();

        let shape = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_ascii_digit() { '0' } else { c })
                .collect()
        };
        assert_eq!(shape(&ours), "0000-00-00T00:00:00.000000Z");
        assert_eq!(shape(&ours), shape(&theirs));
        let micros =
            |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros();
        let logged = micros(humantime::parse_rfc3339(&ours).unwrap());
        assert!(micros(before) <= logged && logged <= micros(after));
    }

    #[test]
    fn nothing_is_rendered_when_the_filter_leaves_the_access_line_out() {
        for filter in ["warn", "info,cognigate::access=off"] {
            for fast in [true, false] {
                let text = logged(Format::Json, filter, fast, &line("/x"));
                assert_eq!(text, "", "{filter}");
            }
        }
    }
}
