//! Header rewriting between client and upstream: hop-by-hop removal (RFC 9110 §7.6.1),
//! request head checks (RFC 9112 §3.2, §6.3), headers only cognigate may state,
//! `X-Forwarded-*` and `X-Request-Id`.

use super::error::Refusal;
use crate::policy::is_valid_host;
use http::header::{CONNECTION, CONTENT_LENGTH, COOKIE, HOST, TE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Uri, Version};
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

/// Refuses a request with several `Content-Length` fields. Over HTTP/1.1 hyper never
/// lets one through (equal values are merged, different ones refused), and it resolves
/// `Content-Length` with `Transfer-Encoding` itself (see `server::framing`). The h2
/// crate refuses different values (h2 0.4, `src/proto/streams/recv.rs`) but passes
/// equal ones on as several fields, which an HTTP/1.1 upstream may read as a list.
pub fn check_framing(headers: &HeaderMap) -> Result<(), Refusal> {
    if headers.get_all(CONTENT_LENGTH).iter().nth(1).is_some() {
        return Err(Refusal::BadRequest("more than one Content-Length".into()));
    }
    Ok(())
}

/// RFC 9112 §3.2: an HTTP/1.1 request carries exactly one `Host`, any request at most
/// one (two would let the route's host rule and the upstream read different hosts), and
/// it must be a valid host. A target with an authority (HTTP/2's `:authority`, or an
/// HTTP/1.1 absolute-form target) must name the same host (RFC 9113 §8.3.1).
pub fn check_host(version: Version, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
    let mut hosts = headers.get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Refusal::BadRequest("more than one Host header".into()));
    }
    let authority = uri.authority().map(|a| a.as_str());
    let host = match (host, authority) {
        (None, None) if version == Version::HTTP_11 => {
            return Err(Refusal::BadRequest(
                "an HTTP/1.1 request must have a Host header".into(),
            ));
        }
        (None, None) => return Ok(()),
        (Some(host), _) => host
            .to_str()
            .map_err(|_| Refusal::BadRequest("the Host header is not text".into()))?,
        (None, Some(authority)) => authority,
    };
    if !is_valid_host(host) || authority.is_some_and(|a| !is_valid_host(a)) {
        return Err(Refusal::BadRequest(
            "the Host header (or :authority) is not a valid host[:port]".into(),
        ));
    }
    if authority.is_some_and(|a| !a.eq_ignore_ascii_case(host)) {
        return Err(Refusal::BadRequest(
            "the Host header and the request target's authority differ".into(),
        ));
    }
    Ok(())
}

/// Headers a backend may read as facts about the client hop or about the request's
/// method or target: RFC 7239 `Forwarded`, the `X-Real-IP` family that nginx setups
/// and CDNs use, the `X-Original-URL` family that IIS and Symfony honour, and the
/// method overrides of Rails, Express and Spring (which would turn a `POST` that a
/// route's `methods` allowed into a `DELETE` it did not). cognigate states none of
/// them, so a client's copy is removed, in every spelling (folded as identity headers
/// are: any case, `_` or `.` for `-`).
const CLIENT_STATED: [&str; 13] = [
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-scheme",
    "x-forwarded-ssl",
    "x-original-url",
    "x-rewrite-url",
    "x-original-host",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The `X-Forwarded-*` headers cognigate does state: a client's copy in another spelling
/// (`X_Forwarded_Host`) is removed, as a backend may fold it onto ours.
const STATED: [&str; 3] = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"];

/// Whether a request header is one that only cognigate may state (see [`CLIENT_STATED`]).
fn is_client_stated(name: &HeaderName) -> bool {
    let name = name.as_str();
    let folds_to = |want: &str| {
        name.len() == want.len()
            && name
                .bytes()
                .zip(want.bytes())
                .all(|(a, b)| a == b || (b == b'-' && (a == b'_' || a == b'.')))
    };
    // Most names start with neither `x` nor `f`/`t`: one byte rules them out.
    matches!(name.as_bytes().first(), Some(b'x' | b'f' | b't'))
        && (CLIENT_STATED.iter().any(|n| folds_to(n))
            || STATED.iter().any(|n| folds_to(n) && name != *n))
}

/// Removes the client's copies of the headers only cognigate may state.
pub fn remove_client_stated(headers: &mut HeaderMap) {
    if !headers.keys().any(is_client_stated) {
        return;
    }
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_client_stated(n))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(&name);
    }
}

/// RFC 9113 §8.2.3: the `cookie` fields of an HTTP/2 request are joined with `"; "`
/// into one before the request goes to an HTTP/1.1 upstream (which may read only the
/// first `Cookie` line, or another one than cognigate did).
pub fn join_cookies(headers: &mut HeaderMap) {
    let mut values = headers.get_all(COOKIE).iter();
    if values.nth(1).is_none() {
        return;
    }
    let mut joined = Vec::new();
    for value in headers.get_all(COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    match HeaderValue::from_bytes(&joined) {
        Ok(value) => headers.insert(COOKIE, value),
        Err(_) => headers.remove(COOKIE),
    };
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
    /// The peer address of the connection.
    pub addr: SocketAddr,
    ip: HeaderValue,
}

impl ClientHop {
    /// The hop of a connection from `addr`.
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
    fn several_lengths_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("5"));
        assert!(check_framing(&h).is_ok());
        h.append(CONTENT_LENGTH, HeaderValue::from_static("6"));
        assert!(check_framing(&h).is_err());
    }

    #[test]
    fn hosts_must_be_valid_and_agree_with_the_authority() {
        let check = |version, uri: &str, host: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(host) = host {
                h.insert(HOST, HeaderValue::from_str(host).unwrap());
            }
            check_host(version, &uri.parse().unwrap(), &h).is_ok()
        };
        assert!(check(Version::HTTP_11, "/x", Some("a.example:8080")));
        assert!(!check(Version::HTTP_11, "/x", None));
        assert!(check(Version::HTTP_10, "/x", None));
        for bad in ["public.example:1@admin.example", ":abc", "a:80:90"] {
            assert!(!check(Version::HTTP_11, "/x", Some(bad)), "{bad}");
        }
        assert!(check(Version::HTTP_2, "https://a.example/x", None));
        assert!(check(
            Version::HTTP_2,
            "https://A.example/x",
            Some("a.EXAMPLE")
        ));
        assert!(!check(
            Version::HTTP_2,
            "https://a.example/x",
            Some("b.example")
        ));
        assert!(!check(
            Version::HTTP_11,
            "http://a.example/x",
            Some("b.example")
        ));
    }

    #[test]
    fn client_stated_routing_and_method_headers_are_removed_in_every_spelling() {
        let mut h = HeaderMap::new();
        for name in [
            "forwarded",
            "x-real-ip",
            "X_HTTP_Method_Override",
            "x.method.override",
            "x-http-method",
            "X_Forwarded_Host",
            "true_client_ip",
        ] {
            h.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("1"),
            );
        }
        for kept in [
            "x-forwarded-for",
            "x-forwarded-host",
            "accept",
            "x-request-id",
        ] {
            h.insert(HeaderName::from_static(kept), HeaderValue::from_static("1"));
        }
        remove_client_stated(&mut h);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            [
                "accept",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-request-id"
            ]
        );
    }

    #[test]
    fn http2_cookie_fields_are_joined() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1"));
        join_cookies(&mut h);
        assert_eq!(h.get_all(COOKIE).iter().count(), 1);
        h.append(COOKIE, HeaderValue::from_static("b=2"));
        h.append(COOKIE, HeaderValue::from_static("c=3"));
        join_cookies(&mut h);
        let all: Vec<_> = h.get_all(COOKIE).iter().collect();
        assert_eq!(all, ["a=1; b=2; c=3"]);
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
