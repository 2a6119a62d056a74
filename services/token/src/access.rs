//! Access tokens: signing (EdDSA, `typ: at+jwt`, `kid`) and validation
//! through the same [`latch_client::Verifier`] that backends embed, so the
//! rules (algorithm fixed by the key, `iss`, `aud`, `exp`, `typ`) live in
//! one place.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header};
use latch_client::{ACCESS_TOKEN_TYPE, Claims, VerifyError};
use latch_domain::{
    Error, Reason, Result, SessionId, UserId, model::AccessClaims, secret::random_token,
};

use crate::{Tokens, span};

impl Tokens {
    /// Signs an access token for `user` in `session` carrying `roles`, valid
    /// from now for the configured lifetime; returns it and its expiry.
    pub(crate) async fn sign_access_token(
        &self,
        user: UserId,
        session: &SessionId,
        roles: Vec<String>,
    ) -> Result<(String, DateTime<Utc>)> {
        let now = self.deps.clock.now();
        // JWT times are whole seconds; the expiry reported beside the token
        // is the claim itself.
        let iat = now.timestamp();
        let exp = (now + span(self.config.access_ttl)).timestamp();
        let expires_at = DateTime::from_timestamp(exp, 0)
            .ok_or_else(|| Error::internal_msg("access token expiry out of range"))?;
        let claims = Claims {
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            sub: user.to_string(),
            sid: session.as_str().to_owned(),
            roles,
            iat,
            exp,
            jti: random_token(16)?,
        };
        let key = self.keys.active().await;
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.key)
            .map_err(|e| Error::internal_msg(format!("signing an access token: {e}")))?;
        Ok((token, expires_at))
    }

    /// Verifies an access token (`TOKEN_INVALID`, `TOKEN_EXPIRED`) and, when
    /// `check_session`, that its session is still live (`SESSION_REVOKED`).
    pub async fn validate(&self, access_token: &str, check_session: bool) -> Result<AccessClaims> {
        let claims = self.verify_access_token(access_token).await?;
        if check_session {
            match self.deps.sessions.validate(&claims.session_id).await? {
                Some(session) if session.user_id == claims.user_id => {}
                _ => {
                    return Err(Error::new(
                        Reason::SessionRevoked,
                        "the session of this token has ended",
                    ));
                }
            }
        }
        Ok(claims)
    }

    /// Signature, type and claims only; no session lookup.
    pub(crate) async fn verify_access_token(&self, access_token: &str) -> Result<AccessClaims> {
        let claims = self
            .verifier
            .verify(access_token.trim())
            .await
            .map_err(refusal)?;
        access_claims(claims)
    }
}

fn refusal(err: VerifyError) -> Error {
    match err {
        VerifyError::Expired => Error::new(Reason::TokenExpired, "the access token has expired"),
        VerifyError::Invalid(why) => {
            Error::new(Reason::TokenInvalid, format!("invalid access token: {why}"))
        }
        // The in-process key source never fails, and the in-process
        // verifier is not revocation-aware; keep the cause for logs.
        VerifyError::KeysUnavailable(_)
        | VerifyError::SessionRevoked
        | VerifyError::RevocationsUnavailable(_) => Error::internal(err),
    }
}

/// The domain view of verified claims; ids that do not parse make the token
/// invalid (they were signed by Latch, so this means a bug or a foreign key).
fn access_claims(claims: Claims) -> Result<AccessClaims> {
    let invalid = || {
        Error::new(
            Reason::TokenInvalid,
            "invalid access token: malformed claims",
        )
    };
    let user_id = UserId::parse("sub", &claims.sub).map_err(|_| invalid())?;
    let session_id = SessionId::parse("sid", &claims.sid).map_err(|_| invalid())?;
    let issued_at = DateTime::from_timestamp(claims.iat, 0).ok_or_else(invalid)?;
    let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or_else(invalid)?;
    Ok(AccessClaims {
        issuer: claims.iss,
        audience: claims.aud,
        user_id,
        session_id,
        roles: claims.roles,
        issued_at,
        expires_at,
        jti: claims.jti,
    })
}

#[cfg(test)]
mod tests;
