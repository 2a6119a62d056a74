//! The connection pool, on PostgreSQL or SQLite as the URL says.

use std::{path::PathBuf, time::Duration};

use latch_domain::{Error, Result};
use latch_migrations::Migrator;
use sea_orm::{
    ConnectOptions, DatabaseBackend, DatabaseConnection,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};
use sea_orm_migration::MigratorTrait;

use crate::sql::db_err;

/// How long a SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// A pooled connection idle this long is pinged before use; a busier one is
/// not. sqlx's default pings on every checkout, one extra round trip per
/// query (half of a refresh's round trips were pings).
const PING_AFTER_IDLE: Duration = Duration::from_secs(10);

/// A pool of connections to the Latch database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Database {
    conn: DatabaseConnection,
}

impl Database {
    /// Connects to `postgres://…`, `sqlite://path?mode=rwc` or
    /// `sqlite::memory:` (one database shared by the pool's connections).
    ///
    /// For a SQLite file it creates the parent directory and turns on WAL,
    /// a 5 s busy timeout and foreign keys. Fails with `UNAVAILABLE` when the
    /// server cannot be reached and `INVALID_ARGUMENT` (field
    /// `database_url`) for another scheme.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Database> {
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(max_connections.max(1))
            .min_connections(0)
            .connect_timeout(CONNECT_TIMEOUT)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire_if_idle_for(PING_AFTER_IDLE)
            .sqlx_logging(false);

        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Nothing more: sqlx's defaults suit PostgreSQL.
        } else if let Some(location) = url.strip_prefix("sqlite:") {
            let file = sqlite_file(location);
            if let Some(dir) = file.as_ref().and_then(|f| f.parent())
                && !dir.as_os_str().is_empty()
            {
                // tokio::fs runs it on the blocking pool, off the runtime.
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(Error::unavailable)?;
            }
            let on_disk = file.is_some();
            options.map_sqlx_sqlite_opts(move |opts| {
                let opts = opts.busy_timeout(SQLITE_BUSY_TIMEOUT).foreign_keys(true);
                if on_disk {
                    opts.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                } else {
                    opts
                }
            });
        } else {
            return Err(Error::invalid_field(
                "database_url",
                "must start with postgres:// or sqlite:",
            ));
        }

        let conn = sea_orm::Database::connect(options).await.map_err(db_err)?;
        Ok(Database { conn })
    }

    /// Applies pending migrations (the whole history on a new database).
    pub async fn migrate(&self) -> Result<()> {
        Migrator::up(&self.conn, None).await.map_err(db_err)
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn is_postgres(&self) -> bool {
        self.conn.get_database_backend() == DatabaseBackend::Postgres
    }

    /// Closes every connection of the pool (clones included).
    pub async fn close(self) -> Result<()> {
        self.conn.close().await.map_err(db_err)
    }
}

/// The file of a `sqlite:` URL (what follows the scheme), or `None` for an
/// in-memory database.
fn sqlite_file(location: &str) -> Option<PathBuf> {
    let (path, query) = location.split_once('?').unwrap_or((location, ""));
    let path = path.strip_prefix("//").unwrap_or(path);
    let in_memory = path.is_empty()
        || path == ":memory:"
        || query.split('&').any(|param| param == "mode=memory");
    (!in_memory).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("//data/latch.db?mode=rwc"),
            Some(PathBuf::from("data/latch.db"))
        );
        assert_eq!(
            sqlite_file("///var/lib/latch.db"),
            Some(PathBuf::from("/var/lib/latch.db"))
        );
        assert_eq!(sqlite_file(":memory:"), None);
        assert_eq!(sqlite_file("//x.db?mode=memory"), None);
    }

    #[tokio::test]
    async fn sqlite_creates_the_parent_directory_and_migrates() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::internal)?;
        let file = dir.path().join("nested/deeper/latch.db");
        let db = Database::connect(&format!("sqlite://{}?mode=rwc", file.display()), 2).await?;
        db.migrate().await?;
        assert!(file.exists());
        assert!(!db.is_postgres());

        use sea_orm::{ConnectionTrait, Statement};
        let pragma = |name: &str| {
            let stmt = Statement::from_string(
                db.connection().get_database_backend(),
                format!("PRAGMA {name}"),
            );
            let conn = db.connection().clone();
            async move {
                let row = conn.query_one_raw(stmt).await.map_err(db_err)?;
                let row = row.ok_or_else(|| Error::internal_msg("no pragma row"))?;
                row.try_get_by_index::<String>(0)
                    .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
                    .map_err(db_err)
            }
        };
        assert_eq!(pragma("journal_mode").await?, "wal");
        assert_eq!(pragma("foreign_keys").await?, "1");
        assert_eq!(pragma("busy_timeout").await?, "5000");
        Ok(())
    }

    #[tokio::test]
    async fn in_memory_sqlite_is_one_database_for_the_pool() -> Result<()> {
        let db = Database::connect("sqlite::memory:", 4).await?;
        db.migrate().await?;
        // Several connections at once must all see the migrated schema.
        let checks = (0..4).map(|_| {
            let conn = db.connection().clone();
            async move {
                use sea_orm::ConnectionTrait;
                conn.execute_unprepared("SELECT COUNT(*) FROM roles").await
            }
        });
        for result in futures::future::join_all(checks).await {
            result.map_err(db_err)?;
        }
        Ok(())
    }

    #[tokio::test]
    async fn other_schemes_are_refused() {
        let err = Database::connect("mysql://localhost/latch", 1)
            .await
            .unwrap_err();
        assert_eq!(
            err.violation().map(|v| v.field.as_str()),
            Some("database_url")
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable() {
        // Port 1 on loopback: nothing listens there.
        let err = Database::connect("postgres://postgres@127.0.0.1:1/postgres", 1)
            .await
            .unwrap_err();
        assert!(err.is(latch_domain::Reason::Unavailable), "{err:?}");
    }
}
