//! The revocation-aware mode: a verifier that also refuses the tokens of
//! sessions revoked since they were signed (Logout, an administrator, a
//! reused refresh token, a deleted user), within about a second, without
//! asking Latch per request.
//!
//! A [`Revocations`] keeps the set of revoked session ids, fed in the
//! background by one source:
//! - [`Revocations::poll`]: `SessionService.ListRevokedSessions` every
//!   [`RevocationOptions::interval`] (default 500 ms) with a service
//!   account's credential; each poll returns what was revoked since the
//!   last one (plus the last ten seconds again), so it stays small;
//! - `Revocations::subscribe` (cargo feature `redis`): the
//!   `session:revoked` channel on Latch's Redis, pinged every interval,
//!   optionally with one ListRevokedSessions pass after each
//!   (re)subscription so that revocations made before it are known too.
//!
//! The list counts as current while the source answered within
//! [`RevocationOptions::max_staleness`] (default 2 s); when it is not (no
//! answer yet, the subscription dropped, polls failing), verification
//! refuses with `UNAVAILABLE` ([`OnSourceLost::Refuse`], the default) or
//! goes on without it ([`OnSourceLost::Accept`]). A token of a session on
//! the list is refused either way.
//!
//! Cost: about 100 bytes per revoked session held, each held until every
//! token of its session has expired (the longest access-token lifetime,
//! 15 minutes, plus about two minutes); one RPC per interval (one indexed
//! range read on Latch's database) or one Redis connection with a PING per
//! interval; a hash lookup per verification.

mod denylist;
mod poll;
#[cfg(feature = "redis")]
mod redis;

use std::{
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use tokio::{sync::watch, task::JoinHandle, time::Instant};

pub use poll::DenylistRpc;

use crate::VerifyError;
use denylist::Denylist;

/// Entries are kept this long past the end their source gives, so that a
/// verifier's leeway (up to a minute) and clock skew never let a token
/// outlive its entry.
const KEEP_EXTRA_SECS: i64 = 60;

/// How often ended entries are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// What verification does while the revocation list is not current.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnSourceLost {
    /// Refuse every token with `UNAVAILABLE` (clients retry): a revoked
    /// session is never let in, at the price of an outage while Latch (or
    /// its Redis) cannot be reached.
    #[default]
    Refuse,
    /// Accept tokens that verify, checking only the entries already held:
    /// the backend stays up, and a session revoked meanwhile is let in
    /// until its token expires (at most the access-token lifetime).
    Accept,
}

/// Settings of the revocation-aware mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationOptions {
    /// How often the list is polled, or the Redis subscription pinged.
    pub interval: Duration,
    /// The list is current while its source answered within this long;
    /// more than one interval, so that one failed poll is not an outage.
    pub max_staleness: Duration,
    /// What verification does when it is not.
    pub on_source_lost: OnSourceLost,
    /// The longest access-token lifetime (`LATCH_ACCESS_TOKEN_TTL`'s
    /// maximum): how long an id from a `session:revoked` event is kept.
    /// Entries from ListRevokedSessions carry their own end.
    pub max_token_lifetime: Duration,
    /// How long one call to Latch or Redis may take.
    pub call_timeout: Duration,
}

impl Default for RevocationOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(500),
            max_staleness: Duration::from_secs(2),
            on_source_lost: OnSourceLost::Refuse,
            max_token_lifetime: Duration::from_secs(15 * 60),
            call_timeout: Duration::from_secs(1),
        }
    }
}

/// The list and its freshness, shared by the verifier and the source task.
pub(crate) struct Shared {
    list: RwLock<Denylist>,
    /// When the source last vouched that the list was complete; `None`
    /// before the first time and after the source was lost.
    confirmed: watch::Sender<Option<Instant>>,
    options: RevocationOptions,
}

impl Shared {
    fn new(options: RevocationOptions) -> Arc<Self> {
        Arc::new(Self {
            list: RwLock::new(Denylist::default()),
            confirmed: watch::Sender::new(None),
            options,
        })
    }

    pub(crate) fn insert(&self, session_id: &str, until: i64) {
        let until = until.saturating_add(KEEP_EXTRA_SECS);
        self.list
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session_id, until);
    }

    /// The list held everything revoked up to `as_of`.
    pub(crate) fn confirm(&self, as_of: Instant) {
        let was_current = self.is_current();
        self.confirmed.send_replace(Some(as_of));
        if !was_current {
            tracing::info!("revocation list current");
        }
    }

    /// The source is gone (a dropped subscription): the list is stale now,
    /// whatever the last confirmation.
    #[cfg(any(feature = "redis", test))]
    pub(crate) fn lose(&self) {
        self.confirmed.send_replace(None);
    }

    fn is_current(&self) -> bool {
        self.confirmed
            .borrow()
            .is_some_and(|at| at.elapsed() <= self.options.max_staleness)
    }

    pub(crate) fn prune(&self, now: i64) {
        let left = self
            .list
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .prune(now);
        tracing::debug!(revoked_sessions = left, "revocation list pruned");
    }

    fn check(&self, session_id: &str, now: i64) -> Result<(), VerifyError> {
        let revoked = self
            .list
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(session_id, now);
        if revoked {
            return Err(VerifyError::SessionRevoked);
        }
        if self.options.on_source_lost == OnSourceLost::Refuse && !self.is_current() {
            return Err(VerifyError::RevocationsUnavailable(
                "the revocation list is not current",
            ));
        }
        Ok(())
    }
}

/// The revoked sessions a [`crate::Verifier`] refuses (see
/// [`crate::Verifier::with_revocations`]), kept current by a background
/// task that stops when this is dropped.
pub struct Revocations {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations")
            .field("options", &self.shared.options)
            .field("revoked_sessions", &self.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Revocations {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Revocations {
    /// Polls ListRevokedSessions through `rpc` every interval. Call from
    /// within a Tokio runtime; see [`Revocations::ready`].
    pub fn poll(rpc: DenylistRpc, options: RevocationOptions) -> Self {
        let shared = Shared::new(options);
        let task = tokio::spawn(poll::run(rpc, shared.clone()));
        Self { shared, task }
    }

    /// Follows `session:revoked` on the Redis at `redis_url` (channel
    /// `{key_prefix}session:revoked`: the prefix is Latch's
    /// `LATCH_REDIS_PREFIX`, empty in production). With `backfill`, each
    /// (re)subscription is followed by one read of the whole list, and the
    /// list counts as current only after it; without, revocations made
    /// before the subscription (or while it was down) are not known. Call
    /// from within a Tokio runtime. `RevocationsUnavailable` for a malformed
    /// URL.
    #[cfg(feature = "redis")]
    pub fn subscribe(
        redis_url: &str,
        key_prefix: &str,
        backfill: Option<DenylistRpc>,
        options: RevocationOptions,
    ) -> Result<Self, VerifyError> {
        let client = deadpool_redis::redis::Client::open(redis_url)
            .map_err(|_| VerifyError::RevocationsUnavailable("malformed Redis URL"))?;
        let channel = format!("{key_prefix}session:revoked");
        let shared = Shared::new(options);
        let task = tokio::spawn(redis::run(client, channel, backfill, shared.clone()));
        Ok(Self { shared, task })
    }

    /// Waits until the list is current for the first time (the first poll
    /// answered, or the subscription and its backfill are in place), at
    /// most `timeout`: a backend calls it at start to fail early rather
    /// than refuse its first requests.
    pub async fn ready(&self, timeout: Duration) -> Result<(), VerifyError> {
        let mut confirmed = self.shared.confirmed.subscribe();
        tokio::time::timeout(timeout, confirmed.wait_for(Option::is_some))
            .await
            .map_err(|_| VerifyError::RevocationsUnavailable("no revocation list yet"))?
            .map_err(|_| VerifyError::RevocationsUnavailable("the revocation source stopped"))?;
        Ok(())
    }

    /// `SessionRevoked` when `session_id` is on the list as of `now` (Unix
    /// seconds); `RevocationsUnavailable` when the list is not current and
    /// the options say refuse.
    pub fn check(&self, session_id: &str, now: i64) -> Result<(), VerifyError> {
        self.shared.check(session_id, now)
    }

    /// Whether the source answered within the allowed staleness.
    pub fn is_current(&self) -> bool {
        self.shared.is_current()
    }

    /// How many revoked sessions are held (about 100 bytes each).
    pub fn len(&self) -> usize {
        self.shared
            .list
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Seconds since the Unix epoch on the system clock, which entries' ends
/// are measured on (as the verifier's expiry by default).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
