//! The one ordered migration history of Latch, written once with
//! sea-orm-migration's schema builder so the same steps run on PostgreSQL
//! and SQLite: the builder's portable types (`uuid`, `timestamp with time
//! zone`, `jsonb`, `blob`) carry the differences between the two.
//!
//! One migration per owning service, then the seed of built-in roles and
//! permissions. No column has a database default for a timestamp: every
//! time is written by the application from its `Clock`. Tables of different
//! owners are not linked by foreign keys (`sessions.user_id`,
//! `user_roles.user_id`, `profiles.user_id`), because a service never relies
//! on another's table.
//!
//! Where each column of the classic one-table seed schema lives now is in
//! `migrations/README.md`, table by table.

// `MigrationTrait` declares `&SchemaManager` with an elided lifetime; an
// impl that names it (`<'_>`) no longer matches the async-trait expansion.
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;

mod m20260101_000001_identity;
mod m20260101_000002_token;
mod m20260101_000003_session;
mod m20260101_000004_authorization;
mod m20260101_000005_profile;
mod m20260101_000006_seed_roles;
mod m20261201_000007_outbox;
mod m20261201_000008_refresh_salt;
mod m20261201_000009_identity_verification;
mod m20261201_000010_second_factor;
mod m20261201_000011_user_admin;
mod m20261201_000012_session_revocations;
mod m20261201_000013_signing_key_schedule;
mod m20261201_000014_permission_builtin;
mod m20261201_000015_passkeys;
mod m20261201_000017_profile_version;
mod m20261201_000019_cleanup_indexes;

/// Applies the history in order; `Migrator::up(&db, None)` brings a
/// database (PostgreSQL or SQLite) to the current schema.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_identity::Migration),
            Box::new(m20260101_000002_token::Migration),
            Box::new(m20260101_000003_session::Migration),
            Box::new(m20260101_000004_authorization::Migration),
            Box::new(m20260101_000005_profile::Migration),
            Box::new(m20260101_000006_seed_roles::Migration),
            Box::new(m20261201_000007_outbox::Migration),
            Box::new(m20261201_000008_refresh_salt::Migration),
            Box::new(m20261201_000009_identity_verification::Migration),
            Box::new(m20261201_000010_second_factor::Migration),
            Box::new(m20261201_000011_user_admin::Migration),
            Box::new(m20261201_000012_session_revocations::Migration),
            Box::new(m20261201_000013_signing_key_schedule::Migration),
            Box::new(m20261201_000014_permission_builtin::Migration),
            Box::new(m20261201_000015_passkeys::Migration),
            Box::new(m20261201_000017_profile_version::Migration),
            Box::new(m20261201_000019_cleanup_indexes::Migration),
        ]
    }
}

/// The names of every migration, in order (the test kit derives the name of
/// its template database from them).
pub fn migration_names() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

/// Drops `tables` in the order given (dependents first): the `down` of a
/// migration that created them.
async fn drop_tables(
    manager: &SchemaManager<'_>,
    tables: impl IntoIterator<Item = DynIden>,
) -> Result<(), DbErr> {
    for table in tables {
        manager
            .drop_table(Table::drop().table(table).to_owned())
            .await?;
    }
    Ok(())
}
