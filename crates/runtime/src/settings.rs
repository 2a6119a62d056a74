//! Settings every binary shares: where to listen, which database and
//! Redis, and where the embedded default keeps its files.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use latch_domain::Result;

use crate::{
    config::{ConfigSource, duration_in, parse_in, parse_or},
    limits::ServerLimits,
};

pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";
pub const DEFAULT_DATA_DIR: &str = "./data";
/// `LATCH_REDIS_TIMEOUT` when unset: far above a healthy Redis's
/// milliseconds, far below the request timeout.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonConfig {
    /// `LATCH_GRPC_ADDR`, default `127.0.0.1:50051`.
    pub grpc_addr: SocketAddr,
    /// `LATCH_DATA_DIR`, default `./data`: the SQLite file and generated secrets.
    pub data_dir: PathBuf,
    /// `LATCH_DATABASE_URL`: `sqlite://…` or `postgres://…`; default a
    /// SQLite file in the data directory.
    pub database_url: String,
    /// `LATCH_DATABASE_MAX_CONNECTIONS`, 1 to 1000, default 16.
    pub database_max_connections: u32,
    /// `LATCH_REDIS_URL`; unset means in-memory cache, bus and limiter
    /// (only sensible in one process).
    pub redis_url: Option<String>,
    /// `LATCH_REDIS_PREFIX`, default empty: prefixes keys and channels.
    pub redis_prefix: String,
    /// `LATCH_REDIS_TIMEOUT`, 50ms to 30s, default 2s: the most one Redis
    /// command may take (waiting for a connection included); past it the
    /// call fails `UNAVAILABLE`.
    pub redis_timeout: Duration,
    /// `LATCH_EVENT_STREAM_MAXLEN`, 1,000 to 100,000,000, default 100,000:
    /// the entries each Redis event stream keeps at least (`MAXLEN ~`).
    pub event_stream_max_len: u64,
    /// `LATCH_REQUEST_TIMEOUT` and `LATCH_MAX_CONCURRENT_REQUESTS`.
    pub limits: ServerLimits,
    /// `LATCH_LOG_FORMAT`: `text` (default) or `json`.
    pub log_json: bool,
    /// `LATCH_OTLP_ENDPOINT`: where spans go over OTLP/gRPC; unset = logs only.
    pub otlp_endpoint: Option<String>,
}

impl CommonConfig {
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let data_dir = PathBuf::from(
            source
                .get("LATCH_DATA_DIR")
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
        );
        let database_url = source.get("LATCH_DATABASE_URL").unwrap_or_else(|| {
            format!("sqlite://{}?mode=rwc", data_dir.join("latch.db").display())
        });
        Ok(Self {
            grpc_addr: parse_or(source, "LATCH_GRPC_ADDR", default_addr())?,
            database_max_connections: parse_in(
                source,
                "LATCH_DATABASE_MAX_CONNECTIONS",
                16,
                1..=1000,
            )?,
            redis_url: source.get("LATCH_REDIS_URL"),
            redis_prefix: source.get("LATCH_REDIS_PREFIX").unwrap_or_default(),
            redis_timeout: duration_in(
                source,
                "LATCH_REDIS_TIMEOUT",
                DEFAULT_REDIS_TIMEOUT,
                Duration::from_millis(50)..=Duration::from_secs(30),
            )?,
            event_stream_max_len: parse_in(
                source,
                "LATCH_EVENT_STREAM_MAXLEN",
                latch_store::redis::DEFAULT_STREAM_MAX_LEN,
                1_000..=100_000_000,
            )?,
            limits: ServerLimits::from_source(source)?,
            log_json: source
                .get("LATCH_LOG_FORMAT")
                .is_some_and(|f| f.eq_ignore_ascii_case("json")),
            otlp_endpoint: source.get("LATCH_OTLP_ENDPOINT"),
            data_dir,
            database_url,
        })
    }

    /// Production means PostgreSQL: secrets must then be configured, not generated.
    pub fn is_production(&self) -> bool {
        self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://")
    }
}

fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapSource;

    #[test]
    fn defaults_are_the_embedded_mode() -> Result<()> {
        let config = CommonConfig::from_source(&MapSource::new())?;
        assert_eq!(config.grpc_addr.to_string(), DEFAULT_GRPC_ADDR);
        assert!(config.database_url.starts_with("sqlite://"));
        assert!(!config.is_production());
        assert_eq!(config.redis_url, None);
        assert_eq!(config.redis_prefix, "");
        Ok(())
    }

    #[test]
    fn out_of_range_settings_stop_the_start() {
        for (key, value) in [
            ("LATCH_DATABASE_MAX_CONNECTIONS", "0"),
            ("LATCH_DATABASE_MAX_CONNECTIONS", "100000"),
            ("LATCH_REDIS_TIMEOUT", "0"),
            ("LATCH_REDIS_TIMEOUT", "999999999999d"),
            ("LATCH_REQUEST_TIMEOUT", "10ms"),
            ("LATCH_MAX_CONCURRENT_REQUESTS", "0"),
        ] {
            let source = MapSource::new().with(key, value);
            let err = CommonConfig::from_source(&source).unwrap_err();
            assert!(format!("{err}").contains(key), "{key}={value}: {err}");
        }
    }

    #[test]
    fn bounded_load_settings_are_read() -> Result<()> {
        let config = CommonConfig::from_source(&MapSource::new())?;
        assert_eq!(config.redis_timeout, DEFAULT_REDIS_TIMEOUT);
        assert_eq!(config.limits, ServerLimits::default());
        let source = MapSource::new()
            .with("LATCH_REDIS_TIMEOUT", "500ms")
            .with("LATCH_REQUEST_TIMEOUT", "3s")
            .with("LATCH_MAX_CONCURRENT_REQUESTS", "8");
        let config = CommonConfig::from_source(&source)?;
        assert_eq!(config.redis_timeout, Duration::from_millis(500));
        assert_eq!(config.limits.request_timeout, Duration::from_secs(3));
        assert_eq!(config.limits.max_concurrent_requests, 8);
        Ok(())
    }

    #[test]
    fn postgres_is_production() -> Result<()> {
        let source = MapSource::new().with("LATCH_DATABASE_URL", "postgres://db/latch");
        assert!(CommonConfig::from_source(&source)?.is_production());
        Ok(())
    }
}
