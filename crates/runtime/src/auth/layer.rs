//! The tower layer that enforces each RPC's [`super::Access`].

use async_trait::async_trait;
use latch_domain::Result;

use super::UserPrincipal;

/// Turns a bearer access token into a user: signature, issuer, audience,
/// expiry and type checked, and the session behind it still live.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    async fn authenticate(&self, bearer: &str) -> Result<UserPrincipal>;
}

/// Placeholder until the layer lands; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct AuthLayer;
