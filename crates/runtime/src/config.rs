//! Configuration is read once, at start, into typed structs through a
//! [`ConfigSource`]: the process environment in production, a map in tests
//! (so tests never touch the environment). Every key is `LATCH_`-prefixed.

use std::{collections::HashMap, str::FromStr, time::Duration};

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

/// Reads a duration such as `15m`, `14d`, `10s`, `500ms`, or a bare number of seconds.
pub fn duration_or(source: &dyn ConfigSource, key: &str, default: Duration) -> Result<Duration> {
    match source.get(key) {
        None => Ok(default),
        Some(raw) => parse_duration(&raw)
            .ok_or_else(|| Error::internal_msg(format!("{key}: cannot parse duration {raw:?}"))),
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
    fn map_source_overrides_defaults() -> Result<()> {
        let source = MapSource::new().with("LATCH_X", "3");
        assert_eq!(parse_or(&source, "LATCH_X", 1u32)?, 3);
        assert_eq!(parse_or(&source, "LATCH_Y", 1u32)?, 1);
        assert!(parse_or(&source.with("LATCH_Z", "x"), "LATCH_Z", 1u32).is_err());
        Ok(())
    }
}
