//! Password login.
//!
//! One answer, `INVALID_CREDENTIALS`, for an unknown email, a wrong password
//! and an unfinished sign-up, at one cost: exactly one argon2 verify (a dummy
//! hash stands in for a missing user). The account's status is told only to
//! someone who proved the password.
//!
//! A user with TOTP on (or a passkey marked as a second factor) gets, once
//! the password is right, a second-factor challenge instead of tokens
//! (`second_factor`); no session exists until CompleteSecondFactor. Everyone else is signed in through `sign_in`, the
//! one path that opens the session, issues the tokens, records the
//! sign-in and sends the new-device notice.
//!
//! Every attempt against a known user leaves a `login_history` row (right
//! or wrong password, throttled, inactive account, second factor passed
//! or failed), with the client's fields bounded and normalised by
//! [`latch_domain::client_fields`] so that no client can make its own rows
//! fail, and the device's fingerprint. A history write that fails anyway
//! is logged as an error and does not change the answer.
//!
//! Failed attempts are counted per address before the hash is checked
//! (`lockout`): after `LATCH_LOCKOUT_THRESHOLD` of them each further one
//! waits, doubling up to `LATCH_LOCKOUT_MAX_DELAY`.

use std::sync::Arc;

use latch_domain::{
    Error, Reason, Result, UserId, client_fields,
    model::{ClientInfo, LoginEvent, TokenPair, User, UserStatus},
    secret::Secret,
    validate,
};
use uuid::Uuid;

use crate::{Identity, SecondFactorChallenge, new_device::Device};

/// What `login_history.method` says for a password sign-in.
pub(crate) const METHOD_PASSWORD: &str = "password";

/// An email and password, and where they came from.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub email: String,
    pub password: Secret<String>,
    pub client: ClientInfo,
}

/// The result of a login that proved the password.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    /// Signed in: a new session and its tokens.
    SignedIn(TokenPair),
    /// The user has a second factor: no session yet; CompleteSecondFactor
    /// with the challenge's token finishes the sign-in.
    SecondFactor(SecondFactorChallenge),
}

impl Identity {
    /// Why `user`, whose first factor checked out, may not sign in, if
    /// so: one rule for every sign-in method. `pending` answers a sign-up
    /// still running (password login says no more than a wrong password).
    pub(crate) fn status_refusal(&self, user: &User, pending: Error) -> Option<Error> {
        match user.status {
            UserStatus::Pending => Some(pending),
            UserStatus::Suspended | UserStatus::Deactivated => Some(Error::new(
                Reason::AccountInactive,
                "the account is not active",
            )),
            UserStatus::Active if self.config.require_verified_email && !user.email_verified => {
                Some(Error::new(
                    Reason::EmailNotVerified,
                    "the email address must be verified first",
                ))
            }
            UserStatus::Active => None,
        }
    }

    /// Signs in with email and password.
    ///
    /// Errors: `LOGIN_THROTTLED` (with RetryInfo) while the address waits
    /// after too many failures, alike for every address, known or not
    /// (see `lockout`); `INVALID_CREDENTIALS` for a malformed or unknown
    /// email, a wrong password, or a pending user; after the password
    /// matched, `ACCOUNT_INACTIVE` (suspended, deactivated) or
    /// `EMAIL_NOT_VERIFIED` (when the deployment requires it). A user with
    /// TOTP on, or a passkey marked as a second factor, then gets a
    /// [`LoginOutcome::SecondFactor`] challenge. Every
    /// attempt against a known user lands in its login history (refusals
    /// shortly after the answer). Per client address, the server layer
    /// limits calls first (`RATE_LIMITED`).
    pub async fn login(&self, attempt: Credentials) -> Result<LoginOutcome> {
        let Credentials {
            email,
            password,
            client,
        } = attempt;
        // Once, here: the session and the history row see the same
        // canonical IP and bounded user agent.
        let client = client_fields::normalize(&client);
        // A malformed address cannot belong to an account: it is answered
        // like an unknown one (the proto promises no INVALID_ARGUMENT here).
        let address = validate::email("email", &email).ok();
        let user = match &address {
            Some(address) => self.deps.users.find_by_email(address).await?,
            None => None,
        };
        // Counted before the hash, so that racing guesses cannot all pass.
        let counted = address.as_deref().unwrap_or(&email);
        let failures = match self.begin_attempt(counted, user.as_ref()).await {
            Ok(failures) => failures,
            Err(err) => {
                return Err(match &user {
                    Some(user) if err.is(Reason::LoginThrottled) => {
                        self.refuse(user.id, &client, METHOD_PASSWORD, err).await
                    }
                    _ => err,
                });
            }
        };

        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let verdict = match self.deps.hasher.verify(&password, stored).await {
            Ok(verdict) => verdict,
            Err(err) => {
                // Not checked (the hasher is busy or failed): no failure.
                self.take_back_attempt(counted).await;
                return Err(err);
            }
        };
        let Some(user) = user else {
            return Err(invalid_credentials());
        };
        if !verdict.matches {
            self.attempt_failed(&user, failures);
            let err = invalid_credentials();
            return Err(self.refuse(user.id, &client, METHOD_PASSWORD, err).await);
        }
        // The password is right: whatever follows, it is no failure.
        // A sign-up still running or abandoned: not an account yet.
        let refusal = self.status_refusal(&user, invalid_credentials());
        if let Some(err) = refusal {
            self.take_back_attempt(&user.email).await;
            return Err(self.refuse(user.id, &client, METHOD_PASSWORD, err).await);
        }
        if verdict.needs_rehash {
            self.rehash(&user, &password).await;
        }
        let second_factor = match self.wants_second_factor(&user).await {
            Ok(wanted) => wanted,
            Err(err) => {
                self.take_back_attempt(&user.email).await;
                return Err(err);
            }
        };
        if second_factor {
            // The second factor's own attempts are counted as they come.
            self.take_back_attempt(&user.email).await;
            let challenge = self
                .second_factor_challenge(&user, &client, METHOD_PASSWORD)
                .await?;
            return Ok(LoginOutcome::SecondFactor(challenge));
        }
        match self.sign_in(&user, &client, METHOD_PASSWORD).await {
            Ok(tokens) => Ok(LoginOutcome::SignedIn(tokens)),
            Err(err) => {
                self.take_back_attempt(&user.email).await;
                Err(err)
            }
        }
    }

    /// Records a refused attempt of `user` (`method` as the history names
    /// it) and hands the error back. The write is detached from the
    /// answer: an unknown email writes nothing, so a known one must not
    /// answer later because of its history row.
    pub(crate) async fn refuse(
        &self,
        user: UserId,
        client: &ClientInfo,
        method: &str,
        err: Error,
    ) -> Error {
        let event = self.attempt(user, client, method, Some(err.reason()));
        let history = Arc::clone(&self.deps.login_history);
        tokio::spawn(async move {
            if let Err(error) = history.record(&event, &[]).await {
                history_not_recorded(&event, &error);
            }
        });
        err
    }

    /// A login-history row of `user` now, with the client's device (its
    /// fingerprint: browser, system and network; see `new_device`), which
    /// a successful sign-in is remembered by.
    pub(crate) fn attempt(
        &self,
        user: UserId,
        client: &ClientInfo,
        method: &str,
        failure: Option<Reason>,
    ) -> LoginEvent {
        LoginEvent {
            id: Uuid::now_v7(),
            user_id: user,
            at: self.deps.clock.now(),
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            method: method.to_owned(),
            success: failure.is_none(),
            failure_reason: failure.map(|r| r.as_str().to_owned()),
            device: Some(Device::of(client).fingerprint),
        }
    }

    /// Stores a hash with today's parameters; the login goes on if it fails.
    async fn rehash(&self, user: &User, password: &Secret<String>) {
        let stored = async {
            let hash = self.deps.hasher.hash(password).await?;
            self.deps
                .users
                .set_password_hash(user.id, &hash, self.deps.clock.now())
                .await
        }
        .await;
        if let Err(error) = stored {
            tracing::warn!(user = %user.id, %error, "password hash not upgraded");
        }
    }
}

/// A hole in the audit trail is an error for whoever runs Latch, logged
/// with what identifies the attempt (never the password or the client's
/// fields); the sign-in itself is not failed over it.
pub(crate) fn history_not_recorded(event: &LoginEvent, error: &Error) {
    tracing::error!(
        user = %event.user_id,
        attempt = %event.id,
        success = event.success,
        %error,
        "login attempt not recorded in login history"
    );
}

fn invalid_credentials() -> Error {
    Error::new(Reason::InvalidCredentials, "wrong email or password")
}

#[cfg(test)]
mod tests;
