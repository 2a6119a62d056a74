//! Indexes for user administration and the login-history retention: no
//! new column (`users.deleted_at`, the tombstone of a deleted user, exists
//! since migration 1).
//!
//! - `idx_users_created_at_id`: ListUsers pages newest first by
//!   (`created_at`, `id`) without sorting the table;
//! - `idx_users_deleted_at`: the cleanup finds tombstones past the
//!   retention (almost every row is NULL there);
//! - `idx_login_history_at`: the retention deletes the oldest attempts of
//!   every user in bounded batches without a scan.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    CreatedAt,
    Id,
    DeletedAt,
}

#[derive(DeriveIden)]
enum LoginHistory {
    Table,
    At,
}

const USERS_CREATED: &str = "idx_users_created_at_id";
const USERS_DELETED: &str = "idx_users_deleted_at";
const HISTORY_AT: &str = "idx_login_history_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(USERS_CREATED)
                    .table(Users::Table)
                    .col(Users::CreatedAt)
                    .col(Users::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(USERS_DELETED)
                    .table(Users::Table)
                    .col(Users::DeletedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(HISTORY_AT)
                    .table(LoginHistory::Table)
                    .col(LoginHistory::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            (HISTORY_AT, LoginHistory::Table.into_iden()),
            (USERS_DELETED, Users::Table.into_iden()),
            (USERS_CREATED, Users::Table.into_iden()),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
