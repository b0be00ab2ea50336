//! The online check: `GetUser` at most once per `origin_jti` per `online_ttl`.
//!
//! Each `origin_jti` has a slot holding the last answer. A request whose answer is fresh
//! reads it; the first request to find it stale makes the call while holding the slot's
//! async lock, and every concurrent request for the same sign-in waits for that one call
//! (never a second). Calls are bounded in number ([`MAX_CALLS`]) and in time. When
//! Cognito cannot be reached, the last answer stands (none yet: allowed), and the next
//! attempt waits [`RETRY_AFTER`] (or `online_ttl`, if shorter): a Cognito outage
//! neither refuses users nor slows every request by a timeout.

use std::sync::Arc;
use std::time::Duration;

use quick_cache::UnitWeighter;
use quick_cache::sync::{Cache, DefaultLifecycle};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use super::getuser::{GetUserClient, Unreachable, Verdict};

/// `GetUser` calls in flight at most, over all tokens.
pub const MAX_CALLS: usize = 16;
/// Sign-ins whose last answer is remembered at most (least recently used go first).
const MAX_SLOTS: usize = 100_000;
/// After a failed call, the last answer stands this long (at most `online_ttl`).
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What the online check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnlineOutcome {
    /// A fresh answer was already known (age in whole seconds).
    Known {
        /// Cognito said the token is revoked.
        revoked: bool,
        /// Seconds since Cognito said it.
        age: u64,
    },
    /// Cognito was asked now.
    Asked {
        /// Cognito said the token is revoked.
        revoked: bool,
    },
    /// Cognito could not be reached: the last answer stands (`None`: there was none,
    /// the token is allowed).
    Unreachable {
        /// The last answer.
        last: Option<bool>,
        /// What failed (never the token).
        why: String,
        /// A call was made now and failed (else an earlier one did, and the next try is
        /// not due yet).
        called: bool,
    },
}

impl OnlineOutcome {
    /// The token is to be refused.
    pub fn revoked(&self) -> bool {
        match self {
            OnlineOutcome::Known { revoked, .. } | OnlineOutcome::Asked { revoked } => *revoked,
            OnlineOutcome::Unreachable { last, .. } => last.unwrap_or(false),
        }
    }

    /// The `result` label of `cognigate_online_checks_total`.
    pub fn label(&self) -> &'static str {
        match self {
            OnlineOutcome::Known { .. } => "cached",
            OnlineOutcome::Asked { revoked: false } => "valid",
            OnlineOutcome::Asked { revoked: true } => "revoked",
            OnlineOutcome::Unreachable { .. } => "unreachable",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Answer {
    revoked: Option<bool>,
    at: Instant,
    next_check: Instant,
}

type Slot = Arc<Mutex<Option<Answer>>>;

/// The online checker: its answers outlive config reloads.
pub struct Online {
    slots: Cache<String, Slot, UnitWeighter, foldhash::fast::RandomState>,
    calls: Semaphore,
    client: Option<GetUserClient>,
}

impl std::fmt::Debug for Online {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Online")
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl Default for Online {
    fn default() -> Self {
        Online::new()
    }
}

impl Online {
    /// A checker with no answers yet.
    pub fn new() -> Online {
        let client = GetUserClient::new()
            .map_err(|e| tracing::error!(error = %e, "cannot build the GetUser client; online checks will count as unreachable"))
            .ok();
        Online {
            slots: Cache::with(
                MAX_SLOTS,
                MAX_SLOTS as u64,
                UnitWeighter,
                foldhash::fast::RandomState::default(),
                DefaultLifecycle::default(),
            ),
            calls: Semaphore::new(MAX_CALLS),
            client,
        }
    }

    /// Checks `token` (whose sign-in is `origin`) at `endpoint`, unless an answer at
    /// most `ttl` old is known. A call is bounded by `timeout`, waiting for a free call
    /// included.
    pub async fn check(
        &self,
        endpoint: &str,
        origin: &str,
        token: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> OnlineOutcome {
        let slot = self
            .slots
            .get_or_insert_with(
                origin,
                || Ok::<_, std::convert::Infallible>(Slot::default()),
            )
            .unwrap_or_default();
        // Concurrent requests of one sign-in queue here behind the one call.
        let mut answer = slot.lock().await;
        let now = Instant::now();
        if let Some(known) = *answer
            && now < known.next_check
        {
            return match known.revoked {
                Some(revoked) => OnlineOutcome::Known {
                    revoked,
                    age: now.duration_since(known.at).as_secs(),
                },
                None => OnlineOutcome::Unreachable {
                    last: None,
                    why: "the last call failed; the next try is not due yet".into(),
                    called: false,
                },
            };
        }
        let last = answer.and_then(|a| a.revoked);
        match self.call(endpoint, token, timeout).await {
            Ok(verdict) => {
                let revoked = verdict == Verdict::Revoked;
                *answer = Some(Answer {
                    revoked: Some(revoked),
                    at: now,
                    next_check: now + ttl,
                });
                OnlineOutcome::Asked { revoked }
            }
            Err(Unreachable(why)) => {
                let at = answer.map_or(now, |a| a.at);
                *answer = Some(Answer {
                    revoked: last,
                    at,
                    next_check: now + RETRY_AFTER.min(ttl),
                });
                OnlineOutcome::Unreachable {
                    last,
                    why,
                    called: true,
                }
            }
        }
    }

    async fn call(
        &self,
        endpoint: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<Verdict, Unreachable> {
        let client = (self.client.as_ref()).ok_or_else(|| Unreachable("no client".into()))?;
        let call = async {
            let _permit =
                (self.calls.acquire().await).map_err(|_| Unreachable("checker closed".into()))?;
            client.get_user(endpoint, token).await
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| Unreachable(format!("no answer within {timeout:?}")))?
    }

    /// Forgets every answer.
    pub fn clear(&self) {
        self.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing listens on port 1 of the loopback: every call fails at once.
    const DOWN: &str = "http://127.0.0.1:1/";

    #[tokio::test]
    async fn an_unreachable_cognito_lets_a_token_through_and_is_not_retried_at_once() {
        let online = Online::new();
        let (ttl, timeout) = (Duration::from_secs(60), Duration::from_secs(2));
        let first = online.check(DOWN, "o", "t", ttl, timeout).await;
        assert!(
            matches!(
                first,
                OnlineOutcome::Unreachable {
                    last: None,
                    called: true,
                    ..
                }
            ),
            "{first:?}"
        );
        assert!(!first.revoked(), "fail open");
        assert_eq!(first.label(), "unreachable");
        let second = online.check(DOWN, "o", "t", ttl, timeout).await;
        assert!(
            matches!(second, OnlineOutcome::Unreachable { called: false, .. }),
            "{second:?}"
        );
        let other = online.check(DOWN, "o2", "t", ttl, timeout).await;
        assert!(
            matches!(other, OnlineOutcome::Unreachable { called: true, .. }),
            "another sign-in has its own slot: {other:?}"
        );
    }
}
