//! Header rewriting between client and upstream: hop-by-hop removal (RFC 9110 §7.6.1),
//! request framing checks (RFC 9112 §6.3), `X-Forwarded-*` and `X-Request-Id`.

use super::error::Refusal;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Version};
use std::fmt::Write as _;
use std::net::SocketAddr;

/// `X-Request-Id`: kept when the client sent a sane one, generated otherwise.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Headers that describe one connection, never the message (RFC 9110 §7.6.1, plus the
/// non-standard ones proxies still see, and RFC 7540 §3.2.1's `HTTP2-Settings`, which
/// only an `Upgrade: h2c` uses and which must never reach an upstream on its own).
/// `Trailer` is not one (RFC 9110 §6.6.2: it announces the message's trailer fields,
/// and hyper sends only the trailers it announces).
const HOP_BY_HOP: [HeaderName; 8] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("proxy-authorization"),
    TE,
    TRANSFER_ENCODING,
    HeaderName::from_static("upgrade"),
    HeaderName::from_static("http2-settings"),
];

/// Refuses requests whose length is ambiguous: both `Content-Length` and
/// `Transfer-Encoding` (the classic CL.TE / TE.CL smuggling pair), or several
/// `Content-Length` values. hyper already refuses most malformed framing; this closes
/// what it would otherwise resolve silently.
pub fn check_framing(headers: &HeaderMap) -> Result<(), Refusal> {
    let lengths = headers.get_all(CONTENT_LENGTH).iter().count();
    if lengths > 0 && headers.contains_key(TRANSFER_ENCODING) {
        return Err(Refusal::BadRequest(
            "both Content-Length and Transfer-Encoding are set".into(),
        ));
    }
    if lengths > 1 {
        return Err(Refusal::BadRequest("more than one Content-Length".into()));
    }
    Ok(())
}

/// RFC 9112 §3.2: an HTTP/1.1 request carries exactly one `Host`, any request at most
/// one (two would let the route's host rule and the upstream read different hosts).
pub fn check_host(version: Version, headers: &HeaderMap) -> Result<(), Refusal> {
    match headers.get_all(HOST).iter().count() {
        0 if version == Version::HTTP_11 => Err(Refusal::BadRequest(
            "an HTTP/1.1 request must have a Host header".into(),
        )),
        0 | 1 => Ok(()),
        _ => Err(Refusal::BadRequest("more than one Host header".into())),
    }
}

/// Removes hop-by-hop headers and every header the `Connection` header names. Most
/// messages carry none, or only `Connection` (nginx sends `Connection: keep-alive` with
/// every response), so one pass over the names finds those present and only they are
/// removed (each removal is a hash lookup). On a request (`request_te`), a client that
/// accepts trailers (`TE: trailers`) still says so to the upstream: servers send
/// response trailers only then (gRPC requires it).
pub fn remove_hop_by_hop(headers: &mut HeaderMap, request_te: bool) {
    // A bit per `HOP_BY_HOP` entry (`Connection` first).
    let present = headers
        .keys()
        .filter_map(|name| HOP_BY_HOP.iter().position(|h| h == name))
        .fold(0u8, |set, i| set | 1 << i);
    if present == 0 {
        return;
    }
    // Read before `Connection: TE` (which RFC 9110 §10.1.4 asks of TE's sender) goes.
    let trailers = request_te && accepts_trailers(headers);
    // Each value is cloned (a reference count) so the names it lists can be removed
    // while it is read; `remove(&str)` parses on the stack. No allocation.
    let mut i = 0;
    while present & 1 != 0
        && let Some(value) = headers.get_all(CONNECTION).iter().nth(i).cloned()
    {
        i += 1;
        let Ok(text) = value.to_str() else { continue };
        for name in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            headers.remove(name);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & 1 << i != 0 {
            headers.remove(name);
        }
    }
    if trailers {
        headers.insert(TE, HeaderValue::from_static("trailers"));
    }
}

/// `TE` holds the `trailers` token (RFC 9110 §10.1.4).
fn accepts_trailers(headers: &HeaderMap) -> bool {
    list_has(headers, &TE, "trailers")
}

/// Whether the comma-separated list in `name`'s values (RFC 9110 §5.6.1) holds `token`,
/// any case, parameters after `;` aside.
pub fn list_has(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.split(';').next().unwrap_or("");
            t.trim().eq_ignore_ascii_case(token)
        })
}

/// The request's id: the client's `X-Request-Id` when it is short visible ASCII,
/// otherwise a new random UUID.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(X_REQUEST_ID)
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(new_request_id)
}

fn new_request_id() -> HeaderValue {
    // UUID v4 layout (RFC 9562 §5.4) from a fast non-cryptographic generator: ids need
    // to be unique, not secret. Formatted on the stack: this runs on most requests.
    let r = fastrand::u128(..);
    let r = (r & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b'-'; 36];
    let digits = (0..36).filter(|i| ![8, 13, 18, 23].contains(i));
    for (n, at) in digits.enumerate() {
        text[at] = HEX[((r >> (124 - 4 * n)) & 0xf) as usize];
    }
    // Shared from the start: the id is cloned into the upstream request and the
    // response, and cloning a copied-in value would allocate once more to share it.
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(text))
        .unwrap_or(HeaderValue::from_static("0"))
}

/// The client end of one connection: its address, and its IP as an `X-Forwarded-For`
/// value, rendered once per connection rather than per request.
#[derive(Debug, Clone)]
pub struct ClientHop {
    pub addr: SocketAddr,
    ip: HeaderValue,
}

impl ClientHop {
    pub fn new(addr: SocketAddr) -> ClientHop {
        let ip = HeaderValue::from_str(&addr.ip().to_string())
            .unwrap_or(HeaderValue::from_static("unknown"));
        ClientHop { addr, ip }
    }
}

/// Sets what the upstream needs to know about the client hop: `X-Forwarded-For`
/// (appended), `X-Forwarded-Proto` and `X-Forwarded-Host` (replaced: the client cannot
/// be trusted to state them), and the request id. `Host` is removed so the client
/// library writes the upstream's own.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    client: &ClientHop,
    proto: &'static str,
    host: Option<HeaderValue>,
    request_id: &HeaderValue,
) {
    // Several X-Forwarded-For lines are one list (RFC 9110 §5.3), in order.
    let mut list = String::new();
    for prior in headers.get_all(X_FORWARDED_FOR) {
        let Some(prior) = prior.to_str().ok().map(str::trim).filter(|p| !p.is_empty()) else {
            continue;
        };
        list.push_str(prior);
        list.push_str(", ");
    }
    let xff = match list.is_empty() {
        true => Some(client.ip.clone()),
        false => {
            write!(list, "{}", client.addr.ip()).ok();
            HeaderValue::from_str(&list).ok()
        }
    };
    match xff {
        Some(value) => headers.insert(X_FORWARDED_FOR, value),
        None => headers.remove(X_FORWARDED_FOR),
    };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    headers.remove(HOST);
    match host {
        Some(host) => headers.insert(X_FORWARDED_HOST, host),
        None => headers.remove(X_FORWARDED_HOST),
    };
    headers.insert(X_REQUEST_ID, request_id.clone());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_uuid_v4() {
        let id = new_request_id();
        let s = id.to_str().unwrap();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(new_request_id(), id);
    }

    #[test]
    fn connection_named_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("close, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        remove_hop_by_hop(&mut h, false);
        assert_eq!(h.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["accept"]);
    }

    #[test]
    fn every_hop_by_hop_header_is_removed_with_or_without_connection() {
        for connection in [None, Some("keep-alive")] {
            for (i, name) in HOP_BY_HOP.iter().enumerate() {
                let mut h = HeaderMap::new();
                h.insert("accept", HeaderValue::from_static("*/*"));
                h.insert(name, HeaderValue::from_static("x"));
                h.append(
                    &HOP_BY_HOP[(i + 3) % HOP_BY_HOP.len()],
                    HeaderValue::from_static("y"),
                );
                if let Some(value) = connection {
                    h.append(CONNECTION, HeaderValue::from_static(value));
                }
                remove_hop_by_hop(&mut h, false);
                let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
                assert_eq!(left, ["accept"], "{name} with Connection {connection:?}");
            }
        }
    }

    #[test]
    fn a_request_keeps_only_te_trailers_and_its_trailer_announcement() {
        for (te, kept) in [
            ("gzip, trailers", Some("trailers")),
            ("Trailers;q=1", Some("trailers")),
            ("gzip", None),
        ] {
            let mut h = HeaderMap::new();
            h.insert(TE, HeaderValue::from_static(te));
            h.insert(CONNECTION, HeaderValue::from_static("TE"));
            h.insert("trailer", HeaderValue::from_static("x-checksum"));
            remove_hop_by_hop(&mut h, true);
            let te_now = h.get(TE).map(|v| v.to_str().unwrap());
            assert_eq!(te_now, kept, "{te}");
            assert!(h.contains_key("trailer"));
        }
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("5"));
        assert!(check_framing(&h).is_ok());
        h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        assert!(check_framing(&h).is_err());
        h.remove(TRANSFER_ENCODING);
        h.append(CONTENT_LENGTH, HeaderValue::from_static("6"));
        assert!(check_framing(&h).is_err());
    }

    #[test]
    fn client_request_ids_are_kept_only_when_sane() {
        let mut h = HeaderMap::new();
        h.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&h), "abc-123");
        h.insert(X_REQUEST_ID, HeaderValue::from_static("has space"));
        assert_ne!(request_id(&h), "has space");
    }
}
