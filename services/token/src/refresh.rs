//! Refresh tokens: a new family per session, rotation on every use, and
//! reuse detection.
//!
//! A refresh token is 256 random bits (base64url); only its SHA-256 is
//! stored, beside 256 random bits of its own (`successor_salt`). Rotating
//! token `t` issues `HMAC(refresh_key, salt || t)` as its successor, so a
//! duplicate of the same refresh (a client retrying after a lost response)
//! within the grace window, from the same user agent, can be answered with
//! the same successor, recomputed rather than stored: there are never two
//! different live successors of one token. The salt never leaves the
//! database, so whoever holds the refresh key and an old token still cannot
//! compute the tokens that followed it. A spent token seen otherwise is
//! reuse: the family and the session are revoked.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use latch_domain::{
    Error, FamilyId, Reason, Result, SessionId, TokenId, UserId, client_fields,
    model::{ClientInfo, RefreshFamily, RefreshToken, Session, TokenPair, UserStatus},
    secret::{Secret, hmac_sha256, random_bytes, random_token, sha256},
};

use crate::{Tokens, revoke, span};

mod activity;
mod issued;
mod replay;

pub(crate) use activity::INTERVAL as ACTIVITY_INTERVAL;
pub(crate) use issued::IssuedTokens;

/// Refresh tokens Latch issues are 43 characters; anything much longer is
/// not one of them.
const TOKEN_MAX_LEN: usize = 128;

impl Tokens {
    /// Starts a refresh family for a live session of an active user and
    /// returns its first token pair. `SESSION_REVOKED` when the session is
    /// not live, `ACCOUNT_INACTIVE` when the user is not active,
    /// `INVALID_ARGUMENT` when the session belongs to another user.
    pub async fn issue_tokens(
        &self,
        user: UserId,
        session: &SessionId,
        client: &ClientInfo,
    ) -> Result<TokenPair> {
        let live = self.deps.sessions.validate(session).await?;
        match live {
            None => return Err(session_revoked()),
            Some(live) if live.user_id != user => {
                return Err(Error::invalid_field(
                    "session_id",
                    "belongs to another user",
                ));
            }
            Some(_) => {}
        }
        self.require_active(user).await?;
        let now = self.deps.clock.now();
        let family = RefreshFamily {
            id: FamilyId::new(),
            user_id: user,
            session_id: session.clone(),
            created_at: now,
            expires_at: now + span(self.config.family_ttl),
            revoked_at: None,
            revoked_reason: None,
        };
        let value = random_token(32)?;
        let first = self.token_row(&family, &value, None, client, now)?;
        self.deps
            .refresh_tokens
            .create_family(&family, &first)
            .await?;
        self.issued.remember(&first, &family);
        tracing::debug!(family = %family.id, "issued a refresh family");
        self.pair(&family, value, first.expires_at).await
    }

    /// Spends `token` and returns a new pair in its family.
    ///
    /// Errors: `TOKEN_INVALID` (unknown, or its family was revoked by a token
    /// revocation), `TOKEN_EXPIRED` (the token or its family has ended),
    /// `REFRESH_TOKEN_REUSED` (spent before, outside the grace window: the
    /// family and the session are now revoked), `SESSION_REVOKED`,
    /// `ACCOUNT_INACTIVE`.
    pub async fn refresh(&self, token: &str, client: &ClientInfo) -> Result<TokenPair> {
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::invalid_field("refresh_token", "is required"));
        }
        if token.len() > TOKEN_MAX_LEN {
            return Err(unknown_token());
        }
        let hash = sha256(token);
        // A token this process issued skips the lookup (see `issued`). When
        // anything refuses it before the rotation, the answer comes from
        // the database instead, which also knows why (a revoked family
        // says whether the token or the session was ended).
        if let Some((current, family)) = self.issued.take(&hash)
            && self.admit(&current, &family).await.is_ok()
        {
            return self.rotate(token, &current, &family, client).await;
        }
        let (current, family) = self.find(&hash).await?;
        refuse_ended(&family, self.deps.clock.now())?;
        if let Some(spent_at) = current.spent_at {
            return self
                .replay(token, &current, &family, spent_at, client)
                .await;
        }
        self.admit(&current, &family).await?;
        self.rotate(token, &current, &family, client).await
    }

    /// Whether the unspent `current`, as read, may rotate now: it and its
    /// family have not ended, the session is live and its user active.
    /// Records the activity, so a refusal spends nothing.
    async fn admit(&self, current: &RefreshToken, family: &RefreshFamily) -> Result<()> {
        let now = self.deps.clock.now();
        refuse_ended(family, now)?;
        if now >= current.expires_at {
            return Err(expired());
        }
        let session = self.require_live(family).await?;
        self.record_activity(&session).await
    }

    /// Spends `current` and stores its successor in one statement, or,
    /// when that writes nothing, answers from the database why.
    async fn rotate(
        &self,
        token: &str,
        current: &RefreshToken,
        family: &RefreshFamily,
        client: &ClientInfo,
    ) -> Result<TokenPair> {
        let now = self.deps.clock.now();
        let successor_value = match &current.successor_salt {
            Some(salt) => self.successor_of(salt, token),
            // A row from before salts: its successor cannot be recomputed,
            // so it is random and a duplicate of it is reuse (no grace).
            None => random_token(32)?,
        };
        let successor = self.token_row(family, &successor_value, Some(current.id), client, now)?;
        match self
            .deps
            .refresh_tokens
            .rotate(current.id, now, &successor)
            .await
        {
            Ok(true) => {
                self.issued.remember(&successor, family);
                return self
                    .pair(family, successor_value, successor.expires_at)
                    .await;
            }
            Ok(false) => {}
            // The successor's hash is unique and derived from this token, so
            // it exists only when a concurrent rotation of the same token
            // stored it: the same lost race, seen by the index instead.
            Err(err) if err.is(Reason::AlreadyExists) => {}
            Err(err) => return Err(err),
        }
        // The rotation wrote nothing: a concurrent refresh of the same token
        // spent it just now (this one is its duplicate), or the family was
        // revoked or ended since it was read. Read again to answer which; a
        // revoked family never yields a pair.
        let (current, family) = self.find(&sha256(token)).await?;
        refuse_ended(&family, now)?;
        match current.spent_at {
            Some(spent_at) => {
                self.replay(token, &current, &family, spent_at, client)
                    .await
            }
            None => Err(Error::internal_msg(
                "a refresh rotation wrote nothing, yet the token is unspent and its family live",
            )),
        }
    }

    async fn find(&self, hash: &[u8; 32]) -> Result<(RefreshToken, RefreshFamily)> {
        self.deps
            .refresh_tokens
            .find_by_hash(hash)
            .await?
            .ok_or_else(unknown_token)
    }

    /// The session behind the family, when it is live and its user active.
    pub(super) async fn require_live(&self, family: &RefreshFamily) -> Result<Session> {
        let session = match self.deps.sessions.validate(&family.session_id).await? {
            Some(session) if session.user_id == family.user_id => session,
            _ => return Err(session_revoked()),
        };
        self.require_active(family.user_id).await?;
        Ok(session)
    }

    async fn require_active(&self, user: UserId) -> Result<()> {
        match self.deps.users.status(user).await? {
            Some(UserStatus::Active) => Ok(()),
            _ => Err(Error::new(
                Reason::AccountInactive,
                "the account is not active",
            )),
        }
    }

    /// The successor of `token`: HMAC(refresh_key, salt || token),
    /// base64url, where `salt` is the one stored with `token`'s row. The
    /// salt has a fixed length, so the message is unambiguous.
    pub(super) fn successor_of(&self, salt: &Secret<[u8; 32]>, token: &str) -> String {
        let mut message = Vec::with_capacity(salt.expose().len() + token.len());
        message.extend_from_slice(salt.expose());
        message.extend_from_slice(token.as_bytes());
        URL_SAFE_NO_PAD.encode(hmac_sha256(self.secrets.refresh_key.expose(), &message))
    }

    fn token_row(
        &self,
        family: &RefreshFamily,
        value: &str,
        parent: Option<TokenId>,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<RefreshToken> {
        // The canonical IP is hashed, so one address has one hash however
        // it was written; the user agent is bounded to its column.
        let ip_hash = client_fields::ip(client.ip.as_deref())
            .map(|ip| hmac_sha256(self.secrets.ip_hash_key.expose(), ip.as_bytes()));
        let user_agent = client_fields::user_agent(client.user_agent.as_deref());
        let salt = <[u8; 32]>::try_from(random_bytes(32)?.as_slice())
            .map_err(|_| Error::internal_msg("os randomness returned a short salt"))?;
        Ok(RefreshToken {
            id: TokenId::new(),
            family_id: family.id,
            token_hash: sha256(value),
            parent_id: parent,
            user_agent,
            ip_hash,
            created_at: now,
            expires_at: (now + span(self.config.refresh_ttl)).min(family.expires_at),
            spent_at: None,
            successor_salt: Some(Secret::new(salt)),
        })
    }

    pub(super) async fn pair(
        &self,
        family: &RefreshFamily,
        refresh_token: String,
        refresh_token_expires_at: DateTime<Utc>,
    ) -> Result<TokenPair> {
        let roles = self.deps.roles.role_names(family.user_id).await?;
        let (access_token, access_token_expires_at) = self
            .sign_access_token(family.user_id, &family.session_id, roles)
            .await?;
        Ok(TokenPair {
            user_id: family.user_id,
            session_id: family.session_id.clone(),
            access_token,
            access_token_expires_at,
            refresh_token,
            refresh_token_expires_at,
        })
    }
}

/// Refuses a refresh in a family that is revoked or past its end at `now`.
fn refuse_ended(family: &RefreshFamily, now: DateTime<Utc>) -> Result<()> {
    if family.revoked_at.is_some() {
        return Err(revoke::refusal_for_revoked(family));
    }
    if now >= family.expires_at {
        return Err(expired());
    }
    Ok(())
}

fn unknown_token() -> Error {
    Error::new(Reason::TokenInvalid, "invalid refresh token")
}

fn expired() -> Error {
    Error::new(Reason::TokenExpired, "the refresh token has expired")
}

pub(crate) fn session_revoked() -> Error {
    Error::new(
        Reason::SessionRevoked,
        "the session of this token has ended",
    )
}

#[cfg(test)]
mod tests;
