//! A new signing key as a stored record, the check that a stored record's
//! halves belong together, and the public JWK of a record.

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use latch_domain::{
    Error, Result,
    model::SigningKeyRecord,
    secret::{Secret, random_bytes},
};

use super::{ALGORITHM, seal};

/// A fresh Ed25519 key published at `created_at` and signing from
/// `signs_from`, its id the RFC 7638 thumbprint of its public half.
pub(super) fn generate(
    created_at: DateTime<Utc>,
    signs_from: DateTime<Utc>,
    encryption_key: &Secret<[u8; 32]>,
) -> Result<SigningKeyRecord> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;

    let seed = random_bytes(32)?;
    let seed = <[u8; 32]>::try_from(seed.as_slice())
        .map_err(|_| Error::internal_msg("os randomness returned a short seed"))?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public_key = signing.verifying_key().to_bytes().to_vec();
    let kid = public_jwk("", &public_key)?
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| Error::internal_msg(format!("jwk thumbprint: {e}")))?;
    let der = signing
        .to_pkcs8_der()
        .map_err(|e| Error::internal_msg(format!("pkcs8 encoding: {e}")))?;
    let private_key_encrypted = seal::seal(encryption_key.expose(), &kid, der.as_bytes())?;
    Ok(SigningKeyRecord {
        kid,
        algorithm: ALGORITHM.to_owned(),
        public_key,
        private_key_encrypted,
        created_at,
        signs_from,
        retired_at: None,
    })
}

/// What a stored record turned out to be.
pub(super) enum Soundness {
    /// Its private key (PKCS#8 DER) decrypts and gives its public key.
    Sound(Vec<u8>),
    /// It decrypts, but its stored public half is not the one its private
    /// key gives (or the private key does not parse).
    Mismatched,
    /// It does not decrypt under the configured key.
    Undecryptable(Error),
}

/// Decrypts `record`'s private half and derives its public key, which must
/// be the stored one.
pub(super) fn check(record: &SigningKeyRecord, encryption_key: &Secret<[u8; 32]>) -> Soundness {
    use ed25519_dalek::pkcs8::DecodePrivateKey;

    let der = match seal::open(
        encryption_key.expose(),
        &record.kid,
        &record.private_key_encrypted,
    ) {
        Ok(der) => der,
        Err(err) => return Soundness::Undecryptable(err),
    };
    match ed25519_dalek::SigningKey::from_pkcs8_der(&der) {
        Ok(signing) if signing.verifying_key().as_bytes().as_slice() == record.public_key => {
            Soundness::Sound(der)
        }
        _ => Soundness::Mismatched,
    }
}

pub(super) fn public_jwk(kid: &str, public_key: &[u8]) -> Result<Jwk> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    if public_key.len() != 32 {
        return Err(Error::internal_msg(format!(
            "signing key {kid}: an Ed25519 public key has 32 bytes"
        )));
    }
    Ok(Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            key_id: (!kid.is_empty()).then(|| kid.to_owned()),
            ..CommonParameters::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: URL_SAFE_NO_PAD.encode(public_key),
        }),
    })
}
