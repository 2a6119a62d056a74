//! Introspection with RFC 7662 semantics: any token is described, and one
//! that would be refused is simply not active.

use chrono::{DateTime, Utc};
use latch_domain::{Kind, Result, SessionId, UserId, model::AccessClaims, secret::sha256};

use crate::Tokens;

/// What an active token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    Access(AccessClaims),
    Refresh(RefreshClaims),
}

/// What Latch knows of an active refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshClaims {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Tokens {
    /// `Some` when `token` is an access token that validates with its
    /// session, or a refresh token that a refresh would accept; `None`
    /// otherwise. Errors only when a dependency fails.
    pub async fn introspect(&self, token: &str) -> Result<Option<Introspection>> {
        let token = token.trim();
        if token.is_empty() {
            return Ok(None);
        }
        // Access tokens are JWTs (three dot-separated parts); refresh tokens
        // are base64url, which has no dot.
        if token.contains('.') {
            return match self.validate(token, true).await {
                Ok(claims) => Ok(Some(Introspection::Access(claims))),
                Err(err) if err.kind() == Kind::Unauthenticated => Ok(None),
                Err(err) => Err(err),
            };
        }
        self.introspect_refresh(token).await
    }

    async fn introspect_refresh(&self, token: &str) -> Result<Option<Introspection>> {
        if token.len() > 128 {
            return Ok(None);
        }
        let Some((current, family)) = self
            .deps
            .refresh_tokens
            .find_by_hash(&sha256(token))
            .await?
        else {
            return Ok(None);
        };
        let now = self.deps.clock.now();
        let usable = family.revoked_at.is_none()
            && now < family.expires_at
            && current.spent_at.is_none()
            && now < current.expires_at;
        if !usable {
            return Ok(None);
        }
        let session = self.deps.sessions.validate(&family.session_id).await?;
        if session.is_none_or(|s| s.user_id != family.user_id) {
            return Ok(None);
        }
        Ok(Some(Introspection::Refresh(RefreshClaims {
            user_id: family.user_id,
            session_id: family.session_id,
            issued_at: current.created_at,
            expires_at: current.expires_at,
        })))
    }
}
