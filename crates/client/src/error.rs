//! Why a token was refused.

/// The outcome of a failed verification. Messages are safe to show to the
/// caller: they never contain the token or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Genuine, but past its `exp` (plus the configured leeway).
    #[error("the access token has expired")]
    Expired,
    /// Malformed, tampered, wrongly typed, signed by an unknown key, or for
    /// another issuer or audience; the text says which, briefly.
    #[error("the access token is invalid: {0}")]
    Invalid(&'static str),
    /// The signing keys could not be fetched; the token may well be valid.
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
    /// Genuine and unexpired, but its session was revoked (Logout, an
    /// administrator, a reused refresh token, a deleted user): seen by the
    /// revocation-aware mode ([`crate::Revocations`]).
    #[error("the session of this access token was revoked")]
    SessionRevoked,
    /// The revocation-aware mode cannot say whether the session was
    /// revoked (its source is lost) and is set to refuse rather than
    /// guess; the token may well be valid.
    #[error("revocations unavailable: {0}")]
    RevocationsUnavailable(&'static str),
}

impl VerifyError {
    /// The stable Latch reason code (API.md, Errors) for this refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Expired => "TOKEN_EXPIRED",
            Self::Invalid(_) => "TOKEN_INVALID",
            Self::SessionRevoked => "SESSION_REVOKED",
            Self::KeysUnavailable(_) | Self::RevocationsUnavailable(_) => "UNAVAILABLE",
        }
    }
}
