//! Sign in with Apple's client secret. Apple gives no static secret: the
//! client authenticates at its token endpoint with a JWT it signs itself,
//! ES256 with the team's key (the `.p8` file Apple lets you download once),
//! header `kid` the key's id, claims `iss` the team id, `sub` the client
//! id (the Services ID), `aud` the issuer, `iat` and `exp` (Apple allows at
//! most six months).
//!
//! [`ClientSecrets`] makes one and keeps it: the same JWT is sent while it
//! has more than [`RENEW_BEFORE`] left of its [`LIFETIME`], then a new one
//! is signed. A short lifetime bounds what a leaked secret is worth; the
//! cache spares a signature per sign-in.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latch_domain::{Error, Result, secret::Secret};
use serde::Serialize;

/// How long a client secret is valid.
pub(crate) const LIFETIME: i64 = 3600;
/// A secret with less than this left is renewed before it is sent (the
/// token request, and clocks that differ a little, fit well inside).
pub(crate) const RENEW_BEFORE: i64 = 600;

/// The team's private key, parsed and known to sign (a `.p8` file:
/// PKCS#8 PEM of a P-256 key). Never printed.
#[derive(Clone)]
pub struct SigningKey(EncodingKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// Parses `pem` and signs once with it, so a key that cannot sign
    /// ES256 (not PKCS#8, not P-256, damaged) is found at start. The
    /// error says what is wrong in general terms, never quoting the key.
    pub fn from_pem(pem: &str) -> std::result::Result<Self, &'static str> {
        let key = EncodingKey::from_ec_pem(pem.as_bytes())
            .map_err(|_| "is not a PKCS#8 PEM EC private key (Apple's .p8 file)")?;
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &Probe {}, &key)
            .map_err(|_| "is not a P-256 private key that can sign ES256")?;
        Ok(Self(key))
    }
}

#[derive(Serialize)]
struct Probe {}

/// An Apple provider's key material, as configured.
#[derive(Debug, Clone)]
pub struct AppleKey {
    /// The Apple developer team's id: the secret's `iss`.
    pub team_id: String,
    /// The key's id: the secret's header `kid`.
    pub key_id: String,
    pub key: SigningKey,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// The client secrets of one Apple provider, made on demand and reused
/// while fresh.
pub(crate) struct ClientSecrets {
    key: AppleKey,
    client_id: String,
    audience: String,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    jwt: Secret<String>,
    issued_at: i64,
    expires_at: i64,
}

impl ClientSecrets {
    /// For the client `client_id` at `issuer` (the secret's `aud`).
    pub(crate) fn new(key: AppleKey, client_id: &str, issuer: &str) -> Self {
        Self {
            key,
            client_id: client_id.to_owned(),
            audience: issuer.to_owned(),
            cached: Mutex::new(None),
        }
    }

    /// The secret to send at `now`: the cached one while it has more than
    /// [`RENEW_BEFORE`] left, else a new one. A clock that went back past
    /// the cached one's `iat` gets a new one too (Apple refuses a secret
    /// issued in its future).
    pub(crate) fn current(&self, now: DateTime<Utc>) -> Result<Secret<String>> {
        let now = now.timestamp();
        // Only a panic while holding the lock poisons it; the value is
        // still whole (it is replaced in one assignment).
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = cached.as_ref()
            && held.issued_at <= now
            && now < held.expires_at - RENEW_BEFORE
        {
            return Ok(held.jwt.clone());
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key.key_id.clone());
        let claims = Claims {
            iss: &self.key.team_id,
            sub: &self.client_id,
            aud: &self.audience,
            iat: now,
            exp: now + LIFETIME,
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key.key.0).map_err(|err| {
            // The key signed at start: this is not expected. The error
            // names the kind of failure only.
            Error::internal_msg(format!("Apple client secret not signed: {err}"))
        })?;
        let jwt = Secret::new(jwt);
        *cached = Some(Cached {
            jwt: jwt.clone(),
            issued_at: now,
            expires_at: now + LIFETIME,
        });
        tracing::debug!(client = %self.client_id, "Apple client secret renewed");
        Ok(jwt)
    }
}

/// A fresh P-256 key as Apple hands it out (PKCS#8 PEM), for tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_p8() -> String {
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    loop {
        let bytes = latch_domain::secret::random_bytes(32).unwrap();
        // All but a negligible share of 32-byte strings are valid scalars.
        if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
            return key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use chrono::{Duration, TimeZone};
    use jsonwebtoken::{DecodingKey, Validation, jwk::Jwk};
    use serde::Deserialize;

    use super::*;

    const ISSUER: &str = "https://appleid.apple.com";

    fn p8() -> String {
        test_p8()
    }

    fn secrets(pem: &str) -> ClientSecrets {
        let key = AppleKey {
            team_id: "TEAM123456".to_owned(),
            key_id: "KEY1234567".to_owned(),
            key: SigningKey::from_pem(pem).expect("a good key"),
        };
        ClientSecrets::new(key, "com.example.web", ISSUER)
    }

    #[derive(Deserialize)]
    struct Seen {
        iss: String,
        sub: String,
        aud: String,
        iat: i64,
        exp: i64,
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn the_secret_is_an_es256_jwt_apple_can_check() {
        let pem = p8();
        let secret = secrets(&pem).current(at(0)).unwrap();

        let header = jsonwebtoken::decode_header(secret.expose()).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("KEY1234567"));
        // Verified with the public half, as Apple does with the key it holds.
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
        let jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[ISSUER]);
        validation.set_issuer(&["TEAM123456"]);
        validation.validate_exp = false;
        let seen = jsonwebtoken::decode::<Seen>(
            secret.expose(),
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        )
        .expect("signed by the key")
        .claims;
        assert_eq!(seen.iss, "TEAM123456");
        assert_eq!(seen.sub, "com.example.web");
        assert_eq!(seen.aud, ISSUER);
        assert_eq!(seen.iat, at(0).timestamp());
        assert_eq!(seen.exp, at(LIFETIME).timestamp());
    }

    #[test]
    fn the_secret_is_reused_while_fresh_and_renewed_before_it_expires() {
        let secrets = secrets(&p8());
        let first = secrets.current(at(0)).unwrap();
        let renew_at = LIFETIME - RENEW_BEFORE;

        assert_eq!(secrets.current(at(1)).unwrap(), first);
        assert_eq!(secrets.current(at(renew_at - 1)).unwrap(), first);

        let second = secrets.current(at(renew_at)).unwrap();
        assert_ne!(second, first, "renewed with ten minutes left");
        let iat = |jwt: &Secret<String>| {
            let payload = jwt.expose().split('.').nth(1).unwrap().to_owned();
            let json =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                    .unwrap();
            serde_json::from_slice::<serde_json::Value>(&json).unwrap()["iat"]
                .as_i64()
                .unwrap()
        };
        assert_eq!(iat(&second), at(renew_at).timestamp());
        assert_eq!(
            secrets
                .current(at(renew_at) + Duration::minutes(5))
                .unwrap(),
            second
        );
        // A clock set back before the cached secret's iat: a new one.
        assert_ne!(secrets.current(at(renew_at - 60)).unwrap(), second);
    }

    #[test]
    fn apples_string_booleans_read_as_booleans() {
        // openidconnect's `accept-string-booleans` (root Cargo.toml): without
        // it a token with "true" as a string would not parse at all.
        for (raw, verified) in [
            (r#""true""#, true),
            (r#""false""#, false),
            ("true", true),
            ("false", false),
        ] {
            let json = format!(
                r#"{{"iss":"{ISSUER}","aud":"c","sub":"s","exp":2000000000,"iat":1800000000,
                "email":"a@privaterelay.appleid.com","email_verified":{raw},"is_private_email":"true"}}"#
            );
            let claims: openidconnect::core::CoreIdTokenClaims =
                serde_json::from_str(&json).expect(raw);
            assert_eq!(claims.email_verified(), Some(verified), "{raw}");
        }
    }

    #[test]
    fn a_key_that_cannot_sign_es256_is_refused_without_being_quoted() {
        let pem = p8();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        for bad in [
            "not a key".to_owned(),
            pem.replace("PRIVATE KEY", "PUBLIC KEY"),
            // A damaged key: the right armour, a body cut short.
            format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                &body[..body.len() / 2]
            ),
        ] {
            let err = SigningKey::from_pem(&bad).expect_err("refused");
            assert!(!err.contains(&body[..20]), "{err}");
        }
    }
}
