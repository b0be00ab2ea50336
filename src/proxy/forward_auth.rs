//! Forward-auth: the original request as the ingress describes it. Traefik sends
//! `X-Forwarded-Method` / `-Uri` / `-Host`; ingress-nginx `X-Original-Method` /
//! `X-Original-URL`; Envoy's ext_authz HTTP service sends the request itself.

use super::error::Refusal;
use crate::policy::is_valid_host;
use http::header::HOST;
use http::request::Parts;
use http::{HeaderMap, Method, Uri};

/// The request an ingress asks about.
#[derive(Debug)]
pub struct Original {
    /// The original request's method.
    pub method: Method,
    /// Its host (`host[:port]`), when the ingress said.
    pub host: Option<String>,
    /// The raw path, without the query.
    pub path: String,
    /// The path and query, as a sign-in's return path.
    pub return_to: String,
    /// Whether a redirect answer reaches the browser: Traefik and Envoy pass a non-2xx
    /// answer on as it is; ingress-nginx's `auth_request` turns anything but 2xx, 401
    /// and 403 into a 500.
    pub redirects: bool,
}

/// Reads the original request from the auth check's headers.
///
/// Each ingress sets its own family of headers and passes the client's other headers
/// through, so a client can add the *other* family (`X-Forwarded-Uri: /health` on an
/// ingress-nginx check of `/admin`). Whichever family were trusted first, one ingress
/// would be bypassable; a check carrying both is therefore refused.
pub fn original_request(parts: &Parts) -> Result<Original, Refusal> {
    let h = &parts.headers;
    let traefik = h.contains_key("x-forwarded-uri") || h.contains_key("x-forwarded-method");
    let nginx = h.contains_key("x-original-url") || h.contains_key("x-original-method");
    if traefik && nginx {
        return Err(Refusal::BadRequest(
            "both X-Forwarded-Uri/-Method and X-Original-URL/-Method are present: the original request is ambiguous".into(),
        ));
    }
    if let Some(uri) = text(h, "x-forwarded-uri")? {
        let uri = parse_uri("X-Forwarded-Uri", uri)?;
        return Ok(Original {
            method: method(h, "x-forwarded-method")?.unwrap_or_else(|| parts.method.clone()),
            host: host(text(h, "x-forwarded-host")?.or(text(h, HOST.as_str())?))?,
            path: uri.path().to_owned(),
            return_to: path_and_query(&uri),
            redirects: true,
        });
    }
    if let Some(url) = text(h, "x-original-url")? {
        let uri = parse_uri("X-Original-URL", url)?;
        return Ok(Original {
            method: method(h, "x-original-method")?.unwrap_or_else(|| parts.method.clone()),
            host: host(
                uri.authority()
                    .map(|a| a.as_str())
                    .or(text(h, HOST.as_str())?),
            )?,
            path: uri.path().to_owned(),
            return_to: path_and_query(&uri),
            redirects: false,
        });
    }
    Ok(Original {
        method: parts.method.clone(),
        host: host(text(h, HOST.as_str())?)?,
        path: parts.uri.path().to_owned(),
        return_to: path_and_query(&parts.uri),
        redirects: true,
    })
}

fn path_and_query(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned())
}

/// The value of `name`, which must appear at most once: with two, the ingress's and a
/// client's, either could be the one the ingress meant.
fn text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Refusal> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Refusal::BadRequest(format!("more than one {name} header")));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| Refusal::BadRequest(format!("{name} is not valid text")))
}

/// The original request's host, which must be a valid `host[:port]` (RFC 9112 §3.2).
fn host(value: Option<&str>) -> Result<Option<String>, Refusal> {
    match value {
        Some(h) if !is_valid_host(h) => Err(Refusal::BadRequest(
            "the original request's host is not a valid host[:port]".into(),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

fn method(headers: &HeaderMap, name: &str) -> Result<Option<Method>, Refusal> {
    text(headers, name)?
        .map(|m| {
            Method::from_bytes(m.as_bytes())
                .map_err(|_| Refusal::BadRequest(format!("{name} is not an HTTP method")))
        })
        .transpose()
}

fn parse_uri(name: &str, value: &str) -> Result<Uri, Refusal> {
    // The URI parser would end the path at a `#` and drop the rest: the path checked
    // would not be the path the ingress forwards (`/public/x#/../../admin/y`). A
    // fragment is never part of a request target (RFC 9112 §3.2).
    if value.contains('#') {
        return Err(Refusal::BadRequest(format!("{name} contains '#'")));
    }
    let uri: Uri = value
        .parse()
        .map_err(|_| Refusal::BadRequest(format!("{name} is not a valid URI")))?;
    if !uri.path().starts_with('/') {
        return Err(Refusal::BadRequest(format!("{name} has no absolute path")));
    }
    Ok(uri)
}
