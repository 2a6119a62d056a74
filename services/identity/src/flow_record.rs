//! Records of multi-step flows (a pending TOTP enrolment, a login awaiting
//! its second factor) in the flow state: JSON sealed under the encryption
//! key with the flow-state key as associated data, so Redis holds nothing
//! readable and a value moved under another key does not open. Each record
//! carries the instant it may be dropped, so a flow that takes it, checks
//! it and puts it back (one more try) keeps the TTL it had left: `take` is
//! read-and-delete, and two replicas cannot both pass one check.

use chrono::{DateTime, Utc};
use latch_domain::{Error, Result, seal};
use serde::{Serialize, de::DeserializeOwned};

use crate::Identity;

impl Identity {
    /// Stores `value` under `key` until `keep_until`; a time already past
    /// stores nothing.
    pub(crate) async fn put_record<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        keep_until: DateTime<Utc>,
    ) -> Result<()> {
        let ttl = keep_until - self.deps.clock.now();
        let Ok(ttl) = ttl.to_std() else {
            return Ok(());
        };
        if ttl.is_zero() {
            return Ok(());
        }
        let json = serde_json::to_vec(value).map_err(Error::internal)?;
        let sealed = seal::seal(self.encryption_key(), key.as_bytes(), &json)?;
        self.deps.flow_state.put(key, &sealed, ttl).await
    }

    /// Takes (reads and deletes) the record under `key`. One that does not
    /// open (another key, tampered) is logged and treated as absent.
    pub(crate) async fn take_record<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let Some(sealed) = self.deps.flow_state.take(key).await? else {
            return Ok(None);
        };
        let record = seal::open(self.encryption_key(), key.as_bytes(), &sealed)
            .and_then(|json| serde_json::from_slice(&json).ok());
        if record.is_none() {
            tracing::warn!("a flow-state record did not open; treated as absent");
        }
        Ok(record)
    }

    pub(crate) fn encryption_key(&self) -> &[u8; 32] {
        self.deps.secrets.encryption_key.expose()
    }
}
