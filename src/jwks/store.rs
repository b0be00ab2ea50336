//! The current key set of every issuer, read lock-free on the request path.
//!
//! Each issuer (by its index in the configured issuer list) has one `ArcSwapOption`
//! written only by its refresh task. An unknown `kid` may ask that task for an early
//! refetch, at most once per `min_refetch_interval` per issuer however many tokens with
//! made-up kids arrive (aws-jwt-verify's "penalty box"): the gate is a single
//! compare-and-swap on a timestamp, so the request path never waits on a lock.
//!
//! A config reload builds a [`KeyStore::successor`] for the new issuer list: an issuer
//! whose settings did not change shares its slot (key set, refetch gate, refresh task)
//! with the old store, so a reload causes no refetch storm and the index space of the
//! store always matches the issuer list of the snapshot that holds it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tokio::sync::{Notify, watch};

use super::KeySet;

/// Key sets of all issuers plus the state of their refreshes.
#[derive(Debug)]
pub struct KeyStore {
    /// Shared (`Arc`) so that a successor store can adopt a slot whole.
    slots: Box<[Arc<Slot>]>,
    min_refetch_ms: u64,
    epoch: Instant,
}

#[derive(Debug)]
struct Slot {
    set: ArcSwapOption<KeySet>,
    /// Milliseconds since `epoch` before which no unknown-kid refetch is granted.
    next_refetch_ms: AtomicU64,
    /// How many unknown-kid refetches have been granted.
    granted: AtomicU64,
    /// Wakes the refresh task early.
    wake: Notify,
    /// The highest `granted` count a completed fetch attempt has covered.
    served: watch::Sender<u64>,
    ok: AtomicU64,
    err: AtomicU64,
}

/// Refresh counters of one issuer, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshStats {
    /// Successful fetches.
    pub ok: u64,
    /// Failed fetches (the last good set, if any, was kept).
    pub err: u64,
    /// Keys in the current set (0 before the first success).
    pub keys: usize,
}

/// How a slot of a [`KeyStore::successor`] starts, by the old store's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// The very same slot: the issuer is unchanged and its refresh task keeps running.
    Share(usize),
    /// A new slot that starts with the old slot's current key set (same JWKS, other
    /// settings changed): requests keep verifying while the new task refetches.
    Seed(usize),
    /// A new, empty slot (a new issuer).
    Fresh,
}

/// The answer to an unknown-kid refetch request.
#[derive(Debug)]
#[must_use = "a granted refetch can be awaited before verifying again"]
pub struct RefetchTicket(Option<(watch::Receiver<u64>, u64)>);

impl RefetchTicket {
    /// Whether a refetch was triggered (false: rate-limited; fail with unknown kid now).
    pub fn is_granted(&self) -> bool {
        self.0.is_some()
    }

    /// Waits, at most `timeout`, for the triggered refetch to complete (successfully or
    /// not). Returns false at once if none was granted, or if the wait timed out.
    pub async fn wait(self, timeout: Duration) -> bool {
        let Some((mut rx, target)) = self.0 else {
            return false;
        };
        let done = rx.wait_for(|served| *served >= target);
        matches!(tokio::time::timeout(timeout, done).await, Ok(Ok(_)))
    }
}

impl KeyStore {
    /// An empty store for `issuer_count` issuers; index `i` is `issuers[i]` of the config.
    pub fn new(issuer_count: usize, min_refetch_interval: Duration) -> KeyStore {
        let slots = (0..issuer_count).map(|_| Arc::new(Slot::new())).collect();
        KeyStore {
            slots,
            min_refetch_ms: millis(min_refetch_interval),
            epoch: Instant::now(),
        }
    }

    /// A store for a reloaded issuer list: slot `i` is built as `plan[i]` says from this
    /// store's slots. The clock is kept, so a shared slot's refetch gate stays exact.
    pub fn successor(&self, plan: &[Carry], min_refetch_interval: Duration) -> KeyStore {
        let slots = plan
            .iter()
            .map(|carry| match *carry {
                Carry::Share(old) => self.slots.get(old).cloned(),
                Carry::Seed(old) => Some(Arc::new(Slot::seeded(self.get(old)))),
                Carry::Fresh => None,
            })
            .map(|slot| slot.unwrap_or_else(|| Arc::new(Slot::new())))
            .collect();
        KeyStore {
            slots,
            min_refetch_ms: millis(min_refetch_interval),
            epoch: self.epoch,
        }
    }

    /// The current key set of issuer `idx`; `None` until one has loaded.
    pub fn get(&self, idx: usize) -> Option<Arc<KeySet>> {
        self.slots.get(idx)?.set.load_full()
    }

    /// Atomically replaces issuer `idx`'s key set (the refresh task, the demo, tests).
    pub fn replace(&self, idx: usize, set: KeySet) {
        if let Some(slot) = self.slots.get(idx) {
            slot.set.store(Some(Arc::new(set)));
        }
    }

    /// True once every issuer has a key set (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.slots.iter().all(|slot| slot.set.load().is_some())
    }

    /// Number of issuers.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if the store has no issuers.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Refresh counters and key count of issuer `idx`.
    pub fn stats(&self, idx: usize) -> Option<RefreshStats> {
        let slot = self.slots.get(idx)?;
        Some(RefreshStats {
            ok: slot.ok.load(Ordering::Relaxed),
            err: slot.err.load(Ordering::Relaxed),
            keys: slot.set.load().as_ref().map_or(0, |set| set.len()),
        })
    }

    /// Asks issuer `idx`'s refresh task for an early refetch because a token named a
    /// kid its set lacks. Granted at most once per `min_refetch_interval`; callers that
    /// lose get an ungranted ticket and should fail with unknown kid at once.
    pub fn refetch_for_unknown_kid(&self, idx: usize) -> RefetchTicket {
        self.refetch_at(idx, Instant::now())
    }

    /// [`Self::refetch_for_unknown_kid`] with an explicit clock, for tests.
    pub(crate) fn refetch_at(&self, idx: usize, now: Instant) -> RefetchTicket {
        let Some(slot) = self.slots.get(idx) else {
            return RefetchTicket(None);
        };
        let now_ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        let next = slot.next_refetch_ms.load(Ordering::Acquire);
        let reopen = now_ms.saturating_add(self.min_refetch_ms);
        let won = now_ms >= next
            && slot
                .next_refetch_ms
                .compare_exchange(next, reopen, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        if !won {
            return RefetchTicket(None);
        }
        // Subscribe before waking the task so the completion cannot be missed.
        let rx = slot.served.subscribe();
        let target = slot.granted.fetch_add(1, Ordering::AcqRel) + 1;
        slot.wake.notify_one();
        RefetchTicket(Some((rx, target)))
    }

    /// For the refresh task: the grant count a fetch starting now will cover.
    pub(crate) fn granted(&self, idx: usize) -> u64 {
        self.slots
            .get(idx)
            .map_or(0, |slot| slot.granted.load(Ordering::Acquire))
    }

    /// For the refresh task: records one fetch outcome and releases waiting tickets.
    pub(crate) fn record(&self, idx: usize, covered: u64, set: Option<KeySet>) {
        let Some(slot) = self.slots.get(idx) else {
            return;
        };
        match set {
            Some(set) => {
                // An unchanged set keeps its identity: the verified-token cache holds
                // entries only for the set they were verified with.
                match slot.set.load().as_deref() {
                    Some(current) if current.same_keys(&set) => current.confirm(&set),
                    _ => slot.set.store(Some(Arc::new(set))),
                }
                slot.ok.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                slot.err.fetch_add(1, Ordering::Relaxed);
            }
        }
        slot.served
            .send_modify(|served| *served = (*served).max(covered));
    }

    /// For the refresh task: sleeps `delay` or until an unknown-kid refetch is granted.
    pub(crate) async fn sleep_or_wake(&self, idx: usize, delay: Duration) {
        let Some(slot) = self.slots.get(idx) else {
            return tokio::time::sleep(delay).await;
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = slot.wake.notified() => {}
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Slot {
    fn seeded(set: Option<Arc<KeySet>>) -> Slot {
        let slot = Slot::new();
        slot.set.store(set);
        slot
    }

    fn new() -> Slot {
        Slot {
            set: ArcSwapOption::empty(),
            next_refetch_ms: AtomicU64::new(0),
            granted: AtomicU64::new(0),
            wake: Notify::new(),
            served: watch::Sender::new(0),
            ok: AtomicU64::new(0),
            err: AtomicU64::new(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testkit;

    const INTERVAL: Duration = Duration::from_secs(30);

    #[test]
    fn hundred_unknown_kids_within_the_interval_trigger_one_refetch() {
        let store = KeyStore::new(2, INTERVAL);
        let t0 = Instant::now();
        let granted = (0..100)
            .map(|i| store.refetch_at(0, t0 + Duration::from_millis(i * 100)))
            .filter(RefetchTicket::is_granted)
            .count();
        assert_eq!(granted, 1);
        assert_eq!(store.granted(0), 1);
        // The other issuer has its own gate.
        assert!(store.refetch_at(1, t0).is_granted());
        // The gate reopens once the interval has passed.
        assert!(
            !store
                .refetch_at(0, t0 + INTERVAL - Duration::from_millis(1))
                .is_granted()
        );
        assert!(
            store
                .refetch_at(0, t0 + INTERVAL + Duration::from_millis(1))
                .is_granted()
        );
        assert!(!store.refetch_at(7, t0).is_granted());
    }

    #[tokio::test]
    async fn ticket_completes_only_when_a_later_fetch_covers_it() {
        let store = KeyStore::new(1, INTERVAL);
        let ticket = store.refetch_for_unknown_kid(0);
        assert!(ticket.is_granted());
        // A fetch that started before the grant (covered = 0) does not release it.
        store.record(0, 0, None);
        let (rx, target) = ticket.0.as_ref().unwrap();
        assert!(*rx.borrow() < *target);
        store.record(0, store.granted(0), Some(testkit::key_set()));
        assert!(ticket.wait(Duration::from_secs(1)).await);
        assert_eq!(
            store.stats(0),
            Some(RefreshStats {
                ok: 1,
                err: 1,
                keys: 1
            })
        );
    }

    #[tokio::test]
    async fn ungranted_ticket_and_timeout_return_false() {
        let store = KeyStore::new(1, INTERVAL);
        let first = store.refetch_for_unknown_kid(0);
        let second = store.refetch_for_unknown_kid(0);
        assert!(!second.wait(Duration::from_secs(1)).await);
        assert!(!first.wait(Duration::from_millis(10)).await);
    }

    #[test]
    fn successor_shares_seeds_and_adds_slots() {
        let old = KeyStore::new(3, INTERVAL);
        old.replace(0, testkit::key_set());
        old.replace(1, testkit::key_set());
        let t0 = Instant::now();
        assert!(old.refetch_at(0, t0).is_granted());
        let plan = [
            Carry::Fresh,
            Carry::Seed(1),
            Carry::Share(0),
            Carry::Share(9),
        ];
        let new = old.successor(&plan, INTERVAL);
        assert_eq!(new.len(), 4);
        assert!(new.get(0).is_none() && new.get(3).is_none());
        assert!(Arc::ptr_eq(&new.get(1).unwrap(), &old.get(1).unwrap()));
        // A shared slot is one slot: its refetch gate and later sets are common.
        assert!(!new.refetch_at(2, t0).is_granted());
        new.replace(2, testkit::key_set());
        assert!(Arc::ptr_eq(&new.get(2).unwrap(), &old.get(0).unwrap()));
        // A seeded slot is its own from then on.
        new.replace(1, testkit::key_set());
        assert!(!Arc::ptr_eq(&new.get(1).unwrap(), &old.get(1).unwrap()));
    }

    #[test]
    fn ready_once_every_issuer_has_a_set() {
        let store = KeyStore::new(2, INTERVAL);
        assert!(!store.is_ready());
        store.replace(0, testkit::key_set());
        assert!(!store.is_ready());
        assert!(store.get(1).is_none());
        store.replace(1, testkit::key_set());
        assert!(store.is_ready());
        let before = store.get(0).unwrap();
        store.replace(0, testkit::key_set());
        assert!(!Arc::ptr_eq(&before, &store.get(0).unwrap()));
    }
}
