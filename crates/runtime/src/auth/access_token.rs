//! The [`Authenticator`] of Latch's own servers: the access token verified
//! by `latch-client` (the same code a backend embeds), then the session
//! behind it checked, so Logout takes effect at once.

use std::sync::Arc;

use async_trait::async_trait;
use latch_client::{Claims, Verifier, VerifyError};
use latch_domain::{Error, Reason, Result, SessionId, UserId, ports::SessionDirectory};

use super::{Authenticator, UserPrincipal};

pub struct AccessTokenAuthenticator {
    verifier: Arc<Verifier>,
    sessions: Arc<dyn SessionDirectory>,
}

impl AccessTokenAuthenticator {
    pub fn new(verifier: Arc<Verifier>, sessions: Arc<dyn SessionDirectory>) -> Arc<Self> {
        Arc::new(Self { verifier, sessions })
    }
}

#[async_trait]
impl Authenticator for AccessTokenAuthenticator {
    async fn authenticate(&self, bearer: &str) -> Result<UserPrincipal> {
        let claims = self.verifier.verify(bearer).await.map_err(verify_error)?;
        principal_if_live(claims, self.sessions.as_ref()).await
    }
}

/// The user of verified claims, when their session is still live and theirs.
pub async fn principal_if_live(
    claims: Claims,
    sessions: &dyn SessionDirectory,
) -> Result<UserPrincipal> {
    let invalid = || Error::new(Reason::TokenInvalid, "the access token is invalid");
    let user_id = UserId::parse("sub", &claims.sub).map_err(|_| invalid())?;
    let session_id = SessionId::parse("sid", &claims.sid).map_err(|_| invalid())?;
    match sessions.validate(&session_id).await? {
        Some(session) if session.user_id == user_id => Ok(UserPrincipal {
            user_id,
            session_id,
            roles: claims.roles,
        }),
        _ => Err(Error::new(
            Reason::SessionRevoked,
            "the session has ended; sign in again",
        )),
    }
}

pub fn verify_error(err: VerifyError) -> Error {
    match err {
        VerifyError::Expired => Error::new(Reason::TokenExpired, "the access token has expired"),
        VerifyError::Invalid(why) => Error::new(
            Reason::TokenInvalid,
            format!("the access token is invalid: {why}"),
        ),
        VerifyError::KeysUnavailable(cause) => Error::unavailable(KeysUnavailable(cause)),
    }
}

#[derive(Debug)]
struct KeysUnavailable(String);

impl std::fmt::Display for KeysUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "signing keys unavailable: {}", self.0)
    }
}

impl std::error::Error for KeysUnavailable {}
