//! Forward-auth: the original request read from an ingress's auth-check headers
//! (`X-Forwarded-Method/-Uri/-Host`, `X-Original-Method/-URL`, `Host`), then the path
//! model, as the gate does before a route decision.
//!
//! Input: lines `name: value` (a name from the set above, picked by the first byte of
//! its line), then the check's own request target on the last line.
//!
//! Properties: never panics; a check that carries both header families, or one of
//! those headers twice, is refused; an accepted original request has a path that
//! starts with `/`, holds no `#`, and is the path part of the header the ingress set
//! (so the path decided on is the path the ingress forwards); its host is a valid
//! `host[:port]`; and normalizing that path never panics.
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
    let repeated = NAMES.iter().any(|n| h.get_all(*n).iter().count() > 1);
    let Ok(original) = original_request(&parts) else {
        return;
    };
    assert!(!(traefik && nginx), "both families accepted");
    assert!(!repeated, "a repeated header accepted");
    assert!(original.path.starts_with('/'), "{:?}", original.path);
    assert!(!original.path.contains('#'), "{:?}", original.path);
    let source = if traefik {
        h.get("x-forwarded-uri").map(|v| v.as_bytes())
    } else if nginx {
        h.get("x-original-url").map(|v| v.as_bytes())
    } else {
        None
    };
    if let Some(source) = source {
        let source = String::from_utf8_lossy(source);
        assert!(source.contains(&original.path), "{:?} not in {source:?}", original.path);
    }
    if let Some(host) = &original.host {
        assert!(is_valid_host(host), "{host:?}");
    }
    let _ = normalize(&original.path);
});
