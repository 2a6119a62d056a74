//! The connection pool, on PostgreSQL or SQLite as the URL says.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

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
    /// Told after a commit that wrote outbox rows, so this process's
    /// worker runs them at once instead of at its next poll (events reach
    /// other replicas in milliseconds; polling stays the guarantee).
    outbox_written: Arc<tokio::sync::Notify>,
}

impl Database {
    /// Connects to `postgres://…`, `sqlite://path?mode=rwc` or
    /// `sqlite::memory:` (one database shared by the pool's connections).
    ///
    /// For a SQLite file opened for writing it creates the parent directory
    /// owner-only (see [`create_owner_only_dir`]) and, with `mode=rwc`, the
    /// file itself with mode 0600 before SQLite opens it; an existing file
    /// (and its `-wal`/`-shm`) readable by others is made owner-only. Then
    /// it turns on WAL, a 5 s busy timeout and foreign keys. Fails with
    /// `UNAVAILABLE` when the server cannot be reached (or the file cannot
    /// be prepared) and `INVALID_ARGUMENT` (field `database_url`) for
    /// another scheme.
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
            let mode = sqlite_mode(location);
            if let Some(file) = file.clone()
                && mode != Some("ro")
            {
                let create = mode == Some("rwc");
                tokio::task::spawn_blocking(move || {
                    prepare_sqlite_file(&file, create).map_err(|err| {
                        let message = format!("{}: {err}", file.display());
                        Error::unavailable(std::io::Error::new(err.kind(), message))
                    })
                })
                .await
                .map_err(Error::internal)??;
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
        Ok(Database {
            conn,
            outbox_written: Arc::new(tokio::sync::Notify::new()),
        })
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

    /// Outbox rows committed through this pool: wakes the waiting worker
    /// (or the next one to wait, if none waits now).
    pub(crate) fn outbox_written(&self) {
        self.outbox_written.notify_one();
    }

    /// Returns once rows were committed since the last wait, or after `max`.
    pub(crate) async fn outbox_wait(&self, max: Duration) {
        let _ = tokio::time::timeout(max, self.outbox_written.notified()).await;
    }

    /// Closes every connection of the pool (clones included).
    pub async fn close(self) -> Result<()> {
        self.conn.close().await.map_err(db_err)
    }
}

/// Creates `dir` and its missing parents owner-only (mode 0700 on Unix,
/// set at creation, so no umask leaves a moment when others may enter):
/// the one way Latch creates its data directory, whichever of the SQLite
/// file and the generated secrets comes first. A directory that exists is
/// left as it is (it may be `.` or one an operator prepared).
#[cfg(unix)]
pub fn create_owner_only_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
pub fn create_owner_only_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Before SQLite opens `file`: its directory exists owner-only, the file
/// exists with mode 0600 when the URL lets SQLite create it (SQLite would
/// create it under the umask, and gives `-wal`/`-shm` the file's mode),
/// and a file or `-wal`/`-shm` already there is made owner-only. Blocking.
fn prepare_sqlite_file(file: &Path, create: bool) -> std::io::Result<()> {
    if let Some(dir) = file.parent()
        && !dir.as_os_str().is_empty()
    {
        create_owner_only_dir(dir)?;
    }
    owner_only_file(file, create)
}

#[cfg(unix)]
fn owner_only_file(file: &Path, create: bool) -> std::io::Result<()> {
    use std::{
        fs::{OpenOptions, Permissions},
        io::ErrorKind,
        os::unix::fs::{OpenOptionsExt, PermissionsExt},
    };
    if create {
        // create_new: an existing database is never truncated. An empty
        // file is an empty SQLite database.
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file);
        match created {
            Err(err) if err.kind() != ErrorKind::AlreadyExists => return Err(err),
            _ => {}
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut path = file.as_os_str().to_owned();
        path.push(suffix);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&path, Permissions::from_mode(0o600))?;
            }
            Err(err) if err.kind() != ErrorKind::NotFound => return Err(err),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn owner_only_file(_: &Path, _: bool) -> std::io::Result<()> {
    Ok(())
}

/// The `mode` of a `sqlite:` URL as sqlx reads it: `rwc` creates a missing
/// file, `rw` (the default) needs it to exist, `ro` only reads it.
fn sqlite_mode(location: &str) -> Option<&str> {
    let query = location.split_once('?').map_or("", |(_, query)| query);
    query
        .split('&')
        .find_map(|param| param.strip_prefix("mode="))
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

    #[test]
    fn sqlite_urls_say_whether_the_file_may_be_created() {
        assert_eq!(sqlite_mode("//data/latch.db?mode=rwc"), Some("rwc"));
        assert_eq!(
            sqlite_mode("//data/latch.db?cache=shared&mode=ro"),
            Some("ro")
        );
        assert_eq!(sqlite_mode("//data/latch.db"), None);
    }

    #[cfg(unix)]
    fn mode_of(path: &Path) -> Result<u32> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .map_err(Error::internal)
    }

    /// The directory, the file and SQLite's `-wal`/`-shm` are owner-only
    /// whatever the umask (the test process's is usually 022).
    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_sqlite_file_and_its_directories_are_owner_only() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(Error::internal)?;
        let dir = tmp.path().join("data");
        let file = dir.join("latch.db");
        let db = Database::connect(&format!("sqlite://{}?mode=rwc", file.display()), 2).await?;
        db.migrate().await?;
        assert_eq!(mode_of(&dir)?, 0o700);
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", file.display()));
            assert_eq!(mode_of(&path)?, 0o600, "{}", path.display());
        }
        db.close().await
    }

    /// A database an older Latch left readable by others is made
    /// owner-only, and never truncated.
    #[cfg(unix)]
    #[tokio::test]
    async fn an_existing_sqlite_file_is_made_owner_only() -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().map_err(Error::internal)?;
        let file = tmp.path().join("latch.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        Database::connect(&url, 1).await?.migrate().await?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))
            .map_err(Error::internal)?;

        let db = Database::connect(&url, 1).await?;
        assert_eq!(mode_of(&file)?, 0o600);
        use sea_orm::ConnectionTrait;
        db.connection()
            .execute_unprepared("SELECT COUNT(*) FROM roles")
            .await
            .map_err(db_err)?;
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
