//! The deny set: immutable once built, looked up by borrowed `&str` (no allocation),
//! swapped whole when its source changes.

use std::collections::{HashMap, HashSet};

use super::{Entry, Revoked};
use crate::verify::Claims;

/// What the deny set looks at in a token.
#[derive(Debug, Clone, Copy)]
pub struct TokenIds<'a> {
    /// `jti`.
    pub jti: Option<&'a str>,
    /// `origin_jti`.
    pub origin_jti: Option<&'a str>,
    /// `sub`.
    pub sub: &'a str,
    /// `iat`, unix seconds.
    pub iat: Option<f64>,
}

impl<'a> TokenIds<'a> {
    /// The ids of verified `claims`.
    pub fn of(claims: &'a Claims) -> TokenIds<'a> {
        TokenIds {
            jti: claims.jti(),
            origin_jti: claims.origin_jti(),
            sub: claims.sub(),
            iat: claims.iat().map(|d| d.0),
        }
    }
}

/// Randomly seeded per process (foldhash, as the token cache): ids come from tokens and
/// files we do not control, so collisions cannot be planned.
type Hasher = foldhash::fast::RandomState;

/// Every entry of one source (the file, or what was added at run time), indexed.
#[derive(Debug, Clone, Default)]
pub struct DenySet {
    jti: HashSet<Box<str>, Hasher>,
    origin_jti: HashSet<Box<str>, Hasher>,
    /// `sub` -> the latest `before` given for it.
    sub_before: HashMap<Box<str>, u64, Hasher>,
}

impl DenySet {
    /// The set of `entries`.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> DenySet {
        let mut set = DenySet::default();
        for entry in entries {
            set.insert(entry);
        }
        set
    }

    /// Adds `entry`; false if it was already there (for `sub`, if an equal or later
    /// `before` was).
    pub fn insert(&mut self, entry: &Entry) -> bool {
        match entry {
            Entry::Jti { jti } => self.jti.insert(jti.as_str().into()),
            Entry::OriginJti { origin_jti } => self.origin_jti.insert(origin_jti.as_str().into()),
            Entry::SubBefore { sub, before } => match self.sub_before.get_mut(sub.as_str()) {
                Some(at) if *at >= *before => false,
                Some(at) => {
                    *at = *before;
                    true
                }
                None => {
                    self.sub_before.insert(sub.as_str().into(), *before);
                    true
                }
            },
        }
    }

    /// Whether a token with these claims is revoked. A token of a `sub` with a `before`
    /// and no `iat` is revoked: nothing shows it was issued after. Never allocates.
    #[inline]
    pub fn check(&self, token: TokenIds<'_>) -> Result<(), Revoked> {
        if self.is_empty() {
            return Ok(());
        }
        if let Some(jti) = token.jti
            && self.jti.contains(jti)
        {
            return Err(Revoked::Jti);
        }
        if let Some(origin) = token.origin_jti
            && self.origin_jti.contains(origin)
        {
            return Err(Revoked::OriginJti);
        }
        if let Some(&before) = self.sub_before.get(token.sub)
            && token.iat.is_none_or(|iat| iat < before as f64)
        {
            return Err(Revoked::Sub);
        }
        Ok(())
    }

    /// No entries at all.
    pub fn is_empty(&self) -> bool {
        self.jti.is_empty() && self.origin_jti.is_empty() && self.sub_before.is_empty()
    }

    /// Entries by kind: `[jti, origin_jti, sub]`.
    pub fn counts(&self) -> [usize; 3] {
        [self.jti.len(), self.origin_jti.len(), self.sub_before.len()]
    }

    /// Every entry (for `GET /revocations`), in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        let jti = (self.jti.iter()).map(|j| Entry::Jti { jti: j.to_string() });
        let origin = (self.origin_jti.iter()).map(|o| Entry::OriginJti {
            origin_jti: o.to_string(),
        });
        let sub = (self.sub_before.iter()).map(|(s, b)| Entry::SubBefore {
            sub: s.to_string(),
            before: *b,
        });
        jti.chain(origin).chain(sub)
    }

    /// Heap bytes held, estimated from the tables' capacities (hashbrown: one slot and
    /// one control byte per bucket, buckets = capacity * 8 / 7 rounded up to a power of
    /// two) and each id's own allocation.
    pub fn heap_bytes(&self) -> usize {
        fn table(capacity: usize, slot: usize) -> usize {
            let buckets = (capacity * 8 / 7).max(1).next_power_of_two();
            buckets * (slot + 1)
        }
        let ids = |set: &HashSet<Box<str>, Hasher>| set.iter().map(|s| s.len()).sum::<usize>();
        let box_str = size_of::<Box<str>>();
        table(self.jti.capacity(), box_str)
            + ids(&self.jti)
            + table(self.origin_jti.capacity(), box_str)
            + ids(&self.origin_jti)
            + table(self.sub_before.capacity(), box_str + size_of::<u64>())
            + self.sub_before.keys().map(|s| s.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims<'a>(
        sub: &'a str,
        jti: &'a str,
        origin: Option<&'a str>,
        iat: Option<f64>,
    ) -> TokenIds<'a> {
        TokenIds {
            jti: Some(jti),
            origin_jti: origin,
            sub,
            iat,
        }
    }

    #[test]
    fn each_kind_of_entry_refuses_its_tokens_only() {
        let entries = [
            Entry::Jti { jti: "j1".into() },
            Entry::OriginJti {
                origin_jti: "o1".into(),
            },
            Entry::SubBefore {
                sub: "u1".into(),
                before: 1000,
            },
        ];
        let set = DenySet::from_entries(&entries);
        assert_eq!(set.counts(), [1, 1, 1]);
        let ok = claims("u2", "j2", Some("o2"), Some(10.0));
        assert_eq!(set.check(ok), Ok(()));
        assert_eq!(
            set.check(claims("u2", "j1", None, Some(10.0))),
            Err(Revoked::Jti)
        );
        assert_eq!(
            set.check(claims("u2", "j2", Some("o1"), Some(10.0))),
            Err(Revoked::OriginJti)
        );
        assert_eq!(
            set.check(claims("u1", "j2", None, Some(999.0))),
            Err(Revoked::Sub)
        );
        assert_eq!(set.check(claims("u1", "j2", None, Some(1000.0))), Ok(()));
        assert_eq!(
            set.check(claims("u1", "j2", None, None)),
            Err(Revoked::Sub),
            "no iat: fail closed"
        );
    }

    #[test]
    fn a_later_before_replaces_an_earlier_one_never_the_reverse() {
        let mut set = DenySet::default();
        let at = |before| Entry::SubBefore {
            sub: "u".into(),
            before,
        };
        assert!(set.insert(&at(100)));
        assert!(set.insert(&at(200)));
        assert!(!set.insert(&at(150)));
        assert_eq!(
            set.check(claims("u", "j", None, Some(199.0))),
            Err(Revoked::Sub)
        );
        assert_eq!(set.entries().count(), 1);
        assert!(set.heap_bytes() > 0);
    }
}
