//! Verified-token cache: the whole token text -> its verification result.
//!
//! An entry is served only while its `exp` (plus leeway) has not passed and while its
//! issuer's key set is the very snapshot it was verified with; after any key rotation
//! the token is verified again, so a removed key stops validating cached tokens.

use std::sync::{Arc, Weak};

use quick_cache::UnitWeighter;
use quick_cache::sync::{Cache, DefaultLifecycle};

use super::Verified;
use crate::jwks::{KeySet, KeyStore};

#[derive(Clone)]
struct Entry {
    verified: Verified,
    /// Weak: an entry must not keep an old key set alive, yet the allocation it points
    /// to stays reserved while the weak exists, so pointer equality cannot be fooled by
    /// a new set reusing the address.
    keys: Weak<KeySet>,
}

/// Bounded cache of verified tokens (quick_cache, randomly seeded hasher).
///
/// Hashed with foldhash rather than quick_cache's default ahash: every lookup hashes a
/// whole token (~1 KB), and without AES instructions enabled at build time ahash falls
/// back to a slower hash (benches/RESULTS.md, 2026-12-04, f71b665). Seeded at random per process, so collisions cannot be
/// planned; and only verified tokens are stored.
pub(crate) struct TokenCache {
    entries: Cache<Arc<str>, Entry, UnitWeighter, Hasher>,
}

type Hasher = foldhash::fast::RandomState;

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> TokenCache {
        TokenCache {
            entries: Cache::with(
                capacity,
                capacity as u64,
                UnitWeighter,
                Hasher::default(),
                DefaultLifecycle::default(),
            ),
        }
    }

    /// A still-valid entry for exactly this token text.
    pub(crate) fn get(
        &self,
        token: &str,
        keys: &KeyStore,
        now: f64,
        leeway: f64,
    ) -> Option<Verified> {
        let entry = self.entries.get(token)?;
        let current = keys.get(entry.verified.issuer_idx);
        let same_keys =
            current.is_some_and(|set| std::ptr::eq(entry.keys.as_ptr(), Arc::as_ptr(&set)));
        if !same_keys || entry.verified.claims.exp.0 + leeway <= now {
            self.entries.remove(token);
            return None;
        }
        Some(entry.verified)
    }

    pub(crate) fn insert(&self, token: Arc<str>, verified: &Verified, keys: &Arc<KeySet>) {
        let entry = Entry {
            verified: verified.clone(),
            keys: Arc::downgrade(keys),
        };
        self.entries.insert(token, entry);
    }

    pub(crate) fn clear(&self) {
        self.entries.clear();
    }
}
