//! Field formatting for the human-readable log lines: `name=value` pairs as
//! tracing-subscriber's default writes them, without its per-character escaping of
//! strings that need none. The access line is written once per request, and its fields
//! were most of its cost (a string's `Debug` escapes it a character at a time).

use std::fmt;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// The message as is, and `name=value` separated by spaces; strings quoted, and
/// escaped as `Debug` escapes them whenever they hold a quote, a backslash, a control
/// or a non-ASCII character.
#[derive(Debug, Default)]
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = Visitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Visitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    /// Writes the separator and `name=`, or nothing for the message.
    fn name(&mut self, field: &Field) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        if field.name() != "message" {
            self.writer.write_str(field.name())?;
            self.writer.write_char('=')?;
        }
        Ok(())
    }

    fn pair(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.name(field).and_then(|()| value(&mut self.writer));
        }
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let message = field.name() == "message";
        self.pair(field, |w| match message {
            true => w.write_str(value),
            false if needs_escaping(value) => write!(w, "{value:?}"),
            false => {
                w.write_char('"')?;
                w.write_str(value)?;
                w.write_char('"')
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.pair(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.pair(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.pair(field, |w| write!(w, "{value:?}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.pair(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.pair(field, |w| write!(w, "{value:?}"));
    }
}

fn needs_escaping(value: &str) -> bool {
    value
        .bytes()
        .any(|b| !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::telemetry::captured::Captured;

    /// The line `event` logs, formatted with `fields`, without time and level.
    fn line<N>(fields: N, event: impl FnOnce()) -> String
    where
        N: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        let out = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(fields)
            .with_writer(out.clone())
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .with_target(false)
            .finish();
        tracing::subscriber::with_default(subscriber, event);
        let text = out.text();
        text.trim_end().to_owned()
    }

    fn access_line() {
        tracing::info!(
            request_id = "3f2a",
            method = %http::Method::GET,
            path = "/api/a b",
            quoted = "say \"hi\"\n",
            unicode = "é",
            status = 200u16,
            delta = -3i64,
            latency_ms = 0.127f64,
            upstream_ms = -1.0f64,
            cached = true,
            "done"
        );
    }

    #[test]
    fn lines_read_exactly_as_with_the_default_fields() {
        let ours = line(PlainFields, access_line);
        let default = line(
            tracing_subscriber::fmt::format::DefaultFields::new(),
            access_line,
        );
        assert_eq!(ours, default);
        assert_eq!(
            ours,
            r#"done request_id="3f2a" method=GET path="/api/a b" quoted="say \"hi\"\n" unicode="é" status=200 delta=-3 latency_ms=0.127 upstream_ms=-1.0 cached=true"#
        );
    }

    #[test]
    fn only_strings_that_need_it_are_escaped() {
        assert!(!needs_escaping("/api/x?y=1&z=%2F"));
        assert!(!needs_escaping("3f2a-9c1e"));
        assert!(needs_escaping("a\"b"));
        assert!(needs_escaping("a\\b"));
        assert!(needs_escaping("a\tb"));
        assert!(needs_escaping("\u{7f}"));
        assert!(needs_escaping("é"));
    }
}
