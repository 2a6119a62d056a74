//! The token service: short-lived EdDSA access tokens (JWT, `typ: at+jwt`),
//! opaque single-use refresh tokens grouped in one family per session and
//! rotated on every use, reuse detection, revocation, introspection, and
//! the signing keys with their JWKS.
//!
//! [`Tokens`] holds the flows, one file per use case (`access`, `refresh`,
//! [`revoke`], `introspect`, with the keys in `keys`); [`grpc`] converts
//! requests at the edge. Storage and sibling services come in as ports ([`TokenDeps`]).

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::TimeDelta;
use latch_client::{KeySource, Verifier};
use latch_domain::{
    Clock, Result, SessionId, UserId,
    model::{ClientInfo, TokenPair},
    ports::{
        RefreshTokenRepository, RoleDirectory, SessionDirectory, SigningKeyRepository, TokenIssuer,
        UserDirectory,
    },
};

mod access;
mod cleanup;
mod config;
mod erase;
pub mod follow_up;
pub mod grpc;
pub mod http;
mod introspect;
mod keys;
mod refresh;
pub mod revoke;
pub mod standalone;

pub use config::{TokenConfig, TokenSecrets};
pub use introspect::{Introspection, RefreshClaims};
pub use revoke::FamilyRevoker;

use keys::{KeyRing, KeyTimes, RingKeySource};

/// What the token service needs from the world.
#[derive(Clone)]
pub struct TokenDeps {
    pub refresh_tokens: Arc<dyn RefreshTokenRepository>,
    pub signing_keys: Arc<dyn SigningKeyRepository>,
    pub sessions: Arc<dyn SessionDirectory>,
    pub users: Arc<dyn UserDirectory>,
    pub roles: Arc<dyn RoleDirectory>,
    pub clock: Arc<dyn Clock>,
}

/// The token service's flows; share it in an `Arc`.
pub struct Tokens {
    deps: TokenDeps,
    config: TokenConfig,
    secrets: TokenSecrets,
    keys: Arc<KeyRing>,
    key_source: Arc<RingKeySource>,
    verifier: Arc<Verifier>,
    /// When this process last recorded each session's activity on a refresh.
    activity: latch_runtime::activity_notes::ActivityNotes,
    /// The refresh tokens this process issued and has not seen back.
    issued: refresh::IssuedTokens,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// How often the in-process verifier may reread the keys on an unknown
    /// `kid` (a rotation by another replica).
    const REFETCH_INTERVAL: Duration = Duration::from_secs(5);

    /// Validates the config and loads the signing keys, generating and
    /// persisting the first one on a fresh database. Fails when a stored
    /// key does not decrypt with `secrets.encryption_key`.
    pub async fn start(
        deps: TokenDeps,
        config: TokenConfig,
        secrets: TokenSecrets,
    ) -> Result<Arc<Tokens>> {
        config.validate()?;
        let keys = KeyRing::load(
            deps.signing_keys.clone(),
            deps.clock.clone(),
            secrets.encryption_key.clone(),
            KeyTimes {
                access_ttl: span(config.access_ttl),
                lead: span(config.key_lead()),
            },
        )
        .await?;
        let key_source = Arc::new(RingKeySource(keys.clone()));
        let clock = deps.clock.clone();
        let verifier = Verifier::new(key_source.clone(), &config.issuer, &config.audience)
            .with_refetch_interval(Self::REFETCH_INTERVAL)
            .with_cache(Verifier::DEFAULT_CACHE_CAPACITY)
            .with_clock(move || clock.now().timestamp());
        Ok(Arc::new(Tokens {
            deps,
            config,
            secrets,
            keys,
            key_source,
            verifier: Arc::new(verifier),
            activity: latch_runtime::activity_notes::ActivityNotes::new(refresh::ACTIVITY_INTERVAL),
            issued: refresh::IssuedTokens::default(),
        }))
    }

    pub fn config(&self) -> &TokenConfig {
        &self.config
    }

    /// The public keys as a JWKS document (RFC 7517): the keys that sign,
    /// those published ahead of signing, and retired keys while tokens
    /// they signed may be valid.
    pub fn jwks_json(&self) -> String {
        jwks_json(&self.keys.jwks())
    }

    /// As [`Self::jwks_json`], the keys reread first when this replica's
    /// view is over a minute old (the HTTP JWKS: no signing need keep it
    /// fresh).
    pub async fn current_jwks_json(&self) -> String {
        jwks_json(&self.keys.current_jwks().await)
    }

    /// Generates a new signing key, published at once, that signs one JWKS
    /// cache TTL (plus a 2-minute margin) later; the current key signs
    /// until then. Returns the new key's `kid`.
    pub async fn rotate_signing_key(&self) -> Result<String> {
        let kid = self.keys.rotate().await?;
        // The in-process verifier holds the new key before it signs.
        if let Err(err) = self.verifier.refresh().await {
            tracing::warn!(error = %err, "refreshing the in-process verifier failed");
        }
        Ok(kid)
    }

    /// The JWKS of this process as a key source, for a verifier that needs
    /// no network hop (latchd's auth layer).
    pub fn key_source(&self) -> Arc<dyn KeySource> {
        self.key_source.clone()
    }

    /// A verifier of this service's access tokens on its clock.
    pub fn verifier(&self) -> Arc<Verifier> {
        self.verifier.clone()
    }
}

#[async_trait]
impl TokenIssuer for Tokens {
    async fn issue(
        &self,
        user: UserId,
        session: &SessionId,
        client: &ClientInfo,
    ) -> Result<TokenPair> {
        self.issue_tokens(user, session, client).await
    }
}

fn jwks_json(set: &jsonwebtoken::jwk::JwkSet) -> String {
    serde_json::to_string(set).unwrap_or_else(|_| r#"{"keys":[]}"#.to_owned())
}

/// A configured duration as a chrono span; durations beyond chrono's range
/// (hundreds of millions of years) saturate. Adding it to a time cannot
/// overflow for a config that passed [`TokenConfig::validate`], which
/// bounds every duration to a year at most.
pub(crate) fn span(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod testing;
