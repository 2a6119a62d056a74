//! The session service's settings, read once at start (`LATCH_SESSION_*`).

use std::time::Duration;

use latch_domain::{Error, Result};
use latch_runtime::config::{ConfigSource, duration_or};

/// Longest lifetime any setting may ask for; keeps time arithmetic far from
/// chrono's limits.
const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);

/// How long sessions live and how long their validity may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// The absolute end of a session, whatever the activity
    /// (`LATCH_SESSION_TTL`, default 30 days).
    pub absolute_ttl: Duration,
    /// A session with no activity for this long ends
    /// (`LATCH_SESSION_IDLE_TTL`, default 7 days).
    pub idle_ttl: Duration,
    /// Lifetime of `session:valid:{id}` and of revocation tombstones in the
    /// shared cache (`LATCH_SESSION_CACHE_TTL`, default 5 minutes).
    pub cache_ttl: Duration,
    /// Lifetime of an entry in this process's in-memory cache; it bounds how
    /// long a missed `session:revoked` event can go unnoticed here
    /// (`LATCH_SESSION_LOCAL_CACHE_TTL`, default 30 s; 0 turns it off).
    pub local_cache_ttl: Duration,
    /// Activity is written at most this often per session
    /// (`LATCH_SESSION_TOUCH_INTERVAL`, default 60 s).
    pub touch_interval: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            absolute_ttl: Duration::from_secs(30 * 86_400),
            idle_ttl: Duration::from_secs(7 * 86_400),
            cache_ttl: Duration::from_secs(5 * 60),
            local_cache_ttl: Duration::from_secs(30),
            touch_interval: Duration::from_secs(60),
        }
    }
}

impl SessionConfig {
    /// Reads every key, falling back to the defaults; a malformed or
    /// out-of-range value stops the start.
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let d = Self::default();
        let config = Self {
            absolute_ttl: duration_or(source, "LATCH_SESSION_TTL", d.absolute_ttl)?,
            idle_ttl: duration_or(source, "LATCH_SESSION_IDLE_TTL", d.idle_ttl)?,
            cache_ttl: duration_or(source, "LATCH_SESSION_CACHE_TTL", d.cache_ttl)?,
            local_cache_ttl: duration_or(
                source,
                "LATCH_SESSION_LOCAL_CACHE_TTL",
                d.local_cache_ttl,
            )?,
            touch_interval: duration_or(source, "LATCH_SESSION_TOUCH_INTERVAL", d.touch_interval)?,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        let positive = [
            ("LATCH_SESSION_TTL", self.absolute_ttl),
            ("LATCH_SESSION_IDLE_TTL", self.idle_ttl),
            ("LATCH_SESSION_CACHE_TTL", self.cache_ttl),
        ];
        for (key, value) in positive {
            if value.is_zero() {
                return Err(Error::internal_msg(format!("{key}: must be positive")));
            }
        }
        let bounded = positive.into_iter().chain([
            ("LATCH_SESSION_LOCAL_CACHE_TTL", self.local_cache_ttl),
            ("LATCH_SESSION_TOUCH_INTERVAL", self.touch_interval),
        ]);
        for (key, value) in bounded {
            if value > MAX_TTL {
                return Err(Error::internal_msg(format!(
                    "{key}: must be at most 10 years"
                )));
            }
        }
        Ok(())
    }
}

/// A configured duration as chrono's, capped at [`MAX_TTL`] so that adding
/// it to a timestamp cannot overflow.
pub(crate) fn chrono_duration(value: Duration) -> chrono::Duration {
    chrono::Duration::from_std(value.min(MAX_TTL)).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use latch_runtime::config::MapSource;

    use super::*;

    #[test]
    fn defaults_match_the_architecture() -> Result<()> {
        let config = SessionConfig::from_source(&MapSource::new())?;
        assert_eq!(config, SessionConfig::default());
        assert_eq!(config.absolute_ttl, Duration::from_secs(30 * 86_400));
        assert_eq!(config.idle_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(config.cache_ttl, Duration::from_secs(300));
        Ok(())
    }

    #[test]
    fn keys_override_defaults() -> Result<()> {
        let source = MapSource::new()
            .with("LATCH_SESSION_TTL", "14d")
            .with("LATCH_SESSION_IDLE_TTL", "1h")
            .with("LATCH_SESSION_CACHE_TTL", "1m")
            .with("LATCH_SESSION_LOCAL_CACHE_TTL", "0")
            .with("LATCH_SESSION_TOUCH_INTERVAL", "10s");
        let config = SessionConfig::from_source(&source)?;
        assert_eq!(config.absolute_ttl, Duration::from_secs(14 * 86_400));
        assert_eq!(config.idle_ttl, Duration::from_secs(3600));
        assert_eq!(config.cache_ttl, Duration::from_secs(60));
        assert_eq!(config.local_cache_ttl, Duration::ZERO);
        assert_eq!(config.touch_interval, Duration::from_secs(10));
        Ok(())
    }

    #[test]
    fn malformed_or_zero_lifetimes_stop_the_start() {
        let bad = MapSource::new().with("LATCH_SESSION_TTL", "thirty days");
        assert!(SessionConfig::from_source(&bad).is_err());
        let zero = MapSource::new().with("LATCH_SESSION_IDLE_TTL", "0");
        assert!(SessionConfig::from_source(&zero).is_err());
        let huge = MapSource::new().with("LATCH_SESSION_TTL", "100000d");
        assert!(SessionConfig::from_source(&huge).is_err());
    }
}
