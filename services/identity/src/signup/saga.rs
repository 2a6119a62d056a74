//! The steps of sign-up after the user row exists: profile, default role,
//! activation, and their undo.

use chrono::{DateTime, Duration, Utc};
use latch_domain::{
    Error, Result, UserId,
    model::{User, UserStatus, builtin},
};

use crate::{Identity, user_events};

/// A pending user older than this belongs to a sign-up that died half-way
/// (a crash between steps): a new sign-up for the address may reclaim it.
const ABANDONED_AFTER: Duration = Duration::minutes(10);

/// Which remote steps were attempted, so a failure undoes exactly them.
#[derive(Debug, Default, Clone, Copy)]
struct Attempted {
    profile: bool,
    role: bool,
}

impl Identity {
    /// Profile, default role, activation; undoes what it attempted on
    /// failure. `user:created` is written with the activation: an account
    /// is announced once it is live, and a sign-up undone announces nothing.
    pub(crate) async fn complete(
        &self,
        user: User,
        first_name: &str,
        last_name: &str,
    ) -> Result<User> {
        let mut attempted = Attempted::default();
        let now = self.deps.clock.now();
        let outcome = async {
            let created = user_events::user_created(&user, now)?;
            attempted.profile = true;
            self.deps
                .profiles
                .create(user.id, first_name, last_name)
                .await?;
            attempted.role = true;
            self.deps.roles.assign(user.id, builtin::DEFAULT).await?;
            if !self
                .deps
                .users
                .set_status(user.id, UserStatus::Active, now, &[created])
                .await?
            {
                return Err(Error::internal_msg("user vanished during sign-up"));
            }
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => Ok(User {
                status: UserStatus::Active,
                updated_at: now,
                ..user
            }),
            Err(err) => {
                self.undo(user.id, attempted).await;
                Err(err)
            }
        }
    }

    /// Best-effort compensation; every step is idempotent, so a step that
    /// failed (perhaps after it took effect remotely) is undone too. Failures
    /// here are logged: the caller gets the error that started the undo.
    async fn undo(&self, user: UserId, attempted: Attempted) {
        if attempted.role
            && let Err(error) = self.deps.roles.unassign(user, builtin::DEFAULT).await
        {
            tracing::error!(%user, %error, "sign-up undo: role not unassigned");
        }
        if attempted.profile
            && let Err(error) = self.deps.profiles.delete(user).await
        {
            tracing::error!(%user, %error, "sign-up undo: profile not deleted");
        }
        if let Err(error) = self.deps.users.delete(user).await {
            tracing::error!(%user, %error, "sign-up undo: pending user not deleted");
        }
    }

    /// Removes a pending user left by a sign-up that died half-way, so its
    /// address can be used again. False when `existing` is a live account
    /// (or a sign-up still running).
    pub(crate) async fn reclaim_abandoned(&self, existing: &User) -> Result<bool> {
        if !is_abandoned(existing, self.deps.clock.now()) {
            return Ok(false);
        }
        tracing::warn!(user = %existing.id, "reclaiming an abandoned sign-up");
        self.undo(
            existing.id,
            Attempted {
                profile: true,
                role: true,
            },
        )
        .await;
        Ok(true)
    }
}

fn is_abandoned(user: &User, now: DateTime<Utc>) -> bool {
    user.status == UserStatus::Pending && now - user.created_at > ABANDONED_AFTER
}
