//! Human-readable log lines without colours (what a container's log collector gets):
//! the text of tracing-subscriber's default `Full` format, `time LEVEL spans target:
//! fields`, written directly. The default pads the level and writes the target and
//! every separator through `write!` with styles that are empty without colours: ~1,000
//! instructions of the access line's ~6,000, written once per request.

use super::timestamp::Rfc3339Micros;
use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format for human-readable lines without ANSI colours.
#[derive(Debug, Default)]
pub struct PlainLines;

impl<S, N> FormatEvent<S, N> for PlainLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if Rfc3339Micros.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        writer.write_str(match *meta.level() {
            Level::TRACE => " TRACE ",
            Level::DEBUG => " DEBUG ",
            Level::INFO => "  INFO ",
            Level::WARN => "  WARN ",
            Level::ERROR => " ERROR ",
        })?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            writer.write_char(' ')?;
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::captured::Captured;
    use crate::telemetry::fields::PlainFields;

    fn events() {
        tracing::info!(target: "cognigate::access", path = "/x", status = 200u16);
        let outer = tracing::info_span!("request", request_id = "r-1");
        let _outer = outer.enter();
        tracing::warn!(cause = "refused", "upstream request failed");
        let inner = tracing::error_span!("fetch");
        let _inner = inner.enter();
        tracing::error!(kept = 2u64, "JWKS refresh failed");
        tracing::debug!("detail");
        tracing::trace!(n = 1u64);
    }

    /// Each line without its timestamp (27 characters and a space).
    fn lines(text: &str) -> Vec<String> {
        text.lines().map(|l| l[28..].to_owned()).collect()
    }

    #[test]
    fn lines_read_as_the_default_format_writes_them_without_colours() {
        let ours = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .event_format(PlainLines)
            .fmt_fields(PlainFields)
            .with_writer(ours.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, events);
        let theirs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_ansi(false)
            .with_writer(theirs.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, events);

        let (ours, theirs) = (ours.text(), theirs.text());
        assert_eq!(lines(&ours), lines(&theirs));
        assert_eq!(ours.lines().count(), 5);
        assert_eq!(
            lines(&ours)[2],
            r#"ERROR request{request_id="r-1"}:fetch: cognigate::telemetry::plain::tests: JWKS refresh failed kept=2"#
        );
        for line in ours.lines() {
            assert!(humantime::parse_rfc3339(&line[..27]).is_ok(), "{line}");
        }
    }
}
