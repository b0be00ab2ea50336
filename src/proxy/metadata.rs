//! The well-known documents of `[resource]`, answered before route matching, in both
//! modes: public, `GET`/`HEAD` only, on the normalized path (a path the path model
//! refuses is left to the route step, which answers it 400 like any other request).

use super::Snapshot;
use super::body::{ResponseBody, full};
use super::error::{Challenge, Refusal};
use super::headers::X_REQUEST_ID;
use crate::policy::path;
use crate::resource::Answer;
use http::{HeaderValue, Method, Response, StatusCode, header};

/// The answer to a request for one of the metadata documents, or `None` when the
/// request is not one (then it goes on to the routes).
pub fn answer(
    snap: &Snapshot,
    method: &Method,
    raw_path: &str,
    request_id: &HeaderValue,
) -> Option<Response<ResponseBody>> {
    let docs = snap.resource.as_ref()?;
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    // Most requests name no well-known path, even encoded: no normalization for them.
    if !raw_path.contains(".well-known") && !raw_path.contains('%') {
        return None;
    }
    let normalized = path::normalize(raw_path).ok()?;
    let (status, body) = match docs.lookup(&normalized)? {
        Answer::ProtectedResource(body) => (StatusCode::OK, body),
        Answer::AuthorizationServer(Some(doc)) => (StatusCode::OK, (*doc).clone()),
        Answer::AuthorizationServer(None) => {
            let body = serde_json::json!({
                "error": "temporarily_unavailable",
                "message": "the authorization server's discovery document has not loaded yet",
            });
            (StatusCode::SERVICE_UNAVAILABLE, body.to_string().into())
        }
    };
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Browser-based OAuth clients read these documents cross-origin (RFC 9728 §3).
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    let cache = match status {
        StatusCode::OK => "max-age=300",
        _ => "no-store",
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    headers.insert(X_REQUEST_ID, request_id.clone());
    Some(resp)
}

/// A refusal as `snap` answers it: with `[resource]`, its challenge names the metadata
/// and the scopes of the route at index `route`.
pub fn refusal_response(
    snap: &Snapshot,
    route: Option<usize>,
    refusal: Refusal,
    request_id: &HeaderValue,
) -> Response<ResponseBody> {
    let Some(docs) = &snap.resource else {
        return refusal.into_response(request_id);
    };
    let extra = Challenge {
        resource_metadata: Some(docs.metadata_url()),
        scope: route.and_then(|i| docs.route_scope(i)),
    };
    refusal.into_response_with(request_id, extra)
}
