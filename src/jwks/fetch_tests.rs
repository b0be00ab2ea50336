//! Fetch tests against an in-process JWKS server on 127.0.0.1:0.

use super::*;
use crate::verify::testkit::{self, JwksServer, Reply};

const RS: &[Algorithm] = &[Algorithm::RS256];
const T: Duration = Duration::from_secs(5);

async fn fetch_from(reply: Reply) -> (Result<KeySet, JwksError>, JwksServer) {
    let server = JwksServer::start(reply).await;
    let client = JwksClient::new().unwrap();
    (fetch(&client, &server.url(), T, RS).await, server)
}

#[tokio::test]
async fn fetches_a_jwks_and_counts_hits() {
    let server = JwksServer::start(Reply::Jwks).await;
    let client = JwksClient::new().unwrap();
    let set = fetch(&client, &server.url(), T, RS).await.unwrap();
    assert!(set.get(&testkit::key().kid).is_some());
    fetch(&client, &server.url(), T, RS).await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn non_200_names_the_status_and_uri() {
    let (result, server) = fetch_from(Reply::Status(500)).await;
    let msg = result.unwrap_err().to_string();
    assert!(msg.contains("500") && msg.contains(&server.url()), "{msg}");
}

#[tokio::test]
async fn redirect_is_not_followed() {
    let (result, server) = fetch_from(Reply::Redirect).await;
    assert!(matches!(result, Err(JwksError::Redirect { .. })));
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn garbage_body_is_refused() {
    let (result, _server) = fetch_from(Reply::Garbage).await;
    assert!(matches!(result, Err(JwksError::Invalid { .. })));
}

#[tokio::test]
async fn body_over_one_mib_is_refused() {
    for reply in [
        Reply::Big {
            content_length: true,
        },
        Reply::Big {
            content_length: false,
        },
    ] {
        let (result, _server) = fetch_from(reply).await;
        let err = result.unwrap_err();
        assert!(
            err.to_string().contains("JWKS response larger than 1 MiB"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn slow_server_times_out() {
    let server = JwksServer::start(Reply::Slow).await;
    let client = JwksClient::new().unwrap();
    let t = Duration::from_millis(200);
    let result = fetch(&client, &server.url(), t, RS).await;
    assert!(matches!(result, Err(JwksError::Timeout { .. })));
}

#[tokio::test]
async fn file_uri_is_read_and_missing_file_is_an_error() {
    let dir = std::env::temp_dir().join(format!("cognigate-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    std::fs::write(&path, &testkit::key().jwks_json).unwrap();
    let client = JwksClient::new().unwrap();
    let uri = format!("file://{}", path.display());
    assert_eq!(fetch(&client, &uri, T, RS).await.unwrap().len(), 1);
    let missing = format!("file://{}", dir.join("nope.json").display());
    assert!(matches!(
        fetch(&client, &missing, T, RS).await,
        Err(JwksError::File { .. })
    ));
    std::fs::write(&path, vec![b' '; MAX_JWKS_BYTES + 1]).unwrap();
    assert!(matches!(
        fetch(&client, &uri, T, RS).await,
        Err(JwksError::TooLarge { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn other_schemes_are_refused() {
    let client = JwksClient::new().unwrap();
    let result = fetch(&client, "ftp://example.com/jwks.json", T, RS).await;
    assert!(matches!(result, Err(JwksError::InvalidUri { .. })));
}
