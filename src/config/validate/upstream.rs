//! `[upstream]`: where proxy mode forwards an allowed request.

use std::path::PathBuf;
use std::str::FromStr;

use http::Uri;

use super::Checker;
use crate::config::raw::RawUpstream;
use crate::config::{Mode, Upstream};

impl Checker {
    pub(super) fn upstream(&mut self, raw: Option<RawUpstream>, mode: Mode) -> Option<Upstream> {
        let Some(raw) = raw else {
            if mode == Mode::Proxy {
                self.error("upstream", "required when mode = \"proxy\"");
            }
            return None;
        };
        let url = match raw.url.as_deref() {
            None => {
                self.error("upstream.url", "required");
                None
            }
            Some(text) => self.upstream_url(text),
        };
        let upstream = Upstream {
            url: url.unwrap_or_default(),
            connect_timeout: self.duration(
                "upstream.connect_timeout",
                raw.connect_timeout.as_deref(),
                "5s",
            ),
            timeout: self.duration("upstream.timeout", raw.timeout.as_deref(), "60s"),
            ca_file: raw.ca_file.map(PathBuf::from),
            http2: raw.http2.unwrap_or(false),
        };
        if let Some(ca) = upstream.ca_file.as_ref().filter(|ca| !ca.is_file()) {
            self.error(
                "upstream.ca_file",
                format!("no such file: {}", ca.display()),
            );
        }
        Some(upstream)
    }

    fn upstream_url(&mut self, text: &str) -> Option<Uri> {
        let Ok(uri) = Uri::from_str(text) else {
            self.error(
                "upstream.url",
                format!("expected a URL like \"http://127.0.0.1:3000\", got {text:?}"),
            );
            return None;
        };
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            self.error(
                "upstream.url",
                format!("expected an http:// or https:// URL with a host, got {text:?}"),
            );
            return None;
        }
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            self.error("upstream.url", "must not have a path or query: cognigate forwards the request path as it was authorized");
            return None;
        }
        Some(uri)
    }
}
