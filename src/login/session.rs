//! What the cookies hold: the session (the tokens) and a sign-in in progress (PKCE
//! verifier, nonce, where to return). Both are sealed ([`super::seal`]); nothing here is
//! trusted before it opens.

use serde::{Deserialize, Serialize};

/// A signed-in browser's tokens, as issued (and refreshed) by the identity provider.
/// Never logged: `Debug` shows no token.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// The access token: what requests are authorized on.
    #[serde(rename = "a")]
    pub access_token: String,
    /// The id token.
    #[serde(rename = "i")]
    pub id_token: String,
    /// The refresh token, when the provider issued one.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The id token's verified `email`, for `X-Auth-Email` (the id token itself is
    /// verified once, when it arrives).
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// When the user signed in (unix seconds): the session ends `session_lifetime` later,
    /// refreshes or not.
    #[serde(rename = "t")]
    pub signed_in_at: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("signed_in_at", &self.signed_in_at)
            .field("refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// A sign-in in progress, from the redirect to the provider to the callback.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginState {
    /// The `state` sent to the provider, which the callback must bring back.
    #[serde(rename = "s")]
    pub state: String,
    /// The PKCE `code_verifier`.
    #[serde(rename = "v")]
    pub verifier: String,
    /// The `nonce` the id token must carry.
    #[serde(rename = "n")]
    pub nonce: String,
    /// Where the browser goes after signing in (a same-origin relative path).
    #[serde(rename = "p")]
    pub return_to: String,
    /// The `redirect_uri` sent (the token request must repeat it).
    #[serde(rename = "u")]
    pub redirect_uri: String,
    /// When the sign-in started (unix seconds).
    #[serde(rename = "t")]
    pub started_at: u64,
}

impl std::fmt::Debug for LoginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginState")
            .field("return_to", &self.return_to)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}
