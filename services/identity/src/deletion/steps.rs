//! The outbox work of user administration, run by identity's worker (the
//! identity binary's, or latchd's one worker) against the siblings:
//!
//! - `identity.revoke_sessions`: every session of a suspended or
//!   deactivated user (SetUserStatus);
//! - `identity.erase_sessions`, `identity.erase_tokens`,
//!   `identity.erase_roles`, `identity.erase_profile`: one service's part
//!   of deleting a user (DeleteUser), each through that service's
//!   [`UserDataEraser`].
//!
//! Every row is keyed by the user's id and carries only that id (and a
//! reason); every handler is idempotent, so a row run twice, or again
//! after a crash halfway, ends the same.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Result, UserId,
    ports::{NewOutboxMessage, OutboxHandler, OutboxMessage, SessionDirectory, UserDataEraser},
};
use serde::{Deserialize, Serialize};

pub const REVOKE_SESSIONS: &str = "identity.revoke_sessions";
pub(crate) const ERASE_SESSIONS: &str = "identity.erase_sessions";
pub(crate) const ERASE_TOKENS: &str = "identity.erase_tokens";
pub(crate) const ERASE_ROLES: &str = "identity.erase_roles";
pub(crate) const ERASE_PROFILE: &str = "identity.erase_profile";

/// Every kind of a deleted user's parts, one per sibling.
pub const ERASE_KINDS: [&str; 4] = [ERASE_SESSIONS, ERASE_TOKENS, ERASE_ROLES, ERASE_PROFILE];

#[derive(Debug, Serialize, Deserialize)]
struct RevokePayload {
    user_id: UserId,
    reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ErasePayload {
    user_id: UserId,
}

/// The row that revokes every session of `user` with `reason`.
pub(crate) fn revoke_sessions(
    user: UserId,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<NewOutboxMessage> {
    let payload = RevokePayload {
        user_id: user,
        reason: reason.to_owned(),
    };
    NewOutboxMessage::new(REVOKE_SESSIONS, &user.to_string(), &payload, at)
}

/// The rows that remove `user`'s rows in every sibling.
pub(crate) fn erase_everywhere(user: UserId, at: DateTime<Utc>) -> Result<Vec<NewOutboxMessage>> {
    let payload = ErasePayload { user_id: user };
    ERASE_KINDS
        .iter()
        .map(|kind| NewOutboxMessage::new(kind, &user.to_string(), &payload, at))
        .collect()
}

/// Each sibling's part of deleting a user: in process in latchd, over
/// gRPC (internal RPCs) in the identity binary.
#[derive(Clone)]
pub struct UserErasers {
    pub sessions: Arc<dyn UserDataEraser>,
    pub tokens: Arc<dyn UserDataEraser>,
    pub roles: Arc<dyn UserDataEraser>,
    pub profiles: Arc<dyn UserDataEraser>,
}

impl UserErasers {
    /// The eraser and the outbox kind of each sibling.
    pub(crate) fn by_kind(&self) -> [(&'static str, Arc<dyn UserDataEraser>); 4] {
        [
            (ERASE_SESSIONS, self.sessions.clone()),
            (ERASE_TOKENS, self.tokens.clone()),
            (ERASE_ROLES, self.roles.clone()),
            (ERASE_PROFILE, self.profiles.clone()),
        ]
    }

    /// Every sibling's part at once, for the final sweep before a
    /// tombstone is purged; the first failure is returned after all ran.
    pub(crate) async fn erase_everywhere(&self, user: UserId) -> Result<u64> {
        let mut erased = 0;
        let mut failed = Ok(());
        for (kind, eraser) in self.by_kind() {
            match eraser.erase_user(user).await {
                Ok(rows) => erased += rows,
                Err(error) => {
                    tracing::warn!(%user, kind, %error, "a deleted user's rows not erased yet");
                    failed = failed.and(Err(error));
                }
            }
        }
        failed.map(|()| erased)
    }
}

/// The handlers of identity's administration rows, for the worker that
/// runs identity's kinds.
pub fn admin_handlers(
    sessions: Arc<dyn SessionDirectory>,
    erasers: &UserErasers,
) -> Vec<Arc<dyn OutboxHandler>> {
    let mut handlers: Vec<Arc<dyn OutboxHandler>> = vec![Arc::new(RevokeSessions { sessions })];
    for (kind, eraser) in erasers.by_kind() {
        handlers.push(Arc::new(Erase { kind, eraser }));
    }
    handlers
}

/// Runs [`REVOKE_SESSIONS`]: revoking what is revoked already changes nothing.
struct RevokeSessions {
    sessions: Arc<dyn SessionDirectory>,
}

#[async_trait]
impl OutboxHandler for RevokeSessions {
    fn kind(&self) -> &'static str {
        REVOKE_SESSIONS
    }

    async fn handle(&self, message: &OutboxMessage) -> Result<()> {
        let payload: RevokePayload = message.decode()?;
        let revoked = self
            .sessions
            .revoke_all(payload.user_id, None, &payload.reason)
            .await?;
        tracing::debug!(user = %payload.user_id, revoked, "revoked the sessions of an inactive user");
        Ok(())
    }
}

/// Runs one of [`ERASE_KINDS`] through its sibling's eraser.
struct Erase {
    kind: &'static str,
    eraser: Arc<dyn UserDataEraser>,
}

#[async_trait]
impl OutboxHandler for Erase {
    fn kind(&self) -> &'static str {
        self.kind
    }

    async fn handle(&self, message: &OutboxMessage) -> Result<()> {
        let payload: ErasePayload = message.decode()?;
        let erased = self.eraser.erase_user(payload.user_id).await?;
        tracing::info!(user = %payload.user_id, kind = self.kind, erased, "a deleted user's rows erased");
        Ok(())
    }
}
