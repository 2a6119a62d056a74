//! Ports onto sibling services. Each has two adapters: a direct call inside
//! latchd, and a tonic client for the per-service binaries.

use async_trait::async_trait;

use crate::{
    Result, SessionId, UserId,
    model::{ClientInfo, Session, TokenPair, UserStatus},
};

/// The session service.
#[async_trait]
pub trait SessionDirectory: Send + Sync + 'static {
    async fn create(&self, user: UserId, client: &ClientInfo) -> Result<Session>;
    /// The session when it is live (not revoked, expired or idle too long).
    async fn validate(&self, id: &SessionId) -> Result<Option<Session>>;
    /// Activity on a live session: moves its idle expiry to now, writing
    /// at most once per session per touch interval (a touch in between
    /// costs no write). `SESSION_REVOKED` when it is revoked, expired or
    /// idle too long (activity does not revive it), `NOT_FOUND` when
    /// unknown.
    async fn touch(&self, id: &SessionId) -> Result<()>;
    /// Idempotent: true when this call revoked it.
    async fn revoke(&self, id: &SessionId, reason: &str) -> Result<bool>;
    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        reason: &str,
    ) -> Result<u32>;
}

/// The token service, as sign-in flows see it.
#[async_trait]
pub trait TokenIssuer: Send + Sync + 'static {
    /// A new refresh family for the session and its first token pair.
    async fn issue(
        &self,
        user: UserId,
        session: &SessionId,
        client: &ClientInfo,
    ) -> Result<TokenPair>;
}

/// The token service, as the session service sees it on revocation.
#[async_trait]
pub trait TokenRevoker: Send + Sync + 'static {
    async fn revoke_session_families(&self, session: &SessionId, reason: &str) -> Result<u32>;
}

/// The identity service, as token refresh sees it.
#[async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    async fn status(&self, user: UserId) -> Result<Option<UserStatus>>;
}

/// The authorization service.
#[async_trait]
pub trait RoleDirectory: Send + Sync + 'static {
    async fn role_names(&self, user: UserId) -> Result<Vec<String>>;
    async fn has_permission(&self, user: UserId, permission: &str) -> Result<bool>;
    /// Idempotent; `NOT_FOUND` for an unknown role.
    async fn assign(&self, user: UserId, role: &str) -> Result<bool>;
    async fn unassign(&self, user: UserId, role: &str) -> Result<bool>;
}

/// One service's part of deleting a user (identity's DeleteUser, run from
/// its outbox): remove every row the service keeps about the user. Each of
/// session, token, authorization and profile implements it in process and
/// over gRPC (an internal RPC).
#[async_trait]
pub trait UserDataEraser: Send + Sync + 'static {
    /// Removes what the service keeps about `user` and returns how many
    /// rows went. Idempotent: a user with nothing left (or never known)
    /// is `Ok(0)`, never `NOT_FOUND`, so a step run again after a crash
    /// halfway succeeds.
    async fn erase_user(&self, user: UserId) -> Result<u64>;
}

/// The profile service.
#[async_trait]
pub trait ProfileDirectory: Send + Sync + 'static {
    /// Idempotent: true when this call created it.
    async fn create(&self, user: UserId, first_name: &str, last_name: &str) -> Result<bool>;
    async fn delete(&self, user: UserId) -> Result<bool>;
}
