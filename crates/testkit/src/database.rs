//! A migrated database per test.

use latch_store::Database;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::{DATABASE_URL_VAR, backend_url};

/// Connections a test's pool may open: small, so that many tests in
/// parallel do not exhaust the server.
const MAX_CONNECTIONS: u32 = 4;

/// Any key, as long as every test process uses the same one.
const TEMPLATE_LOCK: i64 = 0x4c41_5443_4854_504c; // "LATCHTPL"

/// A migrated database of the test's own, removed when dropped.
pub struct TestDatabase {
    db: Database,
    url: String,
    backend: Backend,
}

enum Backend {
    /// The file lives in this directory, deleted on drop.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    /// PostgreSQL when `LATCH_TEST_DATABASE_URL` is set (panicking if the
    /// server does not answer), SQLite otherwise (panicking instead when
    /// `LATCH_TEST_REQUIRE_BACKENDS` is set).
    pub async fn new() -> TestDatabase {
        match Self::postgres().await {
            Some(db) => db,
            None => Self::sqlite().await,
        }
    }

    /// A SQLite file in a temporary directory, migrated. A file rather than
    /// `sqlite::memory:` so that every connection of the pool sees it.
    pub async fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("latch.db").display()
        );
        let db = Database::connect(&url, MAX_CONNECTIONS)
            .await
            .expect("SQLite opens");
        db.migrate().await.expect("migrations apply on SQLite");
        TestDatabase {
            db,
            url,
            backend: Backend::Sqlite { _dir: dir },
        }
    }

    /// A fresh PostgreSQL database cloned from the migrated template;
    /// `None` when `LATCH_TEST_DATABASE_URL` is unset (a panic when
    /// `LATCH_TEST_REQUIRE_BACKENDS` is set).
    pub async fn postgres() -> Option<TestDatabase> {
        let admin_url = backend_url(DATABASE_URL_VAR)?;
        let admin = connect(&admin_url).await;
        let template = template_name();
        ensure_template(&admin, &admin_url, &template).await;

        let name = format!("latch_test_{}", uuid::Uuid::new_v4().simple());
        execute(
            &admin,
            &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
        )
        .await;
        admin.close().await.ok();

        let url = with_database(&admin_url, &name);
        let db = Database::connect(&url, MAX_CONNECTIONS)
            .await
            .unwrap_or_else(|e| panic!("the test database {name} does not open: {e}"));
        Some(TestDatabase {
            db,
            url,
            backend: Backend::Postgres { admin_url, name },
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn db(&self) -> &Database {
        &self.db
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Backend::Postgres { admin_url, name } = &self.backend else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on;
        // a thread with a runtime of its own does the work, and is joined
        // so the database is gone when the test ends.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let admin = connect(&admin_url).await;
                // FORCE ends the test pool's connections still open.
                execute(
                    &admin,
                    &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                )
                .await;
                admin.close().await.ok();
            });
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("dropping the test database failed");
        }
    }
}

/// One connection to the server's maintenance database.
async fn connect(admin_url: &str) -> DatabaseConnection {
    let mut options = sea_orm::ConnectOptions::new(admin_url);
    options.max_connections(1).sqlx_logging(false);
    sea_orm::Database::connect(options)
        .await
        .unwrap_or_else(|e| panic!("{DATABASE_URL_VAR} is set but PostgreSQL does not answer: {e}"))
}

async fn execute(conn: &DatabaseConnection, sql: &str) {
    conn.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
}

/// Named after the migrations (names and sources), so a changed history
/// gets a new template and an unchanged one is built only once.
fn template_name() -> String {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for name in latch_migrations::migration_names() {
        feed(name.as_bytes());
        feed(b"\n");
    }
    feed(env!("LATCH_MIGRATIONS_FINGERPRINT").as_bytes());
    format!("latch_tpl_{hash:016x}")
}

/// Creates and migrates the template unless it exists. Under an advisory
/// lock, because tests run in parallel processes; built under another name
/// and renamed when complete, so a crash never leaves half a template.
async fn ensure_template(admin: &DatabaseConnection, admin_url: &str, template: &str) {
    execute(admin, &format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})")).await;
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            admin.get_database_backend(),
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [template.into()],
        ))
        .await
        .expect("pg_database is readable")
        .is_some();
    if !exists {
        let building = format!("{template}_build");
        execute(
            admin,
            &format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"),
        )
        .await;
        execute(admin, &format!("CREATE DATABASE \"{building}\"")).await;
        let db = Database::connect(&with_database(admin_url, &building), 1)
            .await
            .expect("the template database opens");
        db.migrate().await.expect("migrations apply on PostgreSQL");
        // Cloning needs a template nobody is connected to.
        db.close().await.expect("the template's connections close");
        execute(
            admin,
            &format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""),
        )
        .await;
    }
    execute(
        admin,
        &format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})"),
    )
    .await;
}

/// `url` with its database (the path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let authority = location.split('/').next().unwrap_or(location);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t3"), "postgres://h/t3");
    }

    #[test]
    fn the_template_name_is_stable_and_fits_postgres() {
        assert_eq!(template_name(), template_name());
        assert!(template_name().len() + "_build".len() <= 63);
    }
}
