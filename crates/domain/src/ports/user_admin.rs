//! `users` as administration and account deletion see them, owned by
//! identity.
//!
//! A deleted user is a tombstone until the retention ends: `deleted_at`
//! set, status `deactivated`, the email replaced by a placeholder (so the
//! address is free again at once) and every other personal column
//! cleared. [`super::UserRepository`] never returns a tombstone (GetUser,
//! login, refresh and every flow see no such user), and no write of its
//! touches one, so a replayed token or event cannot bring the account
//! back; the id stays known, so DeleteUser can be run again until the
//! tombstone is purged.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    Result, UserId,
    model::{StatusChange, Tombstoning, User, UserQuery, UserStatus},
    ports::NewOutboxMessage,
};

#[async_trait]
pub trait UserAdminRepository: Send + Sync + 'static {
    /// At most `query.limit` users matching the query, newest first
    /// (`created_at`, then `id`, descending), strictly after the cursor;
    /// never a tombstone.
    async fn list(&self, query: &UserQuery) -> Result<Vec<User>>;

    /// Sets the status of a user that is neither deleted nor pending, and
    /// writes `follow_up` in the same transaction. A user that has the
    /// status already is [`StatusChange::Unchanged`] and nothing is
    /// written (the follow-up neither).
    async fn change_status(
        &self,
        id: UserId,
        status: UserStatus,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<StatusChange>;

    /// Marks the user deleted at `at` and, in the same transaction, clears
    /// its personal columns, deletes what hangs off it in identity's own
    /// tables (login history, reset tokens, recovery codes, linked
    /// identities, passkeys) and writes `follow_up` and `on_marked` (the
    /// `user:deleted` event). A user deleted already keeps its tombstone
    /// and time; only `follow_up` is written (DeleteUser run again), not
    /// `on_marked`: the deletion was announced when it happened. Nothing
    /// is written for an unknown user.
    async fn tombstone(
        &self,
        id: UserId,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
        on_marked: &[NewOutboxMessage],
    ) -> Result<Tombstoning>;

    /// At most `limit` users deleted before `before`, oldest first.
    async fn deleted_before(&self, before: DateTime<Utc>, limit: u64) -> Result<Vec<UserId>>;

    /// Removes a tombstone for good, with anything still hanging off it in
    /// identity's tables. False, removing nothing, when `id` is no
    /// tombstone: a live user is never purged.
    async fn purge(&self, id: UserId) -> Result<bool>;
}
