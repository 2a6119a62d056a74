//! The PostgreSQL database and Redis prefix one bench run owns, and the
//! settings latchd gets to use them. Both are removed at the end.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use deadpool_redis::{Config as RedisConfig, Pool as RedisPool, Runtime, redis};
// The database name is ours (`latch_bench_<pid>`), never user input.
use sea_orm::sqlx::{self, AssertSqlSafe, PgPool, postgres::PgPoolOptions};

use crate::{
    error::{Context as _, Result},
    passkey_login,
};

/// Pool size of the bench's own clients, as latchd's default
/// (`LATCH_DATABASE_MAX_CONNECTIONS`, the Redis pool).
pub(crate) const POOL_SIZE: u32 = 16;

/// What one run created: a fresh database and a Redis key prefix.
pub(crate) struct Backends {
    admin_url: String,
    pub(crate) database: String,
    pub(crate) database_url: String,
    pub(crate) redis_url: String,
    pub(crate) redis_prefix: String,
    /// The bench's own connections to the run's database.
    pub(crate) pg: PgPool,
    pub(crate) redis: RedisPool,
}

impl Backends {
    /// Creates `latch_bench_<pid>` through `admin_url` and connects to it
    /// and to Redis.
    pub(crate) async fn create(admin_url: &str, redis_url: &str) -> Result<Self> {
        let database = format!("latch_bench_{}", std::process::id());
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(admin_url)
            .await
            .context(&format!("connect to PostgreSQL at {admin_url}"))?;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
        )))
        .execute(&admin)
        .await
        .context("drop a leftover bench database")?;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&admin)
            .await
            .context("create the bench database")?;
        admin.close().await;
        let database_url = with_database(admin_url, &database);
        // As latchd's pool (latch_store::Database): no ping on a hot
        // connection, so the floor pays no round trip Latch does not pay.
        let pg = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .test_before_acquire(false)
            .connect(&database_url)
            .await
            .context("connect to the bench database")?;
        let mut config = RedisConfig::from_url(redis_url);
        config.pool = Some(deadpool_redis::PoolConfig::new(POOL_SIZE as usize));
        let redis = config
            .create_pool(Some(Runtime::Tokio1))
            .context("Redis pool")?;
        let mut conn = redis
            .get()
            .await
            .context(&format!("connect to Redis at {redis_url}"))?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .context("Redis PING")?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            database_url,
            redis_url: redis_url.to_owned(),
            redis_prefix: format!("{database}:"),
            database,
            pg,
            redis,
        })
    }

    /// The `LATCH_*` settings of latchd for this run: fresh secrets, auto
    /// migration, and rate limits far above what the load can reach.
    pub(crate) fn latchd_env(&self) -> Result<Vec<(String, String)>> {
        let env = vec![
            ("LATCH_DATABASE_URL", self.database_url.clone()),
            ("LATCH_REDIS_URL", self.redis_url.clone()),
            ("LATCH_REDIS_PREFIX", self.redis_prefix.clone()),
            ("LATCH_AUTO_MIGRATE", "true".to_owned()),
            ("LATCH_SERVICE_TOKEN", random_base64()?),
            ("LATCH_ENCRYPTION_KEY", random_base64()?),
            ("LATCH_IP_HASH_KEY", random_base64()?),
            ("LATCH_REFRESH_TOKEN_KEY", random_base64()?),
            // Every client of the bench is 127.0.0.1: the per-address
            // limits of public RPCs would measure themselves.
            ("LATCH_RATE_LIMIT_SIGN_IN", "1000000000/1s".to_owned()),
            ("LATCH_RATE_LIMIT_SIGN_UP", "1000000000/1s".to_owned()),
            ("LATCH_RATE_LIMIT_REFRESH", "1000000000/1s".to_owned()),
            ("LATCH_RATE_LIMIT_TOKEN_CHECK", "1000000000/1s".to_owned()),
            ("LATCH_RATE_LIMIT_RECOVERY", "1000000000/1s".to_owned()),
            ("LATCH_RATE_LIMIT_DEFAULT", "1000000000/1s".to_owned()),
            // `--concurrency` above the default queue would be refused
            // (RATE_LIMITED) rather than measured.
            ("LATCH_PASSWORD_QUEUE", "4096".to_owned()),
            // The relying party the `passkey_login` authenticator answers.
            ("LATCH_WEBAUTHN_RP_ID", passkey_login::RP_ID.to_owned()),
            ("LATCH_WEBAUTHN_ORIGINS", passkey_login::ORIGIN.to_owned()),
            (
                "LATCH_DATA_DIR",
                std::env::temp_dir()
                    .join(&self.database)
                    .display()
                    .to_string(),
            ),
        ];
        let mut env: Vec<(String, String)> =
            env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        // latchd starts from an empty environment (no stray LATCH_* of the
        // caller's); the log filter and glibc allocator tuning pass through.
        env.extend(std::env::vars().filter(|(k, _)| k == "RUST_LOG" || k.starts_with("MALLOC_")));
        Ok(env)
    }

    /// Drops the database and deletes every key under the prefix.
    pub(crate) async fn remove(self) -> Result<()> {
        self.pg.close().await;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.admin_url)
            .await
            .context("connect to PostgreSQL")?;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.database
        )))
        .execute(&admin)
        .await
        .context("drop the bench database")?;
        admin.close().await;
        let mut conn = self.redis.get().await.context("Redis")?;
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.redis_prefix))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .context("Redis SCAN")?;
            if !keys.is_empty() {
                redis::cmd("DEL")
                    .arg(&keys)
                    .query_async::<u64>(&mut conn)
                    .await
                    .context("Redis DEL")?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// `url` with its database (the path) replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_from = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_from..].find('/') {
        Some(slash) => &base[..authority_from + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// 32 random bytes in base64: a Latch key or service token.
fn random_base64() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).context("random bytes")?;
    Ok(STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432?sslmode=disable", "b"),
            "postgres://u:p@db:5432/b?sslmode=disable"
        );
        assert_eq!(with_database("postgres://db/x/y", "b"), "postgres://db/b");
    }

    #[test]
    fn secrets_are_32_bytes_of_base64() {
        let secret = random_base64().unwrap_or_default();
        assert_eq!(STANDARD.decode(&secret).map(|b| b.len()).ok(), Some(32));
        assert_ne!(random_base64().unwrap_or_default(), secret);
    }
}
