//! ChangePassword: a signed-in user sets a new password, proving the
//! current one. The user's other sessions are revoked (the caller's is
//! kept); a notice mail and `user:updated` (`password`) are written with
//! the change.

use latch_domain::{
    Error, Reason, Result, SessionId, UserId,
    model::User,
    ports::{MessageTemplate, OutboundMessage, Recipient},
    secret::Secret,
};

use crate::{
    Identity,
    signup::check_password,
    user_events::{field, user_updated},
};

/// The session revocation reason of a password change.
pub(crate) const REVOKED_BY_CHANGE: &str = "password_changed";

impl Identity {
    /// Replaces the caller's password.
    ///
    /// Errors: `RATE_LIMITED` (password checks per user, the login limits);
    /// `INVALID_CREDENTIALS` (wrong current password); `WEAK_PASSWORD`
    /// naming `new_password`. A refusal changes nothing.
    pub async fn change_password(
        &self,
        user: UserId,
        session: &SessionId,
        current: &Secret<String>,
        new_password: &Secret<String>,
    ) -> Result<()> {
        let account = self.check_current_password(user, current).await?;
        check_password("new_password", new_password, [&account.email, "", ""]).await?;
        let hash = self.deps.hasher.hash(new_password).await?;

        // Before the change: an answered change left no other session alive.
        self.deps
            .sessions
            .revoke_all(user, Some(session), REVOKED_BY_CHANGE)
            .await?;
        let now = self.deps.clock.now();
        let notice = self.deps.messages.compose(
            &OutboundMessage::new(
                MessageTemplate::PasswordChanged,
                Recipient::Email(account.email.clone()),
                Some(user),
            ),
            now,
        )?;
        let updated = user_updated(user, &[field::PASSWORD], now)?;
        if !self
            .deps
            .users
            .change_password(user, &hash, now, &[notice, updated])
            .await?
        {
            return Err(Error::not_found("user"));
        }
        self.revoke_again(user, Some(session), REVOKED_BY_CHANGE)
            .await;
        Ok(())
    }

    /// The account, once `password` proved to be its current password
    /// (one argon2 verify, through the bounded hasher), or
    /// `INVALID_CREDENTIALS`. Limited per user (`IN_SESSION_PROOFS`), so a
    /// stolen session cannot guess the password quickly.
    pub(crate) async fn check_current_password(
        &self,
        user: UserId,
        password: &Secret<String>,
    ) -> Result<User> {
        self.deps
            .rate_limiter
            .acquire(
                &format!("password_check:user:{user}"),
                crate::lockout::IN_SESSION_PROOFS,
            )
            .await?;
        let account = self.get_user(user).await?;
        let verdict = self
            .deps
            .hasher
            .verify(password, account.password_hash.as_deref())
            .await?;
        if !verdict.matches {
            return Err(Error::new(
                Reason::InvalidCredentials,
                "the current password is wrong",
            ));
        }
        Ok(account)
    }
}

#[cfg(test)]
mod tests;
