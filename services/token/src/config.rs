//! The token service's configuration and secrets, read once at start.

use std::time::Duration;

use latch_domain::{Error, Result, secret::Secret};
use latch_runtime::{
    auth::{DEFAULT_AUDIENCE, DEFAULT_ISSUER},
    config::{ConfigSource, check_duration, duration_or, parse_or},
};

/// Lifetimes and names of the tokens. Every key is optional; the defaults
/// are ARCHITECTURE.md's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// `iss` of access tokens (`LATCH_TOKEN_ISSUER`, default `latch`).
    pub issuer: String,
    /// `aud` of access tokens (`LATCH_TOKEN_AUDIENCE`, default `latch`).
    pub audience: String,
    /// Access-token lifetime (`LATCH_ACCESS_TOKEN_TTL`, default and maximum 15m).
    pub access_ttl: Duration,
    /// One refresh token's own lifetime, capped by its family's end
    /// (`LATCH_REFRESH_TOKEN_TTL`, default 7d).
    pub refresh_ttl: Duration,
    /// Absolute lifetime of a refresh family, whatever the rotations
    /// (`LATCH_REFRESH_FAMILY_TTL`, default 14d).
    pub family_ttl: Duration,
    /// How long after a refresh the same spent token may come back, from
    /// the same user agent, and get the same successor instead of counting
    /// as reuse (a client retrying after a lost response);
    /// `LATCH_REFRESH_REUSE_GRACE`, default 10s, at most 60s, 0 turns it off.
    pub reuse_grace: Duration,
    /// How often ended and revoked families are deleted
    /// (`LATCH_TOKEN_CLEANUP_INTERVAL`, default 1h, at most 1d).
    pub cleanup_interval: Duration,
    /// How long an ended or revoked family is kept before that
    /// (`LATCH_TOKEN_RETENTION`, default 7d): long enough to tell a reused
    /// token from a random one, and to look into an incident.
    pub retention: Duration,
    /// How long a verifier may cache the JWKS (`LATCH_JWKS_CACHE_TTL`,
    /// default 10m, 30s to 1d): the `max-age` of the JWKS served over
    /// HTTP, and how long a new signing key is published before it signs
    /// (plus [`TokenConfig::KEY_PUBLICATION_MARGIN`]).
    pub jwks_cache_ttl: Duration,
    /// How often a new signing key is made on schedule
    /// (`LATCH_SIGNING_KEY_ROTATION`, default 30d, `0` = only on request;
    /// otherwise 1h to 365d, and longer than the JWKS cache TTL plus the
    /// margin, so a key signs before the next one is made).
    pub key_rotation: Duration,
}

impl TokenConfig {
    /// The longest access-token lifetime Latch accepts: revocation reaches
    /// a token checked without its session only when it expires.
    pub const MAX_ACCESS_TTL: Duration = latch_domain::model::MAX_ACCESS_TOKEN_TTL;
    /// The longest grace for a duplicate refresh: a stolen token replayed
    /// this soon after the rightful refresh passes for a retry.
    pub const MAX_REUSE_GRACE: Duration = Duration::from_secs(60);
    /// The longest refresh-token and family lifetime, and retention: a year
    /// keeps every `now + span` far from chrono's limits.
    pub const MAX_LIFETIME: Duration = Duration::from_secs(365 * 86_400);
    /// The longest pause between two cleanups.
    pub const MAX_CLEANUP_INTERVAL: Duration = Duration::from_secs(86_400);
    /// The shortest JWKS cache TTL: Latch's own verifier refetches the keys
    /// for an unknown `kid` at most this often.
    pub const MIN_JWKS_CACHE_TTL: Duration = latch_client::Verifier::DEFAULT_REFETCH_INTERVAL;
    /// The longest JWKS cache TTL, and so the longest wait of a new key.
    pub const MAX_JWKS_CACHE_TTL: Duration = Duration::from_secs(86_400);
    /// What a new key waits beyond the JWKS cache TTL before it signs: a
    /// replica's view of the keys (and so the JWKS it serves) may be a
    /// minute old, and clocks may disagree by another.
    pub const KEY_PUBLICATION_MARGIN: Duration = Duration::from_secs(120);
    /// The shortest scheduled rotation period.
    pub const MIN_KEY_ROTATION: Duration = Duration::from_secs(3600);

    /// Reads the `LATCH_*` keys above; a malformed or out-of-range value
    /// stops the start.
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let defaults = Self::default();
        let config = Self {
            issuer: parse_or(source, "LATCH_TOKEN_ISSUER", defaults.issuer)?,
            audience: parse_or(source, "LATCH_TOKEN_AUDIENCE", defaults.audience)?,
            access_ttl: duration_or(source, "LATCH_ACCESS_TOKEN_TTL", defaults.access_ttl)?,
            refresh_ttl: duration_or(source, "LATCH_REFRESH_TOKEN_TTL", defaults.refresh_ttl)?,
            family_ttl: duration_or(source, "LATCH_REFRESH_FAMILY_TTL", defaults.family_ttl)?,
            reuse_grace: duration_or(source, "LATCH_REFRESH_REUSE_GRACE", defaults.reuse_grace)?,
            cleanup_interval: duration_or(
                source,
                "LATCH_TOKEN_CLEANUP_INTERVAL",
                defaults.cleanup_interval,
            )?,
            retention: duration_or(source, "LATCH_TOKEN_RETENTION", defaults.retention)?,
            jwks_cache_ttl: duration_or(source, "LATCH_JWKS_CACHE_TTL", defaults.jwks_cache_ttl)?,
            key_rotation: duration_or(source, "LATCH_SIGNING_KEY_ROTATION", defaults.key_rotation)?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the ranges; [`crate::Tokens::start`] calls it too, so a config
    /// built in code is held to the same rules. Every duration is bounded,
    /// so no `now + span` in the service can overflow.
    pub fn validate(&self) -> Result<()> {
        const SECOND: Duration = Duration::from_secs(1);
        let refuse = |msg: &str| Err(Error::internal_msg(msg.to_owned()));
        if self.issuer.trim().is_empty() || self.audience.trim().is_empty() {
            return refuse("LATCH_TOKEN_ISSUER and LATCH_TOKEN_AUDIENCE must not be empty");
        }
        let ranges = [
            (
                "LATCH_ACCESS_TOKEN_TTL",
                self.access_ttl,
                SECOND..=Self::MAX_ACCESS_TTL,
            ),
            (
                "LATCH_REFRESH_TOKEN_TTL",
                self.refresh_ttl,
                SECOND..=Self::MAX_LIFETIME,
            ),
            (
                "LATCH_REFRESH_FAMILY_TTL",
                self.family_ttl,
                SECOND..=Self::MAX_LIFETIME,
            ),
            (
                "LATCH_REFRESH_REUSE_GRACE",
                self.reuse_grace,
                Duration::ZERO..=Self::MAX_REUSE_GRACE,
            ),
            (
                "LATCH_TOKEN_CLEANUP_INTERVAL",
                self.cleanup_interval,
                // Tests pace it in milliseconds; zero would stop the timer.
                Duration::from_millis(1)..=Self::MAX_CLEANUP_INTERVAL,
            ),
            (
                "LATCH_TOKEN_RETENTION",
                self.retention,
                Duration::ZERO..=Self::MAX_LIFETIME,
            ),
            (
                "LATCH_JWKS_CACHE_TTL",
                self.jwks_cache_ttl,
                Self::MIN_JWKS_CACHE_TTL..=Self::MAX_JWKS_CACHE_TTL,
            ),
        ];
        for (key, value, range) in ranges {
            check_duration(key, value, range)?;
        }
        if self.reuse_grace >= self.refresh_ttl {
            return refuse(
                "LATCH_REFRESH_REUSE_GRACE must be shorter than LATCH_REFRESH_TOKEN_TTL",
            );
        }
        if !self.key_rotation.is_zero() {
            check_duration(
                "LATCH_SIGNING_KEY_ROTATION",
                self.key_rotation,
                Self::MIN_KEY_ROTATION..=Self::MAX_LIFETIME,
            )?;
            if self.key_rotation <= self.key_lead() {
                return refuse(
                    "LATCH_SIGNING_KEY_ROTATION must be longer than LATCH_JWKS_CACHE_TTL plus 2m (the wait of a new key before it signs)",
                );
            }
        }
        Ok(())
    }

    /// How long after it is published a rotated key starts signing.
    pub fn key_lead(&self) -> Duration {
        self.jwks_cache_ttl + Self::KEY_PUBLICATION_MARGIN
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            access_ttl: Self::MAX_ACCESS_TTL,
            refresh_ttl: Duration::from_secs(7 * 86_400),
            family_ttl: Duration::from_secs(14 * 86_400),
            reuse_grace: Duration::from_secs(10),
            cleanup_interval: Duration::from_secs(3600),
            retention: Duration::from_secs(7 * 86_400),
            // Envoy's jwt_authn caches remote JWKS 10 minutes by default.
            jwks_cache_ttl: Duration::from_secs(600),
            key_rotation: Duration::from_secs(30 * 86_400),
        }
    }
}

/// The token service's keys. Where they come from (files under `./data`
/// for the embedded default, the environment in production) is the
/// binary's business.
#[derive(Debug, Clone)]
pub struct TokenSecrets {
    /// AES-256-GCM key that encrypts signing keys' private halves at rest.
    pub encryption_key: Secret<[u8; 32]>,
    /// HMAC-SHA-256 key of the stored client IP hashes.
    pub ip_hash_key: Secret<[u8; 32]>,
    /// HMAC-SHA-256 key that derives a refresh token's successor from it.
    pub refresh_key: Secret<[u8; 32]>,
}

impl TokenSecrets {
    /// Three fresh random keys: for tests, and for a first start that
    /// persists them.
    pub fn generate() -> Result<Self> {
        Ok(Self {
            encryption_key: Secret::new(random_key()?),
            ip_hash_key: Secret::new(random_key()?),
            refresh_key: Secret::new(random_key()?),
        })
    }
}

fn random_key() -> Result<[u8; 32]> {
    let bytes = latch_domain::secret::random_bytes(32)?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| Error::internal_msg("os randomness returned a short key"))
}

#[cfg(test)]
mod tests {
    use latch_runtime::config::MapSource;

    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() -> Result<()> {
        let config = TokenConfig::from_source(&MapSource::new())?;
        assert_eq!(config, TokenConfig::default());
        assert_eq!(config.access_ttl, Duration::from_secs(900));
        assert_eq!(config.family_ttl, Duration::from_secs(14 * 86_400));
        assert_eq!(config.reuse_grace, Duration::from_secs(10));
        assert_eq!(config.jwks_cache_ttl, Duration::from_secs(600));
        assert_eq!(config.key_rotation, Duration::from_secs(30 * 86_400));
        assert_eq!(config.key_lead(), Duration::from_secs(720));
        Ok(())
    }

    #[test]
    fn key_schedule_keys_are_read_and_ranged() -> Result<()> {
        let source = MapSource::new()
            .with("LATCH_JWKS_CACHE_TTL", "5m")
            .with("LATCH_SIGNING_KEY_ROTATION", "7d");
        let config = TokenConfig::from_source(&source)?;
        assert_eq!(config.jwks_cache_ttl, Duration::from_secs(300));
        assert_eq!(config.key_rotation, Duration::from_secs(7 * 86_400));
        let off = MapSource::new().with("LATCH_SIGNING_KEY_ROTATION", "0");
        assert_eq!(TokenConfig::from_source(&off)?.key_rotation, Duration::ZERO);
        for (key, raw) in [
            ("LATCH_JWKS_CACHE_TTL", "29s"),
            ("LATCH_JWKS_CACHE_TTL", "2d"),
            ("LATCH_SIGNING_KEY_ROTATION", "59m"),
            ("LATCH_SIGNING_KEY_ROTATION", "366d"),
            ("LATCH_SIGNING_KEY_ROTATION", "monthly"),
        ] {
            let source = MapSource::new().with(key, raw);
            let err = TokenConfig::from_source(&source)
                .expect_err("an out-of-range value must stop the start");
            assert!(format!("{err}").contains(key), "{key}={raw}: {err}");
        }
        // A key must sign before the next one is made.
        let source = MapSource::new()
            .with("LATCH_JWKS_CACHE_TTL", "1d")
            .with("LATCH_SIGNING_KEY_ROTATION", "1d");
        let err = TokenConfig::from_source(&source).unwrap_err();
        assert!(
            format!("{err}").contains("LATCH_SIGNING_KEY_ROTATION"),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn keys_override_defaults() -> Result<()> {
        let source = MapSource::new()
            .with("LATCH_TOKEN_ISSUER", "https://auth.example")
            .with("LATCH_ACCESS_TOKEN_TTL", "5m")
            .with("LATCH_REFRESH_REUSE_GRACE", "0");
        let config = TokenConfig::from_source(&source)?;
        assert_eq!(config.issuer, "https://auth.example");
        assert_eq!(config.access_ttl, Duration::from_secs(300));
        assert_eq!(config.reuse_grace, Duration::ZERO);
        Ok(())
    }

    #[test]
    fn access_tokens_longer_than_15_minutes_are_refused() {
        let source = MapSource::new().with("LATCH_ACCESS_TOKEN_TTL", "16m");
        assert!(TokenConfig::from_source(&source).is_err());
        let source = MapSource::new().with("LATCH_ACCESS_TOKEN_TTL", "0");
        assert!(TokenConfig::from_source(&source).is_err());
        let source = MapSource::new().with("LATCH_REFRESH_FAMILY_TTL", "forever");
        assert!(TokenConfig::from_source(&source).is_err());
    }

    #[test]
    fn out_of_range_durations_stop_the_start_naming_the_key() {
        let cases = [
            ("LATCH_REFRESH_REUSE_GRACE", "61s"),
            ("LATCH_REFRESH_REUSE_GRACE", "10m"),
            ("LATCH_REFRESH_TOKEN_TTL", "366d"),
            ("LATCH_REFRESH_TOKEN_TTL", "0"),
            ("LATCH_REFRESH_FAMILY_TTL", "366d"),
            ("LATCH_TOKEN_RETENTION", "366d"),
            ("LATCH_TOKEN_CLEANUP_INTERVAL", "25h"),
            ("LATCH_TOKEN_CLEANUP_INTERVAL", "0"),
            // Far past chrono's last date: `now + ttl` used to panic.
            ("LATCH_REFRESH_FAMILY_TTL", "100000000d"),
            ("LATCH_TOKEN_RETENTION", "999999999999d"),
        ];
        for (key, raw) in cases {
            let source = MapSource::new().with(key, raw);
            let err = TokenConfig::from_source(&source)
                .expect_err("an out-of-range value must stop the start");
            assert!(format!("{err}").contains(key), "{key}={raw}: {err}");
        }
        let source = MapSource::new().with("LATCH_REFRESH_REUSE_GRACE", "61s");
        let err = TokenConfig::from_source(&source).unwrap_err();
        assert!(
            format!("{err}").contains("must be between 0s and 1m"),
            "{err}"
        );
    }

    #[test]
    fn the_bounds_themselves_are_accepted() -> Result<()> {
        let source = MapSource::new()
            .with("LATCH_REFRESH_REUSE_GRACE", "60s")
            .with("LATCH_REFRESH_TOKEN_TTL", "365d")
            .with("LATCH_REFRESH_FAMILY_TTL", "365d")
            .with("LATCH_TOKEN_RETENTION", "365d")
            .with("LATCH_TOKEN_CLEANUP_INTERVAL", "1d");
        let config = TokenConfig::from_source(&source)?;
        assert_eq!(config.reuse_grace, TokenConfig::MAX_REUSE_GRACE);
        assert_eq!(config.family_ttl, TokenConfig::MAX_LIFETIME);
        assert_eq!(config.cleanup_interval, TokenConfig::MAX_CLEANUP_INTERVAL);
        Ok(())
    }

    #[test]
    fn a_config_built_in_code_is_held_to_the_same_ranges() {
        let huge = TokenConfig {
            family_ttl: Duration::from_secs(u64::MAX),
            ..TokenConfig::default()
        };
        assert!(huge.validate().is_err());
        let long_grace = TokenConfig {
            reuse_grace: Duration::from_secs(61),
            ..TokenConfig::default()
        };
        assert!(long_grace.validate().is_err());
    }

    #[test]
    fn generated_secrets_differ_and_do_not_print() -> Result<()> {
        let secrets = TokenSecrets::generate()?;
        assert_ne!(secrets.ip_hash_key, secrets.refresh_key);
        let printed = format!("{secrets:?}");
        assert!(!printed.contains(&format!("{:?}", secrets.refresh_key.expose())));
        Ok(())
    }
}
