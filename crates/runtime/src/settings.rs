//! Settings every binary shares: where to listen, which database and
//! Redis, and where the embedded default keeps its files.

use std::{net::SocketAddr, path::PathBuf};

use latch_domain::Result;

use crate::config::{ConfigSource, parse_or};

pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";
pub const DEFAULT_DATA_DIR: &str = "./data";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonConfig {
    /// `LATCH_GRPC_ADDR`, default `127.0.0.1:50051`.
    pub grpc_addr: SocketAddr,
    /// `LATCH_DATA_DIR`, default `./data`: the SQLite file and generated secrets.
    pub data_dir: PathBuf,
    /// `LATCH_DATABASE_URL`: `sqlite://…` or `postgres://…`; default a
    /// SQLite file in the data directory.
    pub database_url: String,
    /// `LATCH_DATABASE_MAX_CONNECTIONS`, default 16.
    pub database_max_connections: u32,
    /// `LATCH_REDIS_URL`; unset means in-memory cache, bus and limiter
    /// (only sensible in one process).
    pub redis_url: Option<String>,
    /// `LATCH_REDIS_PREFIX`, default empty: prefixes keys and channels.
    pub redis_prefix: String,
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
            database_max_connections: parse_or(source, "LATCH_DATABASE_MAX_CONNECTIONS", 16)?,
            redis_url: source.get("LATCH_REDIS_URL"),
            redis_prefix: source.get("LATCH_REDIS_PREFIX").unwrap_or_default(),
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
    fn postgres_is_production() -> Result<()> {
        let source = MapSource::new().with("LATCH_DATABASE_URL", "postgres://db/latch");
        assert!(CommonConfig::from_source(&source)?.is_production());
        Ok(())
    }
}
