//! `cognigate health --url URL`: a shell-free container health check. Passes when the
//! URL answers 200 within 2 s.

use http::{Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(2);

/// Whether `url` (plain http) answers 200 within two seconds; `Err` says why not.
pub async fn probe(url: &str) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|_| format!("not a URL: {url:?}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("only http:// URLs can be probed, got {url:?}"));
    }
    let host = uri.host().unwrap_or_default().to_owned();
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let req = Request::get(uri)
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(DEADLINE, client.request(req)).await {
        Err(_) => Err(format!("{url}: timed out after {}s", DEADLINE.as_secs())),
        Ok(Err(e)) => Err(format!(
            "{url}: {}",
            crate::connect_error::describe(&e, &host)
        )),
        Ok(Ok(resp)) if resp.status() == StatusCode::OK => Ok(()),
        Ok(Ok(resp)) => Err(format!("{url}: answered {}", resp.status())),
    }
}
