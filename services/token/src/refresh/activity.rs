//! A refresh is activity on its session: the session's idle expiry moves,
//! so a client that only refreshes is not logged out as idle.
//!
//! Recording it is a call to the session service (an RPC between
//! binaries) on top of the validation every refresh makes. As the auth
//! layer does for authenticated calls, a refresh asks for it only when
//! neither the session (its `last_active_at`) nor this process (its own
//! note) says it was recorded within [`INTERVAL`], within which the session
//! service would write nothing anyway. A client refreshing often then
//! costs one session call per refresh, not two.

use std::time::Duration;

use latch_domain::{Reason, Result, model::Session};

use super::session_revoked;
use crate::Tokens;

/// How stale a session's recorded activity may be before a refresh records
/// it again: the default of `LATCH_SESSION_TOUCH_INTERVAL`, the session
/// service's own bound on how often it writes.
pub(crate) const INTERVAL: Duration = Duration::from_secs(60);

impl Tokens {
    /// Records activity on the live `session` unless it was recorded within
    /// [`INTERVAL`]. Called before the rotation, so a failure here leaves
    /// the token unspent for a retry.
    pub(super) async fn record_activity(&self, session: &Session) -> Result<()> {
        let now = self.deps.clock.now();
        // The session copy may come from a cache filled before the last
        // touch, so this process's own note counts too.
        if !self
            .activity
            .due(&session.id, Some(session.last_active_at), now)
        {
            return Ok(());
        }
        match self.deps.sessions.touch(&session.id).await {
            Ok(()) => {
                self.activity.note(&session.id, now);
                Ok(())
            }
            // Ended (or vanished) since it was validated.
            Err(err) if err.is(Reason::SessionRevoked) || err.is(Reason::NotFound) => {
                Err(session_revoked())
            }
            Err(err) => Err(err),
        }
    }
}
