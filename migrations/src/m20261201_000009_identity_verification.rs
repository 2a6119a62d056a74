//! `users.phone_verified_at`: when the sign-in phone was last proven, kept
//! beside `phone_verified` as `email_verified_at` is beside
//! `email_verified` (the seed had it). Nullable, no backfill: a phone
//! verified before this migration has none, and a phone change clears it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    PhoneVerifiedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(timestamp_with_time_zone_null(Users::PhoneVerifiedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::PhoneVerifiedAt)
                    .to_owned(),
            )
            .await
    }
}
