//! How a per-service binary verifies access tokens: the token service's
//! JWKS fetched over gRPC (cached by kid), expiry checked on the Clock.

use std::sync::Arc;

use latch_client::{GrpcKeySource, Verifier};
use latch_domain::{Clock, Error, Result};
use latch_proto::latch::token::v1::token_service_client::TokenServiceClient;
use tonic::transport::Endpoint;

use crate::config::ConfigSource;

/// `LATCH_TOKEN_ISSUER` / `LATCH_TOKEN_AUDIENCE`: must match the token service's.
pub const DEFAULT_ISSUER: &str = "latch";
pub const DEFAULT_AUDIENCE: &str = "latch";

pub fn remote_verifier(
    source: &dyn ConfigSource,
    token_url: &str,
    clock: Arc<dyn Clock>,
) -> Result<Arc<Verifier>> {
    let channel = Endpoint::from_shared(token_url.to_owned())
        .map_err(|e| Error::internal_msg(format!("bad token service url {token_url:?}: {e}")))?
        .connect_lazy();
    let keys = GrpcKeySource::new(TokenServiceClient::new(channel));
    let issuer = source
        .get("LATCH_TOKEN_ISSUER")
        .unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
    let audience = source
        .get("LATCH_TOKEN_AUDIENCE")
        .unwrap_or_else(|| DEFAULT_AUDIENCE.to_owned());
    let verifier = Verifier::new(Arc::new(keys), issuer, audience)
        .with_cache(Verifier::DEFAULT_CACHE_CAPACITY)
        .with_clock(move || clock.now().timestamp());
    Ok(Arc::new(verifier))
}
