//! Per-route request counters and latency histograms: plain atomics laid out by index,
//! so counting a request never takes a lock (docs/reference.md "Metrics"; STYLE rule 4).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Status codes that get a slot of their own, sorted for `binary_search`.
const STATUSES: [(u16, &str); 19] = [
    (200, "200"),
    (201, "201"),
    (204, "204"),
    (301, "301"),
    (302, "302"),
    (304, "304"),
    (400, "400"),
    (401, "401"),
    (403, "403"),
    (404, "404"),
    (405, "405"),
    (408, "408"),
    (413, "413"),
    (429, "429"),
    (431, "431"),
    (500, "500"),
    (502, "502"),
    (503, "503"),
    (504, "504"),
];

/// Where any other code goes: its class, or `other` outside 100..=599. A class label
/// still matches `status=~"5.."`, and needs no lock to add a series at run time.
const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

const STATUS_SLOTS: usize = STATUSES.len() + CLASSES.len();

/// Upper bounds of the latency histogram, in seconds (the `le` labels).
pub(super) const BUCKETS_SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The same bounds in nanoseconds, so a request is bucketed without float maths.
const BUCKETS_NANOS: [u64; 14] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// The slot of a status code in [`RouteCounters::statuses`].
fn status_slot(status: u16) -> usize {
    match STATUSES.binary_search_by_key(&status, |&(code, _)| code) {
        Ok(slot) => slot,
        Err(_) if (100..=599).contains(&status) => STATUSES.len() + usize::from(status / 100 - 1),
        Err(_) => STATUS_SLOTS - 1,
    }
}

/// The `status` label of a slot.
fn status_label(slot: usize) -> &'static str {
    match STATUSES.get(slot) {
        Some(&(_, label)) => label,
        None => CLASSES
            .get(slot - STATUSES.len())
            .copied()
            .unwrap_or("other"),
    }
}

/// One route's counters; shared by every [`RouteSet`] that still has its pattern.
#[derive(Debug)]
pub(super) struct RouteCounters {
    label: String,
    statuses: [AtomicU64; STATUS_SLOTS],
    /// Non-cumulative: one slot per bound, then `+Inf`.
    buckets: [AtomicU64; BUCKETS_NANOS.len() + 1],
    /// Microseconds rather than f64 bits: a plain `fetch_add`, no CAS loop.
    sum_micros: AtomicU64,
}

/// A scrape-time copy of one route's counters.
#[derive(Debug)]
pub(super) struct RouteSnapshot<'a> {
    /// The route pattern, or `none`.
    pub label: &'a str,
    /// `(status label, count)` for every status seen at least once.
    pub statuses: Vec<(&'static str, u64)>,
    /// `(upper bound, non-cumulative count)`, `+Inf` as `f64::MAX` (what the encoder expects).
    pub buckets: Vec<(f64, u64)>,
    /// Total observed seconds.
    pub sum: f64,
    /// Observations, the sum of `buckets` (so `_count` always equals the `+Inf` bucket).
    pub count: u64,
}

impl RouteCounters {
    fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            statuses: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, status: u16, elapsed: Duration) {
        if let Some(slot) = self.statuses.get(status_slot(status)) {
            slot.fetch_add(1, Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        // The first bound >= elapsed: Prometheus buckets are `le` (less than or equal).
        let bucket = BUCKETS_NANOS.partition_point(|&bound| bound < nanos);
        if let Some(slot) = self.buckets.get(bucket) {
            slot.fetch_add(1, Relaxed);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Relaxed);
    }

    pub(super) fn snapshot(&self) -> RouteSnapshot<'_> {
        let statuses = (self.statuses.iter().enumerate())
            .map(|(slot, n)| (status_label(slot), n.load(Relaxed)))
            .filter(|&(_, n)| n > 0)
            .collect();
        let bounds = BUCKETS_SECONDS.iter().copied().chain([f64::MAX]);
        let buckets: Vec<(f64, u64)> = bounds
            .zip(self.buckets.iter().map(|n| n.load(Relaxed)))
            .collect();
        let sum_micros = self.sum_micros.load(Relaxed);
        RouteSnapshot {
            label: &self.label,
            statuses,
            count: buckets.iter().map(|&(_, n)| n).sum(),
            buckets,
            // Precision: exact below 2^53 µs (285 years of cumulative latency).
            sum: sum_micros as f64 / 1e6,
        }
    }
}

/// The request counters of one config's routes, in config order, plus the `none` route.
///
/// A request should count against the set that was current when it was routed: take
/// it with `Metrics::routes` next to the config snapshot, so a reload in the middle of
/// the request cannot shift its route index onto another pattern.
#[derive(Debug)]
pub struct RouteSet {
    by_index: Vec<Arc<RouteCounters>>,
    unmatched: Arc<RouteCounters>,
}

/// The `route` label of requests no route matched.
pub(super) const UNMATCHED: &str = "none";

impl RouteSet {
    pub(super) fn empty() -> Self {
        Self {
            by_index: Vec::new(),
            unmatched: Arc::new(RouteCounters::new(UNMATCHED)),
        }
    }

    /// The set for a new config: a pattern already present keeps its counters (looked up
    /// by text); a pattern written twice shares one set of counters; dropped patterns go.
    pub(super) fn reload(&self, patterns: &[String]) -> Self {
        let mut known: HashMap<&str, Arc<RouteCounters>> = (self.by_index.iter())
            .map(|c| (c.label.as_str(), Arc::clone(c)))
            .collect();
        let by_index = (patterns.iter())
            .map(|p| {
                Arc::clone(
                    known
                        .entry(p)
                        .or_insert_with(|| Arc::new(RouteCounters::new(p))),
                )
            })
            .collect();
        Self {
            by_index,
            unmatched: Arc::clone(&self.unmatched),
        }
    }

    /// Counts one request. `route` is an index into this set (`None`: no route matched);
    /// an index out of range is dropped rather than counted against the wrong route.
    pub fn observe(&self, route: Option<usize>, status: u16, elapsed: Duration) {
        let counters = match route {
            None => Some(&self.unmatched),
            Some(index) => self.by_index.get(index),
        };
        if let Some(counters) = counters {
            counters.observe(status, elapsed);
        }
    }

    /// The number of routes (not counting `none`).
    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    /// Whether the config has no routes.
    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }

    /// `none` first, then each distinct pattern once, in config order.
    pub(super) fn distinct(&self) -> Vec<&RouteCounters> {
        let mut seen = std::collections::HashSet::new();
        std::iter::once(&self.unmatched)
            .chain(&self.by_index)
            .filter(|c| seen.insert(Arc::as_ptr(c)))
            .map(Arc::as_ref)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_sorted_and_labelled_by_their_code() {
        assert!(STATUSES.windows(2).all(|w| w[0].0 < w[1].0));
        for (slot, (code, label)) in STATUSES.iter().enumerate() {
            assert_eq!(label.parse::<u16>().unwrap(), *code);
            assert_eq!(status_slot(*code), slot);
        }
    }

    #[test]
    fn rare_codes_fall_into_their_class() {
        assert_eq!(status_label(status_slot(101)), "1xx");
        assert_eq!(status_label(status_slot(418)), "4xx");
        assert_eq!(status_label(status_slot(599)), "5xx");
        assert_eq!(status_label(status_slot(0)), "other");
        assert_eq!(status_label(status_slot(600)), "other");
        assert_eq!(status_label(status_slot(u16::MAX)), "other");
    }

    #[test]
    fn bucket_bounds_agree() {
        for (s, ns) in BUCKETS_SECONDS.iter().zip(BUCKETS_NANOS) {
            assert_eq!(Duration::from_secs_f64(*s).as_nanos(), u128::from(ns));
        }
    }

    #[test]
    fn out_of_range_index_is_dropped() {
        let set = RouteSet::empty().reload(&["/a".to_owned()]);
        set.observe(Some(7), 200, Duration::ZERO);
        assert!(set.distinct().iter().all(|c| c.snapshot().count == 0));
    }

    #[test]
    fn duplicate_patterns_share_counters() {
        let set = RouteSet::empty().reload(&["/a".to_owned(), "/a".to_owned()]);
        set.observe(Some(0), 200, Duration::ZERO);
        set.observe(Some(1), 200, Duration::ZERO);
        let distinct = set.distinct();
        assert_eq!(distinct.len(), 2);
        assert_eq!(distinct[1].snapshot().statuses, vec![("200", 2)]);
    }
}
