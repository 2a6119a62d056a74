//! Indexes for the periodic cleanups (no new column), so each bounded
//! batch finds its rows without scanning the table:
//!
//! - `idx_outbox_status_finished_at`: the outbox purge deletes done rows,
//!   and later dead ones, by when they finished;
//! - `idx_password_reset_tokens_expires_at`: identity deletes reset tokens
//!   that expired (used or not) longer ago than the retention;
//! - `idx_recovery_codes_used_at`: identity deletes spent recovery codes
//!   (unused ones are NULL there, never in the range).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Status,
    FinishedAt,
}

#[derive(DeriveIden)]
enum PasswordResetTokens {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    UsedAt,
}

const OUTBOX_FINISHED: &str = "idx_outbox_status_finished_at";
const RESETS_EXPIRES: &str = "idx_password_reset_tokens_expires_at";
const CODES_USED: &str = "idx_recovery_codes_used_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(OUTBOX_FINISHED)
                    .table(Outbox::Table)
                    .col(Outbox::Status)
                    .col(Outbox::FinishedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(RESETS_EXPIRES)
                    .table(PasswordResetTokens::Table)
                    .col(PasswordResetTokens::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(CODES_USED)
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UsedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            (CODES_USED, RecoveryCodes::Table.into_iden()),
            (RESETS_EXPIRES, PasswordResetTokens::Table.into_iden()),
            (OUTBOX_FINISHED, Outbox::Table.into_iden()),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
