//! A user's passkeys, managed: listing, renaming, deleting. Whose passkeys
//! (the caller's own, or another user's for an administrator) is decided
//! by the auth layer before these run; registering and signing in with a
//! passkey are the ceremonies in `passkey`.

use latch_domain::{
    Error, Reason, Result, UserId,
    model::{PasskeyCredential, PasskeyRemoval},
    validate,
};
use uuid::Uuid;

use crate::{
    Identity,
    passkey::USER_PASSKEYS,
    user_events::{field, user_updated},
};

impl Identity {
    /// The user's passkeys, oldest first: all of them (registration stops
    /// at [`USER_PASSKEYS`]).
    /// `NOT_FOUND` for an unknown or deleted user, so an administrator's
    /// wrong id is not mistaken for a user without passkeys.
    pub async fn list_passkeys(&self, user: UserId) -> Result<Vec<PasskeyCredential>> {
        if self.deps.users.get(user).await?.is_none() {
            return Err(Error::not_found("user"));
        }
        self.deps.passkeys.list_for_user(user, USER_PASSKEYS).await
    }

    /// Gives the user's passkey `id` the name `name` (trimmed, 1-100
    /// characters, no control characters) and returns it renamed.
    ///
    /// Errors: `INVALID_ARGUMENT` naming `name`; `NOT_FOUND` (no such
    /// passkey of this user).
    pub async fn rename_passkey(
        &self,
        user: UserId,
        id: Uuid,
        name: &str,
    ) -> Result<PasskeyCredential> {
        let name = validate::name("name", name)?;
        self.deps
            .passkeys
            .rename(user, id, &name)
            .await?
            .ok_or_else(|| Error::not_found("passkey"))
    }

    /// Deletes the user's passkey `id`, writing `user:updated`
    /// (`passkeys`) with it: like turning TOTP off, it changes how the
    /// user signs in.
    ///
    /// Errors: `NOT_FOUND` (no such passkey of this user);
    /// `LAST_SIGN_IN_METHOD` (FAILED_PRECONDITION) when the user has no
    /// password, no linked identity and no other passkey: nothing is
    /// deleted. The store judges that under the user's row lock, so two
    /// racing removals cannot both pass.
    pub async fn delete_passkey(&self, user: UserId, id: Uuid) -> Result<()> {
        let updated = user_updated(user, &[field::PASSKEYS], self.deps.clock.now())?;
        match self.deps.passkeys.delete(user, id, &[updated]).await? {
            PasskeyRemoval::Removed => {
                tracing::info!(%user, passkey = %id, "passkey deleted");
                Ok(())
            }
            PasskeyRemoval::NotFound => Err(Error::not_found("passkey")),
            PasskeyRemoval::LastSignInMethod => Err(Error::new(
                Reason::LastSignInMethod,
                "it is the last way to sign in: set a password, link a provider or add another passkey first",
            )),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
