//! A signed-in user's external identities: listing, linking one from a
//! StartOAuth round trip the same user started, and unlinking one unless
//! it is the last way to sign in.

use latch_domain::{
    Error, Reason, Result, UserId,
    model::{ExternalIdentity, Unlinked},
    ports::CodeExchange,
    secret::Secret,
};
use uuid::Uuid;

use crate::{Identity, oauth::state_invalid};

/// More than anyone links; the list is not paged.
const LIST_LIMIT: u64 = 50;

impl Identity {
    /// The user's identities, oldest first.
    pub async fn list_identities(&self, user: UserId) -> Result<Vec<ExternalIdentity>> {
        self.deps.identities.list_for_user(user, LIST_LIMIT).await
    }

    /// Links the identity behind `code` to `user`. The state must come
    /// from a StartOAuth this user made while signed in: a state anyone
    /// else started (a return planted in the user's browser) would link
    /// their identity to this account.
    ///
    /// Errors: as CompleteOAuth's state and exchange (`INVALID_ARGUMENT`,
    /// `TOKEN_INVALID`, `TOKEN_EXPIRED`, `UNAVAILABLE`,
    /// `INVALID_CREDENTIALS`); `ALREADY_EXISTS` when the identity is
    /// another user's. Linking one the user holds already answers it.
    pub async fn link_identity(
        &self,
        user: UserId,
        provider: &str,
        code: Secret<String>,
        state: Secret<String>,
    ) -> Result<ExternalIdentity> {
        let pending = self
            .take_authorization(provider, code.expose(), state.expose())
            .await?;
        if pending.user != Some(user) {
            return Err(state_invalid());
        }
        let claims = self
            .deps
            .oauth
            .exchange(
                provider,
                CodeExchange {
                    redirect_uri: pending.redirect_uri,
                    code,
                    pkce_verifier: Secret::new(pending.pkce_verifier),
                    nonce: Secret::new(pending.nonce),
                },
            )
            .await?;
        if let Some(known) = self.deps.identities.find(provider, &claims.subject).await? {
            return if known.user_id == user {
                Ok(known)
            } else {
                Err(linked_elsewhere())
            };
        }
        let owner = self
            .deps
            .users
            .get(user)
            .await?
            .ok_or_else(|| Error::not_found("user"))?;
        let email = claims.email.clone().unwrap_or_default().to_lowercase();
        self.link(&owner, provider, &claims, &email)
            .await
            .map_err(|err| {
                if err.is(Reason::AlreadyExists) {
                    linked_elsewhere()
                } else {
                    err
                }
            })
    }

    /// Unlinks the user's identity `id`.
    ///
    /// Errors: `NOT_FOUND` (no such identity of this user);
    /// `LAST_SIGN_IN_METHOD` (FAILED_PRECONDITION) when the user has no
    /// password and no other identity.
    pub async fn unlink_identity(&self, user: UserId, id: Uuid) -> Result<()> {
        match self.deps.identities.unlink(user, id).await? {
            Unlinked::Unlinked => {
                tracing::info!(%user, identity = %id, "external identity unlinked");
                Ok(())
            }
            Unlinked::NotFound => Err(Error::not_found("identity")),
            Unlinked::LastSignInMethod => Err(Error::new(
                Reason::LastSignInMethod,
                "it is the last way to sign in: set a password or link another provider first",
            )),
        }
    }
}

fn linked_elsewhere() -> Error {
    Error::new(
        Reason::AlreadyExists,
        "this identity is linked to another account",
    )
}
