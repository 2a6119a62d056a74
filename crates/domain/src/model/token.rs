use chrono::{DateTime, Utc};

use crate::{FamilyId, SessionId, TokenId, UserId, secret::Secret};

/// The chain of refresh tokens of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    pub id: FamilyId,
    pub user_id: UserId,
    pub session_id: SessionId,
    pub created_at: DateTime<Utc>,
    /// Absolute end of the family, whatever the rotations.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

/// One refresh token, stored only as the SHA-256 of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: TokenId,
    pub family_id: FamilyId,
    pub token_hash: [u8; 32],
    pub parent_id: Option<TokenId>,
    pub user_agent: Option<String>,
    /// Keyed hash of the client IP: linkable for abuse detection, not readable.
    pub ip_hash: Option<[u8; 32]>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub spent_at: Option<DateTime<Utc>>,
    /// Random bytes kept only here, mixed into the derivation of this
    /// token's successor, so that the refresh key and the token alone do
    /// not give it. `None` on rows written before salts existed: such a
    /// token gets a random successor and no grace for duplicates.
    pub successor_salt: Option<Secret<[u8; 32]>>,
}

/// A signing key as persisted: the private half encrypted at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// JOSE algorithm name, e.g. `EdDSA`.
    pub algorithm: String,
    /// Raw public key bytes (32 for Ed25519).
    pub public_key: Vec<u8>,
    /// AES-256-GCM nonce || ciphertext of the PKCS#8 private key.
    pub private_key_encrypted: Vec<u8>,
    /// When it was stored, which is when it is published (in the JWKS).
    pub created_at: DateTime<Utc>,
    /// When it may start signing: one JWKS cache period after it was
    /// published, so a verifier that cached the keys just before holds it
    /// by then (the first key of a fresh database signs at once).
    pub signs_from: DateTime<Utc>,
    /// After this the key signs nothing new (set ahead, to the time its
    /// successor starts signing); it stays published until tokens it
    /// signed have expired.
    pub retired_at: Option<DateTime<Utc>>,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub issuer: String,
    pub audience: String,
    pub user_id: UserId,
    pub session_id: SessionId,
    pub roles: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub jti: String,
}

/// What a successful sign-in, refresh or issue returns.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub access_token: String,
    pub access_token_expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub refresh_token_expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("user_id", &self.user_id)
            .field("session_id", &self.session_id)
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("refresh_token_expires_at", &self.refresh_token_expires_at)
            .finish_non_exhaustive()
    }
}

/// The longest an access token may live (`LATCH_ACCESS_TOKEN_TTL`'s upper
/// bound): how long a revoked session's tokens may still verify locally,
/// so how long anything that tells verifiers about revocations must last.
pub const MAX_ACCESS_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
