use async_trait::async_trait;

use crate::{Result, secret::Secret};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordVerdict {
    pub matches: bool,
    /// The stored hash used weaker parameters than today's: store a new one.
    pub needs_rehash: bool,
}

/// Password hashing (argon2id), done off the async runtime.
#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    async fn hash(&self, password: &Secret<String>) -> Result<String>;
    /// With `None` (an unknown user, or one with no password) it verifies
    /// against a dummy hash, so the cost is the same and the answer is no.
    async fn verify(
        &self,
        password: &Secret<String>,
        hash: Option<&str>,
    ) -> Result<PasswordVerdict>;
}
