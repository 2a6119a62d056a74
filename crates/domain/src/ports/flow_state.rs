use std::time::Duration;

use async_trait::async_trait;

use crate::Result;

/// Short-lived state of a multi-step flow (a pending login, an OAuth state,
/// a WebAuthn challenge), under keys such as `login_attempt:{hash}`.
#[async_trait]
pub trait FlowState: Send + Sync + 'static {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()>;
    /// Reads and deletes in one step, so a value is used at most once.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>>;
}
