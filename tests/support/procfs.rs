//! What a child process holds, read from `/proc` (Linux): open file descriptors and
//! resident memory. Used to prove faults leak neither connections nor memory.

use std::time::{Duration, Instant};

/// Open file descriptors of `pid` (sockets included).
pub(crate) fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// Resident set size of `pid`, in KiB (`VmRSS`).
pub(crate) fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time `pid` has used so far (user + system), from `/proc/PID/stat`.
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after its `)`.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the `)`.
    let total = ticks(11) + ticks(12);
    // USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(total * 10)
}

/// Waits (at most `limit`) for the fd count to come back to `baseline + slack`, and
/// returns the last count seen.
pub(crate) async fn settle_fds(pid: u32, baseline: usize, slack: usize, limit: Duration) -> usize {
    let start = Instant::now();
    loop {
        let now = fds(pid);
        if now <= baseline + slack || start.elapsed() > limit {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
