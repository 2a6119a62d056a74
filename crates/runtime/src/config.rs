//! Configuration is read once, at start, into typed structs through a
//! [`ConfigSource`]: the process environment in production, a map in tests
//! (so tests never touch the environment). Every key is `LATCH_`-prefixed.

use std::{collections::HashMap, fmt::Display, ops::RangeInclusive, str::FromStr, time::Duration};

use latch_domain::{Error, Result};

pub trait ConfigSource: Send + Sync {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvSource;

impl ConfigSource for EnvSource {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

/// A fixed map, for tests and for layering overrides.
#[derive(Debug, Clone, Default)]
pub struct MapSource(HashMap<String, String>);

impl MapSource {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(key.to_owned(), value.into());
    }
}

impl ConfigSource for MapSource {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
}

/// Reads `key`, or `default` when unset; a malformed value stops the start.
pub fn parse_or<T: FromStr>(source: &dyn ConfigSource, key: &str, default: T) -> Result<T> {
    match source.get(key) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| Error::internal_msg(format!("{key}: cannot parse {raw:?}"))),
    }
}

/// As [`parse_or`], and the value must lie in `range`: a count or size
/// outside it stops the start with the range named.
pub fn parse_in<T>(
    source: &dyn ConfigSource,
    key: &str,
    default: T,
    range: RangeInclusive<T>,
) -> Result<T>
where
    T: FromStr + PartialOrd + Display,
{
    let value = parse_or(source, key, default)?;
    if range.contains(&value) {
        return Ok(value);
    }
    Err(Error::internal_msg(format!(
        "{key}: {value} is out of range, must be between {} and {}",
        range.start(),
        range.end()
    )))
}

/// The longest duration any key may hold, ranged or not: far enough from
/// the limits of `Instant` and chrono that adding one to "now" cannot
/// overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Reads a duration such as `15m`, `14d`, `10s`, `500ms`, or a bare number
/// of seconds; more than [`MAX_DURATION`] stops the start. Prefer
/// [`duration_in`], which says what is sensible for the key.
pub fn duration_or(source: &dyn ConfigSource, key: &str, default: Duration) -> Result<Duration> {
    duration_in(source, key, default, Duration::ZERO..=MAX_DURATION)
}

/// As [`duration_or`], and the value must lie in `range` (itself within
/// [`MAX_DURATION`]): outside it the start stops with the range named.
pub fn duration_in(
    source: &dyn ConfigSource,
    key: &str,
    default: Duration,
    range: RangeInclusive<Duration>,
) -> Result<Duration> {
    let Some(raw) = source.get(key) else {
        return Ok(default);
    };
    let value = parse_duration(&raw)
        .ok_or_else(|| Error::internal_msg(format!("{key}: cannot parse duration {raw:?}")))?;
    check_duration(key, value, range)
}

/// `value` if it lies in `range` and within [`MAX_DURATION`]; otherwise the
/// message a start stops with. For checks between keys, or on values
/// built in code.
pub fn check_duration(
    key: &str,
    value: Duration,
    range: RangeInclusive<Duration>,
) -> Result<Duration> {
    if range.contains(&value) && value <= MAX_DURATION {
        return Ok(value);
    }
    Err(Error::internal_msg(format!(
        "{key}: {} is out of range, must be between {} and {}",
        format_duration(value),
        format_duration(*range.start()),
        format_duration((*range.end()).min(MAX_DURATION))
    )))
}

/// A duration in the largest unit that writes it exactly (`90s`, `15m`,
/// `7d`, `250ms`), as the keys are written.
pub fn format_duration(value: Duration) -> String {
    if !value.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{value:?}");
    }
    if value.subsec_millis() != 0 {
        return format!("{}ms", value.as_millis());
    }
    let secs = value.as_secs();
    match secs {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => return Some(Duration::from_millis(n)),
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(
            parse_duration("14d"),
            Some(Duration::from_secs(14 * 86_400))
        );
        assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("ten"), None);
        assert_eq!(parse_duration("5y"), None);
    }

    #[test]
    fn huge_durations_neither_overflow_nor_pass() {
        // 999999999999 days is 8.6e16 s: it fits a u64, and `now + it`
        // would panic; past u64 the parse itself fails.
        assert_eq!(
            parse_duration("999999999999d"),
            Some(Duration::from_secs(999_999_999_999 * 86_400))
        );
        assert_eq!(parse_duration("18446744073709551615d"), None);
        assert_eq!(parse_duration("99999999999999999999"), None);
        assert_eq!(
            parse_duration("18446744073709551615ms"),
            Some(Duration::from_millis(u64::MAX))
        );
        for raw in ["999999999999d", "18446744073709551615ms", "36501d"] {
            let source = MapSource::new().with("LATCH_TTL", raw);
            let err = duration_or(&source, "LATCH_TTL", Duration::ZERO).unwrap_err();
            assert!(format!("{err}").contains("LATCH_TTL"), "{raw}: {err}");
        }
        let fine = MapSource::new().with("LATCH_TTL", "36500d");
        assert_eq!(
            duration_or(&fine, "LATCH_TTL", Duration::ZERO).ok(),
            Some(MAX_DURATION)
        );
    }

    #[test]
    fn ranged_values_outside_their_range_stop_the_start() {
        let range = Duration::from_secs(1)..=Duration::from_secs(3600);
        let source = MapSource::new()
            .with("LATCH_A", "2h")
            .with("LATCH_B", "500ms")
            .with("LATCH_C", "1h")
            .with("LATCH_N", "0");
        let err = duration_in(&source, "LATCH_A", Duration::ZERO, range.clone()).unwrap_err();
        assert!(
            format!("{err}").contains("LATCH_A: 2h is out of range, must be between 1s and 1h"),
            "{err}"
        );
        assert!(duration_in(&source, "LATCH_B", Duration::ZERO, range.clone()).is_err());
        assert_eq!(
            duration_in(&source, "LATCH_C", Duration::ZERO, range.clone()).ok(),
            Some(Duration::from_secs(3600))
        );
        // The default is the caller's to get right; it is not checked.
        assert_eq!(
            duration_in(&source, "LATCH_UNSET", Duration::from_secs(5), range).ok(),
            Some(Duration::from_secs(5))
        );
        let err = parse_in(&source, "LATCH_N", 16u32, 1..=1000).unwrap_err();
        assert!(
            format!("{err}").contains("LATCH_N: 0 is out of range"),
            "{err}"
        );
        assert_eq!(parse_in(&source, "LATCH_M", 16u32, 1..=1000).ok(), Some(16));
    }

    #[test]
    fn durations_are_written_as_keys_are() {
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn map_source_overrides_defaults() -> Result<()> {
        let source = MapSource::new().with("LATCH_X", "3");
        assert_eq!(parse_or(&source, "LATCH_X", 1u32)?, 3);
        assert_eq!(parse_or(&source, "LATCH_Y", 1u32)?, 1);
        assert!(parse_or(&source.with("LATCH_Z", "x"), "LATCH_Z", 1u32).is_err());
        Ok(())
    }
}
