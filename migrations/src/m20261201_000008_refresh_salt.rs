//! `refresh_tokens.successor_salt`: 32 random bytes per token, mixed into
//! the derivation of its successor so that the refresh key and an old
//! token no longer give the next one. Nullable, with no backfill: a row
//! from before this migration has no salt, and the token service answers
//! such a token with a random successor and no grace for duplicates.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    SuccessorSalt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(binary_len_null(RefreshTokens::SuccessorSalt, 32))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .drop_column(RefreshTokens::SuccessorSalt)
                    .to_owned(),
            )
            .await
    }
}
