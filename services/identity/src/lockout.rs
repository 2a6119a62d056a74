//! Lockout with backoff: failed password and second-factor attempts are
//! counted per account (`latch_domain::ports::lockout` has the rule), in
//! one atomic step on the shared counter before the hash or code is
//! checked, so parallel guesses on any number of replicas cannot all pass
//! the threshold. A right password takes its count back; a sign-in or a
//! password reset forgets every failure; only failures stay counted.
//!
//! The counter of an address is keyed by an HMAC of it under the code
//! key, whether or not it has an account: an unknown or malformed address
//! is throttled exactly like a known one (`LOGIN_THROTTLED`, RetryInfo),
//! Redis holds no address, and the durable copy (`users.failed_login_count`,
//! `users.locked_until`) is read for every address alike (an unknown one
//! under a stand-in id that matches no row) and written, off the answer's
//! path, only for an account.

use std::time::Duration;

use latch_domain::{
    Result, UserId,
    model::User,
    ports::{Failures, Rate},
    secret,
};

use crate::Identity;

/// Guesses a signed-in session may make at its user's password or codes
/// (ChangePassword, ChangeEmail, DisableTotp, ConfirmTotpEnrollment), per
/// user: a stolen session cannot guess quickly, and its guesses do not
/// lock the owner out of signing in.
pub(crate) const IN_SESSION_PROOFS: Rate = Rate::per(10, Duration::from_secs(60));

impl Identity {
    /// The digest that names `email`'s counter (and its stand-in id).
    fn address_digest(&self, email: &str) -> [u8; 32] {
        let mut message = b"login_failures\x1f".to_vec();
        message.extend_from_slice(email.trim().to_lowercase().as_bytes());
        secret::hmac_sha256(self.deps.secrets.code_key.expose(), &message)
    }

    fn failure_key(&self, email: &str) -> String {
        hex::encode(&self.address_digest(email)[..16])
    }

    /// Takes one sign-in attempt at `email` (whose account is `user`, if
    /// any) before its password or code is checked: `LOGIN_THROTTLED` while
    /// the address must wait, otherwise the failures counted with this one.
    pub(crate) async fn begin_attempt(&self, email: &str, user: Option<&User>) -> Result<Failures> {
        let digest = self.address_digest(email);
        let copy_of = match user {
            Some(user) => user.id,
            None => {
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(&digest[16..]);
                UserId(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }
        };
        let seed = self
            .deps
            .failure_records
            .failures(copy_of)
            .await?
            .remembered_at(self.deps.clock.now());
        self.deps
            .failure_counter
            .begin(&hex::encode(&digest[..16]), &self.config.lockout, seed)
            .await
    }

    /// The attempt at `user` failed: its count stays, and the durable copy
    /// records it, detached from the answer (an unknown address writes
    /// nothing, so a known one must not answer later for its write).
    pub(crate) fn attempt_failed(&self, user: &User, failures: Failures) {
        let records = self.deps.failure_records.clone();
        let id = user.id;
        tokio::spawn(async move {
            if let Err(error) = records.record_failures(id, failures).await {
                tracing::warn!(user = %id, %error, "failed sign-in not copied to the users table");
            }
        });
    }

    /// The attempt at `email` was no failure: its password or code was
    /// right though nobody signed in (a second factor to come, an inactive
    /// account), or it was never checked (the hasher was busy).
    pub(crate) async fn take_back_attempt(&self, email: &str) {
        let counter = &self.deps.failure_counter;
        if let Err(error) = counter.take_back(&self.failure_key(email)).await {
            tracing::warn!(%error, "an attempt that was no failure stays counted as one");
        }
    }

    /// `user` signed in, or reset the password: every failure is forgotten.
    pub(crate) async fn forget_failures(&self, user: &User) {
        if let Err(error) = self
            .deps
            .failure_counter
            .clear(&self.failure_key(&user.email))
            .await
        {
            tracing::warn!(user = %user.id, %error, "failed sign-ins not forgotten");
        }
        if let Err(error) = self.deps.failure_records.clear_failures(user.id).await {
            tracing::warn!(user = %user.id, %error, "failed sign-ins not cleared in the users table");
        }
    }
}

#[cfg(test)]
mod tests;
