//! The signing-key ring: Ed25519 keys generated here, persisted with the
//! private half encrypted (AES-256-GCM), published in the JWKS as soon as
//! they are stored, signing one JWKS cache period later, and published
//! until the tokens they signed have expired.
//!
//! Why the wait: a verifier that fetched the keys just before a rotation
//! keeps that set for its cache period (`max-age` of the HTTP JWKS, a
//! gateway's cache duration); a token signed at once by the new key would
//! be refused there until then. So a rotated key records when it may sign
//! (`signs_from` = stored + JWKS cache TTL + a margin for stale views and
//! clock skew), its predecessors are retired at that same time (ahead),
//! and every replica picks, per signature, the newest key whose time has
//! come. Only the first key of a fresh database signs at once.
//!
//! A stored record is believed only when its halves belong together: the
//! public key derived from its decrypted private key must be the stored
//! public key, or the record is neither published nor used to sign (a row
//! whose public half was swapped would otherwise publish a key someone
//! else holds the private half of). Keys are ordered by (`created_at`,
//! `kid`), the same order on every replica, and a rotation retires only the
//! keys before its own, so replicas rotating at once never retire the
//! newest key: at least one stays unretired.

use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use chrono::TimeDelta;
use jsonwebtoken::jwk::JwkSet;
use latch_client::{KeySource, VerifyError};
use latch_domain::{
    Clock, Error, Result, model::SigningKeyRecord, ports::SigningKeyRepository, secret::Secret,
};

mod record;
mod schedule;
mod seal;
mod state;

use record::generate;
pub(crate) use state::ActiveKey;
use state::{RingState, read_state};

/// The only algorithm this ring generates and signs with.
pub(crate) const ALGORITHM: &str = "EdDSA";

/// How stale a replica's view of the keys may grow before signing or
/// serving the JWKS reloads it, so a rotation made by another replica is
/// followed within this time.
const RELOAD_AFTER: TimeDelta = TimeDelta::seconds(60);
/// Slack for clocks that disagree a little.
const CLOCK_SLACK: TimeDelta = TimeDelta::seconds(60);

/// When keys are published and sign, from the token configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyTimes {
    /// Access-token lifetime: a retired key stays published this long (a
    /// replica may sign with it until it reloads, and its tokens live one
    /// access-token lifetime), plus the reload and clock margins.
    pub(crate) access_ttl: TimeDelta,
    /// From publication to signing: the JWKS cache TTL plus the margin.
    pub(crate) lead: TimeDelta,
}

pub(crate) struct KeyRing {
    repository: Arc<dyn SigningKeyRepository>,
    clock: Arc<dyn Clock>,
    encryption_key: Secret<[u8; 32]>,
    publish_after_retirement: TimeDelta,
    lead: TimeDelta,
    state: RwLock<RingState>,
    /// Serializes reloads and rotations of this replica.
    writer: tokio::sync::Mutex<()>,
}

impl KeyRing {
    /// Loads the keys, generating and persisting one that signs at once
    /// when no unretired key exists. Fails when a stored key does not
    /// decrypt (a wrong encryption key must stop the start, not mint a new
    /// key).
    pub(crate) async fn load(
        repository: Arc<dyn SigningKeyRepository>,
        clock: Arc<dyn Clock>,
        encryption_key: Secret<[u8; 32]>,
        times: KeyTimes,
    ) -> Result<Arc<Self>> {
        let publish_after_retirement = times.access_ttl + RELOAD_AFTER + CLOCK_SLACK;
        let read = || {
            read_state(
                repository.as_ref(),
                clock.now(),
                &encryption_key,
                publish_after_retirement,
            )
        };
        let state = match read().await? {
            Some(state) => state,
            None => {
                // Nothing can sign, so nothing is worth waiting for.
                let now = clock.now();
                let record = generate(now, now, &encryption_key)?;
                repository.insert(&record).await?;
                tracing::info!(kid = %record.kid, "generated the first signing key");
                read()
                    .await?
                    .ok_or_else(|| Error::internal_msg("the new signing key was not stored"))?
            }
        };
        Ok(Arc::new(Self {
            repository,
            clock,
            encryption_key,
            publish_after_retirement,
            lead: times.lead,
            state: RwLock::new(state),
            writer: tokio::sync::Mutex::new(()),
        }))
    }

    /// The key to sign with now, the view reloaded first when stale.
    pub(crate) async fn active(&self) -> Arc<ActiveKey> {
        self.reload_if_stale().await;
        let now = self.clock.now();
        self.read(|state| state.signer_at(now))
    }

    /// The public keys whose tokens may verify now or soon, the view
    /// reloaded first when stale (what a replica serves over HTTP).
    pub(crate) async fn current_jwks(&self) -> JwkSet {
        self.reload_if_stale().await;
        self.jwks()
    }

    /// The public keys of this view: those that sign, those waiting to,
    /// and retired ones while tokens they signed may be valid.
    pub(crate) fn jwks(&self) -> JwkSet {
        let now = self.clock.now();
        self.read(|state| state.jwks_at(now, self.publish_after_retirement))
    }

    async fn reload_if_stale(&self) {
        let loaded_at = self.read(|state| state.loaded_at);
        if self.clock.now() - loaded_at < RELOAD_AFTER {
            return;
        }
        if let Err(err) = self.reload().await {
            tracing::warn!(error = %err, "reloading signing keys failed; using the cached ones");
        }
    }

    /// Rereads the keys from the repository (rotations by other replicas).
    pub(crate) async fn reload(&self) -> Result<()> {
        let _writer = self.writer.lock().await;
        self.reload_locked().await
    }

    async fn reload_locked(&self) -> Result<()> {
        let state = read_state(
            self.repository.as_ref(),
            self.clock.now(),
            &self.encryption_key,
            self.publish_after_retirement,
        )
        .await?
        .ok_or_else(|| Error::internal_msg("no sound unretired signing key in the repository"))?;
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = state;
        Ok(())
    }

    /// Generates a key, published at once, that signs one lead later, and
    /// retires the older ones at that time; they stay published until
    /// tokens they signed have expired. Returns the id of the key that will
    /// sign: this one, unless another replica rotated at the same moment
    /// and its key came out newer.
    pub(crate) async fn rotate(&self) -> Result<String> {
        let _writer = self.writer.lock().await;
        if let Err(err) = self.reload_locked().await {
            tracing::warn!(error = %err, "reloading signing keys before a rotation failed; ordering after the cached keys");
        }
        let record = self.successor()?;
        // Insert before retiring: a crash in between leaves two unretired
        // keys, of which the newest signs in its time, never none.
        self.repository.insert(&record).await?;
        self.finish_rotation(&record).await
    }

    /// The scheduled rotation: when the newest key is `period` old, makes
    /// its successor as [`Self::rotate`] does, unless another replica just
    /// did (the insert is conditional on no key newer than the period).
    /// Returns the new key's id when this call rotated.
    pub(crate) async fn rotate_if_due(&self, period: TimeDelta) -> Result<Option<String>> {
        let _writer = self.writer.lock().await;
        self.reload_locked().await?;
        let now = self.clock.now();
        let newest = self.read(|state| state.newest.0);
        if now < newest + period {
            return Ok(None);
        }
        let record = self.successor()?;
        if !self
            .repository
            .insert_if_none_since(&record, now - period)
            .await?
        {
            tracing::debug!("another replica made the scheduled signing key");
            self.reload_locked().await?;
            return Ok(None);
        }
        self.finish_rotation(&record).await.map(Some)
    }

    /// A new key after the newest in the (`created_at`, `kid`) order, even
    /// on a clock that lags the replica that made that one (or a test
    /// clock that stands still), so the retirement keeps this one.
    fn successor(&self) -> Result<SigningKeyRecord> {
        let after_newest = self.read(|state| state.newest.0) + TimeDelta::microseconds(1);
        let created_at = self.clock.now().max(after_newest);
        generate(created_at, created_at + self.lead, &self.encryption_key)
    }

    async fn finish_rotation(&self, record: &SigningKeyRecord) -> Result<String> {
        let retired = self
            .repository
            .retire_older_than(record, record.signs_from)
            .await?;
        self.reload_locked().await?;
        let newest = self.read(|state| state.newest.1.clone());
        if newest != record.kid {
            tracing::warn!(kid = %record.kid, newest = %newest, "another replica rotated at the same moment and its key is newer: that one will sign");
        }
        tracing::info!(kid = %newest, signs_from = %record.signs_from, retired, "rotated the signing key: published now, signing from then");
        Ok(newest)
    }

    fn read<T>(&self, f: impl FnOnce(&RingState) -> T) -> T {
        f(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The ring's JWKS as a [`KeySource`], so the in-process verifier needs no
/// network hop; a fetch rereads the repository to follow other replicas.
pub(crate) struct RingKeySource(pub(crate) Arc<KeyRing>);

#[async_trait]
impl KeySource for RingKeySource {
    async fn fetch(&self) -> Result<JwkSet, VerifyError> {
        if let Err(err) = self.0.reload().await {
            tracing::warn!(error = %err, "reloading signing keys failed; publishing the cached ones");
        }
        Ok(self.0.jwks())
    }
}

#[cfg(test)]
mod tests;
