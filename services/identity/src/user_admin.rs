//! User administration: listing users a page at a time, and setting a
//! user's status. Who may do it (an administrator with the permission, a
//! SUPERADMIN over a SUPERADMIN, never over oneself) is the handler's
//! check; these flows trust their caller.
//!
//! Suspending or deactivating ends every session of the user at once:
//! the status and an outbox row that revokes them (reason
//! `account_suspended`, run until the session service answers) commit
//! together, and the same revocation is tried at once so it takes effect
//! before the call returns. Refresh checks the status, so even a family
//! whose revocation is still queued is refused.

use latch_domain::{
    Error, Reason, Result, UserId,
    model::{StatusChange, User, UserCursor, UserQuery, UserStatus},
};

use crate::{
    Identity,
    deletion::steps,
    user_events::{field, user_updated},
};

/// The revocation reason of a suspended or deactivated user's sessions.
pub const ACCOUNT_SUSPENDED: &str = "account_suspended";

impl Identity {
    /// One page of users, newest first: at most `query.limit` (at least
    /// one) after `query.after`, and the cursor of the next page (`None`
    /// on the last).
    pub async fn list_users(&self, query: UserQuery) -> Result<(Vec<User>, Option<UserCursor>)> {
        let size = query.limit.max(1);
        // One more than the page says whether another page follows.
        let mut users = self
            .deps
            .user_admin
            .list(&UserQuery {
                limit: size.saturating_add(1),
                ..query
            })
            .await?;
        let next = if users.len() as u64 > size {
            users.truncate(usize::try_from(size).unwrap_or(usize::MAX));
            users.last().map(UserCursor::after)
        } else {
            None
        };
        Ok((users, next))
    }

    /// Sets `user`'s status to active, suspended or deactivated and
    /// returns the user. Suspending or deactivating revokes every session
    /// (see the module), also when the status was set already, so a call
    /// run again finishes what a failed one left; `user:updated`
    /// (`status`) is written with the change, when it changed.
    ///
    /// Errors: `INVALID_ARGUMENT` on `status` for pending; `NOT_FOUND`
    /// (no such user, or deleted); `ACCOUNT_INACTIVE` for a user whose
    /// sign-up has not finished (its saga activates it; nothing changes);
    /// `UNAVAILABLE` when the status was set already and the sessions
    /// could not be reached.
    pub async fn set_user_status(&self, user: UserId, status: UserStatus) -> Result<User> {
        if status == UserStatus::Pending {
            return Err(Error::invalid_field(
                "status",
                "must be active, suspended or deactivated",
            ));
        }
        let revoke = status != UserStatus::Active;
        let now = self.deps.clock.now();
        let mut follow_up = vec![user_updated(user, &[field::STATUS], now)?];
        if revoke {
            follow_up.push(steps::revoke_sessions(user, ACCOUNT_SUSPENDED, now)?);
        }
        let change = self
            .deps
            .user_admin
            .change_status(user, status, now, &follow_up)
            .await?;
        match change {
            StatusChange::NotFound => return Err(Error::not_found("user")),
            StatusChange::Pending => {
                return Err(Error::new(
                    Reason::AccountInactive,
                    "the user has not finished signing up",
                ));
            }
            StatusChange::Changed => {
                if revoke {
                    // The queued row finishes it if this fails.
                    if let Err(error) = self.revoke_user_sessions(user, ACCOUNT_SUSPENDED).await {
                        tracing::warn!(%user, %error, "sessions of a suspended user left to the outbox");
                    }
                }
            }
            // Nothing was queued: a failure here is the caller's to retry.
            StatusChange::Unchanged if revoke => {
                self.revoke_user_sessions(user, ACCOUNT_SUSPENDED).await?;
            }
            StatusChange::Unchanged => {}
        }
        self.get_user(user).await
    }

    /// Revokes every session of `user` (and, through the session service's
    /// outbox, their refresh families); returns how many.
    pub(crate) async fn revoke_user_sessions(&self, user: UserId, reason: &str) -> Result<u32> {
        self.deps.sessions.revoke_all(user, None, reason).await
    }
}

#[cfg(test)]
mod tests;
