//! Field formatting for the human-readable log lines: `name=value` pairs as
//! tracing-subscriber's default writes them, without its per-character escaping of
//! strings that need none. The access line is written once per request, and its fields
//! were most of its cost (a string's `Debug` escapes it a character at a time).

use super::escape::debug_may_escape;
use std::fmt::{self, Write as _};
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
            out: Gathered::new(writer),
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result.and_then(|()| visitor.out.flush())
    }
}

/// Text gathered on the stack and handed to the line's [`Writer`] in pieces of up to
/// 256 bytes: each write to a `Writer` is a dynamic call into the line's buffer, and a
/// field took five or six (separator, name, `=`, quotes, value), ~40 instructions each.
struct Gathered<'writer> {
    writer: Writer<'writer>,
    buf: [u8; 256],
    len: usize,
}

impl<'writer> Gathered<'writer> {
    fn new(writer: Writer<'writer>) -> Self {
        Gathered {
            writer,
            buf: [0; 256],
            len: 0,
        }
    }

    fn flush(&mut self) -> fmt::Result {
        // Only whole `str`s are copied in, so this never fails; checked, as no code
        // here is `unsafe`.
        let text = std::str::from_utf8(&self.buf[..self.len]).map_err(|_| fmt::Error)?;
        self.writer.write_str(text)?;
        self.len = 0;
        Ok(())
    }
}

impl fmt::Write for Gathered<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() > self.buf.len() - self.len {
            self.flush()?;
            if s.len() > self.buf.len() {
                return self.writer.write_str(s);
            }
        }
        self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

struct Visitor<'writer> {
    out: Gathered<'writer>,
    first: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    /// Writes the separator and `name=`, or nothing for the message.
    fn name(&mut self, field: &Field) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.out.write_char(' ')?;
        }
        if field.name() != "message" {
            self.out.write_str(field.name())?;
            self.out.write_char('=')?;
        }
        Ok(())
    }

    fn pair(&mut self, field: &Field, value: impl FnOnce(&mut Gathered<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.name(field).and_then(|()| value(&mut self.out));
        }
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let message = field.name() == "message";
        self.pair(field, |w| match message {
            true => w.write_str(value),
            false if debug_may_escape(value) => write!(w, "{value:?}"),
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
        self.pair(field, |w| write_f64(w, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.pair(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.pair(field, |w| write!(w, "{value:?}"));
    }
}

/// `value` as `{value:?}` writes it. Values with at most three decimals, like the
/// access line's latencies (microseconds in milliseconds), are written from integers:
/// `f64`'s shortest-representation formatting is ~800 instructions a value.
pub(super) fn write_f64(w: &mut impl fmt::Write, value: f64) -> fmt::Result {
    let thousandths = (value * 1000.0).round();
    // Exact below 2^53; `Debug` writes such values without an exponent (from 1e-4 to
    // 1e16), and their shortest round-tripping text is these digits.
    if thousandths.abs() < 1e15 && thousandths / 1000.0 == value {
        let units = thousandths.abs() as u64;
        if value.is_sign_negative() {
            w.write_char('-')?;
        }
        w.write_str(itoa::Buffer::new().format(units / 1000))?;
        // `.` and three digits, trailing zeros dropped but one digit kept: `.5`, `.0`.
        let d = units % 1000;
        let decimals = [
            b'.',
            b'0' + (d / 100) as u8,
            b'0' + (d / 10 % 10) as u8,
            b'0' + (d % 10) as u8,
        ];
        let mut len = decimals.len();
        while len > 2 && decimals[len - 1] == b'0' {
            len -= 1;
        }
        w.write_str(std::str::from_utf8(&decimals[..len]).map_err(|_| fmt::Error)?)
    } else {
        write!(w, "{value:?}")
    }
}

#[cfg(test)]
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

    /// Fields longer than the gathering buffer, and fields that cross its end.
    #[test]
    fn long_lines_read_exactly_as_with_the_default_fields() {
        let long = |n: usize| "p".repeat(n);
        let event = || {
            tracing::info!(
                a = long(200).as_str(),
                b = long(300).as_str(),
                c = long(250).as_str(),
                d = %long(255),
                e = "é".repeat(100).as_str(),
                "done"
            )
        };
        let ours = line(PlainFields, event);
        let default = line(tracing_subscriber::fmt::format::DefaultFields::new(), event);
        assert!(ours.len() > 1_000, "{}", ours.len());
        assert_eq!(ours, default);
    }

    #[test]
    fn floats_read_as_debug_writes_them() {
        let ours = |v: f64| {
            let mut text = String::new();
            write_f64(&mut Writer::new(&mut text), v).unwrap();
            text
        };
        let mut values = vec![
            0.0,
            -0.0,
            -1.0,
            1.0,
            0.001,
            0.01,
            0.1,
            0.5,
            0.127,
            3.567,
            10.0,
            12.04,
            999.999,
            1e-4,
            1e-5,
            0.0005,
            1.0005,
            1e12,
            1e15,
            1e16,
            1e17,
            123_456_789.012,
            -42.42,
            1.0 / 3.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        // Latencies as the access line computes them, and a spread of other values.
        values.extend((0..200_000u64).step_by(7).map(|us| us as f64 / 1000.0));
        values.extend((0..10_000u32).map(|i| f64::from(i).powf(1.7) / 97.0 - 40.0));
        for v in values {
            assert_eq!(ours(v), format!("{v:?}"), "{v}");
        }
    }

    #[test]
    fn only_strings_that_need_it_are_escaped() {
        assert!(!debug_may_escape("/api/x?y=1&z=%2F"));
        assert!(!debug_may_escape("3f2a-9c1e"));
        assert!(debug_may_escape("a\"b"));
        assert!(debug_may_escape("a\\b"));
        assert!(debug_may_escape("a\tb"));
        assert!(debug_may_escape("\u{7f}"));
        assert!(debug_may_escape("é"));
    }
}
