use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    Result, UserId,
    model::{ExternalIdentity, Unlinked},
};

/// Identity's `auth_providers`: the provider accounts linked to users,
/// unique by (provider, subject).
#[async_trait]
pub trait ExternalIdentityRepository: Send + Sync + 'static {
    /// The identity `subject` at `provider`, whoever holds it.
    async fn find(&self, provider: &str, subject: &str) -> Result<Option<ExternalIdentity>>;

    /// The user's identities, oldest first, at most `limit`.
    async fn list_for_user(&self, user: UserId, limit: u64) -> Result<Vec<ExternalIdentity>>;

    /// Links `identity`. `ALREADY_EXISTS` when (provider, subject) is
    /// linked already (to this user or another): of two racing links one
    /// wins.
    async fn link(&self, identity: &ExternalIdentity) -> Result<()>;

    /// Records a sign-in with the identity; false when it is gone.
    async fn touch(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool>;

    /// Unlinks the user's identity `id` unless it is the user's last way
    /// to sign in (no password hash and no other identity), judged and
    /// done in one transaction so two racing unlinks cannot both pass.
    async fn unlink(&self, user: UserId, id: Uuid) -> Result<Unlinked>;
}
