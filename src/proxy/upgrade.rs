//! HTTP/1.1 `Upgrade` (RFC 9110 §7.8), WebSocket (RFC 6455 §4) in practice: an
//! admitted upgrade request goes upstream with `Connection: upgrade` and its `Upgrade`
//! header; if the upstream switches protocols (101), the two connections are spliced
//! byte for byte until either side closes.
//!
//! Threats defended against:
//! - **h2c smuggling** (`Upgrade: h2c` through a proxy reaches the backend as an HTTP/2
//!   connection that bypasses the proxy's per-request checks): an upgrade naming `h2c`
//!   is never passed on; the request is forwarded as an ordinary one without it.
//! - **Unauthorized tunnels**: the upgrade is forwarded only after the route admitted
//!   the request, so a refused upgrade gets the ordinary 401/403 and no tunnel.

use http::header::{CONNECTION, UPGRADE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// An upgrade the client asked for and that may pass.
#[derive(Debug)]
pub struct UpgradeRequest {
    protocol: HeaderValue,
    client: OnUpgrade,
}

/// Takes the upgrade out of a client request, if it asks for one that may pass.
/// Call before hop-by-hop removal, which drops the headers it reads.
pub fn take(parts: &mut Parts) -> Option<UpgradeRequest> {
    if parts.version != Version::HTTP_11 || !connection_has_upgrade(&parts.headers) {
        return None;
    }
    let protocol = parts.headers.get(UPGRADE)?.clone();
    if names_h2c(&protocol) {
        return None;
    }
    let client = parts.extensions.remove::<OnUpgrade>()?;
    Some(UpgradeRequest { protocol, client })
}

impl UpgradeRequest {
    /// Puts back, after hop-by-hop removal, the two headers the upstream needs.
    pub fn set_headers(&self, headers: &mut HeaderMap) {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, self.protocol.clone());
    }

    /// For an upstream 101: restores the response's upgrade headers and returns the
    /// splice to run once both sides have switched. `None` if the upstream's response
    /// cannot be upgraded (it then goes back as is, and no tunnel opens).
    pub fn accept(
        self,
        response: &mut http::response::Parts,
        upstream_protocol: Option<HeaderValue>,
    ) -> Option<Splice> {
        let upstream = response.extensions.remove::<OnUpgrade>()?;
        response
            .headers
            .insert(CONNECTION, HeaderValue::from_static("upgrade"));
        response
            .headers
            .insert(UPGRADE, upstream_protocol.unwrap_or(self.protocol));
        Some(Splice {
            client: self.client,
            upstream,
        })
    }
}

/// The two halves of an upgraded exchange, to be run by the server as its own task
/// (they finish switching only after the 101 has been sent to the client).
#[derive(Debug, Clone)]
pub struct Splice {
    client: OnUpgrade,
    upstream: OnUpgrade,
}

impl Splice {
    /// Copies bytes both ways until either side closes or fails.
    pub async fn run(self) {
        let (client, upstream) = tokio::join!(self.client, self.upstream);
        let (client, upstream) = match (client, upstream) {
            (Ok(c), Ok(u)) => (c, u),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(error = %e, "upgrade did not complete");
                return;
            }
        };
        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            Ok((up, down)) => tracing::debug!(up, down, "upgraded connection closed"),
            Err(e) => tracing::debug!(error = %e, "upgraded connection ended with an error"),
        }
    }
}

fn connection_has_upgrade(headers: &HeaderMap) -> bool {
    super::headers::list_has(headers, &CONNECTION, "upgrade")
}

/// Whether any offered protocol is `h2c` (RFC 9113 §3.1 removed it; RFC 7540 §3.2 had it).
fn names_h2c(protocol: &HeaderValue) -> bool {
    let text = String::from_utf8_lossy(protocol.as_bytes());
    text.split(',')
        .map(|p| p.trim().split('/').next().unwrap_or("").trim())
        .any(|p| p.eq_ignore_ascii_case("h2c"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(connection: &str, upgrade: &str, version: Version) -> Parts {
        let mut req = http::Request::builder()
            .version(version)
            .header(CONNECTION, connection)
            .header(UPGRADE, upgrade)
            .body(())
            .unwrap();
        // What hyper's server puts there; `on` of a plain request is an empty one.
        let pending = hyper::upgrade::on(http::Request::new(()));
        req.extensions_mut().insert(pending);
        req.into_parts().0
    }

    #[test]
    fn websocket_upgrades_are_taken() {
        let mut p = parts("keep-alive, Upgrade", "websocket", Version::HTTP_11);
        let taken = take(&mut p).unwrap();
        let mut h = HeaderMap::new();
        taken.set_headers(&mut h);
        assert_eq!(h[CONNECTION], "upgrade");
        assert_eq!(h[UPGRADE], "websocket");
    }

    #[test]
    fn h2c_and_non_upgrades_are_not() {
        for up in ["h2c", "H2C", "websocket, h2c", "h2c/1"] {
            assert!(
                take(&mut parts("Upgrade", up, Version::HTTP_11)).is_none(),
                "{up}"
            );
        }
        assert!(take(&mut parts("close", "websocket", Version::HTTP_11)).is_none());
        assert!(take(&mut parts("upgrade", "websocket", Version::HTTP_10)).is_none());
    }
}
