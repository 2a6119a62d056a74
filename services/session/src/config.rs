//! The session service's settings, read once at start (`LATCH_SESSION_*`).

use std::time::Duration;

use latch_domain::{Error, Result};
use latch_runtime::config::{ConfigSource, check_duration, duration_in, format_duration};

/// Longest lifetime any setting may ask for; keeps time arithmetic far from
/// chrono's limits.
const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// What each key may hold. A session outliving a year, a cache entry (or
/// tombstone) outliving an hour, or a local cache that would miss a
/// revocation for more than five minutes is refused, not trusted.
const TTL_RANGE: std::ops::RangeInclusive<Duration> = MINUTE..=YEAR;
const IDLE_RANGE: std::ops::RangeInclusive<Duration> = MINUTE..=YEAR;
const CACHE_RANGE: std::ops::RangeInclusive<Duration> = SECOND..=HOUR;
const LOCAL_CACHE_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::ZERO..=Duration::from_secs(300);
const TOUCH_RANGE: std::ops::RangeInclusive<Duration> = Duration::ZERO..=HOUR;
/// Ended sessions are kept at least a minute (a revocation stays visible
/// to GetSession) and at most ten years.
const RETENTION_RANGE: std::ops::RangeInclusive<Duration> = MINUTE..=MAX_TTL;
const CLEANUP_RANGE: std::ops::RangeInclusive<Duration> = SECOND..=Duration::from_secs(86_400);

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
    /// Revoked and ended sessions are deleted this long after they ended
    /// (`LATCH_SESSION_RETENTION`, default 7 days, 1m to 10 years).
    pub retention: Duration,
    /// How often ended sessions are looked for and deleted, in batches, on
    /// every replica (`LATCH_SESSION_CLEANUP_INTERVAL`, default 1 h, 1s to 1d).
    pub cleanup_interval: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            absolute_ttl: Duration::from_secs(30 * 86_400),
            idle_ttl: Duration::from_secs(7 * 86_400),
            cache_ttl: Duration::from_secs(5 * 60),
            local_cache_ttl: Duration::from_secs(30),
            touch_interval: Duration::from_secs(60),
            retention: Duration::from_secs(7 * 86_400),
            cleanup_interval: Duration::from_secs(3600),
        }
    }
}

impl SessionConfig {
    /// Reads every key, falling back to the defaults; a malformed or
    /// out-of-range value stops the start with the range named:
    /// `LATCH_SESSION_TTL` and `LATCH_SESSION_IDLE_TTL` 1m to 365d,
    /// `LATCH_SESSION_CACHE_TTL` 1s to 1h, `LATCH_SESSION_LOCAL_CACHE_TTL`
    /// 0 to 5m, `LATCH_SESSION_TOUCH_INTERVAL` 0 to 1h and shorter than the
    /// idle TTL.
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let d = Self::default();
        let config = Self {
            absolute_ttl: duration_in(source, "LATCH_SESSION_TTL", d.absolute_ttl, TTL_RANGE)?,
            idle_ttl: duration_in(source, "LATCH_SESSION_IDLE_TTL", d.idle_ttl, IDLE_RANGE)?,
            cache_ttl: duration_in(source, "LATCH_SESSION_CACHE_TTL", d.cache_ttl, CACHE_RANGE)?,
            local_cache_ttl: duration_in(
                source,
                "LATCH_SESSION_LOCAL_CACHE_TTL",
                d.local_cache_ttl,
                LOCAL_CACHE_RANGE,
            )?,
            touch_interval: duration_in(
                source,
                "LATCH_SESSION_TOUCH_INTERVAL",
                d.touch_interval,
                TOUCH_RANGE,
            )?,
            retention: duration_in(
                source,
                "LATCH_SESSION_RETENTION",
                d.retention,
                RETENTION_RANGE,
            )?,
            cleanup_interval: duration_in(
                source,
                "LATCH_SESSION_CLEANUP_INTERVAL",
                d.cleanup_interval,
                CLEANUP_RANGE,
            )?,
        };
        config.validate()?;
        Ok(config)
    }

    /// The ranges above, for a config built in code as well.
    pub fn validate(&self) -> Result<()> {
        check_duration("LATCH_SESSION_TTL", self.absolute_ttl, TTL_RANGE)?;
        check_duration("LATCH_SESSION_IDLE_TTL", self.idle_ttl, IDLE_RANGE)?;
        check_duration("LATCH_SESSION_CACHE_TTL", self.cache_ttl, CACHE_RANGE)?;
        check_duration(
            "LATCH_SESSION_LOCAL_CACHE_TTL",
            self.local_cache_ttl,
            LOCAL_CACHE_RANGE,
        )?;
        check_duration(
            "LATCH_SESSION_TOUCH_INTERVAL",
            self.touch_interval,
            TOUCH_RANGE,
        )?;
        check_duration("LATCH_SESSION_RETENTION", self.retention, RETENTION_RANGE)?;
        // Activity is recorded once per interval: an interval as long as
        // the idle TTL would end sessions in active use.
        if self.touch_interval >= self.idle_ttl {
            return Err(Error::internal_msg(format!(
                "LATCH_SESSION_TOUCH_INTERVAL ({}) must be shorter than LATCH_SESSION_IDLE_TTL ({})",
                format_duration(self.touch_interval),
                format_duration(self.idle_ttl)
            )));
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
    fn retention_and_cleanup_interval_have_defaults_and_bounds() -> Result<()> {
        let config = SessionConfig::from_source(&MapSource::new())?;
        assert_eq!(config.retention, Duration::from_secs(7 * 86_400));
        assert_eq!(config.cleanup_interval, Duration::from_secs(3600));
        let source = MapSource::new()
            .with("LATCH_SESSION_RETENTION", "30d")
            .with("LATCH_SESSION_CLEANUP_INTERVAL", "10m");
        let config = SessionConfig::from_source(&source)?;
        assert_eq!(config.retention, Duration::from_secs(30 * 86_400));
        assert_eq!(config.cleanup_interval, Duration::from_secs(600));
        for (key, value) in [
            ("LATCH_SESSION_RETENTION", "30s"),
            ("LATCH_SESSION_RETENTION", "99999d"),
            ("LATCH_SESSION_CLEANUP_INTERVAL", "0"),
            ("LATCH_SESSION_CLEANUP_INTERVAL", "2d"),
        ] {
            let err = SessionConfig::from_source(&MapSource::new().with(key, value)).unwrap_err();
            assert!(format!("{err}").contains(key), "{key}={value}: {err}");
        }
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

    #[test]
    fn out_of_range_values_stop_the_start_naming_key_and_range() {
        for (key, value, range) in [
            // `now + ttl` overflowed chrono on this one and panicked.
            ("LATCH_SESSION_TTL", "999999999999d", "1m and 365d"),
            ("LATCH_SESSION_TTL", "366d", "1m and 365d"),
            ("LATCH_SESSION_IDLE_TTL", "30s", "1m and 365d"),
            ("LATCH_SESSION_CACHE_TTL", "2h", "1s and 1h"),
            ("LATCH_SESSION_LOCAL_CACHE_TTL", "10m", "0s and 5m"),
            ("LATCH_SESSION_TOUCH_INTERVAL", "2h", "0s and 1h"),
        ] {
            let source = MapSource::new().with(key, value);
            let err = format!("{}", SessionConfig::from_source(&source).unwrap_err());
            assert!(
                err.contains(key) && err.contains(range),
                "{key}={value}: {err}"
            );
        }
        let edges = MapSource::new()
            .with("LATCH_SESSION_TTL", "365d")
            .with("LATCH_SESSION_IDLE_TTL", "1m")
            .with("LATCH_SESSION_CACHE_TTL", "1h")
            .with("LATCH_SESSION_LOCAL_CACHE_TTL", "5m")
            .with("LATCH_SESSION_TOUCH_INTERVAL", "0");
        assert!(SessionConfig::from_source(&edges).is_ok());
    }

    #[test]
    fn a_touch_interval_as_long_as_the_idle_ttl_stops_the_start() {
        let source = MapSource::new()
            .with("LATCH_SESSION_IDLE_TTL", "10m")
            .with("LATCH_SESSION_TOUCH_INTERVAL", "10m");
        let err = format!("{}", SessionConfig::from_source(&source).unwrap_err());
        assert!(err.contains("LATCH_SESSION_TOUCH_INTERVAL"), "{err}");
    }
}
