//! Email verification: SendEmailVerification mails a code, VerifyEmail
//! takes it back and marks the address verified.
//!
//! Both RPCs are public and name the address, because the person who most
//! needs them cannot sign in yet (`LATCH_REQUIRE_VERIFIED_EMAIL`), and the
//! auth layer never reads a bearer token on a public RPC. Holding the code
//! is the proof; who calls does not matter.
//!
//! Neither answer tells whether the address has an account. Every address
//! gets a code record under `email_verification:{id}`: the account's id
//! when the address belongs to one (not a pending sign-up), otherwise a
//! stand-in id derived from the address under the code key. The code is
//! mailed only to an account whose address is unverified; for any other
//! address it is stored and never sent. So an unknown address, a verified
//! one and an unverified one pass through the same steps and answer alike,
//! throttle alike, and after five wrong codes all say `TOO_MANY_ATTEMPTS`.
//! Only the mail differs, and only its recipient sees it.

use latch_domain::{
    Result,
    model::{ClientInfo, User, UserStatus},
    ports::Recipient,
    secret, validate,
};
use uuid::Uuid;

use crate::{
    Identity,
    codes::{Purpose, code_invalid, parse_code},
    user_events::{field, user_updated},
};

/// Whose code an address has: an account, or a stand-in that is no one.
struct Subject {
    id: Uuid,
    user: Option<User>,
}

impl Identity {
    /// Queues a code for `email` (see the module: an address with no
    /// unverified account gets no mail, and the same answer).
    ///
    /// Errors: `RATE_LIMITED` (per address, one a minute and five an
    /// hour; per client address, the server layer's `recovery` group);
    /// `INVALID_ARGUMENT` naming `email`. `_client` is unused since the
    /// per-address limits moved to the server layer.
    pub async fn send_email_verification(&self, email: &str, _client: &ClientInfo) -> Result<()> {
        let email = validate::email("email", email)?;
        let subject = self.email_subject(&email).await?;
        self.throttle_code_sends(Purpose::Email, subject.id).await?;
        let code = self.issue_code(Purpose::Email, subject.id, &email).await?;
        match subject.user {
            Some(user) if !user.email_verified => {
                let mail =
                    self.code_message(Purpose::Email, Recipient::Email(email), user.id, &code)?;
                self.deps.outbox.enqueue(&[mail]).await
            }
            // Stored, never sent: see the module.
            _ => Ok(()),
        }
    }

    /// Marks `email` verified with the code mailed to it, writing
    /// `user:updated` (`email_verified`) with the change, and returns the
    /// user.
    ///
    /// Errors: `INVALID_ARGUMENT` naming `email` or `code` (malformed;
    /// costs no try); `CODE_INVALID` for a wrong code and for an address
    /// with no code or no account, alike; `CODE_EXPIRED`, `CODE_USED`,
    /// `TOO_MANY_ATTEMPTS`. (`RATE_LIMITED` per client address comes from
    /// the server layer; `_client` is unused since.)
    pub async fn verify_email(
        &self,
        email: &str,
        code: &str,
        _client: &ClientInfo,
    ) -> Result<User> {
        let email = validate::email("email", email)?;
        let code = parse_code("code", code)?;
        let subject = self.email_subject(&email).await?;
        self.use_code(Purpose::Email, subject.id, &email, &code, || async {
            // A stand-in's code was never sent: a match is a guess.
            let Some(user) = subject.user else {
                return Err(code_invalid());
            };
            let now = self.deps.clock.now();
            // Written only if this call verified it: a code used again
            // changes nothing and announces nothing.
            let updated = user_updated(user.id, &[field::EMAIL_VERIFIED], now)?;
            self.deps
                .users
                .verify_email(user.id, &email, now, &[updated])
                .await?;
            self.get_user(user.id).await
        })
        .await
    }

    /// The code subject of `email`.
    async fn email_subject(&self, email: &str) -> Result<Subject> {
        let user = self
            .deps
            .users
            .find_by_email(email)
            .await?
            .filter(|user| user.status != UserStatus::Pending);
        let id = match &user {
            Some(user) => user.id.0,
            None => self.stand_in_id(email),
        };
        Ok(Subject { id, user })
    }

    /// A stable id for an address with no account: derived under the code
    /// key, so it cannot be told from an account's id nor computed by
    /// anyone without the key.
    fn stand_in_id(&self, email: &str) -> Uuid {
        let mut message = b"latch stand-in subject\0".to_vec();
        message.extend_from_slice(email.as_bytes());
        let digest = secret::hmac_sha256(self.deps.secrets.code_key.expose(), &message);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

#[cfg(test)]
mod tests;
