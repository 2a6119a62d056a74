//! The history applies on SQLite always and on PostgreSQL when
//! `LATCH_TEST_DATABASE_URL` is set (an unreachable server fails the test),
//! rolls back completely and applies again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test should panic

use latch_migrations::Migrator;
use sea_orm_migration::{
    MigratorTrait, SchemaManager,
    sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement},
};

const TABLES: [&str; 16] = [
    "users",
    "auth_providers",
    "passkey_credentials",
    "password_reset_tokens",
    "login_history",
    "sessions",
    "refresh_token_families",
    "refresh_tokens",
    "signing_keys",
    "roles",
    "permissions",
    "role_permissions",
    "user_roles",
    "profiles",
    "outbox",
    "recovery_codes",
];

/// Columns added to a table of migration 1 later on: (table, column).
const ADDED_COLUMNS: [(&str, &str); 6] = [
    ("passkey_credentials", "backup_eligible"),
    ("passkey_credentials", "backup_state"),
    ("passkey_credentials", "transports"),
    ("passkey_credentials", "aaguid"),
    ("passkey_credentials", "second_factor"),
    ("passkey_credentials", "clone_suspected_at"),
];

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn assert_schema(db: &DatabaseConnection, present: bool) {
    let manager = SchemaManager::new(db);
    for table in TABLES {
        assert_eq!(
            manager.has_table(table).await.unwrap(),
            present,
            "table {table}"
        );
    }
}

async fn up_down_up(db: &DatabaseConnection) {
    Migrator::up(db, None).await.unwrap();
    assert_schema(db, true).await;
    let manager = SchemaManager::new(db);
    for (table, column) in ADDED_COLUMNS {
        assert!(
            manager.has_column(table, column).await.unwrap(),
            "{table}.{column}"
        );
    }
    // Rolled back to before migration 15, which added them (SQLite drops
    // one column at a time).
    let names = latch_migrations::migration_names();
    let since = names.iter().position(|n| n.contains("_000015_")).unwrap();
    Migrator::down(db, Some(u32::try_from(names.len() - since).unwrap()))
        .await
        .unwrap();
    for (table, column) in ADDED_COLUMNS {
        assert!(
            !manager.has_column(table, column).await.unwrap(),
            "{table}.{column} after down"
        );
    }
    Migrator::up(db, None).await.unwrap();
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM roles WHERE builtin").await,
        3
    );
    assert_eq!(count(db, "SELECT COUNT(*) FROM permissions").await, 9);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM permissions WHERE builtin").await,
        9
    );
    // SUPERADMIN holds all nine, ADMIN seven, USER none.
    assert_eq!(count(db, "SELECT COUNT(*) FROM role_permissions").await, 16);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM role_permissions rp JOIN roles r ON r.id = rp.role_id \
             WHERE r.name = 'ADMIN' AND rp.permission IN ('keys.write', 'roles.write')"
        )
        .await,
        0
    );

    // Up again is a no-op, not an error.
    Migrator::up(db, None).await.unwrap();

    Migrator::down(db, None).await.unwrap();
    assert_schema(db, false).await;

    Migrator::up(db, None).await.unwrap();
    assert_schema(db, true).await;
    assert_eq!(count(db, "SELECT COUNT(*) FROM role_permissions").await, 16);
}

#[tokio::test]
async fn sqlite_applies_rolls_back_and_reapplies() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let db = Database::connect(&url).await.unwrap();
    db.execute_unprepared("PRAGMA foreign_keys = ON")
        .await
        .unwrap();
    up_down_up(&db).await;
}

#[tokio::test]
async fn postgres_applies_rolls_back_and_reapplies() {
    let Ok(admin_url) = std::env::var("LATCH_TEST_DATABASE_URL") else {
        // CI says the backends must run (testkit holds the same rule; this
        // crate cannot depend on it, testkit depends on this one).
        let required = std::env::var("LATCH_TEST_REQUIRE_BACKENDS").is_ok_and(|v| {
            !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "false" | "no"
            )
        });
        assert!(
            !required,
            "LATCH_TEST_REQUIRE_BACKENDS is set but LATCH_TEST_DATABASE_URL is not"
        );
        return;
    };
    let admin = Database::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("LATCH_TEST_DATABASE_URL is set but unreachable: {e}"));
    assert_eq!(admin.get_database_backend(), DbBackend::Postgres);
    let name = format!("latch_migtest_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();

    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let db = Database::connect(&format!("{base}/{name}")).await.unwrap();
    up_down_up(&db).await;
    db.close().await.unwrap();

    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}
