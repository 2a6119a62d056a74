//! Where the verifier gets its public keys, and which keys it trusts.

use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse},
};
use latch_proto::latch::token::v1::{GetJwksRequest, token_service_client::TokenServiceClient};
use tonic::transport::Channel;

use crate::VerifyError;

/// A source of the token service's public keys (a JWKS document).
#[async_trait]
pub trait KeySource: Send + Sync + 'static {
    /// The current key set. `KeysUnavailable` when it cannot be had; the
    /// verifier then keeps the keys it already holds.
    async fn fetch(&self) -> Result<JwkSet, VerifyError>;
}

/// Fetches the keys from `latch.token.v1.TokenService/GetJwks`.
#[derive(Debug, Clone)]
pub struct GrpcKeySource {
    client: TokenServiceClient<Channel>,
    timeout: Duration,
}

impl GrpcKeySource {
    /// How long one fetch may take before it counts as unavailable.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    pub fn new(client: TokenServiceClient<Channel>) -> Self {
        Self {
            client,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

#[async_trait]
impl KeySource for GrpcKeySource {
    async fn fetch(&self) -> Result<JwkSet, VerifyError> {
        let mut client = self.client.clone();
        let call = client.get_jwks(GetJwksRequest {});
        let response = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| VerifyError::KeysUnavailable("GetJwks timed out".to_owned()))?
            .map_err(|status| {
                VerifyError::KeysUnavailable(format!("GetJwks failed: {:?}", status.code()))
            })?;
        serde_json::from_str(&response.into_inner().jwks_json)
            .map_err(|_| VerifyError::KeysUnavailable("GetJwks returned malformed JSON".to_owned()))
    }
}

/// A fixed key set: for tests, and for deployments that pin their keys.
#[derive(Debug, Clone)]
pub struct StaticKeySource(pub JwkSet);

#[async_trait]
impl KeySource for StaticKeySource {
    async fn fetch(&self) -> Result<JwkSet, VerifyError> {
        Ok(self.0.clone())
    }
}

/// A usable verification key: its id, the one algorithm it verifies, and
/// the key itself.
pub(crate) struct TrustedKey {
    pub(crate) kid: String,
    pub(crate) algorithm: Algorithm,
    pub(crate) key: DecodingKey,
}

/// The algorithm is fixed by the key's type, never by a token header: an
/// Ed25519 key verifies EdDSA only, a P-256 key ES256 only. Anything else
/// (RSA, symmetric `oct` keys, keys for encryption, keys without an id) is
/// ignored, so a published symmetric key can never turn into an HMAC secret.
pub(crate) fn trusted_key(jwk: &Jwk) -> Option<TrustedKey> {
    let kid = jwk.common.key_id.as_deref().filter(|kid| !kid.is_empty())?;
    if matches!(&jwk.common.public_key_use, Some(usage) if *usage != PublicKeyUse::Signature) {
        return None;
    }
    let (algorithm, declared, key) = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => (
            Algorithm::EdDSA,
            KeyAlgorithm::EdDSA,
            DecodingKey::from_ed_components(&okp.x).ok()?,
        ),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => (
            Algorithm::ES256,
            KeyAlgorithm::ES256,
            DecodingKey::from_ec_components(&ec.x, &ec.y).ok()?,
        ),
        _ => return None,
    };
    // A key that names another algorithm than its type allows is suspect.
    if matches!(jwk.common.key_algorithm, Some(alg) if alg != declared) {
        return None;
    }
    Some(TrustedKey {
        kid: kid.to_owned(),
        algorithm,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(json: &str) -> Jwk {
        serde_json::from_str(json).unwrap()
    }

    const ED: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

    #[test]
    fn ed25519_keys_verify_eddsa_only() {
        let key = trusted_key(&jwk(ED)).unwrap();
        assert_eq!(key.kid, "k1");
        assert_eq!(key.algorithm, Algorithm::EdDSA);
    }

    #[test]
    fn symmetric_and_unidentified_keys_are_ignored() {
        assert!(trusted_key(&jwk(r#"{"kty":"oct","kid":"h","k":"c2VjcmV0"}"#)).is_none());
        assert!(
            trusted_key(&jwk(
                r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#
            ))
            .is_none()
        );
    }

    #[test]
    fn keys_declaring_another_use_or_algorithm_are_ignored() {
        let enc = ED.replace(r#""kid":"k1""#, r#""kid":"k1","use":"enc""#);
        assert!(trusted_key(&jwk(&enc)).is_none());
        let hs = ED.replace(r#""kid":"k1""#, r#""kid":"k1","alg":"HS256""#);
        assert!(trusted_key(&jwk(&hs)).is_none());
        let eddsa = ED.replace(r#""kid":"k1""#, r#""kid":"k1","alg":"EdDSA","use":"sig""#);
        assert!(trusted_key(&jwk(&eddsa)).is_some());
    }
}
