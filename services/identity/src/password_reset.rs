//! Password reset: RequestPasswordReset mails a one-time token,
//! ResetPassword sets a new password with it.
//!
//! The request answers OK whatever the address, after the same work: the
//! token (256 random bits) and its SHA-256 are made and the mail composed
//! for every well-formed address; only the final write differs, and it
//! happens only for an active account (the token row, voiding the others,
//! and the mail's outbox row, in one transaction). A token is good for
//! [`TOKEN_TTL`], once; a newer request or a reset voids the others.
//!
//! A reset revokes every session of the user (and with them their refresh
//! families; the session service announces each on `session:revoked`)
//! before the password changes, so a reset never leaves an old session
//! alive if it answers OK; sessions opened in the instant between are
//! revoked once more after it. A notice mail and `user:updated`
//! (`password`) are written with the change, and the account's failed
//! sign-ins are forgotten (`lockout`).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Duration;
use latch_domain::{
    Error, Reason, Result, UserId,
    model::{ClientInfo, PasswordResetToken, UserStatus},
    ports::{MessageTemplate, OutboundMessage, Recipient},
    secret::{self, Secret},
    validate,
};

use crate::{
    Identity,
    signup::check_password,
    user_events::{field, user_updated},
};

/// How long a reset token is accepted.
pub(crate) const TOKEN_TTL: Duration = Duration::minutes(15);
/// The session revocation reason of a reset.
pub(crate) const REVOKED_BY_RESET: &str = "password_reset";

impl Identity {
    /// Mails a reset token to `email` when it belongs to an active account;
    /// answers the same either way (see the module).
    ///
    /// Errors: `RATE_LIMITED` (per address, one a minute and five an hour,
    /// counted for every address alike; per client address, the server
    /// layer's `recovery` group); `INVALID_ARGUMENT` naming `email` when it
    /// is malformed. `_client` is unused since the per-address limits moved
    /// to the server layer.
    pub async fn request_password_reset(&self, email: &str, _client: &ClientInfo) -> Result<()> {
        let email = validate::email("email", email)?;
        self.throttle_reset_requests(&email).await?;
        let account = self
            .deps
            .users
            .find_by_email(&email)
            .await?
            .filter(|user| user.status == UserStatus::Active);

        // From here, the same work for every address.
        let token = Secret::new(secret::random_token(32)?);
        let now = self.deps.clock.now();
        let row = PasswordResetToken {
            id: uuid::Uuid::now_v7(),
            user_id: account.as_ref().map_or(UserId(uuid::Uuid::nil()), |u| u.id),
            token_hash: secret::sha256(token.expose()),
            created_at: now,
            expires_at: now + TOKEN_TTL,
            used_at: None,
        };
        let message = OutboundMessage::new(
            MessageTemplate::PasswordReset,
            Recipient::Email(email),
            account.as_ref().map(|u| u.id),
        )
        .with("token", token.expose().clone())
        .with("expires_minutes", TOKEN_TTL.num_minutes().to_string());
        let mail = self.deps.messages.compose(&message, now)?;
        match account {
            Some(_) => self.deps.password_resets.issue(&row, &[mail]).await,
            None => Ok(()),
        }
    }

    /// Sets a new password with a reset token, revokes every session of
    /// the user and mails a notice.
    ///
    /// Errors: `INVALID_ARGUMENT` naming
    /// `reset_token` when it is not a token's shape; `TOKEN_INVALID`
    /// (unknown or voided), `TOKEN_USED`, `TOKEN_EXPIRED`;
    /// `ACCOUNT_INACTIVE`; `WEAK_PASSWORD` naming `new_password`. A refusal
    /// changes nothing and leaves the token as it was.
    pub async fn reset_password(
        &self,
        reset_token: &str,
        new_password: &Secret<String>,
        _client: &ClientInfo,
    ) -> Result<()> {
        let hash = parse_token(reset_token)?;
        let Some(token) = self.deps.password_resets.find_by_hash(&hash).await? else {
            return Err(Error::new(
                Reason::TokenInvalid,
                "the reset token is not valid",
            ));
        };
        let now = self.deps.clock.now();
        if token.used_at.is_some() {
            return Err(token_used());
        }
        if now >= token.expires_at {
            return Err(Error::new(
                Reason::TokenExpired,
                "the reset token expired; ask for a new one",
            ));
        }
        let user = self.get_user(token.user_id).await?;
        if user.status != UserStatus::Active {
            return Err(Error::new(
                Reason::AccountInactive,
                "the account is not active",
            ));
        }
        check_password("new_password", new_password, [&user.email, "", ""]).await?;
        let password_hash = self.deps.hasher.hash(new_password).await?;

        // Before the change: a reset that answers OK left no session alive.
        self.deps
            .sessions
            .revoke_all(user.id, None, REVOKED_BY_RESET)
            .await?;
        let notice = self.deps.messages.compose(
            &OutboundMessage::new(
                MessageTemplate::PasswordResetDone,
                Recipient::Email(user.email.clone()),
                Some(user.id),
            ),
            now,
        )?;
        let updated = user_updated(user.id, &[field::PASSWORD], now)?;
        if !self
            .deps
            .password_resets
            .redeem(&token, now, &password_hash, &[notice, updated])
            .await?
        {
            // A reset with the same token won the race, or it just ended.
            return Err(token_used());
        }
        self.revoke_again(user.id, None, REVOKED_BY_RESET).await;
        // Proven by the mailbox: the sign-in backoff starts over.
        self.forget_failures(&user).await;
        Ok(())
    }

    /// One request a minute and five an hour per address, counted whether
    /// or not it has an account; the key is a hash, so Redis holds no
    /// address.
    async fn throttle_reset_requests(&self, email: &str) -> Result<()> {
        let digest = secret::sha256(email);
        let key = hex::encode(&digest[..16]);
        let limiter = &self.deps.rate_limiter;
        limiter
            .hit(
                &format!("password_reset:email:{key}"),
                1,
                std::time::Duration::from_secs(60),
            )
            .await?;
        limiter
            .hit(
                &format!("password_reset_hourly:email:{key}"),
                5,
                std::time::Duration::from_secs(3600),
            )
            .await
    }

    /// Revokes the sessions opened since the first revocation of a
    /// password change; the change is stored, so a failure is logged (the
    /// first revocation already ended every session that existed).
    pub(crate) async fn revoke_again(
        &self,
        user: UserId,
        except: Option<&latch_domain::SessionId>,
        reason: &str,
    ) {
        if let Err(error) = self.deps.sessions.revoke_all(user, except, reason).await {
            tracing::error!(%user, %error, reason, "sessions opened during a password change not revoked");
        }
    }
}

/// The SHA-256 of a token as mailed (base64url, 32 bytes), or
/// `INVALID_ARGUMENT` for anything else.
fn parse_token(raw: &str) -> Result<[u8; 32]> {
    let raw = raw.trim();
    match URL_SAFE_NO_PAD.decode(raw) {
        Ok(bytes) if bytes.len() == 32 => Ok(secret::sha256(raw)),
        _ => Err(Error::invalid_field(
            "reset_token",
            "must be the token from the reset mail",
        )),
    }
}

fn token_used() -> Error {
    Error::new(Reason::TokenUsed, "the reset token was already used")
}

#[cfg(test)]
mod tests;
