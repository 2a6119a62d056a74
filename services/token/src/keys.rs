//! The signing-key ring: Ed25519 keys generated here, persisted with the
//! private half encrypted (AES-256-GCM), the newest live key signing, and
//! every key whose tokens may still be valid published in the JWKS.
//!
//! A stored record is believed only when its halves belong together: the
//! public key derived from its decrypted private key must be the stored
//! public key, or the record is neither published nor used to sign (a row
//! whose public half was swapped would otherwise publish a key someone
//! else holds the private half of). Keys are ordered by (`created_at`,
//! `kid`), the same order on every replica, and a rotation retires only the
//! keys before its own, so replicas rotating at once never retire the
//! newest key: at least one stays live.

use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{
    EncodingKey,
    jwk::{Jwk, JwkSet},
};
use latch_client::{KeySource, VerifyError};
use latch_domain::{
    Clock, Error, Result, model::SigningKeyRecord, ports::SigningKeyRepository, secret::Secret,
};

mod record;
mod seal;

use record::{Soundness, check, generate, public_jwk};

/// The only algorithm this ring generates and signs with.
pub(crate) const ALGORITHM: &str = "EdDSA";

/// How stale a replica's view of the keys may grow before signing reloads
/// it, so a rotation made by another replica is followed within this time.
const RELOAD_AFTER: TimeDelta = TimeDelta::seconds(60);
/// Slack for clocks that disagree a little.
const CLOCK_SLACK: TimeDelta = TimeDelta::seconds(60);

/// The key that signs new tokens.
pub(crate) struct ActiveKey {
    pub(crate) kid: String,
    pub(crate) key: EncodingKey,
    created_at: DateTime<Utc>,
}

/// A public key and when it stopped signing.
struct PublishedKey {
    jwk: Jwk,
    retired_at: Option<DateTime<Utc>>,
}

struct RingState {
    active: Arc<ActiveKey>,
    published: Vec<PublishedKey>,
    loaded_at: DateTime<Utc>,
}

pub(crate) struct KeyRing {
    repository: Arc<dyn SigningKeyRepository>,
    clock: Arc<dyn Clock>,
    encryption_key: Secret<[u8; 32]>,
    /// A retired key stays published this long: a replica may sign with it
    /// until it reloads, and its tokens live one access-token lifetime.
    publish_after_retirement: TimeDelta,
    state: RwLock<RingState>,
    /// Serializes reloads and rotations of this replica.
    writer: tokio::sync::Mutex<()>,
}

impl KeyRing {
    /// Loads the keys, generating and persisting the first one when no live
    /// key exists. Fails when a stored key does not decrypt (a wrong
    /// encryption key must stop the start, not mint a new key).
    pub(crate) async fn load(
        repository: Arc<dyn SigningKeyRepository>,
        clock: Arc<dyn Clock>,
        encryption_key: Secret<[u8; 32]>,
        access_ttl: TimeDelta,
    ) -> Result<Arc<Self>> {
        let publish_after_retirement = access_ttl + RELOAD_AFTER + CLOCK_SLACK;
        let read = || {
            read_state(
                repository.as_ref(),
                clock.as_ref(),
                &encryption_key,
                publish_after_retirement,
            )
        };
        let state = match read().await? {
            Some(state) => state,
            None => {
                let record = generate(clock.now(), &encryption_key)?;
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
            state: RwLock::new(state),
            writer: tokio::sync::Mutex::new(()),
        }))
    }

    /// The key to sign with now, reloaded first when this view is stale.
    pub(crate) async fn active(&self) -> Arc<ActiveKey> {
        let (active, loaded_at) = {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            (state.active.clone(), state.loaded_at)
        };
        if self.clock.now() - loaded_at < RELOAD_AFTER {
            return active;
        }
        match self.reload().await {
            Ok(()) => self.read(|state| state.active.clone()),
            Err(err) => {
                tracing::warn!(error = %err, "reloading signing keys failed; signing with the cached key");
                active
            }
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
            self.clock.as_ref(),
            &self.encryption_key,
            self.publish_after_retirement,
        )
        .await?
        .ok_or_else(|| Error::internal_msg("no sound live signing key in the repository"))?;
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = state;
        Ok(())
    }

    /// Generates a key that signs from now on and retires the older ones;
    /// they stay published until tokens they signed have expired. Returns
    /// the id of the key that signs afterwards: this one, unless another
    /// replica rotated at the same moment and its key came out newer.
    pub(crate) async fn rotate(&self) -> Result<String> {
        let _writer = self.writer.lock().await;
        if let Err(err) = self.reload_locked().await {
            tracing::warn!(error = %err, "reloading signing keys before a rotation failed; ordering after the cached key");
        }
        // After the key signing now in the (created_at, kid) order, even on
        // a clock that lags the replica that made it (or a test clock that
        // stands still), so the retirement below keeps this one.
        let after_active = self.read(|state| state.active.created_at) + TimeDelta::microseconds(1);
        let now = self.clock.now();
        let record = generate(now.max(after_active), &self.encryption_key)?;
        // Insert before retiring: a crash in between leaves two live keys,
        // of which the newest signs, never none.
        self.repository.insert(&record).await?;
        let retired = self.repository.retire_older_than(&record, now).await?;
        self.reload_locked().await?;
        let active = self.read(|state| state.active.kid.clone());
        if active != record.kid {
            tracing::warn!(kid = %record.kid, active = %active, "another replica rotated at the same moment and its key is newer: that one signs");
        }
        tracing::info!(kid = %active, retired, "rotated the signing key");
        Ok(active)
    }

    /// The public keys whose tokens may still verify.
    pub(crate) fn jwks(&self) -> JwkSet {
        let now = self.clock.now();
        self.read(|state| JwkSet {
            keys: state
                .published
                .iter()
                .filter(|key| {
                    key.retired_at
                        .is_none_or(|at| now < at + self.publish_after_retirement)
                })
                .map(|key| key.jwk.clone())
                .collect(),
        })
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

/// Reads the keys that may be published and checks each; `None` when no
/// sound live EdDSA key exists. Fails when no live key is sound and one of
/// them does not decrypt: a wrong encryption key must stop the start, not
/// mint a new key.
async fn read_state(
    repository: &dyn SigningKeyRepository,
    clock: &dyn Clock,
    encryption_key: &Secret<[u8; 32]>,
    publish_after_retirement: TimeDelta,
) -> Result<Option<RingState>> {
    let now = clock.now();
    let records = repository.list().await?;
    let mut published = Vec::with_capacity(records.len());
    let mut signer: Option<(&SigningKeyRecord, Vec<u8>)> = None;
    let mut undecryptable = None;
    for record in &records {
        if record.algorithm != ALGORITHM {
            tracing::warn!(kid = %record.kid, algorithm = %record.algorithm, "ignoring a signing key of an unsupported algorithm");
            continue;
        }
        if record
            .retired_at
            .is_some_and(|at| now >= at + publish_after_retirement)
        {
            continue;
        }
        let der = match check(record, encryption_key) {
            Soundness::Sound(der) => der,
            Soundness::Mismatched => {
                tracing::error!(kid = %record.kid, "a stored signing key's public half does not match its private key: neither published nor used");
                continue;
            }
            Soundness::Undecryptable(err) => {
                tracing::error!(kid = %record.kid, error = %err, "a stored signing key does not decrypt: neither published nor used");
                if record.retired_at.is_none() {
                    undecryptable.get_or_insert(err);
                }
                continue;
            }
        };
        published.push(PublishedKey {
            jwk: public_jwk(&record.kid, &record.public_key)?,
            retired_at: record.retired_at,
        });
        // Two live keys exist after a crash mid-rotation or two replicas
        // generating at once; the newest signs, both stay published.
        if record.retired_at.is_none()
            && signer
                .as_ref()
                .is_none_or(|(newest, _)| newer(record, newest))
        {
            signer = Some((record, der));
        }
    }
    let Some((newest, der)) = signer else {
        return match undecryptable {
            Some(err) => Err(err),
            None => Ok(None),
        };
    };
    Ok(Some(RingState {
        active: Arc::new(ActiveKey {
            kid: newest.kid.clone(),
            key: EncodingKey::from_ed_der(&der),
            created_at: newest.created_at,
        }),
        published,
        loaded_at: now,
    }))
}

/// The order of keys every replica and the repository agree on.
fn newer(a: &SigningKeyRecord, b: &SigningKeyRecord) -> bool {
    (a.created_at, &a.kid) > (b.created_at, &b.kid)
}

#[cfg(test)]
mod tests;
