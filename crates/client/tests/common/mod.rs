//! Test keys and tokens: an Ed25519 key signs tokens the way the token
//! service does, and a key source counts how often it is asked.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::{
    Mutex,
    atomic::{AtomicUsize, Ordering},
};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{SigningKey, pkcs8::EncodePrivateKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::JwkSet};
use latch_client::{Claims, KeySource, VerifyError};

pub const ISSUER: &str = "latch";
pub const AUDIENCE: &str = "latch";
/// 2026-11-24T00:00:00Z.
pub const NOW: i64 = 1_795_478_400;

pub struct TestKey {
    pub kid: String,
    pub signing: SigningKey,
}

impl TestKey {
    /// A distinct key per seed.
    pub fn new(kid: &str, seed: u8) -> Self {
        Self {
            kid: kid.to_owned(),
            signing: SigningKey::from_bytes(&[seed; 32]),
        }
    }

    pub fn public_x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes())
    }

    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
            "kid": self.kid, "x": self.public_x(),
        })
    }

    pub fn encoding_key(&self) -> EncodingKey {
        let der = self.signing.to_pkcs8_der().unwrap();
        EncodingKey::from_ed_der(der.as_bytes())
    }

    pub fn header(&self) -> Header {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(self.kid.clone());
        header
    }

    pub fn sign_with(&self, header: &Header, claims: &impl serde::Serialize) -> String {
        jsonwebtoken::encode(header, claims, &self.encoding_key()).unwrap()
    }

    pub fn sign(&self, claims: &Claims) -> String {
        self.sign_with(&self.header(), claims)
    }
}

pub fn jwks(keys: &[&TestKey]) -> JwkSet {
    let keys: Vec<_> = keys.iter().map(|k| k.jwk()).collect();
    serde_json::from_value(serde_json::json!({ "keys": keys })).unwrap()
}

pub fn claims() -> Claims {
    Claims {
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: "0190f5c2-5a6b-7cde-8f00-112233445566".to_owned(),
        sid: "AAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        roles: vec!["USER".to_owned()],
        iat: NOW - 60,
        exp: NOW + 840,
        jti: "jti-1".to_owned(),
    }
}

/// A key source whose key set tests change, counting fetches.
#[derive(Default)]
pub struct CountingSource {
    pub set: Mutex<Option<JwkSet>>,
    pub fetches: AtomicUsize,
}

impl CountingSource {
    pub fn with(set: JwkSet) -> Self {
        Self {
            set: Mutex::new(Some(set)),
            fetches: AtomicUsize::new(0),
        }
    }

    pub fn replace(&self, set: Option<JwkSet>) {
        *self.set.lock().unwrap() = set;
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl KeySource for CountingSource {
    async fn fetch(&self) -> Result<JwkSet, VerifyError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.set
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| VerifyError::KeysUnavailable("test source down".to_owned()))
    }
}
