use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    FamilyId, Result, RoleId, SessionId, TokenId, UserId,
    model::{
        LoginCursor, LoginEvent, NewUser, PasswordResetToken, Permission, Profile, RefreshFamily,
        RefreshToken, RevocationCursor, Role, RoleDeletion, RoleUpdate, Session, SessionQuery,
        SessionRevocation, SigningKeyRecord, StoredAvatar, User, UserStatus,
    },
    ports::{FollowUp, NewOutboxMessage},
};

/// `users`, owned by identity. A deleted user (a tombstone, see
/// [`super::UserAdminRepository`]) is no user here: `get` and
/// `find_by_email` do not return it and no write touches it.
#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    /// Fails with `ALREADY_EXISTS` when the (lowercased) email is taken,
    /// including by a concurrent insert.
    async fn create(&self, user: &NewUser) -> Result<User>;
    async fn get(&self, id: UserId) -> Result<Option<User>>;
    async fn find_by_email(&self, email: &str) -> Result<Option<User>>;
    /// Sets the status and, in the same transaction, writes `follow_up`
    /// (the sign-up saga's `user:created`). False, writing nothing, when
    /// the user does not exist.
    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    async fn set_password_hash(&self, id: UserId, hash: &str, at: DateTime<Utc>) -> Result<bool>;
    /// Sets a new password hash and, in the same transaction, writes
    /// `follow_up` (the notice mail). False, writing nothing, when the
    /// user does not exist.
    async fn change_password(
        &self,
        id: UserId,
        hash: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    /// Replaces the email with `email` (lowercased), unverified, and writes
    /// `follow_up` in the same transaction. `ALREADY_EXISTS`, writing
    /// nothing, when the address is taken (a racing change included);
    /// false, writing nothing, when the user does not exist.
    async fn change_email(
        &self,
        id: UserId,
        email: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    /// Marks the email verified at `at`, only while it is still `email`
    /// and unverified (a code mailed to an address the user has since
    /// left proves nothing). True when this call verified it; `follow_up`
    /// (its `user:updated`) is written in the same transaction then, and
    /// only then.
    async fn verify_email(
        &self,
        id: UserId,
        email: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    /// Sets the sign-in phone (E.164), unverified, unless it already is
    /// `phone`. True when it changed; `follow_up` is written with the
    /// change, and only with one.
    async fn set_phone(
        &self,
        id: UserId,
        phone: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    /// Marks the phone verified at `at`, only while it is still `phone` and
    /// unverified. True when this call verified it; `follow_up` is written
    /// with the change, and only with one.
    async fn verify_phone(
        &self,
        id: UserId,
        phone: &str,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    async fn record_login(&self, id: UserId, at: DateTime<Utc>) -> Result<()>;
    /// Removes the user and what hangs off it in identity's own tables.
    async fn delete(&self, id: UserId) -> Result<bool>;
}

/// `password_reset_tokens`, owned by identity.
#[async_trait]
pub trait PasswordResetRepository: Send + Sync + 'static {
    /// Stores `token` and writes `follow_up` (the mail carrying it) in one
    /// transaction, voiding the user's other unused tokens (and dropping
    /// expired ones). `NOT_FOUND` when the user does not exist.
    async fn issue(&self, token: &PasswordResetToken, follow_up: &[NewOutboxMessage])
    -> Result<()>;
    async fn find_by_hash(&self, hash: &[u8; 32]) -> Result<Option<PasswordResetToken>>;
    /// In one transaction: marks the token used at `at` only if it is
    /// unused and unexpired at `at`, sets the user's password hash, voids
    /// the user's other unused tokens and writes `follow_up`. False,
    /// writing nothing, when the token was used, voided or expired
    /// meanwhile: of two racing resets exactly one wins.
    async fn redeem(
        &self,
        token: &PasswordResetToken,
        at: DateTime<Utc>,
        password_hash: &str,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    /// Deletes at most `limit` tokens (of any user) that expired before
    /// `before`, used or not (a used token still ends at its expiry);
    /// returns how many. Call again until it returns less than `limit`.
    async fn delete_expired(&self, before: DateTime<Utc>, limit: u64) -> Result<u64>;
}

/// `login_history`, owned by identity.
#[async_trait]
pub trait LoginHistoryRepository: Send + Sync + 'static {
    /// Writes the attempt and, in the same transaction, `follow_up` (a
    /// notice about it). `NOT_FOUND`, writing nothing, when the user does
    /// not exist.
    async fn record(&self, event: &LoginEvent, follow_up: &[NewOutboxMessage]) -> Result<()>;
    /// Newest first.
    async fn list(&self, user: UserId, limit: u64) -> Result<Vec<LoginEvent>>;
    /// At most `limit` of the user's attempts, newest first (`at`, then
    /// `id`, descending), strictly after `after`.
    async fn page(
        &self,
        user: UserId,
        after: Option<LoginCursor>,
        limit: u64,
    ) -> Result<Vec<LoginEvent>>;
    /// Deletes at most `limit` attempts (of any user) older than `before`;
    /// returns how many. Call again until it returns less than `limit`.
    async fn delete_before(&self, before: DateTime<Utc>, limit: u64) -> Result<u64>;
    /// When the user last signed in successfully from the device with
    /// this fingerprint, or with `None` from any device that was recorded
    /// (attempts stored without a fingerprint do not count). `None` when
    /// never (or no such user).
    async fn last_success(
        &self,
        user: UserId,
        device: Option<&str>,
    ) -> Result<Option<DateTime<Utc>>>;
}

/// `profiles`, owned by profile.
#[async_trait]
pub trait ProfileRepository: Send + Sync + 'static {
    /// Inserts unless a profile for the user exists; returns whether it inserted.
    async fn create_if_absent(&self, profile: &Profile) -> Result<bool>;
    async fn get(&self, user: UserId) -> Result<Option<Profile>>;
    /// Replaces every column but the key and `created_at`, whatever the
    /// stored version, and increments the version; false if absent. For
    /// writes that must not lose a concurrent one, use
    /// [`ProfileRepository::update_versioned`].
    async fn update(&self, profile: &Profile) -> Result<bool>;
    /// Compare-and-set: replaces every column but the key and `created_at`
    /// only while the stored version is still `profile.version` (the one
    /// read), storing `profile.version + 1`, and writes `follow_up` (the
    /// `user:updated` event) in the same transaction. A stale version or a
    /// missing profile writes nothing, follow-up included.
    async fn update_versioned(
        &self,
        profile: &Profile,
        follow_up: &[NewOutboxMessage],
    ) -> Result<VersionedWrite>;
    async fn delete(&self, user: UserId) -> Result<bool>;
    /// Sets (`Some`) or clears (`None`) the avatar columns and `updated_at`
    /// (and increments `version`), nothing else, only while the stored
    /// avatar key is still `expected` (compare-and-set: uploads racing each
    /// other never lose track of an object); writes `follow_up` (the
    /// `user:updated` naming `avatar`) in the same transaction. False,
    /// writing nothing, when there is no profile or its key moved on.
    async fn set_avatar(
        &self,
        user: UserId,
        expected: Option<&str>,
        avatar: Option<&StoredAvatar>,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    /// The avatar key of each of `users` that has a profile (`None`: a
    /// profile without avatar); a user with no profile is absent.
    async fn avatar_keys(
        &self,
        users: &[UserId],
    ) -> Result<std::collections::HashMap<UserId, Option<String>>>;
}

/// What [`ProfileRepository::update_versioned`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionedWrite {
    /// Written; the stored version is now the one given.
    Written { version: i64 },
    /// Another write came first: the stored version is no longer the one
    /// read. Nothing was written.
    Stale,
    /// No such profile.
    Missing,
}

/// `roles`, `permissions`, `role_permissions`, `user_roles`, owned by authorization.
///
/// Every write takes the outbox rows that announce it (its
/// `authz:changed`) and writes them in its own transaction, only when it
/// changed something: a change is never committed without its event, and
/// a write that changed nothing or failed announces nothing.
#[async_trait]
pub trait RoleRepository: Send + Sync + 'static {
    async fn list_roles(&self) -> Result<Vec<Role>>;
    async fn find_role(&self, name: &str) -> Result<Option<Role>>;
    async fn roles_of_user(&self, user: UserId) -> Result<Vec<Role>>;
    /// Distinct permission names granted through any of the user's roles.
    async fn permissions_of_user(&self, user: UserId) -> Result<Vec<String>>;
    async fn permissions_of_role(&self, role: RoleId) -> Result<Vec<String>>;
    /// Idempotent: returns false, writing no `follow_up`, when the user
    /// already holds the role.
    async fn assign(
        &self,
        user: UserId,
        role: RoleId,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    /// False, writing no `follow_up`, when the user did not hold the role.
    async fn unassign(
        &self,
        user: UserId,
        role: RoleId,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    /// Removes every role assignment of the user; returns how many.
    /// `follow_up` is written only when there was one.
    async fn unassign_all(&self, user: UserId, follow_up: &[NewOutboxMessage]) -> Result<u64>;

    // Administration. Each write is one transaction: it completes or
    // leaves no trace, its outbox rows included.

    /// At most `limit` roles by name, after the role named `after`.
    async fn list_roles_after(&self, after: Option<&str>, limit: u64) -> Result<Vec<Role>>;
    /// `(role, permission)` for every grant of `roles`, by permission name.
    async fn grants_of_roles(&self, roles: &[RoleId]) -> Result<Vec<(RoleId, String)>>;
    /// Inserts `role` (its name unique, else `ALREADY_EXISTS`) granting
    /// `permissions` (each existing, else `NOT_FOUND`), with `follow_up`.
    async fn create_role(
        &self,
        role: &Role,
        permissions: &[String],
        follow_up: &[NewOutboxMessage],
    ) -> Result<()>;
    /// Applies `update` to the role; false, writing no `follow_up`, when
    /// it does not exist. A new permission set replaces the old one whole
    /// (`NOT_FOUND` for an unknown permission).
    async fn update_role(
        &self,
        role: RoleId,
        update: &RoleUpdate,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    /// Deletes a custom role (never a built-in one: `NotFound`). Without
    /// `force`, a role some user holds stays (`InUse`); with it, the role
    /// is taken from its holders. Decided under a lock on the role, so an
    /// assignment racing the deletion is counted or fails `NOT_FOUND`.
    /// `follow_up` is written only when the role is `Deleted`.
    async fn delete_role(
        &self,
        role: RoleId,
        force: bool,
        follow_up: &[NewOutboxMessage],
    ) -> Result<RoleDeletion>;
    /// Idempotent: false, writing no `follow_up`, when the role already
    /// grants the permission; `NOT_FOUND` when either does not exist.
    async fn grant(
        &self,
        role: RoleId,
        permission: &str,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    /// Idempotent: false, writing no `follow_up`, when the role did not
    /// grant the permission.
    async fn revoke(
        &self,
        role: RoleId,
        permission: &str,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;

    /// The permissions among `names` that exist, by name.
    async fn find_permissions(&self, names: &[String]) -> Result<Vec<Permission>>;
    /// At most `limit` permissions by name, after the one named `after`.
    async fn list_permissions_after(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Permission>>;
    /// Inserts `permission` (`ALREADY_EXISTS` when the name is taken) and
    /// grants it to `grant_to` in the same transaction, with `follow_up`.
    async fn create_permission(
        &self,
        permission: &Permission,
        grant_to: &[RoleId],
        follow_up: &[NewOutboxMessage],
    ) -> Result<()>;
    /// Deletes a custom permission and every grant of it, with the rows
    /// `follow_up` builds from the name of each role that granted it; the
    /// names of those roles, or `None`, writing nothing, when there is no
    /// such custom permission (absent, or built in).
    async fn delete_permission(
        &self,
        name: &str,
        follow_up: FollowUp<'_, str>,
    ) -> Result<Option<Vec<String>>>;
}

/// `sessions`, owned by session.
#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    /// Inserts the session and, in the same transaction, `follow_up`
    /// (its `session:created` event); `ALREADY_EXISTS`, writing nothing,
    /// when the id is taken.
    async fn create(&self, session: &Session, follow_up: &[NewOutboxMessage]) -> Result<()>;
    async fn get(&self, id: &SessionId) -> Result<Option<Session>>;
    /// At most `query.limit` of the user's sessions, most recently active
    /// first (`last_active_at`, then `id`, descending), after the cursor.
    async fn list_for_user(&self, user: UserId, query: &SessionQuery) -> Result<Vec<Session>>;
    async fn touch(&self, id: &SessionId, at: DateTime<Utc>) -> Result<bool>;
    /// Revokes if not yet revoked; returns the session when this call
    /// revoked it. In the same transaction, writes the outbox rows
    /// `follow_up` builds from the session, and its entry of the
    /// revocation list ([`Self::list_revocations`]), only when this call
    /// revoked it.
    async fn revoke(
        &self,
        id: &SessionId,
        at: DateTime<Utc>,
        reason: &str,
        follow_up: FollowUp<'_, Session>,
    ) -> Result<Option<Session>>;
    /// Revokes at most `limit` unrevoked sessions of the user but `except`,
    /// with the outbox rows `follow_up` builds from each and their entries
    /// of the revocation list, in one transaction; returns those revoked.
    /// Call again until it returns none.
    async fn revoke_all_for_user(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        at: DateTime<Utc>,
        reason: &str,
        limit: u64,
        follow_up: FollowUp<'_, Session>,
    ) -> Result<Vec<Session>>;
    /// Deletes at most `limit` sessions revoked or past their absolute end
    /// before `ended_before`, or last active before `idle_before`; returns
    /// how many. Call again until it returns less than `limit`.
    async fn delete_ended(
        &self,
        ended_before: DateTime<Utc>,
        idle_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64>;
    /// Deletes at most `limit` sessions of the user, revoked or not;
    /// returns how many. Call again until it returns less than `limit`.
    /// Their entries of the revocation list stay.
    async fn delete_for_user(&self, user: UserId, limit: u64) -> Result<u64>;
    /// At most `limit` entries of the revocation list revoked at or after
    /// `since` and after `after`, oldest first (`revoked_at`, then the
    /// session id). Entries outlive their session row (retention, a
    /// deleted user) until [`Self::delete_revocations`] removes them.
    async fn list_revocations(
        &self,
        since: DateTime<Utc>,
        after: Option<&RevocationCursor>,
        limit: u64,
    ) -> Result<Vec<SessionRevocation>>;
    /// Deletes at most `limit` entries of the revocation list revoked
    /// before `before`; returns how many. Call again until it returns less
    /// than `limit`.
    async fn delete_revocations(&self, before: DateTime<Utc>, limit: u64) -> Result<u64>;
}

/// `refresh_token_families` and `refresh_tokens`, owned by token.
#[async_trait]
pub trait RefreshTokenRepository: Send + Sync + 'static {
    /// Writes the family and its first token in one transaction.
    async fn create_family(&self, family: &RefreshFamily, first: &RefreshToken) -> Result<()>;
    async fn find_by_hash(&self, hash: &[u8; 32]) -> Result<Option<(RefreshToken, RefreshFamily)>>;
    async fn get_family(&self, id: FamilyId) -> Result<Option<RefreshFamily>>;
    /// In one transaction: marks `spent` as spent at `at` only if it is still
    /// unspent and its family (the successor's) is unrevoked and unexpired
    /// at `at`, and inserts `successor`. Returns false, writing nothing,
    /// when the token was already spent or its family revoked or ended: of
    /// two concurrent rotations exactly one wins, and a rotation racing a
    /// revocation of its family either comes before it or writes nothing.
    async fn rotate(
        &self,
        spent: TokenId,
        at: DateTime<Utc>,
        successor: &RefreshToken,
    ) -> Result<bool>;
    /// Returns false when the family was already revoked or does not exist.
    /// In the same transaction, writes `follow_up` to the outbox, only when
    /// this call revoked the family.
    async fn revoke_family(
        &self,
        family: FamilyId,
        at: DateTime<Utc>,
        reason: &str,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;
    /// Revokes the live families of a session; returns how many.
    async fn revoke_families_of_session(
        &self,
        session: &SessionId,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64>;
    async fn revoke_families_of_user(
        &self,
        user: UserId,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64>;
    /// Deletes families that ended or were revoked before `before`, with their tokens.
    async fn delete_expired(&self, before: DateTime<Utc>) -> Result<u64>;
    /// Deletes at most `limit` families of the user, live or not, with
    /// their tokens; returns how many families. Call again until it
    /// returns less than `limit`.
    async fn delete_for_user(&self, user: UserId, limit: u64) -> Result<u64>;
}

/// `signing_keys`, owned by token.
#[async_trait]
pub trait SigningKeyRepository: Send + Sync + 'static {
    /// Oldest first.
    async fn list(&self) -> Result<Vec<SigningKeyRecord>>;
    /// `ALREADY_EXISTS` when the kid is taken.
    async fn insert(&self, key: &SigningKeyRecord) -> Result<()>;
    /// Inserts `key` unless a key created after `since` exists, in one
    /// statement; false (nothing written) when one does. Scheduled rotation
    /// on every replica: the first replica past the period rotates, the
    /// others see its key. Two replicas inserting at the very same moment
    /// may both succeed on PostgreSQL (read committed); the ring tolerates
    /// that (the newer key signs, the other is retired and stays published).
    async fn insert_if_none_since(
        &self,
        key: &SigningKeyRecord,
        since: DateTime<Utc>,
    ) -> Result<bool>;
    async fn retire(&self, kid: &str, at: DateTime<Utc>) -> Result<bool>;
    /// Retires, at `at`, every live key older than `newest` in the order
    /// (`created_at`, `kid`); returns how many. The newest key in that
    /// order is never retired by anyone, so replicas rotating at once
    /// cannot leave no live key.
    async fn retire_older_than(&self, newest: &SigningKeyRecord, at: DateTime<Utc>) -> Result<u64>;
}
