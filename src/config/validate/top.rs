//! Top-level keys (`listen`, `admin_listen`, `mode`, the shutdown timings) and the
//! scalar readers every section shares: durations and socket addresses.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use super::Checker;
use crate::config::Mode;

/// Longest duration accepted anywhere. hyper and tokio add timeouts to `Instant::now()`
/// and panic on overflow (a `header_timeout` of "300000000000y" passed `humantime` and
/// panicked every connection), so absurd values are refused here.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Checker {
    pub(super) fn duration(&mut self, path: &str, value: Option<&str>, default: &str) -> Duration {
        let text = value.unwrap_or(default);
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d > MAX_DURATION => {
                self.error(path, format!("must be at most 100 years, got {text:?}"));
                Duration::ZERO
            }
            Ok(d) => d,
            Err(_) => {
                self.error(
                    path,
                    format!("expected a duration like \"30s\", \"15m\" or \"1h\", got {text:?}"),
                );
                Duration::ZERO
            }
        }
    }

    pub(super) fn positive_duration(
        &mut self,
        path: &str,
        value: Option<&str>,
        default: &str,
    ) -> Duration {
        let d = self.duration(path, value, default);
        if d.is_zero() && value.is_some_and(|v| humantime::parse_duration(v.trim()).is_ok()) {
            self.error(path, "must be longer than 0s");
        }
        d
    }

    pub(super) fn addr(&mut self, path: &str, value: Option<&str>, default: &str) -> SocketAddr {
        let text = value.unwrap_or(default);
        SocketAddr::from_str(text.trim()).unwrap_or_else(|_| {
            self.error(
                path,
                format!("expected an address like \"127.0.0.1:8080\", got {text:?}"),
            );
            SocketAddr::from(([127, 0, 0, 1], 0))
        })
    }

    pub(super) fn mode(&mut self, value: Option<&str>) -> Mode {
        match value.unwrap_or("proxy") {
            "proxy" => Mode::Proxy,
            "forward_auth" => Mode::ForwardAuth,
            other => {
                self.error(
                    "mode",
                    format!("expected \"proxy\" or \"forward_auth\", got {other:?}"),
                );
                Mode::Proxy
            }
        }
    }
}
