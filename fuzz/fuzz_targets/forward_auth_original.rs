//! Forward-auth: the original request read from an ingress's auth-check headers
//! (`X-Forwarded-Method/-Uri/-Host`, `X-Original-Method/-URL`, `Host`), then the path
//! model, as the gate does before a route decision.
//!
//! Input: lines `name: value` (a name from the set above, picked by the first byte of
//! its line), then the check's own request target on the last line.
//!
//! Properties: never panics; a check that carries both header families, or one of
//! those headers twice, is refused; an accepted original request has a path with no
//! `#`; read from an ingress's header, it starts with `/` and is the path part of that
//! header (so the path decided on is the path the ingress forwards), and otherwise the
//! path model refuses it unless it starts with `/`; its host is a valid `host[:port]`.
#![no_main]

use cognigate::policy::{is_valid_host, normalize};
use cognigate::proxy::forward_auth::original_request;
use http::{HeaderName, HeaderValue, Request};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = [
    "x-forwarded-method",
    "x-forwarded-uri",
    "x-forwarded-host",
    "x-original-method",
    "x-original-url",
    "host",
];

fuzz_target!(|data: &[u8]| {
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let target = lines.pop().unwrap_or_default();
    let Ok(target) = std::str::from_utf8(target) else {
        return;
    };
    let Ok(mut req) = Request::get(if target.is_empty() { "/" } else { target }).body(()) else {
        return;
    };
    let headers = req.headers_mut();
    for line in lines {
        let Some((&pick, value)) = line.split_first() else {
            continue;
        };
        let name = HeaderName::from_static(NAMES[usize::from(pick) % NAMES.len()]);
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let (parts, ()) = req.into_parts();
    let h = &parts.headers;
    let traefik = h.contains_key("x-forwarded-uri") || h.contains_key("x-forwarded-method");
    let nginx = h.contains_key("x-original-url") || h.contains_key("x-original-method");
    // The headers the parser reads for the family it picks (a lone `X-Forwarded-Method`
    // is not read at all: without `X-Forwarded-Uri` the check describes itself).
    let read: &[&str] = if h.contains_key("x-forwarded-uri") {
        &["x-forwarded-uri", "x-forwarded-method", "x-forwarded-host"]
    } else if h.contains_key("x-original-url") {
        &["x-original-url", "x-original-method"]
    } else {
        &["host"]
    };
    let repeated = read.iter().any(|n| h.get_all(*n).iter().count() > 1);
    let Ok(original) = original_request(&parts) else {
        return;
    };
    assert!(!(traefik && nginx), "both families accepted");
    assert!(!repeated, "a repeated header accepted");
    assert!(!original.path.contains('#'), "{:?}", original.path);
    let source = h
        .get("x-forwarded-uri")
        .or(h.get("x-original-url"))
        .map(|v| v.as_bytes());
    if let Some(source) = source {
        let source = String::from_utf8_lossy(source);
        assert!(original.path.starts_with('/'), "{:?}", original.path);
        assert!(source.contains(&original.path), "{:?} not in {source:?}", original.path);
    } else if !original.path.starts_with('/') {
        // Envoy's own request target: `*` or an authority-form one has no path, and the
        // path model refuses it before any route is matched.
        assert!(normalize(&original.path).is_err(), "{:?}", original.path);
    }
    if let Some(host) = &original.host {
        assert!(is_valid_host(host), "{host:?}");
    }
});
