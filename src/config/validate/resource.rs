//! `[resource]`: the resource identifier (an absolute http(s) URL without query or
//! fragment, RFC 8707 §2), the authorization servers it names, and their defaults.

use super::Checker;
use crate::config::raw::RawResource;
use crate::config::{Issuer, Resource};
use http::Uri;

impl Checker {
    pub(super) fn resource(&mut self, raw: RawResource, issuers: &[Issuer]) -> Resource {
        let url = raw.url.unwrap_or_default();
        let (origin, path) = match url.as_str() {
            "" => {
                self.error("resource.url", "required");
                (String::new(), String::new())
            }
            text => self.absolute_url("resource.url", text).unwrap_or_default(),
        };
        let as_metadata = raw.as_metadata.unwrap_or(false);
        if as_metadata && issuers.is_empty() {
            self.error(
                "resource.as_metadata",
                "needs an [[issuers]] entry whose discovery document to serve",
            );
        }
        let authorization_servers = match raw.authorization_servers {
            Some(list) => {
                for (i, server) in list.iter().enumerate() {
                    self.absolute_url(&format!("resource.authorization_servers[{i}]"), server);
                }
                list
            }
            None if as_metadata => vec![origin.clone()],
            None => issuers.iter().map(|i| i.issuer.clone()).collect(),
        };
        if let Some(doc) = &raw.documentation {
            self.absolute_url("resource.documentation", doc);
        }
        Resource {
            url,
            origin,
            path,
            authorization_servers,
            audience: raw.audience.unwrap_or(false),
            as_metadata,
            name: raw.name,
            documentation: raw.documentation,
        }
    }

    /// `(origin, path)` of an absolute http(s) URL with a host and neither query nor
    /// fragment; the path is empty when it is `/`.
    fn absolute_url(&mut self, key: &str, text: &str) -> Option<(String, String)> {
        let parsed = text.parse::<Uri>().ok().filter(|u| {
            matches!(u.scheme_str(), Some("http" | "https"))
                && u.host().is_some_and(|h| !h.is_empty())
                && u.query().is_none()
                && !text.contains('#')
        });
        let Some(uri) = parsed else {
            self.error(
                key,
                format!(
                    "expected an absolute http:// or https:// URL without query or fragment, got {text:?}"
                ),
            );
            return None;
        };
        let origin = format!("{}://{}", uri.scheme_str()?, uri.authority()?);
        let path = match uri.path() {
            "/" => String::new(),
            p => p.to_owned(),
        };
        Some((origin, path))
    }
}
