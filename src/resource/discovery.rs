//! The issuer's OpenID discovery document, turned into the authorization-server
//! metadata this proxy serves (RFC 8414).
//!
//! Threat: a document from the wrong place (a misconfigured or hijacked URL) would
//! send clients to another authorization server. A document whose `issuer` is not the
//! configured issuer is refused, as are non-JSON and oversized ones; the refresh task
//! then keeps the last good document. Every endpoint is served as the issuer wrote it.

use bytes::Bytes;

/// Largest discovery document accepted (Cognito's is about 2 KiB).
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

/// Why a fetched discovery document was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Not a JSON object.
    #[error("the discovery document is not a JSON object: {0}")]
    NotJson(String),
    /// Its `issuer` is missing or is not the configured issuer.
    #[error("the discovery document is for issuer {found:?}, not {expected:?}")]
    WrongIssuer {
        /// The `issuer` it states (empty when absent or not a string).
        found: String,
        /// The configured issuer.
        expected: String,
    },
}

/// Checks the document fetched for `expected` and renders it as served under
/// `served_as`: `issuer` replaced (RFC 8414 §3.3: a client discards metadata whose
/// `issuer` is not the one it asked), `code_challenge_methods_supported: ["S256"]`
/// added when absent (Cognito supports PKCE S256 without advertising it, and MCP
/// clients refuse an authorization server that does not).
///
/// # Errors
///
/// [`DiscoveryError`] naming why the document is refused.
pub fn accept(body: &[u8], expected: &str, served_as: &str) -> Result<Bytes, DiscoveryError> {
    let mut doc: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| DiscoveryError::NotJson(e.to_string()))?;
    let found = doc.get("issuer").and_then(|v| v.as_str()).unwrap_or("");
    if found != expected {
        return Err(DiscoveryError::WrongIssuer {
            found: found.to_owned(),
            expected: expected.to_owned(),
        });
    }
    doc.insert("issuer".into(), served_as.into());
    doc.entry("code_challenge_methods_supported")
        .or_insert_with(|| serde_json::json!(["S256"]));
    Ok(Bytes::from(serde_json::Value::Object(doc).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool";

    fn cognito_like() -> String {
        serde_json::json!({
            "issuer": ISS,
            "authorization_endpoint": "https://pool.auth.eu-west-1.amazoncognito.com/oauth2/authorize",
            "token_endpoint": "https://pool.auth.eu-west-1.amazoncognito.com/oauth2/token",
            "jwks_uri": format!("{ISS}/.well-known/jwks.json"),
            "response_types_supported": ["code", "token"],
        })
        .to_string()
    }

    #[test]
    fn issuer_is_rewritten_s256_added_and_endpoints_kept() {
        let out = accept(cognito_like().as_bytes(), ISS, "https://api.example").unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["issuer"], "https://api.example");
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            doc["token_endpoint"],
            "https://pool.auth.eu-west-1.amazoncognito.com/oauth2/token"
        );
        assert_eq!(doc["jwks_uri"], format!("{ISS}/.well-known/jwks.json"));
    }

    #[test]
    fn advertised_challenge_methods_are_kept_as_written() {
        let mut doc: serde_json::Value = serde_json::from_str(&cognito_like()).unwrap();
        doc["code_challenge_methods_supported"] = serde_json::json!(["S256", "plain"]);
        let out = accept(doc.to_string().as_bytes(), ISS, ISS).unwrap();
        let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            out["code_challenge_methods_supported"],
            doc["code_challenge_methods_supported"]
        );
    }

    #[test]
    fn garbage_and_foreign_documents_are_refused() {
        let not_json = accept(b"<html>", ISS, ISS).unwrap_err();
        assert!(matches!(not_json, DiscoveryError::NotJson(_)));
        assert!(matches!(
            accept(b"[1]", ISS, ISS),
            Err(DiscoveryError::NotJson(_))
        ));
        let other = cognito_like().replace("eu-west-1_Pool\"", "eu-west-1_Other\"");
        assert!(matches!(
            accept(other.as_bytes(), ISS, ISS),
            Err(DiscoveryError::WrongIssuer { .. })
        ));
        assert!(matches!(
            accept(br#"{"token_endpoint":"x"}"#, ISS, ISS),
            Err(DiscoveryError::WrongIssuer { .. })
        ));
    }
}
