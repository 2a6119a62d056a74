//! Password login.
//!
//! One answer, `INVALID_CREDENTIALS`, for an unknown email, a wrong password
//! and an unfinished sign-up, at one cost: exactly one argon2 verify (a dummy
//! hash stands in for a missing user). The account's status is told only to
//! someone who proved the password.
//!
//! A user with TOTP on gets, once the password is right, a second-factor
//! challenge instead of tokens (`second_factor`); no session exists until
//! CompleteSecondFactor. Everyone else is signed in through `sign_in`, the
//! one path that opens the session, issues the tokens, records the
//! sign-in and sends the new-device notice.
//!
//! Every attempt against a known user leaves a `login_history` row, with
//! the client's fields bounded and normalised by
//! [`latch_domain::client_fields`] so that no client can make its own rows
//! fail. A history write that fails anyway is logged as an error and does
//! not change the answer.

use std::sync::Arc;

use latch_domain::{
    Error, Reason, Result, client_fields,
    model::{ClientInfo, LoginEvent, TokenPair, User, UserStatus},
    secret::{self, Secret},
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
    /// Signs in with email and password.
    ///
    /// Errors: `RATE_LIMITED` (per client IP, then per email);
    /// `INVALID_CREDENTIALS` for a malformed or unknown email, a wrong
    /// password, or a pending user; after the password matched,
    /// `ACCOUNT_INACTIVE` (suspended, deactivated) or `EMAIL_NOT_VERIFIED`
    /// (when the deployment requires it). A user with TOTP on then gets a
    /// [`LoginOutcome::SecondFactor`] challenge. Every attempt against a
    /// known user lands in its login history (refusals shortly after the
    /// answer).
    pub async fn login(&self, attempt: Credentials) -> Result<LoginOutcome> {
        let Credentials {
            email,
            password,
            client,
        } = attempt;
        // Once, here: the rate-limit key, the session and the history row
        // all see the same canonical IP and bounded user agent.
        let client = client_fields::normalize(&client);
        if let Some(ip) = &client.ip {
            self.deps
                .rate_limiter
                .hit(
                    &format!("login:ip:{ip}"),
                    self.config.login_limit_per_ip,
                    self.config.login_window,
                )
                .await?;
        }
        // A malformed address cannot belong to an account: it is answered
        // like an unknown one (the proto promises no INVALID_ARGUMENT here).
        let email = validate::email("email", &email).ok();
        let user = match &email {
            Some(email) => {
                self.deps
                    .rate_limiter
                    .hit(
                        &email_limit_key(email),
                        self.config.login_limit_per_email,
                        self.config.login_window,
                    )
                    .await?;
                self.deps.users.find_by_email(email).await?
            }
            None => None,
        };

        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let verdict = self.deps.hasher.verify(&password, stored).await?;
        let Some(user) = user else {
            return Err(invalid_credentials());
        };
        let refuse = |err| self.refuse(&user, &client, METHOD_PASSWORD, err);
        if !verdict.matches {
            return Err(refuse(invalid_credentials()).await);
        }
        match user.status {
            UserStatus::Active => {}
            // A sign-up still running or abandoned: not an account yet.
            UserStatus::Pending => return Err(refuse(invalid_credentials()).await),
            UserStatus::Suspended | UserStatus::Deactivated => {
                let err = Error::new(Reason::AccountInactive, "the account is not active");
                return Err(refuse(err).await);
            }
        }
        if self.config.require_verified_email && !user.email_verified {
            let err = Error::new(
                Reason::EmailNotVerified,
                "the email address must be verified first",
            );
            return Err(refuse(err).await);
        }
        if verdict.needs_rehash {
            self.rehash(&user, &password).await;
        }
        if user.totp_enabled {
            let challenge = self.second_factor_challenge(&user, &client).await?;
            return Ok(LoginOutcome::SecondFactor(challenge));
        }
        let tokens = self.sign_in(&user, &client, METHOD_PASSWORD).await?;
        Ok(LoginOutcome::SignedIn(tokens))
    }

    /// Records a refused attempt (`method` as the history names it) and
    /// hands the error back. The write is detached from the answer: an
    /// unknown email writes nothing, so a known one must not answer later
    /// because of its history row.
    pub(crate) async fn refuse(
        &self,
        user: &User,
        client: &ClientInfo,
        method: &str,
        err: Error,
    ) -> Error {
        let event = self.attempt(user, client, method, Some(err.reason()), None);
        let history = Arc::clone(&self.deps.login_history);
        tokio::spawn(async move {
            if let Err(error) = history.record(&event, &[]).await {
                history_not_recorded(&event, &error);
            }
        });
        err
    }

    /// A login-history row of `user` now; `device` is the fingerprint a
    /// successful sign-in is remembered by.
    pub(crate) fn attempt(
        &self,
        user: &User,
        client: &ClientInfo,
        method: &str,
        failure: Option<Reason>,
        device: Option<&Device>,
    ) -> LoginEvent {
        LoginEvent {
            id: Uuid::now_v7(),
            user_id: user.id,
            at: self.deps.clock.now(),
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            method: method.to_owned(),
            success: failure.is_none(),
            failure_reason: failure.map(|r| r.as_str().to_owned()),
            device: device.map(|d| d.fingerprint.clone()),
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

/// The per-email counter's key names a hash of the address, so rate-limit
/// keys in Redis hold no personal data.
fn email_limit_key(email: &str) -> String {
    let digest = secret::sha256(email);
    format!("login:email:{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests;
