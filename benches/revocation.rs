//! The deny-set check every verified request pays (`Revocations::check`: one `ArcSwap`
//! load and up to three hash lookups per source, never a lock or an allocation), with 0
//! and with 100,000 entries (40,000 `jti`, 40,000 `origin_jti`, 20,000 `sub` + `before`,
//! ids shaped like Cognito's 36-character UUIDs), for a token that matches none (every
//! lookup made: the common case) and one whose `origin_jti` matches. Also prints the
//! memory 100,000 entries take: the tables' own estimate (`DenySet::heap_bytes`) and
//! the process's resident-set growth while building the set (the system allocator:
//! the bench does not install jemalloc; table growth leaves freed smaller tables behind).
//! Run: `cargo bench --bench revocation -- --warm-up-time 1 --measurement-time 3`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![expect(missing_docs, reason = "criterion_main! writes an undocumented `main`")]

use cognigate::revoke::{DenySet, Entry, Revocations, TokenIds};
use cognigate::telemetry::Metrics;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use std::sync::Arc;

/// A UUID-shaped id, distinct per `(kind, n)`.
fn id(kind: u8, n: u32) -> String {
    format!("{kind:08x}-{:04x}-4000-8000-{n:012x}", n >> 16)
}

fn entries(total: u32) -> Vec<Entry> {
    let (jti, origin) = (total * 2 / 5, total * 2 / 5);
    let sub = total - jti - origin;
    let jtis = (0..jti).map(|n| Entry::Jti { jti: id(1, n) });
    let origins = (0..origin).map(|n| Entry::OriginJti {
        origin_jti: id(2, n),
    });
    let subs = (0..sub).map(|n| Entry::SubBefore {
        sub: id(3, n),
        before: 1_700_000_000,
    });
    jtis.chain(origins).chain(subs).collect()
}

/// Resident set size in bytes (Linux `/proc/self/statm`; 0 elsewhere).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = (statm.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn revocations(total: u32) -> Revocations {
    let r = Revocations::new(Arc::new(Metrics::new()));
    r.set_file(DenySet::from_entries(&entries(total)));
    r
}

fn memory() {
    // The parsed entries first, so that the growth measured is the set's own.
    let list = entries(100_000);
    let before = rss();
    let set = DenySet::from_entries(&list);
    let after = rss();
    drop(list);
    eprintln!(
        "deny set of 100000 entries: heap estimate {:.1} MiB ({} B/entry); RSS growth while building it {:.1} MiB",
        set.heap_bytes() as f64 / 1048576.0,
        set.heap_bytes() / 100_000,
        after.saturating_sub(before) as f64 / 1048576.0,
    );
    black_box(&set);
}

fn bench(c: &mut Criterion) {
    memory();
    let miss_jti = id(9, 1);
    let miss_origin = id(9, 2);
    let hit_origin = id(2, 12_345);
    for total in [0, 100_000] {
        let r = revocations(total);
        let miss = TokenIds {
            jti: Some(&miss_jti),
            origin_jti: Some(&miss_origin),
            sub: "5e1f0000-0000-4000-8000-000000000000",
            iat: Some(1_700_000_100.0),
        };
        c.bench_function(&format!("deny_check/{total} entries/no match"), |b| {
            b.iter(|| r.check(black_box(miss)))
        });
        if total > 0 {
            let hit = TokenIds {
                origin_jti: Some(&hit_origin),
                ..miss
            };
            assert!(r.check(hit).is_err());
            c.bench_function(
                &format!("deny_check/{total} entries/origin_jti match"),
                |b| b.iter(|| r.check(black_box(hit))),
            );
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
