//! `signing_keys.signs_from`: when a key may start signing. A rotated key
//! is published at once and signs one JWKS cache period later, so a
//! verifier that cached the keys just before the rotation holds the new
//! key by the time tokens carry it. Nullable, with no backfill: a row from
//! before this migration signed from its `created_at`, and is read so.
//! `retired_at` keeps its column and now may lie ahead (the time the
//! successor starts signing).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    SignsFrom,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SigningKeys::Table)
                    .add_column(timestamp_with_time_zone_null(SigningKeys::SignsFrom))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SigningKeys::Table)
                    .drop_column(SigningKeys::SignsFrom)
                    .to_owned(),
            )
            .await
    }
}
