//! Phone verification for a signed-in user: SendPhoneVerification texts a
//! code to the phone on record (or first sets a new number, unverified),
//! VerifyPhone takes it back. Codes follow the rules of `codes` under
//! `phone_verification:{userId}`; numbers are parsed and kept in E.164.

use latch_domain::{Error, Reason, Result, UserId, model::User, ports::Recipient, validate};

use crate::{
    Identity,
    codes::{Purpose, code_invalid, parse_code},
    user_events::{field, user_updated},
};

impl Identity {
    /// Texts a code to the user's phone; with `phone`, first makes that
    /// number the user's (unverified, writing `user:updated` with `phone`
    /// and `phone_verified`) unless it already is.
    ///
    /// Errors: `INVALID_ARGUMENT` naming `phone` (malformed, or absent
    /// with no phone on record); `ALREADY_VERIFIED` when the number is the
    /// verified one on record; `RATE_LIMITED` (one code a minute, five an
    /// hour). A refusal sets no number.
    pub async fn send_phone_verification(&self, user: UserId, phone: Option<&str>) -> Result<()> {
        let phone = match phone.map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(validate::phone("phone", raw)?),
        };
        let account = self.get_user(user).await?;
        let (number, is_new) = match (phone, &account.phone) {
            (Some(new), Some(old)) if &new == old => (new, false),
            (Some(new), _) => (new, true),
            (None, Some(old)) => (old.clone(), false),
            (None, None) => {
                return Err(Error::invalid_field(
                    "phone",
                    "is required: the account has no phone number",
                ));
            }
        };
        if !is_new && account.phone_verified {
            return Err(Error::new(
                Reason::AlreadyVerified,
                "this phone number is already verified",
            ));
        }
        self.throttle_code_sends(Purpose::Phone, user.0).await?;
        if is_new {
            let now = self.deps.clock.now();
            let updated = user_updated(user, &[field::PHONE, field::PHONE_VERIFIED], now)?;
            self.deps
                .users
                .set_phone(user, &number, now, &[updated])
                .await?;
        }
        let code = self.issue_code(Purpose::Phone, user.0, &number).await?;
        let sms = self.code_message(Purpose::Phone, Recipient::Phone(number), user, &code)?;
        self.deps.outbox.enqueue(&[sms]).await
    }

    /// Marks the user's phone verified with the texted code, writing
    /// `user:updated` (`phone_verified`) with the change, and returns the
    /// user.
    ///
    /// Errors: `INVALID_ARGUMENT` naming `code` (malformed; costs no try);
    /// `CODE_INVALID` (wrong, none sent, or sent to a number the user no
    /// longer has); `CODE_EXPIRED`, `CODE_USED`, `TOO_MANY_ATTEMPTS`.
    pub async fn verify_phone(&self, user: UserId, code: &str) -> Result<User> {
        let code = parse_code("code", code)?;
        let account = self.get_user(user).await?;
        let Some(number) = account.phone else {
            return Err(code_invalid());
        };
        self.use_code(Purpose::Phone, user.0, &number, &code, || async {
            let now = self.deps.clock.now();
            let updated = user_updated(user, &[field::PHONE_VERIFIED], now)?;
            self.deps
                .users
                .verify_phone(user, &number, now, &[updated])
                .await?;
            self.get_user(user).await
        })
        .await
    }
}

#[cfg(test)]
mod tests;
