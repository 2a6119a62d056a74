//! Revocation of refresh families: one token's (RFC 7009), one session's,
//! all of a user's; and the cleanup of ended families.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use latch_domain::{
    Clock, Error, FamilyId, Reason, Result, SessionId, UserId,
    model::RefreshFamily,
    ports::{RefreshTokenRepository, TokenRevoker},
    secret::sha256,
};

use crate::{Tokens, refresh::session_revoked, span};

/// Revocation reason when a spent refresh token came back.
pub const REASON_REUSED: &str = "refresh_token_reused";
/// Revocation reason of RevokeToken.
pub const REASON_TOKEN_REVOKED: &str = "token_revoked";
/// The stored reason column is this wide.
pub const REASON_MAX_CHARS: usize = 64;

/// What an admin's RevokeFamily names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationTarget {
    Family(FamilyId),
    Session(SessionId),
}

impl Tokens {
    /// RFC 7009: revokes the family of a refresh token, and answers OK
    /// whatever the token was (unknown, spent, already revoked, an access
    /// token), so the answer tells a caller nothing.
    pub async fn revoke_refresh_token(&self, token: &str) -> Result<()> {
        let token = token.trim();
        if token.is_empty() || token.len() > 128 {
            return Ok(());
        }
        if let Some((_, family)) = self
            .deps
            .refresh_tokens
            .find_by_hash(&sha256(token))
            .await?
        {
            let now = self.deps.clock.now();
            self.deps
                .refresh_tokens
                .revoke_family(family.id, now, REASON_TOKEN_REVOKED, &[])
                .await?;
        }
        Ok(())
    }

    /// Revokes one family; false when it was already revoked, `NOT_FOUND`
    /// when there is no such family.
    pub async fn revoke_family(&self, family: FamilyId, reason: &str) -> Result<bool> {
        let now = self.deps.clock.now();
        let repo = &self.deps.refresh_tokens;
        if repo.revoke_family(family, now, &clip(reason), &[]).await? {
            return Ok(true);
        }
        match repo.get_family(family).await? {
            Some(_) => Ok(false),
            None => Err(Error::not_found("refresh token family")),
        }
    }

    /// Whose refresh tokens a revocation by family or session would end:
    /// the family's user, or the live session's (a session that is not
    /// live has no live families left to protect). `None` when unknown.
    pub async fn owner_of(&self, target: &RevocationTarget) -> Result<Option<UserId>> {
        match target {
            RevocationTarget::Family(family) => Ok(self
                .deps
                .refresh_tokens
                .get_family(*family)
                .await?
                .map(|f| f.user_id)),
            RevocationTarget::Session(session) => Ok(self
                .deps
                .sessions
                .validate(session)
                .await?
                .map(|s| s.user_id)),
        }
    }

    /// Revokes the live families of a session; returns how many.
    pub async fn revoke_session_families(&self, session: &SessionId, reason: &str) -> Result<u64> {
        let now = self.deps.clock.now();
        self.deps
            .refresh_tokens
            .revoke_families_of_session(session, now, &clip(reason))
            .await
    }

    /// Revokes every live family of a user; returns how many.
    pub async fn revoke_all_for_user(&self, user: UserId, reason: &str) -> Result<u64> {
        let now = self.deps.clock.now();
        self.deps
            .refresh_tokens
            .revoke_families_of_user(user, now, &clip(reason))
            .await
    }

    /// Deletes families that ended or were revoked more than `retention`
    /// ago, with their tokens; returns how many. Run it periodically.
    pub async fn delete_expired(&self, retention: Duration) -> Result<u64> {
        // The config bounds the retention; a caller passing its own may not.
        let before = self
            .deps
            .clock
            .now()
            .checked_sub_signed(span(retention))
            .ok_or_else(|| Error::invalid_field("retention", "is out of range"))?;
        self.deps.refresh_tokens.delete_expired(before).await
    }
}

/// What a refresh of a revoked family answers: revocations of the token
/// itself (RevokeToken, reuse) make it invalid; anything else was done to
/// the session (logout, password reset, an administrator).
pub(crate) fn refusal_for_revoked(family: &RefreshFamily) -> Error {
    match family.revoked_reason.as_deref() {
        Some(REASON_REUSED | REASON_TOKEN_REVOKED) => {
            Error::new(Reason::TokenInvalid, "invalid refresh token")
        }
        _ => session_revoked(),
    }
}

fn clip(reason: &str) -> String {
    let reason = reason.trim();
    if reason.is_empty() {
        "unspecified".to_owned()
    } else {
        reason.chars().take(REASON_MAX_CHARS).collect()
    }
}

/// Revokes a session's refresh families for the session service, which
/// needs this without depending on the whole token service.
pub struct FamilyRevoker {
    refresh_tokens: Arc<dyn RefreshTokenRepository>,
    clock: Arc<dyn Clock>,
}

impl FamilyRevoker {
    pub fn new(refresh_tokens: Arc<dyn RefreshTokenRepository>, clock: Arc<dyn Clock>) -> Self {
        Self {
            refresh_tokens,
            clock,
        }
    }
}

#[async_trait]
impl TokenRevoker for FamilyRevoker {
    async fn revoke_session_families(&self, session: &SessionId, reason: &str) -> Result<u32> {
        let revoked = self
            .refresh_tokens
            .revoke_families_of_session(session, self.clock.now(), &clip(reason))
            .await?;
        Ok(u32::try_from(revoked).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests;
