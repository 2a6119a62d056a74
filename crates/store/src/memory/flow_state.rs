//! Short-lived flow state in memory.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use latch_domain::{Clock, Result, ports::FlowState};

use super::expiring::ExpiringMap;

/// Values under keys with a TTL; `take` removes what it returns, so a value
/// is used at most once.
pub struct MemoryFlowState {
    values: ExpiringMap<String, Vec<u8>>,
}

impl MemoryFlowState {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            values: ExpiringMap::new(clock),
        }
    }
}

#[async_trait]
impl FlowState for MemoryFlowState {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.values
            .with(key, |mut e| e.insert(key.to_owned(), value.to_vec(), ttl));
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.values.with(key, |mut e| e.remove(key)))
    }
}
