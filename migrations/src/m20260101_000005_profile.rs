//! Profile's table. `user_id` is the key but not a foreign key: users
//! belong to identity.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Profiles {
    Table,
    UserId,
    FirstName,
    LastName,
    DisplayName,
    AvatarKey,
    AvatarUrl,
    AvatarSize,
    AvatarMime,
    Address,
    Phone,
    DateOfBirth,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Profiles::Table)
                    .col(pk_uuid(Profiles::UserId))
                    .col(string_len(Profiles::FirstName, 100))
                    .col(string_len(Profiles::LastName, 100))
                    .col(string_len_null(Profiles::DisplayName, 100))
                    .col(string_len_null(Profiles::AvatarKey, 255))
                    .col(string_len_null(Profiles::AvatarUrl, 1024))
                    .col(big_integer_null(Profiles::AvatarSize))
                    .col(string_len_null(Profiles::AvatarMime, 64))
                    .col(json_binary_null(Profiles::Address))
                    .col(string_len_null(Profiles::Phone, 32))
                    .col(date_null(Profiles::DateOfBirth))
                    .col(json_binary(Profiles::Metadata))
                    .col(timestamp_with_time_zone(Profiles::CreatedAt))
                    .col(timestamp_with_time_zone(Profiles::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_tables(manager, [Profiles::Table.into_iden()]).await
    }
}
