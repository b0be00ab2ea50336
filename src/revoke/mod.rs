//! Revocation: refusing tokens that are still cryptographically valid.
//!
//! Threat defended against: a Cognito access token stays valid for its whole life (an
//! hour by default) after the user signs out everywhere, is disabled, or has a refresh
//! token revoked. cognigate refuses such a token at the edge:
//! - **Deny entries** by `jti`, `origin_jti`, or `sub` + `before` (what `GlobalSignOut`
//!   means), from the watched revocation file, the admin API, and browser logout
//!   ([`Revocations::revoke_origin_jti`]). They apply to cached tokens too (the check
//!   runs after the verifier, cached or not), and fail closed: an entry loaded is an
//!   entry enforced. The request path reads one immutable [`DenySet`] per source behind
//!   one `ArcSwap`: no lock, no allocation.
//! - **The online check** ([`Online`]): Cognito's `GetUser`, at most once per
//!   `origin_jti` per `online_ttl`; fail open (the last answer stands) when Cognito
//!   cannot be reached, logged and counted, so that an outage of Cognito is not one of
//!   every API behind cognigate.

mod entry;
mod getuser;
mod online;
mod set;

pub use entry::{Entry, EntryError, ParsedFile, parse_file};
pub use getuser::{Unreachable, Verdict};
pub use online::{MAX_CALLS, Online, OnlineOutcome, RETRY_AFTER};
pub use set::{DenySet, TokenIds};

use crate::telemetry::Metrics;
use arc_swap::ArcSwap;
use std::path::Path;
use std::sync::Arc;

/// Reads and parses the revocation file at `path` (see [`parse_file`]).
///
/// # Errors
///
/// The file cannot be read (or is not UTF-8): one line naming it and why.
pub fn load_file(path: &Path) -> Result<ParsedFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("revocation.file: cannot read {}: {e}", path.display()))?;
    Ok(parse_file(&text))
}

/// Why a token is revoked (its message is the client's `error_description`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Revoked {
    /// Its `jti` is denied.
    #[error("token revoked")]
    Jti,
    /// Its `origin_jti` (its sign-in) is denied.
    #[error("token revoked")]
    OriginJti,
    /// Its user signed out (`sub` + `before`) after it was issued.
    #[error("token revoked")]
    Sub,
    /// Cognito's `GetUser` refused it.
    #[error("token revoked")]
    Online,
}

impl Revoked {
    /// What matched, for logs and `explain`: `jti`, `origin_jti`, `sub` or `online`.
    pub fn kind(&self) -> &'static str {
        match self {
            Revoked::Jti => "jti",
            Revoked::OriginJti => "origin_jti",
            Revoked::Sub => "sub",
            Revoked::Online => "online",
        }
    }
}

/// The two sources of deny entries, swapped together.
#[derive(Debug, Default)]
struct Lists {
    /// The revocation file, as last loaded.
    file: Arc<DenySet>,
    /// Added at run time (admin API, logout); kept until restart.
    memory: Arc<DenySet>,
}

/// The process's revocation state: deny lists and online answers. It outlives config
/// reloads (it lives in `app`, and the request path borrows it from the `Gate`).
#[derive(Debug)]
pub struct Revocations {
    lists: ArcSwap<Lists>,
    online: Online,
    metrics: Arc<Metrics>,
}

impl Revocations {
    /// No entries yet; counts go to `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Revocations {
        let revocations = Revocations {
            lists: ArcSwap::from_pointee(Lists::default()),
            online: Online::new(),
            metrics,
        };
        revocations.publish();
        revocations
    }

    /// Whether the token is denied by an entry. Lock-free and allocation-free: one
    /// `ArcSwap` load and at most three hash lookups per source.
    #[inline]
    pub fn check(&self, token: TokenIds<'_>) -> Result<(), Revoked> {
        let lists = self.lists.load();
        lists.file.check(token)?;
        lists.memory.check(token)
    }

    /// Replaces the file's entries (a (re)load of the revocation file).
    pub fn set_file(&self, set: DenySet) {
        let file = Arc::new(set);
        self.lists.rcu(|lists| Lists {
            file: file.clone(),
            memory: lists.memory.clone(),
        });
        self.publish();
    }

    /// Adds `entry` to the in-memory list (kept until restart); false when it was
    /// already there. Off the request path: copies the in-memory list (small).
    pub fn add(&self, entry: &Entry) -> bool {
        let mut added = false;
        self.lists.rcu(|lists| {
            let mut memory = DenySet::clone(&lists.memory);
            added = memory.insert(entry);
            Lists {
                file: lists.file.clone(),
                memory: Arc::new(memory),
            }
        });
        self.publish();
        added
    }

    /// Refuses, from now on, every token of the sign-in `origin_jti` (its access, id and
    /// refreshed tokens alike): what logging out of a browser session calls.
    pub fn revoke_origin_jti(&self, origin_jti: &str) -> bool {
        self.add(&Entry::OriginJti {
            origin_jti: origin_jti.to_owned(),
        })
    }

    /// Every entry, `(from the file, added at run time)`.
    pub fn entries(&self) -> (Vec<Entry>, Vec<Entry>) {
        let lists = self.lists.load();
        (
            lists.file.entries().collect(),
            lists.memory.entries().collect(),
        )
    }

    /// Entries in force, by kind: `[jti, origin_jti, sub]`.
    pub fn counts(&self) -> [usize; 3] {
        let lists = self.lists.load();
        let (f, m) = (lists.file.counts(), lists.memory.counts());
        [f[0] + m[0], f[1] + m[1], f[2] + m[2]]
    }

    /// The online checker.
    pub fn online(&self) -> &Online {
        &self.online
    }

    /// The metrics the online check counts into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn publish(&self) {
        self.metrics.set_revocations(self.counts());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids<'a>(jti: &'a str, origin: &'a str) -> TokenIds<'a> {
        TokenIds {
            jti: Some(jti),
            origin_jti: Some(origin),
            sub: "u",
            iat: Some(10.0),
        }
    }

    #[test]
    fn file_and_memory_entries_both_apply_and_a_file_reload_keeps_memory() {
        let r = Revocations::new(Arc::new(Metrics::new()));
        assert_eq!(r.check(ids("j", "o")), Ok(()));
        assert!(r.revoke_origin_jti("o"));
        assert!(!r.revoke_origin_jti("o"), "already there");
        assert_eq!(r.check(ids("j", "o")), Err(Revoked::OriginJti));
        r.set_file(DenySet::from_entries(&[Entry::Jti { jti: "j".into() }]));
        assert_eq!(r.check(ids("j", "x")), Err(Revoked::Jti));
        assert_eq!(r.check(ids("k", "o")), Err(Revoked::OriginJti));
        r.set_file(DenySet::default());
        assert_eq!(r.check(ids("j", "x")), Ok(()));
        assert_eq!(r.counts(), [0, 1, 0]);
        let (file, memory) = r.entries();
        assert!(file.is_empty());
        assert_eq!(memory.len(), 1);
    }
}
