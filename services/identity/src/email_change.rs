//! ChangeEmail: a signed-in user moves the account to another address,
//! proving the password. The new address must be free (case-insensitive)
//! and starts unverified; a verification code is mailed to it and a notice
//! to the old one, both written in the transaction of the change.

use latch_domain::{
    Error, Reason, Result, UserId,
    model::User,
    ports::{MessageTemplate, OutboundMessage, Recipient},
    secret::Secret,
    validate,
};

use crate::{
    Identity,
    codes::Purpose,
    user_events::{field, user_updated},
};

impl Identity {
    /// Moves the caller's account to `new_email`, writing `user:updated`
    /// (`email`, `email_verified`) with the change, and returns the user.
    ///
    /// Errors: `INVALID_ARGUMENT` naming `new_email` (malformed, or the
    /// current address); `RATE_LIMITED` (password checks per user);
    /// `INVALID_CREDENTIALS`; `EMAIL_TAKEN`, including by a change or a
    /// sign-up racing this one. A refusal changes nothing.
    pub async fn change_email(
        &self,
        user: UserId,
        new_email: &str,
        password: &Secret<String>,
    ) -> Result<User> {
        let new_email = validate::email("new_email", new_email)?;
        let account = self.check_current_password(user, password).await?;
        if new_email == account.email {
            return Err(Error::invalid_field(
                "new_email",
                "is already the account's address",
            ));
        }
        if self.deps.users.find_by_email(&new_email).await?.is_some() {
            return Err(email_taken());
        }
        // Stored once the change is: a refused change leaves any code
        // pending for the old address as it was.
        let code = self.prepare_code(Purpose::Email, user.0, &new_email)?;
        let now = self.deps.clock.now();
        let verification = self.code_message(
            Purpose::Email,
            Recipient::Email(new_email.clone()),
            user,
            &code.code,
        )?;
        let notice = self.deps.messages.compose(
            &OutboundMessage::new(
                MessageTemplate::EmailChanged,
                Recipient::Email(account.email.clone()),
                Some(user),
            )
            .with("new_email", new_email.clone()),
            now,
        )?;
        let updated = user_updated(user, &[field::EMAIL, field::EMAIL_VERIFIED], now)?;
        match self
            .deps
            .users
            .change_email(user, &new_email, now, &[verification, notice, updated])
            .await
        {
            Ok(true) => {}
            Ok(false) => return Err(Error::not_found("user")),
            Err(err) if err.is(Reason::AlreadyExists) => return Err(email_taken()),
            Err(err) => return Err(err),
        }
        if let Err(error) = self.store_code(&code).await {
            // The address changed; the person asks for another code.
            tracing::warn!(%user, %error, "verification code of a new address not stored");
        }
        self.get_user(user).await
    }
}

fn email_taken() -> Error {
    Error::new(Reason::EmailTaken, "the email address is already in use")
}

#[cfg(test)]
mod tests;
