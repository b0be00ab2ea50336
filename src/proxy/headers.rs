//! Header rewriting between client and upstream: hop-by-hop removal (RFC 9110 §7.6.1),
//! request framing checks (RFC 9112 §6.3), `X-Forwarded-*` and `X-Request-Id`.

use super::error::Refusal;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;

/// `X-Request-Id`: kept when the client sent a sane one, generated otherwise.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Headers that describe one connection, never the message (RFC 9110 §7.6.1, plus the
/// non-standard ones proxies still see, and RFC 7540 §3.2.1's `HTTP2-Settings`, which
/// only an `Upgrade: h2c` uses and which must never reach an upstream on its own).
const HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("proxy-authorization"),
    HeaderName::from_static("te"),
    HeaderName::from_static("trailer"),
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

/// Removes hop-by-hop headers and every header the `Connection` header names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
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
    HeaderValue::from_bytes(&text).unwrap_or(HeaderValue::from_static("0"))
}

/// Sets what the upstream needs to know about the client hop: `X-Forwarded-For`
/// (appended), `X-Forwarded-Proto` and `X-Forwarded-Host` (replaced: the client cannot
/// be trusted to state them), and the request id. `Host` is removed so the client
/// library writes the upstream's own.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    client_ip: IpAddr,
    proto: &'static str,
    host: Option<HeaderValue>,
    request_id: &HeaderValue,
) {
    let xff = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prior) if !prior.trim().is_empty() => format!("{prior}, {client_ip}"),
        _ => client_ip.to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&xff) {
        headers.insert(X_FORWARDED_FOR, value);
    }
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
        remove_hop_by_hop(&mut h);
        assert_eq!(h.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["accept"]);
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
