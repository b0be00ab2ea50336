//! Verified-token cache: the SHA-256 digest of the token text -> its verification result.
//!
//! An entry is served only while its `exp` (plus leeway) has not passed and while its
//! issuer's key set is the very snapshot it was verified with; after any key rotation
//! the token is verified again, so a removed key stops validating cached tokens.
//!
//! Keyed by a cryptographic digest, not the text: a cached token costs 32 bytes of key
//! instead of its ~1 KB, and two tokens share an entry only if SHA-256 collides.

use std::sync::{Arc, Weak};

use aws_lc_rs::digest;
use quick_cache::Weighter;
use quick_cache::sync::{Cache, DefaultLifecycle};

use super::Verified;
use crate::config::CacheSize;
use crate::jwks::{KeySet, KeyStore};

/// The SHA-256 digest of a token's text.
pub(crate) type Key = [u8; 32];

/// What one entry costs besides its claims: its slot in quick_cache (key, value, hash
/// and links), the table's index to it, and the ghost slots (hashes of recently
/// evicted keys, up to half as many as entries) it brings with it.
const SLOT_BYTES: usize = 3 * std::mem::size_of::<(Key, Entry)>() / 2 + 64;

/// The entry count quick_cache sizes its ghost list by, for a byte bound: about what a
/// 900-byte Cognito access token's entry weighs (benches/RESULTS.md, issue 26).
const TYPICAL_ENTRY_BYTES: u64 = 700;

#[derive(Clone)]
struct Entry {
    verified: Verified,
    /// Weak: an entry must not keep an old key set alive, yet the allocation it points
    /// to stays reserved while the weak exists, so pointer equality cannot be fooled by
    /// a new set reusing the address.
    keys: Weak<KeySet>,
    /// What the entry counts against the bound: 1 (an entry count), or its bytes.
    weight: u32,
}

/// Reads [`Entry::weight`], computed once at insert (quick_cache calls the weighter on
/// its eviction path).
#[derive(Clone)]
struct EntryWeight;

impl Weighter<Key, Entry> for EntryWeight {
    fn weight(&self, _key: &Key, entry: &Entry) -> u64 {
        u64::from(entry.weight)
    }
}

/// Bounded cache of verified tokens (quick_cache, randomly seeded hasher), by entry
/// count or by the bytes the entries hold.
///
/// Hashed with foldhash (benches/RESULTS.md, 2026-12-04, f71b665), seeded at random
/// per process; the key is already a digest, and only verified tokens are stored.
pub(crate) struct TokenCache {
    entries: Cache<Key, Entry, EntryWeight, Hasher>,
    by_bytes: bool,
}

type Hasher = foldhash::fast::RandomState;

impl TokenCache {
    /// `None` when `size` is zero (the cache is off).
    pub(crate) fn new(size: CacheSize) -> Option<TokenCache> {
        let (items, weight, by_bytes) = match size {
            _ if size.is_off() => return None,
            CacheSize::Entries(n) => (n, n, false),
            CacheSize::Bytes(b) => ((b / TYPICAL_ENTRY_BYTES).max(1), b, true),
        };
        let items = usize::try_from(items).unwrap_or(usize::MAX);
        let entries = Cache::with(
            items,
            weight,
            EntryWeight,
            Hasher::default(),
            DefaultLifecycle::default(),
        );
        Some(TokenCache { entries, by_bytes })
    }

    /// The key of `token`'s entry (`None` never happens: SHA-256 is 32 bytes; were it
    /// to, the token would go uncached rather than share a key).
    pub(crate) fn key(token: &str) -> Option<Key> {
        let digest = digest::digest(&digest::SHA256, token.as_bytes());
        Key::try_from(digest.as_ref()).ok()
    }

    /// A still-valid entry for the token whose key is `key`.
    pub(crate) fn get(
        &self,
        key: &Key,
        keys: &KeyStore,
        now: f64,
        leeway: f64,
    ) -> Option<Verified> {
        let entry = self.entries.get(key)?;
        let current = keys.get(entry.verified.issuer_idx);
        let same_keys =
            current.is_some_and(|set| std::ptr::eq(entry.keys.as_ptr(), Arc::as_ptr(&set)));
        if !same_keys || entry.verified.claims.exp().0 + leeway <= now {
            self.entries.remove(key);
            return None;
        }
        Some(entry.verified)
    }

    pub(crate) fn insert(&self, key: Key, verified: &Verified, keys: &Arc<KeySet>) {
        // Each allocation is rounded up to jemalloc's next size class (classes are at
        // most 25 % apart): an eighth more, as measured (benches/RESULTS.md, issue 26).
        let weight = match self.by_bytes {
            true => (SLOT_BYTES + verified.claims.memory()) * 9 / 8,
            false => 1,
        };
        let entry = Entry {
            verified: verified.clone(),
            keys: Arc::downgrade(keys),
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
        };
        self.entries.insert(key, entry);
    }

    pub(crate) fn clear(&self) {
        self.entries.clear();
    }

    /// The entries held, and what they weigh (entries, or bytes).
    #[cfg(test)]
    pub(crate) fn usage(&self) -> (usize, u64) {
        (self.entries.len(), self.entries.weight())
    }
}
