//! What the stand-in remembers between requests: issued authorization codes, refresh
//! tokens, revoked token lineages (`origin_jti`) and signed-in browser sessions.
//!
//! Everything is in memory and bounded: expired entries are dropped on each insert,
//! and when a map is still full an arbitrary entry makes room (a dev stand-in must not
//! grow without end, and losing a stale entry only means signing in again).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long an authorization code can be redeemed (Cognito: 5 minutes).
pub(crate) const CODE_TTL: Duration = Duration::from_secs(300);
/// How long a browser stays signed in at the stand-in without signing in again.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most entries each map holds.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// Who signed in, and how: what every token of one sign-in shares.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    /// Index into the configured users.
    pub(crate) user: usize,
    /// Granted scopes, space separated.
    pub(crate) scope: String,
    /// `auth_time`: when the user signed in (unix seconds).
    pub(crate) auth_time: u64,
    /// The `resource` asked for (RFC 8707; Cognito's resource binding): the access
    /// tokens' `aud`.
    pub(crate) resource: Option<String>,
}

/// An issued authorization code.
#[derive(Debug)]
pub(crate) struct Code {
    /// The client it was issued to.
    pub(crate) client_id: String,
    /// The `redirect_uri` of the authorize request; the token request must repeat it.
    pub(crate) redirect_uri: String,
    /// The sign-in.
    pub(crate) grant: Grant,
    /// `nonce` of the authorize request, for the id token.
    pub(crate) nonce: Option<String>,
    /// The S256 `code_challenge`, when PKCE was used.
    pub(crate) challenge: Option<String>,
    /// After this the code is refused.
    pub(crate) expires: Instant,
    /// The `origin_jti` of the tokens it was redeemed for: `Some` once used, and a
    /// replay revokes that lineage.
    pub(crate) redeemed: Option<String>,
}

/// A live refresh token.
#[derive(Debug, Clone)]
pub(crate) struct Refresh {
    /// The client it was issued to.
    pub(crate) client_id: String,
    /// The sign-in.
    pub(crate) grant: Grant,
    /// The lineage: every token issued from this sign-in carries it.
    pub(crate) origin_jti: String,
}

/// A browser signed in at the stand-in (its `cognito` cookie).
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Index into the configured users.
    pub(crate) user: usize,
    /// When the user picked themselves (unix seconds).
    pub(crate) auth_time: u64,
    /// After this the cookie is ignored.
    pub(crate) expires: Instant,
}

/// The stand-in's whole memory.
#[derive(Debug, Default)]
pub(crate) struct Store {
    codes: HashMap<String, Code>,
    refresh: HashMap<String, Refresh>,
    revoked: HashSet<String>,
    sessions: HashMap<String, Session>,
}

/// What a redeemed code carried.
#[derive(Debug)]
pub(crate) struct Redeemed {
    /// The client it was issued to.
    pub(crate) client_id: String,
    /// The `redirect_uri` it was issued for.
    pub(crate) redirect_uri: String,
    /// The sign-in.
    pub(crate) grant: Grant,
    /// `nonce` of the authorize request.
    pub(crate) nonce: Option<String>,
    /// The S256 `code_challenge`, when PKCE was used.
    pub(crate) challenge: Option<String>,
}

/// Why a code cannot be redeemed (each is `invalid_grant` on the wire).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CodeError {
    /// Never issued, or expired and dropped.
    Unknown,
    /// Already redeemed: its lineage has now been revoked.
    Replayed,
    /// Past its 5 minutes.
    Expired,
}

impl Store {
    /// Remembers a new code.
    pub(crate) fn insert_code(&mut self, code: String, entry: Code) {
        let now = Instant::now();
        self.codes.retain(|_, c| c.expires > now);
        make_room(&mut self.codes);
        self.codes.insert(code, entry);
    }

    /// Takes `code` for redemption: on success it is marked used (with the lineage
    /// `origin_jti` it is being redeemed for) and a copy of what it carries is returned.
    /// A second redemption revokes that lineage and fails.
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        origin_jti: &str,
    ) -> Result<Redeemed, CodeError> {
        let Some(entry) = self.codes.get_mut(code) else {
            return Err(CodeError::Unknown);
        };
        if let Some(lineage) = entry.redeemed.clone() {
            self.revoke_lineage(&lineage);
            return Err(CodeError::Replayed);
        }
        if entry.expires <= Instant::now() {
            return Err(CodeError::Expired);
        }
        entry.redeemed = Some(origin_jti.to_owned());
        Ok(Redeemed {
            client_id: entry.client_id.clone(),
            redirect_uri: entry.redirect_uri.clone(),
            grant: entry.grant.clone(),
            nonce: entry.nonce.clone(),
            challenge: entry.challenge.clone(),
        })
    }

    /// Remembers a refresh token.
    pub(crate) fn insert_refresh(&mut self, token: String, entry: Refresh) {
        make_room(&mut self.refresh);
        self.refresh.insert(token, entry);
    }

    /// The refresh token's grant, unless unknown or its lineage was revoked.
    pub(crate) fn refresh(&self, token: &str) -> Option<&Refresh> {
        self.refresh
            .get(token)
            .filter(|r| !self.revoked.contains(&r.origin_jti))
    }

    /// Forgets one refresh token (rotation: the old one stops working).
    pub(crate) fn remove_refresh(&mut self, token: &str) -> Option<Refresh> {
        self.refresh.remove(token)
    }

    /// Revokes a lineage: its refresh tokens are forgotten and its access tokens are
    /// refused at `userInfo`.
    pub(crate) fn revoke_lineage(&mut self, origin_jti: &str) {
        self.refresh.retain(|_, r| r.origin_jti != origin_jti);
        if self.revoked.len() >= MAX_ENTRIES
            && let Some(any) = self.revoked.iter().next().cloned()
        {
            self.revoked.remove(&any);
        }
        self.revoked.insert(origin_jti.to_owned());
    }

    /// Whether tokens of this lineage were revoked.
    pub(crate) fn is_revoked(&self, origin_jti: &str) -> bool {
        self.revoked.contains(origin_jti)
    }

    /// Remembers a signed-in browser.
    pub(crate) fn insert_session(&mut self, id: String, session: Session) {
        let now = Instant::now();
        self.sessions.retain(|_, s| s.expires > now);
        make_room(&mut self.sessions);
        self.sessions.insert(id, session);
    }

    /// The live session with this cookie value.
    pub(crate) fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id).filter(|s| s.expires > Instant::now())
    }

    /// Signs a browser out.
    pub(crate) fn remove_session(&mut self, id: &str) {
        self.sessions.remove(id);
    }
}

/// Drops an arbitrary entry when `map` is full.
fn make_room<V>(map: &mut HashMap<String, V>) {
    if map.len() >= MAX_ENTRIES
        && let Some(any) = map.keys().next().cloned()
    {
        map.remove(&any);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            user: 0,
            scope: "openid".into(),
            auth_time: 1,
            resource: None,
        }
    }

    fn code(expires: Instant) -> Code {
        Code {
            client_id: "c".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            grant: grant(),
            nonce: None,
            challenge: None,
            expires,
            redeemed: None,
        }
    }

    #[test]
    fn a_code_redeems_once_and_a_replay_revokes_its_lineage() {
        let mut s = Store::default();
        s.insert_code("k".into(), code(Instant::now() + CODE_TTL));
        assert!(s.redeem_code("k", "o1").is_ok());
        s.insert_refresh(
            "r".into(),
            Refresh {
                client_id: "c".into(),
                grant: grant(),
                origin_jti: "o1".into(),
            },
        );
        assert!(s.refresh("r").is_some());
        assert_eq!(s.redeem_code("k", "o2").unwrap_err(), CodeError::Replayed);
        assert!(s.refresh("r").is_none());
        assert!(s.is_revoked("o1"));
        assert_eq!(s.redeem_code("nope", "o3").unwrap_err(), CodeError::Unknown);
    }

    #[test]
    fn expired_codes_fail_and_maps_stay_bounded() {
        let mut s = Store::default();
        s.insert_code("old".into(), code(Instant::now()));
        assert_eq!(s.redeem_code("old", "o").unwrap_err(), CodeError::Expired);
        for i in 0..MAX_ENTRIES + 10 {
            s.insert_code(format!("c{i}"), code(Instant::now() + CODE_TTL));
            s.insert_session(
                format!("s{i}"),
                Session {
                    user: 0,
                    auth_time: 0,
                    expires: Instant::now() + SESSION_TTL,
                },
            );
        }
        assert!(s.codes.len() <= MAX_ENTRIES);
        assert!(s.sessions.len() <= MAX_ENTRIES);
    }
}
