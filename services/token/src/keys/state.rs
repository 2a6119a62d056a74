//! One replica's view of the stored keys: which are published, which may
//! sign and from when. Read from the repository, checked record by record,
//! and consulted on every signature, so a key starts (and stops) signing at
//! its time on every replica that has loaded it, whatever the reload pace.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{
    EncodingKey,
    jwk::{Jwk, JwkSet},
};
use latch_domain::{Result, model::SigningKeyRecord, ports::SigningKeyRepository, secret::Secret};

use super::{
    ALGORITHM,
    record::{Soundness, check, public_jwk},
};

/// A key that signs tokens.
pub(crate) struct ActiveKey {
    pub(crate) kid: String,
    pub(crate) key: EncodingKey,
}

/// A key that signs, or will, or did until lately, with its times.
struct Candidate {
    active: Arc<ActiveKey>,
    signs_from: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
}

impl Candidate {
    fn signs_at(&self, now: DateTime<Utc>) -> bool {
        self.signs_from <= now && self.retired_at.is_none_or(|at| now < at)
    }
}

/// A public key and when it stopped (or stops) signing.
struct PublishedKey {
    jwk: Jwk,
    retired_at: Option<DateTime<Utc>>,
}

pub(super) struct RingState {
    /// Keys not retired when loaded, oldest first.
    candidates: Vec<Candidate>,
    /// The oldest candidate: there is always one.
    oldest: Arc<ActiveKey>,
    published: Vec<PublishedKey>,
    /// The newest published key in the (`created_at`, `kid`) order.
    pub(super) newest: (DateTime<Utc>, String),
    pub(super) loaded_at: DateTime<Utc>,
}

impl RingState {
    /// The newest key whose signing time has come and which is not retired.
    /// Should none be (a view older than a retirement it has not seen, or
    /// only keys still waiting), the newest that has started, else the
    /// oldest waiting: tokens must be signed, and that key is published.
    pub(super) fn signer_at(&self, now: DateTime<Utc>) -> Arc<ActiveKey> {
        let newest_first = || self.candidates.iter().rev();
        newest_first()
            .find(|c| c.signs_at(now))
            .or_else(|| newest_first().find(|c| c.signs_from <= now))
            .map_or_else(|| self.oldest.clone(), |c| c.active.clone())
    }

    /// The public keys published at `now`: every loaded key until its
    /// tokens may have expired, `publish_after_retirement` after it retired.
    pub(super) fn jwks_at(
        &self,
        now: DateTime<Utc>,
        publish_after_retirement: TimeDelta,
    ) -> JwkSet {
        JwkSet {
            keys: self
                .published
                .iter()
                .filter(|key| {
                    key.retired_at
                        .is_none_or(|at| now < at + publish_after_retirement)
                })
                .map(|key| key.jwk.clone())
                .collect(),
        }
    }
}

/// Reads the keys that may be published at `now` and checks each; `None`
/// when no sound EdDSA key is unretired. Fails when none is and one of the
/// unretired keys does not decrypt: a wrong encryption key must stop the
/// start, not mint a new key.
pub(super) async fn read_state(
    repository: &dyn SigningKeyRepository,
    now: DateTime<Utc>,
    encryption_key: &Secret<[u8; 32]>,
    publish_after_retirement: TimeDelta,
) -> Result<Option<RingState>> {
    let records = repository.list().await?;
    let mut published = Vec::with_capacity(records.len());
    let mut candidates = Vec::new();
    let mut newest: Option<&SigningKeyRecord> = None;
    let mut undecryptable = None;
    // Listed oldest first in the (created_at, kid) order; sorted again so
    // the order does not rest on the adapter.
    let mut records: Vec<&SigningKeyRecord> = records.iter().collect();
    records.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
    for record in records {
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
        let unretired = record.retired_at.is_none_or(|at| now < at);
        let der = match check(record, encryption_key) {
            Soundness::Sound(der) => der,
            Soundness::Mismatched => {
                tracing::error!(kid = %record.kid, "a stored signing key's public half does not match its private key: neither published nor used");
                continue;
            }
            Soundness::Undecryptable(err) => {
                tracing::error!(kid = %record.kid, error = %err, "a stored signing key does not decrypt: neither published nor used");
                if unretired {
                    undecryptable.get_or_insert(err);
                }
                continue;
            }
        };
        published.push(PublishedKey {
            jwk: public_jwk(&record.kid, &record.public_key)?,
            retired_at: record.retired_at,
        });
        newest = Some(record);
        // Several unretired keys exist while a successor waits for its
        // time, after a crash mid-rotation, or when two replicas rotated
        // at once; each signs in its time, all stay published.
        if unretired {
            candidates.push(Candidate {
                active: Arc::new(ActiveKey {
                    kid: record.kid.clone(),
                    key: EncodingKey::from_ed_der(&der),
                }),
                signs_from: record.signs_from,
                retired_at: record.retired_at,
            });
        }
    }
    let (Some(oldest), Some(newest)) = (candidates.first(), newest) else {
        return match undecryptable {
            Some(err) => Err(err),
            None => Ok(None),
        };
    };
    Ok(Some(RingState {
        oldest: oldest.active.clone(),
        candidates,
        published,
        newest: (newest.created_at, newest.kid.clone()),
        loaded_at: now,
    }))
}
