use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    Result, UserId,
    model::{PasskeyCredential, PasskeyRemoval, PasskeyUse},
    ports::NewOutboxMessage,
};

/// Identity's `passkey_credentials`: the WebAuthn credentials of users,
/// unique by credential id.
#[async_trait]
pub trait PasskeyRepository: Send + Sync + 'static {
    /// Adds `credential` and writes `follow_up` (its `user:updated`) in
    /// the same transaction. `ALREADY_EXISTS`, writing nothing, when its
    /// credential id is registered already (to this user or another).
    async fn add(
        &self,
        credential: &PasskeyCredential,
        follow_up: &[NewOutboxMessage],
    ) -> Result<()>;

    /// The passkey with this credential id, whoever holds it.
    async fn find_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyCredential>>;

    /// The user's passkey `id`; `None` when it is not the user's.
    async fn get(&self, user: UserId, id: Uuid) -> Result<Option<PasskeyCredential>>;

    /// The user's passkeys, oldest first, at most `limit`.
    async fn list_for_user(&self, user: UserId, limit: u64) -> Result<Vec<PasskeyCredential>>;

    /// Renames the user's passkey `id`; `None` when it is not the user's.
    async fn rename(&self, user: UserId, id: Uuid, name: &str)
    -> Result<Option<PasskeyCredential>>;

    /// Records a successful assertion; false (nothing changed) when the
    /// passkey is gone or its counter is no longer `previous_count`.
    async fn record_use(&self, id: Uuid, used: &PasskeyUse) -> Result<bool>;

    /// Marks the passkey as possibly cloned (a counter that did not
    /// increase); the first mark's time is kept.
    async fn mark_clone_suspected(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;

    /// Deletes the user's passkey `id` unless it is the user's last way to
    /// sign in (no password hash, no linked identity, no other passkey),
    /// judged and done in one transaction under the user's row lock, so
    /// two racing removals (of passkeys or identities) cannot both pass.
    /// `follow_up` is written in the same transaction when the passkey
    /// is removed, and only then.
    async fn delete(
        &self,
        user: UserId,
        id: Uuid,
        follow_up: &[NewOutboxMessage],
    ) -> Result<PasskeyRemoval>;
}
